"""Malformed logs of every kind end in one DataError naming the problem, never another error."""

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylab.journeys import DataError, EventLog, JourneyEncoder, Schema

SCHEMA = Schema.from_dict(TINY_SCHEMA)
BASE = tiny_frame(6, seed=1, max_events=5)


def _set(df, row, col, value):
    df = df.copy()
    df[col] = df[col].astype(object)
    df.at[row, col] = value
    return df


def _dup(df, row):
    return pd.concat([df, df.iloc[[row]]], ignore_index=True)


def _long(df, row):
    cid = df.at[row, "customer_id"]
    t = df["timestamp"].max()
    extra = pd.DataFrame(
        [
            {**df.iloc[row].to_dict(), "timestamp": t + pd.Timedelta(seconds=i + 1)}
            for i in range(25)
        ]
    )
    extra["customer_id"] = cid
    return pd.concat([df, extra], ignore_index=True)


def _context(df, row):
    seg = df.at[row, "segment"]
    return (
        _set(df, row, "segment", "premium" if seg == "budget" else "budget")
        if (df["customer_id"] == df.at[row, "customer_id"]).sum() > 1
        else None
    )


CORRUPTIONS = {
    "missing column": (lambda df, r: df.drop(columns=["event_type"]), "required column is missing"),
    "misnamed column": (
        lambda df, r: df.rename(columns={"channel": "chanel"}),
        "rename column 'chanel' to 'channel'",
    ),
    "unparseable time": (
        lambda df, r: _set(df, r, "timestamp", "31/02/2024 25:61"),
        "timestamp cannot be parsed",
    ),
    "missing time": (lambda df, r: _set(df, r, "timestamp", None), "timestamp is missing"),
    "time out of range": (
        lambda df, r: _set(df, r, "timestamp", pd.Timestamp("2031-01-01")),
        "outside the declared time range",
    ),
    "numeric time": (lambda df, r: df.assign(timestamp=np.arange(len(df))), "numeric type"),
    "nan category": (lambda df, r: _set(df, r, "channel", np.nan), "value is missing"),
    "category out of domain": (
        lambda df, r: _set(df, r, "channel", "fax"),
        "not in the declared domain",
    ),
    "float category": (lambda df, r: df.assign(segment=1.5), "float type"),
    "nan numeric": (lambda df, r: _set(df, r, "amount", None), "value is missing"),
    "wrong type numeric": (lambda df, r: _set(df, r, "amount", "twelve"), "not a number"),
    "infinite numeric": (lambda df, r: _set(df, r, "amount", np.inf), "infinite"),
    "numeric out of bounds": (
        lambda df, r: _set(df, r, "amount", 1e6),
        "outside the declared bounds",
    ),
    "missing id": (lambda df, r: _set(df, r, "customer_id", None), "customer id is missing"),
    "too long": (_long, "longer than max_length 20"),
    "varying context": (_context, "context value changes"),
    "empty": (lambda df, r: df.iloc[0:0], "empty"),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(CORRUPTIONS)),
    row=st.integers(0, len(BASE) - 1),
    shuffle=st.booleans(),
)
def test_each_malformation_is_named(kind, row, shuffle):
    corrupt, message = CORRUPTIONS[kind]
    df = corrupt(BASE, row)
    if df is None:  # corruption not applicable to this row
        return
    if shuffle:
        df = df.sample(frac=1.0, random_state=row)
    with pytest.raises(DataError, match=message) as info:
        EventLog.from_frame(df, SCHEMA)
    assert "Fix:" in str(info.value)


CELL = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(),
    st.sampled_from(["web", "view", "premium", "2024-03-01"]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_arbitrary_garbage_never_raises_anything_but_data_error(data):
    df = BASE.copy().astype(object)
    for _ in range(data.draw(st.integers(1, 6))):
        r = data.draw(st.integers(0, len(df) - 1))
        c = data.draw(st.sampled_from(list(df.columns)))
        df.at[r, c] = data.draw(CELL)
    try:
        log = EventLog.from_frame(df, SCHEMA)
    except DataError as e:
        assert e.problems and all(p.fix for p in e.problems)
    else:
        assert log.n_events == len(df)


def test_all_problems_are_collected_in_one_error():
    df = _set(_set(BASE, 0, "channel", "fax"), 1, "amount", "x")
    df = df.rename(columns={"segment": "segmnt"})
    with pytest.raises(DataError) as info:
        EventLog.from_frame(df, SCHEMA)
    text = str(info.value)
    for part in ("fax", "not a number", "rename column 'segmnt' to 'segment'", "rows 0", "rows 1"):
        assert part in text
    assert len(info.value.problems) >= 4


@pytest.mark.parametrize("copies", [1, 2])
def test_exact_duplicate_events_are_kept_and_noted(copies):
    """Two coupons redeemed on one day are data: kept, counted in a note, never refused."""
    df = BASE
    for _ in range(copies):
        df = _dup(df, 3)
    log = EventLog.from_frame(df.sample(frac=1.0, random_state=0), SCHEMA)
    assert log.n_events == len(BASE) + copies
    assert log.report.duplicate_events == copies
    assert any(f"{copies} event(s) repeat an earlier event exactly" in n for n in log.report.notes)
    # the generators learn from every event, repeats included
    assert int(JourneyEncoder(SCHEMA).encode(log).lengths.sum()) == len(BASE) + copies


def test_a_log_without_duplicates_has_no_duplicate_note():
    log = EventLog.from_frame(BASE, SCHEMA)
    assert log.report.duplicate_events == 0
    assert not any("repeat" in n for n in log.report.notes)
