"""A partitioned dataset read in chunks: the one-file log's rows, in its order, never whole."""

import pandas as pd
import pytest
from conftest import tiny_frame

from journeylab.journeys import ConfigError, EventLog
from journeylab.journeys.partitioned import write_blocks, write_partitioned
from journeylab.journeys.streamed import StreamedLog, each_chunk


def test_chunks_are_the_one_file_log_in_its_order(tmp_path, tiny_schema):
    log = EventLog.from_frame(tiny_frame(60, seed=4), tiny_schema)
    ids = log.customers
    blocks = [log.subset(ids[i : i + 7]).df for i in range(0, len(ids), 7)]  # many row groups
    write_blocks(blocks, tmp_path / "ds", log.schema, parts=3)
    streamed = StreamedLog.open(tmp_path / "ds", log.schema)
    chunks = list(streamed.iter_chunks(5))
    assert [c.n_customers for c in chunks] == [5] * 12  # whatever the parts' row groups
    pd.testing.assert_frame_equal(pd.concat([c.df for c in chunks], ignore_index=True), log.df)
    assert (streamed.n_customers, streamed.n_events) == (log.n_customers, log.n_events)
    assert streamed.fingerprint() == log.fingerprint()
    assert streamed.longest() == int(log.lengths().max())
    assert streamed.time_max() == log.df[log.time].max()
    again = pd.concat([c.df for c in streamed.iter_chunks(1000)], ignore_index=True)
    pd.testing.assert_frame_equal(again, log.df)  # a second pass reads the same


def test_chunks_do_not_follow_tiny_row_groups(tmp_path, tiny_schema, monkeypatch):
    import pyarrow.parquet as pq

    from journeylab.journeys import partitioned_scan

    log = EventLog.from_frame(tiny_frame(40, seed=5), tiny_schema)
    write_partitioned(log, tmp_path / "ds", parts=4)
    for file in (tmp_path / "ds").glob("part-*.parquet"):  # row groups of 2 rows
        pq.write_table(pq.read_table(file), file, row_group_size=2)
    streamed = StreamedLog.open(tmp_path / "ds", log.schema)
    monkeypatch.setattr(partitioned_scan, "READ_ROWS", 40)
    monkeypatch.setattr(partitioned_scan, "MIN_READ_ROWS", 10)
    chunks = list(streamed.iter_chunks(6))
    assert [c.n_customers for c in chunks] == [6] * 6 + [4]
    pd.testing.assert_frame_equal(pd.concat([c.df for c in chunks], ignore_index=True), log.df)


def test_an_event_log_is_its_own_one_chunk(tiny_log):
    assert [c.df is tiny_log.df for c in each_chunk(tiny_log)] == [True]


def test_truncation_of_a_partitioned_dataset_is_refused(tmp_path, tiny_log):
    write_partitioned(tiny_log, tmp_path / "ds", parts=2)
    with pytest.raises(ConfigError, match="--truncate does not apply to the partitioned"):
        StreamedLog.open(tmp_path / "ds", tiny_log.schema, truncate=True)


def test_streamed_split_puts_the_same_customers_on_each_side(tmp_path, tiny_schema):
    from journeylab.journeys.eventlog import split_by_customer
    from journeylab.journeys.partitioned import read_partitioned
    from journeylab.journeys.streamed_split import split_streamed

    log = EventLog.from_frame(tiny_frame(80, seed=5), tiny_schema)
    write_partitioned(log, tmp_path / "ds", parts=3)
    train, hold = split_by_customer(log, holdout=0.3, seed=4)
    m_train, m_hold = split_streamed(
        StreamedLog.open(tmp_path / "ds", log.schema), tmp_path / "out", holdout=0.3, seed=4
    )
    pd.testing.assert_frame_equal(read_partitioned(tmp_path / "out" / "train.parquet"), train.df)
    pd.testing.assert_frame_equal(read_partitioned(tmp_path / "out" / "holdout.parquet"), hold.df)
    assert (m_train["fingerprint"], m_hold["fingerprint"]) == (
        train.fingerprint(),
        hold.fingerprint(),
    )
    assert m_train["parts"] == 3 and (tmp_path / "out" / "schema.yaml").is_file()


def test_a_split_that_leaves_a_side_empty_writes_nothing(tmp_path, tiny_schema):
    from journeylab.journeys import DataError
    from journeylab.journeys.streamed_split import split_streamed

    log = EventLog.from_frame(tiny_frame(1, seed=5), tiny_schema)
    write_partitioned(log, tmp_path / "ds", parts=2)
    with pytest.raises(DataError, match="left one side empty; nothing was written"):
        split_streamed(StreamedLog.open(tmp_path / "ds", log.schema), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
