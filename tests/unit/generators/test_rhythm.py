"""The rhythm: same-day bursts and the spread of gaps reproduced, what the model made kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SCHEMA

import journeylab.generators as generators
from journeylab.generators.profile import LENGTH_EDGES, length_class
from journeylab.generators.rhythm import (
    BURST_BINS,
    BURST_BINS_COARSE,
    SAMEDAY_EDGES,
    SAMEDAY_EDGES_COARSE,
    TABLES,
    Rhythm,
    fine_tables,
)
from journeylab.journeys import EventLog, Schema
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.ledger import Ledger


def bursty(n: int, *, seed: int) -> pd.DataFrame:
    """Journeys of 2-12 events in visits: each visit a purchase and, half the time, a
    coupon minutes later on the same day; visits 1-12 days apart."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 30)), hours=10)
        k = int(rng.integers(2, 13))
        while k > 0:
            rows.append((f"c{c:04d}", t, "purchase"))
            k -= 1
            if k and rng.random() < 0.5:
                rows.append(
                    (f"c{c:04d}", t + pd.Timedelta(minutes=int(rng.integers(1, 30))), "purchase")
                )
                k -= 1
            t += pd.Timedelta(days=int(rng.integers(1, 13)), hours=int(rng.integers(0, 3)))
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type"])
    df["channel"], df["amount"], df["segment"] = "store", 10.0, "budget"
    return df


