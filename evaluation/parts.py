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

from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema

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
    """`predictors.evaluate.utility_table` (TRTR and TSTR, no augmented) with the lift
    table of every row, all tested on the real holdout, as JSON-able rows."""
    from journeylab.predictors.evaluate import spec_for, utility_table

    table = utility_table(
        train,
        holdout,
        synthetic,
        tasks=tuple(tasks),
        models=tuple(models),
        augmented=False,
        lift=True,
        progress=progress,
    )
    rows = table.drop(columns="synthetic").to_dict(orient="records")
    lifts = [{k: v for k, v in e.items() if k != "synthetic"} for e in table.attrs["lift"]]
    spec = spec_for(train, task=tuple(tasks))
    return {"label_spec": spec.to_dict(), "rows": rows, "lift": lifts, "caveat": UTILITY_CAVEAT}


# --- privacy ----------------------------------------------------------------------------
NO_GUARANTEE = "no formal guarantee"


def privacy_section(record: dict | None, audits: dict, *, source: str) -> dict:
    """Epsilon and delta per part from a DP run's privacy record, else no formal guarantee;
    the empirical audits beside it, with their caveat."""
    from journeylab.privacy.card import card_numbers_from, normalise_record

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
            "parts": {
                "preprocessing": numbers["preprocessing"],
                "profile": numbers["profile"],
                "training": numbers["training"],
            },
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
