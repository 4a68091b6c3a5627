"""`journeylab datasets build simulate --preset NAME`, run as a user would."""

import os
import subprocess
import sys

from journeylab.journeys import EventLog, Schema


def run(args, cwd):
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/mlruns/mlflow.db",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "journeylab.app.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_build_retail_preset(tmp_path):
    p = run(["datasets", "build", "simulate", "--preset", "retail", "--customers", "50"], tmp_path)
    assert p.returncode == 0, p.stderr
    target = tmp_path / "data" / "simulate-retail"
    assert "built simulate-retail" in p.stdout
    schema = Schema.read(target / "schema.yaml")
    log = EventLog.read(target / "events.parquet", schema)
    assert schema.name == "simulate-retail" and log.n_customers == 50
    assert (target / "truth.parquet").exists()
