"""Fidelity metrics on tiny hand-built logs: identical, shuffled, truncated, mismatched."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from journeylab.journeys.detection import detection_auc, journey_features
from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.eventlog import EventLog, split_by_customer
from journeylab.journeys.fidelity import (
    amount_w1,
    compare,
    fidelity_report,
    gap_w1,
    length_w1,
    ngram_frequencies,
    ngram_tvd,
    w1_ratios,
)
from journeylab.journeys.schema import Schema

SCHEMA = {
    "name": "tiny",
    "sequence_key": "customer_id",
    "sequence_index": "timestamp",
    "time_range": ["2024-01-01", "2025-01-01"],
    "max_length": 60,
    "events": {
        "channel": {"type": "categorical", "values": ["web", "app", "store"]},
        "event_type": {"type": "categorical", "values": ["view", "cart", "purchase", "support"]},
        "amount": {"type": "numeric", "min": 0, "max": 10000},
    },
    "context": {"segment": {"type": "categorical", "values": ["a", "b"]}},
}
# A Markov chain over event types, so that order matters: view -> cart -> purchase -> support.
NEXT = {
    "view": (["view", "cart"], [0.5, 0.5]),
    "cart": (["purchase", "view"], [0.7, 0.3]),
    "purchase": (["support", "view"], [0.3, 0.7]),
    "support": (["view"], [1.0]),
}
CHANNEL = {"view": "web", "cart": "app", "purchase": "store", "support": "web"}
EVENT = ["channel", "event_type", "amount"]


def make_frame(n: int, *, seed: int, prefix: str = "c") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        length = int(min(4 + rng.poisson(8), 60))
        t = pd.Timestamp("2024-01-01") + pd.Timedelta(seconds=int(rng.integers(0, 150 * 86400)))
        ev, seg = "view", "ab"[int(rng.integers(2))]
        for _ in range(length):
            amount = round(float(rng.lognormal(3, 1)), 2) if ev == "purchase" else 0.0
            rows.append((f"{prefix}{i}", t, CHANNEL[ev], ev, amount, seg))
            t += pd.Timedelta(seconds=int(rng.exponential(86400)) + 1)
            options, p = NEXT[ev]
            ev = options[int(rng.choice(len(options), p=p))]
    return pd.DataFrame(rows, columns=["customer_id", "timestamp", *EVENT, "segment"])


def make_log(n: int = 200, *, seed: int = 0, schema: dict = SCHEMA) -> EventLog:
    return EventLog.from_frame(make_frame(n, seed=seed), Schema.from_dict(schema))


def shuffled(log: EventLog, *, seed: int = 0) -> EventLog:
    """Same events and timestamps per journey, event order permuted within each journey."""
    df = log.df.copy()
    order = np.lexsort((np.random.default_rng(seed).random(len(df)), df[log.key].to_numpy()))
    df[EVENT] = df[EVENT].to_numpy()[order]
    return EventLog.from_frame(df, log.schema)


def truncated(log: EventLog) -> EventLog:
    """Each journey cut to its first half (rounded up)."""
    df = log.df
    pos = df.groupby(log.key, sort=False).cumcount()
    n = df.groupby(log.key, sort=False)[log.key].transform("size")
    return EventLog.from_frame(df[pos < np.ceil(n / 2)], log.schema)


@pytest.fixture(scope="module")
def log() -> EventLog:
    return make_log(200, seed=0)


@pytest.fixture(scope="module")
def fresh() -> EventLog:
    """An independent sample of the same process: the noise floor of every metric."""
    return make_log(200, seed=1)


def test_identical_logs_score_zero_distance_and_chance_detection(log):
    for n in (1, 2, 3):
        assert ngram_tvd(log, log, n=n) == 0.0
    assert length_w1(log, log) == gap_w1(log, log) == amount_w1(log, log) == 0.0
    assert 0.4 <= detection_auc(log, log, seed=0) <= 0.6


def test_tvd_matches_a_hand_computed_value():
    schema = Schema.from_dict(SCHEMA)
    t = pd.to_datetime(["2024-02-01", "2024-02-02"])
    base = {"customer_id": "x", "timestamp": t, "amount": [0.0, 0.0], "segment": "a"}
    a = EventLog.from_frame(
        pd.DataFrame({**base, "channel": ["web", "web"], "event_type": ["view", "view"]}), schema
    )
    b = EventLog.from_frame(
        pd.DataFrame({**base, "channel": ["web", "store"], "event_type": ["view", "purchase"]}),
        schema,
    )
    # 1-grams: a = START, v, v, END; b = START, v, p, END -> 0.5 * (0.25 + 0.25)
    assert ngram_tvd(a, b, n=1) == pytest.approx(0.25)
    # 2-grams: a = S>v, v>v, v>E; b = S>v, v>p, p>E -> two of three differ on each side
    assert ngram_tvd(a, b, n=2) == pytest.approx(2 / 3)
    freq = ngram_frequencies(a, n=2)
    assert freq.sum() == pytest.approx(1.0)
    assert freq["web|view > web|view"] == pytest.approx(1 / 3)
    assert "<START> > web|view" in freq.index


def test_shuffled_order_hurts_2_and_3_grams_only(log, fresh):
    mixed = shuffled(log)
    assert ngram_tvd(log, mixed, n=1) == pytest.approx(0.0, abs=1e-12)
    for n in (2, 3):
        noise = ngram_tvd(log, fresh, n=n)
        assert ngram_tvd(log, mixed, n=n) > max(3 * noise, 0.15)
    assert length_w1(log, mixed) == 0.0


def test_truncated_journeys_score_clearly_worse(log, fresh):
    short = truncated(log)
    assert length_w1(log, short) > 3 * max(length_w1(log, fresh), 1.0)
    for n in (1, 2, 3):
        assert ngram_tvd(log, short, n=n) > 2 * ngram_tvd(log, fresh, n=n)
    assert detection_auc(log, short, seed=0) > 0.7
    assert detection_auc(log, fresh, seed=0) < 0.65


def test_w1_ratios_against_itself_and_train_copy(log):
    train, holdout = split_by_customer(log, holdout=0.5, seed=0)
    keys = {"length_w1_ratio", "gap_w1_ratio", "amount_w1_ratio"}
    as_train = w1_ratios(train, holdout, train)
    assert set(as_train) == keys
    assert all(v == pytest.approx(1.0) for v in as_train.values())
    assert all(v == 0.0 for v in w1_ratios(train, holdout, holdout).values())
    # reference 0 (train == holdout): floored denominator, no division by zero
    assert all(v == 0.0 for v in w1_ratios(log, log, log).values())
    assert w1_ratios(log, log, truncated(log))["length_w1_ratio"] > 1e5


def test_fidelity_report_is_flat_json_floats(log, fresh):
    train, holdout = split_by_customer(log, holdout=0.5, seed=0)
    report = fidelity_report(train, holdout, fresh.head_customers(100), seed=0)
    base = [
        "tvd_1gram",
        "tvd_2gram",
        "tvd_3gram",
        "length_w1",
        "gap_w1",
        "amount_w1",
        "detection_auc",
    ]
    ratios = ["length_w1_ratio", "gap_w1_ratio", "amount_w1_ratio"]
    orders = {"order_violations", "ref_order_violations"}
    assert set(report) == set(base) | {f"ref_{k}" for k in base} | set(ratios) | orders
    assert all(type(v) is float and math.isfinite(v) for v in report.values())
    json.dumps(report, allow_nan=False)
    assert report["length_w1_ratio"] == pytest.approx(report["length_w1"] / report["ref_length_w1"])
    assert set(compare(log, fresh)) == set(base)


def test_schema_without_amount_leaves_amount_out():
    schema = {**SCHEMA, "events": {k: v for k, v in SCHEMA["events"].items() if k != "amount"}}
    a = EventLog.from_frame(make_frame(30, seed=0).drop(columns="amount"), Schema.from_dict(schema))
    assert math.isnan(amount_w1(a, a))
    assert "amount_w1" not in compare(a, a)
    assert "amount_w1_ratio" not in w1_ratios(a, a, a)


def test_schema_mismatch_raises_with_the_problem_named(log):
    renamed = Schema.from_dict({**SCHEMA, "name": "other"})
    other = EventLog.from_frame(make_frame(20, seed=2), renamed)
    with pytest.raises(DataError, match="schemas differ: 'tiny' vs 'other'.*same schema"):
        ngram_tvd(log, other, n=1)
    events = dict(SCHEMA["events"])
    events["value"] = events.pop("amount")
    changed = Schema.from_dict({**SCHEMA, "events": events})
    other = EventLog.from_frame(make_frame(20, seed=2).rename(columns={"amount": "value"}), changed)
    with pytest.raises(DataError, match="'amount'.*role differs.*absent in the second"):
        compare(log, other)
    with pytest.raises(DataError, match="'value'.*role differs"):
        fidelity_report(log, log, other)


def test_bad_parameters_raise(log):
    with pytest.raises(ConfigError, match="n=4 is not supported"):
        ngram_tvd(log, log, n=4)
    with pytest.raises(ConfigError, match="folds=1"):
        detection_auc(log, log, folds=1)
    with pytest.raises(DataError, match="needs at least 5 journeys"):
        detection_auc(log, log.head_customers(3))


def test_journey_features_one_row_per_customer(log):
    f = journey_features(log)
    assert list(f.index) == list(log.customers)
    assert (f["length"].to_numpy() == log.lengths().to_numpy()).all()
    shares = f[[c for c in f.columns if c.startswith("share_event_type=")]].sum(axis=1)
    assert np.allclose(shares, 1.0)
    firsts = f[[c for c in f.columns if c.startswith("first_event_type=")]]
    assert (firsts["first_event_type=view"] == 1.0).all()
    assert f["amount_n_positive"].sum() == (log.df["amount"] > 0).sum()
    assert f.notna().all().all()
    assert {"ctx_segment=a", "ctx_segment=b", "gap_median", "first_day"} <= set(f.columns)


def test_detection_auc_is_seeded(log, fresh):
    assert detection_auc(log, fresh, seed=3) == detection_auc(log, fresh, seed=3)
