"""The rhythm of a journey: how its events spread over days, learnt as four small histograms.

    rhythm = Rhythm.fit(log, scale=gauss_scale(4, rho), rng=rng)  # scale None: exact, no DP
    df = rhythm.apply(df, log, rng)                           # new gaps, same days span

A reviewer tells journeys apart by their gaps: how many events fall on the same day
as the one before (a basket and its coupons), how unequal the gaps between days are,
how far apart same-day events are. A model trained with DP-SGD on a few thousand
customers learns these worst of all (its gap W1 was 14-35 times real-vs-real in
BENCHMARKS), while six histograms cost little budget:
- burst: the joint (length class, share of same-day gaps) of customers (each in one cell);
- spread: multi-day gaps relative to the mean multi-day gap of their journey, on a
  log scale (each customer adds weight 1 in all, split over its gaps);
- sameday: seconds between same-day events (each customer adds weight 1 in all);
- order: for each pair (type of the event before a gap, type of the event after it),
  the gap's class: under a minute, an hour, a day, a week, a month, longer (each
  customer adds a vector of L2 norm 1, an equal part of it to each pair it has, however
  few its gaps of that pair);
- step: for each event type, the seconds of the same-day gaps before it, in the same-day
  histogram's bins (each customer adds a vector of L2 norm 1, an equal part to each
  type it has);
- pace: customers with 2 or more same-day gaps by the mean log seconds of them (each
  customer in one cell): how alike a customer's same-day gaps are (`_paced_seconds`).
Under DP each table gets Gaussian noise of `scale` (calendar.noisy_counts; one customer
moves each by at most 1 in L2 norm, so `scale` = calendar.gauss_scale(6, rho) spends rho).

With the step table (since the twelfth session), a journey's k same-day gaps are drawn
without replacement, each by its pair's odds of being same-day in the order table (pair
cells under 2 noise scales count as 0), the rest ranked by their pairs' mean multi-day
class; each same-day gap's class comes from its pair's row and its seconds from its
type's row of the step table within that class. Before, the k shortest by rank were
same-day and the seconds within a class came from the pooled histogram: on the
omnichannel simulator a cart abandonment, half an hour after its cart in every real
journey, was drawn at two minutes like the page views around it, or on a later day
(the gap before it alone told synthetic journeys apart, AUC 0.87-0.91). Put through the
whole profile at a DP fit's epsilon 8 (`bench_rhythm --profile`), real holdout journeys
went from detection AUC 0.97 to 0.89-0.91 (omnichannel) and 0.98-0.99 to 0.92-0.95
(process); Complete Journey and retail did not move.

`apply` keeps each journey's length, event order, first day and span in days (those
come from the model and the profile's shape), and replaces its gaps: a share of
same-day gaps drawn for its length class, multi-day gaps drawn from the spread and
scaled to the span, same-day seconds drawn from their histogram. Gaps are handed out
by rank: by the order table's mean log gap of each gap's pair of types (shrunk towards
its second type's, summed over the first, as far as the noise requires), then by the
model's own gaps; with the order table each same-day gap's size is drawn within a class
drawn from its pair's row (the classes raked so that all same-day gaps keep the same-day
histogram's mix), not handed out from the journey's pooled draws. A model trained with
DP-SGD places its long gaps badly: on a loan-application process at epsilon 8 a case's
wait for the customer's returned offer (117 hours, the median of real cases) came out at
one hour, and its few long gaps fell
between steps a clerk takes in one sitting; the reviewer told cases apart by their
longest gap and their duration. The model's ranks alone still order steps the table
cannot tell apart (a coupon after its basket). (A gap's rank within its journey in
thirds, tried first, sent half the omnichannel simulator's cart abandonments, all
within the day of their cart, to a later day: a rank is middling in a journey of quick
views and multi-day waits; the class says "within the day".)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from journeylab.generators.calendar import cap_gaps, noisy_counts, row_l2_table
from journeylab.generators.spread import hist_sd, robust_sd, solve_increasing
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.partitioned import part_of
from journeylab.journeys.streamed import StreamedLog, each_chunk

DAY_NS = 86_400 * 1_000_000_000
EVENT_TYPE = "event_type"
# Fine tables where the noise leaves room for them (customers / noise scale >= FINE_AT,
# and without DP), else the coarse ones. Through the rhythm, real journeys kept their
# give-aways on the coarse tables: on the omnichannel simulator without noise a
# customer's share of same-day gaps told them apart at AUC 0.66, events per active day
# 0.66, the shortest gap 0.58 (fine: 0.51, 0.50, 0.49). Under heavy noise the fine rows
# are thinner than the noise (Complete Journey, 1,250 customers at epsilon 1: 0.89
# against 0.71 for the same-day share), so the coarse ones stay there.
FINE_AT = 300
BURST_BINS = 21  # share of same-day gaps: 0, (0, .05], (.05, .1], ..., (.95, 1]
BURST_BINS_COARSE = 6  # 0, (0, .2], ..., (.8, 1]
SPREAD_EDGES = np.linspace(np.log(0.02), np.log(50.0), 25)  # log(gap / journey's mean gap)
# seconds: 0, 1, 2, then half-doublings to a day (fine), or about doublings (coarse;
# a process's steps a second apart were drawn anywhere in 1-59 s in bins of 1-59 s)
_HALF_DOUBLINGS = np.round(2.0 * np.sqrt(2.0) ** np.arange(32))
_HALF_DOUBLINGS = np.unique(np.r_[0.0, 1.0, _HALF_DOUBLINGS, 86_400.0])
_HALF_DOUBLINGS = _HALF_DOUBLINGS[_HALF_DOUBLINGS <= 86_400.0]
# The fine cells are split where the order table's classes change (a minute, an hour):
# a gap's seconds are drawn within its class, and a cell is read as the class of its
# lower edge. Before (a model saved with 33 fine cells), the cell 45-64 s held Complete
# Journey's baskets a minute apart (61-64 s, 9% of its same-day gaps; 0.1% at 30-60 s)
# and drew them at 45-59 s, the class under a minute: the shortest gap told the
# profile's own output from real journeys at epsilon 8 (AUC 0.69-0.74 on its own).
SAMEDAY_EDGES = np.unique(np.r_[_HALF_DOUBLINGS, 60.0, 3_600.0])
SAMEDAY_EDGES_COARSE = np.array(
    [0, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14_400, 28_800, 86_400.0]
)
TABLES = 6
# the pace table: customers with 2 or more same-day gaps by the mean log1p seconds of them
PACE_EDGES = np.arange(0.0, 12.0, 0.5)
PACE_RHO_MAX = 0.95  # the pace copula's largest correlation within a customer
PACE_FIT_CUSTOMERS = 20_000  # customers the pace copula's rho is solved on (a sample)
# a gap's class by its lower edge in seconds: under a minute, an hour, a day, a week, a
# month, longer (12 classes, finer at both ends, were tried: they placed Complete
# Journey's gaps worse)
ORDER_EDGES = np.array([0.0, 60.0, 3_600.0, 86_400.0, 7 * 86_400.0, 30 * 86_400.0])
ORDER_BINS = len(ORDER_EDGES)
# each class's log1p seconds: its edges' log-midpoint (the first 10 s, the last 60 days)
ORDER_MEANS = np.log1p(np.r_[10.0, np.sqrt(ORDER_EDGES[1:-1] * ORDER_EDGES[2:]), 60 * 86_400.0])
ORDER_HASHED = 128  # event types hashed into this many rows when the schema lists none
ORDER_MAX_TYPES = 128  # declared types beyond this are hashed too
RAKE_ROUNDS = 8  # rounds raking the same-day gaps' classes to the same-day histogram's
ORDER_PRIOR = 1.0  # noise deviations of a row's mass its prior mean weighs (shrinking)
ORDER_MODEL = 1.0  # weight (log seconds) of the model's own rank quantile beside the table's
ISOLATED = 4.0  # noise deviations a kept cell without kept neighbours must stand
SAME_MODEL = 1.0  # weight (log odds) of the model's own rank quantile, choosing same-day gaps
LONE_MAX_DAYS = 120.0  # a one-day journey's multi-day gap of the last class: 30 days to this
TAIL_ALPHA_MAX = 3.0  # the steepest rise of the lowest same-day cell's reach (`_tail_slope`)
SPAN_ROOM = 5.0  # ... its span at most 1 / SPAN_ROOM of the days its window leaves


def sameday_edges(n_cells: int) -> np.ndarray:
    """The same-day edges of a table with `n_cells` cells: fine, coarse, or the fine
    edges of a model saved before they were split at the minute and the hour."""
    for edges in (SAMEDAY_EDGES, SAMEDAY_EDGES_COARSE, _HALF_DOUBLINGS):
        if n_cells == len(edges) - 1:
            return edges
    raise ValueError(f"a same-day table of {n_cells} cells matches no known edges")


def fine_tables(n_customers: int, scale: float | None) -> bool:
    """Whether the rhythm counts its fine tables (see FINE_AT). It reads only the number
    of customers, which the DP plan treats as public too (its sampling rate and delta)."""
    return not scale or n_customers / scale >= FINE_AT


def burst_class(share: np.ndarray, bins: int = BURST_BINS - 1) -> np.ndarray:
    return np.where(share <= 0, 0, np.minimum(np.ceil(share * bins), bins)).astype(np.int64)


@dataclass
class Rhythm:
    burst: list[list[float]]  # [length classes, BURST_BINS or BURST_BINS_COARSE]
    spread: list[float]  # [len(SPREAD_EDGES) - 1]
    sameday: list[float]  # [len(SAMEDAY_EDGES) - 1], or the coarse edges
    scale: float = 0.0  # noise scale of each table (calendar.noisy_counts; 0: exact)
    order: list | None = None  # [types, types, ORDER_BINS] (None: a model saved before it)
    step: list | None = None  # [types, same-day bins] (None: a model saved before it)
    pace: list | None = None  # [len(PACE_EDGES) - 1] (None: a model saved before it)

    @classmethod
    def fit(cls, log: EventLog | StreamedLog, *, length_class, n_classes: int, scale, rng):
        fine = fine_tables(log.n_customers, scale)
        tables = counts(log, length_class=length_class, n_classes=n_classes, fine=fine)
        return cls.release(tables, scale=scale, rng=rng)

    @classmethod
    def release(cls, tables: dict[str, np.ndarray], *, scale: float | None, rng) -> Rhythm:
        """The tables of `counts`, each with Gaussian noise of `scale` (None: exact)."""
        return cls(
            burst=noisy_counts(tables["burst"], scale, rng).tolist(),
            spread=noisy_counts(tables["spread"], scale, rng).tolist(),
            sameday=noisy_counts(tables["sameday"], scale, rng).tolist(),
            scale=float(scale or 0.0),
            # raw: its rows are summed over the first type (a gap's second type alone)
            order=(
                noisy_counts(tables["order"], scale, rng, raw=True).tolist()
                if "order" in tables
                else None
            ),
            step=(
                noisy_counts(tables["step"], scale, rng, raw=True).tolist()
                if "step" in tables
                else None
            ),
            pace=(
                noisy_counts(tables["pace"], scale, rng, raw=True).tolist()
                if "pace" in tables
                else None
            ),
        )

    @classmethod
    def from_dict(cls, d: dict) -> Rhythm:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    # --- applying it ------------------------------------------------------------------
    def apply(self, df: pd.DataFrame, log: EventLog, rng, *, length_class) -> pd.DataFrame:
        """df (sorted by customer then time) with every journey's gaps redrawn."""
        if not len(df) or sum(self.spread) <= 0:
            return df
        t = df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
        j = pd.factorize(df[log.key], sort=False)[0]
        start = np.flatnonzero(np.r_[True, j[1:] != j[:-1]])  # [N] first row of each
        length = np.diff(np.r_[start, len(j)])
        day = t // DAY_NS
        span_days = day[np.r_[start[1:], len(j)] - 1] - day[start]  # [N]
        # the model's own multi-day gaps per journey: who gets the table's many or few
        crossed = np.diff(day, prepend=day[0]) > 0
        crossed[start] = False
        own = np.bincount(j, weights=crossed.astype(float), minlength=len(start))
        wanted = self._multi_day_counts(length, rng, length_class, own=own)
        is_gap = np.ones(len(j), dtype=bool)
        is_gap[start] = False
        # rank of each gap within its journey, shortest first: by the order table's mean
        # log gap of its pair of types, then by the model's own gap (ties at random)
        model_gap = np.diff(t, prepend=t[0]).astype(float) + rng.random(len(t))
        classes = self._pair_classes(df, log) if self.order is not None and len(df) else None
        if classes is not None:
            span_days = _lone_spans(classes, j, is_gap, span_days, wanted, day[start], log, rng)
        n_multi = np.clip(wanted, np.minimum(span_days, 1), np.minimum(length - 1, span_days))
        k_same = length - 1 - n_multi
        days = np.zeros(len(t), dtype=np.int64)
        secs = np.zeros(len(t))
        if classes is not None and self.step is not None:
            # the journey's k same-day gaps drawn without replacement by their pairs' odds
            # of being same-day; the others ranked by their pairs' mean multi-day class
            same = (
                rank_within(
                    self._same_day_keys(classes, j, model_gap, length, rng), j, is_gap, model_gap
                )
                < k_same[j]
            )
            multi = is_gap & ~same
            over = ORDER_EDGES >= 86_400.0
            p = classes[:, over] + 1e-12
            key = (p @ ORDER_MEANS[over]) / p.sum(1) + ORDER_MODEL * _quantile_by(
                model_gap, j, length
            )
            pos = rank_within(key, j, multi, model_gap)
            days[multi] = self._day_gaps(j[multi], pos[multi], span_days, rng)
            types = type_rows(df[EVENT_TYPE], log.schema, len(self.order))
            secs[same] = self._paced_seconds(classes[same], types[same], j[same], rng)
        else:  # a model saved before the step table: gaps ranked by their pairs' classes
            key = self._order_keys(classes, j, is_gap, model_gap, length)
            rank = rank_within(key, j, is_gap, model_gap)
            same = is_gap & (rank < k_same[j])
            multi = is_gap & ~same
            days[multi] = self._day_gaps(j[multi], rank[multi] - k_same[j[multi]], span_days, rng)
            if classes is not None and same.any():  # each gap within its pair's classes
                secs[same] = self._same_day_seconds_by_class(classes[same], rng)
            else:
                secs[same] = self._same_day_seconds(j[same], rank[same], rng)
        cum_day = _cumsum_by(days, j)
        gap_s = np.where(days > 0, 0.0, secs)  # seconds since the day's previous event
        day_start = np.r_[True, (j[1:] != j[:-1]) | (days[1:] > 0)]
        group = np.cumsum(day_start)
        # A day whose same-day gaps add up to more than a day is fitted into 60% to 100%
        # of it, its longest gaps capped (calendar.cap_gaps). (Clipped at 23:59:59, its
        # last events shared one time: on the 50k simulator 0.48% of synthetic gaps were
        # 0 s, 94% of them at 23:59:59, and 7.6% of customers had one; real gaps were
        # never under 4 s.)
        fill = 86_399.0 * (0.6 + 0.4 * rng.random(group[-1] + 1 if len(group) else 0))
        gap_s = cap_gaps(gap_s, group, fill[group], rng)
        secs_in_day = np.floor(_cumsum_by(gap_s, group)).astype(np.int64)
        first_midnight = (t[start] // DAY_NS) * DAY_NS
        new = first_midnight[j] + cum_day.astype(np.int64) * DAY_NS + secs_in_day * 1_000_000_000
        df = df.copy()
        df[log.time] = pd.to_datetime(new)
        return df

    @staticmethod
    def _order_keys(classes, j, is_gap, model_gap, length) -> np.ndarray:
        """[rows] each gap's sort key within its journey: the mean log gap of its pair of
        types' classes (`_pair_classes`), plus ORDER_MODEL times the model's own rank
        quantile. 0 without an order table (classes None)."""
        if classes is None:
            return np.zeros(len(j))
        mean = classes @ ORDER_MEANS
        return np.where(is_gap, mean + ORDER_MODEL * _quantile_by(model_gap, j, length), 0.0)

    @staticmethod
    def _same_day_keys(classes, j, model_gap, length, rng) -> np.ndarray:
        """[rows] each gap's sort key, its journey's k smallest being its same-day gaps:
        minus the log odds of its pair's classes under a day, minus a Gumbel draw (the k
        drawn without replacement, each by its odds), plus SAME_MODEL times the model's
        own rank quantile (its shortest gaps first)."""
        p = np.clip(classes[:, ORDER_EDGES < 86_400.0].sum(1), 1e-6, 1 - 1e-6)
        gumbel = -np.log(-np.log(np.clip(rng.random(len(j)), 1e-12, 1 - 1e-12)))
        logit = np.log(p) - np.log1p(-p)
        return -(logit + gumbel) + SAME_MODEL * _quantile_by(model_gap, j, length)

    def _pair_classes(self, df, log) -> np.ndarray:
        """[rows, ORDER_BINS] the class distribution of each row's gap by its pair of types
        in the order table (cells clipped at 0), shrunk towards its second type's (summed
        over the first), itself shrunk towards all gaps', each with the weight of one noise
        deviation of the row's mass (exact tables: no shrinking)."""
        raw = np.asarray(self.order, float)
        table = np.maximum(raw, 0.0)
        n_types = table.shape[0]
        types = type_rows(df[EVENT_TYPE], log.schema, n_types)
        prev = np.r_[0, types[:-1]]
        dev = ORDER_PRIOR * np.sqrt(2.0 * ORDER_BINS) * self.scale  # of a row's mass
        every = _shrunk(table.sum((0, 1)), 0.0, np.full(ORDER_BINS, 1.0 / ORDER_BINS))
        by_type = _shrunk(table.sum(0), dev * np.sqrt(n_types), every)  # [types, bins]
        if self.scale and self.step is not None:  # a pair's cells under 2 noise scales: 0
            table = np.where(raw > 2 * self.scale, raw, 0.0)
        by_pair = _shrunk(table, dev, by_type[None, :, :])  # [types, types, bins]
        return by_pair[prev, types]

    def _multi_day_counts(self, length, rng, length_class, *, own=None) -> np.ndarray:
        """[N] multi-day gaps each journey asks for: a share of same-day gaps drawn from
        its length class's row, the rest multi-day (`apply` then allows as many as the span
        in days does, at least 1 if it spans days). With `own` [N] (the model's own
        multi-day gaps per journey) the class's drawn shares go to its journeys in the
        order of the model's own shares (ties at random): the table says how many
        journeys are bursty, the model which. Drawn journey by journey, a visit of one
        page a day and a day of ten sessions were alike: one DP VAE of the 10k simulator
        (epsilon 8), three samples, detection AUC 0.922 -> 0.9085 (omnichannel: 0.935 ->
        0.925)."""
        rows = _distributions(np.asarray(self.burst, float), self.scale)
        cls = np.minimum(length_class(length), len(rows) - 1)
        p = rows[cls]  # [N, BURST_BINS]
        b = (p.cumsum(1) > rng.random((len(length), 1))).argmax(1)
        bins = rows.shape[1] - 1  # 5 in a model saved before the finer bins
        share = np.where(b == 0, 0.0, (b - 1 + rng.random(len(length))) / bins)
        if own is not None and len(length):
            # by class, most same-day gaps first: the model's fewest multi-day ones
            mine = own / np.maximum(length - 1, 1)
            by_draw = np.lexsort((-share, cls))
            by_model = np.lexsort((rng.random(len(length)), mine, cls))
            share[by_model] = share[by_draw]
        return np.round((length - 1) * (1 - share)).astype(np.int64)

    def _day_gaps(self, jm: np.ndarray, pos: np.ndarray, span_days, rng) -> np.ndarray:
        """Whole-day gaps (>= 1) for the multi-day gaps of journeys jm (pos: their rank
        among the journey's multi-day gaps), summing to each journey's span in days."""
        p = _distributions(np.asarray(self.spread, float)[None, :], self.scale)[0]
        b = (p.cumsum() > rng.random((len(jm), 1))).argmax(1)
        lo, hi = SPREAD_EDGES[b], SPREAD_EDGES[b + 1]
        r = np.exp(lo + (hi - lo) * rng.random(len(jm)))  # relative sizes
        r = _sorted_by(r, jm)  # each journey's sizes ascending, matched to `pos` order
        out = _sorted_by(_fit_days(jm, r, span_days), jm)  # rounding may reorder: keep ascending
        m = np.bincount(jm, minlength=len(span_days))
        first = np.r_[0, np.cumsum(np.bincount(jm, minlength=len(m)))[:-1]]
        return out[first[jm] + pos].astype(np.int64)

    def _paced_seconds(self, classes, types, js, rng) -> np.ndarray:
        """Same-day seconds (`_same_day_seconds_by_class`) whose uniforms are drawn through
        a customer-level Gaussian copula, Phi(rho z_customer + sqrt(1 - rho^2) z_gap), with
        rho (bisection) such that the customers' mean log seconds spread as the pace table
        says: real customers' same-day gaps are alike (a household's baskets a minute
        apart, another's hours apart); drawn one by one, the shortest gap of a heavy
        customer reached lower than real (Complete Journey: AUC 0.72-0.79)."""
        n = js.max() + 1 if len(js) else 0
        z_c = rng.standard_normal(n)[js]
        z_g = rng.standard_normal(len(js))

        def draw(rho: float, at=slice(None)) -> np.ndarray:  # u given: no draws from rng
            u = ndtr(rho * z_c[at] + np.sqrt(1.0 - rho**2) * z_g[at])
            return self._same_day_seconds_by_class(classes[at], rng, types[at], u=u)

        target = None
        if self.pace is not None:
            centres = (PACE_EDGES[:-1] + PACE_EDGES[1:]) / 2
            target = hist_sd(self.pace, centres, floor=10 * self.scale)
        many = np.bincount(js)[js] >= 2 if len(js) else np.zeros(0, dtype=bool)
        if target is None or not many.any():
            return draw(0.0)
        # rho is solved on at most PACE_FIT_CUSTOMERS of them (seeded), then drawn for all
        who = np.unique(js[many])
        if len(who) > PACE_FIT_CUSTOMERS:
            who = np.sort(rng.choice(who, PACE_FIT_CUSTOMERS, replace=False))
        at = np.flatnonzero(many & np.isin(js, who))

        def spread(rho: float) -> float:
            return robust_sd(pd.Series(np.log1p(draw(rho, at))).groupby(js[at]).mean())

        return draw(solve_increasing(spread, target, 0.0, PACE_RHO_MAX))

    def _same_day_seconds_by_class(
        self, classes: np.ndarray, rng, types=None, *, u=None
    ) -> np.ndarray:
        """Seconds for same-day gaps whose pairs' class distributions are `classes`
        [G, ORDER_BINS]: each gap's class among those under a day, the classes raked so
        that all gaps together have the same-day histogram's mix of classes (the two
        tables weigh customers differently: unraked, the gap W1 rose by 40-80%), then its
        seconds from the histogram's cells in that class (log-uniform where none is), or,
        given the gaps' `types` (rows of the step table), from their step's row of cells
        in that class, shrunk towards the histogram's. With `u` [G] one uniform per gap
        gives its class, cell and place in the cell (the inverse of its distribution's
        cdf: a larger u, a longer gap), else each is drawn from `rng`."""
        day = ORDER_EDGES < 86_400.0
        hist = _distributions(np.asarray(self.sameday, float)[None, :], self.scale)[0]
        edges = sameday_edges(len(hist))
        cell_class = np.searchsorted(ORDER_EDGES, edges[:-1], side="right") - 1
        target = np.bincount(cell_class, weights=hist, minlength=ORDER_BINS)[day]
        p = classes[:, day] + 1e-12
        for _ in range(RAKE_ROUNDS):  # rows sum to 1, columns to the histogram's mix
            p = p / p.sum(1, keepdims=True)
            p = p * (target * len(p) / np.maximum(p.sum(0), 1e-12))[None, :]
        p = p / p.sum(1, keepdims=True)
        cum_p = p.cumsum(1)
        c = (cum_p > (rng.random(len(p)) if u is None else u)[:, None]).argmax(1)
        if u is not None:  # u's place within its class
            before = np.where(c > 0, cum_p[np.arange(len(p)), np.maximum(c - 1, 0)], 0.0)
            u = np.clip((u - before) / np.maximum(p[np.arange(len(p)), c], 1e-12), 0.0, 1.0)
        rows_of = None
        if types is not None:  # [types, same-day cells] the steps' rows
            rows_of = self._step_rows()
        upper = np.r_[ORDER_EDGES[1:], np.inf][day]
        out = np.zeros(len(c))
        for k in np.unique(c):
            rows = np.flatnonzero(c == k)
            lo_k, hi_k = float(ORDER_EDGES[k]), float(min(upper[k] - 1.0, 86_399.0))
            w = np.where(cell_class == k, hist, 0.0)
            if w.sum() <= 0 and rows_of is None:  # log-uniform within the class
                v = rng.random(len(rows)) if u is None else u[rows]
                out[rows] = np.floor(max(lo_k, 1.0) * (hi_k / max(lo_k, 1.0)) ** v)
                continue
            if rows_of is None:
                cum = np.broadcast_to(np.cumsum(w / w.sum()), (len(rows), len(w)))
            else:  # each gap's step's cells in the class, shrunk towards the histogram's
                cells = np.where((cell_class == k)[None, :], rows_of, 0.0)
                prior = w / w.sum() if w.sum() > 0 else (cell_class == k) / (cell_class == k).sum()
                dev = ORDER_PRIOR * np.sqrt(2.0 * (cell_class == k).sum()) * self.scale
                p_cell = _raked_cells(_shrunk(cells, dev, prior), types[rows], prior)
                cum = np.cumsum(p_cell, 1)[types[rows]]
            v = rng.random(len(rows)) if u is None else u[rows]
            b = (cum > v[:, None]).argmax(1)
            if u is None:
                v = rng.random(len(rows))
            else:  # v's place within its cell
                at = np.arange(len(rows))
                below = np.where(b > 0, cum[at, np.maximum(b - 1, 0)], 0.0)
                v = np.clip((v - below) / np.maximum(cum[at, b] - below, 1e-12), 0.0, 1.0)
            s = self._cell_seconds(b, v, edges, hist)
            out[rows] = np.clip(s, lo_k, hi_k)
        return out

    def _cell_seconds(self, b: np.ndarray, v: np.ndarray, edges, hist) -> np.ndarray:
        """Whole seconds at place v (0..1) within same-day cells b: log-uniform (gaps thin
        out along a cell), cell 0 exactly 0 seconds. Under DP the histogram's (`hist`,
        as a distribution) lowest cell with mass, where the cell below it is empty and
        not cell 0, reaches down over that cell too, its density rising as from it to the
        next cell up (`_tail_slope`): the noise cuts the few shortest gaps' cell, and the
        customers' shortest gaps piled on the edge left (on the omnichannel simulator at
        epsilon 8, a quarter of customers' shortest same-day gaps were exactly 8 s, the
        cut cell's edge, where real ones spread over 4 to 10 s; AUC 0.73 on its own)."""
        b = np.asarray(b)
        lo, hi = edges[b], edges[b + 1]
        out = np.where(b == 0, 0.0, np.floor(lo * (hi / np.maximum(lo, 1.0)) ** v))
        tail = _tail_slope(hist, edges) if self.scale else None
        if tail is None:
            return out
        c, alpha = tail
        at = b == c
        a, h = edges[c - 1], edges[c + 1]
        if alpha < 1e-6:
            x = a * (h / a) ** v[at]
        else:  # log-density rising as exp(alpha log x): x^alpha uniform
            x = (a**alpha + v[at] * (h**alpha - a**alpha)) ** (1.0 / alpha)
        out[at] = np.floor(x)
        return out

    def _step_rows(self) -> np.ndarray:
        """[types, cells] the step table with cells under 2 noise scales (and lone ones)
        at 0, as `_distributions` cuts them; not normalised."""
        m = np.asarray(self.step, float)
        return np.maximum(_lone_cut(m, self.scale), 0.0) if self.scale else np.maximum(m, 0.0)

    def _same_day_seconds(self, js: np.ndarray, pos: np.ndarray, rng) -> np.ndarray:
        p = _distributions(np.asarray(self.sameday, float)[None, :], self.scale)[0]
        b = (p.cumsum() > rng.random((len(js), 1))).argmax(1)
        edges = sameday_edges(len(p))
        s = self._cell_seconds(b, rng.random(len(js)), edges, p)
        if not len(js):
            return s
        s = _sorted_by(s, js)
        first = np.r_[0, np.cumsum(np.bincount(js))[:-1]]
        return s[first[js] + pos]


def counts(
    log: EventLog | StreamedLog, *, length_class, n_classes: int, fine: bool = True
) -> dict[str, np.ndarray]:
    """The six tables, summed over chunks of whole journeys (see `chunk_counts`)."""
    total: dict[str, np.ndarray] = {}
    for chunk in each_chunk(log):
        part = chunk_counts(chunk, length_class=length_class, n_classes=n_classes, fine=fine)
        total = {k: total[k] + v for k, v in part.items()} if total else part
    return total


def chunk_counts(
    log: EventLog, *, length_class, n_classes: int, fine: bool = True
) -> dict[str, np.ndarray]:
    """Burst [length classes, bins], spread and same-day seconds of whole journeys, in
    the fine tables or the coarse ones, and the order table (`order_counts`)."""
    bins = BURST_BINS if fine else BURST_BINS_COARSE
    edges = SAMEDAY_EDGES if fine else SAMEDAY_EDGES_COARSE
    g = _gaps(log)
    lc = length_class(g["length"])
    burst = np.zeros((n_classes, bins))
    multi = g["length"] > 1
    np.add.at(burst, (lc[multi], burst_class(g["share"][multi], bins - 1)), 1.0)
    spread = np.bincount(
        _bin(g["rel"], SPREAD_EDGES), weights=g["rel_w"], minlength=len(SPREAD_EDGES) - 1
    )
    sameday = np.bincount(
        _bin(g["sec"], edges, log_scale=False),
        weights=g["sec_w"],
        minlength=len(edges) - 1,
    )
    return {
        "burst": burst,
        "spread": spread,
        "sameday": sameday,
        "order": order_counts(log),
        "step": step_counts(log, edges),
        "pace": pace_counts(log),
    }


def pace_counts(log: EventLog) -> np.ndarray:
    """[len(PACE_EDGES) - 1] customers with 2 or more same-day gaps by the mean log1p
    seconds of them (the last bin open); each customer in one cell."""
    out = np.zeros(len(PACE_EDGES) - 1)
    if not len(log.df):
        return out
    t = log.df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
    j = pd.factorize(log.df[log.key], sort=False)[0]
    day = t // DAY_NS
    use = np.r_[False, (j[1:] == j[:-1]) & (day[1:] == day[:-1])]
    g = pd.Series(np.log1p(np.diff(t, prepend=t[:1])[use] / 1e9)).groupby(j[use])
    mean = g.mean()[g.size() >= 2].to_numpy()
    return np.bincount(_bin(mean, PACE_EDGES, log_scale=False), minlength=len(out)).astype(float)


def step_counts(log: EventLog, edges: np.ndarray) -> np.ndarray:
    """[types, len(edges) - 1]: each same-day gap's seconds (in `edges`, the same-day
    histogram's) by the type of the event after it; a customer's contribution has L2
    norm 1, each of its rows 1 / sqrt(its rows) (`calendar.row_l2_table`, as the order
    table)."""
    n_types = order_types(log.schema)
    out = np.zeros((n_types, len(edges) - 1))
    if not len(log.df):
        return out
    t = log.df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
    j = pd.factorize(log.df[log.key], sort=False)[0]
    day = t // DAY_NS
    use = np.r_[False, (j[1:] == j[:-1]) & (day[1:] == day[:-1])]  # same-day gaps
    if not use.any():
        return out
    cell = _bin(np.diff(t, prepend=t[:1])[use] / 1e9, edges, log_scale=False)
    types = type_rows(log.df[EVENT_TYPE], log.schema, n_types)[use]
    return row_l2_table(types, cell, j[use], n_types, len(edges) - 1)


def order_counts(log: EventLog) -> np.ndarray:
    """[types, types, ORDER_BINS]: each gap's pair of event types and its class
    (ORDER_EDGES); a customer's contribution has L2 norm 1, each pair of types it has
    1 / sqrt(its pairs) of it (`calendar.row_l2_table`): a pair of few of its gaps weighs
    as much as its busiest. (Weighted by its gaps, a rare pair's row stood within the
    noise: on Complete Journey at epsilon 8 a coupon's gap to the basket it comes with,
    the same day in 89% of real pairs, was drawn the same day 58% of the time, and
    campaign-to-coupon, 6% the same day, 64%; real coupons redeemed on a day with a
    basket went from 89% to 69% through the profile, 86% with these weights. The real
    holdout through the epsilon-8 profile, three releases each (`prof5`, ad hoc): the
    omnichannel simulator 0.863 -> 0.832 with both tables so weighted, Complete Journey
    0.884 -> 0.887, the 10k simulator 0.812 -> 0.808.)"""
    n_types = order_types(log.schema)
    out = np.zeros((n_types, n_types, ORDER_BINS))
    if not len(log.df):
        return out
    t = log.df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
    j = pd.factorize(log.df[log.key], sort=False)[0]
    use = np.r_[False, j[1:] == j[:-1]]  # the rows that have a gap before them
    if not use.any():
        return out
    gap = np.diff(t, prepend=t[:1])[use] / 1e9
    b = np.searchsorted(ORDER_EDGES, gap, side="right") - 1
    types = type_rows(log.df[EVENT_TYPE], log.schema, n_types)
    prev = np.r_[0, types[:-1]]
    pair = prev[use] * n_types + types[use]
    return row_l2_table(pair, b, j[use], n_types * n_types, ORDER_BINS).reshape(out.shape)


def order_types(schema) -> int:
    """Rows of the order table: the schema's declared event types, or ORDER_HASHED."""
    values = schema.column(EVENT_TYPE).values
    return len(values) if values and len(values) <= ORDER_MAX_TYPES else ORDER_HASHED


def type_rows(types: pd.Series, schema, n_types: int) -> np.ndarray:
    """Each event's row in the order table: its declared type's index, or a stable hash
    of its type (never the data's own list of types: that list is not public)."""
    values = schema.column(EVENT_TYPE).values
    if values and len(values) == n_types:
        idx = pd.Categorical(types.astype(str), categories=[str(v) for v in values]).codes
        return np.where(idx >= 0, idx, 0).astype(np.int64)
    return part_of(types.astype(str).to_numpy(), n_types)  # the parts' sha256 hash


def _raked_cells(p: np.ndarray, types: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rows p [types, cells] (distributions) raked so that the gaps to be drawn (one per
    entry of `types`) have, all together, the cells of `target` (the same-day
    histogram's, within the class); each row stays a distribution. The step table
    weighs a customer's rows by their L2 norm, the histogram each customer 1 in all, and
    the steps' rows held a share of the short cells the histogram does not: on the
    omnichannel simulator at epsilon 8, 2% of some steps' same-day gaps fell under 4 s,
    246 gaps of 2 s or less where real journeys have 11. A cell the histogram does not
    hold is not drawn; a row with nothing the histogram holds keeps its own cells."""
    n = np.bincount(types, minlength=len(p)).astype(float)
    out = p.copy()
    for _ in range(RAKE_ROUNDS):
        col = (n[:, None] * out).sum(0)
        factor = np.where(col > 0, target * n.sum() / np.maximum(col, 1e-300), 0.0)
        raked = out * factor[None, :]
        total = raked.sum(1, keepdims=True)
        out = np.where(total > 0, raked / np.maximum(total, 1e-300), out)
    return out


def _shrunk(m: np.ndarray, k: float, prior: np.ndarray) -> np.ndarray:
    """Rows of counts [..., ORDER_BINS] as distributions, each with `prior` added at
    weight k (an empty row is the prior)."""
    total = m.sum(-1, keepdims=True) + k
    prior = np.broadcast_to(prior, m.shape)
    return np.where(total > 0, (m + k * prior) / np.maximum(total, 1e-12), prior)


def _gaps(log: EventLog) -> dict[str, np.ndarray]:
    """Per customer: length and share of same-day gaps; per multi-day gap: its size
    relative to the journey's mean multi-day gap and weight 1/(number of them); per
    same-day gap: seconds and weight 1/(number of them)."""
    t = log.df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
    j = pd.factorize(log.df[log.key], sort=False)[0]
    n = j.max() + 1 if len(j) else 0
    is_gap = np.r_[False, j[1:] == j[:-1]]
    gap = np.diff(t, prepend=t[:1]) / 1e9
    day = t // DAY_NS
    same = is_gap & (np.diff(day, prepend=day[:1]) == 0)
    multi = is_gap & ~same
    length = np.bincount(j, minlength=n)
    n_same = np.bincount(j[same], minlength=n)
    n_multi = np.bincount(j[multi], minlength=n)
    mean = np.bincount(j[multi], weights=gap[multi], minlength=n) / np.maximum(n_multi, 1)
    return {
        "length": length,
        "share": n_same / np.maximum(length - 1, 1),
        "rel": gap[multi] / np.maximum(mean[j[multi]], 1e-9),
        "rel_w": 1.0 / n_multi[j[multi]],
        "sec": gap[same],
        "sec_w": 1.0 / n_same[j[same]],
    }


def _bin(x: np.ndarray, edges: np.ndarray, *, log_scale: bool = True) -> np.ndarray:
    v = np.log(np.maximum(x, 1e-12)) if log_scale else x
    return np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)


def _distributions(m: np.ndarray, scale: float) -> np.ndarray:
    """Rows of a noisy table as distributions; a row with under 10 noise scales of mass
    uses the pooled row; cells under 2 noise scales count as 0 (kept, the positive noise
    of the empty cells of a 33-bin row drew about a tenth of a small log's same-day gaps
    from bins the data never has), and so does a cell whose neighbours both do unless it
    stands ISOLATED deviations high (a lone noise cell at 1 second, where the omnichannel
    simulator has no gap, gave 19% of synthetic customers a 1-second gap at epsilon 8:
    the shortest gap told them apart, AUC 0.73)."""
    ok = m.sum(1) >= max(10 * scale, 1e-12)
    pooled = m.sum(0)
    if scale:
        m = _lone_cut(m, scale)
        pooled = _lone_cut(pooled[None, :], scale * np.sqrt(len(m)))[0]
    pooled = np.maximum(pooled, 0.0) + 1e-9
    ok &= np.maximum(m, 0.0).sum(1) > 0  # a row the cut emptied: the pooled one too
    out = np.where(ok[:, None], np.maximum(m, 0.0), pooled)
    return out / out.sum(1, keepdims=True)


def _tail_slope(hist: np.ndarray, edges: np.ndarray) -> tuple[int, float] | None:
    """(c, alpha) for the same-day histogram (a distribution over the cells of `edges`):
    c its lowest cell with mass where the cell below is empty and is not cell 0 (0
    seconds), alpha the rise of its log-density per log-second from c to c + 1 (at least
    0, at most TAIL_ALPHA_MAX); None where there is no such cell."""
    hist = np.asarray(hist, float)
    held = np.flatnonzero(hist > 0)
    if not len(held):
        return None
    c = int(held[0])
    if c < 2 or c + 2 >= len(edges):
        return None
    lo = np.log(np.maximum(edges, 1.0))
    dens = hist[c : c + 2] / np.maximum(np.diff(lo[c : c + 3]), 1e-12)
    if dens[1] <= 0:
        return c, 0.0
    mid = 0.5 * (lo[c : c + 2] + lo[c + 1 : c + 3])
    alpha = np.log(dens[1] / dens[0]) / max(mid[1] - mid[0], 1e-12)
    return c, float(np.clip(alpha, 0.0, TAIL_ALPHA_MAX))


def _lone_cut(m: np.ndarray, scale: float) -> np.ndarray:
    """Rows [R, K] with cells under 2 noise scales set to 0, and kept cells without a kept
    neighbour in their row unless ISOLATED deviations high."""
    kept = m > 2 * scale
    near = np.zeros_like(kept)
    near[:, 1:] |= kept[:, :-1]
    near[:, :-1] |= kept[:, 1:]
    kept &= near | (m > ISOLATED * np.sqrt(2.0) * scale)
    return np.where(kept, m, 0.0)


def _lone_spans(classes, j, is_gap, span_days, wanted, first_day, log, rng) -> np.ndarray:
    """span_days, with each journey the model put on a single day but whose draw asks for
    multi-day gaps given a span: its gaps' days drawn from their pairs' classes of a day
    and more in the order table (log-uniform within a class; the last class from 30 days
    to LONE_MAX_DAYS), their mean times the multi-day gaps asked for, within a fifth of
    the days its window leaves (the shape's first span bin, where a one-day journey is).
    On the retail simulator at epsilon 8 half the DP model's 2- and 3-event customers had
    all their events on one day, against 4% of real ones; the span kept them there and
    the share of same-day gaps told them apart."""
    lone = (span_days == 0) & (wanted > 0)
    if not lone.any():
        return span_days
    rows = lone[j] & is_gap
    p = classes[rows][:, ORDER_EDGES >= 86_400.0] + 1e-12
    c = (p.cumsum(1) / p.sum(1, keepdims=True) > rng.random((len(p), 1))).argmax(1)
    lo = np.array([1.0, 7.0, 30.0])[c]
    hi = np.array([7.0, 30.0, LONE_MAX_DAYS])[c]
    d = np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * rng.random(len(p)))
    n = len(span_days)
    mean = np.bincount(j[rows], weights=d, minlength=n) / np.maximum(
        np.bincount(j[rows], minlength=n), 1
    )
    span = np.round(mean * wanted).astype(np.int64)
    if log.schema.time_end is not None:
        last = (log.schema.time_end.value - 1) // DAY_NS
        span = np.minimum(span, np.floor((last - first_day) / SPAN_ROOM).astype(np.int64))
    out = span_days.copy()
    out[lone] = np.maximum(span[lone], 0)
    return out


def _fit_days(jm: np.ndarray, r: np.ndarray, span_days: np.ndarray) -> np.ndarray:
    """Whole days (>= 1) for gaps of journeys jm (non-decreasing) drawn at sizes r, in the
    same order, summing to each journey's span in days (at least 1 per gap)."""
    total = np.bincount(jm, weights=r, minlength=len(span_days))
    m = np.bincount(jm, minlength=len(span_days))
    # Each gap is 1 day plus a share of the days left; the shares follow what is
    # above 1 day in the drawn gap (span * r / total), so the gaps themselves, not
    # their excess over a day, have the drawn spread.
    w = np.maximum(span_days[jm] * r / total[jm] - 1.0, 0.0)
    w_total = np.bincount(jm, weights=w, minlength=len(span_days))
    w = np.where(w_total[jm] > 0, w, r)
    w_total = np.bincount(jm, weights=w, minlength=len(span_days))
    extra = (span_days - m).clip(0)[jm] * w / w_total[jm]  # days beyond 1 per gap
    whole = np.floor(extra)
    left = (span_days - m).clip(0) - np.bincount(jm, weights=whole, minlength=len(m))
    frac_rank = _rank_by(-(extra - whole), jm)
    return (1 + whole + (frac_rank < left[jm])).astype(np.int64)


def rank_within(key: np.ndarray, j: np.ndarray, mask: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """0-based rank of each masked row within its journey j by key, then tie (unmasked
    rows: -1)."""
    order = np.lexsort((tie, key, j))
    order = order[mask[order]]
    counts = np.bincount(j[mask], minlength=j.max() + 1 if len(j) else 0)
    starts = np.cumsum(counts) - counts
    rank = np.full(len(j), -1, dtype=np.int64)
    rank[order] = np.arange(len(order)) - starts[j[order]]
    return rank


def _quantile_by(x: np.ndarray, j: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Each row's rank quantile of x within its journey j (rank / (length - 1))."""
    return _rank_by(x, j) / np.maximum(length[j] - 1, 1)


def _sorted_by(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """x reordered so that, group by group (groups in ascending order), values ascend."""
    return x[np.lexsort((x, group))]


def _rank_by(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """0-based rank of each x within its group (x ascending)."""
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((x, group))
    rank = np.empty(len(x), dtype=np.int64)
    counts = np.bincount(group)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    rank[order] = np.arange(len(x)) - np.repeat(starts, counts)[np.arange(len(x))]
    return rank


def _cumsum_by(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Cumulative sum of x restarting at each new group (group: non-decreasing ids)."""
    c = np.cumsum(x)
    first = np.r_[True, group[1:] != group[:-1]]
    base = np.where(first, c - x, 0.0)
    return c - np.maximum.accumulate(np.where(first, base, -np.inf)) if len(x) else c
