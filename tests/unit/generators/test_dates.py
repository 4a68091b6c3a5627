"""Dates a log is shut on, and the time it ends: synthetic events are kept off them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import TINY_SCHEMA

from journeylab.generators.calendar import Calendar, _redraw_clock
from journeylab.generators.dates import DAY_NS, closed_dates, date_counts, snap_dates
from journeylab.journeys import EventLog, Schema

SHUT = pd.Timestamp("2024-03-10")  # a Sunday the shop never opens on in `shop`
SCHEMA = Schema.from_dict({**TINY_SCHEMA, "max_length": 200})


def shop(n: int, *, seed: int = 0, shut: pd.Timestamp | None = SHUT, per_day: int = 1):
    """n customers buying every 1 to 3 days from January to May (about n / 2 baskets a
    day), never on `shut`; the log's last basket by noon on 2024-05-31."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        day = pd.Timestamp("2024-01-02") + pd.Timedelta(days=int(rng.integers(0, 3)))
        while day < pd.Timestamp("2024-05-31"):
            if day != shut:
                for _ in range(per_day):
                    at = day + pd.Timedelta(seconds=int(rng.integers(9 * 3600, 18 * 3600)))
                    rows.append((f"c{c:04d}", at, "store", "purchase", 20.0, "budget"))
            day += pd.Timedelta(days=int(rng.integers(1, 4)))
        rows.append(
            (
                f"c{c:04d}",
                pd.Timestamp("2024-05-31 09:00")
                + pd.Timedelta(seconds=int(rng.integers(0, 3 * 3600))),
                "store",
                "purchase",
                20.0,
                "budget",
            )
        )
    cols = ["customer_id", "timestamp", "channel", "event_type", "amount", "segment"]
    return EventLog.from_frame(pd.DataFrame(rows, columns=cols), SCHEMA)


def test_an_empty_date_is_closed_only_where_its_neighbours_are_busy():
    busy = closed_dates(date_counts(shop(60)))
    assert SHUT.value // DAY_NS in busy
    quiet = closed_dates(date_counts(shop(6)))  # 3 baskets a day: an empty date is chance
    assert SHUT.value // DAY_NS not in quiet
    assert closed_dates({}) == []


def test_events_on_a_closed_date_move_off_it_keeping_order_and_gaps():
    real = shop(60)
    model = shop(60, seed=1, shut=None)  # a model that does not know the shop was shut
    on = model.df["timestamp"].dt.normalize() == SHUT
    assert on.sum() > 5
    end = real.df["timestamp"].max().value + 1_000_000_000  # the log's last time
    out = snap_dates(model.df, model, closed_dates(date_counts(real)), end=end)
    assert not (out["timestamp"].dt.normalize() == SHUT).any()
    assert len(out) == len(model.df)
    before = model.df.sort_values(["customer_id", "timestamp"])
    after = out.sort_values(["customer_id", "timestamp"])
    assert (before["customer_id"].to_numpy() == after["customer_id"].to_numpy()).all()
    gaps = lambda d: d.groupby("customer_id")["timestamp"].diff().dropna()  # noqa: E731
    # a journey moved from that date on as a block changes the gap before it; one that
    # joins a neighbouring day (busy to the end) the gaps either side: no other gap moves
    changed = (gaps(before).to_numpy() != gaps(after).to_numpy()).sum()
    assert 0 < changed <= 2 * on.sum()


def test_a_journey_that_cannot_shift_joins_a_neighbouring_day():
    """Busy to the log's end, with an event the day before the closed date: its day
    cannot shift back or forward as a block, so it joins the next day, in order."""
    real = shop(60)
    closed = closed_dates(date_counts(real))
    rows = [
        ("c0000", SHUT - pd.Timedelta(hours=2), "store", "purchase", 20.0, "budget"),
        ("c0000", SHUT + pd.Timedelta(hours=15), "store", "purchase", 20.0, "budget"),
        ("c0000", SHUT + pd.Timedelta(days=1, hours=9), "store", "purchase", 20.0, "budget"),
        ("c0000", pd.Timestamp("2024-06-30 20:00"), "store", "purchase", 20.0, "budget"),
    ]
    cols = ["customer_id", "timestamp", "channel", "event_type", "amount", "segment"]
    log = EventLog.from_frame(pd.DataFrame(rows, columns=cols), SCHEMA)
    end = pd.Timestamp("2024-06-30 20:00:01").value
    out = snap_dates(log.df, log, closed, end=end)["timestamp"].sort_values().to_numpy()
    assert not (pd.DatetimeIndex(out).normalize() == SHUT).any()
    assert (np.diff(out) > np.timedelta64(0, "s")).all()  # in the order they were


