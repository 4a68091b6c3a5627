"""Waves: events sent to many customers on the same dates (campaigns, mailings).

    counts = wave_counts(log, tokens, days, private=True)    # [T, days] per token and date
    waves = release_waves(noisy, tokens, scale)              # {token: {dates, weights, rest}}
    df = apply_waves(df, log, waves, tok, tokens, rng)       # their events put on those dates

A broadcast is one decision for thousands of customers: Complete Journey's campaigns
reach its households on 25 dates of 427 days (99% of them), the omnichannel simulator's
promo emails on 6 of 180. A generator that learns each journey by itself spreads them over
every day (at epsilon 8 Complete Journey's campaigns fell on 359 dates), and the dates a
customer's campaigns fall on, measured against the other customers' (`journeys.features`
`wave_of_*`), told synthetic households apart on their own (AUC 0.87 without DP, 0.92 at
epsilon 8).

The table counts each token's events by date over the declared time window. Under DP
each token row a customer has is scaled so that its rows of few events weigh most
(`wave_counts`): one customer moves the table by at most 1 in L2. A token is
a wave token where the release says so clearly (`wave_days`): its cells that stand above
what noise puts any cell of the table one time in ten (at least 3 deviations; and over
WAVE_STRAY of its busiest date: a few strays on other days do not count), together
WAVE_BAR deviations of their sum above 0, hold WAVE_MASS of the row's mass (the rest's
sum is allowed 2 deviations of its noise more), on at most WAVE_DAYS of the dates an
even spread of as much mass would fill (purchases, visits and a process's steps fill most
days; a rare step's 33 events on 32 dates are an even spread of 33). Choosing them is
post-processing of the release.

`apply_waves` moves each event of a wave token to one of its token's dates, drawn by the
date's weight times exp(-distance / tau) (tau: a quarter of the typical spacing of the
dates), so
that the model's timing is kept as far as the dates allow, or leaves it where it is by
the mass the release leaves off those dates (`draw_dates`); the events after it on the
same day of its journey (the email opened after the promo) move with it. It stays within
the days of its journey's other events (unless it was first or last): a broadcast
reaches a customer who is there (a saved omnichannel sample, its promo emails moved
anywhere: 2.3% of its journeys broke an order that real ones keep, such as no journey
beginning with a promo email, against 0.3% before and 0.8% kept within those days), and
moved past its last, tenure and recency would change. It may pass other events of its
journey: kept between its neighbours, few reached a date (detection of that sample 0.88
against 0.75, the orders broken alike); moving the rest of the journey with it, as the
weekdays' snap does, moved journeys' ends (0.80).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from journeylab.journeys.eventlog import EventLog

WAVE_MASS = 0.8  # share of a token's mass its clear dates must hold
WAVE_DAYS = 0.25  # ... on at most this share of the dates an even spread would fill
WAVE_STRAY = 0.05  # a clear date holds at least this share of the token's busiest date
WAVE_MIN = 5.0  # exact counts: the clear dates' mean count (a rare token is no wave)
WAVE_BAR = 6.0  # noise deviations (of their sum) the clear dates' mass must stand
# the dates table's share of the calendar's rho, in tables: at 1 (at epsilon 8 on Complete
# Journey) direct_mail_b's 13 dates stood within the noise and none was released (2 with
# `wave_counts`' weights); at 4, 7 (the other calendar tables' noise 10% higher)
WAVE_WEIGHT = 4
WAVE_AT = 100.0  # customers per noise deviation of a cell the dates table needs under DP
MAX_CELLS = 4_000_000  # tokens x days the table may have (else no waves are counted)
_DAY_NS = 86_400 * 1_000_000_000
_BLOCK = 100_000  # wave events drawn at once
APART_S = 60  # seconds a moved event keeps from its journey's others (`_apart`)
APART_TRIES = 6


def window_days(log: EventLog) -> int | None:
    """Dates in the declared time window (None: no window declared, no waves)."""
    s = log.schema
    if s.time_start is None or s.time_end is None:
        return None
    first = s.time_start.value // _DAY_NS
    return int((s.time_end.value - 1) // _DAY_NS - first + 1)


def event_days(log: EventLog, df: pd.DataFrame | None = None) -> np.ndarray:
    """Each event's date as days from the window's first date."""
    df = log.df if df is None else df
    t = df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
    return t // _DAY_NS - log.schema.time_start.value // _DAY_NS


def wave_counts(log: EventLog, tok: np.ndarray, T: int, days: int, *, private: bool):
    """[T, days] events of each token (codes `tok`, 0..T-1) by date; under DP each row a
    customer has scaled to an L2 norm n_r with n_r^2 in proportion to 1 / (its events in
    the row), the squares summing to 1 (`calendar.row_l2_table(sparse=True)`): a row of
    few events, as a broadcast's are, weighs more than a row of many. With every row
    alike, a household's campaign rows beside its baskets had half of the norm and an
    omnichannel customer's promo emails beside nine other rows a third, and at epsilon 8
    Complete Journey's direct_mail_b dates stood at 2.5 to 5.7 noise deviations (none
    released)."""
    from journeylab.generators.calendar import row_l2_table

    day = np.clip(event_days(log), 0, days - 1)
    if not private:
        return np.bincount(tok * days + day, minlength=T * days).reshape(T, days).astype(float)
    who = pd.factorize(log.df[log.key], sort=False)[0]
    return row_l2_table(tok, day, who, T, days, sparse=True)


def wave_days(row: np.ndarray, sd: float, cells: int = 1) -> dict | None:
    """{"dates", "weights", "rest"} of a token's waves from its released row (noise
    deviation `sd`, 0: exact; `cells`: the whole table's, whose noise may put one cell
    past the bar one time in ten; rest: the other dates' mass per date, at least 0), or
    None where the row is no wave token's (module docstring)."""
    row = np.asarray(row, float)
    if not len(row) or row.max() <= 0:
        return None
    bar = max(3.0, np.sqrt(2.0 * np.log(10.0 * max(cells, 1)))) * sd
    clear = (row > bar) & (row >= WAVE_STRAY * row.max()) & (row > 0)
    n = int(clear.sum())
    mass = row[clear].sum()
    rest = row.sum() - mass  # the other dates' (its noise: sd sqrt(dates))
    if n == 0 or rest > (1.0 / WAVE_MASS - 1.0) * mass + 2.0 * sd * np.sqrt(len(row) - n):
        return None
    if mass < WAVE_BAR * sd * np.sqrt(n) or (sd == 0 and mass / n < WAVE_MIN):
        return None
    filled = len(row) * (1.0 - np.exp(-mass / len(row)))  # dates an even spread fills
    if n > WAVE_DAYS * filled:
        return None
    at = np.flatnonzero(clear)
    # the rest's mass where it stands 2 deviations of its noise above 0: under DP the
    # other dates' summed noise (sd sqrt(dates)) dwarfs it (at epsilon 8 Complete
    # Journey's direct_mail_a, with nothing off its 4 dates, had a rest of 98 events'
    # worth against a deviation of 260), and part of a broadcast's events stayed where
    # the model put them, off every crowded date: the reviewer's first give-aways
    # (`wave_of_*`, AUC 0.68 to 0.72)
    rest = max(rest - 2.0 * sd * np.sqrt(len(row) - n), 0.0) / max(len(row) - n, 1)
    return {"dates": at.tolist(), "weights": row[at].tolist(), "rest": float(rest)}


