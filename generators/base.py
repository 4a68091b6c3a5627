"""The one interface every journey generator implements, and its registry.

    gen = create("vae", {"epochs": 5})
    gen.fit(train_log, privacy=PrivacyBudget(epsilon=8))   # recorded in the privacy ledger
    synth = gen.sample(1000, conditions={"age": "45-54"}, seed=0)   # -> EventLog
    gen.save("models/vae-1");  gen2 = load("models/vae-1")

A model directory holds only `model.safetensors` (tensors) and JSON files
(`config.json`, `meta.json` with format version, class name, schema, privacy
record, package versions). No pickle: loading a model cannot run code.

`fit` is the base class's (SDV's BaseSynthesizer.fit -> _fit): it checks the
input once and runs the training through `privacy.release.private_release`, so
every fit, from the CLI or from Python, reserves its budget in the dataset's
privacy ledger before it reads the data and commits what it spent. A subclass
implements only `_fit`.
"""

from __future__ import annotations

import abc
import hashlib
import importlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq

from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.files import atomic_write
from journeylab.journeys.partitioned import default_parts, drop_partitioned, write_blocks
from journeylab.journeys.schema import Schema
from journeylab.journeys.streamed import StreamedLog
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.ledger import Ledger
from journeylab.privacy.release import private_release

# 2: the VAE's first-event time no longer reads z (same tensors, other meaning)
FORMAT_VERSION = 2
REGISTRY: dict[str, type[SequenceGenerator]] = {}


def register(name: str):
    def deco(cls):
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return deco


BUILTIN = {
    "gan": "journeylab.generators.gan",
    "vae": "journeylab.generators.vae",
    "par": "journeylab.generators.par",
}


def registry(name: str | None = None) -> dict[str, type[SequenceGenerator]]:
    """The registry with the built-in generators in it: all of them, or only `name`'s
    when that is enough (loading a VAE need not import the GAN). Their modules import
    this one, so they are imported here, on first use, rather than at the top."""
    for key, module in BUILTIN.items():
        if name is None or name == key or name not in BUILTIN:
            importlib.import_module(module)
    return REGISTRY


def create(name: str, config: dict[str, Any] | None = None) -> SequenceGenerator:
    if name not in registry(name):
        raise ConfigError(f"unknown generator '{name}'; choose one of {sorted(registry())}")
    return REGISTRY[name](**(config or {}))


def load(path: str | Path) -> SequenceGenerator:
    """Load any saved generator; the class is read from meta.json."""
    meta = read_meta(path)
    name = meta.get("generator")
    if name not in registry(name):
        raise ConfigError(
            f"model in {path} was saved by generator '{name}', which this "
            f"version does not know; known: {sorted(registry())}"
        )
    check_tensor_hashes(Path(path), meta)  # every generator: weights bound to meta.json
    return REGISTRY[name].load(path)


def read_meta(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    f = path / "meta.json"
    if not f.exists():
        raise ConfigError(
            f"{path} is not a JourneyLab model directory (no meta.json); pass the "
            "directory written by `journeylab fit` or `save()`"
        )
    try:
        meta = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{f} is corrupt (not valid JSON: {e}); re-run the fit") from e
    if meta.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"model in {path} has format version {meta.get('format_version')!r}; "
            f"this JourneyLab reads version {FORMAT_VERSION}. Re-fit the model "
            "with this version"
        )
    return meta


def check_fitted(gen: SequenceGenerator, fitted: bool) -> None:
    """The one "not fitted" error of every generator (scikit-learn's check_is_fitted)."""
    if not fitted:
        raise ConfigError(
            f"the {gen.name} generator is not fitted; call fit(log) or load a saved "
            "model first (generators.load(path))"
        )


