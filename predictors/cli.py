"""`journeylab predict train|evaluate|utility|score`: churn and purchase predictors.

    journeylab predict train --data split/train.parquet --model gbm --out models/cj-gbm
    journeylab predict evaluate --model-dir models/cj-gbm --data split/holdout.parquet
    journeylab predict utility --train split/train.parquet --holdout split/holdout.parquet \
        --synthetic vae-eps8=synthetic/vae.parquet

`score` (real-time scores from JSON lines, or a whole log's with --data) is in
predictors/score_cli.py.

A partitioned folder (a log too large to hold) is never read whole: `train` fits on a
seeded subsample of --max-customers of its customers, `evaluate` scores and labels
every customer chunk by chunk, `utility` subsamples every log when any is a folder
(predictors/at_scale.py). The output, bundle.json and the MLflow run say how many.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from journeylab.journeys.cli import SchemaOpt, err, open_log, out, output_file
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write_text
from journeylab.predictors.score_cli import ModelDirOpt, score

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
# The default is predictors/at_scale.MAX_CUSTOMERS (not imported here: start-up time).
MaxCustomersOpt = Annotated[
    int,
    typer.Option(
        help="With a partitioned input: train (and, for utility, test) on a seeded "
        "subsample of this many customers of each log. One-file logs are used whole."
    ),
]
SeedOpt = Annotated[int, typer.Option(help="Seed of the subsample of a partitioned input.")]


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
    max_customers: MaxCustomersOpt = 50_000,
    seed: SeedOpt = 0,
    mlflow_log: MlflowOpt = True,
) -> None:
    """Label a log at the cutoff, train one model per task and save them to OUT.

    A partitioned --data is trained on the --max-customers customers with the smallest
    sha256(seed:id), labelled at the whole log's cutoff; bundle.json records how many."""
    from journeylab.journeys.streamed import StreamedLog
    from journeylab.predictors.at_scale import check_max_customers, train_subsample
    from journeylab.predictors.bundle import train_bundle

    check_max_customers(max_customers)  # before any log is read
    log = open_log(data, schema)
    label = {"task": task, "cutoff": _cutoff(cutoff), "horizon": horizon, "conversion": conversion}
    with err.status("training") as status:
        kw = {"model": model, "config": parse_params(param) or None, "progress": status.update}
        if isinstance(log, StreamedLog):
            bundle = train_subsample(log, max_customers=max_customers, seed=seed, **kw, **label)
        else:
            bundle = train_bundle(log, **kw, **label)
    bundle.save(out_dir)
    spec = bundle.spec.to_dict()
    out.print(
        f"trained {model} for {', '.join(bundle.tasks)} on {_trained_on(log, bundle)} "
        f"(cutoff {spec['cutoff']}, horizons {spec['horizons_days']} days) -> {out_dir}"
    )
    if holdout is not None:  # trained on a sample: the run carries the sample's lineage
        lineage = _synthetic_lineage({"data": data}, log.schema.name) if mlflow_log else {}
        _evaluate(out_dir, holdout, schema, None, mlflow_log, tags=lineage)


def _trained_on(log, bundle) -> str:
    """'N customers' (a one-file log, as before), or how many of a partitioned one."""
    scale = bundle.info.get("train_scale")
    if scale is None:
        return f"{len(log.customers)} customers"
    k, n, seed = scale["train_customers"], scale["customers"], scale["subsample_seed"]
    k_max = scale["max_customers"]
    if k == n:
        return f"all {n:,} customers of the partitioned dataset (read in chunks)"
    return f"{k:,} customers of {n:,} (a subsample, seed {seed}; --max-customers {k_max:,})"


@predict_app.command("evaluate")
def evaluate(
    model_dir: ModelDirOpt,
    data: Annotated[Path, typer.Option("--data", "-d", help="Real holdout log.")],
    schema: SchemaOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write metrics as JSON.")] = None,
    mlflow_log: MlflowOpt = True,
) -> None:
    """ROC AUC, PR AUC, Brier, top-decile lift on a holdout; plots go to MLflow.

    A partitioned --data is labelled and scored chunk by chunk: the metrics are over
    every customer, as from the same log in one file."""
    _evaluate(model_dir, data, schema, json_out, mlflow_log)