def without_bursts(df: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """The same journeys (lengths, first and last event) with evenly spread gaps, as a
    model that has not learnt the bursts would make them."""
    rng = np.random.default_rng(seed)
    out = []
    for _, g in df.groupby("customer_id", sort=True):
        t0, t1 = g.timestamp.iloc[0], g.timestamp.iloc[-1]
        inner = np.sort(rng.uniform(0, 1, len(g) - 2)) if len(g) > 2 else np.array([])
        times = [t0, *[t0 + (t1 - t0) * u for u in inner], t1][: len(g)]
        out.append(g.assign(timestamp=pd.to_datetime(times).floor("s")))
    return pd.concat(out, ignore_index=True)


def same_day_share(df: pd.DataFrame) -> float:
    d = df.sort_values(["customer_id", "timestamp"]).copy()
    day = d.timestamp.dt.normalize()
    first = d.customer_id.ne(d.customer_id.shift())
    return float((day.eq(day.shift()) & ~first).sum() / (~first).sum())


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.from_dict({**TINY_SCHEMA, "max_length": 20})


def fit(log: EventLog, scale):
    return Rhythm.fit(
        log,
        length_class=length_class,
        n_classes=len(LENGTH_EDGES),
        scale=scale,
        rng=np.random.default_rng(0),
    )


def test_apply_restores_same_day_bursts_and_keeps_length_first_day_and_span(schema):
    real = EventLog.from_frame(bursty(600, seed=0), schema)
    model = without_bursts(real.df, seed=1).sort_values(["customer_id", "timestamp"])
    assert same_day_share(model) < 0.15 < 0.3 < same_day_share(real.df)  # the giveaway
    out = fit(real, None).apply(model, real, np.random.default_rng(2), length_class=length_class)
    assert same_day_share(out) == pytest.approx(same_day_share(real.df), abs=0.05)
    g_in, g_out = model.groupby("customer_id").timestamp, out.groupby("customer_id").timestamp
    assert (g_out.size() == g_in.size()).all()
    day = lambda s: s.dt.normalize()  # noqa: E731
    assert (day(g_out.min()) == day(g_in.min())).all()  # first day kept
    span_in = (day(g_in.max()) - day(g_in.min())).dt.days
    moved = (g_out.max() - g_out.min()).dt.days.sub(span_in).abs()
    assert (moved[span_in > 0] <= 1).all()  # the span kept where it spans days (a journey
    # on one day may be given a span: the next test)
    assert (out.groupby("customer_id").timestamp.diff().dropna() >= pd.Timedelta(0)).all()
    assert (out.event_type.to_numpy() == model.event_type.to_numpy()).all()  # order kept


def test_spread_of_multi_day_gaps_follows_the_data(schema):
    """Real: gaps of 1-12 days; the model's even gaps are too regular. After `apply`
    the coefficient of variation of a journey's multi-day gaps moves towards the real."""
    real = EventLog.from_frame(bursty(600, seed=3), schema)
    model = without_bursts(real.df, seed=4).sort_values(["customer_id", "timestamp"])
    out = fit(real, None).apply(model, real, np.random.default_rng(5), length_class=length_class)

    def cv(df):
        d = df.sort_values(["customer_id", "timestamp"])
        days = d.groupby("customer_id").timestamp.diff().dt.total_seconds() / 86_400
        days = days[days >= 1].groupby(d.customer_id).agg(["std", "mean", "size"])
        days = days[days["size"] >= 3]
        return float((days["std"] / days["mean"]).median())

    assert abs(cv(out) - cv(real.df)) < abs(cv(model) - cv(real.df))


def test_under_dp_each_table_gets_noise_of_its_scale(schema):
    real = EventLog.from_frame(bursty(200, seed=6), schema)
    exact, noisy = fit(real, None), fit(real, TABLES / 0.5)
    assert exact.scale == 0 and noisy.scale == pytest.approx(TABLES / 0.5)
    # 200 customers under a noise scale of 6: the coarse tables (a saved model's, too)
    assert np.asarray(exact.burst).shape == (len(LENGTH_EDGES), BURST_BINS)
    assert np.asarray(noisy.burst).shape == (len(LENGTH_EDGES), BURST_BINS_COARSE)
    assert len(exact.sameday) == len(SAMEDAY_EDGES) - 1
    assert len(noisy.sameday) == len(SAMEDAY_EDGES_COARSE) - 1
    assert not np.allclose(noisy.spread, exact.spread)
    assert Rhythm.from_dict(noisy.to_dict()) == noisy  # JSON round trip
    model = without_bursts(real.df, seed=1).sort_values(["customer_id", "timestamp"])
    out = noisy.apply(model, real, np.random.default_rng(2), length_class=length_class)
    assert len(out) == len(model) and out["timestamp"].notna().all()


def test_fine_tables_where_the_noise_leaves_room_for_them():
    assert fine_tables(1_000, None) and fine_tables(5_000, 7.5) and fine_tables(300, 1.0)
    assert not fine_tables(1_000, 7.5) and not fine_tables(100_000, 1_000.0)


def test_a_dp_fit_spends_a_rhythm_share_of_the_profile_budget(schema, tmp_path):
    log = EventLog.from_frame(bursty(120, seed=7), schema)
    small = {"d_model": 16, "n_layers": 2, "batch_size": 16, "epochs": 1, "seed": 0}
    gen = generators.create("vae", small)
    gen.fit(
        log, privacy=PrivacyBudget(epsilon=2.0), ledger=Ledger(tmp_path / "l.jsonl"), run_id="r"
    )
    parts, rho = gen.profile.detail["rho_parts"], gen.release["profile"]["rho"]
    assert parts["rhythm"] == pytest.approx(0.2 * rho)  # auto: on under DP
    assert parts["values"] == pytest.approx(0.15 * rho)
    assert sum(parts.values()) == pytest.approx(rho)
    syn = gen.sample(50, seed=0)
    assert len(syn.customers) == 50
    off = generators.create("vae", {**small, "rhythm": "off"})
    off.fit(
        log, privacy=PrivacyBudget(epsilon=2.0), ledger=Ledger(tmp_path / "m.jsonl"), run_id="s"
    )
    assert "rhythm" not in off.profile.detail["rho_parts"] and off.profile.rhythm is None


def test_rhythm_mode_is_checked():
    with pytest.raises(Exception, match="rhythm must be one of"):
        generators.create("vae", {"rhythm": "sometimes"})


def test_seconds_between_same_day_steps_keep_their_scale():
    """A process whose same-day steps follow each other within 1-3 seconds: redrawn, they
    stay within seconds (the bins were 1-59 s wide, drawn uniformly: about 30 s)."""
    df = bursty(300, seed=5)
    df = df.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)
    day = df.timestamp.dt.normalize()
    again = df.customer_id.eq(df.customer_id.shift()) & day.eq(day.shift())
    rng = np.random.default_rng(0)
    quick = pd.to_timedelta(rng.integers(1, 4, int(again.sum())), unit="s")
    df.loc[again, "timestamp"] = df.timestamp.shift()[again] + quick
    schema = Schema.from_dict(TINY_SCHEMA)
    log = EventLog.from_frame(df, schema)
    rhythm = Rhythm.fit(
        log, length_class=length_class, n_classes=len(LENGTH_EDGES), scale=None, rng=rng
    )
    model = EventLog.from_frame(without_bursts(df, seed=1), schema)
    out = rhythm.apply(model.df, model, np.random.default_rng(2), length_class=length_class)
    out = out.sort_values(["customer_id", "timestamp"], kind="stable")
    gap = out.timestamp.diff().dt.total_seconds()
    new_day = out.timestamp.dt.normalize()
    same = out.customer_id.eq(out.customer_id.shift()) & new_day.eq(new_day.shift())
    assert same.sum() > 100 and gap[same].between(1, 3).mean() > 0.95


