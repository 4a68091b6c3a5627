"""`journeylab compare A B [--reference R]`: fidelity of one log against another.

One-file logs are read whole: `fidelity.compare(A, B)`, or with a reference
`fidelity.fidelity_report(R, A, B)`. When any input is a partitioned dataset, no log
is held whole (journeys/fidelity_stream.compare_at_scale): n-gram TVDs and W1s are
counted over every customer in one streamed pass per log, detection AUC and order
violations use a seeded subsample of --max-customers customers per log; the output,
the --json file and the MLflow run say how many customers each figure used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from journeylab.journeys.cli import SchemaOpt, err, open_log, out, output_file, print_dict, read_log
from journeylab.journeys.files import atomic_write_text

if TYPE_CHECKING:
    from journeylab.journeys.eventlog import EventLog
    from journeylab.journeys.streamed import StreamedLog


def compare(
    a: Annotated[Path, typer.Argument(help="Real log (e.g. holdout).")],
    b: Annotated[Path, typer.Argument(help="Log to compare (synthetic, or train).")],
    schema: SchemaOpt = None,
    reference: Annotated[
        Path | None,
        typer.Option(
            help="Real train log: adds W1 ratios (synthetic vs holdout over train vs holdout)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of detection (and of the subsample).")] = 0,
    max_customers: Annotated[
        int,
        typer.Option(
            help="With a partitioned input: customers of each log (a seeded subsample) in "
            "detection AUC and order violations; n-gram and W1 counts use all."
        ),
    ] = 20_000,
    mlflow_log: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log to MLflow.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write metrics as JSON.")] = None,
) -> None:
    """Fidelity of log B against log A: n-gram TVD, Wasserstein-1, detection AUC.

    A partitioned input is never held whole: counts over every customer, detection on a
    seeded subsample of --max-customers customers per log (the output says how many)."""
    from journeylab.journeys import fidelity
    from journeylab.journeys.partitioned import is_partitioned

    output_file(json_out, "--json")
    paths = [p for p in (a, b, reference) if p is not None]
    if any(is_partitioned(p) for p in paths):
        _compare_at_scale(a, b, schema, reference, seed, max_customers, mlflow_log, json_out)
        return
    la, lb = read_log(a, schema), read_log(b, schema or _schema_beside(a))
    with err.status("computing fidelity metrics"):
        if reference is not None:
            metrics = fidelity.fidelity_report(
                read_log(reference, schema or _schema_beside(a)), la, lb, seed=seed
            )
        else:
            metrics = fidelity.compare(la, lb, seed=seed)
    print_dict(metrics, f"{b} vs {a}")
    if json_out is not None:
        atomic_write_text(json_out, json.dumps(metrics, indent=2))
    if mlflow_log:
        run_id = _log_compare(la, lb, a, b, metrics)
        out.print(f"logged to MLflow run {run_id}")


def _compare_at_scale(a, b, schema, reference, seed, max_customers, mlflow_log, json_out):
    """`compare` with a partitioned input (journeys/fidelity_stream.compare_at_scale)."""
    from journeylab.journeys.fidelity_stream import check_max_customers, compare_at_scale

    check_max_customers(max_customers)  # before any log is read
    la, lb = open_log(a, schema), open_log(b, schema or _schema_beside(a))
    ref = open_log(reference, schema or _schema_beside(a)) if reference is not None else None
    with err.status("counting over every customer; detection on a seeded subsample"):
        metrics, scale = compare_at_scale(
            la, lb, reference=ref, max_customers=max_customers, seed=seed
        )
    print_dict(metrics, f"{b} vs {a}")
    n, used = scale["customers"], scale["subsample_customers"]
    out.print(
        f"customers: {_counts(n)} in {scale['all_customers'].split(' (')[0]}; "
        f"{_counts(used)} (a subsample, seed {seed}) in {scale['subsampled']}"
    )
    if json_out is not None:
        atomic_write_text(json_out, json.dumps({**metrics, "scale": scale}, indent=2))
    if mlflow_log:
        run_id = _log_compare(la, lb, a, b, metrics, scale=scale)
        out.print(f"logged to MLflow run {run_id}")


def _counts(n: dict[str, int]) -> str:
    names = {"a": "A", "b": "B", "reference": "reference"}
    return ", ".join(f"{names[r]} {v:,}" for r, v in n.items())


def _schema_beside(path: Path) -> str | None:
    s = path.parent / "schema.yaml"
    return str(s) if s.exists() else None


def _log_compare(
    la: EventLog | StreamedLog,
    lb: EventLog | StreamedLog,
    a: Path,
    b: Path,
    metrics: dict,
    *,
    scale: dict | None = None,
) -> str:
    import math

    import mlflow

    from journeylab.journeys.tracking import start_run
    from journeylab.store import lineage_of_file

    with start_run(
        "compare",
        dataset=la.schema.name,
        fingerprint=la.fingerprint(),
        detail=f"{b.stem}-vs-{a.stem}",
        tags={
            **lineage_of_file(b, dataset=la.schema.name),  # B's fit, when B is a sample
            "compared_fingerprint": lb.fingerprint(),
            "caveat": "fidelity metrics are computed on real data and are not "
            "covered by any DP guarantee",
        },
    ) as run:
        mlflow.log_params(
            {"a": str(a), "b": str(b), "a_customers": la.n_customers, "b_customers": lb.n_customers}
        )
        mlflow.log_metrics(
            {
                k: float(v)
                for k, v in metrics.items()
                if isinstance(v, (int, float)) and math.isfinite(v)
            }
        )
        mlflow.log_dict(metrics, "fidelity.json")
        if scale is not None:  # a partitioned input: how many customers each figure used
            mlflow.log_params(_scale_params(scale))
            mlflow.log_dict(scale, "scale.json")
        return run.info.run_id


def _scale_params(scale: dict) -> dict:
    """{'customers': {'a': N}, 'subsample_customers': {'a': k}} -> {'a_subsample_customers':
    k, 'reference_customers': N, ...}: the counts a and b do not already log."""
    params = {f"{r}_subsample_customers": k for r, k in scale["subsample_customers"].items()}
    if "reference" in scale["customers"]:
        params["reference_customers"] = scale["customers"]["reference"]
    params.update(subsample_seed=scale["subsample_seed"], max_customers=scale["max_customers"])
    return params


def add_commands(app: typer.Typer) -> None:
    app.command("compare")(compare)
