"""Sampling from a table of customers: one journey per row, its context fixed by the row.

    table = pd.DataFrame({"segment": ["premium", "budget", None]})
    log = sample_context(gen, table, seed=0)
    # 3 journeys, ids syn000000000.. in row order: the first premium, the second
    # budget, the third's segment generated (a missing value is left to the model)

Any subset of the schema's context columns may be given; the rest are generated.
A column named like the schema's sequence key gives the journeys' ids (unique,
non-empty). Rows with the same fixed values are sampled together, one
`gen.sample(k, conditions=...)` per distinct combination (groups in order of first
appearance, group g with seed `seed * 1_000_003 + g`), so a table of a million
customers over a few segments costs a few calls. Same table, same seed, same log.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from journeylab.generators.io import check_conditions, synthetic_ids
from journeylab.journeys.errors import ConfigError, InternalError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema


def check_context(schema: Schema, table: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's fixed context values {column: value} (missing values left out),
    after checking every column and every distinct combination; one ConfigError
    lists every problem, with the first rows it occurs in."""
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ConfigError(
            "the context table must be a non-empty DataFrame, one row per customer "
            f"with context columns {[c.name for c in schema.context]}"
        )
    ctx = [c.name for c in schema.context]
    cols = [c for c in table.columns if c != schema.sequence_key]
    problems = [
        f"column '{c}' is not a context column; keep only {ctx} (and '{schema.sequence_key}')"
        for c in cols
        if c not in ctx
    ]
    if problems:
        raise ConfigError("context table: " + "; ".join(problems))
    rows = [
        {c: v for c, v in zip(cols, values, strict=True) if not pd.isna(v)}
        for values in table[cols].itertuples(index=False, name=None)
    ]
    for combo, where in _groups(rows).items():
        try:
            check_conditions(schema, dict(combo))
        except ConfigError as e:
            shown = ", ".join(str(i) for i in where[:5])
            problems.append(f"rows {shown}{' ...' if len(where) > 5 else ''}: {e}")
    if problems:
        raise ConfigError("context table: " + "; ".join(problems))
    return rows


def context_ids(schema: Schema, table: pd.DataFrame, *, offset: int = 0) -> list[str]:
    """The journeys' ids: the table's sequence-key column, else synthetic ids in row order."""
    key = schema.sequence_key
    if key not in table.columns:
        return synthetic_ids(len(table), offset=offset)
    ids = table[key]
    if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
        raise ConfigError(f"context table: '{key}' has missing ids; give every row an id")
    dup = ids[ids.duplicated()].astype(str).unique()[:5].tolist()
    if dup:
        raise ConfigError(f"context table: '{key}' repeats ids {dup}; give each customer one row")
    return ids.astype(str).tolist()


def sample_context(gen, table: pd.DataFrame, *, seed: int = 0, offset: int = 0) -> EventLog:
    """One journey per row of `table`, with the row's context values (see the module
    docstring); `offset` numbers synthetic ids from there (batches of a bigger table)."""
    schema = gen.schema
    rows = check_context(schema, table)
    ids = context_ids(schema, table, offset=offset)
    parts = []
    for g, (combo, where) in enumerate(_groups(rows).items()):
        log = gen.sample(len(where), conditions=dict(combo) or None, seed=seed * 1_000_003 + g)
        if log.n_customers != len(where):
            raise InternalError(
                f"{gen.name}.sample({len(where)}) gave {log.n_customers} journeys; "
                "a context table needs exactly one per row"
            )
        df = log.df.copy()
        own = dict(zip(log.customers, (ids[i] for i in where), strict=True))
        df[schema.sequence_key] = df[schema.sequence_key].map(own)
        parts.append(df)
    return EventLog.from_frame(pd.concat(parts, ignore_index=True), schema)


def _groups(rows: list[dict[str, Any]]) -> dict[tuple, list[int]]:
    """Distinct fixed-value combinations (sorted items) -> their row numbers, in order."""
    out: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        out.setdefault(tuple(sorted((k, str(v)) for k, v in r.items())), []).append(i)
    return out
