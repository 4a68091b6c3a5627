"""The rhythm, model-free: do real journeys put through it still look like themselves?

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_rhythm \\
        [--datasets omnichannel-2000,omnichannel-10000,process-2000,retail-2000,completejourney] \\
        [--epsilons none,8,1]

For each dataset (bench_peers' split, seed 0) and epsilon, the rhythm
(generators/rhythm.py: same-day bursts, the spread of multi-day gaps, same-day
seconds) is fitted on the real train log as a DP fit's profile fits it (at epsilon E,
the rhythm's share of the rho a 30-epoch DP-SGD plan leaves the profile,
`bench_through.profile_rho`; none: exact), and the real
holdout's gaps are redrawn by it (`Rhythm.apply`): what tells the redrawn journeys from
the holdout is the rhythm's doing. Printed: the single-feature AUC (journeys/detection.py,
the reviewer's give-aways) of the per-customer gap features, 0.5 when the rhythm keeps
them; and whether the rhythm used its fine or its coarse tables.

With `--profile`, the whole profile instead (`JourneyProfile`: rhythm, calendar, values,
mix; at the rho a DP fit leaves it at epsilon E, or exact), its `apply` on the real
holdout: the reviewer's detection AUC of the redrawn holdout against the real train log,
and its top give-aways. The events and their order are real, so what it detects is the
profile's clock, gaps and values: a floor under any DP model's detection AUC.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.bench_peers import load_split
from journeylab.journeys.errors import ConfigError

FEATURES = (
    "share_gap_same_day",
    "events_per_active_day",
    "active_days",
    "gap_min",
    "gap_median",
    "gap_mean",
)


def rhythm_scale(train, epsilon: float) -> float:
    """The rhythm's noise scale in a DP fit at `epsilon` (30 epochs) of the VAE."""
    from bench.bench_through import profile_rho
    from journeylab.generators.calendar import gauss_scale
    from journeylab.generators.profile import profile_shares
    from journeylab.generators.rhythm import TABLES

    share = profile_shares(("rhythm", "values", "mix"))["rhythm"]
    return gauss_scale(TABLES, profile_rho(train, epsilon, 30) * share)


def measure(dataset: str, epsilon: float | None, *, seed: int = 0) -> dict:
    from journeylab.generators.profile import LENGTH_EDGES, length_class
    from journeylab.generators.rhythm import Rhythm, fine_tables
    from journeylab.journeys.detection import single_feature_auc
    from journeylab.journeys.eventlog import EventLog
    from journeylab.journeys.features import journey_features

    train, hold = load_split(dataset, 0)
    scale = None if epsilon is None else rhythm_scale(train, epsilon)
    rhythm = Rhythm.fit(
        train,
        length_class=length_class,
        n_classes=len(LENGTH_EDGES),
        scale=scale,
        rng=np.random.default_rng(seed),
    )
    df = hold.df.sort_values([hold.key, hold.time], kind="stable")
    out = rhythm.apply(df, hold, np.random.default_rng(seed + 1), length_class=length_class)
    real, redrawn = journey_features(hold), journey_features(EventLog.from_frame(out, hold.schema))
    y = np.r_[np.zeros(len(real)), np.ones(len(redrawn))]
    auc = {
        f: single_feature_auc(np.r_[real[f].to_numpy(), redrawn[f].to_numpy()], y, seed=seed)
        for f in FEATURES
    }
    return {"tables": "fine" if fine_tables(train.n_customers, scale) else "coarse", "auc": auc}


def measure_profile(dataset: str, epsilon: float | None, *, seed: int = 0) -> dict:
    """The whole profile, model-free: detection AUC and top give-aways of the real holdout
    through `JourneyProfile.apply` (see the module's docstring)."""
    from bench.bench_through import profile_rho
    from journeylab.generators.config import VAEConfig
    from journeylab.generators.profile import JourneyProfile
    from journeylab.journeys.detection import detection_report
    from journeylab.journeys.eventlog import EventLog

    train, hold = load_split(dataset, 0)
    rho = None if epsilon is None else profile_rho(train, epsilon, 30)
    parts = VAEConfig().profile_parts(private=True) + (("mix",) if rho is not None else ())
    profile = JourneyProfile.fit(train, rho=rho, seed=seed, parts=parts)
    out = EventLog.from_frame(profile.apply(hold, np.random.default_rng(seed + 1)), hold.schema)
    rep = detection_report(train, out, seed=seed)
    top = [f"{g['feature']} {g['auc']:.2f}" for g in rep["giveaways"][:3]]
    return {"auc": rep["detection_auc"], "giveaways": top}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--datasets",
        default="omnichannel-2000,omnichannel-10000,process-2000,retail-2000,completejourney",
    )
    ap.add_argument("--epsilons", default="none,8,1")
    ap.add_argument("--profile", action="store_true", help="the whole profile's detection")
    a = ap.parse_args(argv)
    try:
        epsilons = [None if e == "none" else float(e) for e in a.epsilons.split(",") if e]
    except ValueError as e:
        raise ConfigError(f"--epsilons {a.epsilons!r}: write e.g. none,8,1") from e
    if any(e is not None and e <= 0 for e in epsilons):
        raise ConfigError("each epsilon must be > 0 (or none), e.g. none,8,1")
    if a.profile:
        print("| dataset | epsilon | detection AUC | top give-aways |")
        print("|---|---|---|---|")
        for d in a.datasets.split(","):
            for eps in epsilons:
                r = measure_profile(d, eps)
                e = "none" if eps is None else f"{eps:g}"
                print(f"| {d} | {e} | {r['auc']:.3f} | {', '.join(r['giveaways'])} |")
        return
    print("| dataset | epsilon | tables | " + " | ".join(FEATURES) + " |")
    print("|---|---|---|" + "---|" * len(FEATURES))
    for d in a.datasets.split(","):
        for eps in epsilons:
            r = measure(d, eps)
            aucs = " | ".join(f"{r['auc'][f]:.3f}" for f in FEATURES)
            print(f"| {d} | {'none' if eps is None else f'{eps:g}'} | {r['tables']} | {aucs} |")


if __name__ == "__main__":
    main()
