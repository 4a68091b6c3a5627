"""Batch scoring of a whole log, chunk by chunk, into one table written all or nothing.

    summary = score_log(bundle, log, "scores.parquet")   # EventLog or StreamedLog
    # {'customers': 812, 'log_customers': 1000, 'chunks': 1, 'as_of': '2017-10-01 ...'}

Every customer with an event before `as_of` (default: the bundle's label cutoff) gets
one row: the id and P(label = 1) per task, exactly `bundle.predict(log, as_of=...)`.
Features and sequences are per customer, so chunks of whole journeys give the scores
of the whole log, row for row in log order. A partitioned dataset (a StreamedLog) is
read a chunk at a time and each chunk's rows are appended to the output before the
next is read: memory follows the chunk (journeys/streamed.CHUNK customers), not the
log. The table is written to a temporary beside the target and renamed into place
when complete (journeys/files.atomic_write): a failure leaves the old file or none.
`scored_chunks` is the loop itself; `evaluate_bundle` (evaluate.py) uses it with labels.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from journeylab.journeys.errors import DataError, InternalError
from journeylab.journeys.eventlog import EventLog, file_format
from journeylab.journeys.files import atomic_write
from journeylab.journeys.streamed import StreamedLog, each_chunk
from journeylab.predictors.bundle import Bundle, check_schema
from journeylab.predictors.data import Examples, build_examples


def score_log(
    bundle: Bundle,
    log: EventLog | StreamedLog,
    path: str | Path,
    *,
    as_of=None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Write the scores of every customer of `log` with history before `as_of` to `path`
    (.parquet or .csv); returns counts. DataError, and no file, when no one qualifies."""
    check_schema(log, bundle.schema)
    fmt = file_format(path)  # .csv or .parquet: refused before any chunk is read
    at = pd.Timestamp(bundle.spec.cutoff if as_of is None else as_of)
    say = progress or (lambda _m: None)
    counts = {"customers": 0, "log_customers": 0, "chunks": 0, "as_of": str(at)}

    def write(tmp: str) -> None:
        sink = _ParquetSink(tmp) if fmt == "parquet" else _CsvSink(tmp)
        try:
            for chunk, data, scores in scored_chunks(bundle, log, as_of=at):
                counts["chunks"] += 1
                counts["log_customers"] += chunk.n_customers
                rows = pd.DataFrame() if data is None else _rows(scores, chunk.key)
                counts["customers"] += len(rows)
                sink.add(rows)
                say(f"scored {counts['customers']:,} customers ({counts['chunks']} chunks)")
        finally:
            sink.close()
        if counts["customers"] == 0:
            raise DataError(
                f"no customer of the log has an event before {at}, so none can be scored",
                fix="pass a later --as-of (the log's events must come before it)",
            )

    atomic_write(path, write)
    return counts


def scored_chunks(
    bundle: Bundle, log: EventLog | StreamedLog, *, as_of=None, labels: bool = False
) -> Iterator[tuple[EventLog, Examples | None, pd.DataFrame | None]]:
    """(chunk, examples, scores) per chunk of whole journeys (each_chunk: an EventLog is
    its own one chunk): the chunk's customers with history before `as_of` (default: the
    label cutoff) and their P(label = 1) per task, in log order; (chunk, None, None) when
    it has none. `labels`: the examples carry the labels of the bundle's spec (at its
    cutoff; `as_of` must be None). Features, sequences and labels are per customer, so
    the chunks give the whole log's rows."""
    check_schema(log, bundle.schema)
    if labels and as_of is not None:
        raise InternalError("labelled examples are built at the label cutoff; as_of is None")
    at = pd.Timestamp(bundle.spec.cutoff if as_of is None else as_of)
    for chunk in each_chunk(log):
        if not (chunk.df[chunk.time] < at).any():  # no history in this chunk: nothing to score
            yield chunk, None, None
            continue
        if labels:
            data = build_examples(chunk, spec=bundle.spec)
        else:
            data = bundle.examples(chunk, as_of=at)
        yield chunk, data, bundle.predict_examples(data)


def _rows(scores: pd.DataFrame, key: str) -> pd.DataFrame:
    """customers x (id, one column per task)."""
    return scores.rename_axis(key).reset_index()


class _ParquetSink:
    """Appends frames to one Parquet file, one row group each, under the first's schema."""

    def __init__(self, path: str):
        self.path, self.writer = path, None

    def add(self, df: pd.DataFrame) -> None:
        if df.empty:
            return
        table = pa.Table.from_pandas(df, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class _CsvSink:
    """Appends frames to one CSV file, the header once."""

    def __init__(self, path: str):
        self.file = open(path, "w", newline="")  # noqa: SIM115 (closed by close())
        self.header = True

    def add(self, df: pd.DataFrame) -> None:
        if df.empty:
            return
        df.to_csv(self.file, index=False, header=self.header, quoting=csv.QUOTE_MINIMAL)
        self.header = False

    def close(self) -> None:
        self.file.close()
