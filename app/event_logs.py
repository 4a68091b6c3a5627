"""Event logs and the privacy ledger as the pages see them (read-only).

Event logs the app can show are found through the runs that used them:
- real: a fit run's `data`, a compare run's `a` (and `b` when it is not a
  sample's output), an audit/evaluate run's `train`/`holdout`, and built
  datasets under `<store root>/data/` (`events.parquet`, `train`/`holdout`);
- synthetic: a sample run's `output`, an audit/evaluate run's `synthetic`.
Only files that still exist are listed. Each is read and validated once per
server (`read_log`, cached) with the schema found beside it (`schema.yaml`),
else the one saved in a fit model of its dataset, else the built-in one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from journeylab.app import store, ui
from journeylab.app.derived import Loaded
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema
from journeylab.store import resolve_path, sqlite_file, store_root

REAL_PARAMS = {
    "fit": ("data",),
    "compare": ("a", "b"),
    "audit": ("train", "holdout"),
    "evaluate": ("train", "holdout"),
    "predict": ("train", "holdout"),
}
SYNTH_PARAMS = {"sample": ("output",), "audit": ("synthetic",), "evaluate": ("synthetic",)}


@dataclass(frozen=True)
class Source:
    label: str
    path: str
    role: str  # real | synthetic
    dataset: str


def sources(df: pd.DataFrame, uri: str) -> list[Source]:
    """Every event-log file the runs name that still exists, real ones first."""
    synth_paths = _paths(df, uri, SYNTH_PARAMS)
    origins = _origins(df, uri)
    found: dict[str, Source] = {}
    for path, dataset in synth_paths.items():
        origin = origins.get(path, "origin unknown")
        found[path] = Source(
            f"{Path(path).name} · synthetic · {origin} · {dataset}", path, "synthetic", dataset
        )
    for path, dataset in {**_built(uri), **_paths(df, uri, REAL_PARAMS)}.items():
        if path not in found:
            found[path] = Source(f"{Path(path).name} · real · {dataset}", path, "real", dataset)
    return sorted(found.values(), key=_order)


def _order(s: Source) -> tuple:
    """Real before synthetic; the holdout (customers no generator saw) first."""
    name = Path(s.path).stem
    rank = {"holdout": 0, "train": 1, "events": 2}.get(name, 3)
    return (s.role != "real", rank, s.dataset, s.label)


def _paths(df: pd.DataFrame, uri: str, params: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    if df.empty:
        return out
    for _, r in df[df.status == "FINISHED"].iterrows():
        for p in params.get(r["kind"], ()):
            path = resolve_path(r.get(f"params.{p}"), uri)
            if path is not None and path.suffix in (".parquet", ".csv"):
                out.setdefault(str(path), r["dataset"])
    return out


def _origins(df: pd.DataFrame, uri: str) -> dict[str, str]:
    """Synthetic file -> "generator ε=…" from the lineage tags of the sample run that wrote it."""
    out: dict[str, str] = {}
    if df.empty or "params.output" not in df:
        return out
    for _, r in df[(df.kind == "sample") & df.generator.notna()].iterrows():
        path = resolve_path(r["params.output"], uri)
        if path is not None:
            out.setdefault(str(path), f"{r.generator} {ui.eps_label(r.epsilon)}")
    return out


def _built(uri: str) -> dict[str, str]:
    root = store_root(uri) / "data"
    if not root.is_dir():
        return {}
    out = {}
    for name in ("events.parquet", "train.parquet", "holdout.parquet"):
        for f in sorted(root.glob(f"*/{name}"))[:50]:
            out[str(f.resolve())] = f.parent.name
    return out


def schema_for(source: Source, df: pd.DataFrame, uri: str) -> Schema:
    """The schema a log file is read with (module doc)."""
    beside = Path(source.path).parent / "schema.yaml"
    if beside.is_file():
        return Schema.read(beside)
    fits = df[(df.kind == "fit") & (df.status == "FINISHED")] if not df.empty else df
    for _, r in fits[fits.dataset == source.dataset].iterrows():
        try:
            meta = store.read_json(uri, r.run_id, r.artifact_uri, "model/meta.json")
            return Schema.from_dict(meta["schema"])
        except (ConfigError, KeyError, TypeError):
            continue
    from journeylab.journeys import datasets

    if source.dataset in datasets.DATASETS:
        return datasets.schema_of(source.dataset)
    raise ConfigError(
        f"no schema found for {source.path}: put its schema.yaml beside it, "
        "or fit a model on that dataset"
    )


@st.cache_resource(show_spinner="reading and validating the log", max_entries=16)
def _read(path: str, mtime: float, schema_json: str) -> EventLog:
    return EventLog.read(path, Schema.from_dict(json.loads(schema_json)))


def read_log(source: Source, df: pd.DataFrame, uri: str) -> EventLog:
    """Read and validate once per server; a file that fails validation says why."""
    p = Path(source.path)
    if not p.is_file():
        raise ConfigError(f"the log {p} no longer exists; pick another one")
    schema = schema_for(source, df, uri)
    return _read(str(p), p.stat().st_mtime, json.dumps(schema.to_dict(), sort_keys=True))


def loaded(source: Source, df: pd.DataFrame, uri: str) -> Loaded:
    """A log as the pages hold it: read once per server, keyed by file and modification
    time (the key of every statistic computed from it, app/derived.py)."""
    log = read_log(source, df, uri)
    return Loaded(f"{source.path}:{Path(source.path).stat().st_mtime}", source.label, log)


# --- privacy ledger -------------------------------------------------------------
def ledger_path(uri: str) -> Path:
    """$JOURNEYLAB_LEDGER, else `privacy/ledger.jsonl` beside the MLflow database."""
    import os

    from journeylab.privacy import ledger

    env = os.environ.get(ledger.ENV_VAR)
    if env:
        return Path(env)
    db = sqlite_file(uri)
    return db.parent / "privacy" / "ledger.jsonl" if db else ledger.default_path()


@dataclass(frozen=True)
class LedgerView:
    path: str
    summary: pd.DataFrame  # one row per dataset fingerprint: spent, cap, left
    entries: pd.DataFrame  # one row per release
    problems: list[str]


@st.cache_data(ttl=store.TTL, show_spinner=False)
def _ledger(path: str, mtime: float) -> LedgerView:
    from journeylab.privacy.ledger import Ledger

    led = Ledger(path)
    entries = [r.to_dict() for r in led.entries()]
    summary = [led.spent(fp).to_dict() for fp in led.datasets()]
    return LedgerView(path, pd.DataFrame(summary), pd.DataFrame(entries), led.problems())


def ledger(uri: str) -> LedgerView | None:
    """The ledger beside the store, or None when nothing was ever recorded."""
    p = ledger_path(uri)
    if not p.is_file():
        return None
    try:
        return _ledger(str(p), p.stat().st_mtime)
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(
            f"the privacy ledger {p} cannot be read ({type(e).__name__}: {e}); "
            "check the file, or set JOURNEYLAB_LEDGER to the right one"
        ) from e


def fmt_eps(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "unknown"
    return "∞ (no DP)" if math.isinf(float(x)) else f"{float(x):.3g}"


def left_label(cap, left, spent) -> str:
    """What is left of a dataset's budget, in words: without a cap nothing bounds what
    may still be spent, which is not the same as "no DP" (releases may have spent some)."""
    if cap is None or (isinstance(cap, float) and math.isnan(cap)):
        return f"no cap set; {fmt_eps(spent)} spent"
    return fmt_eps(left)


def fmt_time(t) -> str:
    """A ledger or run time to the second, in UTC (no microseconds, no ISO 'T')."""
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%d %H:%M:%S UTC")
