"""`EventLog`: a validated event table, sorted by customer and time.

Functions inside JourneyLab take an `EventLog`, never a raw DataFrame; the only
ways in are `EventLog.from_frame` and `EventLog.read`, which validate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.files import atomic_write
from journeylab.journeys.fingerprint import log_fingerprint
from journeylab.journeys.logstats import LogStats
from journeylab.journeys.partitioned import is_partitioned, read_manifest, read_partitioned
from journeylab.journeys.schema import Schema
from journeylab.journeys.validate import ValidationReport, validate_frame

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def file_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"unknown file type '{suffix}' for {path}; use .csv or .parquet")
    return FORMATS[suffix]


class EventLog:
    """A validated event log. Build with `from_frame` or `read`."""

    def __init__(
        self,
        df: pd.DataFrame,
        schema: Schema,
        report: ValidationReport | None = None,
        *,
        _validated: bool = False,
    ):
        if not _validated:
            raise TypeError("use EventLog.from_frame(df, schema) or EventLog.read(path, schema)")
        self.df = df
        self.schema = schema
        self.report = report or ValidationReport(n_rows_in=len(df))

    # --- construction ----------------------------------------------------
    @classmethod
    def from_frame(cls, df: pd.DataFrame, schema: Schema, *, truncate: bool = False) -> EventLog:
        clean, report = validate_frame(df, schema, truncate=truncate)
        return cls(clean, schema, report, _validated=True)

    @classmethod
    def read(cls, path: str | Path, schema: Schema, *, truncate: bool = False) -> EventLog:
        return cls.from_frame(read_table(path), schema, truncate=truncate)

    def write(self, path: str | Path) -> Path:
        """Write CSV or Parquet atomically: a crash leaves the old file or none, never half."""
        return write_table(self.df, path)

    def _derive(self, df: pd.DataFrame) -> EventLog:
        # Rows of a valid log stay valid: no need to re-validate a subset.
        return EventLog(df.reset_index(drop=True), self.schema, _validated=True)

    # --- views -----------------------------------------------------------
    @property
    def key(self) -> str:
        return self.schema.sequence_key

    @property
    def time(self) -> str:
        return self.schema.sequence_index

    def __len__(self) -> int:
        return len(self.df)

    @property
    def n_events(self) -> int:
        return len(self.df)

    @property
    def customers(self) -> np.ndarray:
        return self.df[self.key].unique()

    @property
    def n_customers(self) -> int:
        return int(self.df[self.key].nunique())

    def lengths(self) -> pd.Series:
        """Events per customer, in log order."""
        return self.df.groupby(self.key, sort=False).size()

    def context(self) -> pd.DataFrame:
        """One row per customer: the id and its context columns."""
        cols = [self.key] + self.schema.context_names()
        return self.df[cols].drop_duplicates(self.key).reset_index(drop=True)

    def subset(self, customer_ids) -> EventLog:
        return self._derive(self.df[self.df[self.key].isin(set(customer_ids))])

    def head_customers(self, n: int) -> EventLog:
        return self.subset(self.customers[:n])

    def iter_chunks(self, customers_per_chunk: int) -> Iterator[EventLog]:
        """Whole journeys in chunks, for work that must not hold everything at once."""
        ids = self.customers
        for i in range(0, len(ids), customers_per_chunk):
            yield self.subset(ids[i : i + customers_per_chunk])

    def fingerprint(self) -> str:
        """A content hash: same events and schema, same fingerprint, whatever the file."""
        return log_fingerprint(self.df, self.schema)

    def describe(self) -> dict:
        """Customers, events, time range, lengths, events per category, numeric sums
        (journeys/logstats.py, which also describes a partitioned dataset in one pass)."""
        stats = LogStats(self.schema)
        stats.add(self)
        return stats.describe(self.fingerprint())

    def __repr__(self) -> str:
        return (
            f"EventLog(schema={self.schema.name!r}, customers={self.n_customers}, "
            f"events={self.n_events})"
        )


def read_table(path: str | Path) -> pd.DataFrame:
    """A raw table from a .csv or .parquet file, or from a partitioned dataset folder
    (journeys/partitioned.py), which comes back whole and sorted by customer and time."""
    path = Path(path)
    if is_partitioned(path):
        return read_partitioned(path)
    if path.is_dir():
        read_manifest(path)  # raises: a folder without a manifest, and what to pass instead
    fmt = file_format(path)
    if not path.exists():
        raise DataError(f"file {path} does not exist", fix="check the path")
    try:
        if fmt == "csv":
            return pd.read_csv(path, dtype=str, keep_default_na=True)
        return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise DataError(
            f"could not read {path} as {fmt}: {e}", fix=f"check that the file is valid {fmt}"
        ) from e


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    fmt = file_format(path)
    if fmt == "csv":
        return atomic_write(
            path, lambda tmp: df.to_csv(tmp, index=False, date_format="%Y-%m-%d %H:%M:%S")
        )
    return atomic_write(path, lambda tmp: df.to_parquet(tmp, index=False))


def split_by_customer(
    log: EventLog, *, holdout: float = 0.5, seed: int = 0
) -> tuple[EventLog, EventLog]:
    """Split customers into train and holdout by a seeded hash of the id.

    Stable: a customer's side depends only on its id and the seed, not on who
    else is in the log, so the split survives adding or removing customers.
    """
    check_holdout(holdout)
    ids = log.customers
    hold = set(ids[in_holdout(ids, holdout=holdout, seed=seed)])
    train_ids = [i for i in ids if i not in hold]
    if not train_ids or not hold:
        raise DataError(
            f"split of {len(ids)} customer(s) left one side empty",
            fix="use a log with more customers or another holdout fraction",
        )
    return log.subset(train_ids), log.subset(hold)


def check_holdout(holdout: float) -> None:
    if not 0.0 < holdout < 1.0:
        raise ConfigError(f"holdout fraction {holdout} must be strictly between 0 and 1")


def in_holdout(ids, *, holdout: float, seed: int) -> np.ndarray:
    """[ids] True for the customers held out: a seeded hash of each id alone."""
    return np.array([_hash_unit(f"{seed}:{i}") for i in ids], dtype=float) < holdout


def _hash_unit(s: str) -> float:
    return int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big") / 2.0**64
