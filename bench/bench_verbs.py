"""The streamed verbs on a large partitioned log: each one's time and peak memory.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_verbs \\
        [--customers 100000] [--max-customers 20000]

In a temporary folder, one `journeylab` process per verb, one after the other, as a
user would type them (no MLflow run: `--no-mlflow` where the verb logs one):

1. `datasets build simulate --customers N --partitioned`
2. `split` (one streamed pass into two partitioned folders)
3. `compare train holdout --max-customers K` (counts over every customer, detection
   on a seeded subsample of K per log)
4. `predict train --data train --max-customers K` (gbm on a seeded subsample)
5. `predict evaluate --data holdout` (every customer, chunk by chunk)
6. `predict score --data holdout --out scores.parquet` (every customer, chunk by chunk)

Each verb's wall seconds, CPU seconds and peak resident memory come from the
operating system: a small wrapper process runs the verb as its only child and reads
its usage (getrusage of its children: the verb and whatever it starts). Results merge into
bench/results/verbs.json, keyed by the number of customers.
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

from journeylab.journeys.errors import ConfigError, InternalError
from journeylab.journeys.files import atomic_write_text

RESULTS = Path("bench/results")


def verbs(customers: int, k: int) -> list[tuple[str, list[str]]]:
    train, hold = "split/train.parquet", "split/holdout.parquet"
    return [
        (
            "build",
            ["datasets", "build", "simulate", "--customers", str(customers)]
            + ["--partitioned", "--out", "data"],
        ),
        ("split", ["split", "--data", "data/simulate/events.parquet", "--out", "split"]),
        ("compare", ["compare", train, hold, "--max-customers", str(k), "--no-mlflow"]),
        (
            "predict train",
            ["predict", "train", "--data", train, "--model", "gbm"]
            + ["--max-customers", str(k), "--out", "pmodel", "--no-mlflow"],
        ),
        (
            "predict evaluate",
            ["predict", "evaluate", "--model-dir", "pmodel", "--data", hold] + ["--no-mlflow"],
        ),
        (
            "predict score",
            ["predict", "score", "--model-dir", "pmodel", "--data", hold]
            + ["--out", "scores.parquet"],
        ),
    ]


# Runs one verb as its only child and writes the child's usage: per-verb CPU and peak RSS
WRAP = """
import json, resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
u = resource.getrusage(resource.RUSAGE_CHILDREN)
out = {"rc": rc, "cpu": u.ru_utime + u.ru_stime, "maxrss_kb": u.ru_maxrss}
json.dump(out, open(sys.argv[1], "w"))
"""


def run_verb(args: list[str], cwd: Path, timeout: float) -> dict:
    """One `journeylab` process (and whatever it starts): wall and CPU seconds, peak RSS."""
    exe = shutil.which("journeylab", path=os.path.dirname(sys.executable)) or "journeylab"
    usage = cwd / ".usage.json"
    t0 = time.perf_counter()
    try:
        p = subprocess.run(
            [sys.executable, "-c", WRAP, str(usage), exe, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        raise InternalError(f"journeylab {' '.join(args)} ran past {timeout:.0f} s") from e
    wall = time.perf_counter() - t0
    u = json.loads(usage.read_text())
    if u["rc"] != 0:
        raise InternalError(f"journeylab {' '.join(args)} failed:\n{p.stderr[-1500:]}")
    return {
        "verb_args": args,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(u["cpu"], 2),
        "peak_rss_mb": round(u["maxrss_kb"] / 1024),
        "last_line": p.stdout.strip().splitlines()[-1][:300] if p.stdout.strip() else "",
    }


def measure(customers: int, k: int, timeout: float) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="bench-verbs-"))
    rows = []
    try:
        for name, args in verbs(customers, k):
            load = round(os.getloadavg()[0], 2)
            r = run_verb(args, work, timeout)
            row = {"verb": name, "command": "journeylab " + " ".join(args), **r}
            row["load_average"] = load
            del row["verb_args"]
            rows.append(row)
            print(
                f"{name}: {row['wall_seconds']:.1f} s wall, {row['cpu_seconds']:.1f} s CPU, "
                f"peak RSS {row['peak_rss_mb']} MiB (load {load})",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--max-customers", type=int, default=20_000)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per verb")
    a = ap.parse_args(argv)
    if a.customers < 100 or a.max_customers < 1:
        raise ConfigError("--customers must be >= 100 and --max-customers >= 1, e.g. 100000")
    rows = measure(a.customers, a.max_customers, a.timeout)
    path = RESULTS / "verbs.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    command = "OMP_NUM_THREADS=1 python -m bench.bench_verbs " + " ".join(argv or sys.argv[1:])
    old[str(a.customers)] = {
        "command": command,
        "max_customers": a.max_customers,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "verbs": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(old, indent=1))
    return rows


if __name__ == "__main__":
    main()
