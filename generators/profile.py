"""The journey profile: what a reviewer checks first, learnt once per fit and imposed on samples.

    profile = JourneyProfile.fit(log, epsilon=0.8, seed=0)   # epsilon None: exact, no DP
    chosen = profile.select(candidates, n, rng)                # shape-matched journeys
    log = profile.apply(chosen, rng)                           # calendar and constants

Three parts, each a small histogram of the training log:
- shape: the joint distribution of (length class, span class) of journeys: the point
  mass at one event, the long tail, and how much of the remaining time window a
  journey uses (tenure, recency). A generator oversamples candidate journeys and
  `select` keeps those that reproduce the histogram (matching a released marginal is
  post-processing: it costs nothing more).
- calendar: per event token (the tuple of categorical event values) the share of
  events at midnight exactly (date-only data), at a whole minute, or at any second,
  and the hour-of-day histogram of the rest. `apply` keeps each generated event's
  date and redraws its clock time from its token's calendar (sorted within a day, so
  the order of the journey stays).
- constants: event columns that never change within a journey in the data (a case's
  requested amount, a home store); `apply` repeats the first event's value.
- orders (non-private fits only): the strict orderings of the data
  (journeys/orders.py); `select` prefers candidates that keep them.

Under DP each part is released by the Laplace mechanism on counts whose per-customer
contribution is bounded (a customer is in one shape cell; adds at most weight 1 to the
calendar; changes each constancy count by at most 1), and the epsilons add up to
`epsilon` (basic composition); `record()` says what was spent on what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.orders import breaks_order, order_rules

LENGTH_EDGES = (1, 2, 3, 4, 6, 9, 14, 22, 35, 56, 90, 145, 233)  # class k: [e_k, e_k+1)
SPAN_BINS = 5  # span / (window end - first event), in equal bins; one-event journeys: 0
CAL_CLASSES = ("midnight", "minute", "second")
CALENDAR_CAP = 32  # events per customer in the calendar histogram under DP
CONSTANT_SHARE = 0.005  # a column is constant if fewer journeys than this share vary
SHARES = {"shape": 0.5, "calendar": 0.35, "constants": 0.15}  # of the profile epsilon
_DAY = 86_400


def length_class(lengths: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(LENGTH_EDGES), lengths, side="right") - 1


def journey_shape(log: EventLog) -> pd.DataFrame:
    """Per customer (log order): length, span seconds, seconds from first event to the end
    of the time window, and the shape cell."""
    t = log.df[log.time]
    g = t.groupby(log.df[log.key], sort=False)
    first, last, n = g.min(), g.max(), g.size()
    end = log.schema.time_end if log.schema.time_end is not None else t.max()
    span = (last - first).dt.total_seconds().to_numpy()
    room = np.maximum((end - first).dt.total_seconds().to_numpy(), 1.0)
    sbin = np.minimum((span / room * SPAN_BINS).astype(int), SPAN_BINS - 1)
    lengths = n.to_numpy()
    cell = length_class(lengths) * SPAN_BINS + np.where(lengths == 1, 0, sbin)
    return pd.DataFrame({"length": lengths, "span": span, "cell": cell}, index=n.index)


def _laplace(counts: np.ndarray, scale: float | None, rng) -> np.ndarray:
    """Noisy counts (scale None: exact), clipped at 0 and zeroed below 2 noise scales."""
    if scale is None:
        return counts.astype(float)
    noisy = counts + rng.laplace(0.0, scale, size=counts.shape)
    return np.where(noisy > 2 * scale, noisy, 0.0)


def _tokens(log: EventLog, *, private: bool) -> tuple[list[str], np.ndarray]:
    """(token names, token index per event): the tuple of categorical event values.

    The names come from the schema's declared (or DP-estimated) categories; reading them
    off the data would leak which combinations occur, so under DP a schema with too many
    combinations gets no per-token calendar (one pooled calendar, token index -1)."""
    cols = log.schema.event_names("categorical")
    key = log.df[cols].astype(str).agg("|".join, axis=1) if cols else pd.Series("", log.df.index)
    names = _declared_tokens(log)
    if names is None:
        names = [] if private else sorted(set(key))
    index = pd.Categorical(key, categories=names).codes.astype(np.int64)
    return names, index


def _declared_tokens(log: EventLog) -> list[str] | None:
    cols = log.schema.event_names("categorical")
    values = [log.schema.column(c).values for c in cols]
    if any(v is None for v in values):
        return None
    out = [""]
    for vs in values:
        out = [f"{a}|{v}" if a else str(v) for a in out for v in vs]
    return out if len(out) <= 4096 else None


@dataclass
class JourneyProfile:
    shape: list[float]  # [cells] target weights
    tokens: list[str]
    cal_class: list[list[float]]  # [tokens][3] weights: midnight, minute, second
    cal_hour: list[list[float]]  # [tokens][24] weights of the hour (non-midnight events)
    constants: list[str]  # event columns repeated from the first event
    orders: dict[str, list] | None = None  # strict orderings (non-private fits only)
    epsilon: float | None = None  # None: exact (no DP)
    detail: dict[str, Any] | None = None

    # --- fit -------------------------------------------------------------------------
    @classmethod
    def fit(cls, log: EventLog, *, epsilon: float | None, seed: int) -> JourneyProfile:
        rng = np.random.default_rng(seed)
        eps = {k: None if epsilon is None else epsilon * s for k, s in SHARES.items()}
        shape = journey_shape(log)
        cells = len(LENGTH_EDGES) * SPAN_BINS
        counts = np.bincount(shape["cell"], minlength=cells)
        sh = _laplace(counts, None if eps["shape"] is None else 1 / eps["shape"], rng)
        tokens, cls_w, hour_w = _calendar_counts(log, capped=epsilon is not None, rng=rng)
        cal_scale = None if eps["calendar"] is None else 2 / eps["calendar"]  # two tables
        cls_w, hour_w = _laplace(cls_w, cal_scale, rng), _laplace(hour_w, cal_scale, rng)
        consts = _constants(log, eps["constants"], rng)
        # Order rules are read off the data exactly: only without DP (privately, every
        # pair of tokens would be a count to noise; see the README).
        orders = order_rules(log) if epsilon is None else None
        return cls(
            shape=sh.tolist(),
            tokens=tokens,
            cal_class=cls_w.tolist(),
            cal_hour=hour_w.tolist(),
            constants=consts,
            orders=orders,
            epsilon=epsilon,
            detail={
                "epsilon_parts": eps,
                "calendar_cap": CALENDAR_CAP if epsilon else None,
                # a token with less (noisy) calendar mass than this uses the pooled calendar
                "calendar_min_mass": 0.0 if cal_scale is None else 10 * cal_scale,
            },
        )

    def record(self) -> dict[str, Any]:
        """What the profile release spent (JSON): epsilon per part, Laplace, delta 0."""
        parts = (self.detail or {}).get("epsilon_parts", {})
        return {
            "mechanism": "laplace",
            "epsilon": float(self.epsilon or 0.0),
            "delta": 0.0,
            "parts": {k: {"epsilon": v, "mechanism": "laplace"} for k, v in parts.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JourneyProfile:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    # --- sampling ----------------------------------------------------------------------
    def select(self, candidates: EventLog, n: int, rng: np.random.Generator) -> EventLog:
        """n candidate journeys whose (length, span) cells follow the profile's shape,
        preferring those that keep the data's strict orderings (when known)."""
        if self.orders:
            ok = ~breaks_order(self.orders, candidates)
            if ok.sum() >= n:
                candidates = candidates.subset(list(np.asarray(candidates.customers)[ok]))
        shape = journey_shape(candidates)
        ids = shape.index.to_numpy()
        target = np.asarray(self.shape, float)
        if target.sum() <= 0:  # nothing survived the noise: keep the model's own shape
            return candidates.subset(list(ids[:n]))
        chosen = match_cells(shape["cell"].to_numpy(), target, n, rng)
        return candidates.subset(list(ids[chosen]))

    def apply(self, log: EventLog, rng: np.random.Generator) -> pd.DataFrame:
        """The log's events with clock times redrawn and constant columns repeated."""
        df = log.df.copy()
        for col in self.constants:
            df[col] = df.groupby(log.key, sort=False)[col].transform("first")
        return _redraw_clock(df, log, self, rng)


