import pandas as pd
import pytest
import torch
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.journeys import (
    ConfigError,
    DataError,
    EventLog,
    JourneyEncoder,
    Schema,
    split_by_customer,
)


def test_valid_log_is_sorted_and_typed(tiny_schema):
    df = tiny_frame().sample(frac=1.0, random_state=1)  # shuffled rows
    log = EventLog.from_frame(df, tiny_schema)
    assert log.report.sorted and "sorted" in log.report.notes[0]
    keys = list(zip(log.df["customer_id"], log.df["timestamp"], strict=True))
    assert keys == sorted(keys)
    assert pd.api.types.is_datetime64_any_dtype(log.df["timestamp"])
    assert log.n_customers == 30 and len(log) == len(df)


def test_csv_and_parquet_round_trip(tmp_path, tiny_log):
    for name in ("log.csv", "log.parquet"):
        tiny_log.write(tmp_path / name)
        back = EventLog.read(tmp_path / name, tiny_log.schema)
        pd.testing.assert_frame_equal(back.df, tiny_log.df)
        assert back.fingerprint() == tiny_log.fingerprint()
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temporaries


def test_unknown_file_type_and_missing_file(tmp_path, tiny_schema):
    with pytest.raises(ConfigError, match="unknown file type '.xlsx'"):
        EventLog.read(tmp_path / "x.xlsx", tiny_schema)
    with pytest.raises(DataError, match="does not exist"):
        EventLog.read(tmp_path / "x.csv", tiny_schema)


def test_eventlog_needs_validation(tiny_schema):
    with pytest.raises(TypeError, match="from_frame"):
        EventLog(tiny_frame(), tiny_schema)


def test_split_is_stable_and_disjoint(tiny_log):
    train, hold = split_by_customer(tiny_log, holdout=0.5, seed=3)
    assert set(train.customers).isdisjoint(hold.customers)
    assert train.n_customers + hold.n_customers == tiny_log.n_customers
    # A customer's side depends only on its id: splitting a subset agrees.
    sub = tiny_log.subset(tiny_log.customers[:12])
    t2, h2 = split_by_customer(sub, holdout=0.5, seed=3)
    assert set(t2.customers) <= set(train.customers) and set(h2.customers) <= set(hold.customers)
    t3, _ = split_by_customer(tiny_log, holdout=0.5, seed=4)
    assert set(t3.customers) != set(train.customers)
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        split_by_customer(tiny_log, holdout=1.5)


def test_truncation_only_when_asked(tiny_schema):
    df = tiny_frame(5, max_events=8)
    schema = Schema.from_dict({**TINY_SCHEMA, "max_length": 3})
    with pytest.raises(DataError, match="longer than max_length 3.*--truncate"):
        EventLog.from_frame(df, schema)
    log = EventLog.from_frame(df, schema, truncate=True)
    assert log.lengths().max() == 3
    assert log.report.truncated_events == len(df) - len(log)
    assert "truncated" in log.report.notes[-1]


def test_encoding_round_trip_exact(tiny_log):
    enc = JourneyEncoder(tiny_log.schema)
    e = enc.encode(tiny_log)
    assert e.tokens.shape[:2] == e.gaps.shape and e.lengths.sum() == len(tiny_log)
    assert int(e.mask().sum()) == len(tiny_log)
    back = enc.decode(e)
    pd.testing.assert_frame_equal(back.df, tiny_log.df)


def test_journeys_running_past_the_window_are_shrunk_to_fit_not_cut(tiny_log):
    """A model's gaps may carry a journey past the window's end: it keeps every event,
    in order, inside the window (clipped times used to collapse and drop them)."""
    enc = JourneyEncoder(tiny_log.schema)
    e = enc.encode(tiny_log)
    e.gaps = torch.where(e.mask(), torch.full_like(e.gaps, 40 * 86_400.0), e.gaps)  # 40 days
    e.gaps[:, 0] = 0.0
    e.start = torch.full_like(e.start, enc.time_span - 3600.0)  # an hour before the end
    back = enc.decode(e)
    assert len(back) == len(tiny_log)
    t = back.df["timestamp"]
    assert t.between(tiny_log.schema.time_start, tiny_log.schema.time_end).all()
    assert (back.df.groupby("customer_id")["timestamp"].diff().dropna() > pd.Timedelta(0)).all()
    got = back.df.groupby("customer_id")["event_type"].apply(list)
    want = tiny_log.df.groupby("customer_id")["event_type"].apply(list)
    assert got.equals(want)  # the order of events kept


def test_encoder_refuses_undeclared_domain():
    d = {
        **TINY_SCHEMA,
        "events": {**TINY_SCHEMA["events"], "channel": {"type": "categorical", "values": None}},
    }
    with pytest.raises(ConfigError, match=r"undeclared: \['channel'\].*estimate them under DP"):
        JourneyEncoder(Schema.from_dict(d))


def test_describe_counts(tiny_log):
    d = tiny_log.describe()
    assert d["events"] == len(tiny_log)
    assert sum(d["events_by_channel"].values()) == len(tiny_log)
