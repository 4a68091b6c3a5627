"""The dates a log is open: the days it never has an event on, and the time it ends.

    counts = date_counts(log)                  # events by date (days since 1970-01-01)
    closed = closed_dates(counts)              # dates a busy log is shut on
    busy_end(counts)                           # whether its last time is a cut-off
    df = snap_dates(df, log, closed, end=...)  # synthetic events off them, and before it

Real logs have dates with no event at all while the days around them are busy: a retailer
shut on Christmas Day, a feed that starts some days into its declared window, a day the
export lost. Complete Journey's households bought nothing on 25 December 2017 (about 200
baskets on each day around it) nor from 29 to 31 December 2016, and its last basket is
at 04:01 on 1 January 2018, where the schema's window runs to the end of that day. A
model does not know: without DP, 24% of the VAE's synthetic households had an event on a
date with no real event (none of the real holdout's), and 13% one after the real log's
last (0%); a reviewer who counts events by date sees it at once.

Under DP the closed dates are read off the calendar's dates table where it is released
(`calendar.dates_table`, for the waves; `closed_released`, post-processing), which says
something only where each date holds many customers: on Complete Journey at epsilon 8 a
date's total is about 7 customers' weight against a noise deviation of 24, and nothing is
closed. The log's end (`busy_end`) is exact fits only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from journeylab.journeys.eventlog import EventLog

DAY_NS = 86_400 * 1_000_000_000
CLOSED_NEAR = 7  # dates either side whose counts say how busy a date's neighbourhood is
CLOSED_MIN = 10.0  # median events a day on one side before an empty date is closed
# (0 events where 10 are expected happens by chance with probability 5e-5)
CLOSED_NOISE = 2.0  # under DP: a date's released total under this many deviations is empty
CLOSED_BUSY = 10.0  # ... where the median on one side stands this many deviations up
SHIFTS = (1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7)  # nearest first, forward first


def date_counts(log: EventLog) -> dict[int, int]:
    """Events by date (days since 1970-01-01) over a chunk of whole journeys."""
    day = log.df[log.time].to_numpy("datetime64[ns]").astype(np.int64) // DAY_NS
    values, counts = np.unique(day, return_counts=True)
    return {int(d): int(c) for d, c in zip(values, counts, strict=True)}


def add_counts(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    out = dict(a)
    for d, c in b.items():
        out[d] = out.get(d, 0) + c
    return out


def closed_dates(counts: dict[int, int], first: int | None = None, last: int | None = None):
    """[dates] the dates without an event whose CLOSED_NEAR dates before, or after, had a
    median of CLOSED_MIN events or more, between `first` and `last` (days; default the
    log's own first and last dates, and the dates just beyond them). A date past the
    log's last event next to a busy week is closed too: the log ended there."""
    if not counts:
        return []
    days = np.array(sorted(counts))
    lo = days[0] - CLOSED_NEAR if first is None else first
    hi = days[-1] + CLOSED_NEAR if last is None else last
    if hi < lo:
        return []
    c = np.zeros(hi - lo + 1 + 2 * CLOSED_NEAR)
    at = days[(days >= lo - CLOSED_NEAR) & (days <= hi + CLOSED_NEAR)]
    c[at - lo + CLOSED_NEAR] = [counts[int(d)] for d in at]
    return [int(lo + k) for k in np.flatnonzero(_shut(c, 0.0, CLOSED_MIN))]


def closed_released(totals: np.ndarray, sd: float, first: int) -> list[int]:
    """Under DP, the dates (days since 1970-01-01; totals[k] is date first + k) the
    released dates table (`waves.wave_counts` summed over its tokens, noise deviation
    `sd`) shows shut: under CLOSED_NOISE deviations where the CLOSED_NEAR dates before, or
    after, have a median of CLOSED_BUSY deviations or more. Post-processing of that
    release: nothing more is spent. An open date that busy would need a draw CLOSED_BUSY -
    CLOSED_NOISE deviations low; a shut one is found 98 times in 100. On the bench's
    1,250 households of Complete Journey at epsilon 8 a date holds 6.6 customers' weight
    (median) against a deviation of 23.5: nothing is closed; the customers behind a date
    grow with the log, its noise does not."""
    totals = np.asarray(totals, float)
    if not len(totals) or sd <= 0:
        return []
    c = np.r_[np.zeros(CLOSED_NEAR), totals, np.zeros(CLOSED_NEAR)]
    shut = _shut(c, CLOSED_NOISE * sd, CLOSED_BUSY * sd)
    return [int(first + k) for k in np.flatnonzero(shut)]


def _shut(c: np.ndarray, empty: float, busy: float) -> np.ndarray:
    """For counts c by date padded with CLOSED_NEAR dates each side: whether each inner
    date is at most `empty` while the CLOSED_NEAR dates before or after it have a median
    of `busy` or more."""
    n = len(c) - 2 * CLOSED_NEAR
    win = np.lib.stride_tricks.sliding_window_view(c, CLOSED_NEAR)
    before = np.median(win[:n], axis=1)  # the CLOSED_NEAR dates before each
    after = np.median(win[CLOSED_NEAR + 1 :][:n], axis=1)
    own = c[CLOSED_NEAR : CLOSED_NEAR + n]
    return (own <= empty) & (np.maximum(before, after) >= busy)


def busy_end(counts: dict[int, int]) -> bool:
    """Whether the log is busy up to its last date (its CLOSED_NEAR dates before had a
    median of CLOSED_MIN events or more): then its last time is where it was cut off, not
    chance (a log of a few events a day ends wherever its last one fell)."""
    if not counts:
        return False
    last = max(counts)
    near = [counts.get(d, 0) for d in range(last - CLOSED_NEAR, last)]
    return bool(np.median(near) >= CLOSED_MIN)


def snap_dates(
    df: pd.DataFrame, log: EventLog, closed: list[int], *, end: int | None = None
) -> pd.DataFrame:
    """df (whole journeys) with each event on a closed date (days since 1970-01-01)
    moved, with the rest of its journey, to the nearest open date (SHIFTS, not back past
    the day after the journey's previous event, not past the window or `end` (ns): the
    log's last time), so the order of the events and their gaps are kept; journey by
    journey, first offending event first. A day that cannot move so (a journey busy to
    the log's end, with an event the day before) joins the nearest open day between its
    journey's events before and after it (`_into_neighbours`)."""
    if not closed or not len(df):
        return df
    shut = np.asarray(sorted(closed), dtype=np.int64)

    def is_shut(day: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(shut, day), 0, len(shut) - 1)
        return shut[k] == day

    return snap_days(df, log, lambda rows, day: is_shut(day), SHIFTS, end=end, join=is_shut)


def snap_days(df, log, shut, shifts, *, end=None, join=None) -> pd.DataFrame:
    """df with, journey by journey, each first event on a shut day (`shut(rows, days)`:
    bool per row of df and day since 1970-01-01) moved with the rest of its journey by
    the first of `shifts` (days) that puts it on an open one, backward no further than
    the day after its journey's previous event, the journey within the declared window
    and before `end` (ns); until none is left that can move. `join` (day -> shut): the
    days left then join a neighbouring day of their journey (`_into_neighbours`)."""
    t0 = df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
    j0 = pd.factorize(df[log.key], sort=False)[0]
    order = np.lexsort((t0, j0))  # each journey's events together, in time order
    t, j = t0[order], j0[order]
    n = j.max() + 1
    start = np.r_[True, j[1:] != j[:-1]]
    starts = np.flatnonzero(start)
    s = log.schema
    lo = None if s.time_start is None else s.time_start.value
    hi = None if s.time_end is None else s.time_end.value
    if end is not None:
        hi = end if hi is None else min(hi, end)
    last_of = pd.Series(t).groupby(j).max().to_numpy()
    moved = np.zeros(len(t), dtype=bool)  # already placed: never moved again
    for _ in range(len(t)):
        day = t // DAY_NS
        bad = shut(order, day) & ~moved
        if not bad.any():
            break
        first = np.minimum.reduceat(np.where(bad, np.arange(len(t)), len(t)), starts)
        at = first[first < len(t)]  # each journey's first offending event
        # backward no further than the day after the previous event's (the first event:
        # the window's first day), so no two events swap
        floor = np.where(start[at], -(10**9), day[np.maximum(at - 1, 0)] + 1)
        if lo is not None:
            floor = np.where(start[at], -(-lo // DAY_NS), floor)
        room = None if hi is None else hi - last_of[j[at]]  # how far the journey may go
        shift, found = np.zeros(len(at), dtype=np.int64), np.zeros(len(at), dtype=bool)
        for d in shifts:
            ok = ~shut(order[at], day[at] + d) & ((d >= 0) | (day[at] + d >= floor)) & ~found
            if room is not None:
                ok &= d * DAY_NS < room
            shift, found = np.where(ok, d, shift), found | ok
        from_at = np.full(n, len(t))
        from_at[j[at]] = at
        per = np.zeros(n, dtype=np.int64)
        per[j[at]] = shift
        t += np.where(np.arange(len(t)) >= from_at[j], per[j], 0) * DAY_NS
        last_of[j[at]] += shift * DAY_NS
        moved[at] = True  # placed (or left where it was: no open day within reach)
    if join is not None:
        t = _into_neighbours(t, start, join, lo, hi)
    t0[order] = t
    out = df.copy()
    out[log.time] = pd.to_datetime(t0)
    return out


def _into_neighbours(t, start, is_shut, lo, hi) -> np.ndarray:
    """t (ns, each journey's events together in time order) with each journey's events on
    a closed date that `snap_dates` could not move moved, as one block, to the nearest
    open date from the day of the journey's event before them to the day of its event
    after (SHIFTS order), at their own times of day, squeezed between those two events
    where they would pass one (their order kept). Left where no such date is open."""
    day = t // DAY_NS
    bad = is_shut(day)
    if not bad.any():
        return t
    t = t.copy()
    end = np.r_[start[1:], True]  # each journey's last event
    same_prev = ~start & np.r_[False, bad[:-1]] & (day == np.r_[-1, day[:-1]])
    block = np.flatnonzero(bad & ~same_prev)  # each run of one journey's day
    for b in block:  # few: the days a journey could not shift off
        e = b
        while not end[e] and bad[e + 1] and day[e + 1] == day[b]:
            e += 1
        before = None if start[b] else t[b - 1]
        after = None if end[e] else t[e + 1]
        low = -(2**62) if before is None else before // DAY_NS
        high = 2**62 if after is None else after // DAY_NS
        for d in SHIFTS:
            target = day[b] + d
            if not (low <= target <= high) or is_shut(np.array([target]))[0]:
                continue
            new = t[b : e + 1] - day[b] * DAY_NS + target * DAY_NS
            floor = before + 1_000_000_000 if before is not None else -(2**62) if lo is None else lo
            ceil = after - 1_000_000_000 if after is not None else 2**62 if hi is None else hi - 1
            if new[0] < floor or new[-1] > ceil:  # squeezed between them, in order
                a, z = max(floor, target * DAY_NS), min(ceil, (target + 1) * DAY_NS - 1)
                if z <= a:
                    continue
                new = np.linspace(a, z, len(new) + 2)[1:-1].astype(np.int64)
            t[b : e + 1] = new
            break
    return t
