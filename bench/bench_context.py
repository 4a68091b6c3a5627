"""The context tree, model-free: how close its draws come to the real customers' context.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_context \\
        [--datasets completejourney,omnichannel-2000,process-2000,retail-2000] \\
        [--epsilons 1,8] [--epochs 30] [--releases 3] [--samples DIR]

For each dataset (bench_peers' split, seed 0) and fit epsilon, the profile's context part
is released from the real train log at the rho a DP VAE fit gives it (what a DP-SGD plan of
`--epochs` leaves of the whole epsilon, times the part's share), as `JourneyProfile.fit`
releases it, and as many customers as the real holdout has are drawn from it. Printed
per dataset and epsilon, averaged over `--releases` releases (seeds 0, 1, ...): whether a
tree is released at all (pairs above the noise) or the model's context head is left to
draw them, the pair tables' noise deviation, and the total variation distance of the
columns' marginals (mean and worst) and of the pairs' joint tables (mean and worst)
from the holdout's; the train log's own distances (sampling alone) and those of the
columns drawn independently from their exact marginals (no joint) are the references.
With `--samples DIR` (a `bench_peers --results DIR` folder), the synthetic journeys it
saved (`DIR/peers/synthetic-<dataset>-vae-eps<epsilon>.parquet`) are measured too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.bench_peers import load_split
from bench.bench_through import profile_rho
from journeylab.journeys.errors import ConfigError

DATASETS = "completejourney,omnichannel-2000,process-2000,retail-2000"


def distances(codes: np.ndarray, real: np.ndarray, sizes: list[int]) -> dict[str, float]:
    """TVD of each column's marginal and of each pair's joint table, `codes` against `real`."""
    from journeylab.generators.context_tree import table_pairs

    def tvd(a: np.ndarray, b: np.ndarray) -> float:
        return 0.5 * float(np.abs(a / a.sum() - b / b.sum()).sum())

    one = [
        tvd(np.bincount(codes[:, j], minlength=v), np.bincount(real[:, j], minlength=v))
        for j, v in enumerate(sizes)
    ]
    two = []
    for a, b in table_pairs(len(sizes)) if len(sizes) > 1 else []:
        x, y = np.zeros((sizes[a], sizes[b])), np.zeros((sizes[a], sizes[b]))
        np.add.at(x, (codes[:, a], codes[:, b]), 1.0)
        np.add.at(y, (real[:, a], real[:, b]), 1.0)
        two.append(tvd(x, y))
    return {
        "tvd1_mean": float(np.mean(one)),
        "tvd1_max": float(np.max(one)),
        "tvd2_mean": float(np.mean(two)) if two else float("nan"),
        "tvd2_max": float(np.max(two)) if two else float("nan"),
    }


def measure(
    dataset: str, epsilon: float, releases: int, epochs: int = 30, samples: str | None = None
) -> dict:
    from journeylab.generators import context_tree as ct
    from journeylab.generators.calendar import gauss_scale
    from journeylab.generators.profile import _affordable, profile_shares

    train, hold = load_split(dataset, 0)
    names = ct.context_columns(train.schema)
    if not names:
        return {"dataset": dataset, "epsilon": epsilon, "tree": "no categorical context"}
    sizes, real = ct.sizes_of(train.schema, names), ct.customer_codes(hold, names)
    parts = ("rhythm", "values", "mix", "context")
    rho = profile_rho(train, epsilon, epochs)
    row: dict = {"dataset": dataset, "epsilon": epsilon, "columns": len(names)}
    row["train"] = distances(ct.customer_codes(train, names), real, sizes)
    rng = np.random.default_rng(0)
    exact = ct.ContextTree.release(
        ct.pair_counts(train, names), sizes, scale=None, rng=rng, pairs=False
    )
    row["independent"] = distances(exact.draw(len(real), rng), real, sizes)
    path = Path(samples or "") / "peers" / f"synthetic-{dataset}-vae-eps{epsilon:g}.parquet"
    if samples and path.exists():
        from journeylab.journeys.eventlog import EventLog

        synthetic = EventLog.read(path, schema=hold.schema)
        row["sample"] = distances(ct.customer_codes(synthetic, names), real, sizes)
    if "context" not in _affordable(parts, train, rho):
        row["tree"] = "none (pairs under the noise: the model's context head)"
        return row
    part_rho = rho * profile_shares(parts)["context"]
    scale = gauss_scale(len(ct.table_pairs(len(names))), part_rho)
    counts = ct.pair_counts(train, names)
    got = []
    for seed in range(releases):
        tree = ct.ContextTree.release(counts, sizes, scale=scale, rng=np.random.default_rng(seed))
        got.append(distances(tree.draw(len(real), np.random.default_rng(seed + 10)), real, sizes))
        row["deviation"] = tree.deviation
    row["tree"] = {k: float(np.mean([g[k] for g in got])) for k in got[0]}
    return row


def _fmt(d) -> str:
    if isinstance(d, str):
        return d
    return (
        f"marginals {d['tvd1_mean']:.3f} (worst {d['tvd1_max']:.3f}), "
        f"pairs {d['tvd2_mean']:.3f} (worst {d['tvd2_max']:.3f})"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default=DATASETS)
    ap.add_argument("--epsilons", default="1,8")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--releases", type=int, default=3)
    ap.add_argument("--samples", default=None, help="a bench_peers --results folder")
    a = ap.parse_args(argv)
    if a.releases < 1 or a.epochs < 1:
        raise ConfigError("--releases and --epochs must be at least 1")
    for ds in [d for d in a.datasets.split(",") if d]:
        for eps in [float(e) for e in a.epsilons.split(",") if e]:
            r = measure(ds, eps, a.releases, a.epochs, a.samples)
            print(f"{ds} epsilon {eps:g} ({r.get('columns', 0)} columns)")
            if "train" in r:
                print(f"  train (sampling alone): {_fmt(r['train'])}")
                print(f"  columns independent:    {_fmt(r['independent'])}")
            dev = f" (pair-cell deviation {r['deviation']:.1f})" if "deviation" in r else ""
            print(f"  tree{dev}: {_fmt(r['tree'])}")
            if "sample" in r:
                print(f"  the saved sample:       {_fmt(r['sample'])}")


if __name__ == "__main__":
    main()
