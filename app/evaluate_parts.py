"""The sections of the evaluation report that call other libraries: SDMetrics, the
predictors (TRTR/TSTR with lift tables) and the privacy record.

Each function takes validated EventLogs and returns a JSON-able dict; none prints.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from journeys.errors import UserError
from journeys.eventlog import EventLog
from journeys.schema import Schema

SDM_TYPES = {"categorical": "categorical", "numeric": "numerical"}
UTILITY_CAVEAT = (
    "Predictors are tested on the real holdout: these figures are computed on "
    "real data and are not covered by the DP guarantee."
)


# --- SDMetrics' quality report (second opinion) ----------------------------------------
def sdmetrics_metadata(schema: Schema, table: str) -> dict:
    """SDMetrics metadata for the `events` table or the per-customer `context` table."""
    cols: dict[str, dict] = {schema.sequence_key: {"sdtype": "id"}}
    if table == "events":
        cols[schema.sequence_index] = {"sdtype": "datetime"}
        names = schema.event_names()
    else:
        names = schema.context_names()
    for name in names:
        cols[name] = {"sdtype": SDM_TYPES[schema.column(name).kind]}
    return {"tables": {table: {"columns": cols}}}


def _table(log: EventLog, table: str) -> pd.DataFrame:
    if table == "context":
        return log.context()
    return log.df[[log.key, log.time, *log.schema.event_names()]]


def _sample_customers(log: EventLog, *, max_rows: int, seed: int) -> EventLog:
    """Whole journeys, seeded, until about `max_rows` events (SDMetrics' pair trends are slow)."""
    if log.n_events <= max_rows:
        return log
    ids = np.random.default_rng(seed).permutation(log.customers)
    lengths = log.lengths().reindex(ids).to_numpy()
    keep = max(1, int(np.searchsorted(np.cumsum(lengths), max_rows)))
    return log.subset(ids[:keep])


def quality_score(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict) -> dict:
    """Overall score, per-property scores and per-column shape scores (0..1, 1 = same)."""
    from sdmetrics.reports import QualityReport

    table = next(iter(metadata["tables"]))
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate({table: real}, {table: synthetic}, metadata, verbose=False)
        props = report.get_properties()
        shapes = report.get_details("Column Shapes")
    return {
        "score": float(report.get_score()),
        "properties": {r.Property: float(r.Score) for r in props.itertuples()},
        "column_shapes": {r.Column: float(r.Score) for r in shapes.itertuples()},
    }


def sdmetrics_section(
    train: EventLog, holdout: EventLog, synthetic: EventLog, *, max_rows: int, seed: int
) -> dict:
    """QualityReport of synthetic vs holdout, next to train vs holdout, per table."""
    logs = {
        k: _sample_customers(g, max_rows=max_rows, seed=seed)
        for k, g in (("train", train), ("holdout", holdout), ("synthetic", synthetic))
    }
    out: dict[str, Any] = {
        "real": "holdout",
        "max_rows": max_rows,
        "rows": {k: g.n_events for k, g in logs.items()},
    }
    for table in ("events", "context"):
        if table == "context" and not holdout.schema.context_names():
            out[table] = None
            continue
        meta = sdmetrics_metadata(holdout.schema, table)
        real = _table(logs["holdout"], table)
        out[table] = quality_score(real, _table(logs["synthetic"], table), meta)
        out[table]["ref_score"] = quality_score(real, _table(logs["train"], table), meta)["score"]
    return out


# --- utility: TRTR / TSTR with lift tables ------------------------------------------------
def utility_section(
    train: EventLog,
    holdout: EventLog,
    synthetic: EventLog,
    *,
    tasks: Sequence[str],
    models: Sequence[str],
    progress: Callable[[str], None] | None = None,
) -> dict:
    """The rows of `predictors.evaluate.utility_table` (TRTR and TSTR, no augmented), plus
    the lift table of every row, all tested on the real holdout."""
    from predictors.data import build_examples
    from predictors.evaluate import spec_for

    say = progress or (lambda _m: None)
    spec = spec_for(train, task=tuple(tasks))
    hold = build_examples(holdout, spec=spec)
    rows, lifts = [], []
    for setting, log in (("TRTR", train), ("TSTR", synthetic)):
        say(f"utility: labels and features ({setting})")
        try:
            data = build_examples(log, spec=spec)
        except UserError as e:
            if setting == "TRTR":
                raise
            rows += [_failed(t, m, setting, e) for m in models for t in spec.tasks]
            continue
        for model in models:
            for task in spec.tasks:
                say(f"utility: {setting} {model} {task}")
                row, lift = _fit_and_test(data, hold, task, model, setting)
                rows.append(row)
                if lift is not None:
                    lifts.append({"task": task, "model": model, "train": setting, "table": lift})
    _add_ratio(rows)
    return {"label_spec": spec.to_dict(), "rows": rows, "lift": lifts, "caveat": UTILITY_CAVEAT}


def _fit_and_test(data, hold, task: str, model: str, setting: str) -> tuple[dict, list | None]:
    from predictors.evaluate import lift_table, metrics
    from predictors.models import create

    try:
        y = data.y(task)
        p = create(model, None).fit(data, y).predict_proba(hold)
        scores = metrics(hold.y(task), p)
    except UserError as e:
        if setting == "TRTR":
            raise
        return _failed(task, model, setting, e), None
    row = {
        "task": task,
        "model": model,
        "train": setting,
        "n_train": len(data),
        "positives_train": int(y.sum()),
        **{k: scores[k] for k in ("auc", "pr_auc", "brier", "top_decile_lift", "base_rate")},
        "note": "",
    }
    return row, lift_table(hold.y(task), p).to_dict(orient="records")


def _failed(task: str, model: str, setting: str, err: Exception) -> dict:
    from predictors.evaluate import message

    nan = math.nan
    return {
        "task": task,
        "model": model,
        "train": setting,
        "n_train": 0,
        "positives_train": 0,
        "auc": nan,
        "pr_auc": nan,
        "brier": nan,
        "top_decile_lift": nan,
        "base_rate": nan,
        "note": message(err),
    }


def _add_ratio(rows: list[dict]) -> None:
    base = {(r["task"], r["model"]): r["auc"] for r in rows if r["train"] == "TRTR"}
    for r in rows:
        r["auc_ratio"] = r["auc"] / base.get((r["task"], r["model"]), math.nan)


# --- privacy ----------------------------------------------------------------------------
NO_GUARANTEE = "no formal guarantee"


def privacy_section(record: dict | None, audits: dict, *, source: str) -> dict:
    """Epsilon and delta per part from a DP run's privacy record, else no formal guarantee;
    the empirical audits beside it, with their caveat."""
    from privacy.card import card_numbers_from, normalise_record

    if record and (
        record.get("dp")
        or "noise_multiplier" in record
        or "noise_multiplier" in (record.get("training") or {})
    ):
        rec = normalise_record(record)
        numbers = card_numbers_from(rec)
        guarantee = {
            "dp": True,
            "unit": "customer",
            "epsilon": rec["epsilon_total"],
            "delta": rec["delta_total"],
            "parts": {"preprocessing": numbers["preprocessing"], "training": numbers["training"]},
            "composition": numbers["composition"],
            "statement": (
                f"({rec['epsilon_total']:.3g}, {rec['delta_total']:.2g})-DP for one "
                "whole customer: covers the model and every journey sampled from it."
            ),
        }
    else:
        why = (
            "the run that produced it trained without differential privacy"
            if record is not None
            else f"no privacy record came with the synthetic log ({source})"
        )
        guarantee = {
            "dp": False,
            "epsilon": math.inf,
            "delta": None,
            "statement": f"{NO_GUARANTEE}: {why}.",
        }
    return {**guarantee, "audits": audits}
