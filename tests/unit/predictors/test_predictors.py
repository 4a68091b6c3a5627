"""Predictors: labels, Customer-360 features, models behind one registry, saving without pickle."""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_frame

from journeylab.journeys import EventLog
from journeylab.journeys.encoding import JourneyEncoder
from journeylab.journeys.errors import ConfigError, DataError
from journeylab.predictors.bundle import Bundle, train_bundle
from journeylab.predictors.data import build_examples
from journeylab.predictors.features import FeatureLayout, customer_features
from journeylab.predictors.labels import DEFAULTS, label_spec, make_labels
from journeylab.predictors.models import MODELS, create, load

CUT = "2024-02-10"


def _log(schema, rows):
    cols = ["customer_id", "timestamp", "channel", "event_type", "amount", "segment"]
    df = pd.DataFrame(rows, columns=cols)
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return EventLog.from_frame(df, schema)


@pytest.fixture
def hand_log(tiny_schema):
    """a: buys in the horizon; b: buys after it; c: starts after the cutoff; d: buys at the
    cutoff; e: buys exactly at cutoff + horizon (outside the half-open window)."""
    return _log(
        tiny_schema,
        [
            ("a", "2024-02-01 10:00:00", "web", "view", 0.0, "budget"),
            ("a", "2024-02-05 10:00:00", "store", "purchase", 20.0, "budget"),
            ("a", "2024-02-20 00:00:00", "app", "purchase", 30.0, "budget"),
            ("b", "2024-01-05 00:00:00", "email", "view", 0.0, "premium"),
            ("b", "2024-03-20 00:00:00", "web", "purchase", 10.0, "premium"),
            ("c", "2024-02-15 00:00:00", "web", "purchase", 15.0, "budget"),
            ("d", "2024-02-09 23:59:59", "web", "cart", 0.0, "premium"),
            ("d", "2024-02-10 00:00:00", "web", "purchase", 50.0, "premium"),
            ("e", "2024-02-01 00:00:00", "app", "view", 0.0, "budget"),
            ("e", "2024-03-11 00:00:00", "app", "purchase", 5.0, "budget"),
        ],
    )


@pytest.fixture(scope="module")
def sim():
    from journeylab.journeys import datasets

    return datasets.load("simulate", n_customers=150, seed=3)[0]


# --- labels ------------------------------------------------------------------------


def test_labels_follow_the_definitions(hand_log):
    y = make_labels(hand_log, cutoff=CUT, horizon=30)
    assert list(y.index) == ["a", "b", "d", "e"]  # c has no event before the cutoff
    assert y["purchase"].to_dict() == {"a": 1, "b": 0, "d": 1, "e": 0}
    assert y["churn"].to_dict() == {"a": 0, "b": 1, "d": 0, "e": 1}
    assert "campaign_response" not in y  # no coupon_redemption event type in this schema


def test_conversion_event_and_per_task_horizon(hand_log):
    y = make_labels(hand_log, cutoff=CUT, horizon=60, task="purchase", conversion="cart")
    assert y["purchase"].sum() == 0  # the only cart event is before the cutoff
    y = make_labels(hand_log, cutoff=CUT, horizon=60, task=["purchase"])
    assert y["purchase"].to_dict() == {"a": 1, "b": 1, "d": 1, "e": 1}


def test_labels_equal_labels_of_the_encode_decode_round_trip(tiny_log, sim):
    for log, cut in ((tiny_log, CUT), (sim, None)):
        enc = JourneyEncoder(log.schema)
        back = enc.decode(enc.encode(log))
        pd.testing.assert_frame_equal(
            make_labels(log, cutoff=cut, horizon=20), make_labels(back, cutoff=cut, horizon=20)
        )
        at = label_spec(log.schema, cutoff=cut, horizon=20).cutoff
        pd.testing.assert_frame_equal(
            customer_features(log, cutoff=at), customer_features(back, cutoff=at)
        )


