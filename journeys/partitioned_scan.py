"""One pass over a partitioned dataset: validated, described and fingerprinted in bounded memory.

    summary = scan_partitioned("data/simulate/events.parquet", schema)
    summary == EventLog.read("data/simulate/events.parquet", schema).describe()

The whole log is never held. Each part file is read a row group at a time and
cut into customer-complete chunks (the last customer of a row group waits for
the next one), and each chunk is validated against the schema as a log of its
own: every rule of validation is about one event or one customer, so a chunk of
whole journeys passes exactly when its rows would pass inside the whole log.

The fingerprint must be the whole sorted log's (journeys/fingerprint.py), but
the parts split customers by hash. Each part is sorted by customer, so merging
the parts by customer id visits customers in the whole log's order; the merge
holds one chunk per part, never more.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from journeylab.journeys.errors import DataError, Problem
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.fingerprint import LogHash, row_hashes
from journeylab.journeys.logstats import LogStats
from journeylab.journeys.partitioned import read_manifest
from journeylab.journeys.schema import Schema
from journeylab.journeys.validate import ValidationReport, duplicates_note

READ_ROWS = 500_000  # rows a pass holds over all parts at once (about 8,500 simulated customers)
MIN_READ_ROWS = 4_096  # rows read at once from one part, however many parts there are


def scan_partitioned(path: str | Path, schema: Schema) -> tuple[dict, ValidationReport]:
    """Validate every part; return what `EventLog.describe()` of the whole log returns, and
    the validation report of the whole (its notes: duplicate events).

    Raises DataError (naming the part) for invalid events, and when the counts or the
    fingerprint differ from the manifest's: the folder changed after it was written."""
    path = Path(path)
    manifest = read_manifest(path)
    stats, fingerprint, report = LogStats(schema), LogHash(schema), ValidationReport()
    rows = read_rows(len(manifest["files"]))
    streams = [
        _customer_hashes(_validated(path / e["file"], schema, report, rows), stats)
        for e in manifest["files"]
    ]
    last = None
    for customer, hashes in heapq.merge(*streams, key=lambda item: item[0]):
        if customer == last:
            raise DataError(
                f"customer {customer!r} is in two parts of {path}",
                fix="the folder changed after it was written; rebuild the dataset",
            )
        fingerprint.update_rows(hashes)
        last = customer
    summary = stats.describe(fingerprint.hexdigest())
    _check_against(manifest, summary, path)
    if report.duplicate_events:
        report.notes.append(duplicates_note(report.duplicate_events))
    return summary, report


def read_rows(parts: int) -> int:
    """Rows to read at once from each of `parts` parts merged in one pass (READ_ROWS over all)."""
    return max(MIN_READ_ROWS, READ_ROWS // max(int(parts), 1))


def customer_chunks(file: Path, key: str, min_rows: int = 1) -> Iterator[pd.DataFrame]:
    """The rows of a part file (sorted by `key`) in chunks of whole customers, row groups
    read together until they hold `min_rows` rows. A pass pays for each chunk (a read, a
    validation, a merge step), so small row groups are not read one by one."""
    pf = pq.ParquetFile(file)
    carry, held, rows = None, [], 0
    last = pf.num_row_groups - 1
    for g in range(pf.num_row_groups):
        held.append(pf.read_row_group(g))
        rows += held[-1].num_rows
        if rows < min_rows and g < last:
            continue
        df = pa.concat_tables(held).to_pandas()
        held, rows = [], 0
        if carry is not None:
            df = pd.concat([carry, df], ignore_index=True)
        if df.empty:
            continue
        ids = df[key].to_numpy()
        cut = len(df) - int((ids == ids[-1]).sum())  # the last customer may go on
        carry = df.iloc[cut:].reset_index(drop=True)
        if cut > 0:
            yield df.iloc[:cut].reset_index(drop=True)
    if carry is not None and len(carry):
        yield carry


def _validated(
    file: Path, schema: Schema, report: ValidationReport, min_rows: int
) -> Iterator[EventLog]:
    """Each customer-complete chunk of a part, validated; counts go into `report`."""
    for chunk in customer_chunks(file, schema.sequence_key, min_rows):
        try:
            log = EventLog.from_frame(chunk, schema)
        except DataError as e:
            raise DataError(e.problems + [_where(file)]) from e
        report.n_rows_in += log.report.n_rows_in
        report.duplicate_events += log.report.duplicate_events
        if log.report.sorted:
            raise DataError(
                f"part {file} is not sorted by customer and time",
                fix="the folder changed after it was written; rebuild the dataset",
            )
        yield log


def _customer_hashes(logs: Iterator[EventLog], stats: LogStats) -> Iterator[tuple[str, bytes]]:
    """(customer id, its rows' hashes) in part order; counts each chunk into `stats`."""
    for log in logs:
        stats.add(log)
        hashes, ids = row_hashes(log.df), log.df[log.key].to_numpy()
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        ends = np.r_[starts[1:], len(ids)]
        for a, b in zip(starts, ends, strict=True):
            yield ids[a], hashes[a:b].tobytes()


def _check_against(manifest: dict, summary: dict, path: Path) -> None:
    for name in ("customers", "events"):
        if manifest[name] != summary[name]:
            raise DataError(
                f"{path}: the parts hold {summary[name]} {name}, the manifest says "
                f"{manifest[name]}",
                fix="the folder changed after it was written; rebuild the dataset",
            )
    if manifest["fingerprint"] != summary["fingerprint"]:
        raise DataError(
            f"{path}: fingerprint {summary['fingerprint']} with schema '{summary['schema']}', "
            f"the manifest says {manifest['fingerprint']} with schema '{manifest['schema']}'",
            fix="read it with the schema it was written with (schema.yaml beside it); if that "
            "is the one, the folder changed after it was written: rebuild the dataset",
        )


def _where(file: Path) -> Problem:
    return Problem(
        None,
        f"the rows above are counted within a chunk of part {file}",
        "fix the source data and rebuild the dataset",
    )
