"""Evaluation metrics, TRTR vs TSTR on the simulator, MLflow logging and the predict CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_frame

from journeylab.journeys import EventLog, datasets
from journeylab.journeys.errors import DataError
from journeylab.journeys.eventlog import split_by_customer
from journeylab.predictors import evaluate as ev

CUT = "2024-02-10"


def test_metrics_by_hand():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1] * 2)  # 20 customers, 4 positives
    p = np.linspace(1, 0, 20)  # the first is the top score
    assert ev.top_decile_lift(y, p) == pytest.approx((1 / 2) / (4 / 20))
    assert ev.brier(y, y.astype(float)) == 0 and ev.roc_auc(y, y.astype(float)) == 1
    lift = ev.lift_table(y, p)
    assert lift["n"].sum() == 20 and lift["positives"].sum() == 4
    assert lift["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    cal = ev.calibration_table(y, np.full(20, 0.2))
    assert cal["observed"].tolist() == [0.2] and cal["n"].tolist() == [20]
    with pytest.raises(DataError, match="single class"):
        ev.metrics(np.zeros(5), np.linspace(0, 1, 5))


def test_tstr_over_trtr_on_the_simulator_is_at_least_095():
    """The simulator is its own perfect generator. Real = simulate(seed 11), split 50/50 by
    customer into train and holdout; synthetic = a fresh simulate(seed 12) sample with as many
    customers as the train split. TRTR trains on the real train split, TSTR on the fresh
    sample; both are tested on the same real holdout."""
    real, _ = datasets.load("simulate", n_customers=1200, seed=11)
    train, hold = split_by_customer(real, holdout=0.5, seed=0)
    fresh, _ = datasets.load("simulate", n_customers=train.n_customers, seed=12)
    table = ev.utility_table(train, hold, {"simulator": fresh}, models=("logreg",), augmented=False)
    trtr = table[table["train"] == "TRTR"].set_index("task")
    tstr = table[table["train"] == "TSTR"].set_index("task")
    assert (trtr["auc"] > 0.7).all()  # the tasks are learnable
    assert (tstr["auc_ratio"] >= 0.95).all(), table.to_string()


def test_poor_synthetic_data_gets_a_row_with_a_note(tiny_schema):
    real = EventLog.from_frame(tiny_frame(80, seed=2), tiny_schema)
    train, hold = split_by_customer(real, holdout=0.5, seed=0)
    cut = "2024-01-25"
    df = train.df.copy()
    df = df[~((df["timestamp"] >= cut) & (df["event_type"] == "purchase"))]  # nobody buys
    never = EventLog.from_frame(df, tiny_schema)
    table = ev.utility_table(
        train, hold, {"never": never}, models=("tree",), cutoff=cut, horizon=30
    )
    row = table[(table["train"] == "TSTR") & (table["task"] == "purchase")].iloc[0]
    assert np.isnan(row["auc"]) and "every one of the" in row["note"]
    aug = table[table["train"] == "augmented"]
    assert (aug["n_train"] > table[table["train"] == "TRTR"]["n_train"].max()).all()
    wide = ev.wide(table)
    assert list(wide.columns) == ["TRTR", "TSTR:never", "augmented:never"]


@pytest.fixture
def split_files(tmp_path, tiny_schema, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    monkeypatch.setenv("COLUMNS", "200")
    log = EventLog.from_frame(tiny_frame(80, seed=4, max_events=12), tiny_schema)
    train, hold = split_by_customer(log, holdout=0.5, seed=0)
    tiny_schema.write(tmp_path / "schema.yaml")
    train.write(tmp_path / "train.parquet")
    hold.write(tmp_path / "holdout.parquet")
    return tmp_path


def _cli(args, capsys):
    from journeylab.app.cli import main

    try:
        main(args)
    except SystemExit as e:
        if e.code not in (0, None):
            raise AssertionError(capsys.readouterr().err) from e
    return capsys.readouterr()


def test_predict_cli_train_evaluate_utility_with_mlflow(split_files, capsys):
    import mlflow

    d = split_files
    common = ["--cutoff", CUT, "--horizon", "30"]
    out = _cli(
        [
            "predict",
            "train",
            "--data",
            "train.parquet",
            "--model",
            "logreg",
            "--out",
            "m",
            *common,
            "--param",
            "C=0.3",
        ],
        capsys,
    ).out
    assert "trained logreg for churn, purchase" in out and (d / "m/bundle.json").exists()
    out = _cli(
        [
            "predict",
            "evaluate",
            "--model-dir",
            "m",
            "--data",
            "holdout.parquet",
            "--json",
            "metrics.json",
        ],
        capsys,
    ).out
    metrics = json.loads((d / "metrics.json").read_text())
    assert set(metrics) == {"churn", "purchase"} and 0 <= metrics["churn"]["auc"] <= 1
    run = mlflow.get_run(out.split("logged to MLflow run ")[1].split()[0])
    assert run.data.tags["journeylab.kind"] == "predict" and "churn.auc" in run.data.metrics
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert {"plots/calibration_churn.png", "plots/lift_purchase.png"} <= arts
    out = _cli(
        [
            "predict",
            "utility",
            "--train",
            "train.parquet",
            "--holdout",
            "holdout.parquet",
            "--synthetic",
            "copy=train.parquet",
            "--model",
            "tree",
            *common,
            "--json",
            "u.json",
        ],
        capsys,
    ).out
    table = pd.DataFrame(json.loads((d / "u.json").read_text()))
    copy = table[table["train"] == "TSTR"]
    assert (copy["auc_ratio"] == 1.0).all()  # a copy of the train split is TRTR again
    assert "TSTR:copy" in out and "logged to MLflow run" in out


def test_predict_cli_bad_task_is_one_message(split_files, capsys):
    from journeylab.app.cli import main

    with pytest.raises(SystemExit) as e:
        main(
            [
                "predict",
                "train",
                "--data",
                "train.parquet",
                "--out",
                "m",
                "--task",
                "fraud",
                "--no-mlflow",
            ]
        )
    err = " ".join(capsys.readouterr().err.split())
    assert e.value.code == 2 and "unknown task 'fraud'" in err and "Traceback" not in err