def test_an_exact_calendar_keeps_the_log_shut_and_ends_where_it_ended():
    real = shop(60)
    cal = Calendar.fit(real, scale=None, rng=np.random.default_rng(0))
    assert SHUT.value // DAY_NS in cal.closed_dates
    assert cal.last_time == real.df["timestamp"].max().value
    quiet = Calendar.fit(shop(6), scale=None, rng=np.random.default_rng(0))
    assert quiet.last_time is None  # 3 baskets a day: its last one fell where it fell
    dp = Calendar.fit(real, scale=2.0, rng=np.random.default_rng(0))
    assert dp.closed_dates is None and dp.last_time is None  # not released under DP
    df = shop(60, seed=2, shut=None, per_day=2).df.copy()
    final = df["timestamp"].dt.normalize() == pd.Timestamp("2024-05-31")
    df.loc[final, "timestamp"] += pd.Timedelta(hours=6)  # the model's last baskets: later
    model = EventLog.from_frame(df, SCHEMA)
    late = model.df["timestamp"] > pd.Timestamp(cal.last_time)
    assert late.any()
    out = cal.apply(model.df, model, np.random.default_rng(0))
    assert not (out["timestamp"].dt.normalize() == SHUT).any()
    assert out["timestamp"].max() <= pd.Timestamp(cal.last_time) + pd.Timedelta(seconds=1)
    last_day = out[out["timestamp"].dt.normalize() == pd.Timestamp("2024-05-31")]
    assert last_day["timestamp"].nunique() > 0.8 * len(last_day)  # not piled on the end


def test_the_clock_fits_the_last_day_before_the_end():
    log = shop(20, seed=3, shut=None)
    df = log.df.copy()
    cls_p = np.tile([0.0, 0.0, 1.0], (len(df), 1))
    hour_p = np.full((len(df), 24), 1 / 24)
    end = pd.Timestamp("2024-05-31 06:00").value
    out = _redraw_clock(df, log, cls_p, hour_p, np.random.default_rng(0), end=end)
    last = out[out["timestamp"].dt.normalize() == pd.Timestamp("2024-05-31")]["timestamp"]
    assert len(last) and (last < pd.Timestamp(end)).all()
    assert last.nunique() == len(last)


def test_under_dp_the_dates_table_closes_a_date_only_where_the_log_is_big_enough():
    """Post-processing of the released dates table: a shut date among busy ones is found
    where each date holds many customers' weight against the noise, and nothing is
    closed on noise where it does not."""
    big = shop(1000)
    cal = Calendar.fit(big, scale=2.0, rng=np.random.default_rng(0), dates=True)
    assert SHUT.value // DAY_NS in cal.closed_dates
    # the same dates as exact: the window's first (the baskets begin on the 2nd), the
    # shut Sunday and the four after the log's end next to its busy week
    exact = Calendar.fit(big, scale=None, rng=np.random.default_rng(0))
    assert cal.closed_dates == exact.closed_dates and len(cal.closed_dates) == 6
    small = Calendar.fit(shop(60), scale=2.0, rng=np.random.default_rng(0), dates=True)
    assert small.closed_dates == []
    model = shop(300, seed=1, shut=None)
    out = cal.apply(model.df, model, np.random.default_rng(0))
    assert (model.df["timestamp"].dt.normalize() == SHUT).any()
    assert not (out["timestamp"].dt.normalize() == SHUT).any()
    assert cal.last_time is None  # the log's end: exact fits only
