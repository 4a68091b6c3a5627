"""The detector's giveaways in words: every feature journeys.features makes has words."""

from __future__ import annotations

import math

import pytest

from journeylab.evaluation.giveaways import describe, duration, giveaway_sentence
from journeylab.journeys.features import journey_features


@pytest.mark.parametrize(
    ("row", "sentence"),
    [
        (
            {"feature": "share_gap_same_day", "real_mean": 0.12, "synthetic_mean": 0.48},
            "share of events on the same day as the one before: real 12%, synthetic 48%",
        ),
        (
            {"feature": "first_channel=email", "real_mean": 0.3, "synthetic_mean": 0.05},
            "journeys whose first event has channel 'email': real 30%, synthetic 5%",
        ),
        (
            {"feature": "gap_median", "real_mean": math.log1p(7200), "synthetic_mean": 0.0},
            "median time between events: real 2 h, synthetic 0 s",
        ),
        (
            {"feature": "n_event_type=purchase", "real_mean": 1.5, "synthetic_mean": 4.25},
            "events with event_type 'purchase' per journey: real 1.5, synthetic 4.25",
        ),
        (
            {"feature": "amount_max", "real_mean": 120.0, "synthetic_mean": None},
            "max amount per journey: real 120, synthetic –",
        ),
    ],
)
def test_sentences(row, sentence):
    assert giveaway_sentence(row) == sentence


def test_every_feature_of_a_log_has_words(tiny_log):
    """A feature name left as it is would be a pattern missing here."""
    for name in journey_features(tiny_log).columns:
        words, _ = describe(name)
        assert words != name and "=" not in words, name


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (30, 600, 5400, 3 * 86_400)] == [
        "30 s",
        "10 min",
        "1.5 h",
        "3 days",
    ]
