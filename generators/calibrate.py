"""Token shares under DP: a bias on the logits of the channel and event-type heads.

    want, free, per_customer = targets(profile, schema)
    bias = calibrate(pilot, want, free=free, per_customer=per_customer)  # column -> bias

DP-SGD clips every customer's gradient to the same norm, and a class that few
customers' gradients push up is learnt last: on Complete Journey at epsilon 8 the VAE
never generated a campaign event (3.6% of real events, 63% of households have one), and
that alone told its journeys apart (AUC 0.81). Under DP the profile releases a `mix`
(generators/profile.py): each event type's and token's (`channel|event_type`) share of a
customer's events, summed over customers (each customer adds 1). `calibrate` draws a pilot
of journeys with the current bias, measures the same shares on them, and moves each
class's logit by the log ratio of target to pilot share, a few rounds (post-processing of
the model and the released tables: no further privacy cost). The model still decides
which customers and which steps get the rare classes; the bias only scales how often.
Without DP the targets are the calendar's exact token counts (shares of all events).

    want, rows = transition_targets(profile)
    B = calibrate_transitions(pilot, want, rows, tokens, init=grid_of(bias, tokens, schema))

A model trained with DP-SGD does not learn a process's strict orders either (on the
process simulator at epsilon 8, half the cases did not start with the submission every
real case starts with, and 99% broke an order real cases keep). The mix's `trans` table
holds each customer's token transitions (and its first token); `calibrate_transitions`
moves a bias on each (previous token, next token) pair, row by row, until the pilot's
transitions match: a step the release does not show above its noise is pushed towards
never. The bias acts on the channel and event-type heads jointly (nets.EventHeads).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from journeylab.generators.calendar import Calendar
from journeylab.generators.profile import (
    HAS_KNOWN,
    MIX_KNOWN,
    mix_known,
    mix_transitions,
    mix_usable,
    share_sums,
    transition_sums,
)
from journeylab.generators.profile_counts import presence_sums_by_value, token_keys
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema

ROUNDS = 8  # at most; fewer once every share is within TOLERANCE
UNSHOWN = 4.0  # bias a token the release does not show, of a type it shows, starts at
TOLERANCE = 0.05  # |log(target / pilot share)|, for shares of at least 1%
CLIP = 8.0  # largest bias either way (a factor of e^8 on a class's odds)
FLOOR = 1e-4  # shares below this count as this (a class noise zeroed is pushed down, not to -inf)
ROW_SIGNAL = 1.0  # a transition row is calibrated when its known cells sum past this many sds
PILOT_ROW = 30  # ... and the pilot has at least this many of its transitions
RAKE_ROUNDS = 30  # iterative proportional fitting of the transition targets to the shares
RAKE_LIMIT = 4.0  # ... moving no column by more than this factor
STEP = 3.0  # largest change of one bias in one round (a cell the pilot missed is not at +8)
REST_NOISE = 2.0  # deviations of its summed noise a column's unknown cells must hold together
REPEAT_SIGNAL = 2.0  # a token's repeat share is calibrated when its presence is this many sds
REPEAT_MAX = 0.0  # the largest repeat bias: a token the journey has had is never pushed up
REPEAT_SLACK = 0.05  # ... and a pilot's share further than this (or its deviation) from it
ONCE_SLACK = 0.01  # ... for a token no journey has twice (`JourneyProfile.once`), from 0
REPEAT_MOST = 0.5  # a token whose released repeat share is this or more is left to the model
LOUD = 3.0  # deviations of a token's share sum under which its presence tells its share
HELD_PRIOR = 5.0  # pilot holders (weighted) a token's share-to-presence ratio is shrunk with


def held_shares(profile, pilot: Callable[[], EventLog]) -> list[float] | None:
    """Per token of the mix, the share of events (summed over customers) that its presence
    implies where its own share is too faint to tell (None elsewhere): a token the presence
    calls known whose share sum stands under LOUD deviations gets its presence sum times
    the model's own ratio of share to presence (from `pilot()`, journeys of the model
    before calibration, drawn only when some token is faint; shrunk towards one event per
    holder, whose chance of being one grows with its length, where the pilot has few
    holders). None without a presence table.

    Read off the noise alone, such a share is anything: on Complete Journey at epsilon 8
    coupon redemptions (a quarter of households have one; 5 customers' worth of shares
    against a deviation of 5.3) came out at -3.4 and the calibrated VAE made none (a
    customer's number of distinct event types told it apart, AUC 0.65); at epsilon 1 the
    third direct-mail channel's campaigns came out at 2% to 4% of events against 0.3%. The
    presence (103 and 91 weighted customers) is far louder. Post-processing of the release
    and the model: no privacy cost."""
    mix = profile.mix
    if not mix_usable(mix) or "has" not in mix:
        return None
    tokens = Calendar.from_dict(profile.calendar).tokens
    raw = np.asarray(mix["token"], float)
    has = np.asarray(mix["has"], float)
    sd = np.sqrt(2.0) * mix["scale"][0]
    known = has > HAS_KNOWN * sd
    faint = known & (raw < LOUD * sd)
    if len(raw) != len(tokens) or not faint.any():
        return None
    pilot = pilot()
    if not len(pilot.df):
        return None
    of = token_keys(pilot.df, pilot)
    pres = presence_sums_by_value(pilot, of)["has"].reindex(tokens, fill_value=0.0).to_numpy()
    got = share_sums(pilot, of, tokens)
    k = of.groupby(pilot.df[pilot.key].to_numpy(), sort=False).nunique().to_numpy(float)
    one = np.sqrt(k + 1.0).sum() / max(len(pilot.df), 1)  # one event per holder, by length
    ratio = (got + HELD_PRIOR * one) / (pres + HELD_PRIOR)
    told = np.maximum(has, 0.0) * ratio
    return [float(x) if f else None for x, f in zip(told, faint, strict=True)]  # JSON: no NaN


def targets(profile, schema: Schema) -> tuple[dict, dict, bool]:
    """(want, free, per_customer): per token column (channel, event type) each declared
    value's target share; which values are left to the model (under DP, those whose noisy
    sum is under `mix_known`'s bar: their share is noise); and whether shares are of each
    customer's events averaged over customers (the profile's `mix`, under DP: a channel's
    share is the sum of its known tokens') rather than of all events (the exact calendar,
    without DP)."""
    if profile.mix:
        if not mix_usable(profile.mix):  # pure noise: the model knows better
            return {}, {}, True
        tokens, token_known = mix_known(profile.mix, "token")
        cal = Calendar.from_dict(profile.calendar)
        total = max(float(np.maximum(tokens, 0.0).sum()), 1.0)
        # each known token's share clipped at 0 before it is summed into its channel and
        # type: at epsilon 1 on Complete Journey the third direct-mail channel's campaigns
        # (present: 2.9 deviations) came out at -35 customers' worth of shares, which took
        # the campaigns' type from 3.7% of events to 0.8%, and the DP VAE drew none
        by = pd.DataFrame(
            {"sum": np.where(token_known, np.maximum(tokens, 0.0), 0.0), "known": token_known}
        )
        want, free = {}, {}
        for j, col in enumerate(("channel", "event_type")):
            part = pd.Series([t.split("|", 1)[j] if "|" in t else t for t in cal.tokens])
            values = [str(v) for v in schema.column(col).values or []]
            g = by.groupby(part.to_numpy()).sum().reindex(values, fill_value=0)
            n_known = g["known"].to_numpy(float)
            # a value the data has is held to its released share even when that is small
            # or came out at 0: left to the model, a DP VAE made 5% of the omnichannel
            # simulator's events call-centre promo emails (a token the data never has that
            # passed the presence bar, its share at -15) and cut web purchases from 2.4%
            # to 0.5%; a rare real token lost this way (Complete Journey's coupon
            # redemptions, 5 customers' worth of shares) costs less
            want[col] = np.maximum(g["sum"].to_numpy(float), 0.0) / total
            free[col] = n_known == 0
        return want, free, True
    cal = Calendar.from_dict(profile.calendar)
    mass = np.maximum(cal.token_mass(), 0.0) * cal.valid_tokens()
    if not cal.tokens or mass.sum() <= 0:
        return {}, {}, False
    parts = pd.DataFrame([t.split("|", 1) for t in cal.tokens], columns=["channel", "event_type"])
    want = {}
    for col in ("channel", "event_type"):
        values = [str(v) for v in schema.column(col).values or []]
        share = pd.Series(mass).groupby(parts[col].to_numpy()).sum().reindex(values, fill_value=0)
        want[col] = share.to_numpy(float) / mass.sum()
    return want, {c: np.zeros(len(w), dtype=bool) for c, w in want.items()}, cal.scale > 0


def shares(log: EventLog, col: str, values: list, *, per_customer: bool = True) -> np.ndarray:
    """[values] each value's share of a customer's events averaged over customers
    (`per_customer`), or of all events."""
    if not len(log.df):
        return np.zeros(len(values))
    if per_customer:
        return share_sums(log, log.df[col], values) / log.n_customers
    counts = log.df[col].astype(str).value_counts().reindex([str(v) for v in values], fill_value=0)
    return counts.to_numpy(float) / len(log.df)


def calibrate(
    pilot: Callable[[dict[str, np.ndarray]], EventLog],
    want: dict[str, np.ndarray],
    *,
    free: dict[str, np.ndarray] | None = None,
    per_customer: bool = True,
    rounds: int = ROUNDS,
) -> dict[str, list[float]]:
    """Logit biases per column such that `pilot(bias)` (journeys drawn with them) shows
    each value's share (see `shares`) as in `want`; `free` values keep the model's
    relative shares of what the others leave."""
    bias = {col: np.zeros(len(t)) for col, t in want.items()}
    for _ in range(rounds):
        log = pilot(bias)
        worst = 0.0
        for col, t in want.items():
            values = log.schema.column(col).values or []
            got = shares(log, col, values, per_customer=per_customer)
            t = _with_free(t, got, None if free is None else free.get(col))
            step = np.log(np.maximum(t, FLOOR)) - np.log(np.maximum(got, FLOOR))
            worst = max(worst, float(np.abs(step[np.maximum(t, got) >= 0.01]).max(initial=0)))
            b = bias[col] + step
            bias[col] = np.clip(b - b.mean(), -CLIP, CLIP)  # softmax ignores a common shift
        if worst < TOLERANCE:
            break
    return {col: b.tolist() for col, b in bias.items()}


def _with_free(want: np.ndarray, got: np.ndarray, free: np.ndarray | None) -> np.ndarray:
    """Targets where the free values share what the known ones leave, in the model's
    proportions, but never less than half of what the model gives them (the known values'
    noisy shares can sum past 1: on a 30-customer training set the VAE stopped making
    purchases); the known values share the rest in their released proportions."""
    if free is None or not free.any():
        return want
    known = np.where(free, 0.0, want)
    if known.sum() <= 0:
        return got
    mine = got[free].sum()
    rest = min(max(1.0 - known.sum(), 0.5 * mine), 1.0)  # the free values' total
    spread = got / mine if mine > 0 else np.full(len(got), 1.0 / free.sum())
    return np.where(free, spread * rest, known / known.sum() * (1.0 - rest))


def transition_targets(profile) -> tuple[np.ndarray, np.ndarray] | None:
    """(want [1 + T, T], rows [1 + T]): each row's target shares of the next token (what
    each cell shows above `mix_known`'s bar; the others 0) and which rows say enough to
    be calibrated; None without a usable transition table."""
    tokens = Calendar.from_dict(profile.calendar).tokens
    got = mix_transitions(profile.mix, tokens)
    if got is None:
        return None
    sums, known = got
    sd = np.sqrt(2.0) * profile.mix["scale"][0]
    # A cell above the bar counts for what it shows above it (soft thresholding): a cell
    # the data never has passes the bar 6% of the time, by about a noise scale, so the
    # steps a process never takes stay rare (cut at the bar, they kept 5% of their row).
    kept = np.maximum(sums - MIX_KNOWN * sd, 0.0)
    # What a token's column holds beyond its known cells (its share in the mix's token
    # table less theirs) goes to its other rows by their mass: a token that follows many
    # tokens, each too thinly to pass the bar (the omnichannel simulator's cart
    # abandonments), keeps its mass; a process's step whose known cells hold it all
    # gets nothing more.
    tok_sums, tok_known = mix_known(profile.mix, "token")
    total = np.where(tok_known, np.maximum(tok_sums, 0.0), 0.0)
    if transition_norm(profile) == "l2":
        # Weighed for an L2 norm, the table is in units of its own (a token's column
        # is 1.7 to 4.9 times its share of events on the process simulator, by how its
        # customers' transitions repeat): the rest is what the column's other cells hold
        # together, beyond two deviations of their summed noise (the start row's cells
        # count only when known). (The token shares scaled by one factor gave the
        # submissions a rest of 140 customers' worth, spread as false transitions.)
        # Its share of events is a floor (a customer's L2 weights are never under its
        # shares): at epsilon 1 on Complete Journey the campaigns' cells were all under
        # the bar, and without the floor the first direct-mail channel's campaigns came out
        # at 0.1% of events (2.2% real).
        other = ~known
        other[0] = False
        free = np.where(other, sums, 0.0).sum(0)
        in_known = np.where(known, sums, 0.0).sum(0)
        rest = np.maximum(free - REST_NOISE * sd * np.sqrt(other.sum(0)), total - in_known)
        rest = np.maximum(rest, 0.0)  # [T]
        total = in_known + rest
    else:
        rest = np.maximum(total - np.where(known, sums, 0.0).sum(0), 0.0)  # [T]
    # (only to cells the release shows above 0: spread over every row by mass, a process's
    # offers were sent straight after its submissions)
    # Not to the start of a journey, whose cells count only when known: the start is one
    # transition per journey, and a noise cell there drew a column's rest as soon as the
    # column's cell after the heavy rows came out under 0 (on Complete Journey 9% of
    # synthetic journeys began with a third-channel campaign, 0.5% of real ones).
    mass = kept.sum(1, keepdims=True)  # [1 + T, 1]
    # A row is calibrated on what its own cells show, not on what the columns' rests add
    # to it: at epsilon 1 on Complete Journey the campaigns' cells after a purchase came
    # out under 0, so their whole rest went to the one thin row above 0 (after a coupon
    # redemption, 0.5% of events), which the added mass alone made "calibrated": 81% of
    # its next events were to be campaigns and none after a purchase, and the DP VAE drew
    # no campaigns at all. (A thin row's rest goes on to the calibrated rows, below.)
    rows = mass[:, 0] > ROW_SIGNAL * sd
    if not rows.any():
        return None
    spread = np.where(known | (sums <= 0), 0.0, mass)  # [1 + T, T]
    spread[0] = 0.0
    add = spread / np.maximum(spread.sum(0, keepdims=True), 1e-12) * rest
    # A column's mass in rows too thin to be calibrated goes to the calibrated ones but the
    # start, by their mass (as if it followed any token alike), up to what the column's
    # share leaves: on Complete Journey at epsilon 8 the first direct-mail channel's cells
    # after a purchase and at the start came out under 0, its one known cell followed the
    # second channel, a row too thin to calibrate, and calibration pushed it to never in
    # the rows that are (60% of real customers get one). (A known cell counts for its
    # whole mass there, as it does against the column's rest. Spread to cells above 0
    # only, a coupon redemption's went to the start: 20% of synthetic journeys began with
    # one, none real.)
    lost = (np.where(known, np.maximum(sums, 0.0), 0.0) + add)[~rows].sum(0)  # [T]
    lost += np.where(spread.sum(0) > 0, 0.0, rest)  # a rest no cell above 0 could take
    kept = kept + add
    kept[~rows] = 0.0
    lost = np.minimum(lost, np.maximum(total - kept.sum(0), 0.0))
    again = np.where(rows[:, None], np.broadcast_to(mass, kept.shape), 0.0)
    again[0] = 0.0
    kept = kept + again / np.maximum(again.sum(0, keepdims=True), 1e-12) * lost
    total = kept.sum(1)
    return kept / np.maximum(total, 1e-12)[:, None], rows


def transition_norm(profile) -> str:
    """How the mix's transition table weighs a customer (`transition_sums`' `norm`): "l2",
    or "l1" (shares of its events) in a model saved before."""
    return str((profile.mix or {}).get("trans_norm", "l1"))


def unshown(profile) -> np.ndarray | None:
    """[T] the calendar tokens the mix does not know (`mix_known` by presence) whose event
    type it knows on another channel: a type the data has, on a channel it is not shown
    on (a process's workflow step as an application event). `grid_of`'s callers start
    their columns UNSHOWN lower in every row: the transition calibration moves only rows
    it can measure, and at epsilon 8 on the process simulator the DP VAE put 7.6% of its
    events on such tokens (none real), each too thin to stand out of the release's noise
    for the calendar's remap (`_remap_invalid`), and the rows after them, never
    calibrated, went anywhere. None without a usable mix."""
    if not mix_usable(profile.mix):
        return None
    tokens = Calendar.from_dict(profile.calendar).tokens
    _, known = mix_known(profile.mix, "token")
    if len(known) != len(tokens):
        return None
    types = np.array([t.split("|", 1)[-1] for t in tokens])
    shown = {str(x) for x in types[known]}
    return ~known & np.isin(types, list(shown))


def token_marginal(profile) -> np.ndarray | None:
    """[T] each calendar token's released share of events (the mix's token table; 0
    where the token is not known or its share came out at 0 or below), for
    `calibrate_transitions`' raking; None without a mix."""
    if not mix_usable(profile.mix):
        return None
    sums, known = mix_known(profile.mix, "token")
    return np.where(known, np.maximum(sums, 0.0), 0.0)


