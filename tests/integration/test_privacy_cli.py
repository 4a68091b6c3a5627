"""`journeylab privacy ledger|cap|card` and `journeylab audit`, through the real Typer app."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from journeylab.journeys import split_by_customer
from journeylab.journeys.errors import ConfigError, PrivacyBudgetError
from journeylab.journeys.simulate import simulate
from journeylab.privacy.card import training_epsilon

NUMBERS = {"delta": 1e-5, "noise_multiplier": 1.2, "sample_rate": 0.05, "steps": 60}
RECORD = {
    "dp": True,
    "unit": "customer",
    "epsilon": training_epsilon(**NUMBERS),
    "max_grad_norm": 1.0,
    "accountant": "rdp",
    **NUMBERS,
}


@pytest.fixture
def cli(tmp_path, monkeypatch):
    from journeylab.app.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    monkeypatch.setenv("JOURNEYLAB_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.setenv("COLUMNS", "200")

    def run(args, ok=True):
        result = CliRunner().invoke(app, args)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return run


def test_audit_command_reports_metrics_with_the_caveat(cli, tmp_path):
    log, _ = simulate(120, seed=0)
    train, holdout = split_by_customer(log)
    train.write(tmp_path / "train.parquet")
    holdout.write(tmp_path / "holdout.parquet")
    log.schema.write(tmp_path / "schema.yaml")
    (tmp_path / "synth").mkdir()
    simulate(60, seed=5)[0].write(tmp_path / "synth" / "synthetic.parquet")
    r = cli(
        [
            "audit",
            "--train",
            "train.parquet",
            "--holdout",
            "holdout.parquet",
            "--synthetic",
            "synth/synthetic.parquet",
            "--json",
            "a.json",
            "--no-mlflow",
        ]
    )
    result = json.loads((tmp_path / "a.json").read_text())
    assert 0 <= result["metrics"]["mia_distance_auc"] <= 1
    assert result["metrics"]["exact_copy_share"] == 0.0
    assert "not covered" in result["caveat"] and "caveat" in r.output


def test_cap_ledger_and_refusal(cli, tmp_path):
    from journeylab.privacy.ledger import Ledger

    cli(["privacy", "cap", "--dataset", "fp1", "--epsilon", "2"])
    Ledger().reserve("fp1", epsilon=1.5, delta=1e-6, mechanism="m", run_id="r1")
    shown = json.loads(cli(["privacy", "ledger", "--json"]).output)
    assert shown["totals"][0]["left_epsilon"] == pytest.approx(0.5)
    assert shown["releases"][0]["run_id"] == "r1"
    assert "r1" in cli(["privacy", "ledger", "--dataset", "fp1"]).output
    bad = cli(["privacy", "cap", "--dataset", "fp1"], ok=False)
    assert isinstance(bad.exception, ConfigError) and "--epsilon E" in str(bad.exception)


def test_card_from_a_fit_run(cli, tmp_path):
    import mlflow

    from journeylab.journeys.tracking import start_run

    with start_run(
        "fit", dataset="simulate", fingerprint="fp9", root=tmp_path, tags={"generator": "vae"}
    ) as r:
        mlflow.log_dict(RECORD, "privacy.json")
        run_id = r.info.run_id
    out = cli(["privacy", "card", "--run-id", run_id, "--out", "card"]).output
    md = (tmp_path / "card" / "card.md").read_text()
    assert "fp9" in md and "noise multiplier" in md and "matches the recorded total" in md
    assert f"epsilon {RECORD['epsilon']:.4g}" in out
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "privacy_card")}
    assert "privacy_card/card.html" in names


def test_ledger_verify_and_acknowledge(cli, tmp_path):
    from journeylab.privacy.ledger import Ledger

    led = Ledger()
    led.set_cap("fp1", 2.0)
    led.reserve("fp1", epsilon=1.5, delta=1e-6, mechanism="m", run_id="r1")
    assert "verified, 2 entries" in cli(["privacy", "ledger", "--verify"]).output
    led.path.write_bytes(led.path.read_bytes().replace(b'"epsilon":1.5', b'"epsilon":0.1'))
    bad = cli(["privacy", "ledger", "--verify"], ok=False)
    assert bad.exit_code == 1 and "line 2" in bad.output and "--acknowledge 2" in bad.output
    shown = json.loads(cli(["privacy", "ledger", "--json"]).output)
    assert shown["verified"] is False and shown["totals"][0]["left_epsilon"] == 0.0
    with pytest.raises(PrivacyBudgetError, match="fails to verify"):
        led.reserve("fp1", epsilon=0.1, delta=0.0, mechanism="m", run_id="r2")
    args = ["--acknowledge", "2", "--dataset", "fp1", "--epsilon", "1.5"]
    assert "0 problem(s) left" in cli(["privacy", "ledger", *args]).output
    assert led.spent("fp1").epsilon == pytest.approx(1.5)
    led.reserve("fp1", epsilon=0.5, delta=0.0, mechanism="m", run_id="r2")
