"""One generator configuration on Complete Journey: fit, sample, fidelity (development runs).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_one vae 8 '{"batch_size": 512}'
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_one gan none '{"epochs": 4}'

Arguments: model, epsilon (or `none`), a JSON dict of config overrides, and optionally a
Parquet path for the synthetic log. Train/holdout split
by customer (seed 0), as many journeys sampled as the holdout has (seed 0); prints one JSON
line with fit seconds, epsilon spent, length quantiles and `journeys.fidelity` figures.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    import torch

    from journeylab.generators import create
    from journeylab.journeys import datasets, fidelity, split_by_customer
    from journeylab.privacy import PrivacyBudget

    argv = argv or sys.argv[1:]
    model, eps, overrides = argv[:3]
    cfg = {"seed": 0, **json.loads(overrides)}
    torch.set_num_threads(1)
    log, _ = datasets.load("completejourney")
    train, holdout = split_by_customer(log, holdout=0.5, seed=0)
    gen = create(model, cfg)
    t0 = time.perf_counter()
    gen.fit(train, privacy=None if eps == "none" else PrivacyBudget(epsilon=float(eps)))
    fit_s = time.perf_counter() - t0
    synth = gen.sample(holdout.n_customers, seed=0)
    if len(argv) > 3:
        synth.write(argv[3])
    rec = gen.release if (gen.release or {}).get("dp") else {}  # the whole release
    out = {
        "model": model,
        "epsilon": eps,
        "config": cfg,
        "fit_seconds": round(fit_s),
        "epsilon_spent": rec.get("epsilon"),
        "noise_multiplier": rec.get("noise_multiplier"),
        "length_p10_p50_p90": np.percentile(synth.lengths(), [10, 50, 90]).tolist(),
        "mean_length": float(synth.lengths().mean()),
        **fidelity.fidelity_report(train, holdout, synth, seed=0),
    }
    print(json.dumps(out, default=float))
    return out


if __name__ == "__main__":
    main()