def _raked(
    want: np.ndarray, mass: np.ndarray, rows: np.ndarray, marginal: np.ndarray
) -> np.ndarray:
    """`want` with its `rows` raked (iterative proportional fitting: columns scaled, rows
    renormalised, a cell at 0 stays 0) until, weighted by the row masses `mass`, its
    columns hold the shares `marginal` (NaN columns, and NaN cells, are left alone).
    Transition rows read cell by cell off a noisy table do not add up to the tokens'
    shares: on the omnichannel simulator at epsilon 8 they implied 8% of events ad
    impressions against a released 14% (17% real) and 10% app cart additions against 3%,
    and the calibrated VAE made them so."""
    out = np.array(want, dtype=float)
    cols = ~np.isnan(marginal) & (np.nan_to_num(marginal) > 0)
    sub = out[rows][:, cols]
    if not rows.any() or not cols.any() or np.isnan(sub).all():
        return out
    w = mass[rows][:, None]
    t = marginal[cols] / marginal[cols].sum()
    x0 = np.nan_to_num(sub)
    other = np.nan_to_num(out[rows][:, ~cols]).sum(1, keepdims=True)  # kept as they are
    F, x = np.ones(x0.shape[1]), x0
    for _ in range(RAKE_ROUNDS):
        implied = (w * x).sum(0)
        if implied.sum() <= 0:
            break
        f = np.where(implied > 0, t / np.maximum(implied / implied.sum(), 1e-12), 1.0)
        # a column's factor stays within RAKE_LIMIT either way: raked freely, the noise
        # cells of a row that should hold one token (every journey starts with a view)
        # grew with their column until a quarter of journeys started elsewhere
        F = np.clip(F * f, 1.0 / RAKE_LIMIT, RAKE_LIMIT)
        x = x0 * F
        x = x / np.maximum(x.sum(1, keepdims=True), 1e-12) * (1.0 - np.minimum(other, 1.0))
    block = out[rows]
    block[:, cols] = np.where(np.isnan(sub), np.nan, x)
    out[rows] = block
    return out


