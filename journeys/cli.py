"""CLI commands of the `journeys` package: datasets, validate, split (compare: compare_cli.py).

Registered into the one `journeylab` command by app/cli.py. Commands talk to
people; the functions they call never print.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from journeylab.journeys.errors import ConfigError

if TYPE_CHECKING:
    from journeylab.journeys.eventlog import EventLog
    from journeylab.journeys.schema import Schema
    from journeylab.journeys.streamed import StreamedLog

# pandas, pyarrow and the datasets are imported inside the commands that use them, so
# `journeylab --help` and the commands that do not read a log start fast.

# Messages stay on one line (ids can be copied). No markup: file names, values and
# conditions are user text, and a `[` in them must print as itself, never as a tag.
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True, markup=False)
datasets_app = typer.Typer(help="Datasets that ship with JourneyLab.", no_args_is_help=True)

SchemaOpt = Annotated[
    str | None,
    typer.Option(
        "--schema",
        "-s",
        help="Schema YAML file, or a built-in dataset name. Default: schema.yaml "
        "next to the data file.",
    ),
]
DataOpt = Annotated[
    Path,
    typer.Option("--data", "-d", help="Event log (.csv, .parquet, or a partitioned folder)."),
]
TruncOpt = Annotated[
    bool,
    typer.Option(
        "--truncate", help="Cut journeys longer than max_length (reported) instead of failing."
    ),
]


def output_file(path: Path | None, option: str) -> Path | None:
    """A file a command may write: refused up front when it is a folder (or sits under a
    file), before any work is done."""
    if path is None:
        return None
    if path.is_dir():
        raise ConfigError(
            f"{option} {path} is a folder; pass a file name, e.g. {option} {path / 'out.json'}"
        )
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ConfigError(f"{option} {path}: {parent} is a file, not a folder; pass another path")
    return path


def output_folder(path: Path, option: str) -> Path:
    """A folder a command may write into: refused when it (or a parent) is a file."""
    blocker = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise ConfigError(
            f"{option} {path}: {blocker} is a file; pass a folder name, e.g. {option} data/split"
        )
    return path


def input_file(path: Path, option: str) -> Path:
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(f"{option} {path} {what}; pass an existing file")
    return path


def read_log(data: Path, schema: str | None, truncate: bool = False) -> EventLog:
    from journeylab.journeys import datasets
    from journeylab.journeys.eventlog import EventLog

    with err.status(f"reading and validating {data}"):
        log = EventLog.read(data, datasets.resolve_schema(schema, data), truncate=truncate)
    for note in log.report.notes:
        err.print(f"note: {data}: {note}", style="yellow")
    return log


def open_log(data: Path, schema: str | Schema | None) -> EventLog | StreamedLog:
    """A log for a command that reads in chunks: a partitioned dataset is validated part
    by part and read again chunk by chunk (a StreamedLog, never held whole); a file is
    read whole. `schema`: a Schema, or what --schema takes."""
    from journeylab.journeys import datasets
    from journeylab.journeys.eventlog import EventLog
    from journeylab.journeys.partitioned import is_partitioned
    from journeylab.journeys.schema import Schema
    from journeylab.journeys.streamed import StreamedLog

    sch = schema if isinstance(schema, Schema) else datasets.resolve_schema(schema, data)
    if is_partitioned(data):
        with err.status(f"validating {data} part by part (it is read in chunks, never whole)"):
            log = StreamedLog.open(data, sch)
    else:
        with err.status(f"reading and validating {data}"):
            log = EventLog.read(data, sch)
    for note in log.report.notes:
        err.print(f"note: {data}: {note}", style="yellow")
    return log


def scan_log(data: Path, schema: str | None) -> dict:
    """Validate and describe a partitioned dataset part by part, never holding all of it."""
    from journeylab.journeys import datasets
    from journeylab.journeys.partitioned_scan import scan_partitioned

    with err.status(f"validating {data} part by part"):
        summary, report = scan_partitioned(data, datasets.resolve_schema(schema, data))
    for note in report.notes:
        err.print(f"note: {data}: {note}", style="yellow")
    return summary


def print_dict(d: dict, title: str) -> None:
    table = Table(title=title, show_header=False)
    for k, v in d.items():
        if isinstance(v, dict):
            v = json.dumps(v)
        elif isinstance(v, float):
            v = f"{v:.4g}"
        table.add_row(str(k), str(v))
    out.print(table)


@datasets_app.command("list")
def datasets_list() -> None:
    """List the datasets that ship with JourneyLab."""
    from journeylab.journeys import datasets

    table = Table("name", "kind", "description")
    for d in datasets.DATASETS.values():
        table.add_row(d.name, "real" if d.real else "simulated", d.description)
    out.print(table)


@datasets_app.command("build")
def datasets_build(
    name: Annotated[str, typer.Argument(help="completejourney or simulate")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for <name>/")] = Path("data"),
    customers: Annotated[int, typer.Option(help="Customers (simulate only).")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed (simulate only).")] = 0,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Shape of the simulated data (simulate only): omnichannel (default), "
            "retail or process. Other presets build to OUT/simulate-PRESET/."
        ),
    ] = None,
    partitioned: Annotated[
        bool | None,
        typer.Option(
            "--partitioned/--one-file",
            help="Write events.parquet as a partitioned dataset folder (simulated in blocks, "
            "memory bounded) or as one file. Default: partitioned above 200,000 customers.",
        ),
    ] = None,
) -> None:
    """Build a dataset to OUT/NAME/events.parquet + schema.yaml (identical on every build)."""
    from journeylab.journeys import datasets

    folder = datasets.folder_name(name, preset)
    output_folder(out_dir, "--out")
    with err.status(f"building {folder}") as status:
        target = datasets.build(
            name,
            out_dir,
            preset=preset,
            n_customers=customers,
            seed=seed,
            partitioned=partitioned,
            progress=lambda m: status.update(m),
        )
    out.print(f"built {folder} in {target}")


@datasets_app.command("describe")
def datasets_describe(
    data: Annotated[
        Path, typer.Argument(help="Event log (file or partitioned folder), or a built dataset")
    ],
    schema: SchemaOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Counts of customers, events per channel and type, lengths, time range."""
    from journeylab.journeys.partitioned import is_partitioned

    if data.is_dir() and not is_partitioned(data):
        data = data / "events.parquet"
    d = scan_log(data, schema) if is_partitioned(data) else read_log(data, schema).describe()
    out.print_json(json.dumps(d)) if as_json else print_dict(d, str(data))


