"""`journeylab predict train|evaluate|utility|score`: churn and purchase predictors.

    journeylab predict train --data split/train.parquet --model gbm --out models/cj-gbm
    journeylab predict evaluate --model-dir models/cj-gbm --data split/holdout.parquet
    journeylab predict utility --train split/train.parquet --holdout split/holdout.parquet \
        --synthetic vae-eps8=synthetic/vae.parquet
    tail -f events.jsonl | journeylab predict score --model-dir models/cj-gbm
    journeylab predict score --model-dir models/cj-gbm --data events.parquet --out scores.parquet

`score` writes exactly one JSON line to stdout per non-blank input line: the new
scores, or {"line": i, "error": ...} for a malformed line (the stream goes on).
With --data it scores a whole log (a file, or a partitioned folder read chunk by
chunk, never whole) into one table per customer, written all or nothing
(predictors/batch.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from journeylab.journeys.cli import SchemaOpt, err, open_log, out, output_file, read_log
from journeylab.journeys.cli import input_file as check_input
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write_text

predict_app = typer.Typer(
    help="Churn, purchase and campaign-response predictors: train, "
    "evaluate on a real holdout, TRTR vs TSTR, real-time scoring.",
    no_args_is_help=True,
)

TaskOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--task",
        "-t",
        help="churn, purchase or campaign_response (repeatable; default: all the schema supports).",
    ),
]
CutoffOpt = Annotated[
    str | None,
    typer.Option(
        help="Label cutoff: a timestamp, or a fraction of the schema time range (0.75). Default: "
        "the dataset's documented default."
    ),
]
HorizonOpt = Annotated[
    float | None,
    typer.Option(help="Horizon in days for every task. Default: per task, per dataset."),
]
ConvOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--conversion", help="Event type(s) that count as a purchase (default: purchase)."
    ),
]
MlflowOpt = Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log to MLflow.")]
ModelDirOpt = Annotated[
    Path, typer.Option("--model-dir", "-m", help="A folder written by `journeylab predict train`.")
]


def parse_params(pairs: list[str] | None) -> dict:
    """['k=v', ...] -> {'k': JSON value or string}."""
    result = {}
    for p in pairs or []:
        if "=" not in p:
            raise ConfigError(f"--param '{p}' is not KEY=VALUE; write e.g. --param max_depth=5")
        k, v = p.split("=", 1)
        try:
            result[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            result[k.strip()] = v.strip()
    return result


def _cutoff(value: str | None):
    if value is None:
        return None
    try:
        x = float(value)
    except ValueError:
        return value
    return x if 0 < x < 1 else value


def _metrics_table(title: str, rows: dict[str, dict]) -> Table:
    table = Table(
        "task", "AUC", "PR AUC", "Brier", "top-decile lift", "base rate", "n", title=title
    )
    for task, m in rows.items():
        table.add_row(
            task,
            f"{m['auc']:.3f}",
            f"{m['pr_auc']:.3f}",
            f"{m['brier']:.4f}",
            f"{m['top_decile_lift']:.2f}",
            f"{m['base_rate']:.3f}",
            f"{int(m['n'])}",
        )
    return table


@predict_app.command("train")
def train(
    data: Annotated[Path, typer.Option("--data", "-d", help="Training log (real or synthetic).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the model.")],
    model: Annotated[str, typer.Option(help="logreg, gbm, tree or gru.")] = "gbm",
    schema: SchemaOpt = None,
    task: TaskOpt = None,
    cutoff: CutoffOpt = None,
    horizon: HorizonOpt = None,
    conversion: ConvOpt = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", help="Model config KEY=VALUE (repeatable), e.g. max_depth=5."
        ),
    ] = None,
    holdout: Annotated[
        Path | None, typer.Option(help="A real holdout log: evaluate right after training.")
    ] = None,
    mlflow_log: MlflowOpt = True,
) -> None:
    """Label a log at the cutoff, train one model per task and save them to OUT."""
    from journeylab.predictors.bundle import train_bundle

    log = read_log(data, schema)
    with err.status("training") as status:
        bundle = train_bundle(
            log,
            model=model,
            task=task,
            config=parse_params(param) or None,
            cutoff=_cutoff(cutoff),
            horizon=horizon,
            conversion=conversion,
            progress=status.update,
        )
    bundle.save(out_dir)
    spec = bundle.spec.to_dict()
    out.print(
        f"trained {model} for {', '.join(bundle.tasks)} on {len(log.customers)} customers "
        f"(cutoff {spec['cutoff']}, horizons {spec['horizons_days']} days) -> {out_dir}"
    )
    if holdout is not None:  # trained on a sample: the run carries the sample's lineage
        lineage = _synthetic_lineage({"data": data}, log.schema.name) if mlflow_log else {}
        _evaluate(out_dir, holdout, schema, None, mlflow_log, tags=lineage)


@predict_app.command("evaluate")
def evaluate(
    model_dir: ModelDirOpt,
    data: Annotated[Path, typer.Option("--data", "-d", help="Real holdout log.")],
    schema: SchemaOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write metrics as JSON.")] = None,
    mlflow_log: MlflowOpt = True,
) -> None:
    """ROC AUC, PR AUC, Brier, top-decile lift on a holdout; plots go to MLflow."""
    _evaluate(model_dir, data, schema, json_out, mlflow_log)


def _evaluate(
    model_dir: Path, data: Path, schema, json_out, mlflow_log: bool, *, tags: dict | None = None
) -> None:
    from journeylab.predictors.bundle import Bundle
    from journeylab.predictors.evaluate import evaluate_bundle

    output_file(json_out, "--json")
    bundle = Bundle.load(model_dir)
    log = read_log(data, schema or str(model_dir / "schema.yaml"))
    with err.status("evaluating"):
        results = evaluate_bundle(bundle, log)
    rows = {t: r.metrics for t, r in results.items()}
    out.print(_metrics_table(f"{bundle.model} on {data} (cutoff {bundle.spec.cutoff})", rows))
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(rows, indent=2))
    if mlflow_log:
        from journeylab.predictors.report import log_evaluation

        with err.status("logging to MLflow"):
            run_id = log_evaluation(results, log, model_dir=str(model_dir), tags=tags)
        out.print(f"logged to MLflow run {run_id} (plots under plots/)")


@predict_app.command("utility")
def utility(
    train_data: Annotated[Path, typer.Option("--train", help="Real train log.")],
    holdout: Annotated[Path, typer.Option(help="Real holdout log (the test set).")],
    synthetic: Annotated[
        list[str] | None, typer.Option(help="Synthetic log, as PATH or NAME=PATH (repeatable).")
    ] = None,
    schema: SchemaOpt = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="Models (repeatable; default logreg and gbm)."),
    ] = None,
    task: TaskOpt = None,
    cutoff: CutoffOpt = None,
    horizon: HorizonOpt = None,
    augmented: Annotated[
        bool, typer.Option("--augmented/--no-augmented", help="Also train on real plus synthetic.")
    ] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the table as JSON.")
    ] = None,
    mlflow_log: MlflowOpt = True,
) -> None:
    """TRTR vs TSTR vs augmented: every model tested on the same real holdout."""
    from journeylab.predictors.evaluate import utility_table

    output_file(json_out, "--json")
    train_log = read_log(train_data, schema)
    hold = read_log(holdout, schema or _beside(train_data))
    syn = {
        name: read_log(path, schema or _beside(train_data))
        for name, path in _named_paths(synthetic).items()
    }
    with err.status("training and testing") as status:
        table = utility_table(
            train_log,
            hold,
            syn,
            tasks=task,
            models=model or ("logreg", "gbm"),
            cutoff=_cutoff(cutoff),
            horizon=horizon,
            augmented=augmented,
            progress=status.update,
        )
    out.print(utility_rich(table))
    if json_out is not None:
        atomic_write_text(json_out, table.to_json(orient="records", indent=2))
    if mlflow_log:
        from journeylab.predictors.report import log_utility

        paths = _named_paths(synthetic)
        run_id = log_utility(
            table,
            hold,
            params={
                "train": str(train_data),
                "holdout": str(holdout),
                **{f"synthetic.{name}": str(path) for name, path in paths.items()},
            },
            tags=_synthetic_lineage(paths, hold.schema.name),
        )
        out.print(f"logged to MLflow run {run_id}")


def _synthetic_lineage(paths: dict[str, Path], dataset: str) -> dict[str, str]:
    """The lineage of the one synthetic log (its sample run's tags); none for several:
    a run compares them, and each row names its synthetic log."""
    from journeylab.store import lineage_of_file

    return lineage_of_file(next(iter(paths.values())), dataset=dataset) if len(paths) == 1 else {}


def utility_rich(table) -> Table:
    from journeylab.predictors.evaluate import UTILITY_COLUMNS

    t = Table(*UTILITY_COLUMNS, title="TRTR vs TSTR (tested on the real holdout)")
    for r in table.itertuples():
        name = r.train + (f":{r.synthetic}" if r.synthetic else "")
        t.add_row(
            r.task,
            r.model,
            name,
            str(r.n_train),
            f"{r.auc:.3f}",
            f"{r.auc_ratio:.3f}",
            f"{r.pr_auc:.3f}",
            f"{r.brier:.4f}",
            f"{r.top_decile_lift:.2f}",
        )
    return t


def _beside(path: Path) -> str | None:
    s = path.parent / "schema.yaml"
    return str(s) if s.exists() else None


def _named_paths(items: list[str] | None) -> dict[str, Path]:
    named = {}
    for item in items or []:
        name, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        p = Path(path)
        named[name or p.stem] = p
    return named


@predict_app.command("score")
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


def add_commands(app: typer.Typer) -> None:
    app.add_typer(predict_app, name="predict")
