"""The customers' context under DP: a tree of noisy pair tables, sampled before the events.

    counts = pair_counts(log, names)                    # [P] pair tables, summed per chunk
    tree = ContextTree.release(counts, sizes, scale=s, rng=rng)   # None: too noisy to use
    codes = tree.draw(n, rng)                           # [n, C] class codes, schema order

A DP-SGD model learns the joint of a customer's context columns badly: on Complete
Journey at epsilon 8 the VAE's context model kept 14% of the real customers' pattern
of unknown demographics (68% have all seven unknown, 21% none; synthetic ones mixed
them: 3% had none unknown) and paired household sizes with any number of kids (TVD of
the one-way marginals up to 0.21). Each customer adds 1 to each of the P = C(C-1)/2
tables of two categorical context columns (one table of counts when there is a single
column), so the tables together have L2 sensitivity sqrt(P) and are released by the
Gaussian mechanism (the profile's `context` part, composed with the rest). From the
noisy tables, as post-processing: each column's marginal (the mean of its P - 1 tables'
row sums), cells under CUT deviations set to 0, the maximum spanning tree of the
tables' mutual information (Chow and Liu, 1968; as MST, McKenna et al. 2021, which
measures the tree's tables only after choosing it privately: here all pairs are
measured and the tree read off them), and each column drawn from its table's row of
its parent's value. A deterministic coupling (all unknown together, a household of one
without kids) survives along the tree's edges.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from journeylab.generators.values import LEVEL_CLASSES, level_codes
from journeylab.generators.values import columns_of as value_columns_of
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema

CUT = 1.5  # noise deviations under which a pair table's cell is taken for an empty one
MARGIN_CUT = 1.0  # ... a column's (averaged, far less noisy) marginal's class
RAKE_ROUNDS = 50  # iterative proportional fitting of each tree table to its two marginals
MIN_SIGNAL = 10.0  # customers (noisy) per noise deviation of a table for the tree to be used
PAIRS_SIGNAL = 40.0  # customers per deviation of the pair tables for pairs; fewer: columns
MAX_CONSTANT_VALUES = 100  # classes of a constant event column the tree may hold
NULL_DRAWS = 8  # noise draws a pair's mutual information under independence is averaged over
SILENT = 6.0  # deviations of the independence test a pair table must stand (`_silent`)
NULL_SEED = 20_261_206
LEVEL_PREFIX = "level:"  # a tree column of the customers' levels of a numeric event column


def context_columns(schema: Schema) -> list[str]:
    """The categorical context columns, in the order the encoder uses."""
    return list(schema.context_names("categorical"))


def constant_candidates(schema: Schema) -> list[str]:
    """Categorical event columns that may join the tree if the profile calls them constant
    within journeys (a home store, a country): at most MAX_CONSTANT_VALUES classes."""
    return [
        c.name
        for c in schema.events
        if c.kind == "categorical" and 2 <= len(c.values or ()) <= MAX_CONSTANT_VALUES
    ]


def tree_candidates(schema: Schema, *, levels: bool) -> list[str]:
    """The columns beyond the context that may join the tree, in the order their pair
    tables are counted: the constant candidates, then (with `levels`: the values part
    runs) the customers' levels."""
    return constant_candidates(schema) + (level_columns(schema) if levels else [])


def level_columns(schema: Schema) -> list[str]:
    """The tree's columns of the customers' levels (`values.level_codes`), one per numeric
    event column the values part maps: LEVEL_PREFIX + its name (none where a column of the
    schema itself is named so: the tree tells its columns apart by that prefix)."""
    names = [c.name for c in schema.events] + list(schema.context_names())
    if any(n.startswith(LEVEL_PREFIX) for n in names):
        return []
    return [LEVEL_PREFIX + c for c in value_columns_of(schema)]


def subset_tables(counts: list[np.ndarray], c: int, keep: list[int]) -> list[np.ndarray]:
    """The pair tables of the columns `keep` (increasing, at least two) among `counts`, the
    pair tables of c columns (`table_pairs(c)`), in `table_pairs(len(keep))` order."""
    at = {p: t for p, t in zip(table_pairs(c), counts, strict=True)}
    return [at[(keep[a], keep[b])] for a, b in table_pairs(len(keep))]


def sizes_of(schema: Schema, names: list[str]) -> list[int]:
    return [
        LEVEL_CLASSES if c.startswith(LEVEL_PREFIX) else len(schema.column(c).values or ())
        for c in names
    ]


def table_pairs(c: int) -> list[tuple[int, int]]:
    """The column pairs counted: every pair, or the one column alone."""
    return [(0, 0)] if c == 1 else list(combinations(range(c), 2))


