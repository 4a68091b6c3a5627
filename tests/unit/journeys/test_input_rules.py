"""Input rules: one time-zone rule (to UTC, reported), schema types, bounded YAML, names."""

from __future__ import annotations

import time

import pandas as pd
import pytest
import yaml
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError


def _csv(tmp_path, stamps: list[str]):
    df = tiny_frame(3, seed=0).head(len(stamps)).copy()
    df["customer_id"] = "c1"
    df["timestamp"] = stamps
    path = tmp_path / "log.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "stamps",
    [
        ["2024-02-01 12:00:00+02:00", "2024-02-01T13:00:00Z"],
        ["2024-02-01 10:00:00", "2024-02-01 15:00:00+02:00"],  # mixed with naive
    ],
)
def test_offsets_are_converted_to_utc_and_reported(tmp_path, stamps):
    log = EventLog.read(_csv(tmp_path, stamps), Schema.from_dict(TINY_SCHEMA))
    t = log.df["timestamp"]
    assert str(t.dtype) == "datetime64[ns]"
    assert list(t) == [pd.Timestamp("2024-02-01 10:00:00"), pd.Timestamp("2024-02-01 13:00:00")]
    assert any("converted to UTC" in n for n in log.report.notes)


def test_timezone_aware_parquet_is_converted_not_shifted(tmp_path):
    df = tiny_frame(5, seed=0)
    df["timestamp"] = df["timestamp"].dt.tz_localize("Europe/Berlin")
    path = tmp_path / "log.parquet"
    df.to_parquet(path)
    log = EventLog.read(path, Schema.from_dict(TINY_SCHEMA))
    want = df["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    assert sorted(log.df["timestamp"]) == sorted(want)
    assert any("Europe/Berlin were converted to UTC" in n for n in log.report.notes)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"events": ["channel", "event_type"]}, "'events' must be a mapping"),
        ({"max_length": "abc"}, "max_length must be a whole number"),
        ({"max_length": 2.5}, "max_length must be a whole number"),
        (
            {"events": {**TINY_SCHEMA["events"], "amount": {"type": "numeric", "min": "zero"}}},
            "min must be a finite number",
        ),
        (
            {
                "events": {
                    **TINY_SCHEMA["events"],
                    "channel": {"type": "categorical", "values": "a"},
                }
            },
            "'values' must be a list",
        ),
        ({"time_range": ["2024-01-01", "2300-01-01"]}, "outside the timestamps"),
        ({"time_range": ["2024-01-01"]}, "must be \\[start, end\\]"),
        ({"name": "../../x"}, "name '../../x' must be"),
        ({"name": "a/b"}, "letters, digits"),
    ],
)
def test_wrong_types_in_a_schema_are_one_clear_error(change, message):
    with pytest.raises(ConfigError, match=message):
        Schema.from_dict({**TINY_SCHEMA, **change})


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nname: *a9\n")
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="more than 10 aliases"):
        Schema.read(path)
    assert time.perf_counter() - t0 < 2


def test_a_huge_or_missing_schema_file_is_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump(TINY_SCHEMA) + "#" * (1 << 18))
    with pytest.raises(ConfigError, match="bytes; a schema is at most"):
        Schema.read(big)
    with pytest.raises(ConfigError, match="is a folder"):
        Schema.read(tmp_path)


def test_parquet_timestamps_past_2262_are_a_data_error(tmp_path):
    from journeylab.journeys.errors import DataError

    df = tiny_frame(4, seed=0)
    df["timestamp"] = df["timestamp"].astype("datetime64[us]")
    df.loc[1, "timestamp"] = pd.Timestamp("2300-01-01").as_unit("us")
    df.to_parquet(tmp_path / "far.parquet")
    with pytest.raises(DataError, match="rows 1: timestamp cannot be parsed.*2262"):
        EventLog.read(tmp_path / "far.parquet", Schema.from_dict(TINY_SCHEMA))
