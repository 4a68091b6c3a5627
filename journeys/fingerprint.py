"""The content hash of an event log, computed whole or block by block.

    h = LogHash(schema)
    for block in blocks:          # customer-complete frames, in log order
        h.update(block)
    h.hexdigest()                 # == EventLog.fingerprint() of the concatenated log

The hash covers the schema and every row (pandas' row hash, which depends on the
values and their dtypes, not on the index). Rows hash one by one and the digest
runs over them in order, so feeding a sorted log in consecutive blocks gives the
same fingerprint as hashing it at once: a log streamed to a partitioned dataset
and the same log in one file carry one fingerprint.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from journeylab.journeys.schema import Schema

DIGITS = 16  # hex digits kept: short enough to read, long enough never to collide by chance


class LogHash:
    """A running fingerprint of a log: `update` with its rows in order, then `hexdigest`."""

    def __init__(self, schema: Schema):
        self._h = hashlib.sha256(schema.fingerprint().encode())

    def update(self, df: pd.DataFrame) -> None:
        self._h.update(row_hashes(df).tobytes())

    def update_rows(self, hashes: bytes) -> None:
        """Add rows already hashed by `row_hashes` (e.g. one customer's, in a merge)."""
        self._h.update(hashes)

    def hexdigest(self) -> str:
        return self._h.hexdigest()[:DIGITS]


def row_hashes(df: pd.DataFrame) -> np.ndarray:
    """[rows] uint64: one hash per row, of its values and their dtypes."""
    return pd.util.hash_pandas_object(df, index=False).to_numpy()


def log_fingerprint(df: pd.DataFrame, schema: Schema) -> str:
    """The fingerprint of a whole log held as one frame."""
    h = LogHash(schema)
    h.update(df)
    return h.hexdigest()
