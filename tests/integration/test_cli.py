"""The `journeylab` command, run as a user would: a real process, a real MLflow store."""

import json
import os
import subprocess
import sys

import pytest
from conftest import tiny_frame

from journeylab.journeys import EventLog


def run(args, cwd, ok=True):
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/mlruns/mlflow.db",
        "COLUMNS": "200",
    }
    p = subprocess.run(
        [sys.executable, "-m", "journeylab.app.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture
def tiny_files(tmp_path, tiny_schema):
    tiny_schema.write(tmp_path / "schema.yaml")
    tiny_frame(40).to_csv(tmp_path / "events.csv", index=False)
    return tmp_path


def test_validate_split_compare_describe(tiny_files):
    d = tiny_files
    assert "valid" in run(["validate", "--data", "events.csv"], d).stdout
    run(["split", "--data", "events.csv", "--out", "split"], d)
    assert (d / "split/train.parquet").exists() and (d / "split/holdout.parquet").exists()
    p = run(["compare", "split/holdout.parquet", "split/train.parquet", "--json", "m.json"], d)
    metrics = json.loads((d / "m.json").read_text())
    assert 0 <= metrics["tvd_2gram"] <= 1 and "logged to MLflow run" in p.stdout
    assert (d / "mlruns/mlflow.db").exists()
    desc = run(["datasets", "describe", "events.csv", "--json"], d).stdout
    assert json.loads(desc)["customers"] == 40


def test_user_errors_are_one_message_without_traceback(tiny_files):
    d = tiny_files
    bad = tiny_frame(5)
    bad.loc[2, "channel"] = "fax"
    bad.to_csv(d / "bad.csv", index=False)
    p = run(["validate", "--data", "bad.csv", "--schema", "schema.yaml"], d, ok=False)
    assert p.returncode == 2
    assert "fax" in p.stderr and "Fix:" in p.stderr and "Traceback" not in p.stderr
    p = run(["validate", "--data", "events.csv", "--schema", "nope"], d, ok=False)
    assert p.returncode == 2 and "neither a file nor a dataset name" in p.stderr
    p = run(["datasets", "build", "nope"], d, ok=False)
    assert p.returncode == 2 and "unknown dataset 'nope'" in p.stderr


def test_validate_writes_nothing_on_error(tiny_files):
    d = tiny_files
    bad = tiny_frame(5)
    bad.loc[0, "amount"] = 1e9
    bad.to_csv(d / "bad.csv", index=False)
    run(
        ["validate", "--data", "bad.csv", "--schema", "schema.yaml", "--out", "clean.parquet"],
        d,
        ok=False,
    )
    assert not (d / "clean.parquet").exists()


def test_validate_out_writes_clean_log(tiny_files, tiny_schema):
    d = tiny_files
    run(["validate", "--data", "events.csv", "--out", "clean.parquet"], d)
    log = EventLog.read(d / "clean.parquet", tiny_schema)
    assert log.n_customers == 40