def match_cells(cell: np.ndarray, target: np.ndarray, n: int, rng) -> np.ndarray:
    """Indices of n candidates whose cells follow `target` (weights): each cell takes up to
    its share of n; a cell short of candidates borrows from the nearest cells that have
    some left (same length class first, then the next length classes)."""
    p = target / target.sum()
    want = _apportion(n, p, rng)  # [cells]
    pools = {c: list(rng.permutation(np.flatnonzero(cell == c))) for c in np.unique(cell)}
    chosen: list[int] = []
    short = {}
    for c in np.flatnonzero(want):
        pool = pools.get(c, [])
        take = min(int(want[c]), len(pool))
        chosen += pool[:take]
        pools[c] = pool[take:]
        if want[c] > take:
            short[c] = int(want[c]) - take
    for c, m in short.items():
        for d in sorted(pools, key=lambda o: (_cell_distance(c, o), o)):
            take = min(m, len(pools[d]))
            chosen += pools[d][:take]
            pools[d], m = pools[d][take:], m - take
            if m == 0:
                break
    return np.sort(np.asarray(chosen, dtype=np.int64))


def _apportion(n: int, p: np.ndarray, rng) -> np.ndarray:
    """Whole counts summing to n, as close to n * p as possible (largest remainders,
    ties broken at random): less spread than a multinomial draw."""
    exact = n * p
    want = np.floor(exact).astype(np.int64)
    rest = n - int(want.sum())
    if rest > 0:
        frac = exact - want + rng.random(len(p)) * 1e-9
        want[np.argsort(-frac)[:rest]] += 1
    return want


