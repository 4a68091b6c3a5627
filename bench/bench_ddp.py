"""One DP fit with 1 and K training processes (DDP, gloo on CPU or NCCL on GPUs).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_ddp \\
        [--customers 10000] [--devices 1,2] [--epochs 1] [--epsilon 8] [--config '{}']

Simulates `--customers` customers once, then runs `journeylab fit --devices K` for each
K as a user would (Lightning starts the other processes), with a temporary ledger and
MLflow store. Reports the command's wall time, the training time of each epoch (rank
0's clock), the DP steps and epsilon spent; every K must spend the same planned steps.
Results merge into bench/results/ddp.json. On a machine with fewer free cores than
processes, more processes only share the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import parse_config
from journeylab.journeys.errors import ConfigError, InternalError
from journeylab.journeys.files import atomic_write_text

RESULTS = Path("bench/results")


def journeylab(args: list[str], work: Path, timeout: float) -> float:
    """Run `journeylab ARGS` in `work`; its wall seconds."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlruns/mlflow.db",
        "JOURNEYLAB_LEDGER": str(work / "ledger.jsonl"),
    }
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "journeylab.app.cli", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if p.returncode != 0:
        raise InternalError(f"journeylab {args[:2]} failed: {p.stderr[-1500:]}")
    return time.perf_counter() - t0


def fit_with(work: Path, devices: int, args: argparse.Namespace, config: dict) -> dict:
    out = f"model-{devices}"
    cmd = ["fit", "-d", "data/simulate/events.parquet", "-s", "data/simulate/schema.yaml"]
    cmd += ["--epsilon", str(args.epsilon), "--epochs", str(args.epochs), "-o", out]
    cmd += [f"-c{k}={json.dumps(v)}" for k, v in config.items()]
    load = round(os.getloadavg()[0], 2)
    wall = journeylab([*cmd, "--devices", str(devices)], work, args.timeout)
    meta = json.loads((work / out / "meta.json").read_text())
    train = json.loads((work / out / "release.json").read_text())["training"]
    return {
        "customers": args.customers,
        "devices": devices,
        "wall_seconds": round(wall, 1),
        "epoch_seconds": [round(h["epoch_seconds"], 1) for h in meta["history"]],
        "steps": train["steps"],
        "epsilon_training": round(train["epsilon"], 3),
        "expected_batch_size": train["expected_batch_size"],
        "load_average": load,
        "config": config,
    }


def measure(args: argparse.Namespace, devices: list[int], config: dict) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="bench-ddp-"))
    try:
        build = ["datasets", "build", "simulate", "--customers", str(args.customers), "-o", "data"]
        journeylab(build, work, args.timeout)
        results = [fit_with(work, k, args, config) for k in devices]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len({r["steps"] for r in results}) != 1:
        raise InternalError(f"the process counts took different DP steps: {results}")
    return results


def save(results: list[dict], command: str) -> Path:
    path = RESULTS / "ddp.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for r in results:
        cfg = f" {json.dumps(r['config'], sort_keys=True)}" if r["config"] else ""
        key = f"{r['customers']} x{r['devices']}{cfg}"
        old[key] = {**r, "command": command, "measured_at": stamp}
    return atomic_write_text(path, json.dumps(old, indent=1))


def parse_devices(text: str) -> list[int]:
    try:
        counts = [int(d) for d in text.split(",") if d]
    except ValueError as e:
        raise ConfigError(f"--devices {text!r}: write process counts, e.g. 1,2") from e
    if not counts or min(counts) < 1:
        raise ConfigError(f"--devices {text!r}: give counts >= 1, e.g. 1,2")
    return counts


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--devices", default="1,2", help="process counts, comma-separated")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--epsilon", type=float, default=8.0)
    ap.add_argument("--config", default="{}", help="JSON VAE config over the defaults")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args(argv)
    devices = parse_devices(args.devices)
    config = parse_config(args.config, "--config", ["vae"])
    results = measure(args, devices, config)
    save(results, "python -m bench.bench_ddp " + " ".join(argv or sys.argv[1:]))
    for r in results:
        print(json.dumps(r))
    return results


if __name__ == "__main__":
    main()