def use_pairs(c: int, customers: int, rho: float | None) -> bool:
    """Whether a release of zCDP `rho` over `customers` (public: DP-SGD's sampling rate
    is read off it too) measures the C(C-1)/2 pair tables or only the C columns: pairs
    when a pair table's cell deviation leaves PAIRS_SIGNAL deviations per customer base.
    At epsilon 1 on Complete Journey (deviation 90 for 1,204 customers) the pairs' tree
    drew marginals at TVD 0.24 from the real ones."""
    if c < 2:
        return False
    if rho is None:
        return True
    return customers / np.sqrt(len(table_pairs(c)) / (2.0 * rho)) >= PAIRS_SIGNAL


def singles(counts: list[np.ndarray], c: int) -> list[np.ndarray]:
    """Each column's counts from the exact pair tables (before any noise)."""
    if c == 1:
        return list(counts)
    out: list[np.ndarray | None] = [None] * c
    for (a, b), t in zip(table_pairs(c), counts, strict=True):
        if out[a] is None:
            out[a] = t.sum(1)
        if out[b] is None:
            out[b] = t.sum(0)
    return [np.asarray(o) for o in out]


def customer_codes(log: EventLog, names: list[str]) -> np.ndarray:
    """[customers, C] each customer's class code per column (its first event's value in
    the schema's value order, or its level class (`values.level_codes`); -1 outside the
    domain or missing)."""
    plain = [c for c in names if not c.startswith(LEVEL_PREFIX)]
    first = log.df.groupby(log.key, sort=False)[plain].first()
    cols = [
        level_codes(log, c[len(LEVEL_PREFIX) :])
        if c.startswith(LEVEL_PREFIX)
        else pd.Categorical(first[c], categories=list(log.schema.column(c).values or ())).codes
        for c in names
    ]
    return np.stack(cols, 1).astype(np.int64) if cols else np.zeros((len(first), 0), np.int64)


def pair_counts(log: EventLog, names: list[str]) -> list[np.ndarray]:
    """[P] the pair tables (one chunk's: they add up over chunks of whole journeys)."""
    codes, sizes = customer_codes(log, names), sizes_of(log.schema, names)
    out = []
    for a, b in table_pairs(len(names)):
        t = np.zeros((sizes[a], sizes[b]))
        ok = (codes[:, a] >= 0) & (codes[:, b] >= 0)
        np.add.at(t, (codes[ok, a], codes[ok, b]), 1.0)
        if a == b:
            t = np.diag(t).copy()  # one column: its counts
        out.append(t)
    return out


