"""The journey profile: what a reviewer checks first, learnt once per fit and imposed on samples.

    profile = JourneyProfile.fit(log, epsilon=0.8, seed=0)   # on its own; None: exact, no DP
    profile = JourneyProfile.fit(log, rho=0.4, seed=0)       # beside DP-SGD (zCDP rho)
    chosen = profile.select(candidates, n, rng)                # shape-matched journeys
    log = profile.apply(chosen, rng)                           # calendar and constants

Three parts, each a small histogram of the training log:
- shape: the joint distribution of (length class, span class) of journeys: the point
  mass at one event, the long tail, and how much of the remaining time window a
  journey uses (tenure, recency). A generator oversamples candidate journeys and
  `select` keeps those that reproduce the histogram (matching a released marginal is
  post-processing: it costs nothing more).
- calendar (generators/calendar.py): per event token the time class (midnight,
  whole minute, any second), hour of day, weekday and structural zeros; `apply`
  moves journeys towards their weekdays, redraws clock times, sets the zeros.
- constants: event columns that never change within a journey in the data (a case's
  requested amount, a home store); `apply` repeats the first event's value.
- rhythm (generators/rhythm.py, when asked for: by default under DP, where a model's
  own gaps are worst): same-day share per length class, spread of multi-day gaps and
  seconds between same-day events; `apply` redraws each journey's gaps within its span.
- values (generators/values.py, by default under DP): a histogram of each numeric
  column's non-zero values; `apply` gives the generated values its quantiles by rank.
- mix (generators/calibrate.py, a VAE under DP): each event type's and each token's
  (channel|event_type) share of a customer's events, and per numeric column each event
  type's share valued 0 and valued a whole number, summed over customers; the VAE's logits
  are calibrated to it (DP-SGD all but drops a class few customers have), a token it knows
  is one the data has, a type mostly valued 0 is always 0, a type mostly valued is given
  the model's missing values back, and whole numbers come as often as it says (the
  calendar's token rows are too noisy for either).
  Under DP the mix also holds `trans`: each customer's transitions between tokens (the
  start of a journey counts as a token of its own), shares of its events, summed over
  customers; the VAE's next-token logits are calibrated row by row to it, so a step the
  data never takes (a process's strict order) is pushed towards never.
- orders (non-private fits only): the strict orderings of the data
  (journeys/orders.py); `select` prefers candidates that keep them.
- context (generators/context_tree.py, by default under DP, when the pair tables stand
  above their noise): a tree of the categorical context columns' pair tables, from which
  `sample` draws each customer's context before its events; a categorical event column
  the constants call constant (a home store) joins the tree, and `apply` draws each
  journey's value from it given the journey's context (`draw_given_context`), and
  so do the customers' levels of the values part's columns (`values.level_codes`).

Under DP each part is released by the Gaussian mechanism on counts whose per-customer
contribution is bounded (a customer is in one shape cell; adds at most weight 1 to
each calendar table): every table has L2 sensitivity at most 1. The Gaussian mechanism
needs no more, so where a customer touches several cells of a table (the presence of
its tokens, the columns that vary in its journey, the rhythm's order of its gaps) its
weights are scaled to an L2 norm of 1, not an L1 norm of 1: a process case of 14 distinct
steps then puts 1 / sqrt(14) on each, not 1 / 14. A table drawn at noise deviation s costs
rho = 1 / (2 s^2) in zero-concentrated DP, the tables' rhos add up to the profile's `rho`,
and a fit composes that with its DP-SGD steps in one RDP accountant
(privacy/accountant.py, `joint_epsilon`): for the same total epsilon the tables get 2 to 7
times less noise than Laplace tables whose epsilons add up beside the training's
(BENCHMARKS.md). Thresholds are written in
noise scales b, the deviation being sqrt(2) b (as a Laplace of scale b has). `record()`
says what was spent on what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from journeylab.generators.calendar import CAP as CALENDAR_CAP
from journeylab.generators.calendar import (
    Calendar,
    dates_table,
    gauss_scale,
    n_tables,
    noisy_counts,
    token_columns,
    token_keys,
)
from journeylab.generators.context_tree import (
    LEVEL_PREFIX,
    ContextTree,
    context_columns,
    customer_codes,
    level_columns,
    sizes_of,
    subset_tables,
    table_pairs,
    tree_candidates,
    use_pairs,
)
from journeylab.generators.profile_counts import (
    ENDS_EDGES,
    ENDS_GROUPS,
    LENGTH_EDGES,
    SPAN_BINS,
    START_GROUPS,
    START_JOINT_BINS,
    ProfileCounts,
    constant_counts,
    ends_bin,
    journey_shape,
    length_class,
    precedence_sums,
    share_sums_by_value,
    start_bins,
    start_group,
    transition_sums,
)
from journeylab.generators.rhythm import TABLES as RHYTHM_TABLES
from journeylab.generators.rhythm import Rhythm, fine_tables
from journeylab.generators.values import LEVEL_CLASSES, Values, level_by_count, level_codes
from journeylab.generators.values import columns as value_columns
from journeylab.generators.values import tables as values_tables
from journeylab.journeys.encoding import keep_order
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.orders import breaks_order
from journeylab.journeys.streamed import StreamedLog
from journeylab.privacy.accountant import gaussian_multiplier, gaussian_rho
from journeylab.privacy.budget import resolve_delta

CONSTANT_SHARE = 0.005  # a column is constant if fewer journeys than this share vary
MAX_VARYING = 0.1  # ... plus the noise's allowance, up to this share
CONSTANT_NOISE = 3.0  # the allowance, in noise deviations (at 2 scales, 1.4 deviations, a
# retail log's home store, never varying, was not called constant in 1 release of 3)
SHARES = {"shape": 0.35, "start": 0.1, "ends": 0.1, "calendar": 0.35, "constants": 0.1}
# optional; the rest scale down. The mix's six tables (token shares, presence, repeats,
# zeros, transitions, what follows a token) share its rho alike
EXTRA_SHARES = {"rhythm": 0.2, "values": 0.15, "mix": 0.25, "context": 0.1}
MIX_KNOWN = 1.5  # noise deviations above which a mix value is one the data has
LEVEL_TRUST = 2.0  # classes (half a decade): sd of a customer's own level as evidence
# ... a token, by its presence (louder, so a stricter bar: see `mix_known`). At 2 deviations
# each release of the process simulator (44 of its 66 tokens empty) let one false token
# through (2.3% each); weighted for its L2 norm the presence stands 3 to 4 times higher
# than it did (`presence_sums_by_value`), so the bar is raised for 0.6% each
HAS_KNOWN = 2.5
CANDIDATES = 16  # start times a realigned journey chooses among by its end
RUN_BAR = 1.5  # deviations of a run's sum for a thin run of a histogram to be kept
START_TABLES = 2  # the start part's tables: the histogram and its table by group of lengths
JOINT_AT = 100.0  # ... the latter where customers per noise deviation of a cell reach this
MIX_MIN_SIGNAL = 10.0  # customers (noisy) per noise deviation for the mix to be used at all
CUT_MASS = 0.1  # a length tail cut may drop this share of the shape; more: see `_tail_cut`
THIN_MAX_LENGTH = 377  # the longest class start kept when the shape is too thin to cut
TERMINAL_LOUD = 6.0  # deviations of presence for a token to be called terminal under DP
TERMINAL_NOISE = 3.0  # ... with what follows it under this many deviations
TERMINAL_SHARE = 0.3  # ... and under this share of its presence
ENDING_WEIGHT = 10.0  # the largest tilt (and 1 / the smallest) of a journey's last step
PRECEDE_LOUD = 6.0  # deviations of presence for a token to have precedence rules under DP
PRECEDE_NOISE = 1.5  # ... with the customers that have it without the other before, plus
PRECEDE_SHARE = 0.1  # this many deviations, under this share of its presence
AFTER_LOUD = 8.0  # deviations of its transitions from one token for an `after` rule
AFTER_ROW = 3.0  # ... with those from each other token (and the start) under this many
AFTER_SUM = 0.05  # ... and their sum under this share of it, plus AFTER_SUM_DEVS
AFTER_SUM_DEVS = 2.0  # deviations of the sum (at 1, the omnichannel simulator's abandoned
# carts, never after anything but a cart, failed in 2 releases of 4 at epsilon 8)
AFTER_AT = 100.0  # customers per noise deviation the transition table needs for the rules
ONCE_LOUD = 6.0  # deviations of presence for a token to be called once-only under DP
ONCE_NOISE = 2.0  # ... with its repeats (customers having it again) under this many
ONCE_SHARE = 0.05  # ... and under this share of its presence
# the parts' random streams, in this order (a new part goes at the end: the others keep theirs)
PART_STREAMS = (
    "shape",
    "start",
    "ends",
    "calendar",
    "constants",
    "rhythm",
    "values",
    "mix",
    "context",
)
MAX_TRANS_TOKENS = 64  # the mix's transition table only below this many tokens (cells: T^2)


def part_streams(seed: int) -> dict[str, np.random.Generator]:
    """One random stream per part of the profile (`PART_STREAMS`), spawned from `seed`."""
    seqs = np.random.SeedSequence(seed).spawn(len(PART_STREAMS))
    return {k: np.random.default_rng(s) for k, s in zip(PART_STREAMS, seqs, strict=True)}


@dataclass
class JourneyProfile:
    shape: list[float]  # [cells] target weights
    calendar: dict[str, Any]  # generators.calendar.Calendar as a dict
    constants: list[str]  # event columns repeated from the first event
    orders: dict[str, list] | None = None  # strict orderings (non-private fits only)
    starts: list[float] | None = None  # [start bins] first-event times over the window
    # [START_GROUPS x START_JOINT_BINS] customers by group of lengths and first-event time
    # (None: a profile saved before it; the histogram is then drawn alike for all lengths)
    start_joint: list[float] | None = None
    ends: list[float] | None = None  # [ENDS_EDGES bins] share of the time left unused
    rhythm: dict[str, Any] | None = None  # generators.rhythm.Rhythm as a dict
    values: dict[str, Any] | None = None  # generators.values.Values as a dict
    mix: dict[str, list[float]] | None = None  # token column -> customers' shares (summed)
    logit_bias: dict[str, list[float]] | None = None  # generators.calibrate: column -> bias
    trans_bias: list[list[float]] | None = None  # generators.calibrate: [1 + T, T] tokens
    repeat_bias: list[float] | None = None  # generators.calibrate: [T] on a token had before
    # share of journeys that end on a terminal token (`terminal_end`; post-processing)
    end_terminal: float | None = None
    context: dict[str, Any] | None = None  # generators.context_tree.ContextTree as a dict
    epsilon: float | None = None  # None: exact (no DP); else what it adds to the fit's epsilon
    rho: float | None = None  # the Gaussian tables' zCDP rho (None: exact)
    detail: dict[str, Any] | None = None

    # --- fit -------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        log: EventLog | StreamedLog,
        *,
        epsilon: float | None = None,
        delta: float | None = None,
        rho: float | None = None,
        seed: int,
        parts: tuple[str, ...] = (),
    ) -> JourneyProfile:
        """The profile of `log`, one file or partitioned (streamed: never held whole): the
        counts come from streamed passes (generators/profile_counts.py) and get their noise
        in one fixed order, so both give the same profile. Each part draws from its own
        random stream (`PART_STREAMS`), so a change to one part's tables leaves every
        other part's release as it was.

        Under DP the tables' Gaussian noise spends `rho` (zero-concentrated DP, composed
        by the caller with its training: `NeuralGenerator._fit`), or, released on its own,
        (`epsilon`, `delta`: default below 1/N) by the RDP conversion. Neither: exact."""
        rng = part_streams(seed)
        if rho is None and epsilon is not None:
            d = resolve_delta(delta, log.n_customers)
            rho = gaussian_rho(epsilon=epsilon, delta=d)
        parts = _affordable(parts, log, rho)
        shares = profile_shares(parts)
        eps = {k: None if rho is None else rho * s for k, s in shares.items()}  # rho per part
        rhythm_scale = gauss_scale(RHYTHM_TABLES, eps.get("rhythm"))
        start_tables = start_tables_for(log.n_customers, eps["start"])
        counts = ProfileCounts.gather(
            log,
            parts=parts,
            private=rho is not None,
            fine_rhythm=fine_tables(log.n_customers, rhythm_scale),
            n_starts=start_bins(log.n_customers, gauss_scale(start_tables, eps["start"])),
        )
        shape_scale = gauss_scale(1, eps["shape"])
        sh = noisy_counts(counts.shape, shape_scale, rng["shape"], raw=True)
        if shape_scale is not None:  # cells cut at 2 noise scales, the tail at its end
            sh = _tail_cut(np.where(sh > 2 * shape_scale, sh, 0.0), sh, shape_scale)
        starts = start_joint = None
        if counts.starts is not None:  # each customer is in one bin: sensitivity 1
            scale = gauss_scale(start_tables, eps["start"])
            starts = noisy_counts(counts.starts, scale, rng["start"], raw=scale is not None)
            starts = (starts if scale is None else _thin_runs(starts, scale)).tolist()
            if start_tables == START_TABLES:  # one cell of the joint table too: sensitivity 1
                joint = noisy_counts(counts.start_joint, scale, rng["start"], raw=scale is not None)
                if scale is not None:  # each group's row on its own
                    k = START_JOINT_BINS
                    joint = np.concatenate([_thin_runs(r, scale) for r in joint.reshape(-1, k)])
                start_joint = joint.tolist()
        ends = None
        if counts.ends is not None:  # each customer is in one bin or none: sensitivity 1
            scale = gauss_scale(1, eps["ends"])
            ends = noisy_counts(counts.ends, scale, rng["ends"], raw=scale is not None)
            if scale is not None:  # each length group's row on its own
                ends = np.concatenate([_thin_runs(r, scale) for r in _ends_rows(ends)])
            ends = ends.tolist()
        cal_scale = gauss_scale(n_tables(log, eps["calendar"]), eps["calendar"])
        # its own pass: capped weights
        calendar = Calendar.fit(
            log,
            scale=cal_scale,
            rng=rng["calendar"],
            dates=rho is None or dates_table(log, eps["calendar"]),
        )
        cols = [c.name for c in log.schema.events]
        consts = _constants_from(
            counts.constants, cols, gauss_scale(1, eps["constants"]), rng["constants"]
        )
        rhy = vals = None
        if "rhythm" in parts:  # six tables, each moved by at most 1 by one customer
            rhy = Rhythm.release(counts.rhythm, scale=rhythm_scale, rng=rng["rhythm"]).to_dict()
        if "values" in parts:  # four or five tables per numeric column, splitting its share
            n_cols = max(len(value_columns(log)), 1)
            by = level_by_count(log.n_customers, n_cols, eps["values"])
            scale = gauss_scale(n_cols * values_tables(by), eps["values"])
            vals = Values.fit(log, scale=scale, rng=rng["values"], by_count=by).to_dict()
        mix = None
        if "mix" in parts and calendar.tokens:  # tables to each of which a customer adds 1
            sums = counts.mix_sums(log, calendar.tokens)
            # a type's zeros, whole numbers and fractions are one table (each customer
            # adds <= 1), and the transitions and precedences below two more; the repeats'
            # noise is drawn
            # last (the other tables' draws are those of a mix without them)
            again = sums.pop("again", None)
            inner = sums.pop("inner", None)
            tables = sum(not k.startswith(("whole:", "frac:")) for k in sums) + 2
            tables += (again is not None) + (inner is not None)
            scale = gauss_scale(tables, eps["mix"])
            mix = {
                k: noisy_counts(v, scale, rng["mix"], raw=True).tolist() for k, v in sums.items()
            }
            mix["scale"] = [float(scale or 0.0)]
            # transitions among the tokens the noisy token table shows (a choice made from
            # a release: post-processing), the most common first: a process's 3 channels
            # x 22 types are 66 tokens, of which 22 occur
            _, known = mix_known(mix, "token")
            top = np.argsort(-np.where(known, mix["token"], -np.inf), kind="stable")
            names = [calendar.tokens[i] for i in top[: min(known.sum(), MAX_TRANS_TOKENS)]]
            if names:  # weighed for an L2 norm of 1 (`transition_sums`)
                t = transition_sums(log, names, norm="l2").ravel()
                mix["trans"] = noisy_counts(t, scale, rng["mix"], raw=True).tolist()
                mix["trans_tokens"] = names
                mix["trans_norm"] = "l2"
            if again is not None:
                mix["again"] = noisy_counts(again, scale, rng["mix"], raw=True).tolist()
            if inner is not None:  # drawn last: the other tables' draws are those without it
                mix["inner"] = noisy_counts(inner, scale, rng["mix"], raw=True).tolist()
            if names:  # which token comes before which (`precedes`), among the same tokens
                b = precedence_sums(log, names).ravel()
                mix["before"] = noisy_counts(b, scale, rng["mix"], raw=True).tolist()
        ctx = None
        if "context" in parts and counts.context:  # drawn last: the other tables' draws
            # are those of a profile without it
            names, more, levels, tables = _tree_columns(
                log, counts, consts, eps["context"], levels="values" in parts
            )
            cols = names + more + levels
            tree = ContextTree.release(
                tables,
                sizes_of(log.schema, cols),
                scale=gauss_scale(len(table_pairs(len(cols))), eps["context"]),
                rng=rng["context"],
            )
            ctx = None
            if tree is not None:
                ctx = {"columns": names, "constants": more, "levels": levels, **tree.to_dict()}
        # Order rules are read off the data exactly only without DP; under DP the mix's
        # precedence table (among the tokens it knows, weighed for an L2 norm) says which
        # hold (`precedes`), and the terminal tokens (`terminal`).
        orders = counts.orders.rules() if counts.orders is not None else None
        return cls(
            shape=sh.tolist(),
            calendar=calendar.to_dict(),
            constants=consts,
            orders=orders,
            starts=starts,
            start_joint=start_joint,
            ends=ends,
            rhythm=rhy,
            values=vals,
            mix=mix,
            context=ctx,
            epsilon=epsilon,
            rho=rho,
            detail={"rho_parts": eps, "calendar_cap": CALENDAR_CAP if rho else None},
        )

    def terminal(self) -> np.ndarray | None:
        """[T] the calendar tokens that end every journey that has them, by the mix's
        presence tables (under DP; exact fits have `orders`): a token present TERMINAL_LOUD
        deviations loud whose `inner` (the customers that have it before their last event)
        is under TERMINAL_NOISE deviations and TERMINAL_SHARE of its presence. A process's
        outcomes (approved, declined, cancelled) close its cases; a DP VAE went on after
        them in 30% to 40% of its cases, and the transitions cannot say it (a row that is
        empty is not calibrated). None without the tables."""
        if not mix_usable(self.mix) or "inner" not in self.mix or "has" not in self.mix:
            return None
        sd = np.sqrt(2.0) * self.mix["scale"][0]
        has, inner = np.asarray(self.mix["has"], float), np.asarray(self.mix["inner"], float)
        _, known = mix_known(self.mix, "token")
        term = (
            known
            & (has >= TERMINAL_LOUD * sd)
            & (inner < TERMINAL_NOISE * sd)
            & (inner < TERMINAL_SHARE * has)
        )
        # and the same event type on a channel the release does not show: the calendar
        # moves it to a channel that is (`_remap_invalid`), in the middle of a journey
        tokens = Calendar.from_dict(self.calendar).tokens
        if len(tokens) != len(term):
            return term
        types = np.array([t.split("|", 1)[-1] for t in tokens])
        return term | (~known & np.isin(types, types[term]))

    def terminal_end(self, pilot: Callable[[], EventLog]) -> float | None:
        """The share of journeys that end on a terminal token (a case closed by its
        outcome), from the release: the terminal tokens' presence (each holder weighs
        1 / sqrt(its distinct tokens) and has one terminal token, its last) over the
        model's mean 1 / sqrt(distinct tokens) of journeys that have one (`pilot()`:
        journeys of the model, drawn only when there are terminal tokens), over the shape's
        customers. None without terminal tokens. A journey
        told its length ends on a terminal token this often (`vae.generate`): cut at its
        told length, 62% of the process simulator's synthetic cases at epsilon 8 ended
        before their outcome, where 99.6% of real ones end on it (the last event's channel
        alone told them apart, AUC 0.74)."""
        term = self.terminal()
        if term is None or not term.any():
            return None
        pilot = pilot()
        if not len(pilot.df):
            return None
        tokens = np.asarray(Calendar.from_dict(self.calendar).tokens)
        of = token_keys(pilot.df, pilot)
        who = pilot.df[pilot.key].to_numpy()
        k = of.groupby(who, sort=False).nunique()
        held = of.isin(tokens[term]).groupby(who, sort=False).any().reindex(k.index)
        root_k = 1.0 / (1.0 / np.sqrt(k[held] if held.any() else k)).mean()  # holders per has
        has = np.maximum(np.asarray(self.mix["has"], float)[term], 0.0).sum()
        customers = max(float(np.maximum(np.asarray(self.shape, float), 0.0).sum()), 1.0)
        return float(min(has * root_k / customers, 1.0))

    def ending_weights(self, candidates: EventLog, ids: np.ndarray) -> np.ndarray | None:
        """[candidates in `ids` order] under DP, each candidate's weight in `select`'s draw
        within its shape cell, by how its journey ends: on a terminal step's event type
        (`terminal`), the share of customers the release's presence says have it (each
        holder weighs 1 / sqrt(its distinct tokens): their mean over the candidates that
        end there converts it to customers) over the candidates' share ending there; on
        none of them, the rest over theirs (each between 1 / ENDING_WEIGHT and
        ENDING_WEIGHT). A DP VAE ended 43% of the process simulator's cases at epsilon 8
        before any outcome (0.4% of real ones) and approved 10% (49% real): the shape
        cells say how long a case is, not how it ends. None without terminal tokens."""
        term = self.terminal()
        if term is None or not term.any() or not len(ids):
            return None
        tokens = np.asarray(Calendar.from_dict(self.calendar).tokens)
        if len(tokens) != len(term):
            return None
        of = token_keys(candidates.df, candidates)
        who = candidates.df[candidates.key].to_numpy()
        last = of.groupby(who, sort=False).last().reindex(ids).astype(str).to_numpy()
        k = of.groupby(who, sort=False).nunique().reindex(ids).to_numpy(float)
        last_type = np.array([t.split("|", 1)[-1] for t in last])
        types = np.array([t.split("|", 1)[-1] for t in tokens])
        has = np.maximum(np.asarray(self.mix["has"], float), 0.0)
        customers = max(float(np.maximum(np.asarray(self.shape, float), 0.0).sum()), 1.0)
        weight = np.ones(len(ids))
        wanted = 0.0
        ending = np.isin(last_type, types[term])
        if not ending.any():
            return None
        for t in np.unique(types[term]):
            at = last_type == t
            # (a type no candidate ends on still counts in the share that ends somewhere)
            of_t = at if at.any() else ending
            root_k = 1.0 / np.mean(1.0 / np.sqrt(np.maximum(k[of_t], 1.0)))
            share = min(has[term & (types == t)].sum() * root_k / customers, 1.0)
            wanted += share
            if at.any():
                weight[at] = share / at.mean()
        if not ending.all():
            weight[~ending] = max(1.0 - wanted, 0.0) / (~ending).mean()
        return np.clip(weight, 1.0 / ENDING_WEIGHT, ENDING_WEIGHT)

    def precedes(self) -> list[list[str]]:
        """[a, b] pairs of calendar tokens where the data never has b without a before it,
        by the mix's precedence table (under DP; exact fits have `orders`): b present
        PRECEDE_LOUD deviations loud, a present too, and the customers whose first b no a
        comes before, PRECEDE_NOISE deviations up, under PRECEDE_SHARE of b's (at 1
        deviation and 2% of b's, the omnichannel simulator's ad impression before a
        purchase, broken by 12% of its customers, passed in 2 releases of 2; now a pair
        broken by 8% to 15% passes now and then: `bench/bench_mix.py`). A DP VAE
        accepted a process's offer before it was returned in 13% of its cases (never in
        the data): first-order transitions cannot say what came three steps before."""
        if not mix_usable(self.mix) or "before" not in self.mix:
            return []
        names = list(self.mix["trans_tokens"])
        k = len(names)
        S = np.asarray(self.mix["before"], float)
        if S.size != k * k:
            return []
        S = S.reshape(k, k)
        sd = np.sqrt(2.0) * self.mix["scale"][0]
        has = np.diag(S)
        loud = has >= PRECEDE_LOUD * sd
        rule = (
            loud[None, :] & loud[:, None] & (S + PRECEDE_NOISE * sd < PRECEDE_SHARE * has[None, :])
        )
        np.fill_diagonal(rule, False)
        return [[names[a], names[b]] for a, b in zip(*np.nonzero(rule), strict=True)]

    def once(self) -> np.ndarray | None:
        """[T] the calendar tokens no journey has twice, by the mix's presence tables
        (under DP): present ONCE_LOUD deviations loud with its repeats (`again`) under
        ONCE_NOISE deviations and ONCE_SHARE of its presence. A process submits an
        application once per case; shrunk toward all tokens' repeat share (a token's own
        ratio is noisy, `calibrate.repeat_targets`), the DP VAE submitted again in a tenth
        of its cases. None without the tables."""
        if not mix_usable(self.mix) or "again" not in self.mix or "has" not in self.mix:
            return None
        sd = np.sqrt(2.0) * self.mix["scale"][0]
        has, again = np.asarray(self.mix["has"], float), np.asarray(self.mix["again"], float)
        _, known = mix_known(self.mix, "token")
        return (
            known & (has >= ONCE_LOUD * sd) & (again < ONCE_NOISE * sd) & (again < ONCE_SHARE * has)
        )

    def _rules(self, tokens: list[str]) -> dict[str, list] | None:
        """The order rules `select` prefers candidates by: exact ones (no DP), or under
        DP the terminal tokens and the precedences the release shows (`terminal`,
        `precedes`)."""
        if self.orders:
            return self.orders
        term = self.terminal()
        if term is not None and len(term) == len(tokens):
            term = term & mix_known(self.mix, "token")[1]
        before, after = self.precedes(), self.directly_after()
        if term is None or not term.any() or len(term) != len(tokens):
            term = np.zeros(len(tokens), dtype=bool)
        if not term.any() and not before and not after:
            return None
        return {
            "precedes": before,
            "never_first": [],
            "terminal": list(np.asarray(tokens)[term]),
            "after": after,
        }

    def directly_after(self) -> list[list[str]]:
        """[a, b] pairs of calendar tokens where b comes straight after a every time:
        exact fits from their `orders`; under DP from the mix's transition table, b's
        column AFTER_LOUD deviations loud in a's row, under AFTER_ROW deviations in each
        other row (the start's included; the noise puts one of 20 rows there 3% of the
        time) and their sum under AFTER_SUM of it plus AFTER_SUM_DEVS deviations of the
        sum; and only
        where the table leaves AFTER_AT customers per deviation (the process simulator
        at epsilon 8: 190; at epsilon 1, 30, where a pair broken by 29% of the cases
        passed, and real cases put through the profile were moved about). The simulator
        abandons a cart right after filling it; a DP VAE put 30% of its abandonments after
        a view or an impression, and the gap before them told its customers apart (AUC
        0.74 on its own). Near-rules pass too at epsilon 8 (a view before 85% of the
        carts, an offer created after 92% of the finalized applications)."""
        if self.orders:
            return [list(x) for x in self.orders.get("after", [])]
        if not mix_usable(self.mix) or "trans" not in self.mix:
            return []
        names = list(self.mix["trans_tokens"])
        k = len(names)
        m = np.asarray(self.mix["trans"], float)
        if m.size != (1 + k) * k:
            return []
        m = m.reshape(1 + k, k)
        sd = np.sqrt(2.0) * self.mix["scale"][0]
        customers = float(np.maximum(np.asarray(self.shape, float), 0.0).sum())
        if sd > 0 and customers / sd < AFTER_AT:
            return []
        top = m[1:].argmax(0)  # [k] each column's loudest previous token
        one = m[1 + top, np.arange(k)]
        rest = m.copy()
        rest[1 + top, np.arange(k)] = -np.inf
        other = m.sum(0) - one
        rule = (one >= AFTER_LOUD * sd) & (rest.max(0) < AFTER_ROW * sd)
        rule &= other < AFTER_SUM * one + AFTER_SUM_DEVS * sd * np.sqrt(k)
        rule &= top != np.arange(k)
        return [[names[a], names[b]] for b, a in enumerate(top) if rule[b]]

    @property
    def private(self) -> bool:
        """Whether the profile was released under DP (a model saved before the Gaussian
        tables has an epsilon and no rho)."""
        return self.rho is not None or self.epsilon is not None

    def zero_types(self, log: EventLog) -> dict[str, list[str]] | None:
        """Per numeric column the event types (known to the mix) whose values are mostly
        0: structural zeros (a campaign event has no amount) that the calendar's token
        rows are too thin to show: its zeros outweigh its values by MIX_KNOWN deviations.
        (Zeros above half the noisy total were not enough: the process simulator's amounts
        are never 0, and 5 of 6 releases called a type structural zeros, a thin one or one
        whose values the noise pulled down.)"""
        if not mix_usable(self.mix):
            return None
        bar = MIX_KNOWN * np.sqrt(2.0) * self.mix["scale"][0]
        out = {}
        for col in log.schema.event_names("numeric"):
            types, known, zero, _, total = self._kinds(log, col)
            out[col] = [
                t
                for t, k, z, n in zip(types, known, zero, total, strict=True)
                if k and z > max(n - z, 0.0) + bar
            ]
        return out

    def whole_shares(self, log: EventLog) -> dict[str, dict[str, float]] | None:
        """Per numeric column, each event type's share of whole numbers among its non-zero
        values, for the types the mix knows to have them; a whole-number share under the
        mix's bar is 0 (the calendar's rows are too noisy for it: on the omnichannel
        simulator at epsilon 8, 29% of synthetic purchase amounts were whole, 0.7% real)."""
        if not mix_usable(self.mix):
            return None
        bar = MIX_KNOWN * np.sqrt(2.0) * self.mix["scale"][0]
        out = {}
        for col in log.schema.event_names("numeric"):
            if f"whole:{col}" not in self.mix:
                continue
            types, known, _, whole, _ = self._kinds(log, col)
            valued = self._valued(col, len(types))
            out[col] = {
                t: float(np.clip(w / v, 0.0, 1.0)) if w > bar else 0.0
                for t, k, w, v in zip(types, known, whole, valued, strict=True)
                if k and v > bar
            }
        return out

    def _kinds(self, log: EventLog, col: str):
        """(types, known, zero, whole, total) per event type of the schema for numeric
        `col`, from the mix: the noisy sums of the type's values valued 0 and valued a
        whole number, and the type's total (a model saved before the mix's
        presence-weighted tables: shares of events, the total from its event-type
        table)."""
        types = [str(v) for v in log.schema.column("event_type").values or []]
        sums, known = mix_types(self.mix, self.calendar.get("tokens") or [], types)
        zero = _cells(self.mix.get(f"zeros:{col}"), len(types))
        whole = _cells(self.mix.get(f"whole:{col}"), len(types))
        if f"frac:{col}" in self.mix:
            total = zero + whole + _cells(self.mix[f"frac:{col}"], len(types))
        else:
            total = sums
        return types, known, zero, whole, total

    def _valued(self, col: str, n: int) -> np.ndarray:
        """[types] the noisy sums of each type's non-zero values of `col`."""
        whole = _cells(self.mix.get(f"whole:{col}"), n)
        if f"frac:{col}" in self.mix:
            return whole + _cells(self.mix[f"frac:{col}"], n)
        zero = _cells(self.mix.get(f"zeros:{col}"), n)
        return _cells(self.mix.get("event_type"), n) - np.maximum(zero, 0.0)

    def start_floors(self, df: pd.DataFrame, log: EventLog) -> pd.Series | None:
        """Customer -> the earliest time (ns) the calendar's weekday shift may move its
        journey's first event back to: the left edge of the run of start-histogram bins
        with mass that holds it (its own bin's, where that has none). Complete Journey's
        baskets begin on 1 January 2017; shifted up to 3 days back towards their
        weekdays, the journeys of its first days put 15% of the DP VAE's households (194
        of 1,265; 71 of the real holdout's, by a campaign) into the last week of 2016
        (about 108 with the floor; detection 0.9455 -> 0.9428, three samples). None where
        the histogram is not usable or the schema declares no window."""
        s = log.schema
        if not self._starts_usable() or s.time_start is None or s.time_end is None:
            return None
        if not len(df):
            return None
        starts = np.maximum(np.asarray(self.starts, float), 0.0)
        t0, t1 = s.time_start.value, s.time_end.value
        edges = t0 + (t1 - t0) * np.arange(len(starts) + 1) / len(starts)
        first = df.groupby(log.key, sort=False)[log.time].min()
        at = first.to_numpy("datetime64[ns]").astype(np.int64)
        b = np.clip(np.searchsorted(edges, at, side="right") - 1, 0, len(starts) - 1)
        k = np.arange(len(starts))
        has = starts > 0
        opens = ~has | (k == 0) | ~np.r_[False, has[:-1]]  # a bin that begins its run
        run = np.maximum.accumulate(np.where(opens, k, 0))
        return pd.Series(np.floor(edges[run[b]]).astype(np.int64), index=first.index)

    def _starts_usable(self) -> bool:
        """Whether the first-event histogram says more than its noise: at least 10 noise
        scales of mass (on a 30-customer store at epsilon 8, one noise cell held it all,
        and realigned to it every synthetic customer had churned)."""
        return self._usable("starts")

    def _usable(self, part: str) -> bool:
        """Whether histogram `part` (starts, ends) has 10 noise scales of mass."""
        h = getattr(self, part)
        if h is None or sum(h) <= 0:
            return False
        key = {"starts": "start"}.get(part, part)  # its share of the budget
        return sum(h) >= 10.0 * self._sd(key) / np.sqrt(2.0)

    def _sd(self, key: str) -> float:
        """The noise deviation of part `key`'s tables (start, ends; 0: exact)."""
        detail = self.detail or {}
        rho = (detail.get("rho_parts") or {}).get(key)
        if rho is not None:
            tables = START_TABLES if key == "start" and self.start_joint is not None else 1
            return float(np.sqrt(2.0) * gauss_scale(tables, rho))
        eps = (detail.get("epsilon_parts") or {}).get(key)  # a profile saved with Laplace
        return 0.0 if eps is None else float(np.sqrt(2.0) / eps)

    def _refill_zeros(self, df: pd.DataFrame, log: EventLog, rng) -> pd.DataFrame:
        """Per numeric column and event type the mix knows (and that is not mostly 0: those
        the calendar zeroes), the model's zeros beyond the type's released share of zeros
        get values drawn from the type's own non-zero values (before `Values` maps them
        to its histogram): a DP VAE on the omnichannel simulator gave 57% of its purchases
        no amount, against none real."""
        if not mix_usable(self.mix) or "event_type" not in df:
            return df
        sd = np.sqrt(2.0) * self.mix["scale"][0]
        et = df["event_type"].astype(str).to_numpy()
        df = df.copy()
        for col in log.schema.event_names("numeric"):
            x = df[col].to_numpy(float).copy()
            pool = x[(x != 0) & np.isfinite(x)]
            if f"zeros:{col}" not in self.mix or not len(pool):
                continue
            types, known, zero, _, total = self._kinds(log, col)
            for t, k, z, n in zip(types, known, zero, total, strict=True):
                rows = np.flatnonzero(et == t)
                # only where the release is sure the type is mostly valued: its zero share
                # 2 deviations up still under a half (Complete Journey's campaign events,
                # 32 customers' worth, all 0, released 10 zeros: they got amounts)
                if not k or n <= 0 or (z + 2 * sd) / n >= 0.5 or not len(rows):
                    continue
                zeros = rows[x[rows] == 0]
                z = max(z - MIX_KNOWN * sd, 0.0)  # soft-thresholded: noise passes the bar
                # 6% of the time, by about a scale
                had, want = len(zeros) / len(rows), float(np.clip(z / n, 0.0, 1.0))
                if had <= want:
                    continue
                flip = zeros[rng.random(len(zeros)) < (had - want) / had]
                same = x[rows][(x[rows] != 0) & np.isfinite(x[rows])]
                x[flip] = rng.choice(same if len(same) else pool, size=len(flip))
            df[col] = x
        return df

    def record(self) -> dict[str, Any]:
        """What the profile release spent (JSON): Gaussian tables of zCDP `rho` in all
        (per part), as one full-batch Gaussian step of `noise_multiplier` for an RDP
        accountant; `epsilon`: what it adds to the fit's epsilon (composed with the
        training by the caller), or its own epsilon at `delta` when released alone."""
        parts = (self.detail or {}).get("rho_parts", {})
        rho = float(self.rho or 0.0)
        return {
            "mechanism": "gaussian",
            "composition": "rdp",
            "rho": rho,
            "noise_multiplier": gaussian_multiplier(rho) if rho > 0 else None,
            "epsilon": float(self.epsilon or 0.0),
            "delta": 0.0,
            "parts": {k: {"rho": v, "mechanism": "gaussian"} for k, v in parts.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JourneyProfile:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    # --- sampling ----------------------------------------------------------------------
    def draw_context(self, n: int, rng: np.random.Generator, schema) -> np.ndarray | None:
        """[n, C] class codes of the schema's categorical context columns drawn from the
        context tree (None without one, or when the schema's columns are not its own)."""
        tree = self._context_tree(schema)
        if tree is None:
            return None
        return tree.draw(n, rng)[:, : len(self.context["columns"])]

    def _context_tree(self, schema) -> ContextTree | None:
        """The context tree, over the schema's categorical context columns and then the
        constant event columns it holds (None without one, or when the schema's columns
        are not its own)."""
        if not self.context:
            return None
        d = dict(self.context)
        names, more = d.pop("columns"), d.pop("constants", [])
        levels = d.pop("levels", [])
        cats = set(schema.event_names("categorical"))
        ok = names == context_columns(schema) and set(more) <= cats
        ok = ok and set(levels) <= set(level_columns(schema))
        if not ok or d["sizes"] != sizes_of(schema, names + more + levels):
            return None
        return ContextTree.from_dict(d)

    def draw_given_context(
        self, log: EventLog, rng: np.random.Generator
    ) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
        """(constants, levels): per constant event column the tree holds, each journey's
        value, and per numeric column whose customers' levels it holds, each journey's
        level class (`values.level_codes`), indexed by customer, drawn from the tree
        given the journey's context values: a home store from its customer's region, a
        level of spend from its segment. Empty without such columns."""
        tree = self._context_tree(log.schema)
        if tree is None:
            return {}, {}
        more = list(self.context.get("constants", []))
        levels = list(self.context.get("levels", []))
        if not more and not levels:
            return {}, {}
        names = list(self.context["columns"])
        known = np.full((log.n_customers, len(names + more + levels)), -1, dtype=np.int64)
        known[:, : len(names)] = customer_codes(log, names)
        at = len(names + more)
        used = [j for j in range(len(levels)) if at + j not in tree.apart]  # the others:
        # drawn apart from the context, the model's own levels are kept
        soft = {at + j: own_level_evidence(log, levels[j][len(LEVEL_PREFIX) :]) for j in used}
        codes = tree.draw_given(known, rng, soft=soft)
        keys = log.df.groupby(log.key, sort=False).size().index
        consts = {}
        for j, col in enumerate(more):
            values = np.asarray(list(log.schema.column(col).values), dtype=object)
            consts[col] = pd.Series(values[codes[:, len(names) + j]], index=keys)
        drawn = {
            levels[j][len(LEVEL_PREFIX) :]: pd.Series(codes[:, at + j], index=keys) for j in used
        }
        return consts, drawn

    def draw_lengths(self, m: int, rng: np.random.Generator, codec) -> np.ndarray:
        """m journey lengths from the shape's length marginal, capped at the model's
        max_length. Within a class the density follows the slope between its neighbours'
        densities (exponential: lengths thin out along a class as along the tail; drawn
        for the classes' own customers this was nearer the real lengths than uniform or
        log-uniform draws on all four bench datasets, BENCHMARKS.md)."""
        target = np.asarray(self.shape, float).reshape(-1, SPAN_BINS).sum(1)
        if target.sum() <= 0:
            return np.zeros(m, dtype=np.int64)  # nothing survived the noise: free lengths
        k = rng.choice(len(target), size=m, p=target / target.sum())
        edges = np.asarray(LENGTH_EDGES[: len(target)], float)
        upper = np.maximum(np.append(edges[1:], codec.max_length + 1), edges + 1)
        lo, hi = edges[k], upper[k]
        mid, dens = (edges + upper) / 2, np.maximum(target, 0.0) / (upper - edges)
        a, b = (
            np.maximum(np.arange(len(target)) - 1, 0),
            np.minimum(np.arange(len(target)) + 1, len(target) - 1),
        )
        ok = (dens[a] > 0) & (dens[b] > 0) & (b > a)
        rate = np.where(
            ok,
            np.log(np.where(ok, dens[b], 1.0) / np.where(ok, dens[a], 1.0)) / (mid[b] - mid[a]),
            0.0,
        )[k]
        u, span = rng.random(m), hi - lo
        rate = np.clip(rate, -50.0 / span, 50.0 / span)  # e^50 steep at most: no overflow
        flat = np.abs(rate * span) < 1e-6
        safe = np.where(flat, 1.0 / span, rate)  # (the branch not taken must not overflow)
        n = np.where(flat, lo + u * span, lo + np.log1p(u * np.expm1(safe * span)) / safe)
        n = np.clip(np.floor(n), lo, hi - 1).astype(np.int64)
        return np.minimum(n, codec.max_length)

    def select(
        self, candidates: EventLog, n: int, rng: np.random.Generator, *, forced: int = 0
    ) -> EventLog:
        """n candidate journeys whose (length, span) cells follow the profile's shape,
        preferring those that keep the data's strict orderings (when known) and, within a
        cell, those that ended by themselves (the last `forced` were told their length)."""
        ids = np.asarray(candidates.customers)
        prefer = np.arange(len(ids)) < len(ids) - forced
        rules = self._rules(Calendar.from_dict(self.calendar).tokens if self.calendar else [])
        if rules:  # not the `after` rules, which `apply` mends (`straight_after`): as a
            # filter they left too few candidates to match the shape by (the process
            # simulator without DP: detection 0.761 with them, 0.725 without, 0.737 before)
            rules = {k: v for k, v in rules.items() if k != "after"}
        if rules and not self.orders:  # under DP: within each shape cell, candidates that
            # keep the terminal tokens first (taken first whatever their cell, the cases
            # that ended at an outcome were the short ones: on the process simulator at
            # epsilon 8 the length W1 ratio rose from 0.9 to 6.5)
            prefer = prefer.astype(float) + 2.0 * ~breaks_order(rules, candidates)
        elif rules:
            ok = ~breaks_order(rules, candidates)
            if ok.sum() >= n:
                ids, prefer = ids[ok], prefer[ok]
                candidates = candidates.subset(list(ids))
        shape = journey_shape(candidates, n_classes=len(self.shape) // SPAN_BINS).loc[ids]
        target = np.asarray(self.shape, float)
        if target.sum() <= 0:  # nothing survived the noise: keep the model's own shape
            return candidates.subset(list(ids[:n]))
        borrowed: dict[int, int] = {}
        cells = shape["cell"].to_numpy()
        weight = self.ending_weights(candidates, ids) if rules and not self.orders else None
        chosen = match_cells(cells, target, n, rng, prefer=prefer, assigned=borrowed, weight=weight)
        out = candidates.subset(list(ids[chosen]))
        # A journey standing in for a cell of another span (same length class) has its
        # gaps stretched or shrunk by one factor so its span lands in that cell.
        spans = {
            ids[i]: c % SPAN_BINS
            for i, c in borrowed.items()
            if c // SPAN_BINS == cells[i] // SPAN_BINS and c % SPAN_BINS != cells[i] % SPAN_BINS
        }
        return _respan(out, spans, rng) if spans else out

    def apply(
        self, log: EventLog, rng: np.random.Generator, *, realign_starts: bool = False
    ) -> pd.DataFrame:
        """The log's events with clock times redrawn and constant columns repeated; with
        `realign_starts` (a model that does not learn first-event times well), each journey
        is first moved whole to a first-event time drawn from the profile's histogram,
        among the times where it still fits in the window (long journeys start early)."""
        df = log.df.copy()
        after = self.directly_after()
        if after:
            cal = Calendar.from_dict(self.calendar)
            mass = np.maximum(cal.token_mass(), 0.0)
            shares = dict(zip(cal.tokens, mass / max(mass.sum(), 1e-12), strict=True))
            df = straight_after(df, log, after, shares=shares, rng=rng)
        if realign_starts and self._starts_usable():
            ends = np.asarray(self.ends, float) if self._usable("ends") else None
            joint = None if self.start_joint is None else np.asarray(self.start_joint, float)
            df = _realign(df, log, np.asarray(self.starts, float), rng, ends=ends, joint=joint)
        if realign_starts and self._usable("ends"):
            df = _stretch_ends(df, log, np.asarray(self.ends, float), rng)
        df = self._refill_zeros(df, log, rng)
        drawn, levels = self.draw_given_context(log, rng)
        if self.values is not None:
            df = Values.from_dict(self.values).apply(df, log, rng, levels=levels)
        if self.rhythm is not None:
            df = Rhythm.from_dict(self.rhythm).apply(df, log, rng, length_class=length_class)
        cal = Calendar.from_dict(self.calendar)
        valid = mix_valid(self.mix) if mix_usable(self.mix) else None
        df = cal.apply(
            df,
            log,
            rng,
            valid=valid,
            zero_types=self.zero_types(log),
            whole_types=self.whole_shares(log),
            start_floor=self.start_floors(df, log),
        )
        if self.values is not None:  # after the calendar's whole numbers
            df = Values.from_dict(self.values).repeats(df, log, rng)
        for col in self.constants:  # last: the calendar rounds values event by event
            first = df.groupby(log.key, sort=False)[col].transform("first")
            if col in drawn:  # from the tree, given the context; a journey without any
                # value keeps none
                first = first.where(first.isna(), df[log.key].map(drawn[col]))
            df[col] = first
        return df


def straight_after(
    df: pd.DataFrame, log: EventLog, pairs: list[list[str]], *, shares=None, rng=None
) -> pd.DataFrame:
    """df (whole journeys in time order) with each event of token b that does not come
    straight after an a (`pairs` [a, b]: `JourneyProfile.directly_after`) moved to just
    after the latest a before it in its journey that is not followed yet by one of the
    tokens that must follow a, one of the model's own a-to-b gaps after it (half way to
    the event after that a at most; under DP the rhythm then redraws it); one with no
    such a gets an a of its own as far before it, as far as the a's fall short of their
    share of events in `shares` (token -> share; None: no limit), chosen at random by
    `rng`. The model's rows and values are kept. (Put in without that limit, a
    process's steps, as many in the model's cases as in the data's, came out 7% too
    many.)"""
    if not len(df):
        return df
    by_a: dict[str, list[str]] = {}
    for a, b in pairs:
        by_a.setdefault(a, []).append(b)
    df = df.assign(_put=False)
    for a, bs in by_a.items():  # one token a at a time, in the order the last left
        share = None if shares is None else shares.get(a, 0.0)
        df = _after_one(df, log, a, bs, share, rng)
    return df.drop(columns="_put")


def _after_one(df: pd.DataFrame, log: EventLog, a: str, bs: list[str], share, rng):
    tok = token_keys(df, log).to_numpy().astype(object)
    j = pd.factorize(df[log.key], sort=False)[0]
    t = df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
    n = len(df)
    first = np.r_[True, j[1:] != j[:-1]]
    start = np.flatnonzero(first)  # each journey's first row (journeys are contiguous)
    prev = np.r_[[""], tok[:-1]].astype(object)
    prev[first] = ""
    nxt = np.r_[tok[1:], [""]].astype(object)
    nxt[np.r_[first[1:], True]] = ""
    # (an a put in for another rule's b is not given one in turn: in a process's chains
    # of steps, each put in one more, and 7% more events came out)
    wrong = np.flatnonzero(np.isin(tok, bs) & (prev != a) & ~df["_put"].to_numpy())
    free_at = np.flatnonzero((tok == a) & ~np.isin(nxt, bs))
    if not len(wrong):
        return df
    rank = np.arange(n, dtype=float)
    new_t = t.copy()
    taken: set[int] = set()
    rng = rng or np.random.default_rng(0)
    # the gap of a b put after an a (or of an a put before a b): one of the model's own
    # gaps between an a and the b straight after it (a second where it has none). Without
    # DP no rhythm redraws them, and at a second or less the shortest gap gave the
    # omnichannel simulator's journeys away (AUC 0.57; detection 0.727 against 0.700)
    right = np.flatnonzero(np.isin(tok, bs) & (prev == a))
    pool = np.maximum(t[right] - t[right - 1], 10**9) if len(right) else np.array([10**9])
    drawn = pool[rng.integers(0, len(pool), len(wrong))]
    # a b that ends its journey stays its last event and gets an a of its own, whatever
    # the a's share: moved back after an earlier a, a process's approval (straight after
    # its accepted offer) left a third of the DP VAE's approved cases at epsilon 8 ending
    # before any outcome
    last = np.r_[first[1:], True]
    for w, i in enumerate(wrong):  # few: a model's misplaced events
        if last[i]:
            continue
        lo = np.searchsorted(free_at, start[j[i]])
        hi = np.searchsorted(free_at, i)
        for p in free_at[lo:hi][::-1]:  # the latest free a before it
            if p not in taken:
                taken.add(p)
                gap = t[p + 1] - t[p] if p + 1 < n and j[p + 1] == j[p] else 2 * drawn[w]
                new_t[i] = t[p] + min(drawn[w], max(gap // 2, 0))
                rank[i] = p + 0.5
                break
    # the rest get an a of their own just before them: the model drew the b, and a b is
    # where an a was (its values the median of the model's a events, 0 where none)
    alone = np.array([i for i in wrong if rank[i] == i and not last[i]], dtype=np.int64)
    if share is not None:  # only as many as the a's fall short of their share
        room = int(np.floor(share * n - (tok == a).sum()))
        if room < len(alone):
            alone = np.sort(alone[rng.permutation(len(alone))[: max(room, 0)]])
    alone = np.sort(np.r_[alone, wrong[last[wrong]]]).astype(np.int64)
    out = df  # `straight_after`'s own copy: no other copy of a million journeys' rows
    out[log.time] = pd.to_datetime(new_t)
    if len(alone):
        add = out.iloc[alone].copy()
        for col, v in zip(token_columns(log), a.split("|"), strict=False):
            add[col] = v
        add["_put"] = True
        is_a = tok == a
        for col in log.schema.event_names("numeric"):
            v = out[col].to_numpy(float)[is_a]
            add[col] = float(np.nanmedian(v)) if len(v) else 0.0
        lead = pool[rng.integers(0, len(pool), len(alone))]
        before = np.where(first[alone], 2 * lead, t[alone] - t[np.maximum(alone - 1, 0)])
        when = t[alone] - np.minimum(lead, np.maximum(before // 2, 0))
        if log.schema.time_start is not None:
            when = np.maximum(when, log.schema.time_start.value)
        add[log.time] = pd.to_datetime(when)
        out = pd.concat([out, add], ignore_index=True)
        rank = np.r_[rank, alone - 0.5]
        new_t = np.r_[new_t, when]
        j = np.r_[j, j[alone]]
    order = np.lexsort((rank, new_t, j))
    return out.iloc[order]


def own_level_evidence(log: EventLog, col: str) -> np.ndarray:
    """[customers, LEVEL_CLASSES] how likely each level class is given the customer's own
    level of `col` (`values.level_codes`): a Gaussian of LEVEL_TRUST classes about it (no
    value: all alike). The tree's draw given the context is pulled towards it, so a model
    that knows who spends more keeps much of it, and one that does not (the same spend for
    every segment) is moved towards its context's levels. On the retail simulator's DP VAE
    sample (epsilon 8), the profile re-applied at 3 seeds: detection 0.733 without the
    levels, 0.732 at 0.05 classes (its own), 0.691 at 1, 0.676 at 2, 0.664 at 3 (means of
    the 3); real holdout journeys through the profile: 0.643 without the levels, 0.668,
    0.643, 0.671 and 0.665 at those widths, against a seed spread of 0.60 to 0.71."""
    own = level_codes(log, col)
    k = np.arange(LEVEL_CLASSES)
    out = np.exp(-0.5 * ((k[None, :] - own[:, None]) / LEVEL_TRUST) ** 2)
    out[own < 0] = 1.0
    return out


def share_sums(log: EventLog, of: pd.Series, values) -> np.ndarray:
    """[values] each value's share of a customer's events (`of`, one per event; missing:
    none of the values), summed over customers: each customer adds at most 1 in all."""
    sums = share_sums_by_value(log, of)
    return sums.reindex([str(v) for v in values or []], fill_value=0.0).to_numpy(float)


def mix_transitions(mix: dict | None, tokens: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """(sums [1 + T, T], known) of the mix's transition table over `tokens` (those it does
    not cover: 0, unknown), as `mix_known`; None when the mix has none (no DP) or says no
    more than its noise."""
    if not mix_usable(mix) or "trans" not in mix:
        return None
    names = list(mix["trans_tokens"])
    sums, known = mix_known(mix, "trans")
    k = len(names)
    idx = np.array([tokens.index(t) for t in names if t in tokens], dtype=np.int64)
    if len(idx) != k or len(sums) != (1 + k) * k:
        return None
    rows = np.r_[0, 1 + idx]
    out = np.zeros((1 + len(tokens), len(tokens)))
    ok = np.zeros(out.shape, dtype=bool)
    out[np.ix_(rows, idx)] = sums.reshape(1 + k, k)
    ok[np.ix_(rows, idx)] = known.reshape(1 + k, k)
    return out, ok


def mix_usable(mix: dict | None) -> bool:
    """Whether the mix says more than its noise: at least MIX_MIN_SIGNAL customers per
    noise deviation (Complete Journey at epsilon 8: about 90; a 25-customer training set:
    under 2, where calibrating to it made 57% of a VAE's events email opens)."""
    if not mix:
        return False
    cells = np.asarray(mix["token" if "token" in mix else "event_type"], float)  # each adds 1
    sd = np.sqrt(2.0) * mix["scale"][0]
    # the count of customers itself, 2 deviations of its sum down (a sum of 60 cells)
    return cells.sum() - 2 * sd * np.sqrt(len(cells)) > MIX_MIN_SIGNAL * sd


def mix_valid(mix: dict) -> tuple:
    """(weights, known, sd of a weight[, presence]) of the tokens for the calendar's pair
    remap: the mix's token shares of events and presence (what the remap compares a
    sample's with) and which tokens the data has by their presence (`mix_known`)."""
    sums, known = mix_known(mix, "token")
    sd = np.sqrt(2.0) * mix["scale"][0]
    return (sums, known, sd, np.asarray(mix["has"], float)) if "has" in mix else (sums, known, sd)


def mix_known(mix: dict, table: str) -> tuple[np.ndarray, np.ndarray]:
    """(sums, known) of a mix table: the noisy sums, and which values the data has: a
    sum above MIX_KNOWN noise deviations (a value the data never has passes about 6% of
    the time). Tokens are known by the presence table `has` (customers that have the
    token, each weighted by 1 / its number of distinct tokens): on Complete Journey at
    epsilon 8 the shares of events put coupon redemptions and two of the three
    direct-mail channels under the bar (5, 3 and 13 customers' worth against a deviation
    of 14), so calibration pushed them to never; their presence is 51, 44 and 143."""
    sums = np.asarray(mix[table], float)
    sd = np.sqrt(2.0) * mix["scale"][0]
    if table == "token" and mix.get("token_held"):  # shares read off the presence
        held = np.asarray(mix["token_held"], float)
        sums = np.where(np.isnan(held), sums, held)
    if table == "token" and "has" in mix:  # a false token passes 0.6% of the time
        return sums, np.asarray(mix["has"], float) > HAS_KNOWN * sd
    return sums, sums > MIX_KNOWN * sd


def mix_types(mix: dict, tokens: list[str], types: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(sums, known) per event type in `types`: the sums of its known tokens' shares of
    events, each clipped at 0 (`tokens`: the mix's token names, channel|event_type), and
    whether any of its tokens is known; a mix saved with its own event-type table reads
    that."""
    if "event_type" in mix:
        return mix_known(mix, "event_type")
    sums, known = mix_known(mix, "token")
    of = np.array([t.split("|", 1)[-1] for t in tokens], dtype=object)
    out = np.zeros(len(types))
    has = np.zeros(len(types), dtype=bool)
    for i, t in enumerate(types):
        mine = (of == t) & known
        out[i], has[i] = np.maximum(sums[mine], 0.0).sum(), mine.any()
    return out, has


def _cells(values, n: int) -> np.ndarray:
    """[n] a mix row as floats (absent or of another length: zeros)."""
    a = np.asarray(values if values is not None else (), float)
    return a if len(a) == n else np.zeros(n)


def profile_shares(parts: tuple[str, ...] = ()) -> dict[str, float]:
    """Each part's share of the profile's epsilon: the optional parts asked for take
    their EXTRA_SHARES, the four base parts share the rest in their SHARES proportions."""
    unknown = set(parts) - set(EXTRA_SHARES)
    if unknown:
        raise ValueError(f"unknown profile parts {sorted(unknown)}; known: {list(EXTRA_SHARES)}")
    extra = {k: EXTRA_SHARES[k] for k in EXTRA_SHARES if k in parts}
    rest = 1.0 - sum(extra.values())
    return {**{k: v * rest for k, v in SHARES.items()}, **extra}


def _affordable(parts: tuple[str, ...], log, rho: float | None) -> tuple[str, ...]:
    """`parts` without the context tree where the log has no categorical context column,
    or where its pair tables would be too noisy (`context_tree.use_pairs`, read off the
    number of customers and rho alone): the model's own context head then draws them,
    and the tree's share goes to the other parts. (Columns released one by one and
    drawn independently lose their joint: at epsilon 1 on Complete Journey the share
    of customers with all seven demographics unknown would fall from 0.68 to about 0.08.)"""
    if "context" not in parts:
        return parts
    c = len(context_columns(log.schema))
    share = profile_shares(parts)["context"]
    if c == 0 or (
        c > 1 and not use_pairs(c, log.n_customers, None if rho is None else rho * share)
    ):
        return tuple(p for p in parts if p != "context")
    return parts


def _tree_columns(
    log, counts: ProfileCounts, consts: list[str], rho: float | None, *, levels: bool
):
    """(context columns, constant event columns, level columns, their pair tables) for
    the context tree: the constant columns join it (so a home store is drawn given its
    customer's region, not apart from it), and with `levels` the customers' levels of the
    values part's columns (so a premium customer spends as premium ones do), when the
    pair tables of them all stand above their noise (`use_pairs`; else the levels are
    left out first, then the constants). Which columns are constant is read off the
    constants' release (post-processing); only the tables released are paid for."""
    names = context_columns(log.schema)
    cand = tree_candidates(log.schema, levels=levels)
    more = [c for c in cand if c in consts]
    lv = level_columns(log.schema) if levels else []
    if counts.context_const is None:
        return names, [], [], counts.context
    for m, v in ((more, lv), (more, [])):
        if (m or v) and use_pairs(len(names + m + v), log.n_customers, rho):
            keep = list(range(len(names))) + [len(names) + cand.index(c) for c in m + v]
            return names, m, v, subset_tables(counts.context_const, len(names + cand), keep)
    return names, [], [], counts.context


def _tail_cut(shape: np.ndarray, raw: np.ndarray, scale: float) -> np.ndarray:
    """The shape without the length classes past the first one above its largest whose
    raw noisy mass (its cells as drawn) is not 2 deviations above 0: a noise cell in the
    far tail is a length the data does not have, and costs more than a thin real class
    lost (on the retail simulator, 4,000-event journeys from one such cell made the mean
    length 26 against 4.4; a class's 5 cells let one pass 30% of the time)."""
    m = shape.reshape(-1, SPAN_BINS)
    mass = raw.reshape(-1, SPAN_BINS).sum(1)
    if m.sum() <= 0:
        return shape
    bar = 2 * np.sqrt(2.0 * SPAN_BINS) * scale  # 2 deviations of a class's summed noise
    top = int(np.argmax(m.sum(1)))
    end = top
    while end < len(mass) - 1 and mass[end + 1] > bar:
        end += 1
    out = m.copy()
    out[end + 1 :] = 0.0
    if m[end + 1 :].sum() > CUT_MASS * m.sum():  # that is data, not noise: the shape is too
        # thin to tell its tail from noise (a 30-customer store: every class past 13 events
        # under the bar). Its cells are kept up to THIN_MAX_LENGTH events (noise cells out to
        # 4,000 events made 270-event journeys; the model's own were 2 events long).
        out = m.copy()
        out[np.asarray(LENGTH_EDGES[: len(m)]) >= THIN_MAX_LENGTH] = 0.0
    return out.ravel()


def _respan(log: EventLog, spans: dict[Any, int], rng) -> EventLog:
    """Rescale each named journey's gaps so that span / room falls in its span bin."""
    df = log.df.copy()
    end = log.schema.time_end if log.schema.time_end is not None else df[log.time].max()
    g = df.groupby(log.key, sort=False)[log.time]
    first, last = g.transform("min"), g.transform("max")
    key = df[log.key]
    want = key.map(spans)
    ok = want.notna() & (last > first)
    if not ok.any():
        return log
    per = pd.Series(rng.random(len(spans)), index=list(spans))  # where in the bin
    frac = (want[ok] + key[ok].map(per)) / SPAN_BINS
    room = (end - first[ok]).dt.total_seconds()
    factor = frac.to_numpy() * room.to_numpy() / (last[ok] - first[ok]).dt.total_seconds()
    offset = (df.loc[ok, log.time] - first[ok]).dt.total_seconds() * factor
    df.loc[ok, log.time] = first[ok] + pd.to_timedelta(np.floor(offset), unit="s")
    # gaps shrunk to the same second keep their order (sorted by the event columns, a
    # case's submission came after its partial submission in 10% of process cases)
    df[log.time] = keep_order(df, log.schema, pd.factorize(key)[0], end - pd.Timedelta(seconds=1))
    return EventLog.from_frame(df, log.schema)


def _thin_runs(raw: np.ndarray, scale: float) -> np.ndarray:
    """A noisy histogram (cells as drawn, Laplace `scale`) with each cell that stands 3
    deviations above 0 kept, and each run of the others between them spread evenly with
    its sum when that sum is RUN_BAR deviations (of a sum of its cells) above 0, else 0
    (post-processing). On the omnichannel simulator a tenth of customers arrive late,
    about 8 a bin against a deviation of 16: cut at 2 scales, cell by cell, the late
    bins were gone but for the noise peaks that passed, and 10% of synthetic customers
    arrived in the last 40% of the window against 2% of real ones; pooled, the thin tail
    is spread as it is, and its peaks are not. At a bar of 2 deviations Complete
    Journey's tail (a fifth of households arrive after day 90: 155 in a run of 30 bins,
    a deviation of 62) was lost in a third of releases. (Runs split in halves while each
    half passed followed the noise: a retail log's first days were told apart better.)"""
    sd = np.sqrt(2.0) * scale
    own = raw > 3 * sd
    out = np.where(own, raw, 0.0)
    i = 0
    while i < len(raw):
        if own[i]:
            i += 1
            continue
        j = i
        while j < len(raw) and not own[j]:
            j += 1
        total = raw[i:j].sum()
        if total > RUN_BAR * sd * np.sqrt(j - i):
            out[i:j] = total / (j - i)
        i = j
    return out


def _stretch_ends(df: pd.DataFrame, log: EventLog, ends: np.ndarray, rng) -> pd.DataFrame:
    """Each journey in the last span bin (more than one event, using over 80% of the
    time it has left) stretched or shrunk about its first event so that the share of that
    time it leaves unused is drawn from the `ends` table's row of its length group
    (ENDS_GROUPS x ENDS_EDGES bins, uniform within a bin; a profile saved with one row uses
    it for all): its cell and first event stay, its recency follows the data's."""
    s = log.schema
    if s.time_end is None or not len(df):
        return df
    shape = journey_shape(EventLog(df, s, _validated=True), end=s.time_end)
    rows = np.maximum(_ends_rows(np.asarray(ends, float)), 0.0)  # [groups, bins]
    if rows.sum() <= 0:
        return df
    cell = ends_bin(shape)
    top = cell >= 0
    if not top.any():
        return df
    K = len(ENDS_EDGES) - 1
    group = np.minimum(cell[top] // K, len(rows) - 1)
    p = _ends_probs(rows)
    k = ((p[group].cumsum(1)) > rng.random((len(group), 1))).argmax(1)
    edges = np.asarray(ENDS_EDGES)
    u = edges[k] + rng.random(len(k)) * (edges[k + 1] - edges[k])
    room, span = shape["room"].to_numpy(float)[top], shape["span"].to_numpy(float)[top]
    factor = pd.Series(1.0, index=shape.index)
    factor[top] = (1.0 - u) * room / np.maximum(span, 1e-9)
    g = df.groupby(log.key, sort=False)[log.time]
    first = g.transform("min")
    offset = (df[log.time] - first).dt.total_seconds().to_numpy()
    scale = df[log.key].map(factor).to_numpy(float)
    df[log.time] = first + pd.to_timedelta(offset * scale, unit="s")
    return df


def _ends_probs(rows: np.ndarray) -> np.ndarray:
    """The ends table's rows (>= 0) as distributions; a group with under 5% of the
    table's mass (noise, or next to none) takes the rows' sum."""
    thin = rows.sum(1) < 0.05 * rows.sum()
    p = np.where(thin[:, None], rows.sum(0), rows)
    return p / np.maximum(p.sum(1, keepdims=True), 1e-12)


def _ends_rows(ends: np.ndarray) -> np.ndarray:
    """The ends table as [length groups, ENDS_EDGES bins]."""
    return np.asarray(ends, float).reshape(-1, len(ENDS_EDGES) - 1)


def _end_weights(f: np.ndarray, sp: np.ndarray, n: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """[N, C] the density, under the `ends` table's row of each journey's length group, of
    the share of the time left that a journey of span `sp` starting at `f` leaves unused
    (u = 1 - sp / (1 - f)), times the change of variable 1 / (1 - f); where a row is thin
    the rows' sum, as `_stretch_ends` draws. Uniform (ones) without a usable table."""
    rows = np.maximum(_ends_rows(ends), 0.0)
    if rows.sum() <= 0:
        return np.ones_like(f)
    edges = np.asarray(ENDS_EDGES)
    dens = _ends_probs(rows) / np.diff(edges)  # [groups, bins]
    group = np.minimum(np.searchsorted(np.asarray(ENDS_GROUPS), n, side="right") - 1, len(rows) - 1)
    u = 1.0 - sp[:, None] / np.maximum(1.0 - f, 1e-12)
    k = np.clip(np.searchsorted(edges, np.clip(u, 0.0, None), side="right") - 1, 0, len(edges) - 2)
    out = dens[np.maximum(group, 0)[:, None], k] / np.maximum(1.0 - f, 1e-12)
    out = np.where((u >= 0) & (u <= edges[-1]), out, 0.0)
    return np.where(out.sum(1, keepdims=True) > 0, out, 1.0)


def start_tables_for(n_customers: int, rho: float | None) -> int:
    """The start part's tables: the histogram, and the joint table by group of lengths
    where its cells' noise deviation leaves JOINT_AT customers per deviation (exact: always):
    at epsilon 1 on Complete Journey it would leave 27, its rows were noise, and the
    histogram would have had twice the noise variance for nothing. Reads only the number of
    customers, public in the DP plan."""
    if rho is None:
        return START_TABLES
    return (
        START_TABLES
        if n_customers / (np.sqrt(2.0) * gauss_scale(START_TABLES, rho)) >= JOINT_AT
        else 1
    )


def start_tilts(mass: np.ndarray, joint: np.ndarray | None) -> np.ndarray:
    """[START_GROUPS, bins] the start histogram's mass (>= 0) for each group of lengths,
    each row summing to the histogram's: mass(b) P(group | b's bin of the joint table)
    (a bin where the joint table holds nothing: the groups' overall shares). No joint
    table (a profile saved before it): every row the histogram. (A mixture of the
    histogram with its part after the median, to each group's mean first-event time,
    left real journeys put through the profile as easy to tell: AUC 0.956 against 0.960;
    the exact table per group, 0.939.)"""
    G, nb = len(START_GROUPS), len(mass)
    total = mass.sum()
    rows = np.tile(mass, (G, 1))
    if joint is None or total <= 0:
        return rows
    joint = np.maximum(np.asarray(joint, float).reshape(G, -1), 0.0)
    if joint.sum() <= 0:
        return rows
    K = joint.shape[1]
    col = joint.sum(0)
    given = np.where(col > 0, joint / np.maximum(col, 1e-12), (joint.sum(1) / joint.sum())[:, None])
    k = np.minimum((np.arange(nb) + 0.5) / nb * K, K - 1).astype(int)  # each bin's column
    rows = mass[None, :] * given[:, k]
    sums = rows.sum(1, keepdims=True)
    return np.where(sums > 0, rows * total / np.maximum(sums, 1e-12), mass[None, :])


def _realign(
    df: pd.DataFrame,
    log: EventLog,
    starts: np.ndarray,
    rng,
    *,
    ends: np.ndarray | None = None,
    joint: np.ndarray | None = None,
) -> pd.DataFrame:
    """Each journey moved whole to a first-event time drawn from the start histogram, among
    the times that keep its shape cell: its span's share of the time left after its first
    event stays in the same SPAN_BINS bin (so tenure and recency, which the shape matched,
    are kept: moved anywhere it fits, Complete Journey's journeys ended early and its churn
    rate came out 2.9 times the real one). With `ends` (the profile's ends table), a
    journey in the last span bin takes one of CANDIDATES times where it may go by the
    histogram's density there times that of the end it then has in the table: drawn
    from the start histogram alone, a household that arrived late and stayed to the end
    was moved towards the arrival peak (and stretched by `_stretch_ends`), and first day
    alone told real households put through a profile at epsilon 2 apart (AUC 0.73 over
    five releases; 0.67 now). With `joint` (the start part's table by group of lengths)
    each journey draws from its group's row of the histogram (`start_tilts`)."""
    s = log.schema
    window = (s.time_end - s.time_start).total_seconds()
    g = df.groupby(log.key, sort=False)[log.time]
    first, span = g.transform("min"), (g.transform("max") - g.transform("min")).dt.total_seconds()
    per = df[log.key].drop_duplicates().index  # one row per journey
    f0 = ((first.loc[per] - s.time_start).dt.total_seconds() / window).to_numpy()
    sp = span.loc[per].to_numpy() / window  # span as a fraction of the window
    room = np.maximum(1.0 - f0, 1e-12)
    b = np.where(sp > 0, np.minimum((sp / room * SPAN_BINS).astype(int), SPAN_BINS - 1), -1)
    # first-event fractions f with span / (1 - f) in bin b: 1 - f in (sp * S / (b+1), sp * S / b]
    hi = np.where(b >= 0, 1.0 - sp * SPAN_BINS / np.maximum(b + 1.0, 1.0), 1.0)
    hi = np.minimum(hi, 1.0 - sp)  # the journey stays inside the window
    lo = np.where(b > 0, 1.0 - sp * SPAN_BINS / np.maximum(b, 1), 0.0).clip(0.0)
    edges = np.arange(len(starts) + 1) / len(starts)  # (a profile saved with other bins)
    n = df.groupby(log.key, sort=False).size().loc[df.loc[per, log.key]].to_numpy()
    group = start_group(n)
    tilts = start_tilts(np.maximum(starts, 0.0), joint)
    overlap = np.clip(
        np.minimum(edges[None, 1:], hi[:, None]) - np.maximum(edges[None, :-1], lo[:, None]),
        0.0,
        None,
    )  # [N, bins] length of each bin inside the allowed interval
    mass = np.maximum(starts, 0.0)
    w = overlap  # [N, bins] times each journey's row of the histogram (in place: at a
    # million journeys an [N, bins] array is over a gigabyte)
    for g in range(len(tilts)):
        w[group == g] *= tilts[g]
    # No mass where it may go (a span the model made too short for a journey that uses
    # most of the time it has left): its first event from anywhere in the histogram, and
    # its times stretched so that it uses the same share of the time then left (so its
    # cell, tenure and recency share are kept; the rhythm redraws its gaps within the
    # span). Left where the model put them, 10% of the omnichannel simulator's DP
    # journeys started in the last 40% of the window, where no real one does.
    free = w.sum(1) <= 0
    w[free] = tilts[group[free]] * np.diff(edges)
    lo, hi = np.where(free, 0.0, lo), np.where(free, 1.0, hi)
    if w.sum() <= 0:
        return df
    k = ((w / w.sum(1, keepdims=True)).cumsum(1) > rng.random((len(per), 1))).argmax(1)
    a = np.maximum(edges[k], lo)
    z = np.minimum(edges[k + 1], hi)
    new = a + rng.random(len(per)) * np.maximum(z - a, 0.0)
    last = ~free & (b == SPAN_BINS - 1)
    if ends is not None and last.any():  # by the start histogram and the end it then has
        # candidates half from the histogram where the journey may go, half evenly there
        # (importance weights against that mixture): from the histogram alone, a late
        # arrival whose interval also held the arrival peak often had no late candidate
        m, h = int(last.sum()), CANDIDATES // 2
        wl = w[last] / w[last].sum(1, keepdims=True)
        kk = np.stack([(wl.cumsum(1) > rng.random((m, 1))).argmax(1) for _ in range(h)], 1)
        aa, zz = np.maximum(edges[kk], lo[last, None]), np.minimum(edges[kk + 1], hi[last, None])
        width = np.maximum(hi - lo, 1e-12)[last, None]
        f = np.concatenate(
            [
                aa + rng.random((m, h)) * np.maximum(zz - aa, 0.0),
                lo[last, None] + rng.random((m, h)) * width,
            ],
            axis=1,
        )
        bins = np.clip((f * len(mass)).astype(int), 0, len(mass) - 1)
        at = tilts[group[last][:, None], bins]  # each candidate's mass in its row
        # the mixture's density: a histogram draw lands in a bin by its mass there, evenly
        q = 0.5 * at / np.maximum(w[last].sum(1, keepdims=True), 1e-12) + 0.5 / width
        ends_w = _end_weights(f, sp[last], n[last], np.asarray(ends, float))
        weight = at * ends_w / np.maximum(q, 1e-12)
        total = weight.sum(1)
        pick = (weight.cumsum(1) > rng.random((len(f), 1)) * total[:, None]).argmax(1)
        new[last] = np.where(total > 0, f[np.arange(len(f)), pick], new[last])
    moved = np.zeros(len(new), dtype=bool)
    for g in range(len(tilts)):  # each group to its own tilt (changed in place)
        on = np.flatnonzero(group == g)
        sub = new[on]
        moved[on] = _rebalance(sub, tilts[g], edges, rng)
        new[on] = sub
    free = free | moved
    # A moved journey keeps its span's share of the time left within its span bin, at the
    # nearest edge of the bin if it leaves it (the last bin, whose ends are released,
    # keeps it exactly): kept exactly in every bin, a process case (span under a fifth of
    # what is left, as every real one) moved from late to early was stretched 4 times,
    # and a tenth of synthetic cases spanned 68 days or more against 36 real.
    left = np.maximum(1.0 - new, 1e-12)
    share = np.clip(sp / left, b / SPAN_BINS, (b + 1) / SPAN_BINS * (1.0 - 1e-9))
    share = np.where(b == SPAN_BINS - 1, sp / room, share)
    stretch = np.where(free & (sp > 0), share * left / np.maximum(sp, 1e-300), 1.0)
    key = df.loc[per, log.key].to_numpy()
    new_first = s.time_start + pd.to_timedelta(new * window, unit="s")
    offset = (df[log.time] - first).dt.total_seconds().to_numpy()
    factor = df[log.key].map(pd.Series(stretch, index=key)).to_numpy(float)
    start = df[log.key].map(pd.Series(new_first.to_numpy(), index=key))
    df[log.time] = start + pd.to_timedelta(offset * factor, unit="s")
    return df


def _rebalance(new: np.ndarray, mass: np.ndarray, edges: np.ndarray, rng) -> np.ndarray:
    """Where the journeys' first events (`new`, window fractions: changed in place) fill a
    bin of the start histogram past its share, the surplus, drawn at random among them,
    goes to the bins short of theirs (anywhere in the bin); returns which moved (their
    times are then stretched as `_realign`'s free journeys are, keeping their shape
    cell). Kept where its cell lets it go, a journey the model put late stayed late:
    on Complete Journey at epsilon 8 a tenth of synthetic customers arrived after day
    304 (real: 138), though the histogram itself had the late arrivals right."""
    moved = np.zeros(len(new), dtype=bool)
    p = np.maximum(mass, 0.0)
    if not len(new) or p.sum() <= 0:
        return moved
    nb = len(p)
    b = np.clip((new * nb).astype(int), 0, nb - 1)
    target = _apportion(len(new), p / p.sum(), rng)
    surplus = np.bincount(b, minlength=nb) - target
    go = [
        rng.choice(np.flatnonzero(b == k), int(surplus[k]), replace=False)
        for k in np.flatnonzero(surplus > 0)
    ]
    if not go:
        return moved
    go = np.concatenate(go)
    dest = rng.permutation(np.repeat(np.arange(nb), np.clip(-surplus, 0, None)))[: len(go)]
    new[go] = edges[dest] + rng.random(len(go)) * (edges[dest + 1] - edges[dest])
    moved[go] = True
    return moved


def match_cells(
    cell: np.ndarray,
    target: np.ndarray,
    n: int,
    rng,
    *,
    prefer: np.ndarray | None = None,
    assigned: dict[int, int] | None = None,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of n candidates whose cells follow `target` (weights): each cell takes up to
    its share of n (candidates with `prefer` first, else at random, by `weight` where
    given: drawn without replacement in proportion to it); a cell short of
    candidates borrows from the nearest cells that have some left (same length class
    first, then the next length classes). `assigned` (if given) receives candidate ->
    the cell it stands in for, for the borrowed ones."""
    p = target / target.sum()
    want = _apportion(n, p, rng)  # [cells]
    u = rng.random(len(cell))
    if weight is not None:  # Efraimidis-Spirakis: the largest u^(1 / w) first, in [0, 1)
        u = 1.0 - u ** (1.0 / np.maximum(weight, 1e-9))
    rank = u - (0 if prefer is None else prefer.astype(float))
    pools = {
        c: list(np.flatnonzero(cell == c)[np.argsort(rank[cell == c])]) for c in np.unique(cell)
    }
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
            if assigned is not None:
                assigned.update({int(i): int(c) for i in pools[d][:take]})
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


def _constants(log: EventLog, scale: float | None, rng) -> list[str]:
    cols = [c.name for c in log.schema.events]
    return _constants_from(constant_counts(log, weighted=scale is not None), cols, scale, rng)


def _constants_from(counts: np.ndarray, cols: list[str], scale: float | None, rng) -> list[str]:
    """Event columns constant within journeys: the (noisy) number of journeys in which they
    vary (`counts`, then the number of multi-event journeys: profile_counts) is below
    CONSTANT_SHARE of the (noisy) number of multi-event journeys plus CONSTANT_NOISE noise
    deviations (but never above MAX_VARYING of them), and there are at least 20 of those.
    Under DP (a noise `scale`) the counts are weighted so that one customer adds at most 1
    to all of them
    together (`constant_counts(weighted=True)`). (Without the allowance for the noise, a
    home store that never varies was called constant on a coin flip: on 1,000 customers at
    epsilon 8 the scale was about 20 and the bar 2.5.)"""
    if not cols:
        return []
    counts = noisy_counts(np.asarray(counts, float), scale, rng, raw=True)  # [C + 1]
    scale = scale or 0.0
    multi = counts[-1]
    if multi < 20:
        return []
    bar = min(CONSTANT_SHARE * multi + CONSTANT_NOISE * np.sqrt(2.0) * scale, MAX_VARYING * multi)
    return [c for c, v in zip(cols, counts[:-1], strict=True) if v < bar]
