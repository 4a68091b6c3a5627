"""Audit runs: the empirical privacy audits of a synthetic log, as an MLflow run.

    report, run_id = audit_run(train, holdout, synthetic, synthetic_path=Path("syn.parquet"))
    report, run_id = audit_sample(sample_run_id)   # the logs a `sample` run names

The one code path of `journeylab audit` and of the app's Privacy page: the audits of
`privacy.audits` (membership inference, DCR share, exact copies), then a run of kind
`audit` in the dataset's experiment with the synthetic log's lineage (the sample run
that wrote the file: generator, epsilon, fit run), its sizes, metrics and `audits.json`.
A partitioned log (a StreamedLog) is audited on seeded subsamples, never whole; the run's
params then say how many customers each log has and how many the audits used.
The numbers are computed on real data and are not covered by the DP guarantee.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.streamed import StreamedLog
from journeylab.privacy.audits import AuditReport, run_audits

Progress = Callable[[str], None] | None


def audit_run(
    train: EventLog | StreamedLog,
    holdout: EventLog | StreamedLog,
    synthetic: EventLog | StreamedLog,
    *,
    synthetic_path: str | Path,
    seed: int = 0,
    max_targets: int = 2000,
    progress: Progress = None,
) -> tuple[AuditReport, str]:
    """Run every audit and log it; (report, MLflow run id)."""
    report = run_audits(
        train, holdout, synthetic, seed=seed, max_targets=max_targets, progress=progress
    )
    if progress is not None:
        progress("logging the audit to MLflow")
    return report, log_audit(train, synthetic, report, Path(synthetic_path))


def audit_sample(
    run_id: str, *, seed: int = 0, max_targets: int = 2000, progress: Progress = None
) -> tuple[AuditReport, str]:
    """Audit the file a `sample` run wrote against its fit's train and holdout logs."""
    from journeylab.evaluation.runs import resolve_run

    if progress is not None:
        progress("reading the training, holdout and synthetic logs")
    inputs = resolve_run(run_id)
    if inputs.sampled or not inputs.paths.get("synthetic"):
        raise ConfigError(
            f"the output file of run {run_id} no longer exists here; audit a sample "
            "whose file is still there, or draw a new one with `journeylab sample`"
        )
    return audit_run(
        inputs.train,
        inputs.holdout,
        inputs.synthetic,
        synthetic_path=inputs.paths["synthetic"],
        seed=seed,
        max_targets=max_targets,
        progress=progress,
    )


def log_audit(
    train: EventLog | StreamedLog,
    synthetic: EventLog | StreamedLog,
    report: AuditReport,
    path: Path,
) -> str:
    """An `audit` run with the report; its lineage is the sample run that wrote `path`."""
    import mlflow

    from journeylab.journeys.tracking import start_run
    from journeylab.store import lineage_of_file

    with start_run(
        "audit",
        dataset=train.schema.name,
        fingerprint=train.fingerprint(),
        detail=path.stem,
        tags={
            **lineage_of_file(path, dataset=train.schema.name),
            "synthetic_fingerprint": synthetic.fingerprint(),
            "caveat": "computed on real data; not covered by the DP guarantee",
        },
    ) as run:
        mlflow.log_params(
            {**{f"n_{k}": v for k, v in report.sizes.items()}, "synthetic": str(path)}
        )
        if report.scale:  # a partitioned input: customers of each log, and those audited
            mlflow.log_params(scale_params(report.scale))
        mlflow.log_metrics({k: float(v) for k, v in report.metrics.items()})
        mlflow.log_dict(report.to_dict(), "audits.json")
        return run.info.run_id


def scale_params(scale: dict) -> dict[str, int]:
    """{'customers': {'train': N}, 'subsample_customers': {'train': k}, 'subsample_seed': s}
    -> {'train_customers': N, 'train_subsample_customers': k, ..., 'subsample_seed': s}."""
    params = {f"{r}_customers": n for r, n in scale["customers"].items()}
    params |= {f"{r}_subsample_customers": k for r, k in scale["subsample_customers"].items()}
    return params | {"subsample_seed": scale["subsample_seed"]}
