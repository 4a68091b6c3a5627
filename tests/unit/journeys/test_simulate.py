"""The `simulate` dataset: seeded, valid, exact under encoding, and learnable."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import journeylab.journeys.simulate as sim
from journeylab.journeys.encoding import JourneyEncoder
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.simulate import CHANNELS, EVENT_TYPES, simulate, simulate_schema


@pytest.fixture(scope="module")
def sample():
    return simulate(300, seed=0)


def test_same_seed_same_output_other_seed_differs():
    log_a, truth_a = simulate(40, seed=7)
    log_b, truth_b = simulate(40, seed=7)
    pd.testing.assert_frame_equal(log_a.df, log_b.df)
    pd.testing.assert_frame_equal(truth_a, truth_b)
    log_c, truth_c = simulate(40, seed=8)
    assert not log_a.df.equals(log_c.df)
    assert not truth_a.equals(truth_c)


def test_is_a_valid_event_log_of_the_declared_schema(sample):
    log, truth = sample
    schema = simulate_schema()
    assert isinstance(log, EventLog)
    assert log.schema == schema and schema.is_public
    assert schema.time_start == pd.Timestamp("2024-01-01")
    assert schema.time_end - schema.time_start == pd.Timedelta(days=180)
    again = EventLog.from_frame(log.df, schema)  # re-validation changes nothing
    pd.testing.assert_frame_equal(again.df, log.df)
    assert not again.report.sorted
    assert log.n_customers == len(truth) == 300


def test_timestamps_whole_seconds_inside_range_no_duplicates(sample):
    log, _ = sample
    t = log.df["timestamp"]
    assert (t == t.dt.floor("s")).all()
    assert (t > log.schema.time_start).all() and (t < log.schema.time_end).all()
    assert not log.df.duplicated().any()
    # strictly increasing within a journey, so order never depends on tie-breaking
    assert (log.df.groupby("customer_id")["timestamp"].diff().dropna() > pd.Timedelta(0)).all()


def test_encode_decode_round_trip_is_exact(sample):
    log, _ = sample
    enc = JourneyEncoder(log.schema)
    decoded = enc.decode(enc.encode(log))
    pd.testing.assert_frame_equal(decoded.df, log.df)


def test_every_channel_and_funnel_step_appears(sample):
    log, truth = sample
    assert set(log.df["channel"]) == set(CHANNELS)
    assert set(log.df["event_type"]) == set(EVENT_TYPES)
    assert truth["churned"].any() and (~truth["churned"]).any()
    assert set(truth["segment"]) == {"budget", "mainstream", "premium"}


def test_amounts_positive_two_decimals_on_purchases_only(sample):
    df = sample[0].df
    buy = df["event_type"] == "purchase"
    assert (df.loc[buy, "amount"] > 0).all()
    assert (df.loc[~buy, "amount"] == 0).all()
    assert np.allclose(df["amount"], df["amount"].round(2), rtol=0, atol=1e-9)
    assert set(df.loc[buy, "channel"]) == {"web", "app", "store"}


def test_funnel_order(sample):
    df = sample[0].df
    prev = df.groupby("customer_id")["event_type"].shift()
    assert (prev[df["event_type"] == "cart_abandonment"] == "add_to_cart").all()
    web_buy = (df["event_type"] == "purchase") & (df["channel"] != "store")
    assert (prev[web_buy] == "add_to_cart").all()
    support_call = df["event_type"] == "support_call"
    assert prev[support_call].isin(["purchase", "support_chat", "support_call"]).all()
    assert (df.loc[df["event_type"] == "support_call", "channel"] == "call_centre").all()


def test_no_events_after_churn(sample):
    log, truth = sample
    last = log.df.groupby("customer_id")["timestamp"].max()
    t = truth.set_index("customer_id")
    churned = t["churned"]
    assert (last[churned[churned].index] < t.loc[churned, "churn_time"]).all()
    assert t.loc[churned, "churn_time"].lt(log.schema.time_end).all()
    assert t.loc[~churned, "churn_time"].isna().all()


def test_ground_truth_matches_the_log(sample):
    log, truth = sample
    t = truth.set_index("customer_id")
    assert list(t.index) == list(log.customers)
    assert (t["n_events"] == log.lengths()).all()
    buys = log.df[log.df["event_type"] == "purchase"].groupby("customer_id").size()
    assert (t["n_purchases"] == buys.reindex(t.index, fill_value=0)).all()
    ctx = log.context().set_index("customer_id")
    pd.testing.assert_frame_equal(t[ctx.columns], ctx, check_names=False)


def test_max_length_respected(sample, monkeypatch):
    log, truth = sample
    assert log.lengths().max() <= log.schema.max_length
    original = sim.simulate_schema
    monkeypatch.setattr(sim, "simulate_schema", lambda **kw: replace(original(**kw), max_length=15))
    short, short_truth = sim.simulate(60, seed=1)
    lengths = short.lengths()
    assert lengths.max() == 15
    capped = short_truth.set_index("customer_id")["capped"]
    assert (capped == (lengths == 15)).all()


def test_other_window():
    log, truth = simulate(30, seed=2, start="2023-03-01 08:00:00", days=30)
    assert log.schema.time_start == pd.Timestamp("2023-03-01 08:00:00")
    assert log.schema.time_end == pd.Timestamp("2023-03-31 08:00:00")
    assert (
        log.df["timestamp"]
        .between(log.schema.time_start, log.schema.time_end, inclusive="neither")
        .all()
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_customers": 0}, "n_customers 0 must be an integer >= 1"),
        ({"n_customers": 10, "seed": -1}, "seed -1 must be"),
        ({"n_customers": 10, "days": 0}, "days 0 must be"),
        ({"n_customers": 10, "start": "2024-01-01 00:00:00.5"}, "whole seconds"),
        ({"n_customers": 10, "start": "not a date"}, "is not a timestamp"),
    ],
)
def test_bad_arguments(kwargs, match):
    n = kwargs.pop("n_customers")
    with pytest.raises(ConfigError, match=match):
        simulate(n, **kwargs)


def _features(log: EventLog, cutoff_day: int = 120, horizon_days: int = 60):
    """Counts per event type, recency and segment before the cutoff; labels after it."""
    df = log.df
    cut = log.schema.time_start + pd.Timedelta(days=cutoff_day)
    past = df[df["timestamp"] < cut]
    end = cut + pd.Timedelta(days=horizon_days)
    future = df[(df["timestamp"] >= cut) & (df["timestamp"] < end)]
    x = pd.crosstab(past["customer_id"], past["event_type"]).reindex(
        columns=list(EVENT_TYPES), fill_value=0
    )
    x["recency"] = (cut - past.groupby("customer_id")["timestamp"].max()).dt.days
    seg = log.context().set_index("customer_id").loc[x.index, "segment"]
    x = x.join(pd.get_dummies(seg, dtype=float)).astype(float)
    churn = ~x.index.isin(future["customer_id"])
    buy = x.index.isin(future.loc[future["event_type"] == "purchase", "customer_id"])
    return x, churn, buy


def test_labels_are_learnable_across_samples():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xa, churn_a, buy_a = _features(simulate(800, seed=0)[0])
    xb, churn_b, buy_b = _features(simulate(800, seed=1)[0])
    for ya, yb in [(churn_a, churn_b), (buy_a, buy_b)]:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(xa, ya)
        assert roc_auc_score(yb, model.predict_proba(xb)[:, 1]) > 0.75


def test_small_runs_are_fast():
    t = time.perf_counter()
    simulate(50, seed=0)
    assert time.perf_counter() - t < 1.0


@pytest.mark.slow
def test_ten_thousand_customers_under_a_minute():
    t = time.perf_counter()
    log, _ = simulate(10_000, seed=0)
    assert time.perf_counter() - t < 30.0
    assert log.n_customers == 10_000
    assert log.lengths().max() <= log.schema.max_length
