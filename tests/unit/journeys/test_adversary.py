"""The reviewer-strength detector, its giveaways, and strict-order rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SCHEMA

from journeylab.journeys import EventLog, Schema
from journeylab.journeys.detection import detection_report, giveaways, single_feature_auc
from journeylab.journeys.features import journey_features
from journeylab.journeys.orders import order_rules, order_violation_share

SCHEMA = Schema.from_dict(TINY_SCHEMA)


def office_hours(n: int, *, seed: int, shift_hours: int = 0) -> EventLog:
    """Journeys view -> cart -> purchase, two days apart, between 9:00 and 17:00; with
    `shift_hours` every clock time moves by that much (the dates stay)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        day = int(rng.integers(0, 150))
        for k, et in enumerate(["view", "cart", "purchase"][: int(rng.integers(1, 4))]):
            minute = int(rng.integers(9 * 60, 17 * 60))
            clock = pd.Timedelta(minutes=(minute + 60 * shift_hours) % (24 * 60))
            ts = pd.Timestamp("2024-01-01") + pd.Timedelta(days=day + 2 * k) + clock
            rows.append(
                {
                    "customer_id": f"c{c:04d}",
                    "timestamp": ts,
                    "channel": "web",
                    "event_type": et,
                    "amount": 10.0 if et == "purchase" else 0.0,
                    "segment": "budget",
                }
            )
    return EventLog.from_frame(pd.DataFrame(rows), SCHEMA)


def test_real_against_real_is_undetectable():
    r = detection_report(office_hours(300, seed=0), office_hours(300, seed=1), seed=0)
    assert r["detection_auc"] < 0.6
    assert all(g["auc"] < 0.65 for g in r["giveaways"])


def test_the_adversary_catches_a_log_whose_only_flaw_is_shifted_clock_times():
    real, shifted = office_hours(300, seed=0), office_hours(300, seed=1, shift_hours=5)
    r = detection_report(real, shifted, seed=0)
    assert r["detection_auc"] > 0.9
    top = {g["feature"] for g in r["giveaways"][:3]}
    assert top & {"first_hour", "hour_mean", "share_weekend"}, top


def waits_for(n: int, *, seed: int, waiting: str) -> EventLog:
    """view, cart, purchase: the step `waiting` comes two days after the one before, the
    other a few minutes after (the same gaps, placed at another step)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        ts = pd.Timestamp("2024-01-01 10:00") + pd.Timedelta(days=int(rng.integers(0, 150)))
        for et in ("view", "cart", "purchase"):
            if et != "view":
                wait = pd.Timedelta(days=2) if et == waiting else pd.Timedelta(0)
                ts += wait + pd.Timedelta(minutes=int(rng.integers(1, 30)))
            rows.append((f"c{c:04d}", ts, "web", et, 0.0, "budget"))
    cols = ["customer_id", "timestamp", "channel", "event_type", "amount", "segment"]
    return EventLog.from_frame(pd.DataFrame(rows, columns=cols), SCHEMA)


def test_the_adversary_sees_which_step_waits():
    """Same gaps, same durations: only which step waits two days differs."""
    real = waits_for(300, seed=0, waiting="purchase")
    moved = waits_for(300, seed=1, waiting="cart")
    same = ("gap_max", "gap_min", "gap_mean", "duration_days")
    f_real, f_moved = journey_features(real), journey_features(moved)
    for name in same:  # what the gap statistics see: nothing
        assert abs(f_real[name].mean() - f_moved[name].mean()) < 0.1 * abs(f_real[name].mean())
    r = detection_report(real, moved, seed=0)
    assert r["detection_auc"] > 0.95
    assert r["giveaways"][0]["feature"].startswith("gap_before_event_type="), r["giveaways"][:3]


def campaigns_and_baskets(n: int, *, seed: int, campaign_days: tuple[int, ...]) -> EventLog:
    """Journeys of baskets on any day (whole amounts of 1 or 2 dollars, the others 20 to
    90 dollars with cents) and one campaign email on one of `campaign_days` (Monday 0)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 100)))
        cday = day + pd.Timedelta(days=int(rng.integers(0, 7)))
        while cday.weekday() not in campaign_days:
            cday += pd.Timedelta(days=1)
        rows.append((f"c{c:04d}", cday, "email", "view", 0.0, "budget"))
        for _ in range(int(rng.integers(4, 10))):
            ts = day + pd.Timedelta(days=int(rng.integers(0, 30)), hours=int(rng.integers(9, 20)))
            a = float(rng.integers(1, 3)) if rng.random() < 0.2 else rng.uniform(20, 90)
            rows.append((f"c{c:04d}", ts, "store", "purchase", round(a, 2), "budget"))
    cols = ["customer_id", "timestamp", "channel", "event_type", "amount", "segment"]
    df = pd.DataFrame(rows, columns=cols).sort_values(["customer_id", "timestamp"])
    return EventLog.from_frame(df, SCHEMA)


