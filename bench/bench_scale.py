"""The simulator at scale: build time and peak memory at 10k and 100k customers (1M on request).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_scale [--million] \\
        [--sizes 10000,100000] [--modes auto,partitioned,one-file] [--seed 0]

Each (size, mode) is one `datasets.build("simulate", ...)`, as `journeylab datasets
build simulate --customers N` runs it, in a child process of its own: the child
reports its own peak resident memory (resource.getrusage), so a figure holds the
interpreter, numpy, pandas and pyarrow and that build, nothing of the others. Mode
`auto` partitions above 200,000 customers (datasets.PARTITION_ABOVE); `partitioned`
and `one-file` force either form. A partitioned build is then read back in a
second child: one streamed pass that validates, describes and fingerprints it
(`journeylab datasets describe`, journeys/partitioned_scan.py), with its own time
and peak memory. The built files go to a temporary folder that is removed
afterwards. Results merge into bench/results/scale.json, one entry per size and
mode, each with the command that measured it.
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
from bench.scale_fit import fit_once
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write_text

RESULTS = Path("bench/results")
MODES = {"auto": None, "partitioned": True, "one-file": False}
MILLION = 1_000_000


def build_once(customers: int, mode: str, seed: int, work: Path) -> dict:
    """Build the simulator at `customers` in `mode` into `work`; the child's measures."""
    from journeylab.journeys import datasets
    from journeylab.journeys.partitioned import is_partitioned

    t0 = time.perf_counter()
    target = datasets.build(
        "simulate", work, n_customers=customers, seed=seed, partitioned=MODES[mode]
    )
    seconds = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    events = target / "events.parquet"
    files = [events] if events.is_file() else sorted(events.iterdir())
    return {
        "customers": customers,
        "mode": mode,
        "partitioned": is_partitioned(events),
        "build_seconds": round(seconds, 2),
        # CPU time includes start-up, but unlike wall time it hardly grows with other users' load
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "events_mb_on_disk": round(sum(f.stat().st_size for f in files) / 2**20, 1),
    }


def scan_once(work: Path) -> dict:
    """Validate and describe the partitioned build in `work` in one streamed pass."""
    from journeylab.journeys.datasets import resolve_schema
    from journeylab.journeys.partitioned_scan import scan_partitioned

    events = work / "simulate" / "events.parquet"
    t0 = time.perf_counter()
    scan_partitioned(events, resolve_schema(None, events))  # (summary, report) not kept
    return {
        "scan_seconds": round(time.perf_counter() - t0, 2),
        "scan_peak_rss_mb": round(peak_rss_mb()),
    }