def release_waves(noisy: np.ndarray, tokens: list[str], scale: float) -> dict | None:
    """{token: `wave_days`} of the wave tokens among the named ones (rows of `noisy`
    beyond the names, the pooled rest, are no token's); None if none."""
    sd = np.sqrt(2.0) * (scale or 0.0)
    out = {}
    for k, name in enumerate(tokens):
        found = wave_days(noisy[k], sd, noisy.size)
        if found is not None:
            out[name] = found
    return out or None


def _tau(dates: np.ndarray) -> float:
    """A quarter of the typical spacing of a token's dates (at least a day): at half the
    spacing, events half way between two dates went to the farther one a third of the
    time, and (before an event on a date stayed there) a real campaign went to the next
    mailing 1 time in 4: the gaps before campaigns gave a real log put through the
    profile away."""
    if len(dates) < 2:
        return 1.0
    return max(float(np.median(np.diff(np.sort(dates)))) / 4.0, 1.0)


def draw_dates(
    x: np.ndarray,
    wave: dict,
    rng,
    lo: np.ndarray | None = None,
    hi: np.ndarray | None = None,
    taken: np.ndarray | None = None,
) -> np.ndarray:
    """For each day x, a date drawn by weight x exp(-|date - x| / tau), or x itself by
    the other dates' mass per date times 2 tau (what the same kernel gathers of an even
    spread): where the release puts a share of the token's events off its clear dates
    (the dates it could not tell from noise), an event far from every clear date stays.
    Only dates within [lo, hi] (per event) and not `taken` ([events, dates]) are drawn;
    with none there, x stays; x on one of the dates (not taken) stays there, and x on a
    taken date stays only where no other date is open."""
    dates = np.asarray(wave["dates"], np.int64)
    tau = _tau(dates)
    w = np.r_[np.maximum(np.asarray(wave["weights"], float), 0.0), wave["rest"] * 2.0 * tau]
    w[-1] = max(w[-1], 1e-300)  # staying is always possible
    lo = np.full(len(x), np.iinfo(np.int64).min) if lo is None else lo
    hi = np.full(len(x), np.iinfo(np.int64).max) if hi is None else hi
    out = np.empty(len(x), dtype=np.int64)
    for a in range(0, len(x), _BLOCK):
        xa, b = x[a : a + _BLOCK], slice(a, a + _BLOCK)
        d = np.c_[np.abs(dates[None, :] - xa[:, None]) / tau, np.zeros(len(xa))]
        inside = (dates[None, :] >= lo[b, None]) & (dates[None, :] <= hi[b, None])
        if taken is not None:
            inside &= ~taken[b]
            # staying on a date the journey's earlier event took: only when nothing else
            # is open (so two of its events do not share the date)
            d[:, -1] = np.where((taken[b] & (dates[None, :] == xa[:, None])).any(1), 700.0, 0.0)
        d[:, :-1] = np.where(inside, d[:, :-1], np.inf)
        with np.errstate(divide="ignore"):
            logp = np.log(w)[None, :] - d
        p = np.exp(logp - logp.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        k = (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)
        out[a : a + _BLOCK] = np.where(k < len(dates), dates[np.minimum(k, len(dates) - 1)], xa)
    on = dates[None, :] == x[:, None]
    if taken is not None:
        on &= ~taken
    return np.where(on.any(1), x, out)


def _journey_range(day: np.ndarray, j: np.ndarray, use: np.ndarray):
    """Per event, the first and last day of its journey's events where `use` (none: no
    bound)."""
    n = j.max() + 1
    big = np.iinfo(np.int64).max
    first = np.full(n, big)
    last = np.full(n, -big)
    np.minimum.at(first, j[use], day[use])
    np.maximum.at(last, j[use], day[use])
    none = first[j] == big
    return np.where(none, -big, first[j]), np.where(none, big, last[j])


def _draw_once_a_date(day, j, at, wave: dict, rng, lo, hi) -> np.ndarray:
    """Shifts (days) of the events `at` (one token's, in journey and time order): drawn
    in turn, each journey's first event of the token first, a date one of its earlier
    events took is not drawn again (no real customer of Complete Journey or the
    omnichannel simulator has one campaign twice on a date; drawn apart, 9% of synthetic
    omnichannel journeys had two promo emails a second apart)."""
    dates = np.asarray(wave["dates"], np.int64)
    jj = j[at]
    journeys, local = np.unique(jj, return_inverse=True)
    first = np.r_[True, jj[1:] != jj[:-1]]
    rank = np.arange(len(at)) - np.maximum.accumulate(np.where(first, np.arange(len(at)), 0))
    taken = np.zeros((len(journeys), len(dates)), dtype=bool)
    new = day[at].copy()
    for r in range(int(rank.max()) + 1 if len(at) else 0):
        e = np.flatnonzero(rank == r)
        i = at[e]
        new[e] = draw_dates(day[i], wave, rng, lo[i], hi[i], taken[local[e]])
        k = np.searchsorted(dates, new[e])
        hit = (k < len(dates)) & (dates[np.minimum(k, len(dates) - 1)] == new[e])
        taken[local[e][hit], k[hit]] = True
    return new - day[at]


def _apart(t: np.ndarray, j: np.ndarray, block: np.ndarray, rng) -> np.ndarray:
    """t (ns) with each moved block (`block`: its wave event's index, -1 where unmoved)
    that fell within APART_S of an unmoved event of its journey moved by an hour, up or
    down (down where up leaves the day), a few times over. Moved, a promo email kept its
    time of day, and on a date where its customer already had events one came a second
    from a page view now and then: 186 gaps of 2 s or less against 11 in the real
    omnichannel log put through the profile at epsilon 8."""
    if not (block >= 0).any():
        return t
    t = t.copy()
    up = np.where(rng.random(len(t)) < 0.5, 1, -1)  # per block: read at its wave event
    for _ in range(APART_TRIES):
        order = np.lexsort((t, j))
        ts, js, bs = t[order], j[order], block[order]
        near = np.zeros(len(t), dtype=bool)
        for d in (1, -1):  # a moved event beside an unmoved one of its journey
            other = np.roll(np.arange(len(t)), -d)
            ok = (js == js[other]) & (bs >= 0) & (bs[other] < 0)
            ok &= np.abs(ts - ts[other]) < APART_S * 1e9
            if d == 1:
                ok[-1] = False
            else:
                ok[0] = False
            near |= ok
        hit = np.unique(bs[near])
        if not len(hit):
            break
        go = np.flatnonzero(np.isin(block, hit))
        step = up[block[go]] * 3_600 * 10**9
        leaves = np.zeros(len(t), dtype=bool)  # per block: one of its events would
        np.logical_or.at(leaves, block[go], (t[go] + step) // _DAY_NS != t[go] // _DAY_NS)
        t[go] += np.where(leaves[block[go]], -step, step)
    return t


def apply_waves(
    df: pd.DataFrame, log: EventLog, waves: dict, tok: np.ndarray, tokens: list[str], rng
) -> pd.DataFrame:
    """Each event of a wave token (codes `tok` into `tokens`) moved to one of its dates,
    with the events after it on the same day of its journey (module docstring)."""
    if not waves or not len(df) or log.schema.time_start is None:
        return df
    t0 = df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
    j0 = pd.factorize(df[log.key], sort=False)[0]
    order = np.lexsort((t0, j0))
    t, j, k = t0[order], j0[order], tok[order]
    day = t // _DAY_NS - log.schema.time_start.value // _DAY_NS
    shift = np.zeros(len(t), dtype=np.int64)
    codes = [tokens.index(n) for n in waves if n in tokens]
    is_wave = np.isin(k, codes)
    if not is_wave.any():
        return df
    lo, hi = _journey_range(day, j, ~is_wave)
    lo, hi = np.minimum(lo, day), np.maximum(hi, day)  # a first or last one may stay
    for name, cells in waves.items():
        hit = k == tokens.index(name) if name in tokens else None
        if hit is not None and hit.any():
            shift[hit] = _draw_once_a_date(day, j, np.flatnonzero(hit), cells, rng, lo, hi)
    # each event's latest wave event in its journey (itself included), if on its day
    idx = np.arange(len(t))
    start = np.r_[0, np.flatnonzero(j[1:] != j[:-1]) + 1]
    first_of = np.repeat(start, np.diff(np.r_[start, len(t)]))
    last = np.maximum.accumulate(np.where(is_wave, idx, -1))
    follows = (last >= first_of) & (day == day[np.maximum(last, 0)])
    move = np.where(follows, shift[np.maximum(last, 0)], 0)
    t = t + move * _DAY_NS
    t = _apart(t, j, np.where(move != 0, last, -1), rng)
    t0[order] = t
    df = df.copy()
    df[log.time] = pd.to_datetime(t0)
    return df