def grid_of(bias: dict[str, list[float]] | None, tokens: list[str], schema: Schema) -> np.ndarray:
    """[1 + T, T] the per-column biases as a transition bias (the same in every row): the
    token channel|event_type gets the channel's plus the event type's."""
    out = np.zeros(len(tokens))
    for j, col in enumerate(("channel", "event_type")):
        b = (bias or {}).get(col)
        if b is None:
            continue
        index = {str(v): i for i, v in enumerate(schema.column(col).values or [])}
        out += np.array([b[index[t.split("|", 1)[j]]] for t in tokens])
    return np.tile(out, (1 + len(tokens), 1))


def calibrate_transitions(
    pilot: Callable[[np.ndarray], EventLog],
    want: np.ndarray,
    rows: np.ndarray,
    tokens: list[str],
    *,
    init: np.ndarray,
    marginal: np.ndarray | None = None,
    rounds: int = ROUNDS,
    norm: str = "l1",
) -> list[list[float]]:
    """A bias B [1 + T, T] on (previous token, next token) such that `pilot(B)` shows in
    each of `rows` the next-token shares `want` (each customer's transitions as shares of
    its events, as the release counts them; NaN: the model's share, see `_with_free`);
    rows the pilot rarely reaches keep `init`. `marginal` [T] (each token's share of
    events, NaN: free): each round the rows' targets are raked (`_raked`) so that, with
    the pilot's own row masses, the tokens come out in these shares."""
    B, _ = calibrate_steps(
        lambda b, _: pilot(b),
        want,
        rows,
        tokens,
        init=init,
        marginal=marginal,
        rounds=rounds,
        norm=norm,
    )
    return B


