"""The streamed pass over a partitioned dataset: the whole log's summary, chunk by chunk."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import tiny_frame

from journeylab.journeys import DataError, EventLog
from journeylab.journeys.partitioned import (
    part_of,
    read_manifest,
    write_blocks,
    write_partitioned,
)
from journeylab.journeys.partitioned_scan import customer_chunks, scan_partitioned


@pytest.fixture
def dataset(tmp_path, tiny_log):
    write_partitioned(tiny_log, tmp_path / "ds", parts=3)
    return tmp_path / "ds"


def _rewrite(dataset, change, *, row_group_size=None):
    """Apply `change` to the frame of the first part and write it back (same file name)."""
    entry = read_manifest(dataset)["files"][0]
    file = dataset / entry["file"]
    df = change(pq.read_table(file).to_pandas())
    pq.write_table(
        pa.Table.from_pandas(df, preserve_index=False), file, row_group_size=row_group_size
    )
    return file


def test_scan_equals_the_whole_logs_describe(dataset, tiny_log):
    assert scan_partitioned(dataset, tiny_log.schema)[0] == tiny_log.describe()


def test_blocks_and_row_groups_cut_mid_customer_change_nothing(tmp_path, tiny_log, dataset):
    write_blocks((c.df for c in tiny_log.iter_chunks(4)), tmp_path / "b", tiny_log.schema, parts=2)
    assert scan_partitioned(tmp_path / "b", tiny_log.schema)[0] == tiny_log.describe()
    file = _rewrite(dataset, lambda df: df, row_group_size=3)  # customers straddle groups
    assert pq.ParquetFile(file).num_row_groups > 3
    chunks = list(customer_chunks(file, "customer_id"))
    ids = [set(c["customer_id"]) for c in chunks]
    assert all(a.isdisjoint(b) for i, a in enumerate(ids) for b in ids[i + 1 :])
    merged = list(customer_chunks(file, "customer_id", min_rows=10))  # groups read together
    longest = int(tiny_log.lengths().max())  # the last customer read waits for the next read
    assert len(merged) < len(chunks) and all(len(c) >= 10 - longest for c in merged[:-1])
    pd.testing.assert_frame_equal(
        pd.concat(merged, ignore_index=True), pd.concat(chunks, ignore_index=True)
    )
    assert scan_partitioned(dataset, tiny_log.schema)[0] == tiny_log.describe()


def test_an_invalid_value_is_reported_with_its_part(dataset, tiny_log):
    def corrupt(df):
        df.loc[0, "channel"] = "fax"
        return df

    file = _rewrite(dataset, corrupt)
    with pytest.raises(DataError, match=rf"(?s)values \['fax'\].*{file.name}"):
        scan_partitioned(dataset, tiny_log.schema)


def test_a_valid_but_changed_value_breaks_the_fingerprint(dataset, tiny_log):
    def change(df):
        df.loc[df["event_type"] == "purchase", "amount"] += 1.0
        return df

    _rewrite(dataset, change)
    with pytest.raises(DataError, match="the manifest says .*rebuild the dataset"):
        scan_partitioned(dataset, tiny_log.schema)


def test_a_customer_in_two_parts_is_refused(dataset, tiny_log):
    first = tiny_log.customers[0]
    home = int(part_of([first], 3)[0])
    other = next(e for e in read_manifest(dataset)["files"] if e["part"] != home)
    file = dataset / other["file"]
    df = pd.concat([tiny_log.head_customers(1).df, pq.read_table(file).to_pandas()])
    both = EventLog.from_frame(df, tiny_log.schema).df  # sorted, as a part is
    pq.write_table(pa.Table.from_pandas(both, preserve_index=False), file)
    with pytest.raises(DataError, match=f"customer '{first}' is in two parts"):
        scan_partitioned(dataset, tiny_log.schema)


def test_the_whole_logs_notes_come_back(tmp_path, tiny_schema):
    df = tiny_frame(12)
    log = EventLog.from_frame(pd.concat([df, df.iloc[[0, 5, 9]]]), tiny_schema)
    assert log.report.duplicate_events == 3
    write_partitioned(log, tmp_path / "ds", parts=3)
    summary, report = scan_partitioned(tmp_path / "ds", tiny_schema)
    assert summary == log.describe() and report.duplicate_events == 3
    assert report.notes == [n for n in log.report.notes if "repeat" in n]