def validate(
    data: DataOpt,
    schema: SchemaOpt = None,
    truncate: TruncOpt = False,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the validated, sorted log here.")
    ] = None,
) -> None:
    """Check an event log against its schema; list every problem with its fix."""
    from journeylab.journeys.eventlog import file_format
    from journeylab.journeys.partitioned import is_partitioned

    output = output_file(output, "--out")
    if output is not None:
        file_format(output)  # .csv or .parquet, refused before reading
    if output is None and not truncate and is_partitioned(data):
        d = scan_log(data, schema)  # streamed: nothing to write, so nothing to hold
        out.print(
            f"valid: {d['customers']} customers, {d['events']} events "
            f"(fingerprint {d['fingerprint']})"
        )
        return
    log = read_log(data, schema, truncate)
    if output is not None:
        log.write(output)
    out.print(
        f"valid: {log.n_customers} customers, {log.n_events} events "
        f"(fingerprint {log.fingerprint()})" + (f"; written to {output}" if output else "")
    )


def split(
    data: DataOpt,
    schema: SchemaOpt = None,
    truncate: TruncOpt = False,
    holdout: Annotated[float, typer.Option(help="Share of customers held out.")] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the hash split.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for train/holdout")] = Path(
        "data/split"
    ),
) -> None:
    """Split customers into train and holdout by a seeded hash of the id (stable)."""
    from journeylab.journeys.eventlog import split_by_customer, write_table
    from journeylab.journeys.partitioned import is_partitioned

    output_folder(out_dir, "--out")
    if is_partitioned(data):
        _split_streamed(data, schema, truncate, holdout, seed, out_dir)
        return
    log = read_log(data, schema, truncate)
    train, hold = split_by_customer(log, holdout=holdout, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table(train.df, out_dir / "train.parquet")
    write_table(hold.df, out_dir / "holdout.parquet")
    log.schema.write(out_dir / "schema.yaml")
    out.print(
        f"train: {train.n_customers} customers, {train.n_events} events; holdout: "
        f"{hold.n_customers} customers, {hold.n_events} events -> {out_dir}"
    )


def _split_streamed(data: Path, schema, truncate: bool, holdout: float, seed: int, out_dir):
    """`split` of a partitioned dataset: validated in one pass, split in a second, both
    sides written as partitioned folders; never held whole."""
    from journeylab.journeys import datasets
    from journeylab.journeys.streamed import StreamedLog
    from journeylab.journeys.streamed_split import split_streamed

    with err.status(f"validating {data} part by part"):
        log = StreamedLog.open(data, datasets.resolve_schema(schema, data), truncate=truncate)
    with err.status("splitting customers, chunk by chunk"):
        train, hold = split_streamed(log, out_dir, holdout=holdout, seed=seed)
    out.print(
        f"train: {train['customers']} customers, {train['events']} events; holdout: "
        f"{hold['customers']} customers, {hold['events']} events -> {out_dir} "
        "(partitioned folders train.parquet/ and holdout.parquet/)"
    )


def add_commands(app: typer.Typer) -> None:
    app.add_typer(datasets_app, name="datasets")
    app.command("validate")(validate)
    app.command("split")(split)
