"""A log as a Parquet dataset: a folder of part files, split by a stable hash of the customer id.

    write_partitioned(log, "data/simulate/events.parquet", parts=8)
    is_partitioned("data/simulate/events.parquet")              # True
    for df in iter_parts("data/simulate/events.parquet"): ...   # one part in memory at a time
    df = read_partitioned("data/simulate/events.parquet")       # the whole log, sorted

The folder holds

    _dataset.json       the manifest: schema name, number of parts, customers and events
                        of each part file, the fingerprint of the whole log
    part-00003.parquet  every event of the customers whose id hashes to part 3

A customer's part is `sha256(id) mod parts`. It depends on the id alone, not on
the order of writing or on who else is in the log, so every customer lies in
exactly one part and each part is customer-complete: whole journeys, sorted by
customer and time. The folder may keep a `.parquet` name, so a command that
takes `events.parquet` takes the dataset as well.

The manifest's fingerprint is `EventLog.fingerprint()` of the whole log (see
journeys/fingerprint.py): a partitioned copy and a one-file copy of a log carry
the same fingerprint, hence the same ledger entry and MLflow tags.

Writing streams. `PartitionedWriter.add(df)` takes customer-complete blocks in
customer order (the blocks of a simulation) and holds each part's rows until the
part has a row group's worth (GROUP_ROWS), or until all the parts together hold
BUFFER_ROWS, when the fullest parts are written; it keeps nothing of written rows
but counts. So row groups stay large however many parts share a block: a block
of 10,000 customers cut into 50 parts once gave row groups of 27 customers, and
every later pass paid a read, a merge step and a validation for each. The folder
appears whole when writing ends, or not at all (journeys/files.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.files import atomic_write_folder, atomic_write_text
from journeylab.journeys.fingerprint import LogHash
from journeylab.journeys.schema import Schema

if TYPE_CHECKING:
    from journeylab.journeys.eventlog import EventLog

MANIFEST = "_dataset.json"
FORMAT = "journeylab-partitioned"
VERSION = 1
CUSTOMERS_PER_PART = 20_000  # default part size: about 1.2 million simulated events, ~100 MB
GROUP_ROWS = 65_536  # rows a part's row group aims for
BUFFER_ROWS = 500_000  # rows a writer holds over all its parts before the fullest are written


def default_parts(customers: int) -> int:
    """Parts for `customers` customers when none is asked for: about 20,000 customers each."""
    return max(1, math.ceil(customers / CUSTOMERS_PER_PART))


def part_of(ids: pd.Series | np.ndarray, parts: int) -> np.ndarray:
    """The part of each customer id: the first 8 bytes of sha256(id), mod `parts`.

    Each distinct id is hashed once, so a block of events costs one hash per customer."""
    codes, uniques = pd.factorize(pd.Series(ids, dtype=object), sort=False)
    digest = [hashlib.sha256(str(u).encode()).digest()[:8] for u in uniques]
    part = np.array([int.from_bytes(d, "big") % parts for d in digest], dtype=np.int64)
    return part[codes]


def is_partitioned(path: str | Path) -> bool:
    """True for a folder written by this module (it has a `_dataset.json` manifest)."""
    return (Path(path) / MANIFEST).is_file()


def drop_partitioned(path: str | Path) -> None:
    """Remove the partitioned dataset at `path`, if there is one: a one-file write to the
    same name replaces it (a folder cannot be renamed over; a file can)."""
    if is_partitioned(path):
        shutil.rmtree(path)


class PartitionedWriter:
    """Appends customer-complete blocks to the part files of a folder, then writes the manifest.

    Blocks must come in customer order with no customer in two blocks (checked), so that
    each part stays sorted and the running fingerprint equals the whole log's."""

    def __init__(self, folder: Path, schema: Schema, *, parts: int):
        if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
            raise ConfigError(f"parts {parts!r} must be an integer >= 1, e.g. 8")
        self.folder, self.schema, self.parts = Path(folder), schema, parts
        self._writers: dict[int, pq.ParquetWriter] = {}
        self._counts = np.zeros((parts, 2), dtype=np.int64)  # customers, events per part
        self._hash = LogHash(schema)
        self._arrow: pa.Schema | None = None  # the first block's, imposed on the rest
        self._last_id: str | None = None
        self._held: dict[int, list[pa.Table]] = {}  # rows not yet written, per part
        self._held_rows = np.zeros(parts, dtype=np.int64)

    def add(self, df: pd.DataFrame) -> None:
        """Append one block: a validated, sorted frame of whole journeys."""
        if df.empty:
            return
        key = self.schema.sequence_key
        self._check_order(df[key])
        self._hash.update(df)
        table = pa.Table.from_pandas(df, preserve_index=False)
        if self._arrow is None:
            self._arrow = table.schema
        table = table.cast(self._arrow)
        part = part_of(df[key], self.parts)
        first = np.r_[True, df[key].to_numpy()[1:] != df[key].to_numpy()[:-1]]
        for p in np.unique(part):
            rows = np.flatnonzero(part == p)
            self._held.setdefault(int(p), []).append(table.take(rows))
            self._held_rows[p] += len(rows)
            self._counts[p] += (int(first[rows].sum()), len(rows))
            if self._held_rows[p] >= GROUP_ROWS:
                self._flush(int(p))
        if self._held_rows.sum() > BUFFER_ROWS:  # the fullest parts, down to half
            while self._held_rows.sum() > BUFFER_ROWS // 2:
                self._flush(int(self._held_rows.argmax()))

    def close(self) -> dict:
        """Write what is held, close the part files and write the manifest; returns it."""
        for p in list(self._held):
            self._flush(p)
        for w in self._writers.values():
            w.close()
        manifest = self._manifest()
        atomic_write_text(self.folder / MANIFEST, json.dumps(manifest, indent=2))
        return manifest

    def _check_order(self, ids: pd.Series) -> None:
        if self._last_id is not None and ids.iloc[0] <= self._last_id:
            raise ConfigError(
                f"block starts at customer {ids.iloc[0]!r}, not after {self._last_id!r}; "
                "write blocks in customer order, each customer in one block"
            )
        self._last_id = ids.iloc[-1]

    def _flush(self, p: int) -> None:
        """Write part p's held rows: one row group, or groups of GROUP_ROWS from a large block."""
        held = self._held.pop(p, [])
        if held:
            table = pa.concat_tables(held)
            size = GROUP_ROWS if len(table) > 2 * GROUP_ROWS else len(table)
            self._writer(p).write_table(table, row_group_size=size)
        self._held_rows[p] = 0

    def _writer(self, p: int) -> pq.ParquetWriter:
        if p not in self._writers:
            self._writers[p] = pq.ParquetWriter(self.folder / _part_file(p), self._arrow)
        return self._writers[p]

    def _manifest(self) -> dict:
        files = [
            {"file": _part_file(p), "part": p, "customers": int(c), "events": int(e)}
            for p, (c, e) in enumerate(self._counts)
            if e > 0
        ]
        return {
            "format": FORMAT,
            "version": VERSION,
            "schema": self.schema.name,
            "sequence_key": self.schema.sequence_key,
            "sequence_index": self.schema.sequence_index,
            "parts": self.parts,
            "customers": int(self._counts[:, 0].sum()),
            "events": int(self._counts[:, 1].sum()),
            "fingerprint": self._hash.hexdigest(),
            "files": files,
        }


