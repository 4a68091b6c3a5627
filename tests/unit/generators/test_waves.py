"""Waves: campaigns sent to many customers on a few dates stay on those dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SCHEMA

from journeylab.generators.calendar import (
    Calendar,
    dates_table,
    gauss_scale,
    n_tables,
    token_keys,
)
from journeylab.generators.waves import apply_waves, draw_dates, event_days, wave_days
from journeylab.journeys import EventLog, Schema
from journeylab.journeys.detection import detection_report, single_feature_auc
from journeylab.journeys.features import date_crowding, journey_features
from journeylab.privacy.accountant import gaussian_rho

SCHEMA = Schema.from_dict(TINY_SCHEMA)
MAILINGS = (20, 55, 90, 130, 160)  # days from 2024-01-01 (the window's first date)


def mailed(n: int, *, seed: int, waves: bool = True, clock: bool = False) -> EventLog:
    """Each customer: views on any day (web), and one or two emails on one of MAILINGS
    (waves) or on any day, at midnight (or, `clock`, at 6 to 12 h); a view follows an
    email the same day half the time."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-01-01")
    rows = []
    for c in range(n):
        days = rng.integers(0, 180, int(rng.integers(2, 8)))
        k = int(rng.integers(1, 3))
        sent = rng.choice(MAILINGS, k, replace=False) if waves else rng.integers(0, 180, k)
        for d in days:
            rows.append((c, t0 + pd.Timedelta(days=int(d), hours=int(rng.integers(9, 20))), "web"))
        for d in sent:
            hour = pd.Timedelta(minutes=int(rng.integers(360, 720))) if clock else pd.Timedelta(0)
            rows.append((c, t0 + pd.Timedelta(days=int(d)) + hour, "email"))
            if rng.random() < 0.5:
                rows.append((c, t0 + pd.Timedelta(days=int(d), hours=15), "web"))
    df = pd.DataFrame(rows, columns=["c", "timestamp", "channel"])
    df["customer_id"] = df.pop("c").map(lambda c: f"c{c:04d}")
    df["event_type"] = "view"
    df["amount"], df["segment"] = 0.0, "budget"
    return EventLog.from_frame(df.sort_values(["customer_id", "timestamp"]), SCHEMA)


def test_exact_release_finds_the_mailing_dates_and_not_the_visits():
    cal = Calendar.fit(mailed(400, seed=0), scale=None, rng=np.random.default_rng(0))
    assert set(cal.waves) == {"email|view"}
    assert cal.waves["email|view"]["dates"] == list(MAILINGS)
    assert cal.waves["email|view"]["rest"] == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_dp_release_finds_the_dates_of_a_large_log_and_never_a_noise_peak(seed):
    log = mailed(3000, seed=seed)
    rho = gaussian_rho(epsilon=4.0, delta=1e-5)
    assert dates_table(log, rho)  # 3,000 customers: the table can tell the dates
    scale = gauss_scale(n_tables(log, rho), rho)
    cal = Calendar.fit(log, scale=scale, rng=np.random.default_rng(seed), dates=True)
    assert set(cal.waves) == {"email|view"}
    assert set(cal.waves["email|view"]["dates"]) <= set(MAILINGS)
    assert len(cal.waves["email|view"]["dates"]) >= 4
    # spread mailings: no token is a wave token, whatever the noise draws
    spread = mailed(3000, seed=seed, waves=False)
    again = Calendar.fit(spread, scale=scale, rng=np.random.default_rng(seed), dates=True)
    assert again.waves is None


def test_the_dates_table_is_paid_for_only_where_it_can_tell_dates():
    """Under DP the dates table costs 4 tables of the calendar's budget: released (and
    counted) only where a cell's noise leaves 100 customers per deviation."""
    big, small = mailed(3000, seed=0), mailed(200, seed=0)
    rho = gaussian_rho(epsilon=4.0, delta=1e-5)
    assert dates_table(big, rho) and not dates_table(small, rho)
    assert n_tables(big, rho) == n_tables(small, rho) + 4 == n_tables(big) + 4
    scale = gauss_scale(n_tables(small, rho), rho)
    cal = Calendar.fit(small, scale=scale, rng=np.random.default_rng(0))
    assert cal.waves is None  # under DP, by default: not released


def test_a_rare_token_or_a_lone_noise_cell_is_no_wave():
    row = np.zeros(180)
    row[[3, 70]] = 1.0  # two events on two dates: an even spread of two
    assert wave_days(row, 0.0) is None
    noise = np.random.default_rng(0).normal(0.0, 10.0, 180)
    noise[50] = 48.0  # one cell at 4.8 deviations: what noise gives somewhere in a table
    assert wave_days(noise, 10.0, cells=20 * 180) is None