def calibrate_steps(
    pilot: Callable[[np.ndarray, np.ndarray | None], EventLog],
    want: np.ndarray,
    rows: np.ndarray,
    tokens: list[str],
    *,
    init: np.ndarray,
    marginal: np.ndarray | None = None,
    repeats: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    rounds: int = ROUNDS,
    norm: str = "l1",
) -> tuple[list[list[float]], list[float] | None]:
    """(B, R): the transition bias of `calibrate_transitions` and, given `repeats` (want,
    slack, active: `repeat_targets`), a bias R [T] on each token once the journey has had
    it, both moved from the same pilot `pilot(B, R)` each round (moved one after the
    other, the transitions gave back the repeats the repeat bias took: a token that
    comes back less is a smaller share of events, and its column was raised again)."""
    B = np.array(init, dtype=float)
    R = None if repeats is None else np.zeros(len(tokens))
    if R is not None:  # a once-only token (held to 0 within ONCE_SLACK) starts held back
        R[repeats[2] & (repeats[0] == 0.0) & (repeats[1] <= ONCE_SLACK)] = -CLIP
    for _ in range(rounds):
        log = pilot(B, R)
        worst = _transition_round(B, log, want, rows, tokens, marginal, norm)
        moved = R is not None and _repeat_round(R, log, *repeats, tokens)
        if worst < TOLERANCE and not moved:
            break
    return B.tolist(), None if R is None else R.tolist()


