"""Datasets that ship with JourneyLab, and building them to files.

`build(name, out_dir)` writes `<out_dir>/<name>/events.parquet` and
`schema.yaml` (plus `truth.parquet` for the simulator), atomically. Building
twice with the same arguments gives byte-identical files. The simulator has
presets of other shapes (journeys/presets.py): `build("simulate", preset="retail")`
writes to `<out_dir>/simulate-retail/`, the preset's schema name.

Large simulations (more than `PARTITION_ABOVE` customers, or `partitioned=True`)
make `events.parquet` a partitioned dataset folder instead of a file
(journeys/partitioned.py), simulated in blocks so that memory follows the block
(journeys/simulate_stream.py); every command that reads a log reads it the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from journeylab.journeys import presets
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog, write_table
from journeylab.journeys.files import atomic_write
from journeylab.journeys.partitioned import drop_partitioned, write_partitioned
from journeylab.journeys.schema import Schema
from journeylab.journeys.simulate_stream import simulate_partitioned

# Above this many simulated customers a build is partitioned unless told otherwise: a
# one-file build holds the whole log (about 60 events per customer) in memory at once.
PARTITION_ABOVE = 200_000


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    real: bool  # real personal data (privacy applies) or simulated


DATASETS = {
    "completejourney": Dataset(
        "completejourney",
        "84.51 Complete Journey (CC0): 2,469 households, store baskets, direct mail, coupons",
        real=True,
    ),
    "simulate": Dataset(
        "simulate",
        "seeded multichannel simulator (web, app, email, social, store, call centre) with "
        "ground-truth churn and purchase labels; --preset retail or process for other shapes",
        real=False,
    ),
}


def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}'; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def load(
    name: str, *, preset: str | None = None, n_customers: int = 1000, seed: int = 0
) -> tuple[EventLog, dict]:
    """Build a dataset in memory. Returns the log and extra tables (e.g. ground truth).

    `preset` picks the simulator's shape (journeys/presets.py; default omnichannel).
    """
    _check_preset(name, preset)
    if name == "completejourney":
        from journeylab.journeys.completejourney import build_completejourney

        return build_completejourney(), {}
    if n_customers < 1:
        raise ConfigError(f"n_customers must be >= 1, got {n_customers}")
    log, truth = presets.simulate_preset(preset, n_customers, seed=seed)
    return log, {"truth": truth}


def schema_of(name: str, *, preset: str | None = None) -> Schema:
    _check_preset(name, preset)
    if name == "completejourney":
        from journeylab.journeys.completejourney import completejourney_schema

        return completejourney_schema()
    return presets.get_preset(preset).schema()


def folder_name(name: str, preset: str | None = None) -> str:
    """`name`, or `simulate-<preset>` for a simulator preset other than the default."""
    _check_preset(name, preset)
    return name if preset in (None, presets.DEFAULT_PRESET) else f"{name}-{preset}"


def _check_preset(name: str, preset: str | None) -> None:
    get(name)
    if preset is None:
        return
    if name != "simulate":
        raise ConfigError(
            f"dataset '{name}' has no presets; --preset applies to simulate "
            f"({', '.join(sorted(presets.PRESETS))})"
        )
    presets.get_preset(preset)


def build(
    name: str,
    out_dir: str | Path = "data",
    *,
    preset: str | None = None,
    n_customers: int = 1000,
    seed: int = 0,
    partitioned: bool | None = None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Build dataset `name` into `out_dir/<folder_name(name, preset)>/`; returns that directory.

    `partitioned`: write events.parquet as a partitioned dataset folder; None (default)
    partitions a simulation of more than `PARTITION_ABOVE` customers and nothing else.
    """
    say = progress or (lambda _msg: None)
    folder = folder_name(name, preset)
    target = Path(out_dir) / folder
    if partitioned is None:
        partitioned = name == "simulate" and n_customers > PARTITION_ABOVE
    say(f"building {folder}")
    if partitioned and name == "simulate":
        _simulate_partitioned(target, preset, n_customers, seed, say)
        schema_of(name, preset=preset).write(target / "schema.yaml")
        return target
    log, extra = load(name, preset=preset, n_customers=n_customers, seed=seed)
    target.mkdir(parents=True, exist_ok=True)
    say(f"writing {log.n_events} events of {log.n_customers} customers to {target}")
    if partitioned:
        write_partitioned(log, target / "events.parquet")
    else:
        drop_partitioned(target / "events.parquet")
        write_table(log.df, target / "events.parquet")
    for key, table in extra.items():
        write_table(table, target / f"{key}.parquet")
    log.schema.write(target / "schema.yaml")
    return target


def _simulate_partitioned(
    target: Path, preset: str | None, n_customers: int, seed: int, say: Callable[[str], None]
) -> None:
    """events.parquet as a partitioned dataset and truth.parquet, both streamed block by block."""
    if n_customers < 1:
        raise ConfigError(f"n_customers must be >= 1, got {n_customers}")
    target.mkdir(parents=True, exist_ok=True)
    progress = lambda done: say(f"simulated {done:,} of {n_customers:,} customers")  # noqa: E731
    atomic_write(
        target / "truth.parquet",
        lambda tmp: simulate_partitioned(
            n_customers,
            seed,
            target / "events.parquet",
            preset=preset,
            truth=tmp,
            progress=progress,
        ),
    )


def resolve_schema(schema: str | None, data: Path | None = None) -> Schema:
    """A schema from a YAML path, a built-in dataset name, or schema.yaml beside the data."""
    if schema is None:
        if data is not None and (data.parent / "schema.yaml").exists():
            return Schema.read(data.parent / "schema.yaml")
        raise ConfigError(
            "no schema given and no schema.yaml next to the data; pass --schema "
            f"FILE.yaml or a dataset name ({', '.join(sorted(DATASETS))})"
        )
    if Path(schema).exists():
        return Schema.read(schema)
    if schema in DATASETS:
        return schema_of(schema)
    preset = presets.preset_of_schema(schema)
    if preset is not None:
        return schema_of("simulate", preset=preset)
    names = sorted(DATASETS) + [f"simulate-{p}" for p in sorted(presets.PRESETS)]
    names.remove(f"simulate-{presets.DEFAULT_PRESET}")
    raise ConfigError(
        f"schema '{schema}' is neither a file nor a dataset name; pass a YAML file "
        f"or one of {names}"
    )
