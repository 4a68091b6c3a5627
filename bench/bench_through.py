"""The whole DP profile, model-free: what it does to real journeys put through it.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_through \\
        [--datasets completejourney,omnichannel-2000,process-2000,retail-2000] \\
        [--epsilon 8] [--epochs 30] [--releases 5]

For each dataset (bench_peers' split, seed 0) the profile is fitted on the real train log as
a DP fit of the VAE at `--epsilon` fits it (what the DP-SGD plan of `--epochs` leaves it,
composed in one RDP accountant; its parts and the mix), and the real holdout is put through
`JourneyProfile.apply` as `sample` puts a model's journeys (starts realigned): whatever then
tells the holdout apart is the
profile's doing, the floor under what a DP model's journeys can reach. Printed per
dataset, averaged over `--releases` releases (seeds 0, 1, ...): the share of journeys
that break an order the train log never breaks (order_rules; the holdout's own share
next to it), the share whose sequence of tokens (channel|event type) changed, the
single-feature AUCs of the first and last day (journeys.detection.giveaways) and the
strongest giveaways of the first release.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.bench_peers import load_split
from journeylab.journeys.errors import ConfigError

DATASETS = "completejourney,omnichannel-2000,process-2000,retail-2000"


def profile_rho(train, epsilon: float, epochs: int) -> float:
    """A DP VAE fit's profile rho at fit epsilon `epsilon` and `epochs` (default network
    and batch size): what its DP-SGD plan leaves of the whole epsilon."""
    from dataclasses import replace

    from journeylab.generators.config import VAEConfig
    from journeylab.generators.neural import profile_rho as rho_for
    from journeylab.privacy.budget import PrivacyBudget
    from journeylab.privacy.dpsgd import plan_dpsgd

    cfg = VAEConfig()
    budget = PrivacyBudget(epsilon=epsilon)
    plan = plan_dpsgd(
        replace(budget, epsilon=epsilon * (1 - cfg.profile_share)),
        n_customers=train.n_customers,
        batch_size=cfg.batch_size,
        epochs=epochs,
    )
    return rho_for(plan, epsilon)


def tokens(log) -> object:
    """Per journey, its tokens in order, as one string."""
    df = log.df
    tok = df["channel"].astype(str) + "|" + df["event_type"].astype(str)
    return tok.groupby(df[log.key], sort=False).agg(" ".join)


def measure(dataset: str, epsilon: float, releases: int, epochs: int = 30) -> dict:
    from journeylab.generators.config import VAEConfig
    from journeylab.generators.profile import JourneyProfile
    from journeylab.journeys.detection import giveaways
    from journeylab.journeys.eventlog import EventLog
    from journeylab.journeys.orders import order_rules, order_violation_share

    train, hold = load_split(dataset, 0)
    rules = order_rules(train)
    parts = VAEConfig().profile_parts(private=True) + ("mix",)
    before = tokens(hold)
    rows = []
    rho = profile_rho(train, epsilon, epochs)
    for seed in range(releases):
        prof = JourneyProfile.fit(train, rho=rho, seed=seed, parts=parts)
        rng = np.random.default_rng(seed + 10)
        out = EventLog.from_frame(prof.apply(hold, rng, realign_starts=True), hold.schema)
        after = tokens(out).reindex(before.index)
        g = {x["feature"]: x["auc"] for x in giveaways(hold, out, top=200)}
        rows.append(
            {
                "order violations": order_violation_share(rules, out),
                "tokens changed": float((after != before).mean()),
                "first_day AUC": g.get("first_day", float("nan")),
                "last_day AUC": g.get("last_day", float("nan")),
                "top": sorted(g.items(), key=lambda kv: -kv[1])[:3],
            }
        )
    return {
        "real order violations": order_violation_share(rules, hold),
        "rho": rho,
        "mean": {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0] if k != "top"},
        "top of release 0": rows[0]["top"],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=DATASETS)
    ap.add_argument("--epsilon", type=float, default=8.0, help="the DP fit's epsilon")
    ap.add_argument("--releases", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30, help="the DP fit's epochs (its plan)")
    a = ap.parse_args(argv)
    if a.releases < 1 or not a.epsilon > 0:
        raise ConfigError("--releases must be at least 1 and --epsilon above 0")
    print(
        f"real holdout through a DP profile (fit epsilon {a.epsilon}, {a.epochs} epochs: "
        f"the profile gets what the DP-SGD plan leaves), means over {a.releases} releases\n"
    )
    print(
        "| dataset | order violations (real) | through the profile | journeys whose tokens "
        "changed | first_day AUC | last_day AUC | profile rho | top giveaways, release 0 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for ds in [d.strip() for d in a.datasets.split(",") if d.strip()]:
        r = measure(ds, a.epsilon, a.releases, a.epochs)
        m = r["mean"]
        top = "; ".join(f"{k} {v:.2f}" for k, v in r["top of release 0"])
        print(
            f"| {ds} | {r['real order violations']:.3f} | {m['order violations']:.3f} | "
            f"{m['tokens changed']:.3f} | {m['first_day AUC']:.3f} | {m['last_day AUC']:.3f} "
            f"| {r['rho']:.3f} | {top} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
