"""A partitioned dataset as a log that is read in customer-complete chunks, never whole.

    log = StreamedLog.open("data/simulate/events.parquet", schema)   # one validating pass
    log.n_customers, log.fingerprint()                 # from that pass, no data held
    for chunk in log.iter_chunks(1024): ...            # EventLogs, in the one-file order

`fit` takes it where it takes an EventLog (generators/neural.py): the journeys are
encoded chunk by chunk and the DP profile is counted over streamed passes, so
memory follows a chunk and the encoded tensors, not the DataFrame.

Chunks come in the whole log's order (customer, then time), the order of the same
log read from one file: the parts split customers by a hash, so the parts are merged
by customer id, holding a few row groups per part (partitioned_scan.customer_chunks).
Everything a fit draws at random per customer or per event (DP-SGD's Poisson
sampling over customer indices, the profile's capped weights) then meets the same
customers in the same order, and a partitioned folder gives the same fit as one file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.partitioned import read_manifest
from journeylab.journeys.partitioned_scan import customer_chunks, read_rows, scan_partitioned
from journeylab.journeys.schema import Schema
from journeylab.journeys.validate import ValidationReport

TYPED_ROWS = 10_000  # rows of a pass's first frame validated again to learn the dtypes
CHUNK = 10_000  # customers a chunk in a streamed pass (about 580,000 simulated events)


def each_chunk(log: EventLog | StreamedLog) -> Iterable[EventLog]:
    """A log as chunks of whole journeys, for counts that add up over customers: an
    EventLog is its own one chunk (its results as before); a StreamedLog is read again."""
    return [log] if isinstance(log, EventLog) else log.iter_chunks(CHUNK)


def subsample_customers(log: EventLog | StreamedLog, k: int, *, seed: int) -> EventLog:
    """The `k` customers of `log` with the smallest sha256(f"{seed}:{id}") (all of them
    if it has no more), as a log in log order: a choice that depends on the ids and the
    seed alone, so a folder and the same log as one file give the same customers. Two
    streamed passes over a StreamedLog; memory: `k` ids and hashes, then their events."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"a subsample needs k >= 1 customers, got {k!r}; e.g. 20000")
    if isinstance(log, EventLog) and log.n_customers <= k:
        return log
    best = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=object)
    for chunk in each_chunk(log):
        ids = chunk.df[chunk.key].unique()
        h = np.array([_hash(f"{seed}:{i}") for i in ids], dtype=np.uint64)
        keys, who = np.concatenate([best[0], h]), np.concatenate([best[1], ids])
        keep = np.argsort(keys, kind="stable")[:k]
        best = keys[keep], who[keep]
    chosen = set(best[1])
    frames = [c.df[c.df[c.key].isin(chosen)] for c in each_chunk(log)]
    return EventLog(pd.concat(frames, ignore_index=True), log.schema, _validated=True)


def shared_customers(a: EventLog | StreamedLog, b: EventLog | StreamedLog) -> set:
    """Customer ids in both logs; a streamed log is read a chunk at a time (the ids of
    `b` are held: about 100 bytes each)."""
    if isinstance(a, EventLog) and isinstance(b, EventLog):
        return set(a.customers) & set(b.customers)
    ids_b = {i for c in each_chunk(b) for i in c.customers}
    return {i for c in each_chunk(a) for i in c.customers if i in ids_b}


def _hash(s: str) -> int:
    return int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big")


