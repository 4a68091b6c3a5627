"""`journeylab datasets build simulate --preset NAME`, run as a user would."""

import json
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


def test_partitioned_build_is_read_by_every_log_command(tmp_path):
    p = run(["datasets", "build", "simulate", "--customers", "40", "--partitioned"], tmp_path)
    assert p.returncode == 0, p.stderr
    data = tmp_path / "data" / "simulate" / "events.parquet"
    assert data.is_dir() and (data / "_dataset.json").is_file()
    fingerprint = json.loads((data / "_dataset.json").read_text())["fingerprint"]
    p = run(["validate", "--data", str(data)], tmp_path)
    assert p.returncode == 0 and "valid: 40 customers" in p.stdout, p.stderr
    assert fingerprint in p.stdout  # the manifest's fingerprint is the log's
    p = run(["datasets", "describe", "data/simulate", "--json"], tmp_path)
    assert json.loads(p.stdout)["fingerprint"] == fingerprint, p.stderr
    p = run(["split", "--data", str(data), "--out", "split"], tmp_path)
    # a partitioned log splits into partitioned folders (read in chunks, never whole)
    assert p.returncode == 0 and (tmp_path / "split" / "train.parquet").is_dir(), p.stderr
    tiny = ["--epochs", "1", "--config", "batch_size=10", "--config", "d_model=16"]
    tiny += ["--config", "n_layers=2", "--config", "latent_dim=4"]
    p = run(["fit", "--data", str(data), *tiny, "--out", "model"], tmp_path)
    assert p.returncode == 0 and "fitted vae" in p.stdout, p.stderr
