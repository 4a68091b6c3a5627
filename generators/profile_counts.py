"""The journey profile's counts that need no randomness, gathered in one pass over a log.

    counts = ProfileCounts.gather(log, parts=("rhythm", "mix"), private=True)
    counts.shape, counts.starts, counts.constants, counts.rhythm, counts.mix, counts.orders

Each count is a sum over customers (a customer's cell, its first-event bin, whether a
column varies within it, its gap tables, its shares of event types and tokens), so it
adds up over chunks of whole journeys: an EventLog is one chunk, a partitioned dataset
(journeys/streamed.py) is read chunk by chunk and never held whole. The profile
(generators/profile.py) adds the noise afterwards, in the order it always has, so a
log gives the same profile from one file as from a partitioned folder. The parts that
draw random numbers per event (the calendar's and the values' capped weights under DP)
take their own passes there, in the same order as over the whole log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from journeylab.generators import rhythm
from journeylab.generators.calendar import declared_tokens, token_keys
from journeylab.generators.context_tree import context_columns, pair_counts, tree_candidates
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.orders import OrderEvidence
from journeylab.journeys.streamed import StreamedLog, each_chunk

# class k: [e_k, e_k+1); up to 4181 (the last class was open from 233: on Complete Journey
# at epsilon 8 its lengths were drawn up to max_length, 99th percentile 760 against 333)
LENGTH_EDGES = (1, 2, 3, 4, 6, 9, 14, 22, 35, 56, 90, 145, 233, 377, 610, 987, 1597, 2584, 4181)
SPAN_BINS = 5  # span / (window end - first event), in equal bins; one-event journeys: 0
# first-event time histogram over the window (for `realign_starts`); at 20 bins (21 days
# on Complete Journey, whose customers arrive in a week 60 days in) one bin held the
# arrival and three weeks before it: first-event day alone told synthetic apart, AUC 0.81
START_BINS = 40
# ... or, where the noise leaves room (customers per noise deviation of a cell at least
# FINE_STARTS_AT, and without DP), this many: at 40 bins Complete Journey's arrivals
# (days 57 and 61 to 64, none before) were spread over days 53 to 64 (the start
# histogram's bin, 10.7 days), and first day alone told synthetic customers apart
START_BINS_FINE = 160
FINE_STARTS_AT = 100.0


def start_bins(n_customers: int, scale: float | None) -> int:
    """The start histogram's bins for a release at noise `scale` (None: exact): it reads
    only the number of customers, which the DP plan treats as public too."""
    if scale is None or n_customers / (np.sqrt(2.0) * scale) >= FINE_STARTS_AT:
        return START_BINS_FINE
    return START_BINS


# journeys in the last span bin (that use over 80% of the time they have left): how much
# of it they leave, 1 - span / room, in these bins; within the bin it was the model's,
# and on Complete Journey 40% of real ones leave under 1% (the last week of a year) and
# 8% of synthetic ones: recency and last day were the next give-aways (AUC 0.71)
ENDS_EDGES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
# ... one histogram per group of lengths (from these lengths on): heavy customers leave
# the least (on Complete Journey 36% of those with 90 events or more leave under 0.5%, 4%
# of those with 6 to 13); drawn for all alike, light customers were stretched over the
# year, and their gaps made twice as many of them churn as real ones
ENDS_GROUPS = (1, 14, 56, 145)
# the start histogram is drawn per group of lengths (from these lengths on), by a
# coarser table of customers by group and first-event time (START_JOINT_BINS bins): on
# Complete Journey households of 1 to 3 events arrive at day 195 (median) and those of
# 56 or more at day 64; drawn from one histogram for all, short journeys sat at the
# arrival peak and long ones in the late tail, and first and last day were the top
# give-aways at epsilon 8 (AUC 0.63 and 0.66)
START_GROUPS = (1, 4, 14, 56)
START_JOINT_BINS = 4


def start_group(lengths: np.ndarray) -> np.ndarray:
    """Each journey length's START_GROUPS group."""
    return np.searchsorted(np.asarray(START_GROUPS), lengths, side="right") - 1


