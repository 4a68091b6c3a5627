"""How often a step comes back: a DP VAE's journeys with and without the repeat bias.

    OMP_NUM_THREADS=1 python -m bench.bench_repeats [--dataset process-10000] [--epochs 12]
        [--epsilon 8] [--journeys 1000]

Fits the VAE (d_model 48, 4 layers, as the fidelity bench) with DP on the train half of
bench_peers' split of `--dataset`, samples `--journeys` journeys with the profile's repeat
bias and the same seed without it, and compares with the real holdout: distinct event types
per journey, and per token the share of its holders that have it more than once (weighted
as the release weighs customers), the release's target and the fitted bias. A first-order
chain of transitions cannot tell a first submission from a second (generators/calibrate.py
`repeat_targets`).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd

from bench.bench_peers import load_split, parse_dataset
from journeylab import generators
from journeylab.generators.calibrate import repeat_shares, repeat_targets
from journeylab.journeys.errors import ConfigError
from journeylab.privacy.budget import PrivacyBudget


def distinct_types(log) -> float:
    return float(log.df.groupby(log.key)["event_type"].nunique().mean())


def study(dataset: str, *, epochs: int, epsilon: float, journeys: int, seed: int = 0) -> dict:
    parse_dataset(dataset)
    train, hold = load_split(dataset, seed)
    config = {"epochs": epochs, "seed": seed, "d_model": 48, "n_layers": 4}
    gen = generators.create("vae", config).fit(train, privacy=PrivacyBudget(epsilon=epsilon))
    tokens = gen.profile.calendar["tokens"]
    reps = repeat_targets(gen.profile)
    if reps is None or gen.profile.repeat_bias is None:
        raise ConfigError(
            f"{dataset}: the release says too little for a repeat bias at epsilon {epsilon} "
            "(a usable mix needs more customers); try a larger --dataset size"
        )
    want, _, active = reps
    bias = list(gen.profile.repeat_bias)
    with_bias = gen.sample(journeys, seed=seed + 1)
    gen.profile.repeat_bias = None
    without = gen.sample(journeys, seed=seed + 1)
    gen.profile.repeat_bias = bias
    real, holders = repeat_shares(hold, tokens)
    got_on, _ = repeat_shares(with_bias, tokens)
    got_off, _ = repeat_shares(without, tokens)
    table = pd.DataFrame(
        {
            "holders": holders,
            "real": real,
            "target": np.where(active, want, np.nan),
            "bias": bias,
            "with": got_on,
            "without": got_off,
        },
        index=tokens,
    )
    table = table[table.holders > 0].sort_values("holders", ascending=False)
    return {
        "dataset": dataset,
        "epochs": epochs,
        "epsilon": epsilon,
        "distinct_real": distinct_types(hold),
        "distinct_with": distinct_types(with_bias),
        "distinct_without": distinct_types(without),
        "tokens": json.loads(table.round(3).to_json(orient="index")),
        "mean_abs_error_with": float((table["with"] - table.real).abs().mean()),
        "mean_abs_error_without": float((table["without"] - table.real).abs().mean()),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="process-10000")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--epsilon", type=float, default=8.0)
    ap.add_argument("--journeys", type=int, default=1000)
    a = ap.parse_args(argv)
    r = study(a.dataset, epochs=a.epochs, epsilon=a.epsilon, journeys=a.journeys)
    print(
        f"{r['dataset']} at epsilon {r['epsilon']:g}, {r['epochs']} epochs: distinct event "
        f"types per journey {r['distinct_without']:.2f} without the repeat bias, "
        f"{r['distinct_with']:.2f} with it, {r['distinct_real']:.2f} real; share of holders "
        f"that repeat a token, mean error {r['mean_abs_error_without']:.3f} without, "
        f"{r['mean_abs_error_with']:.3f} with"
    )
    print("| token | holders (real) | real | target | bias | with | without |")
    print("|---|---|---|---|---|---|---|")
    for tok, v in r["tokens"].items():
        target = "-" if v["target"] is None else f"{v['target']:.2f}"
        print(
            f"| {tok} | {v['holders']:.0f} | {v['real']:.2f} | {target} | {v['bias']:.2f} "
            f"| {v['with']:.2f} | {v['without']:.2f} |"
        )
    return r


if __name__ == "__main__":
    main()