def test_a_day_of_long_same_day_gaps_is_squeezed_into_the_day_not_piled_at_its_end():
    """Real journeys of two days of 12 events two hours apart: 11 same-day gaps
    redrawn from their bin (2 to 4 hours, log-uniform) add up to more than a day. They are
    squeezed into it, never clipped onto 23:59:59 (where a journey's last events shared one
    time: gaps of 0 s the real data never has)."""
    rng = np.random.default_rng(0)
    rows = []
    for c in range(200):
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 20)))
        for visit in range(2):  # two such days, a week or two apart
            day += pd.Timedelta(days=visit * int(rng.integers(7, 15)))
            secs = np.cumsum(rng.integers(7_200, 7_500, 12))  # 2 to 2.1 hours apart
            secs = secs - secs[0] + int(rng.integers(0, 300))
            rows += [(f"c{c:03d}", day + pd.Timedelta(seconds=int(s)), "purchase") for s in secs]
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type"])
    df["channel"], df["amount"], df["segment"] = "store", 10.0, "budget"
    schema = Schema.from_dict({**TINY_SCHEMA, "max_length": 30})
    log = EventLog.from_frame(df, schema)
    rhythm = Rhythm.fit(
        log, length_class=length_class, n_classes=len(LENGTH_EDGES), scale=None, rng=rng
    )
    out = rhythm.apply(log.df, log, np.random.default_rng(1), length_class=length_class)
    out = out.sort_values(["customer_id", "timestamp"], kind="stable")
    gaps = out.groupby("customer_id").timestamp.diff().dropna()
    assert (gaps > pd.Timedelta(0)).all()  # clipped, 60% of the journeys had a gap of 0 s
    assert (out.timestamp.dt.strftime("%H:%M:%S") == "23:59:59").sum() <= 2  # no pile


def test_real_journeys_through_the_fine_rhythm_keep_their_bursts_per_customer():
    """The omnichannel simulator's held-out journeys through a rhythm fitted on the other
    half (no noise): a customer's share of same-day gaps and events per active day no
    longer tell them apart (single-feature AUC 0.66 each with the coarse tables)."""
    from journeylab.journeys import datasets
    from journeylab.journeys.detection import single_feature_auc
    from journeylab.journeys.features import journey_features

    log, _ = datasets.load("simulate", n_customers=1600, seed=0)
    ids = log.df[log.key].drop_duplicates()
    half = log.df[log.key].isin(ids.iloc[::2])
    train = EventLog.from_frame(log.df[half], log.schema)
    hold = EventLog.from_frame(log.df[~half], log.schema)
    out = fit(train, None).apply(hold.df, hold, np.random.default_rng(1), length_class=length_class)
    real, redrawn = journey_features(hold), journey_features(EventLog.from_frame(out, log.schema))
    y = np.r_[np.zeros(len(real)), np.ones(len(redrawn))]
    for col in ("share_gap_same_day", "events_per_active_day"):
        x = np.r_[real[col].to_numpy(), redrawn[col].to_numpy()]
        assert single_feature_auc(x, y, seed=0) < 0.57, col


def test_a_lone_noise_cell_is_dropped_and_a_loud_lone_cell_kept():
    """Same-day seconds at 45 s to 3 minutes only; the noise put 3 scales (2.1 deviations)
    in the 1-second bin, far from them: kept, a synthetic customer with many same-day gaps
    got a 1-second one. A lone cell 6 deviations high is the data's, and stays."""
    from journeylab.generators.rhythm import _distributions

    scale = 2.0
    row = np.zeros(33)
    row[11:15] = 100.0
    noisy = row.copy()
    noisy[1] = 3.0 * scale
    assert _distributions(noisy[None, :], scale)[0, 1] == 0.0
    loud = row.copy()
    loud[1] = 6.0 * np.sqrt(2.0) * scale
    assert _distributions(loud[None, :], scale)[0, 1] > 0.0
    assert _distributions(noisy[None, :], scale)[0, 11:15].sum() == pytest.approx(1.0)
    # a row of 10 scales of mass that the cut empties (lone cells) takes the pooled row
    thin = np.zeros((2, 33))
    thin[0, [3, 9, 20]] = 4.0 * scale  # 24 in all, each under 4 deviations (11.3)
    thin[1, 11:15] = 100.0
    rows = _distributions(thin, scale)
    assert np.isfinite(rows).all() and rows[0, 11:15].sum() > 0.99


