"""The MLflow store as runs see it: look a run up, find the files a run names.

    run = get_run(client, run_id)                  # ConfigError naming the store if absent
    path = resolve_path(run.data.params["output"], client.tracking_uri)   # or None

A run records paths as it was given them (often relative to where `journeylab` ran);
they are looked up relative to the working directory, then to the store's project
folder (`<project>/mlruns/mlflow.db`). The CLI, the evaluation inputs and the app use
these; the store itself (URI, experiments, run tags) is `journeys.tracking`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from journeylab.journeys.errors import ConfigError


def get_run(client: Any, run_id: str) -> Any:
    """The MLflow run `run_id` of the client's store; a ConfigError if there is none."""
    from mlflow.exceptions import MlflowException  # mlflow is imported by the caller's client

    try:
        return client.get_run(run_id)
    except MlflowException as e:
        raise ConfigError(
            f"no MLflow run '{run_id}' in the store {client.tracking_uri}; pass "
            "the run id printed by `journeylab fit` or `journeylab sample` "
            "(MLFLOW_TRACKING_URI selects another store)"
        ) from e


def sqlite_file(uri: str) -> Path | None:
    """The database file of a `sqlite:///` store URI, else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def store_root(uri: str) -> Path:
    """The project folder of a `<root>/mlruns/mlflow.db` store: relative run paths start here."""
    db = sqlite_file(uri)
    return db.parent.parent if db is not None else Path.cwd()


def resolve_path(path: str | None, uri: str) -> Path | None:
    """An existing file named by a run parameter (absolute, or relative to cwd or the store)."""
    if not isinstance(path, str) or path in ("", "None", "nan"):
        return None
    p = Path(path)
    for cand in [p] if p.is_absolute() else [Path.cwd() / p, store_root(uri) / p]:
        if cand.is_file():
            return cand.resolve()
    return None