def check_streams(gen: SequenceGenerator, log: EventLog | StreamedLog) -> None:
    """Refuse a StreamedLog for a generator that needs the whole log in memory."""
    if isinstance(log, StreamedLog) and not gen.streams:
        raise ConfigError(
            f"generator '{gen.name}' needs the whole log in memory, and {log.path} is a "
            f"partitioned dataset read in chunks; fit one of "
            f"{sorted(n for n, c in registry().items() if c.streams)}, or read it whole "
            "for this one (EventLog.read(path, schema)), memory permitting"
        )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_tensor_hashes(path: Path, meta: dict[str, Any]) -> None:
    """Refuse tensor files that are not the ones meta.json was written with."""
    hashes = meta.get("tensor_sha256")
    if not isinstance(hashes, dict) or not hashes:
        raise ConfigError(
            f"{path / 'meta.json'} records no tensor_sha256, so its weights cannot be checked; "
            "re-run the fit with this JourneyLab version"
        )
    for name, want in hashes.items():
        f = path / Path(str(name)).name  # a bare file name: never a path out of the folder
        got = file_sha256(f) if f.is_file() else "missing"
        if got != want:
            raise ConfigError(
                f"{f} does not match the sha256 recorded in meta.json ({got[:12]} != "
                f"{str(want)[:12]}): the weights are corrupt, swapped or altered. Restore "
                "the model folder as `journeylab fit` wrote it, or re-run the fit"
            )


