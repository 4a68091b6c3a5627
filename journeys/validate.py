"""Validation of a raw event table against a schema, once, at the edge.

Every check runs and every problem is collected; one `DataError` lists them all
with column, rows (0-based positions in the input) and fix. The only repairs
made without being asked are harmless and reported: sorting by customer and
time. Truncation of over-long journeys happens only when asked for. Exact duplicate
events (two coupons redeemed on one day, two identical purchases on one date) are
data, not mistakes: they are kept, and their number is a note of the report.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from journeylab.journeys.errors import DataError, Problem, rows_problem
from journeylab.journeys.schema import Column, Schema


@dataclass
class ValidationReport:
    """What validation did to the input besides checking it."""

    n_rows_in: int = 0
    sorted: bool = False
    truncated_customers: int = 0
    truncated_events: int = 0
    duplicate_events: int = 0  # events identical to an earlier one (kept)
    notes: list[str] = field(default_factory=list)


def validate_frame(
    df: pd.DataFrame, schema: Schema, *, truncate: bool = False
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check `df` against `schema`; return the clean, sorted frame and a report."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(
            f"expected a pandas DataFrame, got {type(df).__name__}",
            fix="load the table with pandas or EventLog.read",
        )
    report = ValidationReport(n_rows_in=len(df))
    if len(df) == 0:
        raise DataError(
            Problem(None, "the event log is empty (0 rows)", "pass a log with at least one event")
        )
    df = df.reset_index(drop=True)
    problems = _column_name_problems(df, schema)
    out = pd.DataFrame(index=df.index)
    present = [n for n in schema.all_names if n in df.columns]
    for name in present:
        out[name], col_problems = _coerce(df[name], name, schema)
        problems += col_problems
    if problems:
        raise DataError(problems)
    problems += _context_problems(out, schema)
    if problems:
        raise DataError(problems)
    _note_duplicates(out, report)
    report.notes += time_notes(df[schema.sequence_index])
    out = _sort(out, schema, report)
    out = _length_limit(out, schema, truncate, report)
    return out[schema.all_names].reset_index(drop=True), report


def _column_name_problems(df: pd.DataFrame, schema: Schema) -> list[Problem]:
    problems = []
    expected = schema.all_names
    extra = [str(c) for c in df.columns if c not in expected]
    for name in expected:
        if name not in df.columns:
            guess = difflib.get_close_matches(name, extra, n=1)
            fix = (
                f"rename column '{guess[0]}' to '{name}'"
                if guess
                else f"add column '{name}' or correct the schema"
            )
            problems.append(Problem(name, "required column is missing", fix))
    for name in extra:
        guess = difflib.get_close_matches(name, expected, n=1)
        fix = (
            f"did you mean '{guess[0]}'? rename it"
            if guess
            else "declare it in the schema or drop it"
        )
        problems.append(Problem(name, "column is not in the schema", fix))
    if len(set(map(str, df.columns))) != len(df.columns):
        problems.append(Problem(None, "column names repeat", "give every column a unique name"))
    return problems


def _coerce(s: pd.Series, name: str, schema: Schema) -> tuple[pd.Series, list[Problem]]:
    if name == schema.sequence_key:
        return _coerce_key(s, name)
    if name == schema.sequence_index:
        return _coerce_time(s, name, schema)
    col = schema.column(name)
    if col.kind == "categorical":
        return _coerce_categorical(s, col)
    return _coerce_numeric(s, col)


def _missing(s: pd.Series) -> np.ndarray:
    return s.isna().to_numpy()


def _coerce_key(s: pd.Series, name: str) -> tuple[pd.Series, list[Problem]]:
    miss = _missing(s)
    p = []
    if miss.any():
        p.append(
            rows_problem(
                name, miss, "customer id is missing", "give every event the id of its customer"
            )
        )
    return s.astype(str).where(~miss, None), p


def _coerce_time(s: pd.Series, name: str, schema: Schema) -> tuple[pd.Series, list[Problem]]:
    miss = _missing(s)
    p = []
    if pd.api.types.is_datetime64_any_dtype(s):
        t = _to_ns(s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s)
    elif pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        p.append(
            Problem(
                name,
                f"timestamps have numeric type {s.dtype}",
                "write timestamps as ISO 8601 text, e.g. 2017-03-01 12:30:00",
            )
        )
        return s, p
    else:
        t = _parse_times(s.astype(object).where(~miss, None))
    bad = t.isna().to_numpy() & ~miss
    if miss.any():
        p.append(rows_problem(name, miss, "timestamp is missing", "give every event a timestamp"))
    if bad.any():
        p.append(
            rows_problem(
                name,
                bad,
                "timestamp cannot be parsed (or lies after 2262 or before 1678)",
                "write timestamps as ISO 8601, e.g. 2017-03-01 12:30:00 (an offset such as "
                "+02:00 is converted to UTC)",
            )
        )
    if schema.time_start is not None:
        out = ((t < schema.time_start) | (t >= schema.time_end)).to_numpy() & ~t.isna().to_numpy()
        if out.any():
            p.append(
                rows_problem(
                    name,
                    out,
                    f"timestamp outside the declared time range [{schema.time_start}, "
                    f"{schema.time_end})",
                    "drop these events or widen time_range in the schema",
                )
            )
    return t, p


# a UTC offset after the time of day: 10:00+02:00, 10:00:00.5Z, 10:00:00 -0500
OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)\s*$"


def _parse_times(s: pd.Series) -> pd.Series:
    """Text -> naive UTC datetime64[ns]; unparseable or out-of-range -> NaT.

    The one rule for time zones: a timestamp with an offset (`+02:00`, `Z`) is
    converted to UTC; one without is taken as UTC already (reported by time_notes)."""
    t = pd.to_datetime(s, errors="coerce", format="mixed", utc=True)
    return t.dt.tz_localize(None).astype("datetime64[ns]")


def _to_ns(t: pd.Series) -> pd.Series:
    """Naive datetimes of any unit -> datetime64[ns]; outside its range (after 2262) -> NaT."""
    inside = (t >= pd.Timestamp.min) & (t <= pd.Timestamp.max)
    return t.where(inside).astype("datetime64[ns]")


def time_notes(s: pd.Series) -> list[str]:
    """What the time-zone rule did to a timestamp column, for the report."""
    if pd.api.types.is_datetime64_any_dtype(s):
        tz = s.dt.tz
        return [f"timestamps in time zone {tz} were converted to UTC"] if tz is not None else []
    if not (pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)):
        return []
    aware = s.dropna().astype(str).str.contains(OFFSET, regex=True)
    n = int(aware.sum())
    if n == 0:
        return []
    naive = "" if n == len(aware) else f"; {len(aware) - n} without an offset were taken as UTC"
    return [f"{n} timestamp(s) with a UTC offset were converted to UTC{naive}"]


def _coerce_categorical(s: pd.Series, col: Column) -> tuple[pd.Series, list[Problem]]:
    miss = _missing(s)
    p = []
    if miss.any():
        p.append(
            rows_problem(
                col.name,
                miss,
                "value is missing (NaN/empty)",
                "fill it with a declared category, e.g. 'Unknown'",
            )
        )
    if pd.api.types.is_float_dtype(s) and not miss.all():
        p.append(
            Problem(
                col.name, f"categorical column has float type {s.dtype}", "store categories as text"
            )
        )
    out = s.astype(str).where(~miss, None)
    if col.values is not None:
        bad = ~out.isin(col.values).to_numpy() & ~miss
        if bad.any():
            vals = sorted(set(out[bad]))[:5]
            p.append(
                rows_problem(
                    col.name,
                    bad,
                    f"values {vals} are not in the declared domain",
                    f"use one of {list(col.values)[:10]} or extend the schema",
                )
            )
    return out, p


def _coerce_numeric(s: pd.Series, col: Column) -> tuple[pd.Series, list[Problem]]:
    miss = _missing(s)
    p = []
    if pd.api.types.is_bool_dtype(s):
        p.append(Problem(col.name, "numeric column has boolean type", "store numbers"))
        return s, p
    x = pd.to_numeric(s, errors="coerce").astype("float64")
    wrong = x.isna().to_numpy() & ~miss
    if miss.any():
        p.append(
            rows_problem(
                col.name,
                miss,
                "value is missing (NaN/empty)",
                "fill it with a number (e.g. 0 for events without an amount)",
            )
        )
    if wrong.any():
        p.append(
            rows_problem(
                col.name,
                wrong,
                "value is not a number (wrong type)",
                "write plain numbers such as 12.5",
            )
        )
    inf = np.isinf(x.to_numpy())
    if inf.any():
        p.append(
            rows_problem(col.name, inf, "value is infinite", "replace it with a finite number")
        )
    lo = -np.inf if col.min is None else col.min
    hi = np.inf if col.max is None else col.max
    out = ((x < lo) | (x > hi)).to_numpy() & ~inf
    if out.any():
        p.append(
            rows_problem(
                col.name,
                out,
                f"value outside the declared bounds [{lo}, {hi}]",
                "clip or drop these values, or widen min/max in the schema",
            )
        )
    return x, p


def _context_problems(df: pd.DataFrame, schema: Schema) -> list[Problem]:
    problems = []
    for name in schema.context_names():
        varying = df.groupby(schema.sequence_key, sort=False)[name].transform("nunique") > 1
        if varying.any():
            problems.append(
                rows_problem(
                    name,
                    varying.to_numpy(),
                    "context value changes within a customer's journey",
                    "give each customer one value, or declare the column as an event column",
                )
            )
    return problems


def _note_duplicates(df: pd.DataFrame, report: ValidationReport) -> None:
    """Count exact duplicate events; they stay in the log (repeated events are data)."""
    n = int(df.duplicated(keep="first").sum())
    report.duplicate_events = n
    if n:
        report.notes.append(duplicates_note(n))


def duplicates_note(n: int) -> str:
    return (
        f"{n} event(s) repeat an earlier event exactly (same customer, time and values); "
        "they are kept as separate events"
    )


def _sort(df: pd.DataFrame, schema: Schema, report: ValidationReport) -> pd.DataFrame:
    # Ties in time are broken by the event columns so that the order is canonical.
    keys = [schema.sequence_key, schema.sequence_index] + schema.event_names()
    sorted_df = df.sort_values(keys, kind="mergesort")
    if not sorted_df.index.equals(df.index):
        report.sorted = True
        report.notes.append("input was not sorted by customer and time; it has been sorted")
    return sorted_df


def _length_limit(
    df: pd.DataFrame, schema: Schema, truncate: bool, report: ValidationReport
) -> pd.DataFrame:
    if schema.max_length is None:
        return df
    pos = df.groupby(schema.sequence_key, sort=False).cumcount().to_numpy()
    over = pos >= schema.max_length
    if not over.any():
        return df
    n_cust = df.loc[over, schema.sequence_key].nunique()
    if not truncate:
        raise DataError(
            rows_problem(
                schema.sequence_key,
                over,
                f"{n_cust} journey(s) are longer than max_length {schema.max_length}",
                "pass truncate=True (CLI: --truncate) to keep the first max_length events, "
                "or raise max_length in the schema",
            )
        )
    report.truncated_customers = int(n_cust)
    report.truncated_events = int(over.sum())
    report.notes.append(
        f"truncated {n_cust} journey(s) to {schema.max_length} events, "
        f"dropping {int(over.sum())} event(s)"
    )
    return df[~over]
