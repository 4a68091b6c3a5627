"""A run is charged only what it could have spent: an unreachable budget is refused
before the ledger is touched, from Python and through the run layer."""

from __future__ import annotations

import pytest

from journeylab.generators import create
from journeylab.journeys.errors import PrivacyBudgetError
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.ledger import Ledger


def test_an_unreachable_budget_is_refused_and_not_charged(tiny_log, tmp_path, torch_one_thread):
    led = Ledger(tmp_path / "ledger.jsonl")
    gen = create("vae", {"epochs": 1, "batch_size": 8})
    with pytest.raises(PrivacyBudgetError, match="no noise multiplier reaches"):
        gen.fit(tiny_log, privacy=PrivacyBudget(epsilon=0.05), ledger=led)
    assert led.entries() == [] and not led.path.exists()


def test_the_run_layer_refuses_before_opening_a_run(tiny_log, tmp_path, monkeypatch):
    from journeylab.runs import fit_run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    led = Ledger(tmp_path / "ledger.jsonl")
    with pytest.raises(PrivacyBudgetError, match="no noise multiplier"):
        fit_run(tiny_log, model="vae", epsilon=0.05, config={"epochs": 1}, ledger=led)
    assert led.entries() == [] and not (tmp_path / "mlruns").exists()


def test_a_refusal_inside_a_fit_run_says_what_was_recorded(tiny_log, tmp_path, monkeypatch):
    import mlflow

    import journeylab.runs as runs

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    led = Ledger(tmp_path / "ledger.jsonl")
    led.set_cap(tiny_log.fingerprint(), 1.0)
    # another run takes the budget between the early check and the reservation
    monkeypatch.setattr(runs, "refuse_over_cap", lambda *a: None)
    with pytest.raises(PrivacyBudgetError, match="Recorded: MLflow run .* ended FAILED") as e:
        runs.fit_run(tiny_log, model="vae", epsilon=4.0, config={"epochs": 1}, ledger=led)
    assert "the privacy ledger has no entry for it" in str(e.value)
    assert "Nothing was recorded" not in str(e.value)
    failed = mlflow.search_runs(search_all_experiments=True, filter_string="status = 'FAILED'")
    assert len(failed) == 1 and led.entries() == []
