"""The event log: schema, validation, IO, datasets, encoding, fidelity metrics.

Names are imported on first use (like `journeylab`'s): `journeylab.journeys.errors`
and the other light modules load without pandas or torch, so the `journeylab`
command starts fast.
"""

from __future__ import annotations

import importlib

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
    "ConfigError": "journeylab.journeys.errors",
    "DataError": "journeylab.journeys.errors",
    "InternalError": "journeylab.journeys.errors",
    "PrivacyBudgetError": "journeylab.journeys.errors",
    "UserError": "journeylab.journeys.errors",
}


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'journeylab.journeys' has no attribute '{name}'")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = sorted(_API)