def waits(n: int, *, seed: int, wrong: bool = False) -> pd.DataFrame:
    """Journeys of view, cart, purchase rounds: the cart minutes after its view, the
    purchase 3-8 days after its cart, the next view minutes after a purchase. `wrong`:
    the same events, the days-long waits before the views instead (as a model that
    places its long gaps badly)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        t = pd.Timestamp("2024-01-02 09:00") + pd.Timedelta(days=int(rng.integers(0, 20)))
        for k in range(int(rng.integers(2, 5)) * 3):
            kind = ("view", "cart", "purchase")[k % 3]
            if k:
                long = kind == ("view" if wrong else "purchase")
                t += pd.Timedelta(
                    days=int(rng.integers(3, 9)) if long else 0,
                    minutes=int(rng.integers(2, 30)),
                )
            rows.append((f"c{c:04d}", t, "web", kind, 0.0, "budget"))
    cols = ["customer_id", "timestamp", "channel", "event_type", "amount", "segment"]
    return pd.DataFrame(rows, columns=cols)


def test_long_gaps_go_to_the_steps_that_wait_in_the_data(schema):
    """The order table puts each journey's long gaps before the types that wait for them
    in the data (a purchase, days after its cart), not where the model put them."""
    real = EventLog.from_frame(waits(300, seed=0), schema)
    model = EventLog.from_frame(waits(300, seed=1, wrong=True), schema)

    def long_before_purchase(df: pd.DataFrame) -> float:
        d = df.sort_values(["customer_id", "timestamp"], kind="stable")
        gap = d.groupby("customer_id").timestamp.diff()
        return float((d.event_type[gap > pd.Timedelta(days=1)] == "purchase").mean())

    assert long_before_purchase(real.df) == 1.0 and long_before_purchase(model.df) == 0.0
    for scale in (None, 1.0):
        rhythm = fit(real, scale)
        out = rhythm.apply(model.df, model, np.random.default_rng(2), length_class=length_class)
        assert long_before_purchase(out) > 0.9, scale
        assert (out.event_type.to_numpy() == model.df.event_type.to_numpy()).all()
    before = Rhythm(**{**fit(real, None).to_dict(), "order": None})  # a model saved before it
    out = before.apply(model.df, model, np.random.default_rng(2), length_class=length_class)
    assert long_before_purchase(out) < 0.5  # the model's ranks alone


def test_each_customers_contribution_to_the_order_table_has_norm_one(schema):
    from journeylab.generators.rhythm import ORDER_BINS, order_counts, order_types, type_rows

    real = EventLog.from_frame(waits(40, seed=3), schema)
    table = order_counts(real)
    assert table.shape == (3, 3, ORDER_BINS)  # the schema's three declared types
    norms = [np.linalg.norm(order_counts(real.subset([c]))) for c in real.customers]
    assert np.allclose(norms, 1.0)  # each customer's contribution: L2 norm 1
    assert table.sum() > 40.0  # more than 1 / (number of gaps) a gap
    one = EventLog.from_frame(waits(1, seed=4).head(2), schema)  # a single gap: one cell
    assert order_counts(one).sum() == 1.0 and np.count_nonzero(order_counts(one)) == 1
    undeclared = Schema.from_dict(
        {**TINY_SCHEMA, "events": {**TINY_SCHEMA["events"], "event_type": {"type": "categorical"}}}
    )
    assert order_types(undeclared) == 128  # hashed, never the data's own list of types
    rows = type_rows(pd.Series(["view", "cart", "view"]), undeclared, 128)
    assert rows[0] == rows[2] != rows[1] and rows.max() < 128


def quick_and_slow(n: int, *, seed: int, swapped: bool = False) -> pd.DataFrame:
    """Days of view, cart, purchase: the cart seconds after its view, the purchase half
    an hour after its cart (`swapped`: the other way round); days a week apart."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        t = pd.Timestamp("2024-01-02 09:00") + pd.Timedelta(days=int(rng.integers(0, 20)))
        for _ in range(int(rng.integers(2, 4))):
            quick = pd.Timedelta(seconds=int(rng.integers(5, 20)))
            slow = pd.Timedelta(minutes=int(rng.integers(20, 40)))
            steps = (("view", 0), ("cart", slow if swapped else quick))
            steps += (("purchase", quick if swapped else slow),)
            for kind, wait in steps:
                t += pd.Timedelta(wait)
                rows.append((f"c{c:04d}", t, "web", kind, 0.0, "budget"))
            t += pd.Timedelta(days=7)
    cols = ["customer_id", "timestamp", "channel", "event_type", "amount", "segment"]
    return pd.DataFrame(rows, columns=cols)


