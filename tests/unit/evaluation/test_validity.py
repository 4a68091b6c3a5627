"""Validity figures on hand-made logs whose answers are known."""

from __future__ import annotations

import math

import pandas as pd
from conftest import tiny_frame

from journeylab.evaluation.validity import (
    amount_out_of_range_share,
    cut_at_max_share,
    outside_window_share,
    pct,
    unseen_pair_share,
    validity,
    validity_rows,
)
from journeylab.journeys import EventLog


def log_of(rows: list[tuple], schema) -> EventLog:
    """rows: (customer, day offset, channel, event_type, amount)."""
    t0 = pd.Timestamp("2024-02-01")
    df = pd.DataFrame(
        [
            {
                "customer_id": c,
                "timestamp": t0 + pd.Timedelta(days=d),
                "channel": ch,
                "event_type": et,
                "amount": a,
                "segment": "budget",
            }
            for c, d, ch, et, a in rows
        ]
    )
    return EventLog.from_frame(df, schema)


REAL = [
    ("r1", 0, "web", "view", 0.0),
    ("r1", 1, "store", "purchase", 50.0),
    ("r2", 2, "app", "cart", 0.0),
    ("r2", 10, "store", "purchase", 200.0),
]


def test_unseen_pairs_are_counted_per_event(tiny_schema):
    real = log_of(REAL, tiny_schema)
    synth = log_of(
        [
            ("s1", 0, "web", "view", 0.0),
            ("s1", 1, "email", "purchase", 20.0),  # never together in the real log
            ("s2", 2, "store", "purchase", 30.0),
            ("s2", 3, "web", "purchase", 10.0),  # nor this
        ],
        tiny_schema,
    )
    assert unseen_pair_share(real, synth) == 0.5
    assert unseen_pair_share(real, real) == 0.0


def test_events_outside_the_real_window(tiny_schema):
    real = log_of(REAL, tiny_schema)  # days 0..10
    synth = log_of(
        [("s1", -3, "web", "view", 0.0), ("s1", 5, "web", "view", 0.0)]
        + [("s2", 10, "web", "view", 0.0), ("s2", 40, "web", "view", 0.0)],
        tiny_schema,
    )
    assert outside_window_share(real, synth) == 0.5  # day -3 and day 40


def test_journeys_cut_at_max_length(tiny_schema):
    assert tiny_schema.max_length == 20
    long = [("s1", i * 0.1, "web", "view", 0.0) for i in range(20)]
    synth = log_of(long + [("s2", 1, "web", "view", 0.0)] * 1, tiny_schema)
    assert cut_at_max_share(synth) == 0.5
    assert cut_at_max_share(log_of(REAL, tiny_schema)) == 0.0


def test_amounts_outside_the_real_range(tiny_schema):
    real = log_of(REAL, tiny_schema)  # amounts 0..200
    synth = log_of(
        [("s1", 0, "store", "purchase", 250.0), ("s1", 1, "store", "purchase", 100.0)],
        tiny_schema,
    )
    assert amount_out_of_range_share(real, synth) == 0.5


def test_validity_of_a_log_against_itself_is_clean(tiny_log):
    figures = validity(tiny_log, tiny_log)
    assert figures["unseen_pair_share"] == figures["outside_window_share"] == 0.0
    assert figures["amount_out_of_range_share"] == 0.0
    assert figures["cut_at_max_share"] == figures["ref_cut_at_max_share"]


def test_rows_name_each_figure_in_words(tiny_schema):
    rows = validity_rows(
        {
            "unseen_pair_share": 0.0612,
            "cut_at_max_share": 0.0,
            "ref_cut_at_max_share": 0.01,
            "amount_out_of_range_share": math.nan,
        }
    )
    assert [r["figure"] for r in rows] == [
        "Impossible channel/event pairs",
        "Journeys cut at the maximum length",
    ]
    assert (rows[0]["synthetic"], rows[0]["real"]) == ("6.1%", "–")
    assert (rows[1]["synthetic"], rows[1]["real"]) == ("0.0%", "1.0%")
    assert pct(0.0001) == "<0.1%"


def test_a_random_sample_is_judged_against_the_real_log(tiny_schema):
    real = EventLog.from_frame(tiny_frame(30, seed=0), tiny_schema)
    synth = EventLog.from_frame(tiny_frame(30, seed=1), tiny_schema)
    figures = validity(real, synth)
    assert all(0.0 <= figures[k] <= 1.0 for k in figures), figures
