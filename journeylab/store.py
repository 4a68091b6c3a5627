"""The MLflow store as runs see it: look a run up, find the files a run names.

    run = get_run(client, run_id)                  # ConfigError naming the store if absent
    path = resolve_path(run.data.params["output"], client.tracking_uri)   # or None
    tags = lineage_of_file("data/syn_vae.parquet", dataset="simulate")    # {} if unknown

A run records paths as it was given them (often relative to where `journeylab` ran);
they are looked up relative to the working directory, then to the store's project
folder (`<project>/mlruns/mlflow.db`). The CLI, the evaluation inputs and the app use
these; the store itself (URI, experiments, run tags) is `journeys.tracking`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from journeylab.journeys.errors import ConfigError

# What every run derived from a fit carries as tags (`journeylab.<key>`), so that no view
# has to guess a run's origin: the generator, the whole release's epsilon and delta
# ("inf" and "0" without DP) and the id of the fit run.
LINEAGE_KEYS = ("generator", "epsilon", "delta", "fit_run_id")


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


def lineage_tags(generator: str, record: dict | None, fit_run_id: str = "") -> dict[str, str]:
    """LINEAGE_KEYS as tag values from a privacy record (the whole release's, as
    release.json or privacy_record.json hold it): epsilon "inf" and delta "0" without DP."""
    record = record or {}
    eps = record.get("epsilon")
    dp = bool(record.get("dp", True)) and eps not in (None, "inf") and math.isfinite(eps)
    return {
        "generator": generator or "unknown",
        "epsilon": f"{eps:.6g}" if dp else "inf",
        "delta": f"{record.get('delta') or 0.0:.6g}" if dp else "0",
        "fit_run_id": fit_run_id or "",
    }


def lineage_of_file(path: str | Path, *, dataset: str) -> dict[str, str]:
    """The lineage tags (LINEAGE_KEYS) of the newest finished `sample` run of `dataset`
    that wrote the file `path`; {} when no run wrote it (a real log, a file from elsewhere).

    A compare, audit, utility or evaluate run reads a synthetic log by its path: this is
    how it learns which fit the log came from, and tags itself with it."""
    from journeylab.journeys.tracking import TAG, find_runs, tracking_uri

    target, uri = Path(path).resolve(), tracking_uri()
    for run in find_runs(dataset=dataset, kind="sample"):
        if resolve_path(run.data.params.get("output"), uri) == target:
            tags = run.data.tags
            return {k: tags[TAG + k] for k in LINEAGE_KEYS if tags.get(TAG + k)}
    return {}