def test_same_day_gaps_take_the_size_of_their_step(schema):
    """Within a day the gap before each step comes from its pair's class (seconds before
    the cart, half an hour before the purchase), and all same-day gaps together keep the
    same-day histogram's mix of sizes."""
    real = EventLog.from_frame(quick_and_slow(300, seed=0), schema)
    model = EventLog.from_frame(quick_and_slow(300, seed=1, swapped=True), schema)

    def before(df: pd.DataFrame, kind: str) -> pd.Series:
        d = df.sort_values(["customer_id", "timestamp"], kind="stable")
        gap = d.groupby("customer_id").timestamp.diff().dt.total_seconds()
        return gap[(d.event_type == kind) & (gap < 86_400)]

    for scale in (None, 1.0):
        out = fit(real, scale).apply(
            model.df, model, np.random.default_rng(2), length_class=length_class
        )
        assert (before(out, "cart") < 60).mean() > 0.9, scale
        assert before(out, "purchase").between(60, 3_600).mean() > 0.9, scale
        same = pd.concat([before(out, "cart"), before(out, "purchase")])
        assert (same < 60).mean() == pytest.approx(0.5, abs=0.1)  # the data's mix


def test_a_steps_same_day_gap_keeps_its_own_size_within_its_class(schema):
    """The cart two minutes after its view and the purchase forty minutes after its cart
    are in one class (a minute to an hour): each keeps its own size from the step table,
    not the class's pooled sizes (a model's cart abandonment two minutes after its cart
    instead of half an hour told the omnichannel simulator's journeys apart, AUC 0.91)."""
    rng = np.random.default_rng(0)
    rows = []
    for c in range(300):
        t = pd.Timestamp("2024-01-02 09:00") + pd.Timedelta(days=int(rng.integers(0, 20)))
        for _ in range(int(rng.integers(2, 4))):
            for kind, wait in (("view", 0), ("cart", 120), ("purchase", 2_400)):
                t += pd.Timedelta(seconds=wait * float(rng.uniform(0.8, 1.2)))
                rows.append((f"c{c:04d}", t.floor("s"), "web", kind, 0.0, "budget"))
            t += pd.Timedelta(days=7)
    cols = ["customer_id", "timestamp", "channel", "event_type", "amount", "segment"]
    real = EventLog.from_frame(pd.DataFrame(rows, columns=cols), schema)
    model = EventLog.from_frame(without_bursts(real.df, seed=1), schema)

    def before(df: pd.DataFrame, kind: str) -> pd.Series:
        d = df.sort_values(["customer_id", "timestamp"], kind="stable")
        gap = d.groupby("customer_id").timestamp.diff().dt.total_seconds()
        return gap[(d.event_type == kind) & (gap < 86_400)]

    for scale in (None, 1.0):
        rhythm = fit(real, scale)
        out = rhythm.apply(model.df, model, np.random.default_rng(2), length_class=length_class)
        assert before(out, "cart").between(64, 256).mean() > 0.9, scale
        assert before(out, "purchase").between(1_024, 4_096).mean() > 0.9, scale
        pooled = Rhythm(**{**rhythm.to_dict(), "step": None})  # a model saved before it
        out = pooled.apply(model.df, model, np.random.default_rng(2), length_class=length_class)
        assert before(out, "cart").between(64, 256).mean() < 0.7, scale


def test_each_customers_contribution_to_the_step_table_has_norm_one(schema):
    from journeylab.generators.rhythm import step_counts

    real = EventLog.from_frame(quick_and_slow(40, seed=3), schema)
    table = step_counts(real, SAMEDAY_EDGES)
    assert table.shape == (3, len(SAMEDAY_EDGES) - 1)  # declared types x same-day cells
    norms = [np.linalg.norm(step_counts(real.subset([c]), SAMEDAY_EDGES)) for c in real.customers]
    assert np.allclose(norms, 1.0)
    assert table[0].sum() == 0  # a view never follows a same-day gap here: its row is empty


