"""DP preprocessing: estimate the domains a schema leaves undeclared, with counted epsilon.

    result = dp_complete_schema(log, epsilon=0.5, delta=1e-7, seed=0)
    result.schema        # every domain declared
    result.record        # epsilon and delta spent per domain, mechanism, parameters
    clean, report = conform(log, result.schema)   # drop / clip / truncate, reported

Neighbouring datasets differ by one whole customer, so each mechanism bounds
what one customer can contribute:

- Category sets (one per undeclared categorical column): a histogram over
  customers, each customer counted at most once per category and in at most
  `max_categories` categories (the ones they use most; one for a context
  column). Laplace noise of scale k/eps (L1 sensitivity k); a category is kept
  when its noisy count exceeds tau = 1 + (k/eps) ln(k / (2 delta)), so a
  category that only one customer has is released with probability at most
  delta: (eps, delta)-DP (the thresholded histogram of Korolova et al. 2009;
  Wilson et al. 2020).
- Numeric bounds, the time range and the maximum journey length: quantiles by
  the exponential mechanism over a fixed public grid, each customer
  contributing one value (their own min for a lower bound, their own max,
  last event time or length for an upper one). The utility (0 where g is a
  q-quantile, else minus the customers to move, ties counted) changes by at
  most 1 between neighbours: eps-DP with sensitivity 1.

The total epsilon is split equally across the undeclared domains (within a
numeric column or the time range, equally between the bounds it estimates);
delta goes to the category sets. Basic composition: the domain epsilons sum
to the total. A fully declared schema costs nothing and is returned as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Column, Schema

TIME_GRID = ("1990-01-01", "2060-01-01")  # public: whole days in this range
_GRID_PER_DECADE = 20


@dataclass(frozen=True)
class PreprocessResult:
    """The completed schema and what its estimation spent, per domain."""

    schema: Schema
    epsilon: float
    delta: float
    domains: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def record(self) -> dict[str, Any]:
        return {
            "mechanism": "dp-preprocess",
            "epsilon": self.epsilon,
            "delta": self.delta,
            "composition": "basic (sum over domains)",
            "domains": self.domains,
        }


# --- public grids (fixed, data-independent) --------------------------------------------
def numeric_grid() -> np.ndarray:
    """0 and +-10^(k/20) for magnitudes 1e-3 .. 1e9: public candidates for numeric bounds."""
    pos = 10.0 ** (np.arange(-3 * _GRID_PER_DECADE, 9 * _GRID_PER_DECADE + 1) / _GRID_PER_DECADE)
    return np.concatenate([-pos[::-1], [0.0], pos])


def length_grid(max_length: int = 1 << 20) -> np.ndarray:
    """Integers 1..max_length, log-spaced (about 20 per decade), public."""
    g = np.unique(np.round(10.0 ** (np.arange(0, 200) / _GRID_PER_DECADE)).astype(np.int64))
    return g[g <= max_length]


def time_grid(bounds: tuple[str, str] = TIME_GRID) -> np.ndarray:
    """Whole days from bounds[0] to bounds[1] (public), as int64 nanoseconds."""
    return pd.date_range(*bounds, freq="D").asi8


# --- mechanisms ---------------------------------------------------------------------
def customer_category_counts(log: EventLog, column: str, *, max_categories: int) -> pd.Series:
    """Customers per category, each customer counted once per category and in at most
    `max_categories` categories (those they use most, ties by name). L1 sensitivity: k."""
    df = log.df[[log.key, column]]
    use = df.groupby([log.key, column], sort=True).size().rename("n").reset_index()
    use = use.sort_values([log.key, "n", column], ascending=[True, False, True], kind="mergesort")
    kept = use.groupby(log.key, sort=False).head(max_categories)
    return kept.groupby(column).size().sort_index()


def dp_category_set(
    counts: pd.Series,
    *,
    epsilon: float,
    delta: float,
    max_categories: int,
    rng: np.random.Generator,
) -> tuple[list[str], float]:
    """Categories whose Laplace-noised count passes the threshold; returns (kept, tau)."""
    scale = max_categories / epsilon
    tau = 1.0 + scale * math.log(max_categories / (2.0 * delta))
    noisy = counts.to_numpy(dtype=float) + rng.laplace(0.0, scale, size=len(counts))
    return sorted(str(c) for c in counts.index[noisy > tau]), tau


def per_customer_values(log: EventLog, what: str) -> np.ndarray:
    """One value per customer, the only way a customer enters a quantile mechanism.

    what: "min:<column>", "max:<column>", "first_time", "last_time" (int64 ns) or "length".
    """
    if what == "length":
        return log.lengths().to_numpy()
    if what in ("first_time", "last_time"):
        t = log.df.groupby(log.key, sort=False)[log.time]
        return (t.min() if what == "first_time" else t.max()).to_numpy().astype(np.int64)
    stat, _, column = what.partition(":")
    if stat not in ("min", "max") or column not in log.df.columns:
        raise ConfigError(
            f"unknown per-customer value '{what}'; use min:COL, max:COL, "
            "first_time, last_time or length"
        )
    return log.df.groupby(log.key, sort=False)[column].agg(stat).to_numpy()


def quantile_utility(values: np.ndarray, grid: np.ndarray, q: float) -> np.ndarray:
    """How far each grid point g is from being a q-quantile: 0 when #{x < g} <= q n <=
    #{x <= g} (ties count), else minus the number of customers to move. Each count and q n
    change by at most 1 per customer, so the utility does too (sensitivity 1)."""
    x = np.sort(values)
    below, upto, target = (
        np.searchsorted(x, grid, side="left"),
        np.searchsorted(x, grid, side="right"),
        q * len(x),
    )
    return -np.maximum(0.0, np.maximum(below - target, target - upto))


def dp_quantile(
    values: np.ndarray, grid: np.ndarray, *, q: float, epsilon: float, rng: np.random.Generator
) -> float:
    """Exponential mechanism (sensitivity 1) over the public `grid`."""
    logits = epsilon * quantile_utility(values, grid, q) / 2.0
    p = np.exp(logits - logits.max())
    return grid[rng.choice(len(grid), p=p / p.sum())]


# --- completing a schema ---------------------------------------------------------------
@dataclass(frozen=True)
class PreprocessConfig:
    """How domains are estimated.

    max_categories: categories of an event column one customer may add to its histogram.
    tail: share of customers allowed beyond an estimated bound (quantile 1 - tail / tail).
        Above the largest value every grid point scores -tail * n, so a quantile is only
        reliable when eps_bound * tail * n / 2 is well above ln(grid size) (about 5.5):
        with few customers or a small budget, raise the tail or declare the domain.
    """

    max_categories: int = 4
    tail: float = 0.02
    time_grid: tuple[str, str] = TIME_GRID  # public; a narrower one is more accurate

    def __post_init__(self) -> None:
        if not (isinstance(self.max_categories, int) and self.max_categories >= 1):
            raise ConfigError(f"max_categories {self.max_categories!r} must be an integer >= 1")
        if not 0 <= self.tail < 0.5:
            raise ConfigError(f"tail {self.tail!r} must be in [0, 0.5), e.g. 0.02")
        try:
            lo, hi = (pd.Timestamp(t) for t in self.time_grid)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"time_grid {self.time_grid!r} is not two dates: {e}") from e
        if not lo < hi:
            raise ConfigError(f"time_grid {self.time_grid!r}: start must be before end")


def split_budget(
    schema: Schema, *, epsilon: float, delta: float, share: float = 0.1
) -> dict[str, tuple[float, float]]:
    """Split a run's total (epsilon, delta) into {"preprocessing": ..., "training": ...}.

    A fully declared schema gives preprocessing nothing. Otherwise preprocessing gets
    `share` of epsilon, and `share` of delta when a category set must be estimated.
    """
    if not 0 < share < 1:
        raise ConfigError(f"preprocessing share {share!r} must be in (0, 1), e.g. 0.1")
    todo = schema.undeclared()
    if not todo:
        return {"preprocessing": (0.0, 0.0), "training": (epsilon, delta)}
    cat = any(not c.declared and c.kind == "categorical" for c in schema.columns)
    pre = (epsilon * share, delta * share if cat else 0.0)
    return {"preprocessing": pre, "training": (epsilon - pre[0], delta - pre[1])}


def dp_complete_schema(
    log: EventLog,
    *,
    epsilon: float,
    delta: float = 0.0,
    seed: int,
    config: PreprocessConfig | None = None,
) -> PreprocessResult:
    """Estimate every undeclared domain of `log.schema` under (epsilon, delta)-DP."""
    schema, cfg = log.schema, config or PreprocessConfig()
    todo = schema.undeclared()
    if not todo:
        return PreprocessResult(schema, 0.0, 0.0, {})
    n_cat = sum(1 for c in schema.columns if not c.declared and c.kind == "categorical")
    _check_budget(epsilon, delta, n_cat, todo)
    rng = np.random.default_rng(seed)
    eps_each, delta_each = epsilon / len(todo), (delta / n_cat if n_cat else 0.0)
    domains: dict[str, dict[str, Any]] = {}
    for name in todo:
        if name == "time_range":
            schema, domains[name] = _time_range(log, schema, eps_each, cfg, rng)
        elif name == "max_length":
            schema, domains[name] = _max_length(log, schema, eps_each, cfg, rng)
        else:
            col = schema.column(name)
            fn = _categories if col.kind == "categorical" else _bounds
            new_col, domains[name] = fn(log, col, eps_each, delta_each, cfg, rng)
            schema = _replace_column(schema, new_col)
    return PreprocessResult(
        schema,
        math.fsum(d["epsilon"] for d in domains.values()),
        math.fsum(d["delta"] for d in domains.values()),
        domains,
    )


def _check_budget(epsilon: float, delta: float, n_cat: int, todo: list[str]) -> None:
    if not (isinstance(epsilon, (int, float)) and 0 < epsilon < math.inf):
        raise ConfigError(
            f"preprocessing epsilon {epsilon!r} must be > 0: the schema leaves "
            f"{todo} undeclared. Declare them in the schema (public, free) or give "
            "a preprocessing budget"
        )
    if n_cat and not 0 < delta < 1:
        raise ConfigError(
            f"preprocessing delta {delta!r} must be in (0, 1): estimating category "
            "sets needs delta > 0; declare the categories in the schema instead, "
            "or pass e.g. delta=1e-7"
        )


def _categories(log, col: Column, eps: float, delta: float, cfg: PreprocessConfig, rng):
    k = 1 if col.name in log.schema.context_names() else cfg.max_categories
    counts = customer_category_counts(log, col.name, max_categories=k)
    kept, tau = dp_category_set(counts, epsilon=eps, delta=delta, max_categories=k, rng=rng)
    if not kept:
        raise ConfigError(
            f"no category of column '{col.name}' passed the DP threshold {tau:.0f} customers "
            f"at epsilon {eps:g}: the data has too few customers for this budget. Declare its "
            "values in the schema (public, free) or raise the preprocessing epsilon"
        )
    rec = {
        "mechanism": "laplace-thresholded-histogram",
        "epsilon": eps,
        "delta": delta,
        "sensitivity_l1": k,
        "threshold": tau,
        "kept": len(kept),
    }
    return replace(col, values=tuple(kept)), rec


def _bounds(log, col: Column, eps: float, _delta: float, cfg: PreprocessConfig, rng):
    grid = numeric_grid()
    need = [b for b in ("min", "max") if getattr(col, b) is None]
    rec: dict[str, Any] = {
        "mechanism": "exponential-quantile",
        "epsilon": eps,
        "delta": 0.0,
        "sensitivity": 1,
        "grid": "numeric_grid()",
    }
    lo, hi = col.min, col.max
    if "min" in need:
        lo = float(
            dp_quantile(
                per_customer_values(log, f"min:{col.name}"),
                grid,
                q=cfg.tail,
                epsilon=eps / len(need),
                rng=rng,
            )
        )
    if "max" in need:
        hi = float(
            dp_quantile(
                per_customer_values(log, f"max:{col.name}"),
                grid,
                q=1 - cfg.tail,
                epsilon=eps / len(need),
                rng=rng,
            )
        )
    lo, hi = min(lo, hi), max(lo, hi)
    rec.update(min=lo, max=hi, quantiles=[cfg.tail, 1 - cfg.tail])
    return replace(col, min=lo, max=hi), rec


def _time_range(log, schema: Schema, eps: float, cfg: PreprocessConfig, rng):
    grid = time_grid(cfg.time_grid)
    first, last = per_customer_values(log, "first_time"), per_customer_values(log, "last_time")
    start = dp_quantile(first, grid, q=cfg.tail, epsilon=eps / 2, rng=rng)
    end = dp_quantile(last, grid, q=1 - cfg.tail, epsilon=eps / 2, rng=rng)
    day = np.int64(86_400 * 10**9)
    start, end = pd.Timestamp(min(start, end)), pd.Timestamp(max(start, end) + day)  # end excl.
    rec = {
        "mechanism": "exponential-quantile",
        "epsilon": eps,
        "delta": 0.0,
        "sensitivity": 1,
        "grid": f"days {cfg.time_grid[0]}..{cfg.time_grid[1]}",
        "start": str(start),
        "end": str(end),
    }
    return replace(schema, time_start=start, time_end=end), rec


def _max_length(log, schema: Schema, eps: float, cfg: PreprocessConfig, rng):
    n = int(
        dp_quantile(
            per_customer_values(log, "length"), length_grid(), q=1 - cfg.tail, epsilon=eps, rng=rng
        )
    )
    rec = {
        "mechanism": "exponential-quantile",
        "epsilon": eps,
        "delta": 0.0,
        "sensitivity": 1,
        "grid": "length_grid()",
        "max_length": n,
    }
    return replace(schema, max_length=n), rec


def _replace_column(schema: Schema, col: Column) -> Schema:
    events = tuple(col if c.name == col.name else c for c in schema.events)
    context = tuple(col if c.name == col.name else c for c in schema.context)
    return replace(schema, events=events, context=context)


# --- fitting data into a completed schema ---------------------------------------------
@dataclass
class ConformReport:
    """What `conform` changed so the data fits the schema (never silent)."""

    customers_dropped: int = 0
    events_dropped: int = 0
    values_clipped: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "customers_dropped": self.customers_dropped,
            "events_dropped": self.events_dropped,
            "values_clipped": self.values_clipped,
            "notes": list(self.notes),
        }


def conform(log: EventLog | pd.DataFrame, schema: Schema) -> tuple[EventLog, ConformReport]:
    """Make the data valid under `schema` (e.g. a DP-completed one), reporting every change.

    Customers with a context category outside the domain are dropped; events with an event
    category or a timestamp outside it are dropped; numerics are clipped to their bounds;
    journeys longer than max_length keep their first max_length events. Each change touches
    one customer's own data only, so it costs no privacy budget.
    """
    if schema.undeclared():
        raise ConfigError(
            f"schema '{schema.name}' still leaves {schema.undeclared()} "
            "undeclared; complete it first with dp_complete_schema"
        )
    df = (log.df if isinstance(log, EventLog) else log).copy()
    key, rep = schema.sequence_key, ConformReport()
    n_customers, n_events = df[key].nunique(), len(df)
    for col in schema.context:
        if col.kind == "categorical":
            bad = df.loc[~df[col.name].astype(str).isin(col.values), key].unique()
            _note(rep, len(bad), f"customer(s) dropped: context '{col.name}' outside its domain")
            df = df[~df[key].isin(bad)]
    for col in schema.events:
        if col.kind == "categorical":
            ok = df[col.name].astype(str).isin(col.values)
            _note(rep, int((~ok).sum()), f"event(s) dropped: '{col.name}' outside its domain")
            df = df[ok]
    t = pd.to_datetime(df[schema.sequence_index])
    ok = (t >= schema.time_start) & (t < schema.time_end)
    _note(
        rep,
        int((~ok).sum()),
        f"event(s) dropped: time outside [{schema.time_start}, {schema.time_end})",
    )
    df = _clip_numerics(df[ok], schema, rep)
    dups = df.duplicated()
    _note(rep, int(dups.sum()), "event(s) dropped: duplicates after clipping")
    df = df[~dups]
    if df.empty:
        raise ConfigError(f"no event of the log fits schema '{schema.name}': {rep.notes}")
    clean = EventLog.from_frame(df, schema, truncate=True)
    rep.notes += clean.report.notes
    rep.customers_dropped = n_customers - clean.n_customers
    rep.events_dropped = n_events - clean.n_events
    return clean, rep


def _clip_numerics(df: pd.DataFrame, schema: Schema, rep: ConformReport) -> pd.DataFrame:
    df = df.copy()
    for col in schema.columns:
        if col.kind == "numeric":
            x = pd.to_numeric(df[col.name], errors="coerce").astype("float64")
            clipped = x.clip(col.min, col.max)
            n = int((clipped != x).sum())
            _note(rep, n, f"value(s) of '{col.name}' clipped to [{col.min:g}, {col.max:g}]")
            rep.values_clipped += n
            df[col.name] = clipped
    return df


def _note(rep: ConformReport, n: int, what: str) -> None:
    if n:
        rep.notes.append(f"{n} {what}")
