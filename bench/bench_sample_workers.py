"""Sampling with 1 and K worker processes: time, memory, and one output for every K.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_sample_workers \\
        [--journeys 100000] [--workers 1,2] [--config '{"epochs": 1}']
        [--partitioned]

A VAE (`--config` over its defaults; one epoch unless told) is fitted once, in a
child process, on 1,000 simulated customers. Then each worker count samples
`--journeys` journeys (seed 0, batches of 1,000) in a child of its own, which
reports its wall and CPU time (its own and its workers'), its peak RSS and the
largest worker's, and the sha256 of the file it wrote (with `--partitioned`, of the
folder's files in name order). The files of every worker
count must be identical: the benchmark fails otherwise. Temporary files are
removed; results merge into bench/results/sample_workers.json.

Spawned workers start a fresh interpreter each (about 2.5 CPU seconds of imports
and model loading), so more workers pay off for large samples on free cores only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import child_env, parse_config, peak_rss_mb, run_child
from journeylab.journeys.errors import ConfigError, InternalError
from journeylab.journeys.files import atomic_write_text

RESULTS = Path("bench/results")
FIT_CUSTOMERS = 1000
BATCH = 1000


def fit_once(work: Path, config: dict) -> dict:
    """Fit the VAE that every worker count samples from; saved to work/model."""
    from journeylab.generators import create
    from journeylab.journeys import datasets

    log, _ = datasets.load("simulate", n_customers=FIT_CUSTOMERS, seed=0)
    t0 = time.perf_counter()
    create("vae", {"epochs": 1, "seed": 0, **config}).fit(log).save(work / "model")
    return {"fit_seconds": round(time.perf_counter() - t0, 2)}


def digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files in name order, read in 1 MiB blocks
    (reading a million journeys whole would inflate the peak RSS it is measured with)."""
    import hashlib

    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def sample_once(work: Path, journeys: int, workers: int, partitioned: bool = False) -> dict:
    """Sample from work/model with `workers` processes; this child's measures."""
    import torch

    from journeylab.generators import base
    from journeylab.generators.sample_workers import sample_in_workers

    torch.set_num_threads(1)  # as each worker does
    out = work / (f"sample-{workers}" if partitioned else f"sample-{workers}.parquet")
    t0 = time.perf_counter()
    if workers == 1:
        gen = base.load(work / "model")
        counts = base.sample_to_parquet(
            gen, journeys, out, batch_size=BATCH, seed=0, partitioned=partitioned
        )
    else:
        counts = sample_in_workers(
            work / "model",
            journeys,
            out,
            workers=workers,
            batch_size=BATCH,
            seed=0,
            partitioned=partitioned,
        )
    seconds = time.perf_counter() - t0
    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return {
        "journeys": journeys,
        "workers": workers,
        "events": counts["events"],
        "sample_seconds": round(seconds, 2),
        "journeys_per_second": round(journeys / seconds, 1),
        "cpu_seconds": round(sum(u.ru_utime + u.ru_stime for u in (own, kids)), 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "worker_peak_rss_mb": round(kids.ru_maxrss / 1024) if workers > 1 else None,
        "partitioned": partitioned,
        "sha256": digest(out),
    }


def in_child(args: list[str], timeout: float) -> dict:
    result, err = run_child(
        [sys.executable, "-m", "bench.bench_sample_workers", *args],
        timeout=timeout,
        env=child_env(),
    )
    if result is None:
        raise InternalError(f"benchmark child {args[:2]} failed: {err[-1500:]}")
    return result


def parse_workers(text: str) -> list[int]:
    try:
        counts = [int(w) for w in text.split(",") if w]
    except ValueError as e:
        raise ConfigError(f"--workers {text!r}: write worker counts, e.g. 1,2") from e
    if not counts or min(counts) < 1:
        raise ConfigError(f"--workers {text!r}: give counts >= 1, e.g. 1,2")
    return counts


def measure(
    journeys: int, workers: list[int], config: dict, timeout: float, partitioned: bool = False
) -> list[dict]:
    """Fit once, then sample with each worker count; every file must be the same."""
    work = Path(tempfile.mkdtemp(prefix="bench-sample-workers-"))
    try:
        fit = in_child(["--child-fit", str(work), "--config", json.dumps(config)], timeout)
        results = []
        for k in workers:
            load = round(os.getloadavg()[0], 2)  # other users' work slows sampling down
            args = ["--child-sample", str(work), "--journeys", str(journeys), "--workers", str(k)]
            r = in_child(args + (["--partitioned"] if partitioned else []), timeout)
            shutil.rmtree(work / f"sample-{k}", ignore_errors=True)  # disk, at a million
            (work / f"sample-{k}.parquet").unlink(missing_ok=True)
            results.append({**r, **fit, "config": config, "load_average": load})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len({r["sha256"] for r in results}) != 1:
        raise InternalError(f"sampling gave different files for workers {workers}: {results}")
    return results


def save(results: list[dict], command: str) -> Path:
    """Merge into bench/results/sample_workers.json, keyed by journeys and workers."""
    path = RESULTS / "sample_workers.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for r in results:
        key = f"{r['journeys']} x{r['workers']}" + (" partitioned" if r.get("partitioned") else "")
        old[key] = {**r, "command": command, "measured_at": stamp}
    return atomic_write_text(path, json.dumps(old, indent=1))


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--journeys", type=int, default=100_000)
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    ap.add_argument("--config", default="{}", help="JSON VAE config over the defaults")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    ap.add_argument("--partitioned", action="store_true", help="write a partitioned dataset folder")
    ap.add_argument("--child-fit", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-sample", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    config = parse_config(a.config, "--config", ["vae"])
    if a.child_fit or a.child_sample:
        r = fit_once(a.child_fit, config) if a.child_fit else None
        r = r or sample_once(a.child_sample, a.journeys, parse_workers(a.workers)[0], a.partitioned)
        print("RESULT " + json.dumps(r), flush=True)
        return []
    if a.journeys < 1:
        raise ConfigError(f"--journeys {a.journeys} must be >= 1, e.g. 100000")
    results = measure(a.journeys, parse_workers(a.workers), config, a.timeout, a.partitioned)
    for r in results:
        print(
            f"{r['journeys']:,} journeys, {r['workers']} worker(s): {r['sample_seconds']:.1f} s "
            f"(CPU {r['cpu_seconds']:.1f} s), peak RSS {r['peak_rss_mb']} MiB "
            f"(worker {r['worker_peak_rss_mb']}), load {r['load_average']:.1f}"
        )
    command = "OMP_NUM_THREADS=1 python -m bench.bench_sample_workers " + " ".join(
        argv or sys.argv[1:]
    )
    save(results, command)
    return results


if __name__ == "__main__":
    main()
