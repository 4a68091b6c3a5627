"""Labels from journeys: one function for real and synthetic logs.

    spec = label_spec(log.schema)                 # the dataset's documented defaults
    y = make_labels(log, cutoff="2017-10-01", horizon=60)   # DataFrame: customer x task

Definitions, for a cutoff time T and a horizon H (per task):
- Only customers *active before the cutoff* (at least one event with time < T)
  are labelled; everyone else is absent from the result.
- `purchase` = 1 if the customer has a conversion event (event_type `purchase`,
  or the named conversion event types) in [T, T + H).
- `churn` = 1 if the customer has *no* conversion event in [T, T + H).
- `campaign_response` (only for schemas with a `coupon_redemption` event type,
  i.e. Complete Journey) = 1 if the customer redeems a coupon in [T, T + H).

The same function labels a real log, a synthetic one sampled under the same
schema, and the decode of an encoded log: labels depend only on customer ids,
timestamps and event types.

`cutoff` is a timestamp, or a float in (0, 1): that fraction of the schema's
time range (for logs whose time range moves, like the simulator's). `horizon`
is a number of days (or a Timedelta) applied to every task; left out, each
task takes its dataset default. A cutoff must leave some history before it and
the whole horizon inside the schema's time range, so that no label is censored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema
from journeylab.journeys.streamed import StreamedLog

TASKS = ("churn", "purchase", "campaign_response")
COUPON = "coupon_redemption"


@dataclass(frozen=True)
class LabelDefaults:
    """Documented label defaults of one dataset."""

    cutoff: str | float  # a timestamp, or a fraction of the schema's time range
    horizons: dict[str, float]  # days per task
    conversion: tuple[str, ...] = ("purchase",)
    why: str = ""


DEFAULTS: dict[str, LabelDefaults] = {
    # Events run 2016-11-14 .. 2018-01-01 but baskets only start in January 2017.
    # A cutoff on 2017-10-01 leaves nine months of baskets as history, and the
    # longest horizon (60 days) ends on 2017-11-30, a month before the data ends,
    # so no label is censored. A typical household shops about weekly: 60 days
    # without a basket is a clear lapse (churn), 14 days asks "will it shop in the
    # next two weeks" (purchase), and the October 2017 campaign wave (the largest
    # of the year) makes 60-day coupon redemption a usable response label.
    "completejourney": LabelDefaults(
        cutoff="2017-10-01",
        horizons={"churn": 60, "purchase": 14, "campaign_response": 60},
        why="9 months of baskets before the cutoff; horizons end a month before the data",
    ),
    # The simulator's window moves with `start`/`days`, so its cutoff is relative:
    # two thirds of the window (day 120 of the default 180). Every customer is
    # acquired in the first 35% of the window, so all have history; 45 days of
    # churn horizon and 14 of purchase horizon end inside the window.
    "simulate": LabelDefaults(
        cutoff=2 / 3,
        horizons={"churn": 45, "purchase": 14},
        why="cutoff at 2/3 of the time range; acquisition ends at 35% of it",
    ),
}
# Any other schema: three quarters of the time range, 30-day churn, 14-day purchase.
GENERIC = LabelDefaults(
    cutoff=0.75,
    horizons={"churn": 30, "purchase": 14, "campaign_response": 30},
    why="generic default for a schema without documented defaults",
)


@dataclass(frozen=True)
class LabelSpec:
    """A resolved label definition: absolute cutoff, horizon per task, conversion types."""

    cutoff: pd.Timestamp
    horizons: dict[str, pd.Timedelta] = field(default_factory=dict)
    conversion: tuple[str, ...] = ("purchase",)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.horizons)

    def window_end(self, task: str) -> pd.Timestamp:
        return self.cutoff + self.horizons[task]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": str(self.cutoff),
            "horizons_days": {t: h / pd.Timedelta(days=1) for t, h in self.horizons.items()},
            "conversion": list(self.conversion),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelSpec:
        try:
            return cls(
                cutoff=pd.Timestamp(d["cutoff"]),
                horizons={t: pd.Timedelta(days=float(h)) for t, h in d["horizons_days"].items()},
                conversion=tuple(d["conversion"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(
                f"label spec {d!r} is invalid ({e}); expected keys cutoff, "
                "horizons_days, conversion"
            ) from e


def defaults_for(schema: Schema) -> LabelDefaults:
    return DEFAULTS.get(schema.name, GENERIC)


def available_tasks(schema: Schema) -> tuple[str, ...]:
    """Tasks this schema supports: campaign response needs a coupon_redemption event type."""
    types = _event_types(schema)
    return tuple(t for t in TASKS if t != "campaign_response" or COUPON in types)


def label_spec(
    schema: Schema,
    *,
    task: str | Sequence[str] | None = None,
    cutoff=None,
    horizon=None,
    conversion: str | Sequence[str] | None = None,
    log: EventLog | StreamedLog | None = None,
) -> LabelSpec:
    """Resolve defaults and validate: tasks, cutoff, horizons, conversion event types.
    `log` gives the time range when the schema declares none (a StreamedLog: the range of
    its validating pass, so a subsample of it gets the whole log's spec)."""
    d = defaults_for(schema)
    tasks = resolve_tasks(schema, task)
    horizons = {
        t: _horizon(horizon if horizon is not None else d.horizons.get(t, 30)) for t in tasks
    }
    conv = _conversion(schema, d.conversion if conversion is None else conversion)
    start, end = _time_range(schema, log)
    at = _cutoff(d.cutoff if cutoff is None else cutoff, start, end)
    longest = max(horizons.values())
    if at + longest > end:
        raise ConfigError(
            f"cutoff {at} plus a {longest.days}-day horizon ends at {at + longest}, after the "
            f"end of the time range ({end}): labels would be censored. Use a cutoff on or "
            f"before {end - longest} or a shorter horizon"
        )
    return LabelSpec(cutoff=at, horizons=horizons, conversion=conv)


def make_labels(
    log: EventLog,
    *,
    task: str | Sequence[str] | None = None,
    cutoff=None,
    horizon=None,
    conversion: str | Sequence[str] | None = None,
    spec: LabelSpec | None = None,
) -> pd.DataFrame:
    """0/1 labels, one row per customer active before the cutoff, one column per task.

    `task` None means every task the schema supports. Pass either the pieces
    (cutoff, horizon, conversion; dataset defaults fill the rest) or a resolved
    `spec`. Raises DataError when no customer is active before the cutoff.
    """
    if spec is None:
        spec = label_spec(
            log.schema, task=task, cutoff=cutoff, horizon=horizon, conversion=conversion, log=log
        )
    df, key, tcol = log.df, log.key, log.time
    t = df[tcol]
    ids = pd.Index(df.loc[t < spec.cutoff, key].unique(), name=key)
    if len(ids) == 0:
        raise DataError(
            f"no customer has an event before the cutoff {spec.cutoff} (the log "
            f"spans {t.min()} .. {t.max()})",
            fix="choose a later cutoff, or check the log's time range",
        )
    out = pd.DataFrame(index=ids)
    for task_name in spec.tasks:
        in_window = (t >= spec.cutoff) & (t < spec.window_end(task_name))
        hit = df.loc[in_window & df["event_type"].isin(_hit_types(task_name, spec)), key]
        has = ids.isin(hit.unique()).astype(np.int8)
        out[task_name] = 1 - has if task_name == "churn" else has
    return out


def resolve_tasks(schema: Schema, task: str | Sequence[str] | None) -> tuple[str, ...]:
    valid = available_tasks(schema)
    if task is None:
        return valid
    tasks = (task,) if isinstance(task, str) else tuple(task)
    if not tasks:
        raise ConfigError(f"no task given; choose from {list(valid)}")
    for t in tasks:
        if t not in TASKS:
            raise ConfigError(f"unknown task '{t}'; choose from {list(valid)}")
        if t not in valid:
            raise ConfigError(
                f"task '{t}' needs a '{COUPON}' event type, which schema "
                f"'{schema.name}' does not have; choose from {list(valid)}"
            )
    return tuple(dict.fromkeys(tasks))


def _hit_types(task: str, spec: LabelSpec) -> tuple[str, ...]:
    return (COUPON,) if task == "campaign_response" else spec.conversion


def _event_types(schema: Schema) -> tuple[str, ...]:
    return tuple(schema.column("event_type").values or ())


def _conversion(schema: Schema, conversion: str | Sequence[str]) -> tuple[str, ...]:
    conv = (conversion,) if isinstance(conversion, str) else tuple(conversion)
    types = _event_types(schema)
    bad = [c for c in conv if c not in types]
    if not conv or bad:
        raise ConfigError(
            f"conversion event type(s) {bad or list(conv)} not in schema "
            f"'{schema.name}'; choose from {list(types)}"
        )
    return conv


def _horizon(h) -> pd.Timedelta:
    try:
        td = h if isinstance(h, pd.Timedelta) else pd.Timedelta(days=float(h))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"horizon {h!r} is not a number of days; use e.g. 30") from e
    if not td > pd.Timedelta(0):
        raise ConfigError(f"horizon {h!r} must be positive, e.g. 30 (days)")
    return td