def length_class(lengths: np.ndarray, n_classes: int = len(LENGTH_EDGES)) -> np.ndarray:
    """Each length's class; a profile saved with fewer classes has its last one open."""
    k = np.searchsorted(np.asarray(LENGTH_EDGES), lengths, side="right") - 1
    return np.minimum(k, n_classes - 1)


def journey_shape(
    log: EventLog, *, end: pd.Timestamp | None = None, n_classes: int = len(LENGTH_EDGES)
) -> pd.DataFrame:
    """Per customer (log order): length, span seconds, seconds from first event to the end
    of the time window, and the shape cell. `end`: the window's end (default: the
    schema's, else the log's last event; a chunk of a log is given the whole log's)."""
    t = log.df[log.time]
    g = t.groupby(log.df[log.key], sort=False)
    first, last, n = g.min(), g.max(), g.size()
    if end is None:
        end = log.schema.time_end if log.schema.time_end is not None else t.max()
    span = (last - first).dt.total_seconds().to_numpy()
    room = np.maximum((end - first).dt.total_seconds().to_numpy(), 1.0)
    sbin = np.minimum((span / room * SPAN_BINS).astype(int), SPAN_BINS - 1)
    lengths = n.to_numpy()
    cell = length_class(lengths, n_classes) * SPAN_BINS + np.where(lengths == 1, 0, sbin)
    return pd.DataFrame(
        {"length": lengths, "span": span, "room": room, "cell": cell}, index=n.index
    )


def ends_bin(shape: pd.DataFrame) -> np.ndarray:
    """Per journey of `journey_shape`, its cell of the ends table: its ENDS_GROUPS group
    times the ENDS_EDGES bins, plus its bin; -1 where it is not in the last span bin (or
    has one event)."""
    u = 1.0 - shape["span"].to_numpy(float) / shape["room"].to_numpy(float)
    n = shape["length"].to_numpy()
    top = (n > 1) & (u <= ENDS_EDGES[-1])
    b = np.searchsorted(np.asarray(ENDS_EDGES), np.clip(u, 0.0, None), side="right") - 1
    g = np.searchsorted(np.asarray(ENDS_GROUPS), n, side="right") - 1
    cell = g * (len(ENDS_EDGES) - 1) + np.clip(b, 0, len(ENDS_EDGES) - 2)
    return np.where(top, cell, -1)


ENDS_CELLS = len(ENDS_GROUPS) * (len(ENDS_EDGES) - 1)


def share_sums_by_value(log: EventLog, of: pd.Series) -> pd.Series:
    """value -> its share of a customer's events (`of`, one per event; missing: none of
    the values), summed over customers: each customer adds at most 1 in all.

    Counted with numpy ([values, customers] shares, summed per value in customer order):
    a pandas crosstab grouped each (customer, value) cell in Python, 2 s per 20,000
    customers."""
    customer, _ = pd.factorize(log.df[log.key].to_numpy(), sort=False)  # log order
    n = np.bincount(customer)
    has = of.notna().to_numpy()
    code, values = pd.factorize(of[has].astype(str).to_numpy(), sort=False)
    counts = np.zeros((len(values), len(n)))
    np.add.at(counts, (code, customer[has]), 1.0)
    return pd.Series((counts / n).sum(axis=1), index=values, dtype=float)