def test_the_adversary_sees_the_weekdays_of_one_step_and_the_size_of_whole_amounts():
    """Campaigns sent Monday to Wednesday, baskets on any day: the weekend share of the
    campaigns alone tells a log whose campaigns fall on any day (over all events the
    baskets hide it). Whole amounts of a dollar or two: whole ones as large as the rest
    are told apart by their size."""
    real = campaigns_and_baskets(400, seed=0, campaign_days=(0, 1, 2))
    any_day = campaigns_and_baskets(400, seed=1, campaign_days=tuple(range(7)))
    f_real, f_any = journey_features(real), journey_features(any_day)
    y = np.repeat([0, 1], 400)
    col = "weekend_of_event_type=view"
    assert (f_real[col] == 0).all() and single_feature_auc(
        np.r_[f_real[col], f_any[col]], y, seed=0
    ) > 0.6
    assert (f_real["weekend_of_channel=web"] == -1).all()  # none: -1
    big = real.df.copy()
    whole = big["amount"].isin([1.0, 2.0])
    big.loc[whole, "amount"] = big.loc[whole, "amount"] * 40.0  # whole, but as large
    f_big = journey_features(EventLog.from_frame(big, SCHEMA))
    assert (f_real["amount_whole_level"] < 0).mean() > 0.5
    x = np.r_[f_real["amount_whole_level"], f_big["amount_whole_level"]]
    assert single_feature_auc(x, y, seed=0) > 0.6
    # the share of whole amounts is the same in both: it alone cannot tell them
    assert (f_real["amount_share_whole"] == f_big["amount_share_whole"]).all()


def test_single_feature_auc_sees_a_shape_not_only_a_mean():
    rng = np.random.default_rng(0)
    real = rng.normal(0, 1, 2000)  # same mean, other shape: a bimodal synthetic feature
    synth = np.concatenate([rng.normal(-2, 0.3, 1000), rng.normal(2, 0.3, 1000)])
    v, y = np.concatenate([real, synth]), np.repeat([0, 1], 2000)
    assert single_feature_auc(v, y, seed=0) > 0.8


def test_features_include_calendar_tenure_recency_and_constancy():
    f = journey_features(office_hours(20, seed=2))
    cols = set(f.columns)
    assert {"first_hour", "share_midnight", "share_weekday=mon", "recency_days"} <= cols
    assert {"duration_days", "amount_distinct_share", "distinct_event_type"} <= cols
    assert (f["share_midnight"] == 0).all() and f.notna().all().all()


def test_giveaways_are_sorted_strongest_first():
    g = giveaways(office_hours(200, seed=0), office_hours(200, seed=1, shift_hours=8), seed=0)
    aucs = [x["auc"] for x in g]
    assert aucs == sorted(aucs, reverse=True) and len(g) == 8


def test_order_rules_hold_on_real_data_and_catch_a_broken_order():
    train, holdout = office_hours(300, seed=0), office_hours(300, seed=1)
    rules = order_rules(train)
    assert ["web|view", "web|cart"] in rules["precedes"]
    assert "web|purchase" in rules["never_first"]
    assert order_violation_share(rules, holdout) == 0.0
    df = holdout.df.copy()
    first = df.groupby("customer_id").cumcount() == 0
    df.loc[first & (df.customer_id < "c0030"), "event_type"] = "purchase"  # starts with it
    broken = EventLog.from_frame(df, SCHEMA)
    assert order_violation_share(rules, broken) == pytest.approx(0.1)


def test_the_adversary_sees_events_on_a_date_the_real_log_never_has():
    """A log whose only flaw is a date the real one is shut on (every real event there
    moved to the next day): its customers on that date stand out by `date_z_max`, which
    is the same for both sides (a z score of the two logs' counts) and 0 with one log."""
    from journeylab.journeys.features import DATE_Z, date_crowding

    real = office_hours(3000, seed=0)
    df = office_hours(3000, seed=1).df.copy()
    shut = pd.Timestamp("2024-03-01")
    real_df = real.df.copy()
    on = real_df["timestamp"].dt.normalize() == shut
    real_df.loc[on, "timestamp"] += pd.Timedelta(days=1)  # the real shop: shut that day
    real = EventLog.from_frame(real_df.sort_values(["customer_id", "timestamp"]), SCHEMA)
    synth = EventLog.from_frame(df, SCHEMA)
    crowd = date_crowding(real, synth)
    z = crowd[DATE_Z]
    assert z.idxmax() == shut.value // 86_400_000_000_000 and z.max() > 4
    swapped = date_crowding(synth, real)[DATE_Z]
    assert np.allclose(swapped.reindex(z.index), z, atol=0.5)  # either side first
    fs = journey_features(synth, crowding=crowd)
    fr = journey_features(real, crowding=crowd)
    on_shut = (synth.df["timestamp"].dt.normalize() == shut).groupby(synth.df["customer_id"]).any()
    assert on_shut.any()
    assert fs.loc[on_shut[on_shut].index, "date_z_max"].min() > fr["date_z_max"].quantile(0.9)
    assert (journey_features(real)["date_z_max"] == 0).all()  # one log: nothing to tell