@dataclass
class ContextTree:
    sizes: list[int]  # classes per column
    order: list[int]  # columns in drawing order (root first)
    parent: list[int]  # [C] each column's parent (-1: the root)
    marginal: list[list[float]]  # [C][V_c] each column's released marginal
    cond: dict[str, list[list[float]]]  # str(child) -> [V_parent][V_child] rows
    deviation: float  # the noise deviation of a table cell
    # columns whose every edge of the tree is silent (`_silent`): drawn apart from the rest
    apart: list[int] = field(default_factory=list)

    @classmethod
    def release(
        cls,
        counts: list[np.ndarray],
        sizes: list[int],
        *,
        scale: float | None,
        rng,
        pairs: bool = True,
    ) -> ContextTree | None:
        """The tree of `counts` (from `pair_counts`) with Gaussian noise of scale `scale`
        (deviation sqrt(2) scale; None: exact); not `pairs`: only each column's counts are
        released (`singles`) and the columns are drawn independently. None when a table
        holds fewer than MIN_SIGNAL deviations of customers."""
        C = len(sizes)
        if C == 0 or not counts:
            return None
        if not pairs and C > 1:
            counts = singles(counts, C)
        sd = 0.0 if scale is None else float(np.sqrt(2.0) * scale)
        noisy = [t + (rng.normal(0.0, sd, t.shape) if sd > 0 else 0.0) for t in counts]
        if sd > 0 and np.mean([t.sum() for t in noisy]) < MIN_SIGNAL * sd:
            return None
        if C == 1 or not pairs:  # each column on its own
            m = _marginals(noisy, [(c, c) for c in range(C)], sizes, sd)
            return cls(sizes, list(range(C)), [-1] * C, [x.tolist() for x in m], {}, sd)
        cut = [np.where(t > CUT * sd, t, 0.0) if sd > 0 else t.copy() for t in noisy]
        pairs_ = table_pairs(C)
        marginal = _marginals(noisy, pairs_, sizes, sd)
        tables = {p: t for p, t in zip(pairs_, cut, strict=True)}
        null = _null_information(noisy, pairs_, marginal, sd)
        silent = {p: sd > 0 and _silent(t, sd) for p, t in zip(pairs_, noisy, strict=True)}
        parent, order = _spanning_tree(tables, C, null, silent)
        cond = {}
        for child in order[1:]:
            p = parent[child]
            t = tables[(p, child)] if p < child else tables[(child, p)].T  # [V_p, V_child]
            if silent[(min(p, child), max(p, child))]:  # no more than its noise: apart
                t = np.outer(marginal[p], marginal[child])
            t = _rake(t, marginal[p], marginal[child])
            cond[str(child)] = (t / np.maximum(t.sum(1, keepdims=True), 1e-12)).tolist()
        edges = [(parent[c], c) for c in range(C) if parent[c] >= 0]
        apart = [c for c in range(C) if all(silent[(min(e), max(e))] for e in edges if c in e)]
        return cls(sizes, order, parent, [m.tolist() for m in marginal], cond, sd, apart)

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """[n, C] class codes drawn root first, each column from its parent's row."""
        out = np.zeros((n, len(self.sizes)), dtype=np.int64)
        for c in self.order:
            if self.parent[c] < 0:
                p = np.asarray(self.marginal[c], float)
                out[:, c] = _draw_rows(np.broadcast_to(p, (n, len(p))), rng)
            else:
                rows = np.asarray(self.cond[str(c)], float)
                out[:, c] = _draw_rows(rows[out[:, self.parent[c]]], rng)
        return out

    def draw_given(
        self, known: np.ndarray, rng: np.random.Generator, soft: dict | None = None
    ) -> np.ndarray:
        """[n, C] class codes: each row's known codes (`known` [n, C], -1 where unknown)
        kept, the unknown ones drawn from the tree given all the known ones (exactly: the
        known columns' evidence passed up the tree, then each unknown column drawn from its
        parent's row times what its subtree knows). A row whose known codes the tree calls
        impossible has its unknown columns drawn from their parents' rows alone. `soft`:
        column -> [n, V_c] likelihoods of its classes, evidence on an unknown column (a
        customer's own level, which the draw should stay near)."""
        n, C = known.shape
        sizes = self.sizes
        children: list[list[int]] = [[] for _ in range(C)]
        for c in self.order[1:]:
            children[self.parent[c]].append(c)
        rows = {c: np.asarray(self.cond[str(c)], float) for c in self.order[1:]}
        belief: list[np.ndarray] = [np.empty(0)] * C
        up: list[np.ndarray] = [np.empty(0)] * C
        for c in reversed(self.order):  # leaves first
            b = np.array(soft[c], float) if soft and c in soft else np.ones((n, sizes[c]))
            ok = known[:, c] >= 0
            b[ok] = 0.0
            b[np.flatnonzero(ok), known[ok, c]] = 1.0
            for k in children[c]:
                b *= up[k]
            belief[c] = b
            if self.parent[c] >= 0:
                m = b @ rows[c].T  # [n, V_parent]
                up[c] = m / np.maximum(m.max(1, keepdims=True), 1e-300)
        out = np.where(known >= 0, known, 0).astype(np.int64)
        for c in self.order:
            if self.parent[c] < 0:
                prior = np.broadcast_to(np.asarray(self.marginal[c], float), (n, sizes[c]))
            else:
                prior = rows[c][out[:, self.parent[c]]]
            p = prior * belief[c]
            lost = p.sum(1) <= 0
            p[lost] = prior[lost]
            draw = known[:, c] < 0
            out[draw, c] = _draw_rows(p[draw], rng)
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContextTree:
        return cls(**d)


def _marginals(noisy, pairs, sizes, sd: float) -> list[np.ndarray]:
    """Each column's marginal: the mean of the row sums of its noisy tables, cells under
    CUT deviations of that mean set to 0 (a sum over V cells has deviation sqrt(V) sd;
    a mean of k such sums, 1/sqrt(k) of it); normalised (uniform if nothing is left)."""
    sums: list[list[np.ndarray]] = [[] for _ in sizes]
    devs: list[list[float]] = [[] for _ in sizes]
    for (a, b), t in zip(pairs, noisy, strict=True):
        if a == b:
            sums[a].append(t)
            devs[a].append(sd)
            continue
        sums[a].append(t.sum(1))
        devs[a].append(sd * np.sqrt(t.shape[1]))
        sums[b].append(t.sum(0))
        devs[b].append(sd * np.sqrt(t.shape[0]))
    out = []
    for s, d in zip(sums, devs, strict=True):
        m = np.mean(s, axis=0)
        dev = float(np.sqrt(np.sum(np.square(d)))) / len(d)
        m = np.where(m > MARGIN_CUT * dev, m, 0.0)
        out.append(m / m.sum() if m.sum() > 0 else np.full(len(m), 1.0 / len(m)))
    return out