def presence_sums_by_value(log: EventLog, of: pd.Series) -> pd.DataFrame:
    """value -> `has`: the customers that have it, `again`: those of them that have it
    on more than one event, and `inner`: those that have it on an event before their last,
    each weighted by 1 / sqrt(the number k of distinct values it has) (`of`, one per
    event; missing: none): each customer's contribution to each of the three has L2 norm
    at most 1, the Gaussian mechanism's sensitivity; and `holders`: the customers that
    have it, unweighted (not released). A value that only ever ends a journey (a
    process's outcome, after which a case is over) has `inner` 0.

    Weighted 1 / k (L1 norm 1, as the Laplace mechanism needs) a process case of 14 distinct
    steps put 0.07 on each: at epsilon 8 acceptance, in 81% of 1,071 cases, stood at 59
    against a deviation of 10.5, too faint to call once-only (its repeats' noise is 18% of
    it), and the DP VAE accepted twice in a quarter of its cases (never in the data).

    The presence tells which values the data has far louder than shares of events: on
    Complete Journey 40% of customers get a campaign on the second direct-mail channel,
    1.2% of their events (13 customers' worth of shares against a deviation of 14 at
    epsilon 8; 143 weighted customers). again / has tells how often a step comes back: a
    loan application is submitted once per case, where a first-order chain of transitions
    submitted it again in a third of the process simulator's synthetic cases."""
    pair, values, k, has, slot = _customer_pairs(log, of)
    V = max(len(values), 1)
    w = 1.0 / np.sqrt(k[pair // V])
    many = np.bincount(slot, minlength=len(pair)) > 1
    v = pair % V
    key = log.df[log.key].to_numpy()
    last = np.ones(len(key), dtype=bool)  # the log is sorted by customer, then time
    last[:-1] = key[1:] != key[:-1]
    inner = np.zeros(len(pair), dtype=bool)
    inner[slot[~last[has]]] = True  # pairs with an event before the customer's last
    return pd.DataFrame(
        {
            "has": np.bincount(v, weights=w, minlength=len(values)),
            "again": np.bincount(v, weights=np.where(many, w, 0.0), minlength=len(values)),
            "inner": np.bincount(v, weights=np.where(inner, w, 0.0), minlength=len(values)),
            "holders": np.bincount(v, minlength=len(values)).astype(float),
        },
        index=values,
    )


def kind_sums_by_value(log: EventLog, of: pd.Series, kind: pd.Series) -> dict[str, pd.Series]:
    """kind -> (value -> sum over customers): each customer splits 1 evenly over the
    values it has (`of`) and each value's part by the share of its events of each kind
    (`kind`, one label per event; missing: none of them). A type's share of zeros is then
    told by the customers that have the type, not by their share of events."""
    pair, values, k, has, slot = _customer_pairs(log, of)
    V = max(len(values), 1)
    n = np.bincount(slot, minlength=len(pair)).astype(float)
    w = 1.0 / k[pair // V] / np.maximum(n, 1.0)  # one event's part of its customer's 1
    labels = kind[has].to_numpy(object)
    out = {}
    for label in pd.unique(labels[pd.notna(labels)]):
        hit = labels == label
        per_pair = np.bincount(slot[hit], minlength=len(pair)) * w
        out[str(label)] = pd.Series(
            np.bincount(pair % V, weights=per_pair, minlength=len(values)), index=values
        )
    return out


def _customer_pairs(log: EventLog, of: pd.Series):
    """(pairs: sorted unique customer * V + value code, the values, [customers] distinct
    values each customer has, [events] whether the event has a value, [events with one]
    its pair's index in pairs)."""
    customer, _ = pd.factorize(log.df[log.key].to_numpy(), sort=False)
    has = of.notna().to_numpy()
    code, values = pd.factorize(of[has].astype(str).to_numpy(), sort=False)
    V = max(len(values), 1)
    pair, slot = np.unique(customer[has].astype(np.int64) * V + code, return_inverse=True)
    k = np.bincount(pair // V, minlength=int(customer.max(initial=-1)) + 1).astype(float)
    return pair, pd.Index(values), k, has, slot.ravel()


def constant_counts(log: EventLog, *, weighted: bool = False) -> np.ndarray:
    """[C + 1]: journeys in which each event column varies, then multi-event journeys.
    `weighted` (under DP): each multi-event journey counts 1 / sqrt(1 + the columns that
    vary in it) in each of its cells, so a customer's contribution has L2 norm at most 1
    (the Gaussian mechanism's sensitivity 1, not sqrt(C + 1): unweighted, on the retail
    simulator's 5 columns at the constants' epsilon, the noise hid a home store in 2
    releases of 8 and called the event type constant in 2)."""
    cols = [c.name for c in log.schema.events]
    if not cols:
        return np.array([float(log.lengths().gt(1).sum())])
    varies = log.df.groupby(log.key, sort=False)[cols].nunique().gt(1).to_numpy(float)
    multi = log.lengths().gt(1).to_numpy(float)  # both in the log's customer order
    w = multi / np.sqrt(1.0 + varies.sum(1)) if weighted else multi  # L2 norm 1
    return np.append((varies * w[:, None]).sum(0), w.sum())


def _add_tables(a: list[np.ndarray] | None, b: list[np.ndarray]) -> list[np.ndarray]:
    return b if a is None else [x + y for x, y in zip(a, b, strict=True)]


@dataclass
class ProfileCounts:
    shape: np.ndarray  # [cells] customers per (length class, span bin)
    starts: np.ndarray | None  # [start bins] customers by first-event time (declared window)
    ends: np.ndarray | None  # [ENDS_CELLS] last-span-bin customers by length group, share left
    constants: np.ndarray  # [C + 1] journeys in which each event column varies; multi-event
    rhythm: dict[str, np.ndarray] | None = None  # rhythm.counts
    fine_rhythm: bool = True  # the rhythm's fine tables, or its coarse ones
    mix: dict[str, pd.Series] | None = None  # table -> value -> customers' shares (summed)
    orders: OrderEvidence | None = None  # non-private fits only
    tokens: list[str] = field(default_factory=list)  # token values the mix is read for
    private: bool = False  # counted for a DP release (the constants weighted: sensitivity 1)
    context: list[np.ndarray] | None = None  # context_tree.pair_counts (the context part)
    # ... of the context columns and the event columns that may be constant (the tree's
    # columns when the constants part calls some of them constant)
    context_const: list[np.ndarray] | None = None
    # [START_GROUPS x START_JOINT_BINS] customers by group of lengths and first-event time
    start_joint: np.ndarray | None = None

    @classmethod
    def gather(
        cls,
        log: EventLog | StreamedLog,
        *,
        parts: tuple[str, ...],
        private: bool,
        fine_rhythm: bool = True,
        n_starts: int = START_BINS,
    ) -> ProfileCounts:
        """One streamed pass; the rhythm's tables fine or coarse (`rhythm.fine_tables`),
        the start histogram in `n_starts` bins (`start_bins`)."""
        end = log.schema.time_end if log.schema.time_end is not None else _time_max(log)
        cells = len(LENGTH_EDGES) * SPAN_BINS
        out = cls(
            shape=np.zeros(cells, dtype=np.int64),
            starts=None if log.schema.time_end is None else np.zeros(n_starts, np.int64),
            start_joint=None
            if log.schema.time_end is None
            else np.zeros(len(START_GROUPS) * START_JOINT_BINS),
            ends=None if log.schema.time_end is None else np.zeros(ENDS_CELLS, np.int64),
            constants=np.zeros(len(log.schema.events) + 1),
            orders=None if private else OrderEvidence(),
            private=private,
            fine_rhythm=fine_rhythm,
        )
        for chunk in each_chunk(log):
            out._add(chunk, end, parts)
        return out

    def _add(self, log: EventLog, end, parts: tuple[str, ...]) -> None:
        shape = journey_shape(log, end=end)
        self.shape += np.bincount(shape["cell"], minlength=len(self.shape))
        if self.ends is not None:  # each customer is in one bin (or none): sensitivity 1
            b = ends_bin(shape)
            self.ends += np.bincount(b[b >= 0], minlength=len(self.ends))
        if self.starts is not None:  # each customer is in one bin: sensitivity 1
            first = log.df.groupby(log.key, sort=False)[log.time].min()
            s = log.schema
            frac = (first - s.time_start) / (s.time_end - s.time_start)
            nb = len(self.starts)
            b = np.clip((frac.to_numpy(float) * nb).astype(int), 0, nb - 1)
            self.starts += np.bincount(b, minlength=nb)
            # ... and in one cell of the joint table: sensitivity 1
            g = start_group(shape["length"].reindex(first.index).to_numpy())
            k = np.clip(
                (frac.to_numpy(float) * START_JOINT_BINS).astype(int), 0, START_JOINT_BINS - 1
            )
            self.start_joint += np.bincount(
                g * START_JOINT_BINS + k, minlength=len(self.start_joint)
            )
        self.constants += constant_counts(log, weighted=self.private)
        if "rhythm" in parts:
            n = len(LENGTH_EDGES)
            part = rhythm.chunk_counts(
                log, length_class=length_class, n_classes=n, fine=self.fine_rhythm
            )
            self.rhythm = {k: self.rhythm[k] + v for k, v in part.items()} if self.rhythm else part
        if "mix" in parts:
            self._add_mix(log)
        if "context" in parts:  # each customer adds 1 to each pair table
            names = context_columns(log.schema)
            self.context = _add_tables(self.context, pair_counts(log, names))
            more = tree_candidates(log.schema, levels="values" in parts)
            if names and more:
                part = pair_counts(log, names + more)
                self.context_const = _add_tables(self.context_const, part)
        if self.orders is not None:
            self.orders.add(log)

    def _add_mix(self, log: EventLog) -> None:
        tokens = token_keys(log.df, log)
        presence = presence_sums_by_value(log, tokens)
        part = {
            "token": share_sums_by_value(log, tokens),  # shares of events: the targets
            "has": presence["has"],  # which tokens the data has
            "again": presence["again"],  # ... and how often they come back
            "inner": presence["inner"],  # ... and whether anything follows them
        }
        types = log.df["event_type"].astype(str)
        for col in log.schema.event_names("numeric"):  # per event type the share valued 0,
            # a whole number, a fraction (one table, each customer adds at most 1)
            x = log.df[col]
            kind = np.select(
                [x.eq(0).to_numpy(), x.eq(np.round(x)).to_numpy(), x.notna().to_numpy()],
                ["zeros", "whole", "frac"],
                default=None,
            )
            sums = kind_sums_by_value(log, types, pd.Series(kind, index=x.index))
            for k in ("zeros", "whole", "frac"):
                part[f"{k}:{col}"] = sums.get(k, pd.Series(dtype=float))
        if self.mix is None:
            self.mix = part
        else:
            self.mix = {k: self.mix[k].add(v, fill_value=0.0) for k, v in part.items()}

    def mix_sums(self, log: EventLog | StreamedLog, tokens: list[str]) -> dict[str, np.ndarray]:
        """The mix tables over the values the profile reads them for (absent values: 0)."""
        types = [str(v) for v in log.schema.column("event_type").values or []]
        wanted = {k: [str(t) for t in tokens] for k in ("token", "has", "again", "inner")}
        mix = self.mix or {}
        return {
            k: v.reindex(wanted.get(k, types), fill_value=0.0).to_numpy(float)
            for k, v in mix.items()
        }


def tokens_of(log: EventLog | StreamedLog, *, private: bool) -> list[str]:
    """The calendar's token rows: declared, or (no DP only) the ones the data has."""
    names = declared_tokens(log)
    if names is not None:
        return names
    if private:
        return []
    return sorted(set().union(*(set(token_keys(c.df, c)) for c in each_chunk(log))))


def _time_max(log: EventLog | StreamedLog) -> pd.Timestamp:
    return log.time_max() if isinstance(log, StreamedLog) else log.df[log.time].max()


def _token_chunks(log: EventLog | StreamedLog, tokens: list[str]):
    """(chunk, [events] each event's index in `tokens`, -1 outside) per non-empty
    customer-complete chunk of the log; nothing without tokens."""
    if not tokens:
        return
    for chunk in each_chunk(log):
        if len(chunk.df):
            keys = token_keys(chunk.df, chunk)
            yield chunk, pd.Categorical(keys, categories=tokens).codes.astype(np.int64)


def precedence_sums(log: EventLog | StreamedLog, tokens: list[str]) -> np.ndarray:
    """[T, T] over `tokens`: cell (b, b) the customers that have b, cell (a, b) those of
    them whose first b no a comes before (a missing counts as not before), each customer's
    cells weighed by 1 / sqrt(how many it has), an L2 norm of 1. Where (a, b) stays near 0
    against (b, b), the data never has b without a before it: a process's offer is never
    accepted before it was returned. A pass over the log, chunk by chunk."""
    T = len(tokens)
    out = np.zeros((T, T))
    for chunk, tok in _token_chunks(log, tokens):
        customer = pd.factorize(chunk.df[chunk.key].to_numpy(), sort=False)[0]
        pos = np.arange(len(tok), dtype=float)
        ok = tok >= 0
        first = np.full((customer.max(initial=-1) + 1, T), np.inf)
        np.minimum.at(first, (customer[ok], tok[ok]), pos[ok])  # [C, T] first position
        # one b at a time: [C, T] in memory, not [C, T, T] (a chunk of 10,000 customers
        # and 64 tokens would hold 41 million cells)
        n = sum(_not_before(first, b).sum(1) for b in range(T))
        w = 1.0 / np.sqrt(np.maximum(n, 1))
        for b in range(T):
            out[:, b] += w @ _not_before(first, b)
    return out


def _not_before(first: np.ndarray, b: int) -> np.ndarray:
    """[C, T] from first positions [C, T] (inf: absent): for the customers that have b,
    the tokens not before their first b, and b itself; nothing for the others."""
    has = np.isfinite(first[:, b])
    cells = has[:, None] & (first > first[:, b, None])
    cells[:, b] = has
    return cells


def transition_sums(
    log: EventLog | StreamedLog,
    tokens: list[str],
    *,
    per_customer: bool = True,
    norm: str = "l1",
) -> np.ndarray:
    """[1 + T, T] each transition's share of a customer's events, summed over customers:
    row 0 is the start of a journey, row 1 + i follows token i (every event is the end of
    exactly one transition, so each customer adds 1 in all; a token outside `tokens` adds
    nothing, and a row it starts counts as nothing). Not `per_customer`: counts. A pass
    over the log, chunk by chunk.

    `norm="l2"`: each customer's transition counts divided by their L2 norm instead (its
    contribution has L2 norm 1, the Gaussian mechanism's sensitivity, as the presence
    table's). A customer whose events are one transition over and over adds what it
    adds by shares; a process case of 15 distinct steps adds 0.26 to each where shares
    gave it 0.07: on the process simulator at epsilon 8 an incomplete file (a quarter of
    the cases, always followed by the call for the missing files) stood at 2 noise
    deviations by shares, under the bar, and the DP VAE followed it with that call in 2%
    of its cases."""
    if norm not in ("l1", "l2"):
        raise ValueError(f"norm must be 'l1' or 'l2', got {norm!r}")
    T = len(tokens)
    out = np.zeros((1 + T, T))
    for chunk, tok in _token_chunks(log, tokens):
        key = chunk.df[chunk.key].to_numpy()
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]  # the log is sorted by customer, then time
        before = np.concatenate([[-1], tok[:-1]])
        prev = np.where(first, 0, np.where(before >= 0, before + 1, -1))
        ok = (tok >= 0) & (prev >= 0)
        if not per_customer:
            w = np.ones(len(key))
        elif norm == "l1":
            w = 1.0 / chunk.df.groupby(chunk.key, sort=False)[chunk.key].transform("size")
            w = w.to_numpy(float)
        else:
            w = np.zeros(len(key))
            customer = np.cumsum(first) - 1
            cell = prev[ok] * T + tok[ok]
            pair, slot, n = np.unique(
                customer[ok] * (1 + T) * T + cell, return_inverse=True, return_counts=True
            )
            sq = np.bincount(pair // ((1 + T) * T), weights=n.astype(float) ** 2)
            w[ok] = 1.0 / np.sqrt(sq[customer[ok]])
        np.add.at(out, (prev[ok], tok[ok]), w[ok])
    return out
