"""DP overhead: a DP epoch's time over the same model's non-DP epoch, interleaved.

On a shared machine, epoch times of jobs run minutes apart differ by the load
of the moment, so the ratio between two such jobs means little. Here one
process alternates one-epoch fits without and with DP (epsilon 8, same config,
same Complete Journey train split) `--rounds` times and reports the median of
the per-round ratios, so that both sides of every ratio saw the same load.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_dp_overhead [--models vae,gan] [--rounds 3] \\
        [--config '{"d_model": 48, "n_layers": 4}']

`--config` (JSON) sets config values of both sides (e.g. the smaller network the
benchmarks train under DP). Results merge into bench/results/dp_overhead.json, one
entry per model and config.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path("bench/results")


def one_epoch(model: str, train, eps: float | None, seed: int, config: dict) -> float:
    """Seconds of the one training epoch of a fresh `model` (DP at `eps` if given)."""
    from journeylab.generators import create
    from journeylab.privacy import PrivacyBudget

    gen = create(model, {**config, "epochs": 1, "seed": seed})
    gen.fit(train, privacy=PrivacyBudget(epsilon=eps) if eps else None)
    return float(gen.history[-1]["epoch_seconds"])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="vae,gan")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default="{}", help="JSON config values for both sides")
    a = ap.parse_args(argv)
    from bench.common import parse_config
    from journeylab.journeys.files import atomic_write

    config = parse_config(a.config, "--config", a.models.split(","))
    from journeylab.journeys import datasets, split_by_customer

    log, _ = datasets.load("completejourney")
    train, _ = split_by_customer(log, holdout=0.5, seed=a.seed)
    path = RESULTS / "dp_overhead.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    out = {"models": old.get("models", {})}
    command = "python -m bench.bench_dp_overhead " + " ".join(argv or sys.argv[1:])
    for model in a.models.split(","):
        rounds = []
        for r in range(a.rounds):
            plain = one_epoch(model, train, None, a.seed + r, config)
            dp = one_epoch(model, train, 8.0, a.seed + r, config)
            rounds.append(
                {
                    "non_dp_s": plain,
                    "dp_s": dp,
                    "ratio": dp / plain,
                    "load_average": os.getloadavg()[0],
                }
            )
        key = model + (f" {json.dumps(config, sort_keys=True)}" if config else "")
        out["models"][key] = {
            "config": config,
            "rounds": rounds,
            "median_ratio": statistics.median(x["ratio"] for x in rounds),
            "command": command,
            "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        pairs = ", ".join("{:.1f}/{:.1f} s".format(x["dp_s"], x["non_dp_s"]) for x in rounds)
        median = out["models"][key]["median_ratio"]
        print(
            f"{key}: DP/non-DP epoch time, median of {a.rounds} interleaved rounds: "
            f"{median:.2f} ({pairs})"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(out, indent=1)))
    return out


if __name__ == "__main__":
    main()
