"""Sampling in several processes, with the same result as in one.

    counts = sample_in_workers("models/vae-1", 1_000_000, "synthetic.parquet", workers=2)

A sample is a list of batches, and batch i has its own seed (`base.batch_seed(seed,
i)`) and its own range of customer ids: what it holds depends on (model, seed, i,
batch size), never on who samples it. So K worker processes each load the model
once and take batches as they come free; each writes its batch to a scratch
Parquet file and reports back only the batch number, and the parent appends the
batches to the output in batch order, exactly as `base.sample_to_parquet` does in
one process. The output is the same file for every K (on the same machine and
thread count: a matrix product may round differently with more threads).

Workers are started with `spawn` (a fresh interpreter: forking a process that has
torch threads running can deadlock), run torch on one thread each, and exchange
no tensors or frames with the parent: only Parquet files and small tuples. The
scratch folder sits beside the output and is removed whatever happens.
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from journeylab.generators import base
from journeylab.journeys.errors import ConfigError

_WORKER: dict[str, Any] = {}  # the model and settings of this worker process


def sample_in_workers(
    model_dir: str | Path,
    n: int,
    path: str | Path,
    *,
    workers: int,
    batch_size: int = 1000,
    seed: int = 0,
    conditions: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    partitioned: bool = False,
) -> dict[str, int]:
    """Sample `n` journeys of the model saved in `model_dir` to `path` with `workers`
    processes; the output equals `sample_to_parquet`'s for the same arguments."""
    check_workers(workers)
    base.check_sample_size(n, batch_size)
    gen = base.load(model_dir)  # a broken model fails here, once, not in every worker
    schema = gen.schema if partitioned else None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.stem}-batches-"))
    settings = (str(model_dir), seed, conditions, str(scratch))
    ctx = multiprocessing.get_context("spawn")
    try:
        with ctx.Pool(workers, initializer=_start_worker, initargs=settings) as pool:
            done = pool.imap(_sample_one, base.batch_plan(n, batch_size))  # in batch order
            batches = _collect(done, scratch)
            return base.write_batches(batches, n, path, progress=progress, schema=schema)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def check_workers(workers: int) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers {workers!r} must be an integer >= 1, e.g. 2")


def _collect(done: Iterator[tuple[int, int]], scratch: Path) -> Iterator[tuple[pa.Table, int]]:
    """Each finished batch's table, read back from its scratch file (then removed)."""
    for i, customers in done:
        file = scratch / _batch_file(i)
        table = pq.read_table(file)
        file.unlink()
        yield table, customers


def _start_worker(model_dir: str, seed: int, conditions, scratch: str) -> None:
    torch.set_num_threads(1)  # K workers share the cores; one thread each
    _WORKER.update(
        gen=base.load(model_dir), seed=seed, conditions=conditions, scratch=Path(scratch)
    )


def _sample_one(batch: tuple[int, int, int]) -> tuple[int, int]:
    i, start, k = batch
    w = _WORKER
    table, customers = base.sample_batch(
        w["gen"], i, start, k, seed=w["seed"], conditions=w["conditions"]
    )
    pq.write_table(table, w["scratch"] / _batch_file(i))
    return i, customers


def _batch_file(i: int) -> str:
    return f"batch-{i:06d}.parquet"
