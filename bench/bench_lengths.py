"""Told lengths against real ones: how a length class's customers are drawn within it.

    OMP_NUM_THREADS=1 python -m bench.bench_lengths

For each bench dataset (real train/holdout split of bench_peers), the exact length-class
masses of the train half are drawn from (20,000 lengths, seeded) by three rules within a
class: uniform, log-uniform, and the profile's own (`JourneyProfile.draw_lengths`: the
density follows the slope between neighbouring classes). Printed: W1 of each against the
holdout's lengths, beside the train/holdout W1 (what fresh real data scores). No model, no
noise: this checks the rule alone.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy.stats import wasserstein_distance

from bench.bench_peers import load_split
from journeylab.generators.profile import (
    LENGTH_EDGES,
    SPAN_BINS,
    JourneyProfile,
    _tail_cut,
    journey_shape,
    length_class,
)

DATASETS = ("completejourney", "omnichannel-2000", "process-2000", "retail-2000")
MAX_LENGTH = 1000
SHAPE_EPSILON = 0.315  # the shape's part of epsilon 8 (25% profile, 45% base parts, 35%)


def simple(mass: np.ndarray, m: int, rng, log: bool) -> np.ndarray:
    k = rng.choice(len(mass), size=m, p=mass / mass.sum())
    e = np.asarray(LENGTH_EDGES, float)
    lo, hi = e[k], np.maximum(np.append(e[1:], MAX_LENGTH + 1)[k], e[k] + 1)
    u = rng.random(m)
    n = np.exp(np.log(lo) + u * np.log(hi / lo)) if log else lo + u * (hi - lo)
    return np.floor(n)


def main() -> None:
    for ds in DATASETS:
        train, hold = load_split(ds, 0)
        real = hold.lengths().to_numpy()
        mass = np.bincount(length_class(train.lengths().to_numpy()), minlength=len(LENGTH_EDGES))
        shape = np.zeros((len(LENGTH_EDGES), SPAN_BINS))
        shape[:, 0] = mass
        prof = JourneyProfile(shape=shape.ravel().tolist(), calendar={}, constants=[])
        codec = SimpleNamespace(max_length=MAX_LENGTH)
        told = prof.draw_lengths(20_000, np.random.default_rng(0), codec)
        mass = mass.astype(float)
        row = {
            "real/real": wasserstein_distance(train.lengths(), real),
            "uniform": wasserstein_distance(
                simple(mass, 20_000, np.random.default_rng(0), False), real
            ),
            "log-uniform": wasserstein_distance(
                simple(mass, 20_000, np.random.default_rng(0), True), real
            ),
            "profile": wasserstein_distance(told, real),
        }
        print(ds, " ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
        noisy(ds, train, real, codec)


def noisy(ds: str, train, real: np.ndarray, codec) -> None:
    cells = len(LENGTH_EDGES) * SPAN_BINS
    counts = np.bincount(journey_shape(train)["cell"], minlength=cells).astype(float)
    scale = 1 / SHAPE_EPSILON
    out: dict[str, list[float]] = {"all cells": [], "tail cut": []}
    for seed in range(10):
        raw = counts + np.random.default_rng(seed).laplace(0.0, scale, cells)
        kept = np.where(raw > 2 * scale, raw, 0.0)
        for name, shape in (("all cells", kept), ("tail cut", _tail_cut(kept, raw, scale))):
            prof = JourneyProfile(shape=shape.tolist(), calendar={}, constants=[])
            told = prof.draw_lengths(5000, np.random.default_rng(1), codec)
            out[name].append(wasserstein_distance(told, real))
    text = " ".join(f"{k} mean {np.mean(v):.2f} worst {np.max(v):.2f}" for k, v in out.items())
    print(f"{ds} under noise: {text}", flush=True)


if __name__ == "__main__":
    main()