def test_apply_puts_campaigns_on_their_dates_within_their_journeys_days():
    """Emails the model spread over the year go to the mailing dates, with the views of
    the same day after them, and not before the journey's first view nor after its last
    (unless the email was first or last)."""
    real = mailed(400, seed=0)
    cal = Calendar.fit(real, scale=None, rng=np.random.default_rng(0))
    spread = mailed(400, seed=1, waves=False)
    names = cal.tokens
    tok = pd.Categorical(token_keys(spread.df, spread), categories=names).codes.astype(np.int64)
    out = apply_waves(spread.df.copy(), spread, cal.waves, tok, names, np.random.default_rng(0))
    assert len(out) == len(spread.df) and (out.index == spread.df.index).all()
    email = (out["channel"] == "email").to_numpy()
    day, old = event_days(spread, out), event_days(spread)
    on_date = np.isin(day[email], MAILINGS)
    assert on_date.mean() > 0.75
    moved = day != old
    who = spread.df[spread.key].to_numpy()
    views = pd.DataFrame({"c": who[~email], "d": old[~email]}).groupby("c")["d"]
    lo, hi = who[email], who[email]
    lo, hi = views.min().reindex(lo).to_numpy(), views.max().reindex(hi).to_numpy()
    ok = (day[email] >= np.minimum(lo, old[email])) & (day[email] <= np.maximum(hi, old[email]))
    assert ok.all()
    # an email off every date had no date within its journey's days to go to
    off = ~on_date
    assert not (moved[email][off]).any()
    # a web view moves only with an email of its journey that was on its day before it
    for i in np.flatnonzero(moved & ~email):
        same = (who == who[i]) & email & (old == old[i])
        assert same.any()
    # the model's timing is kept as far as the dates allow: most go to a near date
    assert np.median(np.abs(day[email] - old[email])) <= 20
    # no customer gets two emails on one mailing date (none does in the data)
    sent = pd.DataFrame({"c": who[email], "d": day[email]})[on_date]
    assert not sent.duplicated().any()


def test_draw_dates_leaves_events_where_the_release_puts_mass_off_the_dates():
    wave = {"dates": [50], "weights": [100.0], "rest": 10.0}  # 10 a date elsewhere
    x = np.array([50, 51, 150, 160])
    out = draw_dates(np.repeat(x, 200), wave, np.random.default_rng(0)).reshape(4, 200)
    assert (out[0] == 50).all()
    assert (out[2] == 150).mean() > 0.99 and (out[3] == 160).mean() > 0.99  # far: stay
    exact = {"dates": [50], "weights": [100.0], "rest": 0.0}
    assert (draw_dates(np.array([150]), exact, np.random.default_rng(0)) == 50).all()


def test_calendar_round_trip_and_an_old_calendar_without_waves():
    cal = Calendar.fit(mailed(200, seed=0), scale=None, rng=np.random.default_rng(0))
    again = Calendar.from_dict(cal.to_dict())
    assert again.waves == cal.waves
    old = cal.to_dict()
    del old["waves"]
    assert Calendar.from_dict(old).waves is None


def test_the_reviewer_sees_campaigns_spread_over_the_year():
    real, spread = mailed(400, seed=0), mailed(400, seed=1, waves=False)
    crowding = date_crowding(real, spread)  # the dates read from both logs alike
    f_real = journey_features(real, crowding=crowding)
    f_spread = journey_features(spread, crowding=crowding)
    col = "wave_of_channel=email"
    assert (f_real[col] == 1).all()  # every email on a date crowded with emails
    y = np.repeat([0, 1], 400)
    assert single_feature_auc(np.r_[f_real[col], f_spread[col]], y, seed=0) > 0.9
    assert (f_real["wave_of_channel=app"] == -1).all()  # none: -1
    assert detection_report(real, spread, seed=0)["giveaways"][0]["feature"].startswith("wave_of_")


def test_real_against_real_of_another_size_shows_no_crowded_dates():
    """Two real logs of 400 and 150 customers: each date is crowded or not for both."""
    a, b = mailed(400, seed=0), mailed(150, seed=2)
    r = detection_report(a, b, seed=0)
    assert r["detection_auc"] < 0.6
    assert all(g["auc"] < 0.6 for g in r["giveaways"] if g["feature"].startswith("wave_of_"))


def test_the_calendar_keeps_a_moved_days_events_apart():
    """An email moved onto a day with views of its journey: the clock reads each day's
    offsets from its first event, so the journey is put back in time order first (left
    as it was, moved emails got offsets of 0: gaps of a minute or less 17 times here,
    against 4 without the waves)."""
    real = mailed(400, seed=0, clock=True)
    cal = Calendar.fit(real, scale=None, rng=np.random.default_rng(0))
    spread = mailed(400, seed=1, waves=False, clock=True)

    def tiny_gaps(c: Calendar) -> int:
        df = c.apply(spread.df.copy(), spread, np.random.default_rng(0))
        t = df[spread.time].to_numpy("datetime64[s]").astype(np.int64)
        same = df[spread.key].to_numpy()[1:] == df[spread.key].to_numpy()[:-1]
        assert (np.diff(t)[same] >= 0).all()  # in time order
        return int((same & (np.diff(t) <= 60)).sum())

    without = tiny_gaps(Calendar.from_dict({**cal.to_dict(), "waves": None}))
    assert tiny_gaps(cal) <= without + 5


