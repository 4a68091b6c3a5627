"""The schema of an event log: column roles and domains, declared once in YAML.

Roles use SDV's words: `sequence_key` is the customer id (the unit of privacy),
`sequence_index` the event timestamp. Event columns vary per event (`channel`
and `event_type` are required categoricals); context columns are static per
customer. A domain declared here (category values, numeric bounds, time range,
maximum journey length) is public knowledge and costs no privacy budget; a
domain left out (`values: null`, no bounds) must be estimated under DP.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from journeylab.journeys.config import check_keys
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write_text

REQUIRED_EVENT_COLUMNS = ("channel", "event_type")
KINDS = ("categorical", "numeric")


@dataclass(frozen=True)
class Column:
    """One event or context column and its domain."""

    name: str
    kind: str
    values: tuple[str, ...] | None = None  # categorical domain, in token order
    min: float | None = None  # numeric bounds, inclusive
    max: float | None = None
    decimals: int | None = None  # numeric precision kept by the encoder
    description: str = ""

    def __post_init__(self) -> None:
        problems = _column_problems(self)
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def declared(self) -> bool:
        """True when the domain is fully declared (public, costs no budget)."""
        if self.kind == "categorical":
            return self.values is not None
        return self.min is not None and self.max is not None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind}
        if self.kind == "categorical":
            out["values"] = None if self.values is None else list(self.values)
        else:
            out.update(min=self.min, max=self.max)
            if self.decimals is not None:
                out["decimals"] = self.decimals
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, name: str, d: dict[str, Any]) -> Column:
        if not isinstance(d, dict) or "type" not in d:
            raise ConfigError(
                f"column '{name}': expected a mapping with 'type' (categorical or numeric), "
                f"got {d!r}"
            )
        check_keys(
            d, ("type", "values", "min", "max", "decimals", "description"), what=f"column '{name}'"
        )
        values = d.get("values")
        return cls(
            name=name,
            kind=d["type"],
            values=None if values is None else tuple(str(v) for v in values),
            min=None if d.get("min") is None else float(d["min"]),
            max=None if d.get("max") is None else float(d["max"]),
            decimals=d.get("decimals"),
            description=d.get("description", ""),
        )


def _column_problems(c: Column) -> list[str]:
    p = []
    if c.kind not in KINDS:
        p.append(f"column '{c.name}': type '{c.kind}' is not one of {KINDS}")
    if c.kind == "categorical" and c.values is not None:
        if len(c.values) == 0:
            p.append(f"column '{c.name}': 'values' is empty; list the categories or use null")
        if len(set(c.values)) != len(c.values):
            p.append(f"column '{c.name}': 'values' has duplicates; list each category once")
    if c.kind == "numeric" and c.min is not None and c.max is not None and c.min > c.max:
        p.append(f"column '{c.name}': min {c.min} > max {c.max}; swap them")
    if c.decimals is not None and (not isinstance(c.decimals, int) or c.decimals < 0):
        p.append(f"column '{c.name}': decimals must be a non-negative integer")
    return p


@dataclass(frozen=True)
class Schema:
    """Column roles and domains of an event log."""

    name: str
    sequence_key: str
    sequence_index: str
    events: tuple[Column, ...]
    context: tuple[Column, ...] = ()
    time_start: pd.Timestamp | None = None
    time_end: pd.Timestamp | None = None
    max_length: int | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        p = []
        names = [self.sequence_key, self.sequence_index] + [c.name for c in self.columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            p.append(f"column names used twice: {dup}; give each column one role")
        ev = {c.name: c for c in self.events}
        for req in REQUIRED_EVENT_COLUMNS:
            if req not in ev:
                p.append(f"event column '{req}' is required; declare it under 'events'")
            elif ev[req].kind != "categorical":
                p.append(f"event column '{req}' must be categorical")
        if self.max_length is not None and self.max_length < 1:
            p.append(f"max_length {self.max_length} must be >= 1")
        if (self.time_start is None) != (self.time_end is None):
            p.append("time_range needs both a start and an end, or neither")
        elif self.time_start is not None and self.time_start >= self.time_end:
            p.append(f"time_range start {self.time_start} is not before end {self.time_end}")
        if p:
            raise ConfigError(f"schema '{self.name}': " + "; ".join(p))

    # --- views -----------------------------------------------------------
    @property
    def columns(self) -> tuple[Column, ...]:
        return self.events + self.context

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise ConfigError(f"no column '{name}' in schema '{self.name}'")

    def event_names(self, kind: str | None = None) -> list[str]:
        return [c.name for c in self.events if kind is None or c.kind == kind]

    def context_names(self, kind: str | None = None) -> list[str]:
        return [c.name for c in self.context if kind is None or c.kind == kind]

    @property
    def all_names(self) -> list[str]:
        return [self.sequence_key, self.sequence_index] + [c.name for c in self.columns]

    def undeclared(self) -> list[str]:
        """Domains the workbench would have to estimate from data (under DP)."""
        out = [c.name for c in self.columns if not c.declared]
        if self.time_start is None:
            out.append("time_range")
        if self.max_length is None:
            out.append("max_length")
        return out

    @property
    def is_public(self) -> bool:
        return not self.undeclared()

    def fingerprint(self) -> str:
        # Column order matters (it is token order for encoders), so keys are not sorted.
        blob = json.dumps(self.to_dict(), default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # --- (de)serialisation ----------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "sequence_key": self.sequence_key,
            "sequence_index": self.sequence_index,
            "max_length": self.max_length,
            "time_range": None
            if self.time_start is None
            else [str(self.time_start), str(self.time_end)],
            "events": {c.name: c.to_dict() for c in self.events},
            "context": {c.name: c.to_dict() for c in self.context},
        }
        d.update(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        if not isinstance(d, dict):
            raise ConfigError(f"a schema must be a mapping, got {type(d).__name__}")
        missing = [k for k in ("name", "sequence_key", "sequence_index", "events") if k not in d]
        if missing:
            raise ConfigError(f"schema is missing keys {missing}; see journeys/data/*.yaml")
        tr = d.get("time_range")
        start = end = None
        if tr is not None:
            try:
                start, end = (pd.Timestamp(t) for t in tr)
            except (TypeError, ValueError) as e:
                raise ConfigError(f"time_range {tr!r} is not [start, end] timestamps: {e}") from e
        known = {
            "name",
            "description",
            "sequence_key",
            "sequence_index",
            "max_length",
            "time_range",
            "events",
            "context",
        }
        return cls(
            name=str(d["name"]),
            sequence_key=str(d["sequence_key"]),
            sequence_index=str(d["sequence_index"]),
            events=tuple(Column.from_dict(k, v) for k, v in (d["events"] or {}).items()),
            context=tuple(Column.from_dict(k, v) for k, v in (d.get("context") or {}).items()),
            time_start=start,
            time_end=end,
            max_length=d.get("max_length"),
            description=d.get("description", ""),
            extra={k: v for k, v in d.items() if k not in known},
        )

    @classmethod
    def read(cls, path: str | Path) -> Schema:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"schema file {path} does not exist; pass a YAML schema file")
        try:
            d = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"schema file {path} is not valid YAML: {e}") from e
        return cls.from_dict(d)

    def write(self, path: str | Path) -> None:
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))
