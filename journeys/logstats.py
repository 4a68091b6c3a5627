"""The summary `EventLog.describe()` prints, gathered whole or chunk by chunk.

    stats = LogStats(schema)
    for chunk in customer_complete_chunks:   # EventLogs, no customer in two chunks
        stats.add(chunk)
    stats.describe(fingerprint)              # the same dict as describe() of the whole log

Everything in it is a count, a sum, an extreme or a length, so it adds up over
chunks: the lengths of all customers are kept (8 bytes each) for the median;
nothing else grows with the log.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from journeylab.journeys.schema import Schema

if TYPE_CHECKING:
    from journeylab.journeys.eventlog import EventLog


class LogStats:
    """Running counts of a log: customers, events, time range, lengths, categories, sums."""

    def __init__(self, schema: Schema):
        self.schema = schema
        self.events = 0
        self.time_min = self.time_max = None
        self._lengths: list[np.ndarray] = []
        self._counts = {c: Counter() for c in schema.event_names("categorical")}
        self._sums = dict.fromkeys(schema.event_names("numeric"), 0.0)

    def add(self, log: EventLog) -> None:
        """Count one chunk of whole journeys."""
        t = log.df[log.time]
        lo, hi = t.min(), t.max()
        self.time_min = lo if self.time_min is None else min(self.time_min, lo)
        self.time_max = hi if self.time_max is None else max(self.time_max, hi)
        self.events += log.n_events
        self._lengths.append(log.lengths().to_numpy())
        for col, counter in self._counts.items():
            counter.update(log.df[col].value_counts().to_dict())
        for col in self._sums:
            self._sums[col] += float(log.df[col].sum())

    def describe(self, fingerprint: str) -> dict:
        """The summary, keys in `EventLog.describe()`'s order."""
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        out = {
            "schema": self.schema.name,
            "fingerprint": fingerprint,
            "customers": len(lengths),
            "events": self.events,
            "time_min": str(self.time_min),
            "time_max": str(self.time_max),
            "length_mean": round(float(lengths.mean()), 3),
            "length_median": float(np.median(lengths)),
            "length_max": int(lengths.max()),
        }
        for col, counter in self._counts.items():
            out[f"events_by_{col}"] = {k: int(v) for k, v in sorted(counter.items())}
        for col, total in self._sums.items():
            out[f"{col}_sum"] = round(total, 2)
        return out
