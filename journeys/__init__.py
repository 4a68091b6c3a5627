"""The event log: schema, validation, IO, datasets, encoding, fidelity metrics.

Names are imported on first use (like `journeylab`'s): `journeylab.journeys.errors`
and the other light modules load without pandas or torch, so the `journeylab`
command starts fast.
"""

from __future__ import annotations

from journeylab.journeys.lazy import lazy_exports

__version__ = "0.1.0"

_API = {
    "Column": "journeylab.journeys.schema",
    "Schema": "journeylab.journeys.schema",
    "EncodedJourneys": "journeylab.journeys.encoding",
    "JourneyEncoder": "journeylab.journeys.encoding",
    "EventLog": "journeylab.journeys.eventlog",
    "read_table": "journeylab.journeys.eventlog",
    "split_by_customer": "journeylab.journeys.eventlog",
    "write_table": "journeylab.journeys.eventlog",
    "is_partitioned": "journeylab.journeys.partitioned",
    "iter_parts": "journeylab.journeys.partitioned",
    "read_partitioned": "journeylab.journeys.partitioned",
    "write_partitioned": "journeylab.journeys.partitioned",
    "ConfigError": "journeylab.journeys.errors",
    "DataError": "journeylab.journeys.errors",
    "InternalError": "journeylab.journeys.errors",
    "PrivacyBudgetError": "journeylab.journeys.errors",
    "UserError": "journeylab.journeys.errors",
}


__getattr__, __dir__ = lazy_exports(__name__, _API)

__all__ = sorted(_API)