def test_a_customers_same_day_gaps_are_alike(schema):
    """Half the customers come back a minute later, half three hours later, always: the
    pace table (customers by the mean log seconds of their same-day gaps) makes each
    customer's gaps alike through a customer-level copula; drawn one by one (a model saved
    before it), every customer gets a mix of both and their means bunch together."""
    rng = np.random.default_rng(0)
    rows = []
    for c in range(400):
        wait = 60 if c % 2 else 3 * 3_600
        t = pd.Timestamp("2024-01-02 08:00") + pd.Timedelta(days=int(rng.integers(0, 20)))
        for _ in range(int(rng.integers(3, 6))):
            for k in range(2):
                s = wait * float(rng.uniform(0.8, 1.2)) if k else 0.0
                rows.append((f"c{c:04d}", (t + pd.Timedelta(seconds=s)).floor("s")))
            t += pd.Timedelta(days=int(rng.integers(2, 9)))
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp"])
    df["channel"], df["event_type"] = "store", "purchase"
    df["amount"], df["segment"] = 1.0, "budget"
    real = EventLog.from_frame(df, schema)

    def spread(d: pd.DataFrame) -> float:
        d = d.sort_values(["customer_id", "timestamp"], kind="stable")
        gap = d.groupby("customer_id").timestamp.diff().dt.total_seconds()
        same = gap < 86_400
        return float(np.log1p(gap[same]).groupby(d.customer_id[same]).mean().std())

    want = spread(real.df)
    for scale in (None, 1.0):
        rhythm = fit(real, scale)
        out = rhythm.apply(real.df, real, np.random.default_rng(2), length_class=length_class)
        assert spread(out) == pytest.approx(want, rel=0.25), scale
        alone = Rhythm(**{**rhythm.to_dict(), "pace": None})
        out = alone.apply(real.df, real, np.random.default_rng(2), length_class=length_class)
        assert spread(out) < 0.6 * want, scale


def test_a_journey_the_model_put_on_one_day_spans_days_as_its_draw_asks(schema):
    # real: 2 or 3 purchases, 3 to 20 days apart; the model put every other journey on a
    # single day, where its span alone would keep it
    rng = np.random.default_rng(0)
    rows = []
    for c in range(600):
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 60)), hours=9)
        for _ in range(int(rng.integers(2, 4))):
            rows.append((f"c{c:04d}", t, "purchase"))
            t += pd.Timedelta(days=int(rng.integers(3, 21)), hours=int(rng.integers(0, 8)))
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type"])
    df["channel"], df["amount"], df["segment"] = "store", 10.0, "budget"
    real = EventLog.from_frame(df, schema)
    model = real.df.copy()
    t0 = model.groupby("customer_id").timestamp.transform("min")
    even = model.customer_id.str[1:].astype(int) % 2 == 0
    k = model.groupby("customer_id").cumcount()
    model.loc[even, "timestamp"] = t0[even] + pd.to_timedelta(k[even], unit="min")
    assert same_day_share(model) > 0.4 and same_day_share(real.df) == 0.0
    out = fit(real, None).apply(model, real, np.random.default_rng(2), length_class=length_class)
    assert same_day_share(out) < 0.05
    g = out.groupby("customer_id").timestamp
    days = (g.max().dt.normalize() - g.min().dt.normalize()).dt.days
    squeezed = days[days.index.str[1:].astype(int) % 2 == 0]
    assert (squeezed >= 1).mean() > 0.95  # they span days now
    assert 3 <= squeezed.median() <= 60  # by the pairs' gaps (days to weeks), in the window
    assert (out.timestamp < pd.Timestamp(schema.time_end)).all()
    assert (g.min().dt.normalize() == t0.groupby(model.customer_id).first().dt.normalize()).all()