def _transition_round(
    B: np.ndarray,
    log: EventLog,
    want: np.ndarray,
    rows: np.ndarray,
    tokens: list[str],
    marginal: np.ndarray | None,
    norm: str = "l1",
) -> float:
    """One round of `calibrate_transitions` on B (in place); the largest step taken. The
    pilot's rows are weighed as the release weighs them (`norm`); the raking weighs them
    by their shares of events, as the marginal's token shares are."""
    by_share = transition_sums(log, tokens)
    sums = by_share if norm == "l1" else transition_sums(log, tokens, norm=norm)
    seen = transition_sums(log, tokens, per_customer=False).sum(1)
    worst = 0.0
    live = rows & (seen >= PILOT_ROW)
    aim = want if marginal is None else _raked(want, by_share.sum(1), live, marginal)
    for r in np.flatnonzero(live):
        got = sums[r] / max(sums[r].sum(), 1e-12)
        t = _with_free(np.nan_to_num(aim[r]), got, np.isnan(aim[r]))  # NaN: the model's
        floor = max(FLOOR, 0.5 / seen[r])  # finer than one pilot event is not seen
        step = np.log(np.maximum(t, floor)) - np.log(np.maximum(got, floor))
        big = np.maximum(t, got) >= 0.01
        worst = max(worst, float(np.abs(step[big]).max(initial=0)))
        b = B[r] + np.clip(step, -STEP, STEP)
        B[r] = np.clip(b - b.mean(), -CLIP, CLIP)  # only differences within a row count
    return worst