class SequenceGenerator(abc.ABC):
    """Learns whole customer journeys from an EventLog and samples new ones."""

    name: ClassVar[str] = ""
    supports_dp: ClassVar[bool] = False  # True when fit(privacy=...) trains with DP-SGD
    supports_ddp: ClassVar[bool] = False  # True when fit(devices=K) trains in K processes
    streams: ClassVar[bool] = False  # True when fit takes a StreamedLog (never held whole)

    release: dict[str, Any] | None = None  # the whole release's record, set by fit
    # set by a fit that used a subsample of a partitioned log: customers, fit_customers,
    # subsample_seed, note (None: every customer of the log)
    fit_scale: dict[str, Any] | None = None

    def fit(
        self,
        log: EventLog,
        *,
        privacy: PrivacyBudget | None = None,
        ledger: Ledger | None = None,
        run_id: str | None = None,
        **train_options: Any,
    ) -> SequenceGenerator:
        """Train on `log`; with a `PrivacyBudget`, customer-level DP.

        The release is recorded in `ledger` (default: the store's ledger,
        `$JOURNEYLAB_LEDGER` or mlruns/privacy/ledger.jsonl) under `run_id`
        (default `python-<random>`): the total budget is reserved before the data
        is read and refused over the dataset's cap; a non-private fit is recorded
        as epsilon = inf. `self.release` holds the whole record (DP preprocessing
        plus training); `self.privacy_record` the training part.
        """
        if not isinstance(log, EventLog | StreamedLog):
            raise DataError(
                f"fit() needs a validated EventLog, got {type(log).__name__}",
                fix="build it with EventLog.from_frame(df, schema) or EventLog.read (a "
                "partitioned dataset: StreamedLog.open)",
            )
        check_streams(self, log)
        if privacy is not None and not isinstance(privacy, PrivacyBudget):
            raise ConfigError(
                f"privacy must be a PrivacyBudget, got {type(privacy).__name__}; "
                "e.g. PrivacyBudget(epsilon=8)"
            )
        if privacy is not None and not self.supports_dp:
            dp = sorted(n for n, c in registry().items() if c.supports_dp)
            raise ConfigError(
                f"generator '{self.name}' has no differential privacy: it cannot train under "
                f"a privacy budget. Use one of {dp} for a DP run, or fit '{self.name}' "
                "without a budget as a non-private baseline"
            )
        self.release = private_release(
            log,
            privacy,
            fit=lambda lg, b: self._fit(lg, privacy=b, **train_options).privacy_record,
            mechanism=f"dp-sgd/{self.name}",
            run_id=run_id or f"python-{uuid.uuid4().hex[:12]}",
            ledger=ledger,
            profile_share=self.profile_share() if privacy is not None else 0.0,
            check=self.check_budget,
        )
        return self

    def profile_share(self) -> float:
        """Share of the training epsilon spent on a DP journey profile (0: none)."""
        return 0.0

    def check_budget(self, n_customers: int, budget: PrivacyBudget) -> None:
        """Refuse (PrivacyBudgetError) a training budget no DP-SGD plan reaches.

        Called before the budget is reserved; a generator with `batch_size` and
        `epochs` in its config is planned as DP-SGD, others are not checked."""
        from dataclasses import replace

        from journeylab.privacy.dpsgd import plan_dpsgd  # Opacus: only when a fit starts

        cfg = getattr(self, "config", None)
        if not (hasattr(cfg, "batch_size") and hasattr(cfg, "epochs")):
            return
        sgd = replace(budget, epsilon=budget.epsilon * (1 - self.profile_share()))
        plan_dpsgd(
            sgd,
            n_customers=n_customers,
            batch_size=cfg.batch_size,
            epochs=cfg.epochs,
            max_steps=getattr(cfg, "max_steps", None),
        )

    @abc.abstractmethod
    def _fit(self, log: EventLog, *, privacy: PrivacyBudget | None = None, **options: Any):
        """Train on a checked log under the training part of the budget; return self."""

    @abc.abstractmethod
    def sample(
        self, n: int, *, conditions: dict[str, Any] | None = None, seed: int | None = None
    ) -> EventLog:
        """Sample `n` journeys (optionally with fixed context values)."""

    @abc.abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write safetensors + JSON into directory `path`."""

    @classmethod
    @abc.abstractmethod
    def load(cls, path: str | Path) -> SequenceGenerator:
        """Read a directory written by `save`."""

    @property
    def privacy_record(self) -> dict[str, Any] | None:
        """What DP training spent (epsilon, delta, noise, steps, ...), or None if not private."""
        return None


def sample_to_parquet(
    gen: SequenceGenerator,
    n: int,
    path: str | Path,
    *,
    batch_size: int = 1000,
    seed: int = 0,
    conditions: dict[str, Any] | None = None,
    context=None,
    progress=None,
    partitioned: bool = False,
) -> dict[str, int]:
    """Sample `n` journeys in batches, streaming them to one Parquet file (or, when
    `partitioned`, to a partitioned dataset folder: journeys/partitioned.py).

    `context` (a DataFrame, one row per customer; generators/context.py) gives
    journey i the context of row i; then `n` must be its number of rows, and
    ids come from its sequence-key column if it has one.

    Batch i is sampled with seed `batch_seed(seed, i)`, so the file depends
    only on (model, n, batch_size, seed, conditions). Customer ids are renumbered
    `syn-00000000`... across batches. The file is written to a temporary name
    and renamed at the end (journeys.files.atomic_write): an interrupted run leaves no
    half file, and a killed run's temporary is removed by the next write to the same name.
    generators/sample_workers.py samples the same batches in several processes.
    """
    check_sample_size(n, batch_size)
    if context is not None:
        _check_context_args(gen, n, context, conditions)
    batches = (
        sample_batch(gen, i, start, k, seed=seed, conditions=conditions, context=context)
        for i, start, k in batch_plan(n, batch_size)
    )
    schema = gen.schema if partitioned else None
    return write_batches(batches, n, path, progress=progress, schema=schema)


def sample_log(
    gen: SequenceGenerator,
    n: int,
    *,
    seed: int = 0,
    conditions: dict[str, Any] | None = None,
    batch_size: int = 1000,
) -> EventLog:
    """In memory, the journeys `sample_to_parquet` writes for the same model, n, seed,
    conditions and batch size (the same batches, seeds and ids), as a validated log: what
    a page shows is what `journeylab sample` (`journeylab.runs.sample_run`) logs."""
    check_sample_size(n, batch_size)
    tables = [
        sample_batch(gen, i, start, k, seed=seed, conditions=conditions)[0]
        for i, start, k in batch_plan(n, batch_size)
    ]
    return EventLog.from_frame(pa.concat_tables(tables).to_pandas(), gen.schema)


def check_sample_size(n: int, batch_size: int) -> None:
    if n < 1 or batch_size < 1:
        raise ConfigError(f"n ({n}) and batch_size ({batch_size}) must be >= 1")


def batch_plan(n: int, batch_size: int) -> list[tuple[int, int, int]]:
    """(index, first journey, journeys) of each batch of a sample of `n`."""
    return [
        (i, start, min(batch_size, n - start)) for i, start in enumerate(range(0, n, batch_size))
    ]


def batch_seed(seed: int, i: int) -> int:
    """The seed of batch `i`: fixed by (seed, i) alone, whoever samples the batch."""
    return seed * 1_000_003 + i


def sample_batch(
    gen: SequenceGenerator,
    i: int,
    start: int,
    k: int,
    *,
    seed: int,
    conditions=None,
    context=None,
) -> tuple[pa.Table, int]:
    """Batch `i` of a sample: `k` journeys, ids renumbered from `start` (unless the
    context table names them); (table, customers)."""
    log = _batch(gen, k, start, i, seed=seed, conditions=conditions, context=context)
    df = log.df.copy()
    if context is None or log.key not in context.columns:
        codes = df[log.key].factorize(sort=False)[0]  # row order under a context
        df[log.key] = [f"syn-{start + c:08d}" for c in codes]
    return pa.Table.from_pandas(df, preserve_index=False), log.n_customers


def _batch(gen, k: int, start: int, i: int, *, seed: int, conditions, context) -> EventLog:
    """Batch i (k journeys from journey `start`), with seed `batch_seed(seed, i)`."""
    if context is None:
        return gen.sample(k, conditions=conditions, seed=batch_seed(seed, i))
    # Imported here: generators.context imports generators.io, which imports this module.
    from journeylab.generators.context import sample_context

    rows = context.iloc[start : start + k]
    return sample_context(gen, rows, seed=batch_seed(seed, i), offset=start)


def _check_context_args(gen, n: int, context, conditions) -> None:
    from journeylab.generators.context import check_context, context_ids

    if conditions:
        raise ConfigError(
            "give fixed values either as conditions (one for every journey) or as a "
            "context table (one row per journey), not both; put them in the table"
        )
    check_context(gen.schema, context)  # every problem before the first batch
    context_ids(gen.schema, context)
    if n != len(context):
        raise ConfigError(
            f"n ({n}) must equal the context table's {len(context)} rows: one journey per row"
        )


def write_batches(
    batches, n: int, path: str | Path, *, progress=None, schema: Schema | None = None
) -> dict[str, int]:
    """Write (table, customers) batches, in order, atomically: to one Parquet file (a row
    group per batch), or with `schema` to a partitioned dataset folder
    (journeys/partitioned.py). Returns the customers and events written."""
    counts = {"customers": 0, "events": 0}

    def counted() -> Iterator[pa.Table]:
        for table, customers in batches:
            yield table
            counts["customers"] += customers
            counts["events"] += table.num_rows
            if progress is not None:
                progress(counts["customers"], n)

    if schema is None:
        drop_partitioned(path)
        _write_tables(counted(), path)
    else:
        frames = (table.to_pandas() for table in counted())
        write_blocks(frames, path, schema, parts=default_parts(n))
    return counts


def _write_tables(tables: Iterator[pa.Table], path: str | Path) -> None:
    def write(tmp: str) -> None:
        writer = None
        try:
            for table in tables:
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
        finally:
            if writer is not None:
                writer.close()

    atomic_write(path, write)  # also removes temporaries that killed samplers left behind
