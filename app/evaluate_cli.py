"""`journeylab evaluate`: one report per synthetic dataset (fidelity, utility, privacy, cost).

    journeylab evaluate --train split/train.parquet --holdout split/holdout.parquet \
        --synthetic synthetic.parquet [--schema schema.yaml] [--out reports/vae]
    journeylab evaluate --run-id RUN          # a fit or sample run in MLflow

Writes report.html (self-contained, offline) and report.json into --out and logs
both to an MLflow run of kind `evaluate` in the dataset's experiment, tagged
with the fit run it evaluates. All or nothing: bad input is refused before
anything starts; a failure later ends the MLflow run FAILED and leaves no
report file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from journeylab.journeys.cli import SchemaOpt, err, out
from journeylab.journeys.errors import ConfigError

PathOpt = Path | None


def _split(values: list[str] | None) -> tuple[str, ...] | None:
    """['logreg,gbm', 'tree'] -> ('logreg', 'gbm', 'tree'); None stays None."""
    if not values:
        return None
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def evaluate(
    train: Annotated[PathOpt, typer.Option("--train", help="Real train log.")] = None,
    holdout: Annotated[PathOpt, typer.Option("--holdout", help="Real holdout log.")] = None,
    synthetic: Annotated[PathOpt, typer.Option("--synthetic", help="Synthetic log.")] = None,
    schema: SchemaOpt = None,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="A `journeylab fit` or `sample` run.")
    ] = None,
    out_dir: Annotated[
        PathOpt, typer.Option("--out", "-o", help="Folder for report.html and report.json.")
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--models", help="Predictors for TRTR/TSTR (repeatable or comma list)."),
    ] = None,
    task: Annotated[
        list[str] | None, typer.Option("--task", help="Label tasks (default churn, purchase).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of detection, audits, SDMetrics.")] = 0,
    max_targets: Annotated[int, typer.Option(help="Customers per side in audits.")] = 2000,
    max_customers: Annotated[
        int,
        typer.Option(
            help="With a partitioned input: customers of each log (a seeded subsample) in "
            "detection, audits, TSTR, SDMetrics and plots; n-gram and W1 counts use all."
        ),
    ] = 20_000,
    sdmetrics: Annotated[
        bool, typer.Option("--sdmetrics/--no-sdmetrics", help="SDMetrics' QualityReport too.")
    ] = True,
    privacy_record: Annotated[
        PathOpt,
        typer.Option(help="Privacy record JSON of the run that made --synthetic (for DP)."),
    ] = None,
    mlflow_log: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log to MLflow.")] = True,
) -> None:
    """One report per synthetic dataset: fidelity, utility, privacy and cost (HTML + JSON)."""
    from journeylab.evaluation.report import EvaluateConfig

    settings = {"seed": seed, "max_targets": max_targets, "sdmetrics": sdmetrics}
    settings["max_customers"] = max_customers
    if _split(models):
        settings["models"] = _split(models)
    if _split(task):
        settings["tasks"] = _split(task)
    config = EvaluateConfig.from_dict(settings)
    record = _record(privacy_record)
    inputs = _inputs(train, holdout, synthetic, schema, run_id)
    if record is not None:
        inputs.privacy_record = record
        inputs.source["privacy_record"] = f"file {privacy_record}"
    target = out_dir or _default_out(inputs, run_id)
    if mlflow_log:
        report, run = _tracked(inputs, config, target)
        out.print(f"logged to MLflow run {run}")
    else:
        report = _compute(inputs, config)
        _write(report, inputs, target)
    _summary(report, target)


def _record(path: Path | None) -> dict | None:
    from journeylab.evaluation.runs import read_record

    return None if path is None else read_record(path)


def _inputs(train, holdout, synthetic, schema, run_id):
    """Every input read and checked, before any MLflow run is opened or file written."""
    from journeylab.evaluation.report import check_inputs

    with err.status("reading and validating the logs"):
        inputs = _read_inputs(train, holdout, synthetic, schema, run_id)
        check_inputs(inputs.train, inputs.holdout, inputs.synthetic)
    return inputs


def _read_inputs(train, holdout, synthetic, schema, run_id):
    from journeylab.evaluation.runs import from_files, resolve_run

    if run_id is not None:
        return resolve_run(run_id, train=train, holdout=holdout, synthetic=synthetic, schema=schema)
    missing = [
        f"--{n}"
        for n, v in (("train", train), ("holdout", holdout), ("synthetic", synthetic))
        if v is None
    ]
    if missing:
        raise ConfigError(
            f"missing {', '.join(missing)}: pass --train, --holdout and "
            "--synthetic files, or --run-id RUN of a fit or sample run"
        )
    return from_files(train, holdout, synthetic, schema)


def _default_out(inputs, run_id: str | None) -> Path:
    name = run_id[:12] if run_id else Path(inputs.paths["synthetic"]).stem
    return Path("reports") / f"evaluate-{name}"


def _compute(inputs, config, extra_source: dict | None = None) -> dict:
    from journeylab.evaluation.report import evaluate as run_evaluate

    with err.status("evaluating") as status:
        return run_evaluate(
            inputs.train,
            inputs.holdout,
            inputs.synthetic,
            privacy_record=inputs.privacy_record,
            cost=inputs.cost,
            source={**inputs.source, **(extra_source or {})},
            config=config,
            progress=status.update,
        )


def _write(report: dict, inputs, target: Path) -> None:
    from journeylab.evaluation.report import report_files, write_report

    with err.status("writing the report"):
        extra = {"synthetic.parquet": inputs.synthetic.df} if inputs.sampled else None
        write_report(report, target, files=report_files(report), extra=extra)


def _tracked(inputs, config, target: Path) -> tuple[dict, str]:
    from journeylab.runs import evaluate_run

    with err.status("evaluating") as status:
        return evaluate_run(inputs, config, target, status=status.update)


def _summary(report: dict, target: Path) -> None:
    f, p = report["fidelity"]["metrics"], report["privacy"]
    ratios = {
        f"{r['task']}/{r['model']}": r["auc_ratio"]
        for r in report["utility"]["rows"]
        if r["train"] == "TSTR"
    }
    eps = f"epsilon {p['epsilon']:.3g}" if p["dp"] else "no formal privacy guarantee"
    shown = ", ".join(f"{k} {_num(v)}" for k, v in ratios.items())
    out.print(
        f"detection AUC {_num(f['detection_auc'])} (ideal 0.5), 3-gram TVD "
        f"{_num(f['tvd_3gram'])} (train vs holdout {_num(f['ref_tvd_3gram'])}); "
        f"TSTR/TRTR AUC {shown}; {eps}; MIA AUC "
        f"{_num(p['audits']['metrics'].get('mia_distance_auc'))}"
    )
    out.print(
        f"report: {target / 'report.html'} and {target / 'report.json'} "
        f"({report['cost']['evaluate_seconds']:.1f}s)"
    )


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def add_commands(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