def _rake(t: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The cut noisy table [V_a, V_b] fitted to the released marginals (normalised): a
    row left empty by the cut (a class of the parent few customers have) takes the
    child's marginal, an empty column the parent's (each class independent of the
    other, as nothing better is known); then rows and columns are scaled in turn. The
    cut's zeros stay (a household of one has no kids), the mass of the cells it dropped
    goes back to the rows and columns it came from (cut alone, the mass of a table's many
    small cells went to its few large ones: Complete Journey's columns were drawn at TVD
    up to 0.22 from their real marginals at epsilon 8)."""
    indep = rows[:, None] * cols[None, :]
    x = np.where(rows[:, None] > 0, t, 0.0)  # a class the parent's marginal cut: none
    x = np.where(x.sum(0, keepdims=True) > 0, x, indep)
    x = np.where(x.sum(1, keepdims=True) > 0, x, indep)
    x = x / x.sum()
    for _ in range(RAKE_ROUNDS):
        x *= np.where(x.sum(1) > 0, rows / np.maximum(x.sum(1), 1e-300), 0.0)[:, None]
        x *= np.where(x.sum(0) > 0, cols / np.maximum(x.sum(0), 1e-300), 0.0)[None, :]
    return np.where(x.sum(1, keepdims=True) > 0, x, cols[None, :])


def _mutual_information(t: np.ndarray) -> float:
    total = t.sum()
    if total <= 0:
        return 0.0
    p = t / total
    pa, pb = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / (pa @ pb)[nz])).sum())


def _null_information(noisy, pairs, marginal, sd: float) -> dict[tuple[int, int], float]:
    """Per pair, the mean mutual information its cut table would show were its two
    columns independent: customers drawn (Poisson) into the product of their released
    marginals at the table's noisy total, with the same noise and cut, over NULL_DRAWS
    draws (post-processing: a fixed seed). A large table's noise cells that pass the cut
    make a sparse pattern of high mutual information: on the retail simulator at epsilon
    8 a 24-store by 16-level table showed 1.15 nats (exactly 0.08) against 0.27 for the
    segment's (0.24), which shapes the levels, and the levels were drawn from the store."""
    if sd <= 0:
        return {p: 0.0 for p in pairs}
    rng = np.random.default_rng(NULL_SEED)
    out = {}
    for (a, b), t in zip(pairs, noisy, strict=True):
        if a == b:
            out[(a, b)] = 0.0
            continue
        ra, rb = (
            marginal[a] / max(marginal[a].sum(), 1e-12),
            marginal[b] / max(marginal[b].sum(), 1e-12),
        )
        e = max(float(t.sum()), 0.0) * ra[:, None] * rb[None, :]
        draws = [rng.poisson(e) + rng.normal(0.0, sd, e.shape) for _ in range(NULL_DRAWS)]
        out[(a, b)] = float(
            np.mean([_mutual_information(np.where(d > CUT * sd, d, 0.0)) for d in draws])
        )
    return out


def _silent(t: np.ndarray, sd: float) -> bool:
    """Whether a noisy pair table (as drawn, noise deviation `sd`) shows its columns
    dependent by no more than SILENT deviations of a chi-square test of independence
    (each cell's variance: its expected count plus the noise's): its columns are then
    drawn apart. On the retail simulator at epsilon 8 the segment by store table (0.02
    nats exactly) showed 0.29 to 0.48 nats once cut, where independent columns under
    the same noise would show 0.24 to 0.31, and the tree drew stores from the segment
    or from the level of spend; the test's statistic stood at -0.9 to 5.7 deviations on
    such pairs, 20 for the segment by level, 36 for the region by store."""
    n = t.sum()
    if n <= 0 or min(t.shape) < 2:
        return True
    e = np.maximum(np.outer(t.sum(1), t.sum(0)) / n, 0.0)
    x = float(((t - e) ** 2 / (e + sd * sd)).sum())
    df = (t.shape[0] - 1) * (t.shape[1] - 1)
    return x < df + SILENT * np.sqrt(2.0 * df)


def _spanning_tree(
    tables: dict[tuple[int, int], np.ndarray],
    C: int,
    null: dict | None = None,
    silent: dict | None = None,
) -> tuple[list[int], list]:
    """(parent per column, drawing order): Prim's maximum spanning tree of the tables'
    mutual information, less what noise alone would show (`null`'s mean; a `silent`
    pair: 0), rooted at column 0."""
    null, silent = null or {}, silent or {}
    weight = {
        p: 0.0 if silent.get(p) else _mutual_information(t) - null.get(p, 0.0)
        for p, t in tables.items()
    }
    parent, order, inside = [-1] * C, [0], {0}
    while len(inside) < C:
        best = max(
            ((a, b) for a in inside for b in range(C) if b not in inside),
            key=lambda e: (weight[(min(e), max(e))], -e[1]),
        )
        parent[best[1]] = best[0]
        order.append(best[1])
        inside.add(best[1])
    return parent, order


def _draw_rows(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One class per row of probabilities [n, V] (inverse CDF)."""
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(p))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(1), p.shape[1] - 1)