class StreamedLog:
    """A validated partitioned dataset; its events are read again on each pass."""

    def __init__(self, path: Path, schema: Schema, summary: dict, report: ValidationReport):
        self.path, self.schema, self.summary, self.report = Path(path), schema, summary, report
        self._dtypes: pd.Series | None = None

    @classmethod
    def open(cls, path: str | Path, schema: Schema, *, truncate: bool = False) -> StreamedLog:
        """Validate every part and count it (partitioned_scan.scan_partitioned): DataError
        for invalid events or a folder changed since it was written."""
        if truncate:
            raise ConfigError(
                f"--truncate does not apply to the partitioned dataset {path}; rebuild it with "
                "journeys of at most the schema's max_length, or read a one-file copy"
            )
        summary, report = scan_partitioned(path, schema)
        return cls(Path(path), schema, summary, report)

    @property
    def key(self) -> str:
        return self.schema.sequence_key

    @property
    def time(self) -> str:
        return self.schema.sequence_index

    @property
    def n_customers(self) -> int:
        return int(self.summary["customers"])

    @property
    def n_events(self) -> int:
        return int(self.summary["events"])

    def __len__(self) -> int:
        return self.n_events

    def longest(self) -> int:
        return int(self.summary["length_max"])

    def time_max(self) -> pd.Timestamp:
        return pd.Timestamp(self.summary["time_max"])

    def fingerprint(self) -> str:
        return str(self.summary["fingerprint"])

    def describe(self) -> dict:
        return dict(self.summary)

    def iter_chunks(self, customers_per_chunk: int) -> Iterator[EventLog]:
        """Whole journeys, `customers_per_chunk` customers a chunk (the last may have
        fewer), in log order: the merged frames are cut, and their rests carried over,
        so a chunk's size does not follow the parts' row groups."""
        held: list[pd.DataFrame] = []  # frames not yet cut, under a chunk's customers
        count = 0
        for df in merged_frames(self.path, self.key):
            held.append(self._typed(df))
            ids = df[self.key].to_numpy()
            count += 1 + int(np.count_nonzero(ids[1:] != ids[:-1]))
            if count < customers_per_chunk:
                continue
            df = pd.concat(held, ignore_index=True) if len(held) > 1 else held[0]
            ids = df[self.key].to_numpy()
            starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
            cuts = np.r_[starts[::customers_per_chunk], len(df)]
            for a, b in zip(cuts[:-2], cuts[1:-1], strict=True):
                yield EventLog(df.iloc[a:b].reset_index(drop=True), self.schema, _validated=True)
            held = [df.iloc[cuts[-2] :]]
            count = len(starts) - (len(cuts) - 2) * customers_per_chunk
        if count:
            df = pd.concat(held, ignore_index=True)
            yield EventLog(df, self.schema, _validated=True)

    def _typed(self, df: pd.DataFrame) -> pd.DataFrame:
        """The columns as validation types them: the head of the first frame is validated
        again (it passed at `open`) and gives the dtypes every frame is cast to; a part's
        categories are the values it holds, not the schema's."""
        if self._dtypes is None:
            self._dtypes = EventLog.from_frame(df.iloc[:TYPED_ROWS], self.schema).df.dtypes
        return df[list(self._dtypes.index)].astype(self._dtypes.to_dict())

    def __repr__(self) -> str:
        return (
            f"StreamedLog({str(self.path)!r}, schema={self.schema.name!r}, "
            f"customers={self.n_customers}, events={self.n_events})"
        )


def merged_frames(path: Path, key: str) -> Iterator[pd.DataFrame]:
    """The parts' rows merged by customer: frames of whole journeys in customer order.

    Each part's head is kept topped up to `read_rows` rows; each step takes, from every
    head, the customers up to the smallest of the heads' last ids: every customer up to
    it is then in hand (each part is sorted), so the frame is whole. Topping up every
    head, not only the one used up, keeps a frame near READ_ROWS rows however many parts
    there are (one row group per part and step made frames of 200 customers at 50 parts).
    Memory: up to twice `read_rows` rows per part."""
    files = read_manifest(path)["files"]
    rows = read_rows(len(files))
    streams = [customer_chunks(path / e["file"], key, rows) for e in files]
    heads: list[pd.DataFrame | None] = [None] * len(streams)
    while True:
        for i, stream in enumerate(streams):
            heads[i] = _topped_up(heads[i], stream, rows)
        live = [h for h in heads if h is not None]
        if not live:
            return
        bound = min(h[key].iloc[-1] for h in live)
        pieces = []
        for i, head in enumerate(heads):
            if head is None:
                continue
            cut = int(np.searchsorted(head[key].to_numpy(), bound, side="right"))
            if cut:
                pieces.append(head.iloc[:cut])
            heads[i] = head.iloc[cut:] if cut < len(head) else None
        df = pd.concat(pieces, ignore_index=True)
        # stable: a customer's events keep their (time) order, and a customer is in one piece
        yield df.sort_values(key, kind="mergesort", ignore_index=True)


def _topped_up(
    head: pd.DataFrame | None, stream: Iterator[pd.DataFrame], rows: int
) -> pd.DataFrame | None:
    """`head` with the stream's next chunks after it until it holds `rows` rows (or the
    stream ends); None when both are empty."""
    pieces = [] if head is None else [head]
    have = 0 if head is None else len(head)
    while have < rows:
        nxt = next(stream, None)
        if nxt is None:
            break
        pieces.append(nxt)
        have += len(nxt)
    if not pieces:
        return None
    return pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True)
