"""Read-only access to the JourneyLab store, for the Streamlit pages.

The store is the MLflow store of `journeys.tracking.tracking_uri()`
(`MLFLOW_TRACKING_URI`, else `sqlite:///mlruns/mlflow.db` under the working
directory; `journeylab app --store PATH` sets the variable). Nothing here
writes: a store that does not exist is reported, never created.

Runs are read as one DataFrame (`runs`) with tidy columns: run_id, name,
dataset, kind, generator, epsilon (inf = no DP, NaN = unknown), delta, status, start,
duration_s, fingerprint, version, fit_run_id, error, artifact_uri, plus
`metrics.<key>` and `params.<key>` as MLflow names them. Every run derived from a
fit carries its lineage as tags (`journeylab.store.LINEAGE_KEYS`: generator,
epsilon, delta, fit run id). A run of an older version that lacks them inherits
them from the fit run it names (tag `journeylab.fit_run_id`), or from the
`sample` run whose output file it compared.

Every problem a page can meet (store missing, unreadable, of a newer format,
an artefact missing or corrupt) is raised as a `ConfigError` whose message
says what is wrong and what to do.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import streamlit as st

from journeylab.journeys import __version__, tracking
from journeylab.journeys.errors import ConfigError
from journeylab.store import resolve_path, sqlite_file

TTL = 30  # seconds before a page sees new runs without pressing Reload
TAG = tracking.TAG
MAX_RUNS = 20_000
BASE_COLUMNS = [
    "run_id",
    "name",
    "dataset",
    "kind",
    "generator",
    "epsilon",
    "delta",
    "status",
    "start",
    "duration_s",
    "fingerprint",
    "version",
    "fit_run_id",
    "error",
    "artifact_uri",
    "experiment",
]


# --- where ----------------------------------------------------------------------
def store_uri() -> str:
    return tracking.tracking_uri()


# --- opening --------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    state: str  # ok | missing | empty | newer | unreadable
    message: str

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@st.cache_resource(show_spinner=False)
def _client(uri: str):
    import mlflow

    from journeylab.journeys.tracking import store_lock

    with store_lock(uri):  # not while a command is creating the store's tables
        client = mlflow.MlflowClient(uri)
        client.search_experiments(max_results=1)
    return client


def client(uri: str):
    """An MlflowClient on an existing store; a missing one is an error, not created."""
    db = sqlite_file(uri)
    if db is not None and not db.is_file():
        raise ConfigError(
            f"no JourneyLab store at {db}. Create runs with `make demo` or "
            "`journeylab fit ...`, or point the app at a store with "
            "`journeylab app --store PATH`"
        )
    try:
        return _client(uri)
    except Exception as e:  # MLflow and SQLAlchemy raise many types
        raise ConfigError(_open_error(uri, e)) from e


def _open_error(uri: str, e: Exception) -> str:
    text = str(e)
    found = re.search(r"found version (\w+)", text)
    if found:
        import mlflow

        versions = Path(mlflow.__file__).parent / "store" / "db_migrations" / "versions"
        known = any(versions.glob(f"{found.group(1)}_*.py"))
        if not known:
            return (
                f"the store {uri} was written by a newer MLflow (database schema "
                f"{found.group(1)}) than this JourneyLab's MLflow {mlflow.__version__} "
                "reads. Open it with the JourneyLab/MLflow version that wrote it, or "
                "upgrade this installation"
            )
        return (
            f"the store {uri} has an older MLflow database schema ({found.group(1)}); "
            f"back it up, then run `mlflow db upgrade {uri}`"
        )
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return (
        f"cannot read the store {uri} ({type(e).__name__}: {first[:300]}). Is it an "
        "MLflow store? Point the app at one with `journeylab app --store PATH`"
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def probe(uri: str) -> Probe:
    """Can the pages read this store, and is there anything in it?"""
    try:
        exps = _experiments(uri)
    except ConfigError as e:
        state = (
            "newer"
            if "newer" in str(e)
            else ("missing" if str(e).startswith("no JourneyLab store") else "unreadable")
        )
        return Probe(state, str(e))
    if not exps:
        return Probe(
            "empty",
            f"the store {uri} has no JourneyLab runs yet. Run `make demo`, "
            "or `journeylab fit --data TRAIN.parquet --model vae` to train a "
            "generator; its runs appear here",
        )
    return Probe("ok", "")


def _experiments(uri: str) -> dict[str, str]:
    try:
        found = client(uri).search_experiments()
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(_open_error(uri, e)) from e
    return {e.experiment_id: e.name for e in found if e.name.startswith("journeylab/")}


# --- runs -----------------------------------------------------------------------
@st.cache_data(ttl=TTL, show_spinner=False)
def runs(uri: str) -> pd.DataFrame:
    """Every JourneyLab run (all statuses), newest first, with tidy columns (module doc)."""
    exps = _experiments(uri)
    rows, token = [], None
    while exps and len(rows) < MAX_RUNS:
        page = client(uri).search_runs(
            list(exps), max_results=1000, page_token=token, order_by=["attributes.start_time DESC"]
        )
        rows += [_row(r, exps) for r in page]
        token = page.token
        if not token:
            break
    df = pd.DataFrame(rows) if rows else pd.DataFrame(columns=BASE_COLUMNS)
    return link_runs(df, uri)


def _row(run, exps: dict[str, str]) -> dict:
    info, tags = run.info, run.data.tags
    start = pd.to_datetime(info.start_time, unit="ms", utc=True)
    end = pd.to_datetime(info.end_time, unit="ms", utc=True) if info.end_time else pd.NaT
    row = {
        "run_id": info.run_id,
        "name": info.run_name or tags.get("mlflow.runName", info.run_id[:8]),
        "dataset": tags.get(f"{TAG}dataset")
        or exps.get(info.experiment_id, "").removeprefix("journeylab/"),
        "kind": tags.get(f"{TAG}kind", ""),
        "generator": tags.get(f"{TAG}generator") or None,
        "epsilon": parse_epsilon(tags.get(f"{TAG}epsilon")),
        "delta": parse_epsilon(tags.get(f"{TAG}delta")),
        "status": info.status,
        "start": start,
        "duration_s": (end - start).total_seconds() if end is not pd.NaT else math.nan,
        "fingerprint": tags.get(f"{TAG}dataset_fingerprint", ""),
        "version": tags.get(f"{TAG}version", ""),
        "fit_run_id": tags.get(f"{TAG}fit_run_id") or run.data.params.get("fit_run_id") or None,
        "error": tags.get(f"{TAG}error", ""),
        "artifact_uri": info.artifact_uri,
        "experiment": exps.get(info.experiment_id, ""),
    }
    row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
    row.update({f"params.{k}": v for k, v in run.data.params.items()})
    return row


def parse_epsilon(value) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(value)  # "inf" -> inf: no DP
    except (TypeError, ValueError):
        return math.nan


def link_runs(df: pd.DataFrame, uri: str) -> pd.DataFrame:
    """Fill generator/epsilon of evaluation runs from the fit run they come from."""
    if df.empty:
        return df
    df = df.copy()
    by_output = {}
    if "params.output" in df:
        for _, r in df[df.kind == "sample"].iterrows():
            path = resolve_path(r["params.output"], uri)
            if path is not None and r["fit_run_id"]:
                by_output.setdefault(str(path), r["fit_run_id"])
    for param in ("params.b", "params.synthetic"):  # compare and audit runs
        if not by_output or param not in df:
            continue
        for i in df.index[df.fit_run_id.isna() & (df.kind != "fit")]:
            path = resolve_path(df.at[i, param], uri)
            df.at[i, "fit_run_id"] = by_output.get(str(path)) if path else None
    fits = df[df.kind == "fit"].set_index("run_id")
    for i in df.index[(df.generator.isna() | df.epsilon.isna()) & df.fit_run_id.notna()]:
        fid = df.at[i, "fit_run_id"]
        if fid in fits.index:
            df.at[i, "generator"] = fits.at[fid, "generator"]
            df.at[i, "epsilon"] = fits.at[fid, "epsilon"]
    return df


def newer_versions(df: pd.DataFrame) -> list[str]:
    """JourneyLab versions in the store that are newer than this one."""
    mine = _version_tuple(__version__)
    return sorted(
        {
            v
            for v in df.get("version", pd.Series(dtype=str)).dropna()
            if v and _version_tuple(v) > mine
        }
    )


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


# --- metrics ----------------------------------------------------------------------
def metric_column(df: pd.DataFrame, key: str) -> str | None:
    """The column of metric `key`, also when logged with a prefix (`fidelity.tvd_3gram`)."""
    exact = f"metrics.{key}"
    if exact in df:
        return exact
    found = [c for c in df.columns if c.startswith("metrics.") and re.split(r"[./]", c)[-1] == key]
    return min(found, key=len) if found else None


def utility_columns(df: pd.DataFrame) -> list[str]:
    """TSTR/TRTR ratio metrics (one per task), e.g. `metrics.churn.tstr_ratio`."""
    return [
        c
        for c in df.columns
        if c.startswith("metrics.") and re.search(r"tstr.*ratio|ratio.*tstr", c, re.I)
    ]


def fidelity_score(df: pd.DataFrame) -> pd.Series:
    """Lower is better: 3-gram TVD, else |detection AUC - 0.5| * 2."""
    col = metric_column(df, "tvd_3gram")
    if col is not None:
        return df[col].astype(float)
    col = metric_column(df, "detection_auc")
    return (df[col].astype(float) - 0.5).abs() * 2 if col else pd.Series(math.nan, df.index)


def utility_score(df: pd.DataFrame) -> pd.Series:
    """Higher is better: mean TSTR/TRTR ratio over the tasks a run reports."""
    cols = utility_columns(df)
    return df[cols].astype(float).mean(axis=1) if cols else pd.Series(math.nan, df.index)


@st.cache_data(ttl=TTL, show_spinner=False)
def metric_history(uri: str, run_id: str, key: str) -> pd.DataFrame:
    hist = client(uri).get_metric_history(run_id, key)
    return pd.DataFrame({"step": [m.step for m in hist], "value": [m.value for m in hist]})


# --- artefacts ----------------------------------------------------------------------
@st.cache_resource(show_spinner=False, max_entries=64)
def _downloaded(uri: str, run_id: str, path: str) -> str:
    import mlflow

    return mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=path or None, tracking_uri=uri
    )


def artifact_path(uri: str, run_id: str, artifact_uri: str, path: str = "") -> Path:
    """Local path of an artefact: read in place from a file store, else downloaded once."""
    parsed = urlparse(artifact_uri or "")
    if parsed.scheme in ("file", ""):
        local = Path(unquote(parsed.path)) / path
        if not local.exists():
            raise ConfigError(
                f"run {run_id} has no artefact '{path or '/'}' (looked in "
                f"{local}); the run may have failed before logging it, or "
                "its files were moved or deleted"
            )
        return local
    try:
        return Path(_downloaded(uri, run_id, path))
    except Exception as e:
        raise ConfigError(
            f"cannot fetch artefact '{path}' of run {run_id} ({type(e).__name__}: {str(e)[:200]})"
        ) from e


def artifact_files(uri: str, run_id: str, artifact_uri: str) -> list[str]:
    """Relative paths of every file the run logged (empty if none)."""
    try:
        root = artifact_path(uri, run_id, artifact_uri)
    except ConfigError:
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@st.cache_data(ttl=TTL, show_spinner=False)
def read_json(uri: str, run_id: str, artifact_uri: str, path: str):
    """A JSON artefact; missing or corrupt ones raise a ConfigError that says so."""
    f = artifact_path(uri, run_id, artifact_uri, path)
    try:
        return json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"artefact '{path}' of run {run_id} is corrupt (not valid JSON: "
            f"{e}); re-run the {path.removesuffix('.json')} step"
        ) from e


def read_text(uri: str, run_id: str, artifact_uri: str, path: str) -> str:
    f = artifact_path(uri, run_id, artifact_uri, path)
    try:
        return f.read_text()
    except UnicodeDecodeError as e:
        raise ConfigError(f"artefact '{path}' of run {run_id} is not text ({e})") from e


@st.cache_resource(show_spinner=False, max_entries=8)
def load_generator(uri: str, run_id: str, artifact_uri: str):
    """(generator, meta) of a fit run's `model` artefact; loaded once per server.

    The folder comes from `journeylab.runs.model_dir_of`, the one helper for a run's
    model (read in place from a local store); `artifact_uri` only keys the cache."""
    from journeylab.generators import base
    from journeylab.runs import model_dir_of

    path = model_dir_of(run_id, uri=uri)
    meta = base.read_meta(path)  # ConfigError for a missing, corrupt or newer model
    try:
        gen = base.load(path)
    except ConfigError:
        raise
    except Exception as e:  # a damaged tensor file raises library-specific errors
        raise ConfigError(
            f"the model of run {run_id} cannot be loaded ({type(e).__name__}: "
            f"{str(e)[:300]}); its files may be damaged. Re-run the fit"
        ) from e
    return gen, meta


def clear_caches() -> None:
    """Forget what was read from the store; loaded models stay (they do not change)."""
    st.cache_data.clear()
