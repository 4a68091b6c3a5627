"""Canary audit: plant rare journeys, train, and bound epsilon from below.

    result = canary_audit(train, fit_fn, claimed_epsilon=1.0, delta=1e-6, seed=0)
    result["epsilon_lower_bound"], result["claimed_epsilon"], result["caveat"]

`fit_fn(log) -> generator` trains any generator on the log it is given (the
training data with the planted canaries) and returns it; its `sample(n,
seed=...)` gives the synthetic log (a returned EventLog is used as is).

Canaries are random journeys (uniform tokens from the schema's domains, random
times, amounts and context), far from typical data, all drawn from one
distribution. Each canary is planted with probability 1/2, independently. A
canary's exposure score is minus the distance from its embedding to the
closest synthetic journey. Two lower bounds on epsilon:

- threshold (`epsilon_lower_bound`): a threshold on the score is chosen on a
  random half of the canaries; on the other half, TPR and FPR of "score above
  threshold means planted" give eps_lb = log((TPR_lo - delta) / FPR_hi), also
  with the roles of the two kinds of error swapped, where TPR_lo and FPR_hi
  are one-sided Clopper-Pearson bounds at level alpha/2 each.
- one run (`epsilon_lower_bound_one_run`, Steinke, Nasr and Jagielski 2023):
  guess "planted" for the top `guess_share / 2` scores and "not planted" for the
  bottom ones; under pure eps-DP the number of correct guesses is dominated by
  Binomial(guesses, e^eps / (1 + e^eps)), so eps_lb = logit of the
  Clopper-Pearson lower bound of the share of correct guesses.

A DP generator should give bounds at or below its claimed epsilon (a bound
above it is evidence of a bug); a generator that copies its training data
gives bounds well above 0. Treating the canaries of one training run as
independent trials is what both bounds assume (exact for the second under
pure DP); they are empirical, computed on real data, and not covered by the
DP guarantee.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.privacy.audits import CAVEAT, nearest_distances
from journeylab.privacy.embedding import embed

CANARY_PREFIX = "canary-"


@dataclass(frozen=True)
class CanaryConfig:
    """n_canaries: canaries drawn (about half planted). length: (min, max) events each.
    alpha: total error of the confidence bounds. guess_share: share of canaries the
    one-run attack guesses on (half "planted", half "not planted")."""

    n_canaries: int = 200
    length: tuple[int, int] = (4, 12)
    alpha: float = 0.05
    guess_share: float = 0.5

    def __post_init__(self) -> None:
        p = []
        if not (isinstance(self.n_canaries, int) and self.n_canaries >= 8):
            p.append(f"n_canaries {self.n_canaries!r} must be an integer >= 8")
        if not 1 <= self.length[0] <= self.length[1]:
            p.append(f"length {self.length!r} must be (min, max) with 1 <= min <= max")
        if not 0 < self.alpha < 1:
            p.append(f"alpha {self.alpha!r} must be in (0, 1), e.g. 0.05")
        if not 0 < self.guess_share <= 1:
            p.append(f"guess_share {self.guess_share!r} must be in (0, 1]")
        if p:
            raise ConfigError("; ".join(p))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- bounds (pure) ------------------------------------------------------------------
def clopper_pearson(k: int, n: int, *, alpha: float) -> tuple[float, float]:
    """One-sided (1 - alpha) lower and upper bounds on a proportion k / n."""
    lo = 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha, k + 1, n - k))
    return lo, hi


def epsilon_from_rates(
    tp: int, n_pos: int, fp: int, n_neg: int, *, delta: float, alpha: float
) -> float:
    """max(0, log((TPR_lo - delta) / FPR_hi), log((TNR_lo - delta) / FNR_hi))."""
    if n_pos == 0 or n_neg == 0:
        return 0.0
    tpr_lo, tpr_hi = clopper_pearson(tp, n_pos, alpha=alpha / 2)
    fpr_lo, fpr_hi = clopper_pearson(fp, n_neg, alpha=alpha / 2)
    best = 0.0
    for num, den in ((tpr_lo - delta, fpr_hi), (1 - fpr_hi - delta, 1 - tpr_lo)):
        if num > 0 and den > 0:
            best = max(best, math.log(num / den))
    return best


def epsilon_one_run(correct: int, guesses: int, *, alpha: float) -> float:
    """Steinke et al. (2023), pure DP: logit of the CP lower bound on the share correct."""
    if guesses == 0:
        return 0.0
    p_lo = clopper_pearson(correct, guesses, alpha=alpha)[0]
    return max(0.0, math.log(p_lo / (1 - p_lo))) if 0 < p_lo < 1 else 0.0


def best_threshold(scores: np.ndarray, planted: np.ndarray, *, delta: float, alpha: float) -> float:
    """The threshold (among the scores) with the largest bound on this sample."""
    best, best_t = -1.0, np.inf
    for t in np.unique(scores):
        above = scores >= t
        e = epsilon_from_rates(
            int((above & planted).sum()),
            int(planted.sum()),
            int((above & ~planted).sum()),
            int((~planted).sum()),
            delta=delta,
            alpha=alpha,
        )
        if e > best:
            best, best_t = e, t
    return float(best_t)


# --- canaries -----------------------------------------------------------------------
def make_canaries(
    train: EventLog,
    n: int,
    *,
    seed: int | np.random.SeedSequence,
    length: tuple[int, int] = (4, 12),
) -> EventLog:
    """`n` random journeys valid under train's schema (domains from the schema, else train)."""
    schema, rng = train.schema, np.random.default_rng(seed)
    tag = int(rng.integers(1 << 30))
    t0, t1 = _time_span(train)
    lo, hi = length[0], min(length[1], schema.max_length or length[1])
    rows = []
    for i in range(n):
        k = int(rng.integers(min(lo, hi), hi + 1))
        gaps = np.exp(rng.uniform(np.log(60), np.log(10 * 86_400), size=k)).astype(np.int64)
        span = max(int(t1 - t0) - int(gaps.sum()) - 1, 1)
        times = t0 + np.int64(rng.integers(0, span)) + np.cumsum(gaps)
        ctx = {c.name: _draw(c.name, train, rng) for c in schema.context}
        for t in times:
            ev = {c.name: _draw(c.name, train, rng) for c in schema.events}
            rows.append(
                {
                    schema.sequence_key: f"{CANARY_PREFIX}{tag}-{i:05d}",
                    schema.sequence_index: pd.Timestamp(int(t), unit="s"),
                    **ev,
                    **ctx,
                }
            )
    return EventLog.from_frame(pd.DataFrame(rows), schema)