def _cell_distance(a: int, b: int) -> int:
    """Length classes weigh more than span bins: a journey of the right length with the
    wrong span is a better stand-in than one of the wrong length."""
    (la, sa), (lb, sb) = divmod(int(a), SPAN_BINS), divmod(int(b), SPAN_BINS)
    return 2 * SPAN_BINS * abs(la - lb) + abs(sa - sb)


def _calendar_counts(log: EventLog, *, capped: bool, rng) -> tuple[list[str], np.ndarray, ...]:
    """(tokens, class weights [T, 3], hour weights [T, 24]). Capped (DP): each customer's
    events are subsampled to CALENDAR_CAP, each of weight 1 / CALENDAR_CAP, so one customer
    moves each table by at most 1 in L1."""
    tokens, tok = _tokens(log, private=capped)
    t = log.df[log.time]
    sec = ((t - t.dt.normalize()).dt.total_seconds()).to_numpy()
    cls = np.where(sec == 0, 0, np.where(sec % 60 == 0, 1, 2))
    hour = (sec // 3600).astype(int)
    w = np.ones(len(sec))
    if capped:
        keys = log.df[log.key].to_numpy()
        rank = pd.Series(rng.random(len(keys))).groupby(keys, sort=False).rank(method="first")
        w = np.where(rank.to_numpy() <= CALENDAR_CAP, 1.0 / CALENDAR_CAP, 0.0)
    T = len(tokens) + 1  # the last row pools the events of no named token
    tok = np.where(tok >= 0, tok, T - 1)
    ok = tok >= 0
    cls_w = np.bincount(tok[ok] * 3 + cls[ok], weights=w[ok], minlength=T * 3).reshape(T, 3)
    nz = ok & (cls > 0)
    hour_w = np.bincount(tok[nz] * 24 + hour[nz], weights=w[nz], minlength=T * 24)
    return tokens, cls_w, hour_w.reshape(T, 24)


def _constants(log: EventLog, epsilon: float | None, rng) -> list[str]:
    """Event columns constant within journeys: the (noisy) number of journeys in which
    they vary is below CONSTANT_SHARE of the (noisy) number of multi-event journeys, and
    there are at least 20 of those. One customer moves each count by at most 1."""
    cols = [c.name for c in log.schema.events]
    if not cols:
        return []
    varies = log.df.groupby(log.key, sort=False)[cols].nunique().gt(1).sum().to_numpy(float)
    counts = np.append(varies, float(log.lengths().gt(1).sum()))  # [C + 1]
    if epsilon is not None:
        counts = counts + rng.laplace(0.0, len(counts) / epsilon, size=counts.shape)
    multi = counts[-1]
    if multi < 20:
        return []
    return [c for c, v in zip(cols, counts[:-1], strict=True) if v < CONSTANT_SHARE * multi]


def _redraw_clock(df: pd.DataFrame, log: EventLog, p: JourneyProfile, rng) -> pd.DataFrame:
    """Keep each event's date; give it its token's time class (midnight, whole minute, any
    second); move each (journey, day)'s first clock-timed event to a time of day drawn
    from its token's calendar and keep the generated offsets of that day's later events
    from it (bursts of events seconds apart stay bursts). Rows are re-sorted by the new
    times: a midnight event moves to the start of its day."""
    if not len(df):
        return df
    cols = log.schema.event_names("categorical")
    key = df[cols].astype(str).agg("|".join, axis=1) if cols else pd.Series("", df.index)
    tok = pd.Categorical(key, categories=p.tokens).codes.astype(np.int64)
    cls_w, hour_w = np.asarray(p.cal_class, float), np.asarray(p.cal_hour, float)
    pooled_c, pooled_h = cls_w.sum(0) + 1e-9, hour_w.sum(0) + 1e-9
    least = max((p.detail or {}).get("calendar_min_mass", 0.0), 1e-12)
    cls, fresh = np.empty(len(df), np.int64), np.empty(len(df))
    lo, hi = np.zeros(len(df)), np.full(len(df), 86_400.0)  # the token's hours with mass
    for k in np.unique(tok):
        rows = np.flatnonzero(tok == k)
        c = cls_w[k] if k >= 0 and cls_w[k].sum() >= least else pooled_c
        h = hour_w[k] if k >= 0 and hour_w[k].sum() >= least else pooled_h
        cls[rows], fresh[rows] = _draw_seconds(len(rows), c / c.sum(), h / h.sum(), rng)
        hours = np.flatnonzero(h > 1e-6 * h.sum())
        lo[rows], hi[rows] = hours.min() * 3600.0, hours.max() * 3600.0 + 3599.0
    t = df[log.time]
    day = t.dt.normalize()
    orig = (t - day).dt.total_seconds().to_numpy()  # generated seconds of the day
    group = pd.factorize(pd.MultiIndex.from_arrays([df[log.key].to_numpy(), day.to_numpy()]))[0]
    timed = pd.Series(np.where(cls > 0, np.arange(len(df)), len(df)))
    first = timed.groupby(group).transform("min").to_numpy()  # the day's first timed event
    first = np.minimum(first, len(df) - 1)
    # the day's burst of timed events must fit inside its token's hours: offsets are
    # compressed when the burst is longer than those hours, and the start is moved so
    # that the last one ends inside them
    offset = np.where(cls > 0, orig - orig[first], 0.0)
    span = pd.Series(offset).groupby(group).transform("max").to_numpy()
    room = hi[first] - lo[first]
    offset = offset * np.where(span > room, room / np.maximum(span, 1e-9), 1.0)
    anchor = np.clip(
        fresh[first], lo[first], np.maximum(lo[first], hi[first] - np.minimum(span, room))
    )
    secs = np.clip(anchor + offset, 0, 86_399)
    secs = np.where(cls == 2, np.round(secs), np.where(cls == 1, secs // 60 * 60, 0.0))
    new = day + pd.to_timedelta(secs, unit="s")
    start, end = log.schema.time_start, log.schema.time_end
    if end is not None:  # the window may end, or start, inside a day
        new = new.where(new < end, end - pd.Timedelta(seconds=1))
        new = new.where(new >= start, start)
    df[log.time] = new.to_numpy()
    return df.sort_values([log.key, log.time], kind="stable")


def _draw_seconds(m: int, cls_p: np.ndarray, hour_p: np.ndarray, rng):
    """(time class [m], seconds of the day [m]) drawn from a token's calendar."""
    cls = rng.choice(3, size=m, p=cls_p)
    hour = rng.choice(24, size=m, p=hour_p)
    secs = hour * 3600.0 + rng.integers(0, 60, size=m) * 60.0 + rng.integers(0, 60, size=m)
    return cls, secs