def test_relative_cutoff_and_documented_defaults(tiny_schema):
    spec = label_spec(tiny_schema, cutoff=0.5, horizon=10)
    start, end = tiny_schema.time_start, tiny_schema.time_end
    assert spec.cutoff == start + (end - start) / 2
    from journeylab.journeys.datasets import schema_of

    cj = label_spec(schema_of("completejourney"))
    assert str(cj.cutoff) == "2017-10-01 00:00:00" and cj.tasks == (
        "churn",
        "purchase",
        "campaign_response",
    )
    assert cj.horizons["churn"].days == DEFAULTS["completejourney"].horizons["churn"] == 60
    sim = label_spec(schema_of("simulate"))
    assert sim.tasks == ("churn", "purchase") and sim.cutoff == pd.Timestamp("2024-04-30")
    assert type(spec).from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"task": "fraud"}, "unknown task 'fraud'; choose from \\['churn', 'purchase'\\]"),
        ({"task": "campaign_response"}, "needs a 'coupon_redemption' event type"),
        ({"cutoff": "2030-01-01"}, "outside the time range"),
        ({"cutoff": "yesterday-ish"}, "is not a timestamp"),
        ({"cutoff": 1.5}, "strictly between 0 and 1"),
        ({"cutoff": "2024-06-20", "horizon": 30}, "labels would be censored"),
        ({"horizon": -3}, "must be positive"),
        ({"conversion": "refund"}, "not in schema 'tiny'"),
    ],
)
def test_bad_label_arguments_are_user_errors(hand_log, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        make_labels(hand_log, **{"cutoff": CUT, "horizon": 30, **kwargs})


def test_no_customer_before_the_cutoff_is_a_clear_error(hand_log):
    with pytest.raises(DataError, match="no customer has an event before the cutoff"):
        make_labels(hand_log, cutoff="2024-01-02", horizon=30)


# --- features ----------------------------------------------------------------------


def test_features_by_hand(hand_log):
    X = customer_features(hand_log, cutoff=CUT)
    assert list(X.index) == ["a", "b", "d", "e"]
    a = X.loc["a"]
    assert a["n_events"] == 2 and a["n_conversions"] == 1 and a["amount_sum"] == 20
    assert a["tenure_days"] == pytest.approx(9 - 10 / 24)
    assert a["recency_days"] == pytest.approx(5 - 10 / 24)
    assert a["recency_conversion_days"] == a["recency_days"]
    assert a["n_events_7d"] == 1 and a["n_events_30d"] == 2 and a["amount_sum_7d"] == 20
    assert a["gap_mean_days"] == 4 and a["gap_std_days"] == 0 and a["gap_last_days"] == 4
    assert a["channel=web_share"] == 0.5 and a["event_type=purchase"] == 1
    assert a["ctx_segment=budget"] == 1 and a["ctx_segment=premium"] == 0
    d = X.loc["d"]  # the purchase at the cutoff is not history
    assert d["n_events"] == 1 and d["has_conversion"] == 0
    assert d["recency_conversion_days"] == d["tenure_days"]
    Xi = customer_features(hand_log, cutoff=CUT, inclusive=True)
    assert Xi.loc["d", "n_events"] == 2 and Xi.loc["d", "recency_days"] == 0
    assert list(X.columns) == FeatureLayout(hand_log.schema).names


def test_features_of_complete_journey_are_quick():
    import time

    from journeylab.journeys import datasets

    log, _ = datasets.load("completejourney")
    t0 = time.perf_counter()
    X = customer_features(log, cutoff="2017-10-01")
    assert time.perf_counter() - t0 < 1.5
    assert len(X) == 2447 and np.isfinite(X.to_numpy()).all()


# --- models ------------------------------------------------------------------------


def test_registry_lists_valid_names_and_validates_configs():
    assert set(MODELS) == {"logreg", "gbm", "tree", "gru"}
    with pytest.raises(ConfigError, match="unknown model 'rf'; choose one of"):
        create("rf")
    with pytest.raises(ConfigError, match=r"GBMConfig: unknown key\(s\) \['depth'\]"):
        create("gbm", {"depth": 3})
    with pytest.raises(ConfigError, match="logreg C -1 must be > 0"):
        create("logreg", {"C": -1})
    assert create("tree", {"max_depth": 2}).config.to_dict()["max_depth"] == 2


@pytest.mark.parametrize("name", ["logreg", "gbm", "tree", "gru"])
def test_models_fit_predict_and_save_without_pickle(name, sim, tmp_path):
    spec = label_spec(sim.schema, task="churn")
    data = build_examples(sim, spec=spec)
    config = {"epochs": 1, "hidden": 8} if name == "gru" else None
    model = create(name, config).fit(data, data.y("churn"))
    p = model.predict_proba(data)
    assert p.shape == (len(data),) and ((p >= 0) & (p <= 1)).all()
    model.save(tmp_path / name)
    files = {f.suffix for f in (tmp_path / name).iterdir()}
    assert files <= {".json", ".skops", ".safetensors"}
    np.testing.assert_array_equal(load(tmp_path / name).predict_proba(data), p)


def test_fast_path_matches_scikit_learn(sim):
    data = build_examples(sim, spec=label_spec(sim.schema, task="purchase"))
    for name in ("logreg", "gbm", "tree"):
        m = create(name).fit(data, data.y("purchase"))
        X = m._prep(m.matrix(data))
        np.testing.assert_allclose(
            m.predict_matrix(m.matrix(data)), m.estimator.predict_proba(X)[:, 1], rtol=0, atol=1e-12
        )


def test_skops_file_with_foreign_types_is_refused(sim, tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    data = build_examples(sim, spec=label_spec(sim.schema, task="churn"))
    create("gbm", {"n_estimators": 5}).fit(data, data.y("churn")).save(tmp_path)
    sio.dump(FunctionTransformer(func=operator.add), tmp_path / "model.skops")
    with pytest.raises(ConfigError, match="outside the allow-list: \\['_operator.add'\\]"):
        load(tmp_path)


def test_single_class_labels_are_refused(hand_log):
    data = build_examples(hand_log, spec=label_spec(hand_log.schema, cutoff=CUT, horizon=30))
    with pytest.raises(DataError, match="every one of the 4 labels is 1"):
        create("logreg").fit(data, np.ones(4))


def test_bundle_round_trip_and_schema_check(tiny_log, tmp_path):
    bundle = train_bundle(tiny_log, model="tree", cutoff=CUT, horizon=30)
    before = bundle.predict(tiny_log)
    bundle.save(tmp_path / "m")
    again = Bundle.load(tmp_path / "m")
    pd.testing.assert_frame_equal(again.predict(tiny_log), before)
    assert again.spec == bundle.spec and again.tasks == ("churn", "purchase")
    other = tiny_log.schema.to_dict() | {"name": "other"}
    from journeylab.journeys import Schema

    foreign = EventLog.from_frame(tiny_frame(5), Schema.from_dict(other))
    with pytest.raises(DataError, match="model was trained on schema 'tiny'"):
        again.predict(foreign)
    with pytest.raises(ConfigError, match="not a model folder"):
        Bundle.load(tmp_path)
