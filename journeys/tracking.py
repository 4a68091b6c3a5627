"""MLflow: one store, one convention, used by every part of JourneyLab.

Store: `sqlite:///mlruns/mlflow.db` (relative to the working directory) with
artifacts under `mlruns/artifacts/`; `MLFLOW_TRACKING_URI` overrides the store.

Convention (later parts follow it):
- experiment: `journeylab/<dataset name>` (one per dataset schema);
- run name: `<kind>-<detail>-<UTC time>`, e.g. `fit-vae-eps8-20261125T101500`;
- tags: `journeylab.kind` (one of KINDS), `journeylab.dataset`,
  `journeylab.dataset_fingerprint` (EventLog.fingerprint() of the real data the
  run read), `journeylab.version`, plus kind-specific ones such as
  `journeylab.generator` and `journeylab.epsilon`.
A run that raises is ended with status FAILED and tagged `journeylab.error`,
so nothing is recorded as if it had succeeded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from journeylab.journeys.errors import ConfigError

KINDS = ("data", "compare", "fit", "sample", "evaluate", "audit", "predict")
TAG = "journeylab."
STORE_DIR = "mlruns"


def tracking_uri(root: str | Path | None = None) -> str:
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    base = Path(root or Path.cwd()).resolve() / STORE_DIR
    return f"sqlite:///{base / 'mlflow.db'}"


def artifact_root(root: str | Path | None = None) -> str:
    return (Path(root or Path.cwd()).resolve() / STORE_DIR / "artifacts").as_uri()


def open_store(root: str | Path | None = None):
    """Point MLflow at the JourneyLab store (creating it) and return an MlflowClient."""
    import mlflow

    uri = tracking_uri(root)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient(uri)


def experiment_name(dataset: str) -> str:
    return f"journeylab/{dataset}"


def ensure_experiment(client, dataset: str, root: str | Path | None = None) -> str:
    name = experiment_name(dataset)
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=f"{artifact_root(root)}/{dataset}")


def run_name(kind: str, detail: str = "") -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return "-".join(p for p in (kind, detail, stamp) if p)


@contextmanager
def start_run(
    kind: str,
    *,
    dataset: str,
    fingerprint: str,
    detail: str = "",
    tags: dict[str, Any] | None = None,
    root: str | Path | None = None,
) -> Iterator:
    """Open a tagged MLflow run; a run that raises ends FAILED, never FINISHED."""
    if kind not in KINDS:
        raise ConfigError(f"run kind '{kind}' is not one of {KINDS}")
    import mlflow

    from journeylab.journeys import __version__

    client = open_store(root)
    exp_id = ensure_experiment(client, dataset, root)
    all_tags = {
        f"{TAG}kind": kind,
        f"{TAG}dataset": dataset,
        f"{TAG}dataset_fingerprint": fingerprint,
        f"{TAG}version": __version__,
    }
    all_tags.update(
        {(k if k.startswith(TAG) else TAG + k): str(v) for k, v in (tags or {}).items()}
    )
    run = mlflow.start_run(experiment_id=exp_id, run_name=run_name(kind, detail), tags=all_tags)
    try:
        yield run
    except BaseException as e:
        mlflow.set_tag(f"{TAG}error", f"{type(e).__name__}: {e}"[:5000])
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run(status="FINISHED")


def find_runs(
    *,
    dataset: str | None = None,
    kind: str | None = None,
    root: str | Path | None = None,
    max_results: int = 1000,
) -> list:
    """Finished runs matching the convention, newest first."""
    client = open_store(root)
    exps = [
        e.experiment_id
        for e in client.search_experiments()
        if e.name.startswith("journeylab/")
        and (dataset is None or e.name == experiment_name(dataset))
    ]
    if not exps:
        return []
    filt = ["attributes.status = 'FINISHED'"]
    if kind:
        filt.append(f"tags.`{TAG}kind` = '{kind}'")
    return client.search_runs(
        exps, " and ".join(filt), max_results=max_results, order_by=["attributes.start_time DESC"]
    )
