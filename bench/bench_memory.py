"""Where a DP fit's memory goes over an epoch: resident memory step by step, per allocator.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_memory \\
        [--customers 10000] [--steps 160] [--allocators glibc,mmap64k,jemalloc]

Each allocator runs in a child process of its own: it builds the simulator at
`--customers` (partitioned), opens it as `journeylab fit` does and fits the default
VAE at epsilon 8 for `--steps` DP-SGD steps (Poisson batches of expected size 64),
recording after every step its resident memory (VmRSS), and every 25 steps the
Python objects and the tensors alive and their bytes. It reports the CPU seconds per
step, the resident memory after the first and the last step, and the process's peak
(VmHWM). Allocators:

- `glibc`: the default;
- `mmap64k`: glibc with `MALLOC_MMAP_THRESHOLD_=65536` (every block of 64 KiB or more
  is its own mapping, handed back when freed);
- `jemalloc`: `LD_PRELOAD` of the system's libjemalloc.so.2 (Debian: `apt-get install
  libjemalloc2`); skipped with a note where it is not installed.

The children run one after the other; results merge into bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import child_env, run_child
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write_text

RESULTS = Path("bench/results")
JEMALLOC = (
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
)
ALLOCATORS = ("glibc", "mmap64k", "jemalloc")
EVERY = 25  # steps between counts of the objects alive


def allocator_env(name: str) -> dict[str, str] | None:
    """The child's environment for allocator `name`; None where it is not installed."""
    env = child_env()
    if name == "mmap64k":
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    elif name == "jemalloc":
        lib = next((p for p in JEMALLOC if os.path.exists(p)), None)
        if lib is None:
            return None
        env["LD_PRELOAD"] = lib
    return env


def status_mb(field: str) -> int:
    """A /proc/self/status field (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    raise OSError(f"no {field} in /proc/self/status")


def probe(customers: int, steps: int) -> dict:
    """In the child: the measured fit (see the module docstring)."""
    import pytorch_lightning as pl
    import torch

    from journeylab.generators import create, neural, training
    from journeylab.journeys import datasets
    from journeylab.journeys.datasets import resolve_schema
    from journeylab.journeys.streamed import StreamedLog
    from journeylab.privacy.budget import PrivacyBudget
    from journeylab.privacy.ledger import Ledger

    torch.set_num_threads(1)
    rows: list[dict] = []

    class Probe(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.c0 = time.process_time()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            row = {"cpu": time.process_time() - self.c0, "rss": status_mb("VmRSS")}
            row["batch"] = len(batch)
            if len(rows) % EVERY == 0:
                alive = [o for o in gc.get_objects() if isinstance(o, torch.Tensor)]
                row["tensors"] = len(alive)
                row["tensor_mib"] = sum(t.untyped_storage().nbytes() for t in alive) / 2**20
            rows.append(row)

    def with_probe(*a, **k):
        k["callbacks"] = [*k.get("callbacks", ()), Probe()]
        return training.run_training(*a, **k)

    neural.run_training = with_probe  # the fit's own training loop, with the probe on it
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        events = datasets.build("simulate", Path(tmp), n_customers=customers, partitioned=True)
        events = events / "events.parquet"
        log = StreamedLog.open(events, resolve_schema(None, events))
        gen = create("vae", {"epochs": 1, "seed": 0, "max_steps": steps})
        hwm_before = status_mb("VmHWM")
        gen.fit(log, privacy=PrivacyBudget(epsilon=8), ledger=Ledger(Path(tmp) / "l.jsonl"))
    counted = [r for r in rows if "tensors" in r]
    warm = rows[5:] or rows
    return {
        "customers": customers,
        "steps": len(rows),
        "cpu_per_step": round(sum(r["cpu"] for r in warm) / len(warm), 3),
        "rss_first_step_mib": rows[0]["rss"],
        "rss_last_step_mib": rows[-1]["rss"],
        "peak_rss_mib": status_mb("VmHWM"),
        "peak_rss_before_fit_mib": hwm_before,
        "tensors_alive": [r["tensors"] for r in counted],
        "tensor_mib_alive": [round(r["tensor_mib"], 1) for r in counted],
        "rss_every_25_steps": [r["rss"] for r in rows[::EVERY]],
    }


def measure(customers: int, steps: int, allocators: list[str], timeout: float) -> dict:
    out = {}
    for name in allocators:
        env = allocator_env(name)
        if env is None:
            print(f"{name}: not installed, skipped (apt-get install libjemalloc2)")
            continue
        load = round(os.getloadavg()[0], 2)
        cmd = [sys.executable, "-m", "bench.bench_memory", "--child"]
        cmd += ["--customers", str(customers), "--steps", str(steps)]
        result, err = run_child(cmd, timeout=timeout, env=env)
        if result is None:
            raise ConfigError(f"bench_memory child ({name}) failed: {err[-1500:]}")
        out[name] = {**result, "allocator": name, "load_average": load}
        print(
            f"{name}: {result['cpu_per_step']:.3f} CPU s/step, RSS {result['rss_first_step_mib']}"
            f" -> {result['rss_last_step_mib']} MiB over {result['steps']} steps, peak "
            f"{result['peak_rss_mib']} MiB; tensors alive {result['tensor_mib_alive']} MiB",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=160)
    ap.add_argument("--allocators", default=",".join(ALLOCATORS))
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per child")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print("RESULT " + json.dumps(probe(a.customers, a.steps)), flush=True)
        return {}
    names = [n for n in a.allocators.split(",") if n]
    bad = [n for n in names if n not in ALLOCATORS]
    if bad or not names:
        raise ConfigError(f"--allocators {a.allocators!r}: choose from {list(ALLOCATORS)}")
    if a.customers < 100 or a.steps < 1:
        raise ConfigError("--customers must be >= 100 and --steps >= 1, e.g. 10000 and 160")
    results = measure(a.customers, a.steps, names, a.timeout)
    path = RESULTS / "memory.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    command = "OMP_NUM_THREADS=1 python -m bench.bench_memory " + " ".join(argv or sys.argv[1:])
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    for name, r in results.items():
        old[f"{a.customers} steps{a.steps} {name}"] = {**r, "command": command, "at": stamp}
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(old, indent=1))
    return results


if __name__ == "__main__":
    main()
