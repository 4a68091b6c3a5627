"""What the VAE's posterior z of a prefix knows about the customer (issue 16's completions).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_latent [--train-customers 600] \\
        [--epochs 20] [--customers 300] [--before-day 60] [--seed 0] [--save DIR | --load DIR]

A VAE is fitted as bench/scenarios_model.py fits its no-DP model (simulator journeys,
seed seed + 1000). The journeys of `--customers` other simulated customers are cut
before `--before-day` (the scenarios' prefixes) and read by the encoder: mu of
q(z | prefix). Cross-validated (5 folds) on these customers:

- segment from mu (logistic regression; accuracy against the majority class). The
  decoder is also given the segment as context, so z need not carry it;
- the simulator's hidden per-customer latents (propensity, engagement, churn hazard)
  and the number of purchases after the cut from mu (ridge R^2), against the same
  from two counts of the prefix (events, purchases): what z adds to the obvious.

Results go to bench/results/latent.json and latent.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import cross_val_score

from bench.scenarios_model import fit_model
from journeylab.generators import base
from journeylab.generators.data import JourneyData
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.files import atomic_write_text
from journeylab.journeys.simulate import simulate

RESULTS = Path("bench/results")
TARGETS = ("propensity", "engagement", "churn_hazard", "purchases_after")


def posterior_means(gen, prefix) -> np.ndarray:
    """[n, latent] mu of q(z | prefix) for each customer of `prefix` (its order)."""
    enc = gen.encoder.encode(prefix)
    data = JourneyData(enc, gen.codec)
    with torch.no_grad():
        mu, _ = gen.net.encode(data.take(torch.arange(len(enc))))
    return mu.numpy()


def prefix_counts(prefix, ids) -> np.ndarray:
    """[n, 2] log1p of each prefix's events and purchases."""
    df = prefix.df
    per = df.assign(_buy=df["event_type"] == "purchase").groupby("customer_id")
    counts = pd.DataFrame({"n": per.size(), "buy": per["_buy"].sum()}).reindex(ids)
    return np.log1p(counts.to_numpy(dtype=float))


def measure(gen, a) -> dict:
    log, truth = simulate(a.customers, seed=a.seed)
    cut = log.schema.time_start + pd.Timedelta(days=a.before_day)
    prefix = EventLog.from_frame(log.df[log.df["timestamp"] < cut], log.schema)
    ids = list(gen.encoder.encode(prefix).customer_ids)
    mu, counts = posterior_means(gen, prefix), prefix_counts(prefix, ids)
    t = truth.set_index("customer_id").reindex(ids)
    after = log.df[(log.df["timestamp"] >= cut) & (log.df["event_type"] == "purchase")]
    t["purchases_after"] = after.groupby("customer_id").size().reindex(ids).fillna(0)
    seg = t["segment"].to_numpy()
    out = {"customers": len(ids), "latent_dim": int(mu.shape[1])}
    clf = LogisticRegression(max_iter=2000)
    out["segment_accuracy_mu"] = float(cross_val_score(clf, mu, seg, cv=5).mean())
    out["segment_majority"] = float(pd.Series(seg).value_counts(normalize=True).iloc[0])
    for k in TARGETS:
        y = t[k].to_numpy(dtype=float)
        y = y if k == "propensity" else np.log1p(y) if k == "purchases_after" else np.log(y)
        r2 = {}
        for name, x in (("mu", mu), ("counts", counts), ("mu+counts", np.hstack([mu, counts]))):
            r2[name] = float(cross_val_score(RidgeCV(), x, y, cv=5, scoring="r2").mean())
        out[f"r2_{k}"] = r2
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-customers", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--customers", type=int, default=300)
    ap.add_argument("--before-day", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default=None, help="also save the fitted model to this folder")
    ap.add_argument("--load", default=None, help="a model saved by --save instead of a fit")
    a = ap.parse_args(argv)
    a.dp_config = {}
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    gen = base.load(a.load) if a.load else fit_model(a, None)
    if a.save:
        gen.save(a.save)
    res = {"args": vars(a), "fit_seconds": time.perf_counter() - t0, "load_average_at_start": load0}
    res |= measure(gen, a)
    res["load_average_at_end"] = os.getloadavg()[0]
    lines = [
        f"| {k} | " + " | ".join(f"{v:.3f}" for v in res[f"r2_{k}"].values()) + " |"
        for k in TARGETS
    ]
    table = "\n".join(
        [
            f"segment from mu: accuracy {res['segment_accuracy_mu']:.3f} "
            f"(majority class {res['segment_majority']:.3f})",
            "",
            "| target (log; propensity as is) | R^2 from mu | from prefix counts | from both |",
            "|---|---|---|---|",
            *lines,
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "latent.json", json.dumps(res, indent=1))
    atomic_write_text(RESULTS / "latent.md", table + "\n")
    print(table)
    return res


if __name__ == "__main__":
    main()
