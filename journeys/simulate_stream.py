"""The simulator at any size: customers in blocks, each block streamed to a partitioned dataset.

    manifest = simulate_partitioned(1_000_000, 0, "data/simulate/events.parquet")

Memory follows the block, not the data: block k is an ordinary simulation of
`block` customers with its own seed, `block_seed(seed, k)`, its customer ids
shifted to follow the previous blocks' (c0000000 ... c0999999 for a million), and
its events go straight to the part files (journeys/partitioned.py) before the
next block is drawn. Customers of a simulation do not interact, so a block is a
faithful sample of the same population.

The result is fixed by (customers, seed, block, preset): the same arguments give
the same files. It is not the log `simulate(customers, seed=seed)` returns, which
draws every customer from one random stream; a one-file build and a partitioned
build of the same size are two samples of the same simulator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from journeylab.journeys import presets
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.partitioned import default_parts, write_blocks

BLOCK = 10_000  # customers simulated at once: ~600,000 events, a few hundred MB at peak


def block_seed(seed: int, index: int) -> int:
    """The seed of block `index`: a child of `seed` in numpy's SeedSequence tree, so blocks
    draw independent streams and a block's draws do not depend on the block size before it."""
    return int(np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1, np.uint64)[0])


def iter_blocks(
    customers: int, seed: int, *, block: int = BLOCK, preset: str | None = None
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(events, truth) of each block, customer ids global and in order."""
    _check_positive("customers", customers, 1_000_000)
    _check_positive("block", block, BLOCK)
    for k, first in enumerate(range(0, customers, block)):
        n = min(block, customers - first)
        log, truth = presets.simulate_preset(preset, n, seed=block_seed(seed, k))
        yield _renumber(log.df, truth, log.key, first=first, total=customers)


def simulate_partitioned(
    customers: int,
    seed: int,
    out: str | Path,
    *,
    block: int = BLOCK,
    preset: str | None = None,
    parts: int | None = None,
    truth: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Simulate `customers` journeys block by block into a partitioned dataset at `out`.

    `truth`: also stream the ground truth (one row per customer) to this Parquet file.
    `progress(done)` is called with the customers written so far. Returns the manifest.
    """
    schema = presets.get_preset(preset).schema()
    n_parts = parts if parts is not None else default_parts(customers)
    blocks = iter_blocks(customers, seed, block=block, preset=preset)
    with _TruthWriter(truth) as truth_out:
        events = _tee(blocks, truth_out, progress or (lambda _done: None))
        return write_blocks(events, out, schema, parts=n_parts)


def _tee(blocks, truth_out: _TruthWriter, progress) -> Iterator[pd.DataFrame]:
    """The events of each block; its truth goes to `truth_out` on the way."""
    done = 0
    for events, truth in blocks:
        truth_out.write(truth)
        yield events
        done += len(truth)
        progress(done)


class _TruthWriter:
    """Appends each block's ground truth to one Parquet file (nothing when path is None)."""

    def __init__(self, path: str | Path | None):
        self.path = path
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> _TruthWriter:
        return self

    def write(self, truth: pd.DataFrame) -> None:
        if self.path is None:
            return
        table = pa.Table.from_pandas(truth, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table.cast(self._writer.schema))

    def __exit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.close()


def _renumber(
    events: pd.DataFrame, truth: pd.DataFrame, key: str, *, first: int, total: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shift a block's ids (its truth lists them in order: local 0..n-1) to first..first+n-1,
    zero-padded for `total` customers, keeping the preset's prefix (c, r, case)."""
    local = truth[key].to_numpy()
    prefix = re.match(r"\D*", local[0]).group(0)
    width = max(5, len(str(total - 1)))
    ids = np.array([f"{prefix}{i:0{width}d}" for i in range(first, first + len(local))], object)
    mapping = dict(zip(local, ids, strict=True))
    events = events.assign(**{key: events[key].map(mapping)})
    return events, truth.assign(**{key: ids.astype(str)})


def _check_positive(name: str, value, example: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} {value!r} must be an integer >= 1, e.g. {example}")
