"""The values of numeric event columns: one small histogram per column, matched by rank.

    values = Values.fit(log, scale=gauss_scale(n_columns * tables(), rho), rng=rng)  # None: exact
    df = values.apply(df, log, rng)                                # same ranks, real sizes

A model trained with DP-SGD on a few thousand customers learns the sizes of amounts
poorly (on the 3,000-customer simulator at epsilon 8 its largest basket per customer
averaged 1,368 against 125 real, and the reviewer told journeys apart by amount alone),
while the order of its values (a basket above a coupon, a heavy spender above a light
one) is what it learns first. So each numeric column gets a histogram of its non-zero
values over bins fixed by the schema's declared range (log-spaced for a column that is
never negative), and `apply` hands the synthetic non-zero values the histogram's
quantiles in their own order: the model decides which value is larger, the histogram
how large. Zeros are left alone (structural zeros belong to the calendar).

Customers differ: on Complete Journey the middle 80% of households' mean log basket spans
2.05 to 3.65, and a DP model's spanned 2.65 to 3.13 (each customer's mean was a give-away on
its own, AUC 0.80). So each column has a second histogram, of each customer's mean (on the
bins' scale), and `apply` widens or narrows the spread between the model's customers until
the spread of their means matches it: each value's rank is taken after adding beta times
its customer's mean (beta from a small grid; the model still decides which customer
spends more), then handed the event histogram's quantile as before.

The largest value of each customer has a third histogram: the values' histogram weighs
a customer's values 1 / their number, so its tail holds few customers' worth and the
noise cuts it, while every customer has a largest value. `apply` then moves each
synthetic customer's largest value to that histogram's quantile at its rank.

Customers who buy often and rarely differ too: a fifth table counts customers by their
number of values (1-3, 4-15, 16-63, 64+) and level, and `apply` moves each count group's
levels to its row's quantiles, in their order (`level_by_count`: released under DP only
where its cells stand well above the noise). Complete Journey's households spend alike per
basket however often they shop; a model's light customers spent more than its heavy ones.

Under DP each customer's non-zero values are subsampled to the calendar's CAP and
weighted 1 / (values kept), and each customer's mean and largest value weigh 1 in theirs,
so one customer moves each histogram by at most 1 in L1 (so in L2). The values' histogram
is drawn at noise scale `scale` / HIST_SHARE, the means' at `scale` / LEVEL_SHARE, the
largest values' at `scale` / TOP_SHARE (with an even split of two under Laplace noise the
values' histogram was noisier, and Complete Journey's amount W1 ratio at epsilon 8 rose
from 2.98 to 3.91): with Gaussian noise a column costs what `tables()` tables at `scale`
cost (calendar.gauss_scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from journeylab.generators.calendar import (
    capped_weights,
    gauss_scale,
    noisy_counts,
    unit_of,
    unit_steps,
)
from journeylab.generators.rhythm import rank_within
from journeylab.generators.spread import hist_sd, robust_sd, solve_increasing
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.streamed import StreamedLog, each_chunk

BINS = 32  # 8 per decade on a log scale; more bins let more noise cells through
LOG_RANGE = 1e4  # a never-negative column's bins span [max / LOG_RANGE, max]
MIN_CELLS = 6  # cells (after merging neighbours) a noisy values histogram should keep
# a column's noise budget: its values' histogram, the customers' means, their largest values
HIST_SHARE = 0.5
LEVEL_SHARE = 0.25
TOP_SHARE = 0.25
REPEAT_SHARE = 0.25
LEVEL_BY_SHARE = 0.25  # the customers' levels by their number of values (`level_by_count`)
# customers by their number of non-zero values: 1-3, 4-15, 16-63, 64 and more
COUNT_EDGES = np.array([1, 4, 16, 64])
LEVEL_BY_AT = 100.0  # customers per noise deviation the table needs to be released
# customers with 2 or more non-zero values by their number of them (classes from each of
# these up) and the share of them that repeat an earlier value of theirs exactly (0, then
# up to each upper edge)
REPEAT_COUNTS = np.array([2, 3, 5, 10, 20, 50])
REPEAT_EDGES = np.array([0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0])
REPEAT_BINS = len(REPEAT_EDGES) + 1
DROP_ROUNDS = 5  # moves of a repeat that should not be one, each further than the last
BETA_RANGE = (-1.0, 4.0)  # spread between customers: rank by value + beta * customer mean
BISECTIONS = 10
LEVEL_MERGE = 2  # value bins per class of a customer's level (16 classes, a quarter decade)
LEVEL_CLASSES = BINS // LEVEL_MERGE
TAIL_RUN = 2  # cells tested together when a histogram's tail is grown back
ISOLATED = 4.0  # noise deviations a kept cell without kept neighbours must stand (`_cut`)


def columns(log: EventLog) -> list[str]:
    """The numeric event columns with a declared (or DP-estimated) range."""
    return columns_of(log.schema)


def columns_of(schema) -> list[str]:
    """`columns`, read off a schema."""
    out = []
    for name in schema.event_names("numeric"):
        c = schema.column(name)
        if c.min is not None and c.max is not None and c.max > c.min:
            out.append(name)
    return out


def edges(lo: float, hi: float) -> tuple[np.ndarray, bool]:
    """Bin edges over the declared range, and whether they are on a log scale."""
    if lo >= 0 and hi > 0:
        return np.geomspace(hi / LOG_RANGE, hi, BINS + 1), True
    return np.linspace(lo, hi, BINS + 1), False


def tables(by_count: bool = False) -> float:
    """What one column's histograms cost, in tables of L2 sensitivity 1 at noise scale
    `scale` (each at scale s / share costs share^2 / (4 s^2)); `by_count`: with the
    levels by number of values (`level_by_count`)."""
    out = HIST_SHARE**2 + LEVEL_SHARE**2 + TOP_SHARE**2 + REPEAT_SHARE**2
    return out + (LEVEL_BY_SHARE**2 if by_count else 0.0)


def level_by_count(customers: int, n_columns: int, rho: float | None) -> bool:
    """Whether the values part releases each column's customers' levels by their number of
    values (a [count group x level class] table, each customer in one cell): always
    without DP; under DP where the table's cells leave LEVEL_BY_AT customers per noise
    deviation (`customers` is public: DP-SGD's sampling rate is read off it). Complete
    Journey's real households spend alike per basket however often they shop (median
    mean log basket 2.6 to 3.0 in each group), and a model's light customers spent more
    per basket than its heavy ones (3.25 against 2.60 without DP); the reviewer read it
    off the amounts' statistics together (AUC 0.76 on them alone). At epsilon 1 on a
    thousand customers the cells would be noise: not released, nothing spent."""
    if rho is None:
        return True
    scale = gauss_scale(n_columns * tables(True), rho) / LEVEL_BY_SHARE
    return customers / (np.sqrt(2.0) * scale) >= LEVEL_BY_AT


@dataclass
class Values:
    hist: dict[str, list[float]]  # column -> [BINS] weights of non-zero values
    scale: float = 0.0  # noise scale of the values' histograms (0: exact)
    level: dict[str, list[float]] | None = None  # column -> [BINS] customers' means
    level_scale: float = 0.0  # noise scale of the means' histograms
    raw: bool = False  # `hist` as drawn (cut, and coarsened if need be, when applied)
    top: dict[str, list[float]] | None = None  # column -> [BINS] customers' largest values
    top_scale: float = 0.0  # noise scale of the largest values' histograms (as drawn)
    repeat: dict[str, list[float]] | None = None  # column -> customers by count, repeats
    repeat_scale: float = 0.0  # noise scale of the repeats' tables (as drawn)
    level_by: dict[str, list[float]] | None = None  # column -> [groups x classes] (raw)
    level_by_scale: float = 0.0  # noise scale of the levels by count (as drawn)

    @classmethod
    def fit(
        cls, log: EventLog | StreamedLog, *, scale: float | None, rng, by_count: bool = False
    ) -> Values:
        """The histograms of each numeric column; `by_count`: with the customers' levels by
        their number of values (`level_by_count`), whose cost `tables(True)` counts."""
        hist, level, top = {}, {}, {}
        hist_scale = None if scale is None else scale / HIST_SHARE
        level_scale = None if scale is None else scale / LEVEL_SHARE
        top_scale = None if scale is None else scale / TOP_SHARE
        repeat_scale = None if scale is None else scale / REPEAT_SHARE
        for col in columns(log):
            h, m, t = np.zeros(BINS), np.zeros(BINS, dtype=np.int64), np.zeros(BINS)
            for chunk in each_chunk(log):  # one pass per column: its weights' draws in order
                part = _chunk_hists(chunk, col, capped=scale is not None, rng=rng)
                h, m, t = h + part[0], m + part[1], t + part[2]
            hist[col] = noisy_counts(h, hist_scale, rng, raw=True).tolist()  # cut in `apply`
            level[col] = _released(m.astype(float), level_scale, rng).tolist()
            top[col] = noisy_counts(t, top_scale, rng, raw=True).tolist()  # as `hist`
        repeat = {}  # drawn last: the other tables' draws are those of a release without it
        for col in columns(log):
            r = np.zeros(len(REPEAT_COUNTS) * REPEAT_BINS)
            for chunk in each_chunk(log):
                r += repeat_counts(chunk, col)
            repeat[col] = noisy_counts(r, repeat_scale, rng, raw=True).tolist()
        level_by = {} if by_count else None  # drawn last, as the repeats
        by_scale = None if scale is None else scale / LEVEL_BY_SHARE
        for col in columns(log) if by_count else ():
            g = np.zeros(len(COUNT_EDGES) * LEVEL_CLASSES)
            for chunk in each_chunk(log):
                g += levels_by_count(chunk, col)
            level_by[col] = noisy_counts(g, by_scale, rng, raw=True).tolist()
        return cls(
            hist=hist,
            raw=True,
            scale=float(hist_scale or 0.0),
            level=level,
            level_scale=float(level_scale or 0.0),
            top=top,
            top_scale=float(top_scale or 0.0),
            repeat=repeat,
            repeat_scale=float(repeat_scale or 0.0),
            level_by=level_by,
            level_by_scale=float(by_scale or 0.0) if by_count else 0.0,
        )

    @classmethod
    def from_dict(cls, d: dict) -> Values:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def apply(
        self, df: pd.DataFrame, log: EventLog, rng, *, levels: dict[str, pd.Series] | None = None
    ) -> pd.DataFrame:
        """df with each column's non-zero values replaced by the histogram's quantiles,
        in the order of the values they replace (ties broken at random); `levels`: column
        -> customer -> level class (`level_codes`) drawn for it, which orders the
        customers' levels in place of the model's own means."""
        df = df.copy()
        for col, h in self.hist.items():
            h = _coarsened(np.asarray(h, float), self.scale) if self.raw else np.asarray(h, float)
            h = np.maximum(h, 0.0)
            if col not in df or h.sum() < max(10 * self.scale, 1e-12) or (h > 0).sum() < 4:
                continue  # (almost) nothing survived the noise: keep the model's values
            c = log.schema.column(col)
            x = df[col].to_numpy(float)
            nz = np.flatnonzero((x != 0) & np.isfinite(x))
            if not len(nz):
                continue
            keys = df[log.key].to_numpy()[nz]
            drawn = (levels or {}).get(col)
            before = x[nz]
            x[nz] = self._column(col, h, x[nz], keys, *edges(c.min, c.max), rng, drawn=drawn)
            x[nz] = self._tops(col, x[nz], keys, *edges(c.min, c.max), rng)
            if c.decimals is not None:
                x[nz] = np.round(x[nz], c.decimals)
            x[nz] = kept_whole(before, x[nz], None if c.decimals is None else 10.0**-c.decimals)
            df[col] = np.clip(x, c.min, c.max)
        return df

    def _column(self, col, h, x, keys, e, log_scale: bool, rng, drawn=None) -> np.ndarray:
        """The non-zero values x of one column, given the histogram's quantiles in the
        order of x + beta * (their customer's mean of x), for the beta whose customers'
        means spread as the level histogram says (bisection: the spread grows with beta;
        beta 0 without a level histogram). With `drawn` (customer -> level class, from
        the context tree) a customer's mean is placed in its drawn class
        (`_level_targets`): on the retail simulator at epsilon 8 the DP model gave every
        segment the same spend (mean basket 57 to 61, real 34, 54 and 126)."""
        q = (np.arange(len(x)) + rng.random(len(x))) / len(x)
        jitter = rng.random(len(x))
        own = _scaled(x, e, log_scale)
        level = _customer_means(own, keys, per_event=True)
        if drawn is not None:  # own = (own - its mean) + the drawn level in its place
            target_level = _level_targets(own, keys, drawn, e, log_scale, rng)
            own, level = own - level + target_level, target_level
        by = self._by_count(col)
        if by is not None:  # each count group's levels as its row says, in their order
            target_level = _count_levels(level, keys, by, e, log_scale, rng)
            own, level = own - level + target_level, target_level

        def mapped(beta: float) -> np.ndarray:
            out = np.empty(len(x))
            out[np.lexsort((jitter, own + beta * level))] = _quantiles(h, e, log_scale, q)
            return out

        target = self._level_sd(col, e, log_scale)
        if target is None:
            return mapped(0.0)
        spread = lambda beta: _spread(mapped(beta), keys, e, log_scale)  # noqa: E731
        return mapped(solve_increasing(spread, target, *BETA_RANGE, steps=BISECTIONS))

    def _tops(self, col, x, keys, e, log_scale: bool, rng) -> np.ndarray:
        """x with each customer's largest value replaced by the largest-values histogram's
        quantile at its rank among the customers' largest (never below the customer's
        second largest: only the top value moves). The values' histogram weighs a
        customer's values 1 / their number, so its tail holds few customers' worth and
        the noise cut it: on Complete Journey at epsilon 8 no synthetic customer's largest
        basket passed 178 where a tenth of real ones passed 225 (AUC 0.74 on its own,
        the reviewer's first give-away); each customer's largest weighs 1 here."""
        t = (self.top or {}).get(col)
        if t is None:
            return x
        t = np.asarray(t, float)
        if self.top_scale:  # cut and its tails grown back, never merged (`_coarsened`):
            # the largest values sit in a few cells, and merged to 6 they spread over 8
            t = _tails(_cut(t, self.top_scale), t, self.top_scale)
        t = np.maximum(t, 0.0)
        if t.sum() < max(10 * self.top_scale, 1e-12) or (t > 0).sum() < 2:
            return x
        codes = pd.factorize(keys)[0]
        order = np.lexsort((rng.random(len(x)), -x, codes))  # each customer's largest first
        first = order[np.r_[True, codes[order][1:] != codes[order][:-1]]]
        second = np.full(codes.max() + 1, -np.inf)
        two = order[np.r_[False, codes[order][1:] == codes[order][:-1]]]
        np.maximum.at(second, codes[two], x[two])
        k = len(first)
        q = (np.arange(k) + rng.random(k)) / k
        target = np.empty(k)
        target[np.lexsort((rng.random(k), x[first]))] = _quantiles(t, e, log_scale, q)
        out = x.copy()
        out[first] = np.maximum(target, second[codes[first]])
        return out

    def repeats(self, df: pd.DataFrame, log: EventLog, rng) -> pd.DataFrame:
        """df with each customer's exact repeats of its own values (a basket of one item
        bought again at its price) as many as its row of the repeats' table says: for its
        number of non-zero values, a share drawn from the row; values unique in their
        journey take their nearest kept value of the same journey, or repeated ones move
        by the column's last decimal. On Complete Journey 7.8% of real baskets repeat an
        earlier basket of their household, a few households' most of theirs; a DP model's
        repeats (2.2%) came from rounding, spread evenly, and a customer's share of
        distinct values was a give-away (AUC 0.67). Run after the calendar, whose whole
        numbers make repeats of their own."""
        df = df.copy()
        for col, table in (self.repeat or {}).items():
            rows = _repeat_rows(np.asarray(table, float), self.repeat_scale)
            if rows is None or col not in df:
                continue
            x = df[col].to_numpy(float)
            nz = np.flatnonzero((x != 0) & np.isfinite(x))
            if len(nz) < 2:
                continue
            c = log.schema.column(col)
            x[nz] = _repeated(x[nz], df[log.key].to_numpy()[nz], rows, c, rng)
            df[col] = x
        return df

    def _by_count(self, col: str) -> np.ndarray | None:
        """[groups, classes] the column's levels by count, each row cut as the values'
        histogram is (cells under max(2, ln classes) noise scales, tails grown back), a
        row that keeps under 10 noise scales (or two cells) all 0: its group keeps its
        levels. None without the table."""
        t = (self.level_by or {}).get(col)
        if t is None:
            return None
        rows = np.asarray(t, float).reshape(len(COUNT_EDGES), LEVEL_CLASSES)
        s = self.level_by_scale
        if s:
            rows = np.stack([_tails(_cut(r, s), r, s) for r in rows])
        rows = np.maximum(rows, 0.0)
        weak = (rows.sum(1) < max(10 * s, 1e-12)) | ((rows > 0).sum(1) < 2)
        rows[weak] = 0.0
        return None if weak.all() else rows

    def _level_sd(self, col: str, e: np.ndarray, log_scale: bool) -> float | None:
        """The spread (sd, on the bins' scale) of the customers' means, from their
        histogram; None where it is missing or did not survive the noise."""
        mid = np.sqrt(e[:-1] * e[1:]) if log_scale else (e[:-1] + e[1:]) / 2
        level = (self.level or {}).get(col)
        return hist_sd(level, _scaled(mid, e, log_scale), floor=10 * self.level_scale)


def kept_whole(before: np.ndarray, after: np.ndarray, step: float | None = None) -> np.ndarray:
    """`after` with each value that was whole in `before` rounded to the unit it was a
    multiple of (10 to a multiple of 10, 15 of 5, 3 of 1; to 1 where that gives 0). The
    histogram's quantiles are drawn uniformly within their cells, so every whole value
    came out with a fraction: Complete Journey's real holdout put through the exact
    profile went from 7.6% whole baskets to 1.0% before the calendar rounded fractions
    back by their decade, and its whole ones were no longer the small prices they are in
    the data (1, 10, 20, 2, 5 dollars the commonest; afterwards 30, 20, 5, 8): the size of
    a customer's whole amounts against its others alone told them apart (AUC 0.66).
    A value that was not whole and is now (rounded to the column's decimals, `step`)
    moves by one step: 1% of 2-decimal baskets had landed on whole dollars, 12% more
    whole values than the data's."""
    after = np.asarray(after, float).copy()
    was = (before != 0) & (np.round(before) == before)
    if step:
        now = (after != 0) & (np.round(after) == after) & ~was
        after[now] -= step
    whole = was & np.isfinite(after)
    if not whole.any():
        return after
    unit = np.maximum(unit_of(before[whole], unit_steps(before[whole])), 1.0)
    y = after[whole]
    r = np.round(y / unit) * unit
    r = np.where(r == 0, np.round(y), r)  # under the unit: the nearest whole number,
    after[whole] = np.where(r == 0, np.where(y < 0, -1.0, 1.0), r)  # never 0
    return after


def _chunk_hists(log: EventLog, col: str, *, capped: bool, rng):
    """[BINS] weights of the non-zero values of `col`, [BINS] customers by their mean and
    [BINS] customers by their largest value, over a chunk of whole journeys."""
    keys = log.df[log.key].to_numpy()
    c = log.schema.column(col)
    e, log_scale = edges(c.min, c.max)
    x = log.df[col].to_numpy(float)
    nz = (x != 0) & np.isfinite(x)
    # weights over each customer's non-zero values only: a customer with one
    # purchase among fifty views still adds 1 (over all events it added 1/50)
    w = capped_weights(keys[nz], rng) if capped else np.ones(int(nz.sum()))
    h = np.bincount(_bin(x[nz], e), weights=w, minlength=BINS)
    if not nz.any():
        return h, np.zeros(BINS, dtype=np.int64), np.zeros(BINS)
    means = _customer_means(_scaled(x[nz], e, log_scale), keys[nz])
    tops = pd.Series(x[nz]).groupby(keys[nz], sort=False).max().to_numpy()
    return (
        h,
        np.bincount(_bin(_unscaled(means, log_scale), e), minlength=BINS),
        np.bincount(_bin(tops, e), minlength=BINS).astype(float),
    )


def count_groups(n: np.ndarray) -> np.ndarray:
    """Each customer's group (COUNT_EDGES) by its number n >= 1 of non-zero values."""
    return np.searchsorted(COUNT_EDGES, n, side="right") - 1


def levels_by_count(log: EventLog, col: str) -> np.ndarray:
    """[groups x classes] customers by their count group and level class (`level_codes`),
    over a chunk of whole journeys: each customer with a non-zero value adds 1."""
    codes = pd.factorize(log.df[log.key].to_numpy())[0]
    x = log.df[col].to_numpy(float)
    nz = (x != 0) & np.isfinite(x)
    n = np.bincount(codes[nz], minlength=codes.max() + 1 if len(codes) else 0)
    cls = level_codes(log, col)
    has = cls >= 0
    cell = count_groups(np.maximum(n[has], 1)) * LEVEL_CLASSES + cls[has]
    return np.bincount(cell, minlength=len(COUNT_EDGES) * LEVEL_CLASSES).astype(float)


def _count_levels(
    level: np.ndarray, keys: np.ndarray, rows: np.ndarray, e: np.ndarray, log_scale: bool, rng
) -> np.ndarray:
    """[values] each value's customer's level (on the bins' scale, `level` per value) moved,
    within the customers of its count group, to the quantile of the group's row (`rows`:
    [groups, classes], a row of zeros keeps its group as it is) at its rank there."""
    codes = pd.factorize(keys)[0]
    first = np.unique(codes, return_index=True)[1]
    mean = level[first]  # one per customer
    group = count_groups(np.bincount(codes))
    out = mean.copy()
    e_cls = e[::LEVEL_MERGE]
    for g in range(len(rows)):
        at = np.flatnonzero(group == g)
        if not len(at) or rows[g].sum() <= 0:
            continue
        u = np.empty(len(at))
        u[np.lexsort((rng.random(len(at)), mean[at]))] = np.arange(len(at))
        q = (u + 0.5) / len(at)
        out[at] = _scaled(_quantiles(rows[g], e_cls, log_scale, q), e, log_scale)
    return out[codes]


def level_codes(log: EventLog, col: str) -> np.ndarray:
    """[customers, in order of first appearance] each customer's level of `col`: the class
    (LEVEL_CLASSES, LEVEL_MERGE value bins each) of its mean of non-zero values on the
    bins' scale; -1 for a customer without one. The context tree holds it as a column
    (`context_tree.level_columns`), so a customer's level is drawn given its context."""
    keys = log.df[log.key].to_numpy()
    codes, uniq = pd.factorize(keys)
    out = np.full(len(uniq), -1, dtype=np.int64)
    c = log.schema.column(col)
    e, log_scale = edges(c.min, c.max)
    x = log.df[col].to_numpy(float)
    nz = (x != 0) & np.isfinite(x)
    if nz.any():
        own = pd.Series(_scaled(x[nz], e, log_scale)).groupby(codes[nz]).mean()
        b = _bin(_unscaled(own.to_numpy(), log_scale), e) // LEVEL_MERGE
        out[own.index.to_numpy()] = b
    return out


def _level_targets(
    own: np.ndarray, keys: np.ndarray, drawn: pd.Series, e: np.ndarray, log_scale: bool, rng
) -> np.ndarray:
    """[values] each value's customer's level (on the bins' scale) placed in the class drawn
    for it (`drawn`: customer -> class), at the rank of the customer's own mean among the
    customers drawn into that class; a customer without a drawn class keeps its own."""
    codes, uniq = pd.factorize(keys)
    mean = _customer_means(own, keys)
    cls = pd.Series(uniq).map(drawn).to_numpy(float)
    has = np.isfinite(cls)
    out = mean.copy()
    if has.any():
        k = cls[has].astype(np.int64)
        u = rank_within(mean[has], k, np.ones(len(k), bool), rng.random(len(k)))
        size = np.bincount(k, minlength=LEVEL_CLASSES)[k]
        frac = (u + 0.5) / np.maximum(size, 1)
        lo = _scaled(e[k * LEVEL_MERGE], e, log_scale)
        hi = _scaled(e[np.minimum((k + 1) * LEVEL_MERGE, BINS)], e, log_scale)
        out[has] = lo + (hi - lo) * frac
    return out[codes]


def _repeat_stats(x: np.ndarray, keys: np.ndarray):
    """(customer codes [E], values per customer [N], repeats per customer [N], repeated
    [E]: the event's value is one its customer had before, in the given order)."""
    codes = pd.factorize(keys)[0]
    again = pd.DataFrame({"c": codes, "x": x}).duplicated().to_numpy()
    m = np.bincount(codes)
    return codes, m, np.bincount(codes, weights=again, minlength=len(m)), again


def _repeat_cells(m: np.ndarray, dup: np.ndarray) -> np.ndarray:
    """Each customer's cell (count class x repeat bin); -1 under 2 values."""
    cls = np.searchsorted(REPEAT_COUNTS, m, side="right") - 1
    share = dup / np.maximum(m, 1)
    b = np.where(share <= 0, 0, 1 + np.searchsorted(REPEAT_EDGES, share, side="left"))
    return np.where(cls >= 0, cls * REPEAT_BINS + np.minimum(b, REPEAT_BINS - 1), -1)


def repeat_counts(log: EventLog, col: str) -> np.ndarray:
    """[count classes x repeat bins] customers with 2 or more non-zero values of `col` by
    their number and the share of them that repeat one of theirs: each customer in one
    cell (sensitivity 1)."""
    x = log.df[col].to_numpy(float)
    nz = (x != 0) & np.isfinite(x)
    size = len(REPEAT_COUNTS) * REPEAT_BINS
    if not nz.any():
        return np.zeros(size)
    _, m, dup, _ = _repeat_stats(x[nz], log.df[log.key].to_numpy()[nz])
    cell = _repeat_cells(m, dup)
    return np.bincount(cell[cell >= 0], minlength=size).astype(float)


def _repeat_rows(table: np.ndarray, scale: float) -> np.ndarray | None:
    """[count classes, repeat bins] distributions from the noisy table: a share bin (but
    none) is kept only where its sum over the count classes stands 3 deviations above 0,
    and its cells where they stand 2 scales; a class whose row holds under 10 noise scales
    takes the classes' pooled row; None when the pooled row holds under 10 scales, or no
    bin but none is kept (the noise then hides whether the data repeats: at epsilon 1 on
    Complete Journey, whose baskets repeat, the model's repeats were all moved off and
    their whole numbers with them). (Cell by cell at 2 scales, the noise alone gave 7% to
    12% of a log's customers without a single repeat half their values repeated.)"""
    raw = table.reshape(len(REPEAT_COUNTS), REPEAT_BINS)
    t = np.maximum(raw, 0.0)
    if scale:
        sd = np.sqrt(2.0 * len(REPEAT_COUNTS)) * scale
        loud = raw.sum(0) > 3.0 * sd
        if not loud[1:].any():  # says nothing of repeats: the model's are left alone
            return None
        loud[0] = True
        t = np.where(loud & (t > 2.0 * scale), t, 0.0)
    pooled = t.sum(0)
    if pooled.sum() <= max(10.0 * scale, 0.0) or pooled.sum() <= 0:
        return None
    thin = t.sum(1) <= max(10.0 * scale, 0.0)
    t[thin] = pooled
    return t / t.sum(1, keepdims=True)


def _repeated(x: np.ndarray, keys: np.ndarray, rows: np.ndarray, c, rng) -> np.ndarray:
    """x (non-zero values, customers' events in order) with each customer's repeats
    brought to a count drawn from its class's row of `rows` (`Values.repeats`)."""
    codes, m, dup, again = _repeat_stats(x, keys)
    cls = np.searchsorted(REPEAT_COUNTS, m, side="right") - 1
    p = rows[np.maximum(cls, 0)]
    b = (p.cumsum(1) > rng.random((len(m), 1))).argmax(1)
    lo = np.r_[0.0, 0.0, REPEAT_EDGES][b]
    hi = np.r_[0.0, REPEAT_EDGES][b]
    want = np.where(cls >= 0, np.round((lo + (hi - lo) * rng.random(len(m))) * m), 0)
    want = np.minimum(want, m - 1).astype(np.int64)
    out = x.copy()
    # fewer: repeated values (beyond the first) move by a few of the column's last
    # decimal, further each round that a move lands on another value of the customer
    for k in range(1, DROP_ROUNDS + 1):  # (whole numbers stay whole: not moved)
        drop = np.maximum(dup - want, 0).astype(np.int64)
        movable = again & (out != np.round(out))
        pick = movable & (_random_rank(codes, movable, rng) < drop[codes])
        if not pick.any():
            break
        v = out[pick]
        step = 10.0**-c.decimals if c.decimals is not None else 1e-6 * np.abs(v)
        moved = v + k * step * rng.choice([-3, -2, -1, 1, 2, 3], len(v))
        moved = np.where(np.sign(moved) != np.sign(v), v + np.abs(moved - v) * np.sign(v), moved)
        lo_c = -np.inf if c.min is None else c.min
        hi_c = np.inf if c.max is None else c.max
        out[pick] = np.clip(moved, lo_c, hi_c)
        if c.decimals is not None:
            out[pick] = np.round(out[pick], c.decimals)
        _, _, dup, again = _repeat_stats(out, keys)
    # more: values unique in their journey take the nearest value kept in it
    add = np.maximum(want - dup, 0).astype(np.int64)
    x = out.copy()
    uniq = ~pd.DataFrame({"c": codes, "x": x}).duplicated(keep=False).to_numpy()
    pick = uniq & (_random_rank(codes, uniq, rng) < add[codes])
    if pick.any():
        order = np.lexsort((x, codes))
        kept = ~pick[order]
        pos = np.arange(len(x))
        prev = np.maximum.accumulate(np.where(kept, pos, -1))
        nxt = np.minimum.accumulate(np.where(kept, pos, len(x))[::-1])[::-1]
        oc = codes[order]
        ok_p = (prev >= 0) & (oc[np.maximum(prev, 0)] == oc)
        ok_n = (nxt < len(x)) & (oc[np.minimum(nxt, len(x) - 1)] == oc)
        xs = x[order]
        dp = np.where(ok_p, np.abs(xs - xs[np.maximum(prev, 0)]), np.inf)
        dn = np.where(ok_n, np.abs(xs[np.minimum(nxt, len(x) - 1)] - xs), np.inf)
        src = np.where(dp <= dn, prev, nxt)
        go = ~kept & np.isfinite(np.minimum(dp, dn))
        out[order[go]] = xs[src[go]]
    return out


def _random_rank(codes: np.ndarray, mask: np.ndarray, rng) -> np.ndarray:
    """Each masked element's random rank among its customer's masked ones (others: -1)."""
    key = np.zeros(len(codes))
    key[mask] = rng.random(int(mask.sum()))
    return rank_within(key, codes, mask, np.zeros(len(codes)))


def _bin(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(e, x, side="right") - 1, 0, BINS - 1)


def _scaled(x: np.ndarray, e: np.ndarray, log_scale: bool) -> np.ndarray:
    return np.log(np.clip(x, e[0], None)) if log_scale else x


def _unscaled(x: np.ndarray, log_scale: bool) -> np.ndarray:
    return np.exp(x) if log_scale else x


def _customer_means(x: np.ndarray, keys: np.ndarray, *, per_event: bool = False) -> np.ndarray:
    """Each customer's mean of x (one per customer, or repeated on each of its events)."""
    codes, uniq = pd.factorize(keys)
    mean = np.bincount(codes, weights=x) / np.bincount(codes)
    return mean[codes] if per_event else mean


def _spread(x: np.ndarray, keys: np.ndarray, e: np.ndarray, log_scale: bool) -> float:
    return robust_sd(_customer_means(_scaled(x, e, log_scale), keys))


def _coarsened(h: np.ndarray, scale: float) -> np.ndarray:
    """A noisy histogram cut as `_cut` does, merging k = 1, 2, 4 or 8 neighbouring cells
    (mass spread evenly back over them) until at least MIN_CELLS merged cells survive: at
    epsilon 1 on Complete Journey only 1 to 4 of 32 cells survived, and the model's own
    amounts were kept."""
    if not scale:
        return h
    for k in (1, 2, 4, 8):
        raw = h.reshape(-1, k).sum(1)
        merged = _cut(raw, scale * np.sqrt(k))
        if (merged > 0).sum() >= MIN_CELLS or k == 8:  # then its tails grown back
            return np.repeat(_tails(merged, raw, scale * np.sqrt(k)) / k, k)
    return h


def _cut(h: np.ndarray, scale: float) -> np.ndarray:
    """Cells under max(2, ln cells) noise scales as 0, and a cell whose neighbours are both
    cut unless it stands ISOLATED deviations high: on Complete Journey one empty cell of
    baskets at 750 to 1,000 came out 2.7 deviations high and was kept, and 0.1% of the
    synthetic baskets cost about 950 (none of the real ones more than 682)."""
    out = np.where(h > max(2.0, np.log(len(h))) * scale, h, 0.0)
    kept = out > 0
    near = np.r_[False, kept[:-1]] | np.r_[kept[1:], False]
    return np.where(kept & ~near & (h <= ISOLATED * np.sqrt(2.0) * scale), 0.0, out)


def _tails(cut: np.ndarray, raw: np.ndarray, scale: float) -> np.ndarray:
    """`cut` with its tails grown back: beyond its outermost kept cell on either side, the
    next TAIL_RUN raw cells are kept (as drawn, at least 0) while their sum stands 2 noise
    deviations above 0, and no further once it does not. Cell by cell the bar cut Complete
    Journey's baskets at the last cell above it: no synthetic customer's largest basket
    passed 133 (a tenth of real ones passed 225), and the largest basket alone told
    them apart (AUC 0.80); a tail of noise past the data's last value stops at its first
    run (it passes 2.3% of the time)."""
    out = cut.copy()
    kept = np.flatnonzero(cut > 0)
    if not len(kept):
        return out
    bar = 2.0 * np.sqrt(2.0 * TAIL_RUN) * scale
    for step, start in ((1, kept[-1] + 1), (-1, kept[0] - 1)):
        i = start
        while 0 <= i < len(raw):
            run = np.arange(i, i + step * TAIL_RUN, step)
            run = run[(run >= 0) & (run < len(raw))]
            if raw[run].sum() <= bar:
                break
            out[run] = np.maximum(raw[run], 0.0)
            i += step * TAIL_RUN
    return out


def _released(h: np.ndarray, scale: float | None, rng) -> np.ndarray:
    """h with noise (`noisy_counts`); cells under max(2, ln BINS) noise scales count as 0, so
    that about half a cell made of noise alone survives (at 2 scales, spurious cells at
    amounts of 500 and more raised the mean amount of Complete Journey by a half)."""
    noisy = noisy_counts(h, scale, rng, raw=True)
    return noisy if scale is None else _cut(noisy, scale)


def _quantiles(h: np.ndarray, e: np.ndarray, log_scale: bool, q: np.ndarray) -> np.ndarray:
    """The q-quantiles (ascending q) of histogram h over edges e, uniform within a bin
    (on the log scale when the edges are)."""
    cdf = np.cumsum(h) / h.sum()
    b = np.minimum(np.searchsorted(cdf, q, side="right"), len(h) - 1)
    prev = np.where(b > 0, cdf[np.maximum(b - 1, 0)], 0.0)
    within = np.clip((q - prev) / np.maximum(cdf[b] - prev, 1e-12), 0.0, 1.0)
    lo, hi = e[b], e[b + 1]
    if log_scale:
        return np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * within)
    return lo + (hi - lo) * within
