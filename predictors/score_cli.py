"""`journeylab predict score`: real-time scores from JSON lines, or a whole log's scores.

    tail -f events.jsonl | journeylab predict score --model-dir models/cj-gbm
    journeylab predict score --model-dir models/cj-gbm --data events.parquet --out scores.parquet

`score` writes exactly one JSON line to stdout per non-blank input line: the new
scores, or {"line": i, "error": ...} for a malformed line (the stream goes on).
With --data it scores a whole log (a file, or a partitioned folder read chunk by
chunk, never whole) into one table per customer, written all or nothing
(predictors/batch.py). Registered under `journeylab predict` by predictors/cli.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from journeylab.journeys.cli import SchemaOpt, err, open_log, out, output_file
from journeylab.journeys.cli import input_file as check_input
from journeylab.journeys.errors import ConfigError

ModelDirOpt = Annotated[
    Path, typer.Option("--model-dir", "-m", help="A folder written by `journeylab predict train`.")
]


def score(
    model_dir: ModelDirOpt,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", "-i", help="JSON lines file (default: standard input)."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            "-d",
            help="Score a whole log instead (a file, or a partitioned folder read chunk by "
            "chunk): one row per customer, to --out.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="With --data: scores .parquet or .csv.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="With --data: score as of this time (default: the label cutoff)."),
    ] = None,
    schema: SchemaOpt = None,
) -> None:
    """Read events as JSON lines, write one JSON score line per event to stdout.

    A malformed line gets {"line": i, "error": "..."} on stdout and the stream
    goes on; the count of errors is printed to stderr at the end. With --data and
    --out: every customer's scores as of --as-of, written all or nothing.
    """
    from journeylab.predictors.scoring import Scorer, score_stream

    if any(v is not None for v in (data, output, as_of, schema)):  # batch options
        _score_log(model_dir, input_file, data, output, as_of, schema)
        return
    if input_file is not None:
        check_input(input_file, "--input")
    scorer = Scorer.from_dir(model_dir)
    source = open(input_file) if input_file is not None else sys.stdin  # noqa: SIM115
    n = bad = 0
    try:
        with scorer:
            for record in score_stream(scorer, source):
                n += 1
                bad += "error" in record
                sys.stdout.write(json.dumps(record) + "\n")
                sys.stdout.flush()
    finally:
        if input_file is not None:
            source.close()
    err.print(f"scored {n - bad} event(s) of {scorer.n_customers} customer(s); {bad} bad line(s)")


def _score_log(model_dir: Path, input_file, data, output, as_of, schema) -> None:
    """`score --data LOG --out FILE` (predictors/batch.py): every option checked first."""
    from journeylab.journeys.eventlog import file_format
    from journeylab.predictors.batch import score_log
    from journeylab.predictors.bundle import Bundle

    if input_file is not None or data is None or output is None:
        raise ConfigError(
            "score a log with both --data LOG and --out scores.parquet, or stream JSON lines "
            "with --input (or standard input) and neither"
        )
    file_format(output_file(output, "--out"))  # .csv or .parquet
    at = _as_of(as_of)
    bundle = Bundle.load(model_dir)
    log = open_log(data, schema or str(model_dir / "schema.yaml"))
    with err.status("scoring, chunk by chunk") as status:
        n = score_log(bundle, log, output, as_of=at, progress=status.update)
    out.print(
        f"scored {n['customers']:,} of {n['log_customers']:,} customers (those with events "
        f"before {n['as_of']}) in {n['chunks']} chunk(s) -> {output}"
    )


def _as_of(value: str | None):
    import pandas as pd

    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except ValueError as e:
        raise ConfigError(
            f"--as-of {value!r} is not a time ({e}); write e.g. --as-of 2017-10-01"
        ) from e