def minute_apart(n: int, *, seed: int) -> pd.DataFrame:
    """Days of two purchases 61 to 63 seconds apart (a till's split basket; Complete
    Journey has 9% of its same-day gaps there and almost none at 30-60 s), days a week
    apart."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        t = pd.Timestamp("2024-01-02 10:00") + pd.Timedelta(days=int(rng.integers(0, 20)))
        for _ in range(int(rng.integers(2, 5))):
            for wait in (0, int(rng.integers(61, 64))):
                t += pd.Timedelta(seconds=wait)
                rows.append((f"c{c:04d}", t, "store", "purchase", 10.0, "budget"))
            t += pd.Timedelta(days=7)
    cols = ["customer_id", "timestamp", "channel", "event_type", "amount", "segment"]
    return pd.DataFrame(rows, columns=cols)


def test_gaps_a_minute_apart_are_not_drawn_under_a_minute(schema):
    """The fine same-day cells are split at the order classes' edges: a basket 61-63 s
    after the one before stays over a minute. (The cell 45-64 s was read as the class under
    a minute and drew them at 45-59 s: the shortest gap, a tell of its own.)"""
    real = EventLog.from_frame(minute_apart(300, seed=0), schema)
    model = EventLog.from_frame(without_bursts(real.df, seed=1), schema)
    for scale in (None, 1.0):
        rhythm = fit(real, scale)
        assert len(rhythm.sameday) == len(SAMEDAY_EDGES) - 1, scale  # the fine tables
        out = rhythm.apply(model.df, model, np.random.default_rng(2), length_class=length_class)
        out = out.sort_values(["customer_id", "timestamp"], kind="stable")
        gap = out.groupby("customer_id").timestamp.diff().dt.total_seconds()
        same = gap[gap < 86_400]
        assert len(same) > 200 and same.between(60, 64).mean() > 0.95, scale


def test_a_model_saved_with_the_unsplit_fine_cells_still_applies(schema):
    """A rhythm saved before the split (33 fine cells) reads them with its own edges."""
    from journeylab.generators.rhythm import sameday_edges

    real = EventLog.from_frame(minute_apart(100, seed=0), schema)
    model = EventLog.from_frame(without_bursts(real.df, seed=1), schema)
    d = fit(real, None).to_dict()
    old = sameday_edges(33)
    assert len(old) == 34 and 60.0 not in old and 3_600.0 not in old
    new_cells = np.searchsorted(SAMEDAY_EDGES, old[:-1])  # each old cell's first new cell
    d["sameday"] = np.add.reduceat(np.asarray(d["sameday"]), new_cells).tolist()
    d["step"] = np.add.reduceat(np.asarray(d["step"]), new_cells, axis=1).tolist()
    out = Rhythm.from_dict(d).apply(
        model.df, model, np.random.default_rng(2), length_class=length_class
    )
    out = out.sort_values(["customer_id", "timestamp"], kind="stable")
    gap = out.groupby("customer_id").timestamp.diff().dt.total_seconds()
    same = gap[gap < 86_400]
    assert len(out) == len(model.df) and len(same) > 50
    assert same.between(45, 64).mean() > 0.95  # its own cell, 45-64 s, as it was drawn
    with pytest.raises(ValueError, match="matches no known edges"):
        sameday_edges(7)


def test_steps_cells_are_raked_to_the_same_day_histogram():
    """Two steps' rows hold a short cell the histogram does not (the step table weighs
    customers by their L2 norm, the histogram each 1 in all): raked, no gap is drawn
    there, the gaps together have the histogram's cells, and each step keeps its own
    lean (the second step's gaps longer than the first's)."""
    from journeylab.generators.rhythm import _raked_cells

    p = np.array([[0.1, 0.6, 0.3, 0.0], [0.1, 0.1, 0.3, 0.5]])
    target = np.array([0.0, 0.4, 0.3, 0.3])
    types = np.r_[np.zeros(600, dtype=np.int64), np.ones(400, dtype=np.int64)]
    out = _raked_cells(p, types, target)
    assert np.allclose(out.sum(1), 1.0)
    assert (out[:, 0] == 0.0).all()
    together = (np.bincount(types)[:, None] * out).sum(0) / len(types)
    assert np.allclose(together, target, atol=0.01)
    assert out[1, 3] > out[0, 3] and out[0, 1] > out[1, 1]


def test_under_dp_the_shortest_same_day_cell_reaches_down_over_the_cut_one():
    """The noise cut the cell of the few shortest gaps: the lowest cell with mass then
    spreads over the one below it too, rising as the histogram does, so customers' shortest
    gaps do not pile on its edge; exact, the cells stay as they are."""
    from journeylab.generators.rhythm import _tail_slope

    edges = SAMEDAY_EDGES_COARSE
    hist = np.zeros(len(edges) - 1)
    c = int(np.searchsorted(edges, 8.0))  # the cell 8-15 s
    hist[c], hist[c + 1], hist[c + 2] = 0.05, 0.2, 0.75
    cell, alpha = _tail_slope(hist, edges)
    assert cell == c and 0.5 < alpha <= 3.0
    b = np.full(20_000, c)
    v = np.random.default_rng(0).random(len(b))
    noisy = Rhythm(**{**_tiny_rhythm().to_dict(), "scale": 1.0})
    s = noisy._cell_seconds(b, v, edges, hist)
    assert s.min() >= edges[c - 1] and s.max() < edges[c + 1]
    assert 0.02 < (s < edges[c]).mean() < 0.4  # some below the cut cell's edge
    assert (s == edges[c]).mean() < 0.1  # not piled on it
    exact = Rhythm(**{**_tiny_rhythm().to_dict(), "scale": None})
    s = exact._cell_seconds(b, v, edges, hist)
    assert s.min() >= edges[c]
    hist[0] = 0.1  # gaps of 0 s: no cell is cut below
    assert _tail_slope(hist, edges) is None


def _tiny_rhythm() -> Rhythm:
    return fit(EventLog.from_frame(bursty(60, seed=0), Schema.from_dict(TINY_SCHEMA)), None)


def sessions_and_visits(n: int, *, seed: int) -> pd.DataFrame:
    """Journeys of 6-12 events: half the customers shop in sessions (3 events a day, a
    week apart), half visit once a day (a few days apart)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 20)), hours=9)
        per_day = 3 if c % 2 == 0 else 1
        for k in range(int(rng.integers(6, 13))):
            rows.append((f"c{c:04d}", t, "purchase"))
            if (k + 1) % per_day == 0:
                t += pd.Timedelta(days=int(rng.integers(2, 9)) if per_day == 1 else 7)
            else:
                t += pd.Timedelta(minutes=int(rng.integers(5, 60)))
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type"])
    df["channel"], df["amount"], df["segment"] = "store", 10.0, "budget"
    return df


