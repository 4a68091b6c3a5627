"""Partitioned datasets: the same log as one file, every customer in one whole part."""

import json

import pandas as pd
import pytest
import torch

from journeylab.journeys import ConfigError, DataError, EventLog, JourneyEncoder
from journeylab.journeys.partitioned import (
    MANIFEST,
    default_parts,
    is_partitioned,
    iter_parts,
    part_of,
    read_manifest,
    read_partitioned,
    write_blocks,
    write_partitioned,
)


@pytest.fixture
def dataset(tmp_path, tiny_log):
    write_partitioned(tiny_log, tmp_path / "events.parquet", parts=4)
    return tmp_path / "events.parquet"


def test_round_trip_gives_the_log_and_its_fingerprint(dataset, tiny_log):
    assert is_partitioned(dataset) and not is_partitioned(dataset.parent)
    pd.testing.assert_frame_equal(read_partitioned(dataset), tiny_log.df)
    manifest = read_manifest(dataset)
    assert manifest["fingerprint"] == tiny_log.fingerprint()
    assert manifest["customers"] == 30 and manifest["events"] == len(tiny_log)
    assert sum(f["events"] for f in manifest["files"]) == len(tiny_log)
    assert not [p for p in dataset.parent.rglob(".*")]  # no temporaries left


def test_each_customer_in_exactly_one_whole_part(dataset, tiny_log):
    manifest = read_manifest(dataset)
    seen: dict[str, int] = {}
    for entry, df in zip(manifest["files"], iter_parts(dataset), strict=True):
        ids = df["customer_id"].unique()
        assert set(part_of(ids, 4)) == {entry["part"]}  # the hash decides the part
        assert len(ids) == entry["customers"] and len(df) == entry["events"]
        for i in ids:
            assert i not in seen
            seen[i] = len(df[df["customer_id"] == i])
    assert seen == tiny_log.lengths().to_dict()  # every customer, every event
    assert len(manifest["files"]) > 1


def test_part_depends_on_the_id_alone():
    assert part_of(["c0007"], 5)[0] == part_of(["c0001", "c0007", "c0001"], 5)[1]
    # Pinned (sha256 of the id, first 8 bytes, mod 7): a change would move customers
    # between the parts of datasets already written.
    assert list(part_of(["c00000", "c00001", "c00002"], 7)) == [0, 4, 5]
    assert list(part_of(["a", "b", "a"], 1)) == [0, 0, 0]
    assert default_parts(1) == 1 and default_parts(1_000_000) == 50


def test_folder_and_file_give_the_same_fit_input(dataset, tiny_log, tmp_path):
    tiny_log.write(tmp_path / "one.parquet")
    one = EventLog.read(tmp_path / "one.parquet", tiny_log.schema)
    parted = EventLog.read(dataset, tiny_log.schema)
    pd.testing.assert_frame_equal(parted.df, one.df)
    assert parted.fingerprint() == one.fingerprint() and not parted.report.sorted
    enc = JourneyEncoder(tiny_log.schema)
    a, b = enc.encode(one), enc.encode(parted)
    assert a.customer_ids == b.customer_ids
    for field in ("lengths", "tokens", "numerics", "gaps", "start", "context_tokens"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field


def test_blocks_stream_to_the_whole_logs_fingerprint(tmp_path, tiny_log):
    blocks = (chunk.df for chunk in tiny_log.iter_chunks(7))
    manifest = write_blocks(blocks, tmp_path / "ds", tiny_log.schema, parts=3)
    assert manifest["fingerprint"] == tiny_log.fingerprint()
    pd.testing.assert_frame_equal(read_partitioned(tmp_path / "ds"), tiny_log.df)


def test_small_blocks_are_held_into_large_row_groups(tmp_path, tiny_log, monkeypatch):
    import pyarrow.parquet as pq

    from journeylab.journeys import partitioned
    from journeylab.journeys.partitioned import PartitionedWriter

    blocks = [chunk.df for chunk in tiny_log.iter_chunks(2)]  # many blocks, 3 parts each
    write_blocks(blocks, tmp_path / "a", tiny_log.schema, parts=3)
    groups = [pq.ParquetFile(f).num_row_groups for f in (tmp_path / "a").glob("part-*")]
    assert groups == [1, 1, 1]  # not one row group per block and part
    monkeypatch.setattr(partitioned, "GROUP_ROWS", 12)
    monkeypatch.setattr(partitioned, "BUFFER_ROWS", 20)
    writer = PartitionedWriter(tmp_path / "b", tiny_log.schema, parts=3)
    (tmp_path / "b").mkdir()
    for df in blocks:
        writer.add(df)
        assert writer._held_rows.sum() <= 20 and writer._held_rows.max() < 12
    writer.close()
    files = sorted((tmp_path / "b").glob("part-*"))
    sizes = [
        pq.ParquetFile(f).metadata.row_group(g).num_rows
        for f in files
        for g in range(pq.ParquetFile(f).num_row_groups)
    ]
    assert len(sizes) > 3 and len(sizes) < 3 * len(blocks)
    pd.testing.assert_frame_equal(read_partitioned(tmp_path / "b"), tiny_log.df)


def test_blocks_out_of_customer_order_are_refused(tmp_path, tiny_log):
    chunks = [c.df for c in tiny_log.iter_chunks(10)]
    with pytest.raises(ConfigError, match="write blocks in customer order"):
        write_blocks(reversed(chunks), tmp_path / "ds", tiny_log.schema, parts=2)
    assert not list(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(ConfigError, match="parts 0 must be an integer >= 1"):
        write_blocks(chunks, tmp_path / "ds", tiny_log.schema, parts=0)


def test_a_folder_without_manifest_names_the_fix(tmp_path, tiny_schema):
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="not a partitioned dataset.*write_partitioned"):
        EventLog.read(tmp_path / "plain", tiny_schema)


def test_a_changed_part_is_an_error(dataset, tiny_log):
    entry = read_manifest(dataset)["files"][0]
    part = pd.read_parquet(dataset / entry["file"])
    part.iloc[:1].to_parquet(dataset / entry["file"], index=False)
    with pytest.raises(DataError, match="manifest says .*rebuild the dataset"):
        EventLog.read(dataset, tiny_log.schema)


def test_a_manifest_of_another_format_is_refused(dataset, tiny_schema):
    manifest = json.loads((dataset / MANIFEST).read_text())
    (dataset / MANIFEST).write_text(json.dumps({**manifest, "version": 99}))
    with pytest.raises(DataError, match="not a journeylab-partitioned manifest of version 1"):
        read_partitioned(dataset)


def test_rewriting_replaces_the_folder(dataset, tiny_log):
    sub = tiny_log.head_customers(5)
    write_partitioned(sub, dataset, parts=2)
    assert read_manifest(dataset)["customers"] == 5
    assert len(list(dataset.glob("part-*.parquet"))) <= 2
