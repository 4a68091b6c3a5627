"""How far customers differ: two helpers shared by the values and the calendar.

Both release a histogram with one cell per customer (its mean amount, its mean hour)
and then pick one number (a rank weight, a copula correlation) so that the synthetic
customers spread as far apart as the histogram says.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def hist_sd(weights, points: np.ndarray, *, floor: float) -> float | None:
    """The standard deviation of `points` weighted by the histogram `weights` (negative
    noisy cells as 0); None when less than `floor` of mass is left."""
    w = np.maximum(np.asarray(weights if weights is not None else [], float), 0.0)
    if not len(w) or w.sum() < max(floor, 1e-12):
        return None
    mean = (w * points).sum() / w.sum()
    return float(np.sqrt((w * (points - mean) ** 2).sum() / w.sum()))


def solve_increasing(
    spread: Callable[[float], float], target: float, lo: float, hi: float, *, steps: int = 8
) -> float:
    """The x in [lo, hi] where the increasing function `spread` reaches `target`
    (bisection; an end of the interval when it never does)."""
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if spread(mid) < target else (lo, mid)
    return (lo + hi) / 2
