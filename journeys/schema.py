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
import math
import re
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
MAX_YAML_BYTES = 1 << 18  # a schema is a page of text; 256 KiB is generous
MAX_YAML_ALIASES = 10  # each alias can double what is built: 10 bound a "billion laughs"
NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")  # schema names become paths (MLflow experiments)
# pandas nanosecond timestamps: a time range outside these bounds cannot be compared
TIME_MIN, TIME_MAX = pd.Timestamp.min.ceil("s"), pd.Timestamp.max.floor("s")


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
        if values is not None and not isinstance(values, list):
            raise ConfigError(
                f"column '{name}': 'values' must be a list of categories or null, got {values!r}"
            )
        return cls(
            name=name,
            kind=d["type"],
            values=None if values is None else tuple(str(v) for v in values),
            min=_number(d.get("min"), f"column '{name}': min"),
            max=_number(d.get("max"), f"column '{name}': max"),
            decimals=d.get("decimals"),
            description=str(d.get("description") or ""),
        )


def _number(v: Any, what: str) -> float | None:
    """A finite number from YAML, or None; anything else (`min: zero`) is refused."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{what} must be a finite number, got {v!r}; write e.g. 0 or 12.5")
    return float(v)


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
        if not NAME.fullmatch(self.name) or ".." in self.name:
            p.append(
                f"name {self.name!r} must be 1-100 letters, digits, '_', '-' or '.', without "
                "'..' (it names MLflow experiments and folders); e.g. name: my_shop"
            )
        if self.max_length is not None and (
            isinstance(self.max_length, bool) or not isinstance(self.max_length, int)
        ):
            p.append(f"max_length must be a whole number or null, got {self.max_length!r}")
        elif self.max_length is not None and self.max_length < 1:
            p.append(f"max_length {self.max_length} must be >= 1")
        if (self.time_start is None) != (self.time_end is None):
            p.append("time_range needs both a start and an end, or neither")
        elif self.time_start is not None and self.time_start >= self.time_end:
            p.append(f"time_range start {self.time_start} is not before end {self.time_end}")
        elif self.time_start is not None and not (
            TIME_MIN <= self.time_start and self.time_end <= TIME_MAX
        ):
            p.append(
                f"time_range [{self.time_start}, {self.time_end}] reaches outside the "
                f"timestamps JourneyLab can hold [{TIME_MIN}, {TIME_MAX}]; narrow it"
            )
        p += _resolution_problems(self.extra.get("time_resolution"))
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
        for key in ("events", "context"):
            if d.get(key) is not None and not isinstance(d[key], dict):
                raise ConfigError(
                    f"schema '{key}' must be a mapping of column name -> settings, got a "
                    f"{type(d[key]).__name__}; write e.g. {key}:\n  channel: {{type: categorical}}"
                )
        start, end = _time_range(d.get("time_range"))
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
        return cls.from_dict(read_yaml(path, "schema file"))

    def write(self, path: str | Path) -> None:
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))


TIME_RESOLUTIONS = ("date", "minute", "second")  # midnight only, whole minutes, any second


def _resolution_problems(res: Any) -> list[str]:
    """`time_resolution` (optional): event type, `channel|event_type` or `default` ->
    date | minute | second. Declared, it is public: the generators use it at no cost."""
    if res is None:
        return []
    example = "e.g. time_resolution: {campaign_received: date, default: second}"
    if not isinstance(res, dict) or not res:
        return [f"time_resolution must be a mapping of event type -> resolution; {example}"]
    bad = {k: v for k, v in res.items() if v not in TIME_RESOLUTIONS}
    if bad:
        return [f"time_resolution {bad} must be one of {list(TIME_RESOLUTIONS)}; {example}"]
    return []


def _time_range(tr: Any) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """[start, end] as naive UTC timestamps (an offset is converted to UTC)."""
    if tr is None:
        return None, None
    if not isinstance(tr, list) or len(tr) != 2:
        raise ConfigError(f"time_range {tr!r} must be [start, end], e.g. [2024-01-01, 2025-01-01]")
    try:
        ts = [pd.Timestamp(t) for t in tr]
    except (TypeError, ValueError, OverflowError) as e:
        raise ConfigError(
            f"time_range {tr!r} is not [start, end] timestamps ({e}); write ISO 8601 dates "
            f"between {TIME_MIN.date()} and {TIME_MAX.date()}"
        ) from e
    if any(t is pd.NaT for t in ts):
        raise ConfigError(f"time_range {tr!r} has an empty end; give both timestamps")
    start, end = (t.tz_convert("UTC").tz_localize(None) if t.tzinfo else t for t in ts)
    return start, end


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses more than MAX_YAML_ALIASES aliases (no alias bombs)."""

    aliases_seen = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases_seen += 1
            if self.aliases_seen > MAX_YAML_ALIASES:
                raise ConfigError(
                    f"the YAML uses more than {MAX_YAML_ALIASES} aliases (*name); a schema "
                    "needs none. Write the values out"
                )
        return super().compose_node(parent, index)


def read_yaml(path: str | Path, what: str) -> Any:
    """A small YAML file, safely: bounded in size and in alias expansion."""
    path = Path(path)
    if not path.is_file():
        why = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(f"{what} {path} {why}; pass a YAML file")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise ConfigError(
            f"{what} {path} is {path.stat().st_size} bytes; a schema is at most "
            f"{MAX_YAML_BYTES} bytes. Pass the schema file, not the data"
        )
    try:
        return yaml.load(path.read_bytes(), Loader=_BoundedLoader)  # noqa: S506 - safe loader
    except yaml.YAMLError as e:
        raise ConfigError(f"{what} {path} is not valid YAML: {e}") from e
    except (UnicodeDecodeError, RecursionError) as e:
        raise ConfigError(f"{what} {path} cannot be read as YAML text ({type(e).__name__})") from e
