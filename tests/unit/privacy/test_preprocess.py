"""DP preprocessing: sensitivity on neighbouring datasets, budget split, conform."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError
from journeylab.privacy.preprocess import (
    PreprocessConfig,
    conform,
    customer_category_counts,
    dp_category_set,
    dp_complete_schema,
    dp_quantile,
    length_grid,
    numeric_grid,
    per_customer_values,
    quantile_utility,
    split_budget,
    time_grid,
)


def _open_schema() -> Schema:
    d = copy.deepcopy(TINY_SCHEMA)
    d["events"]["channel"]["values"] = None
    d["events"]["amount"].update(min=None, max=None)
    d["context"]["segment"]["values"] = None
    d["time_range"] = None
    d["max_length"] = None
    return Schema.from_dict(d)


@pytest.fixture
def open_log() -> EventLog:
    return EventLog.from_frame(tiny_frame(25, seed=3), _open_schema())


def _neighbours(log: EventLog):
    """Every dataset that differs from `log` by one whole customer (removed)."""
    ids = list(log.customers)
    for c in ids:
        yield log.subset([i for i in ids if i != c])


@pytest.mark.parametrize("column,k", [("channel", 2), ("channel", 4), ("segment", 1)])
def test_histogram_sensitivity_is_what_epsilon_assumes(open_log, column, k):
    full = customer_category_counts(open_log, column, max_categories=k)
    for nb in _neighbours(open_log):
        c = customer_category_counts(nb, column, max_categories=k).reindex(full.index, fill_value=0)
        diff = (full - c).to_numpy()
        assert diff.min() >= 0 and diff.max() <= 1  # once per category
        assert diff.sum() <= k  # in at most k categories: L1 sensitivity k


@pytest.mark.parametrize(
    "what,grid",
    [
        ("max:amount", numeric_grid()),
        ("min:amount", numeric_grid()),
        ("length", length_grid()),
        ("first_time", time_grid()),
        ("last_time", time_grid()),
    ],
)
@pytest.mark.parametrize("q", [0.01, 0.5, 0.99])
def test_quantile_utility_changes_by_at_most_one(open_log, what, grid, q):
    full = quantile_utility(per_customer_values(open_log, what), grid, q)
    for nb in _neighbours(open_log):
        u = quantile_utility(per_customer_values(nb, what), grid, q)
        assert np.abs(full - u).max() <= 1.0 + 1e-12


def test_fully_declared_schema_costs_nothing(tiny_log):
    result = dp_complete_schema(tiny_log, epsilon=1.0, delta=1e-6, seed=0)
    assert result.schema is tiny_log.schema
    assert (result.epsilon, result.delta, result.domains) == (0.0, 0.0, {})


def test_undeclared_domains_are_estimated_and_the_budget_adds_up():
    log = EventLog.from_frame(tiny_frame(300, seed=1), _open_schema())
    cfg = PreprocessConfig(tail=0.05)
    result = dp_complete_schema(log, epsilon=30.0, delta=1e-6, seed=0, config=cfg)
    s = result.schema
    assert s.undeclared() == [] and set(result.domains) == set(_open_schema().undeclared())
    assert result.epsilon == pytest.approx(30.0) and result.delta == pytest.approx(1e-6)
    assert len(result.domains) == 5
    assert all(d["epsilon"] == pytest.approx(6.0) for d in result.domains.values())
    assert set(s.column("channel").values) == {"app", "email", "store", "web"}
    assert set(s.column("segment").values) == {"budget", "premium"}
    amount = s.column("amount")
    assert amount.min == 0.0 and 250 <= amount.max <= 400 and amount.decimals == 2
    t = log.df["timestamp"]
    assert t.min() - np.timedelta64(30, "D") <= s.time_start <= t.min() + np.timedelta64(10, "D")
    assert t.max() - np.timedelta64(20, "D") <= s.time_end <= t.max() + np.timedelta64(30, "D")
    assert 6 <= s.max_length <= 10
    again = dp_complete_schema(log, epsilon=30.0, delta=1e-6, seed=0, config=cfg)
    assert again.schema == s  # seeded
    clean, report = conform(log, s)
    assert clean.schema == s and clean.n_customers > 280
    assert report.events_dropped == log.n_events - clean.n_events
    assert all(isinstance(n, str) for n in report.notes)


def test_threshold_hides_a_category_of_one_customer():
    rng = np.random.default_rng(0)
    counts = __import__("pandas").Series({"common": 500, "rare": 1})
    released = [
        dp_category_set(counts, epsilon=1.0, delta=1e-6, max_categories=4, rng=rng)[0]
        for _ in range(2000)
    ]
    assert sum("rare" in r for r in released) == 0
    assert sum("common" in r for r in released) == 2000


def test_exponential_quantile_is_accurate_at_large_epsilon():
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 100, size=2000)
    picks = [dp_quantile(values, numeric_grid(), q=0.9, epsilon=5.0, rng=rng) for _ in range(50)]
    assert np.median(picks) == pytest.approx(90, rel=0.15)


def test_conform_drops_and_clips_and_reports(tiny_schema):
    df = tiny_frame(20, seed=2)
    open_log = EventLog.from_frame(df, _open_schema())
    narrow = Schema.from_dict(
        {
            **TINY_SCHEMA,
            "max_length": 3,
            "events": {
                **TINY_SCHEMA["events"],
                "channel": {"type": "categorical", "values": ["web", "app"]},
                "amount": {"type": "numeric", "min": 0.0, "max": 100.0},
            },
        }
    )
    clean, rep = conform(open_log, narrow)
    assert set(clean.df["channel"]) <= {"web", "app"} and clean.df["amount"].max() <= 100
    assert clean.lengths().max() <= 3
    assert rep.values_clipped > 0 and rep.events_dropped > 0
    assert any("clipped" in n for n in rep.notes) and any("truncated" in n for n in rep.notes)
    with pytest.raises(ConfigError, match="undeclared"):
        conform(open_log, _open_schema())


def test_errors_name_the_fix(open_log):
    with pytest.raises(ConfigError, match="Declare them in the schema"):
        dp_complete_schema(open_log, epsilon=0, delta=1e-6, seed=0)
    with pytest.raises(ConfigError, match="needs delta > 0"):
        dp_complete_schema(open_log, epsilon=1.0, delta=0.0, seed=0)
    with pytest.raises(ConfigError, match="too few customers"):
        dp_complete_schema(open_log, epsilon=0.1, delta=1e-9, seed=0)
    with pytest.raises(ConfigError, match="tail"):
        PreprocessConfig(tail=0.7)
    with pytest.raises(ConfigError, match="time_grid"):
        PreprocessConfig(time_grid=("2030-01-01", "2020-01-01"))
    assert np.isfinite(numeric_grid()).all() and math.isclose(numeric_grid().max(), 1e9)


def test_split_budget(tiny_schema):
    assert split_budget(tiny_schema, epsilon=2.0, delta=1e-6) == {
        "preprocessing": (0.0, 0.0),
        "training": (2.0, 1e-6),
    }
    parts = split_budget(_open_schema(), epsilon=2.0, delta=1e-6, share=0.25)
    assert parts["preprocessing"] == pytest.approx((0.5, 2.5e-7))
    assert parts["training"] == pytest.approx((1.5, 7.5e-7))