def write_blocks(
    blocks: Iterable[pd.DataFrame], out: str | Path, schema: Schema, *, parts: int
) -> dict:
    """Stream customer-complete frames (in customer order) into a partitioned dataset at `out`.

    `blocks` may be a generator: only one block is held at a time. Returns the manifest."""
    manifest: dict = {}

    def write(staged: Path) -> None:
        writer = PartitionedWriter(staged, schema, parts=parts)
        for df in blocks:
            writer.add(df)
        manifest.update(writer.close())

    atomic_write_folder(out, write)
    return manifest


def write_partitioned(log: EventLog, out: str | Path, *, parts: int | None = None) -> dict:
    """Write a log as a partitioned dataset at `out` (default parts: `default_parts`)."""
    n = parts if parts is not None else default_parts(log.n_customers)
    return write_blocks([log.df], out, log.schema, parts=n)


def read_manifest(path: str | Path) -> dict:
    """The manifest of the dataset at `path`, checked; DataError naming the fix otherwise."""
    path = Path(path)
    if not is_partitioned(path):
        raise DataError(
            f"{path} is not a partitioned dataset (no {MANIFEST})",
            fix="pass a .csv or .parquet file, or a folder written by write_partitioned "
            "or `journeylab datasets build simulate --partitioned`",
        )
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path / MANIFEST} is not JSON ({e})", fix="rebuild the dataset") from e
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise DataError(
            f"{path / MANIFEST} is not a {FORMAT} manifest of version {VERSION}",
            fix="rebuild the dataset with this version of JourneyLab",
        )
    return manifest


def iter_parts(path: str | Path) -> Iterator[pd.DataFrame]:
    """Each non-empty part as a frame of whole journeys (sorted by customer and time).

    The row count of each part is checked against the manifest, so a part file
    replaced or cut short after writing is an error, not silently other data."""
    path = Path(path)
    for entry in read_manifest(path)["files"]:
        file = path / entry["file"]
        try:
            df = pd.read_parquet(file)
        except (OSError, ValueError) as e:
            raise DataError(f"could not read part {file}: {e}", fix="rebuild the dataset") from e
        if len(df) != entry["events"]:
            raise DataError(
                f"part {file} has {len(df)} events, the manifest says {entry['events']}",
                fix="the folder changed after it was written; rebuild the dataset",
            )
        yield df


def read_partitioned(path: str | Path) -> pd.DataFrame:
    """The whole log in one frame, sorted by customer and time like a validated log."""
    manifest = read_manifest(path)
    frames = list(iter_parts(path))
    if not frames:
        raise DataError(f"partitioned dataset {path} has no events", fix="rebuild the dataset")
    df = pd.concat(frames, ignore_index=True)
    keys = [manifest["sequence_key"], manifest["sequence_index"]]
    # Stable: events of one customer and second keep their written order (one part each).
    return df.sort_values(keys, kind="mergesort", ignore_index=True)


def _part_file(p: int) -> str:
    return f"part-{p:05d}.parquet"
