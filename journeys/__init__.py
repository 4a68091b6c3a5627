"""The event log: schema, validation, IO, datasets, encoding, fidelity metrics."""

__version__ = "0.1.0"

from journeylab.journeys.encoding import EncodedJourneys, JourneyEncoder
from journeylab.journeys.errors import (
    ConfigError,
    DataError,
    InternalError,
    PrivacyBudgetError,
    UserError,
)
from journeylab.journeys.eventlog import EventLog, read_table, split_by_customer, write_table
from journeylab.journeys.schema import Column, Schema

__all__ = [
    "Column",
    "ConfigError",
    "DataError",
    "EncodedJourneys",
    "EventLog",
    "InternalError",
    "JourneyEncoder",
    "PrivacyBudgetError",
    "Schema",
    "UserError",
    "read_table",
    "split_by_customer",
    "write_table",
]
