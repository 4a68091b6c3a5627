"""Which tokens a DP mix says the data has: by presence (now) or by share of events (before).

    OMP_NUM_THREADS=1 python -m bench.bench_mix [--datasets a,b] [--seeds 6] [--epsilon 2 | --rho R]

For each bench dataset (the train half of bench_peers' split), the journey profile a DP VAE
releases is fitted alone (no model: a second each) for several seeds at `--epsilon` (2 is
the profile's 25% of epsilon 8 with the Laplace tables of before; `--rho 0.5` is what a DP
VAE's profile gets at epsilon 8 on 1,000 customers now, its tables composed with the
training's in one RDP accountant), and its known tokens are compared with the tokens the data
has: real tokens missed and tokens the data never has passed, per release, by the presence
table (`mix_known`, what calibration uses) and by the old rule on the shares of events (a
share above MIX_KNOWN deviations). Also: which event types the release calls structural
zeros (every value 0) in each release, and the precedences it calls (`precedes`: b never
without a before it) against the exact ones of the training data (`order_rules`): how many
called, how many of them exact, and the largest share of the data's customers with b that
break a called one (each customer weighed as the release weighs it).
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.bench_peers import load_split, parse_dataset, parse_list
from journeylab.generators import create
from journeylab.generators.calendar import token_keys
from journeylab.generators.profile import MIX_KNOWN, JourneyProfile, mix_known
from journeylab.generators.profile_counts import precedence_sums
from journeylab.journeys.orders import order_rules

DATASETS = "completejourney,omnichannel-2000,process-2000,retail-2000"


def study(dataset: str, *, seeds: int, epsilon: float, rho: float | None = None) -> dict:
    train, _ = load_split(dataset, 0)
    real = set(token_keys(train.df, train))
    parts = create("vae", {"seed": 0})._profile_parts(private=True)
    rules = {"presence": ([], []), "share": ([], [])}
    zeros = []
    exact = {tuple(r) for r in order_rules(train)["precedes"]}
    names = sorted(real)
    broken = precedence_sums(train, names)
    called, right, worst = [], [], []
    for seed in range(seeds):
        budget = {"epsilon": epsilon} if rho is None else {"rho": rho}
        prof = JourneyProfile.fit(train, seed=seed, parts=parts, **budget)
        tokens = prof.calendar["tokens"]
        sums, known = mix_known(prof.mix, "token")
        by_share = sums > MIX_KNOWN * np.sqrt(2.0) * prof.mix["scale"][0]
        for name, k in (("presence", known), ("share", by_share)):
            have = {t for t, x in zip(tokens, k, strict=True) if x}
            rules[name][0].append(len(have - real))
            rules[name][1].append(len(real - have))
        zeros.append(sorted(t for ts in (prof.zero_types(train) or {}).values() for t in ts))
        pairs = [tuple(p) for p in prof.precedes()]
        called.append(len(pairs))
        right.append(len(set(pairs) & exact))
        share = [
            broken[names.index(a), names.index(b)] / broken[names.index(b), names.index(b)]
            for a, b in pairs
            if a in names and b in names
        ]
        worst.append(max(share, default=0.0))
    return {
        "exact_precedences": len(exact),
        "precedes_called": called,
        "precedes_exact": right,
        "precedes_worst_broken": [round(float(w), 3) for w in worst],
        "dataset": dataset,
        "real_tokens": len(real),
        "tokens": len(tokens),
        **{
            f"{name}_{what}": float(np.mean(v))
            for name, (false, missed) in rules.items()
            for what, v in (("false", false), ("missed", missed))
        },
        "zero_types": zeros,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=DATASETS)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--epsilon", type=float, default=2.0)
    ap.add_argument("--rho", type=float, default=None, help="a zCDP budget instead")
    a = ap.parse_args(argv)
    rows = [
        study(d, seeds=a.seeds, epsilon=a.epsilon, rho=a.rho)
        for d in parse_list(a.datasets, check=parse_dataset)
    ]
    print("| dataset | real tokens (of) | missed: presence / share | false: presence / share |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['real_tokens']} ({r['tokens']}) "
            f"| {r['presence_missed']:.1f} / {r['share_missed']:.1f} "
            f"| {r['presence_false']:.1f} / {r['share_false']:.1f} |"
        )
    for r in rows:
        print(f"{r['dataset']}: structural zeros per release {r['zero_types']}")
    print("\n| dataset | exact precedences | called per release | of them exact |", end="")
    print(" largest share breaking one |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['exact_precedences']} | {r['precedes_called']} "
            f"| {r['precedes_exact']} | {r['precedes_worst_broken']} |"
        )
    return rows


if __name__ == "__main__":
    main()