def _time_range(
    schema: Schema, log: EventLog | StreamedLog | None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    if schema.time_start is not None:
        return schema.time_start, schema.time_end
    if log is None or len(log) == 0:
        raise ConfigError(
            f"schema '{schema.name}' declares no time_range; pass the log or "
            "declare time_range in the schema"
        )
    if isinstance(log, StreamedLog):
        start, end = pd.Timestamp(log.summary["time_min"]), log.time_max()
    else:
        start, end = log.df[log.time].min(), log.df[log.time].max()
    return start, end + pd.Timedelta(seconds=1)


def _cutoff(c, start: pd.Timestamp, end: pd.Timestamp) -> pd.Timestamp:
    if isinstance(c, float | np.floating) and not isinstance(c, bool):
        if not 0.0 < c < 1.0:
            raise ConfigError(
                f"relative cutoff {c} must be strictly between 0 and 1 (a share "
                "of the time range), or give a timestamp"
            )
        return (start + (end - start) * float(c)).floor("s")
    try:
        at = pd.Timestamp(c)
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"cutoff {c!r} is not a timestamp; use e.g. '2017-10-01' or a fraction like 0.75"
        ) from e
    if at.tzinfo is not None:
        raise ConfigError(f"cutoff {c!r} has a time zone; event times are naive, drop it")
    if not start < at < end:
        raise ConfigError(
            f"cutoff {at} is outside the time range {start} .. {end}; choose a time inside it"
        )
    return at