def same_day_by_customer(df: pd.DataFrame) -> pd.Series:
    d = df.sort_values(["customer_id", "timestamp"])
    day = d.timestamp.dt.normalize()
    same = day.eq(day.groupby(d.customer_id).shift())
    return same.groupby(d.customer_id).sum() / (d.groupby("customer_id").size() - 1)


def test_the_model_says_which_journeys_are_bursty_the_table_how_many(schema):
    """The burst table's shares go to the journeys the model made burstiest: drawn
    journey by journey, a customer of three events a day and one of a visit a day got
    shares alike."""
    real = EventLog.from_frame(sessions_and_visits(800, seed=0), schema)
    rhythm = fit(real, None)
    model = sessions_and_visits(800, seed=1).sort_values(["customer_id", "timestamp"])
    out = rhythm.apply(model, real, np.random.default_rng(2), length_class=length_class)
    mine, got = same_day_by_customer(model), same_day_by_customer(out)
    assert got.corr(mine) > 0.8
    assert got.mean() == pytest.approx(same_day_by_customer(real.df).mean(), abs=0.05)
    # the draw alone, without the model's own multi-day gaps: no relation
    length = model.groupby("customer_id").size().to_numpy()
    own = (1 - mine.to_numpy()) * (length - 1)
    rng = np.random.default_rng(3)
    alone = rhythm._multi_day_counts(length, rng, length_class)
    ranked = rhythm._multi_day_counts(length, np.random.default_rng(3), length_class, own=own)
    assert abs(np.corrcoef(alone, own)[0, 1]) < 0.3 < 0.8 < np.corrcoef(ranked, own)[0, 1]


def test_a_rare_pair_of_types_weighs_as_much_per_customer_as_a_busy_one():
    """Each customer's 31 purchase-to-purchase gaps and its one cart-to-purchase gap:
    every pair of types it has gets an equal part of its unit L2 norm (weighted by its
    gaps, the cart's row got 1/31 of the purchases' and stood within the noise under DP),
    in the order table and, by the type after a same-day gap, in the step table."""
    from journeylab.generators.rhythm import order_counts, step_counts, type_rows

    rows = []
    for c in range(20):
        t = pd.Timestamp("2024-01-01 10:00")
        for k in range(32):
            rows.append((f"c{c:02d}", t, "purchase"))
            if k == 15:  # a cart, then its purchase a minute later
                t += pd.Timedelta(days=2)
                rows.append((f"c{c:02d}", t, "cart"))
                t += pd.Timedelta(minutes=1)
                rows.append((f"c{c:02d}", t, "purchase"))
            t += pd.Timedelta(days=3)
    df = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type"])
    df["channel"], df["amount"], df["segment"] = "store", 10.0, "budget"
    schema = Schema.from_dict({**TINY_SCHEMA, "max_length": 64})
    real = EventLog.from_frame(df, schema)
    table = order_counts(real)
    p, c = type_rows(pd.Series(["purchase", "cart"]), schema, table.shape[0])
    # three pairs a customer: purchase-purchase, purchase-cart, cart-purchase, 1/sqrt(3) each
    assert table[p, p].sum() == pytest.approx(20 / np.sqrt(3))
    assert table[c, p].sum() == pytest.approx(20 / np.sqrt(3))
    assert table[c, p, 1] == pytest.approx(20 / np.sqrt(3))  # a minute: the minute-hour class
    norms = [np.linalg.norm(order_counts(real.subset([x]))) for x in real.customers]
    assert np.allclose(norms, 1.0)
    steps = step_counts(real, SAMEDAY_EDGES)  # one same-day gap each, before a purchase
    assert steps[p].sum() == pytest.approx(20.0) and steps[c].sum() == 0