@pytest.mark.parametrize("sparse", [False, True])
def test_one_customer_moves_the_dates_table_by_at_most_1_in_l2(sparse):
    """The Gaussian mechanism's sensitivity: each customer's contribution has L2 norm 1,
    with rows weighed alike or by 1 / their events (`wave_counts` under DP), and with
    the latter a customer's row of 2 events outweighs its row of 60."""
    from journeylab.generators.calendar import row_l2_table

    rng = np.random.default_rng(0)
    for _ in range(50):
        e = int(rng.integers(1, 90))
        rows, days = rng.integers(0, 4, e), rng.integers(0, 40, e)
        t = row_l2_table(rows, days, np.zeros(e, np.int64), 4, 40, sparse=sparse)
        assert np.sqrt((t**2).sum()) == pytest.approx(1.0)
    rows = np.r_[np.zeros(60, np.int64), np.ones(2, np.int64)]
    days = np.r_[np.arange(60) % 40, [3, 9]]
    t = row_l2_table(rows, days, np.zeros(62, np.int64), 2, 40, sparse=sparse)
    mail, baskets = np.linalg.norm(t[1]), np.linalg.norm(t[0])
    assert (mail > 5 * baskets) if sparse else mail == pytest.approx(baskets)


def test_an_event_on_a_date_its_journey_took_moves_to_another():
    wave = {"dates": [10, 40, 70], "weights": [50.0, 50.0, 50.0], "rest": 5.0}
    x = np.full(300, 40)
    taken = np.zeros((300, 3), dtype=bool)
    taken[:, 1] = True  # day 40 taken by an earlier event of each journey
    out = draw_dates(x, wave, np.random.default_rng(0), taken=taken)
    assert (out != 40).all() and set(out) <= {10, 70}
    taken[:, :] = True  # every date taken: it stays
    assert (draw_dates(x, wave, np.random.default_rng(0), taken=taken) == 40).all()


def test_under_dp_the_rest_off_the_dates_counts_only_above_its_noise():
    """A row with all its mass on 3 dates and noise elsewhere: the rest's noisy sum is
    no mass (every event goes to a date); exact, a real rest is kept."""
    rng = np.random.default_rng(0)
    row = np.zeros(200)
    row[[20, 80, 140]] = 400.0
    sd = 10.0
    noisy = row + rng.normal(0.0, sd, 200) + 1.0  # a little mass off the dates, in noise
    found = wave_days(noisy, sd, cells=200)
    assert found is not None and found["dates"] == [20, 80, 140]
    assert found["rest"] == 0.0
    exact = row.copy()
    exact[::10] += 1.0
    assert wave_days(exact, 0.0)["rest"] == pytest.approx(17.0 / 197.0)


def test_a_moved_email_keeps_a_minute_from_its_journeys_other_events():
    """An email moved onto a date where its customer has a view at the same time of day
    moves by an hour; the views of its own day move with it and keep their offsets."""
    t0 = pd.Timestamp("2024-01-01")
    rows = [
        ("c0000", t0 + pd.Timedelta(days=10, hours=9, seconds=5), "web"),
        ("c0000", t0 + pd.Timedelta(days=20, hours=9), "email"),
        ("c0000", t0 + pd.Timedelta(days=20, hours=9, minutes=30), "web"),
        ("c0000", t0 + pd.Timedelta(days=30, hours=9), "web"),
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "channel"])
    df["event_type"], df["amount"], df["segment"] = "view", 0.0, "budget"
    log = EventLog.from_frame(df, SCHEMA)
    names = ["email|view", "web|view"]
    tok = pd.Categorical(token_keys(log.df, log), categories=names).codes.astype(np.int64)
    wave = {"email|view": {"dates": [10], "weights": [100.0], "rest": 0.0}}
    for seed in range(5):
        out = apply_waves(log.df.copy(), log, wave, tok, names, np.random.default_rng(seed))
        email = out.loc[out["channel"] == "email", log.time].iloc[0]
        assert (email - t0).days == 10
        views = out.loc[out["channel"] == "web", log.time]
        assert (views - email).abs().min() >= pd.Timedelta(minutes=1)
        follower = out.loc[2, log.time]  # the view 30 minutes after the email
        assert follower - email == pd.Timedelta(minutes=30)