def _time_span(log: EventLog) -> tuple[np.int64, np.int64]:
    s = log.schema
    t = (
        (s.time_start, s.time_end)
        if s.time_start is not None
        else (log.df[log.time].min(), log.df[log.time].max())
    )
    return np.int64(pd.Timestamp(t[0]).value // 10**9), np.int64(pd.Timestamp(t[1]).value // 10**9)


def _draw(name: str, train: EventLog, rng: np.random.Generator):
    col = train.schema.column(name)
    if col.kind == "categorical":
        values = col.values or sorted(set(train.df[name].astype(str)))
        return values[int(rng.integers(len(values)))]
    lo = col.min if col.min is not None else float(train.df[name].min())
    hi = col.max if col.max is not None else float(train.df[name].max())
    x = float(rng.uniform(lo, hi))
    return round(x, col.decimals) if col.decimals is not None else x


# --- the audit ----------------------------------------------------------------------
def canary_audit(
    train: EventLog,
    fit_fn: Callable[[EventLog], Any],
    *,
    claimed_epsilon: float | None = None,
    delta: float = 0.0,
    seed: int = 0,
    n_synthetic: int | None = None,
    config: CanaryConfig | None = None,
) -> dict[str, Any]:
    """Plant canaries, train with `fit_fn`, sample, and bound epsilon from below."""
    cfg = config or CanaryConfig()
    # Independent streams: the coin flips must not be correlated with how canaries look.
    s_canary, s_audit = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(s_audit)
    canaries = make_canaries(train, cfg.n_canaries, seed=s_canary, length=cfg.length)
    ids = canaries.customers
    planted = rng.random(len(ids)) < 0.5
    planted_log = EventLog.from_frame(
        pd.concat([train.df, canaries.subset(ids[planted]).df]), train.schema
    )
    synthetic = _synthesise(fit_fn(planted_log), n_synthetic or planted_log.n_customers, seed)
    # Standardise on canaries (each once), synthetic and the *unplanted* train log: stats
    # that counted planted canaries twice would themselves reveal which were planted.
    e_can, e_syn, _ = embed([canaries, synthetic, train])
    scores = -nearest_distances(e_can, e_syn)
    return {
        "claimed_epsilon": claimed_epsilon,
        "delta": delta,
        **_bounds(scores, planted, delta=delta, cfg=cfg, rng=rng),
        "n_canaries": len(ids),
        "n_planted": int(planted.sum()),
        "n_synthetic": synthetic.n_customers,
        "config": cfg.to_dict(),
        "caveat": CAVEAT,
    }


def _synthesise(generator: Any, n: int, seed: int) -> EventLog:
    if isinstance(generator, EventLog):
        return generator
    return generator.sample(n, seed=seed)


def _bounds(
    scores: np.ndarray,
    planted: np.ndarray,
    *,
    delta: float,
    cfg: CanaryConfig,
    rng: np.random.Generator,
) -> dict[str, Any]:
    half = rng.permutation(len(scores)) < len(scores) // 2  # threshold chosen on this half
    t = best_threshold(scores[half], planted[half], delta=delta, alpha=cfg.alpha)
    ev_s, ev_p = scores[~half], planted[~half]
    tp, fp = int(((ev_s >= t) & ev_p).sum()), int(((ev_s >= t) & ~ev_p).sum())
    eps_t = epsilon_from_rates(
        tp, int(ev_p.sum()), fp, int((~ev_p).sum()), delta=delta, alpha=cfg.alpha
    )
    k = max(1, int(len(scores) * cfg.guess_share / 2))
    order = np.argsort(-scores, kind="stable")
    correct = int(planted[order[:k]].sum() + (~planted[order[-k:]]).sum())
    return {
        "epsilon_lower_bound": eps_t,
        "epsilon_lower_bound_one_run": epsilon_one_run(correct, 2 * k, alpha=cfg.alpha),
        "threshold": t,
        "tpr": tp / max(int(ev_p.sum()), 1),
        "fpr": fp / max(int((~ev_p).sum()), 1),
        "guesses": 2 * k,
        "correct": correct,
    }
