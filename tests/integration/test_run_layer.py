"""One run layer: a DP fit from Python is in the ledger and MLflow exactly as from the CLI."""

from __future__ import annotations

import mlflow
import pytest
from conftest import TINY_SCHEMA, tiny_frame

import journeylab as jl
from journeylab.app.cli import main
from journeylab.journeys import EventLog, Schema
from journeylab.privacy.ledger import Ledger

TINY = {"d_model": 16, "n_layers": 1, "batch_size": 16, "epochs": 1}


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    monkeypatch.setenv("JOURNEYLAB_LEDGER", str(tmp_path / "ledger.jsonl"))
    schema = Schema.from_dict(TINY_SCHEMA)
    log = EventLog.from_frame(tiny_frame(60, seed=3), schema)
    log.write(tmp_path / "train.parquet")
    schema.write(tmp_path / "schema.yaml")
    return tmp_path, log


def test_python_and_cli_fits_are_recorded_alike(store):
    root, log = store
    fit = jl.fit_run(log, model="vae", epsilon=4.0, config=TINY, data_path="train.parquet")
    with pytest.raises(SystemExit) as done:
        main(
            ["fit", "--data", "train.parquet", "--model", "vae", "--epsilon", "4"]
            + [x for k, v in TINY.items() for x in ("--config", f"{k}={v}")]
        )
    assert done.value.code in (0, None)
    entries = Ledger().entries(log.fingerprint())
    assert len(entries) == 2
    py, cli = entries
    assert py.run_id == fit.run_id and py.status == cli.status == "committed"
    assert py.mechanism == cli.mechanism == "dp-sgd/vae"
    assert set(py.parts) == set(cli.parts) == {"preprocessing", "profile", "training"}
    assert py.spent_epsilon == pytest.approx(fit.record["epsilon"])
    assert py.spent_epsilon == pytest.approx(cli.spent_epsilon)
    client = mlflow.MlflowClient()
    for e in entries:
        run = client.get_run(e.run_id)
        assert run.info.status == "FINISHED" and run.data.tags["journeylab.kind"] == "fit"
        assert run.data.metrics["privacy.epsilon"] == pytest.approx(e.spent_epsilon)


def test_a_generators_own_fit_is_in_the_ledger_too(store):
    _, log = store
    gen = jl.create_generator("vae", TINY).fit(log, privacy=jl.PrivacyBudget(epsilon=2.0))
    (entry,) = Ledger().entries(log.fingerprint())
    assert entry.run_id.startswith("python-") and entry.status == "committed"
    assert entry.spent_epsilon == pytest.approx(gen.release["epsilon"])