def _evaluate(
    model_dir: Path, data: Path, schema, json_out, mlflow_log: bool, *, tags: dict | None = None
) -> None:
    from journeylab.journeys.streamed import StreamedLog
    from journeylab.predictors.at_scale import train_scale_params
    from journeylab.predictors.bundle import Bundle
    from journeylab.predictors.evaluate import evaluate_bundle

    output_file(json_out, "--json")
    bundle = Bundle.load(model_dir)
    log = open_log(data, schema or str(model_dir / "schema.yaml"))
    streamed = isinstance(log, StreamedLog)
    with err.status("evaluating" + (", chunk by chunk" if streamed else "")):
        results = evaluate_bundle(bundle, log)
    rows = {t: r.metrics for t, r in results.items()}
    out.print(_metrics_table(f"{bundle.model} on {data} (cutoff {bundle.spec.cutoff})", rows))
    extra = train_scale_params(bundle.info)
    if streamed:  # every customer, never a subsample: say so
        n = int(next(iter(rows.values()))["n"])
        out.print(
            f"metrics over every customer of {data}: the {n:,} of {log.n_customers:,} with "
            f"events before the cutoff, read chunk by chunk (not a subsample)"
        )
        extra["holdout_evaluated"] = "every customer, chunk by chunk"
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(rows, indent=2))
    if mlflow_log:
        from journeylab.predictors.report import log_evaluation

        with err.status("logging to MLflow"):
            run_id = log_evaluation(
                results, log, model_dir=str(model_dir), extra_params=extra, tags=tags
            )
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
    max_customers: MaxCustomersOpt = 50_000,
    seed: SeedOpt = 0,
    mlflow_log: MlflowOpt = True,
) -> None:
    """TRTR vs TSTR vs augmented: every model tested on the same real holdout.

    When any log is a partitioned folder, every log (train, holdout, each synthetic) is
    used as its seeded subsample of --max-customers customers; the output says how many."""
    from journeylab.journeys.partitioned import is_partitioned
    from journeylab.predictors.at_scale import check_max_customers, utility_subsamples
    from journeylab.predictors.evaluate import utility_table

    output_file(json_out, "--json")
    check_max_customers(max_customers)  # before any log is read
    paths = _named_paths(synthetic)
    train_log = open_log(train_data, schema)
    hold = open_log(holdout, schema or _beside(train_data))
    syn = {name: open_log(path, schema or _beside(train_data)) for name, path in paths.items()}
    kw = {"tasks": task, "cutoff": _cutoff(cutoff), "horizon": horizon, "augmented": augmented}
    kw["models"], scale = model or ("logreg", "gbm"), None
    with err.status("training and testing") as status:
        if any(is_partitioned(p) for p in (train_data, holdout, *paths.values())):
            table, scale = utility_subsamples(
                train_log,
                hold,
                syn,
                max_customers=max_customers,
                seed=seed,
                progress=status.update,
                **kw,
            )
        else:
            table = utility_table(train_log, hold, syn, progress=status.update, **kw)
    out.print(utility_rich(table))
    if scale is not None:
        used = ", ".join(
            f"{r} {k:,} of {scale['customers'][r]:,}"
            for r, k in scale["subsample_customers"].items()
        )
        out.print(
            f"customers: {used} (seeded subsamples, seed {seed}; --max-customers {max_customers:,})"
        )
    if json_out is not None:
        atomic_write_text(json_out, table.to_json(orient="records", indent=2))
    if mlflow_log:
        _log_utility(table, hold, train_data, holdout, paths, scale)


def _log_utility(table, hold, train_data: Path, holdout: Path, paths: dict, scale) -> None:
    from journeylab.predictors.at_scale import scale_params
    from journeylab.predictors.report import log_utility

    run_id = log_utility(
        table,
        hold,
        params={
            "train": str(train_data),
            "holdout": str(holdout),
            **{f"synthetic.{name}": str(path) for name, path in paths.items()},
            **(scale_params(scale) if scale is not None else {}),
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


predict_app.command("score")(score)  # predictors/score_cli.py


def add_commands(app: typer.Typer) -> None:
    app.add_typer(predict_app, name="predict")