def measure(customers: int, mode: str, seed: int, timeout: float, fit: list[str]) -> dict:
    """One build in a fresh child process (and the scan of a partitioned one in another,
    or with `fit` (the child's fit options) a DP fit of it, whose open is that scan), in
    a temporary folder removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    cmd = [sys.executable, "-m", "bench.bench_scale", "--child", str(customers)]
    cmd += ["--modes", mode, "--seed", str(seed), "--work", str(work)]
    try:
        result, err = run_child(cmd, timeout=timeout, env=child_env())
        if result is not None and result["partitioned"]:
            then, err = run_child([*cmd, *(fit or ["--scan"])], timeout=timeout, env=child_env())
            key = "fit" if fit else "scan"
            result = None if then is None else {**result, **({key: then} if fit else then)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if result is None:
        return {"customers": customers, "mode": mode, "error": err[-500:]}
    return result


def parse_sizes(text: str, million: bool) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s]
    except ValueError as e:
        raise ConfigError(f"--sizes {text!r}: write customer counts, e.g. 10000,100000") from e
    if any(n < 1 for n in sizes):
        raise ConfigError(f"--sizes {text!r}: every size must be >= 1")
    return sizes + ([MILLION] if million and MILLION not in sizes else [])


def parse_modes(text: str) -> list[str]:
    modes = [m for m in text.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ConfigError(f"--modes {text!r}: choose from {sorted(MODES)}, e.g. auto,partitioned")
    return modes


def save(results: list[dict], command: str) -> Path:
    """Merge `results` into bench/results/scale.json: builds keyed by size and mode, DP
    fits by size and steps."""
    path = RESULTS / "scale.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    runs, fits = old.get("builds", {}), old.get("fits", {})
    for r in results:
        if "error" in r:  # a failed run (printed) never replaces a measured one
            continue
        if "fit" in r:
            on = r["fit"].get("accelerator", "cpu")  # CPU fits keep their old keys
            key = f"{r['customers']} steps{r['fit']['steps']}" + ("" if on == "cpu" else f" {on}")
            fits[key] = {**r, "command": command}
        else:
            runs[f"{r['customers']} {r['mode']}"] = {**r, "command": command}
    return atomic_write_text(path, json.dumps({"builds": runs, "fits": fits}, indent=1))


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000", help="customer counts, comma-separated")
    ap.add_argument("--million", action="store_true", help="also 1,000,000 customers")
    ap.add_argument("--modes", default="auto", help=f"any of {sorted(MODES)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per build")
    ap.add_argument(
        "--fit-steps",
        type=int,
        default=0,
        help="also a DP fit of each (partitioned) build, stopped after this many DP-SGD "
        "steps (bench/scale_fit.py); 0: no fit, the build is scanned instead",
    )
    ap.add_argument("--epsilon", type=float, default=8.0, help="the fit's DP budget")
    ap.add_argument("--fit-config", default="{}", help="VAE config JSON for the fit")
    ap.add_argument(
        "--accelerator",
        default="auto",
        choices=["auto", "cpu", "gpu"],
        help="where the fit's DP-SGD steps run (auto: the GPU where one is present)",
    )
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--scan", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--fit-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    modes = parse_modes(a.modes)
    config = parse_config(a.fit_config, "--fit-config", ["vae"])
    if a.child is not None:
        print("RESULT " + json.dumps(_child(a, modes[0], config)), flush=True)
        return []
    if a.fit_steps < 0:
        raise ConfigError(f"--fit-steps {a.fit_steps}: give a number of steps >= 1, or 0")
    if a.fit_steps and modes != ["partitioned"]:
        raise ConfigError("--fit-steps fits partitioned builds; add --modes partitioned")
    fit = []
    if a.fit_steps:
        fit = ["--fit-child", "--fit-steps", str(a.fit_steps), "--epsilon", str(a.epsilon)]
        fit += ["--fit-config", a.fit_config, "--accelerator", a.accelerator]
    sizes = parse_sizes(a.sizes, a.million)
    threads = os.environ.get("OMP_NUM_THREADS")
    command = (f"OMP_NUM_THREADS={threads} " if threads else "") + "python -m bench.bench_scale "
    command += " ".join(argv or sys.argv[1:])
    results = []
    for n in sizes:
        for mode in modes:
            load = round(os.getloadavg()[0], 2)  # other users' work slows a build down
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            r = measure(n, mode, a.seed, a.timeout, fit)
            results.append({**r, "load_average": load, "measured_at": stamp})
            print(_line(results[-1]), flush=True)
    save(results, command)
    return results


def _child(a: argparse.Namespace, mode: str, config: dict) -> dict:
    if a.fit_child:
        events = a.work / "simulate" / "events.parquet"
        return fit_once(
            events, steps=a.fit_steps, epsilon=a.epsilon, config=config, accelerator=a.accelerator
        )
    return scan_once(a.work) if a.scan else build_once(a.child, mode, a.seed, a.work)


def _line(r: dict) -> str:
    if "error" in r:
        return f"{r['customers']:>9,} {r['mode']:<11} failed: {r['error']}"
    form = "partitioned" if r["partitioned"] else "one file"
    return (
        f"{r['customers']:>9,} {r['mode']:<11} {form:<11} build {r['build_seconds']:7.1f} s "
        f"(CPU {r['cpu_seconds']:.1f} s), "
        f"peak RSS {r['peak_rss_mb']:5d} MiB, events {r['events_mb_on_disk']:.1f} MiB "
        f"(load {r['load_average']:.1f})"
        + (
            f"; scan {r['scan_seconds']:.1f} s, peak RSS {r['scan_peak_rss_mb']} MiB"
            if "scan_seconds" in r
            else ""
        )
        + (_fit_line(r["fit"]) if "fit" in r else "")
    )


def _fit_line(f: dict) -> str:
    return (
        f"\n    DP fit: open {f['open_seconds']:.1f} s, encode {f['encode_seconds']:.1f} s "
        f"({f['encoded_mb']:.0f} MiB), {f['steps']} steps in {f['train_seconds']:.1f} s "
        f"({f['seconds_per_step']:.3f} s/step on {f.get('device', 'cpu')}), "
        f"profile {f['profile_seconds']:.1f} s, "
        f"whole fit {f['fit_seconds']:.1f} s, peak RSS {f['peak_rss_mb']} MiB; "
        f"projected DP epoch ({f['epoch_steps']} steps): {f['projected_epoch_seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