def repeat_targets(profile) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(want [T], slack [T], active [T]): each token's share of the customers that have it
    that have it on more than one event (the mix's again / has, each customer weighted as
    there), how far from it a pilot may stay (its deviation, at least REPEAT_SLACK), and
    which tokens are present loudly enough (REPEAT_SIGNAL deviations) to calibrate; None
    without a mix that has them. A token no journey has twice (`JourneyProfile.once`) is
    held to 0 within ONCE_SLACK (and `calibrate_steps` starts it held back).

    Each token's noisy ratio is shrunk toward the ratio of all active tokens together by
    the share of its spread that its noise explains (James-Stein): at 1,000 customers and
    epsilon 8 a token held by every process case has a ratio within about 0.17, about the
    spread of the true ratios, so most come out near the pooled ratio (0.1 to 0.2 on the
    process simulator, where the DP VAE repeated a step in 20% to 66% of its cases)."""
    mix = profile.mix
    if not mix_usable(mix) or "again" not in mix:
        return None
    has, again = np.asarray(mix["has"], float), np.asarray(mix["again"], float)
    _, known = mix_known(mix, "token")
    active = known & (has > REPEAT_SIGNAL * np.sqrt(2.0) * mix["scale"][0])
    if not active.any():
        return None
    h = has[active]
    ratio = np.clip(again[active] / h, 0.0, 1.0)
    pooled = float(np.clip(np.maximum(again[active], 0.0).sum() / h.sum(), 0.0, 1.0))
    noise = 2.0 * mix["scale"][0] ** 2 / h**2  # the ratio's variance from again's noise
    # the true ratios' spread, each token's squared distance less its noise weighted by
    # its presence: unweighted, one token present 2 deviations above 0 (noise variance
    # 0.23) made the spread 0 and every ratio the pooled one, and at epsilon 1 Complete
    # Journey's purchases (0.99 real, measured within 0.04) were held to 0.74: a fifth of
    # the synthetic customers could not buy twice, and their journeys filled with coupons
    signal = max(float(np.average((ratio - pooled) ** 2 - noise, weights=h)), 0.0)
    keep = signal / (signal + noise)
    want, slack = np.zeros(len(has)), np.full(len(has), REPEAT_SLACK)
    want[active] = pooled + keep * (ratio - pooled)
    slack[active] = np.maximum(np.sqrt(keep * noise), REPEAT_SLACK)
    # Only tokens most holders have once are held back: a token most of its holders
    # repeat is left to the model (holding back a basket that 99% of customers buy again,
    # to a released 0.90, left single-purchase customers whose other events filled with
    # coupons; the loops the bias is for are a process's steps, repeated by a few)
    active &= want < REPEAT_MOST
    once = profile.once() if hasattr(profile, "once") else None
    if once is not None and len(once) == len(has):  # never twice: 0, not shrunk toward all
        want[once], slack[once], active = 0.0, ONCE_SLACK, active | once
    return want, slack, active


def repeat_shares(log: EventLog, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """([T] again / has per token, weighted as the mix weighs customers; [T] the customers
    that have each token)."""
    if not len(log.df):
        return np.zeros(len(tokens)), np.zeros(len(tokens))
    of = pd.Series(token_keys(log.df, log), index=log.df.index)
    p = presence_sums_by_value(log, of).reindex(tokens, fill_value=0.0)
    has, again = p["has"].to_numpy(), p["again"].to_numpy()
    return np.where(has > 0, again / np.maximum(has, 1e-12), 0.0), p["holders"].to_numpy()


def _repeat_round(
    R: np.ndarray,
    log: EventLog,
    want: np.ndarray,
    slack: np.ndarray,
    active: np.ndarray,
    tokens: list[str],
) -> bool:
    """One round of the repeat bias R (in place): each `active` token whose share of
    holders that have it again is further than `slack` from `want` in `log` is moved to
    the nearer edge (its odds by their log ratio, as `calibrate` moves shares; inside,
    the model is left alone). A token the pilot gives fewer than PILOT_ROW holders keeps
    its bias. Whether any moved."""
    got, holders = repeat_shares(log, tokens)
    live = active & (holders >= PILOT_ROW) & (np.abs(got - want) > slack)
    if not live.any():
        return False
    floor = np.maximum(0.01, 0.5 / np.maximum(holders, 1.0))
    t = np.clip(np.clip(got, want - slack, want + slack), floor, 1.0 - floor)
    g = np.clip(got, floor, 1.0 - floor)
    step = np.where(live, np.log(t / (1 - t)) - np.log(g / (1 - g)), 0.0)
    R[:] = np.clip(R + np.clip(step, -STEP, STEP), -CLIP, REPEAT_MAX)
    return True
