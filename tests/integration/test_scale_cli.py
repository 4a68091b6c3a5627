"""Split, fit, sample and evaluate on a partitioned dataset from the command line, never whole."""

import json
import os
import platform

import pytest
from conftest import cli_io

from journeylab.journeys.partitioned import is_partitioned, read_manifest

pytestmark = pytest.mark.usefixtures("torch_one_thread")
TINY = ["-c", "d_model=16", "-c", "n_layers=2", "-c", "latent_dim=4", "-c", "batch_size=10"]


def test_the_whole_path_on_a_partitioned_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")

    def never_whole(*a, **k):
        raise AssertionError("a partitioned dataset was read whole")

    monkeypatch.setattr("journeylab.journeys.eventlog.read_partitioned", never_whole)
    ok = lambda args: cli_io(args, tmp_path)  # noqa: E731
    code, _, err = ok(["datasets", "build", "simulate", "--customers", "120", "--partitioned"])
    assert code == 0, err
    events = "data/simulate/events.parquet"
    code, out, err = ok(["split", "--data", events, "--out", "split", "--seed", "3"])
    assert code == 0, err
    assert is_partitioned(tmp_path / "split/train.parquet") and "partitioned folders" in out
    n_train = read_manifest(tmp_path / "split/train.parquet")["customers"]
    n_hold = read_manifest(tmp_path / "split/holdout.parquet")["customers"]
    assert n_train + n_hold == 120 and n_train > 30 and n_hold > 30
    fit = ["fit", "--data", "split/train.parquet", "--epsilon", "8", "-c", "epochs=1"]
    code, out, err = ok([*fit, "-c", "max_steps=2", *TINY, "--out", "model"])
    assert code == 0, err
    assert "epsilon spent" in out
    if platform.libc_ver()[0] == "glibc" and "jemalloc" not in os.environ.get("LD_PRELOAD", ""):
        assert "libjemalloc" in err  # how to keep a long fit's memory flat
    code, _, err = ok(["sample", "--model-dir", "model", "-n", "40", "--out", "syn.parquet"])
    assert code == 0, err
    args = ["evaluate", "--train", "split/train.parquet", "--holdout", "split/holdout.parquet"]
    args += ["--synthetic", "syn.parquet", "--no-mlflow", "--no-sdmetrics", "--models"]
    args += ["logreg", "--task", "churn", "--max-customers", "100", "--out", "report"]
    code, _, err = ok(args)
    assert code == 0, err
    report = json.loads((tmp_path / "report/report.json").read_text())
    assert report["scale"]["customers"] == {"train": n_train, "holdout": n_hold, "synthetic": 40}
    assert report["scale"]["subsample_customers"]["train"] == min(n_train, 100)
    html = (tmp_path / "report/report.html").read_text()
    assert "A subsample of customers (seed 0;" in html
