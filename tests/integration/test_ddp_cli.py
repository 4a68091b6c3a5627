"""`journeylab fit --devices 2`: two real training processes (gloo on CPU), as a user runs it,
started by torchrun or by Lightning itself (slow: two interpreters import the stack); and
a one-process generator fitted as before."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import cli, tiny_frame

from journeylab.privacy.ledger import Ledger

FIT = ["fit", "-d", "events.parquet", "-s", "schema.yaml", "--epsilon", "4", "--epochs", "2"]
SMALL = ["-c", "d_model=16", "-c", "n_layers=2", "-c", "batch_size=8"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def journeylab(args: list[str], cwd: Path, *, launcher: str = "") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{cwd}/mlruns/mlflow.db",
        "JOURNEYLAB_LEDGER": str(cwd / "ledger.jsonl"),
        "OMP_NUM_THREADS": "1",
        "MASTER_PORT": str(free_port()),
    }
    cmd = [sys.executable, "-m", "journeylab.app.cli", *args]
    if launcher == "torchrun":
        torchrun = Path(sys.executable).with_name("torchrun")
        cmd = [str(torchrun), "--nproc-per-node", "2", f"--master-port={env['MASTER_PORT']}"]
        cmd += ["-m", "journeylab.app.cli", *args]
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    return p


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["torchrun", "lightning"])
def test_two_process_dp_fit_is_one_run_one_release_one_model(launcher, tmp_path, tiny_schema):
    tiny_schema.write(tmp_path / "schema.yaml")
    tiny_frame(60, seed=3).to_parquet(tmp_path / "events.parquet")
    p = journeylab([*FIT, *SMALL, "--devices", "2", "-o", "model"], tmp_path, launcher=launcher)
    assert p.stdout.count("fitted vae") == 1  # rank 0 reports; rank 1 stays quiet
    entries = Ledger(tmp_path / "ledger.jsonl").entries()
    assert [(e.status, e.run_id) for e in entries] == [("committed", entries[0].run_id)]
    assert entries[0].run_id in p.stdout
    train = json.loads((tmp_path / "model" / "release.json").read_text())["training"]
    # the plan of one process: the whole expected batch, every customer, the planned steps
    assert train["n_customers"] == 60 and train["expected_batch_size"] == 8.0
    assert train["steps"] == train["planned_steps"] == round(2 / (8 / 60))
    assert 2.9 < train["epsilon"] <= 3.0
    assert train["processes"] == 2 and train["sampling"] == "poisson"
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = mlflow.search_runs(search_all_experiments=True)
    assert len(runs) == 1 and runs["params.processes"].tolist() == ["2"]
    on = "gpu" if torch.cuda.is_available() else "cpu"  # --accelerator auto, resolved
    assert runs["params.accelerator"].tolist() == [on]
    journeylab(["sample", "--model-dir", "model", "-n", "20", "-o", "s.parquet"], tmp_path)
    assert (tmp_path / "s.parquet").is_file()


def test_a_one_process_generator_fits_as_before_and_refuses_devices(
    tmp_path, monkeypatch, tiny_schema
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    tiny_schema.write(tmp_path / "schema.yaml")
    tiny_frame(30, seed=1).to_parquet(tmp_path / "events.parquet")
    fit = ["fit", "-m", "par", "-d", "events.parquet", "-s", "schema.yaml", "--epochs", "1"]
    code, err = cli([*fit, "--devices", "2"], tmp_path)
    assert code == 2 and "'par' trains in one process only" in err
    code, err = cli([*fit, "--accelerator", "gpu"], tmp_path)
    assert code == 2 and "'par' trains on the CPU only" in err
    code, err = cli(fit, tmp_path)  # the CLI passes --devices 1: par never sees it
    assert code == 0, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without a CUDA GPU")
def test_a_gpu_that_is_not_there_is_refused_before_anything_is_recorded(
    tmp_path, monkeypatch, tiny_schema
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    monkeypatch.setenv("JOURNEYLAB_LEDGER", str(tmp_path / "ledger.jsonl"))
    tiny_schema.write(tmp_path / "schema.yaml")
    tiny_frame(30, seed=1).to_parquet(tmp_path / "events.parquet")
    fit = ["fit", "-d", "events.parquet", "-s", "schema.yaml", "--epsilon", "8", "-o", "m"]
    code, err = cli([*fit, "--accelerator", "gpu"], tmp_path)
    assert code == 2 and "sees no CUDA GPU" in err and "--accelerator cpu or auto" in err
    assert not (tmp_path / "ledger.jsonl").exists() and not (tmp_path / "m").exists()
    assert not (tmp_path / "mlruns").exists()
