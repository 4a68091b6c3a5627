"""A what-if scenario as a small YAML file: who, what changes, what is measured.

    name: promo-premium
    population:                  # exactly one of log / simulate / sample
      simulate: 400              #   simulator customers (the truth is known)
      # log: journeys.parquet    #   or a log file, relative to the scenario file
      where: {segment: premium}  # a context filter (a value or a list of values)
      before_day: 60             # prefixes: each journey's events before this day
    interventions:
      - {kind: promotion, day: 60, segment: premium}
    outcomes: {since_day: 60, within_days: 30}   # labels: [churn, purchase] too
    truth: true                  # also run the simulator (population.simulate only)
    latent: posterior            # the completions' z: q(z | prefix), or prior

Intervention kinds for a model (applied to each prefix, in order):
- `insert_event`: an event with `values` ({column: value}; unset numerics are 0,
  or the domain's minimum) on `day`, at a seeded time in its first 12 hours, for
  the customers matching `where`, a `share` of them (default all); or, instead of
  `day`, `after: {event_type: T, days: N}`: N days after the customer's first
  event of type T in the prefix (none without one);
- `promotion`: `insert_event` of the simulator's promo email, for `segment`
  (the same fields as the simulator's promotion in journeys/interventions.py);
- `delay`: move the prefix events of `event_type` by `days` (>= 0) for the
  customers matching `where` (events moved past the window's end are dropped), and
  the same for the continuations' events of that type (thinned and re-inserted);
- `remove_channel`: drop the prefix events on `channel`, and thin the
  continuations: an event the model generates on the channel (or with a value
  only that channel has) is dropped from the journey and from the history the
  model conditions on, and the model draws its next event after that time;
- `set_context`: set context `column` to `value` for the customers matching `where`.
An event that an intervention puts on or after `before_day` (an inserted event, a
delayed one) is not part of the prefix: both arms continue from the same prefix,
and the intervened arm's model is fed the event at its time (generators/complete.py
`later`). Each prefix is observed up to `before_day`: the first new event comes
after it.
The simulator's `shift_campaign` has no model equivalent (a model cannot move a
campaign it has not generated yet); write it as a promotion on the new day.

With a truth, the simulator runs the same interventions (`truth_interventions`
overrides them, e.g. a shift_campaign for the model's promotion).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from journeylab.generators.complete import LATENTS
from journeylab.journeys.config import strict_from_dict
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.interventions import Intervention, trigger_problems
from journeylab.predictors.labels import TASKS

MODEL_KINDS = {  # kind -> (required fields, optional fields)
    "insert_event": (("values",), ("day", "after", "where", "share")),
    "promotion": ((), ("day", "after", "segment", "share")),
    "delay": (("event_type", "days"), ("where",)),
    "remove_channel": (("channel",), ()),
    "set_context": (("column", "value"), ("where",)),
}
PROMO_EVENT = {"channel": "email", "event_type": "promo_email"}  # the simulator's promotion
SIMULATOR_KINDS = ("promotion", "delay", "remove_channel", "set_context")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class ModelIntervention:
    """One change to the prefixes; see the module docstring for the kinds."""

    kind: str
    day: int | None = None
    values: dict[str, Any] | None = None
    where: dict[str, Any] | None = None
    segment: str | None = None
    share: float | None = None
    channel: str | None = None
    column: str | None = None
    value: Any = None
    after: dict[str, Any] | None = None
    event_type: str | None = None
    days: int | None = None

    def __post_init__(self):
        problems = _problems(self)
        if problems:
            raise ConfigError(f"intervention {self.to_dict()}: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, d) -> ModelIntervention:
        """From a plain dict; an unknown kind is named before any unknown key."""
        if isinstance(d, dict) and d.get("kind") not in MODEL_KINDS:
            raise ConfigError(f"intervention {d}: {_kind_problem(d.get('kind'))}")
        return strict_from_dict(cls, d, what="intervention")

    def to_dict(self) -> dict:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    def to_simulator(self) -> Intervention:
        """The simulator's intervention of the same kind (set_context's `where` must be
        empty or a segment)."""
        if self.kind not in SIMULATOR_KINDS:
            raise ConfigError(
                f"the simulator has no '{self.kind}'; give truth_interventions for the truth"
            )
        d = {k: v for k, v in self.to_dict().items() if k != "where"}
        if self.where:
            if set(self.where) != {"segment"} or not isinstance(self.where["segment"], str):
                raise ConfigError(
                    f"the simulator's {self.kind} targets one segment; write where as "
                    "{segment: VALUE} or give truth_interventions"
                )
            d["segment"] = self.where["segment"]
        return Intervention.from_dict(d)


def _kind_problem(kind) -> str:
    hint = " (a model cannot move a campaign; use a promotion)" * (kind == "shift_campaign")
    return f"unknown kind {kind!r}; choose one of {sorted(MODEL_KINDS)}{hint}"


def _problems(iv: ModelIntervention) -> list[str]:
    if iv.kind not in MODEL_KINDS:
        return [_kind_problem(iv.kind)]
    required, optional = MODEL_KINDS[iv.kind]
    out = [f"{iv.kind} needs '{k}'" for k in required if getattr(iv, k) is None]
    out += [
        f"'{f.name}' does not apply to {iv.kind}; remove it"
        for f in fields(iv)
        if f.name not in ("kind", *required, *optional) and getattr(iv, f.name) is not None
    ]
    out += trigger_problems(iv.kind, iv.day, iv.after)  # the domain: when it runs
    if iv.days is not None and (not _is_int(iv.days) or iv.days < 0):
        out.append(f"'days' {iv.days!r} must be a whole number of days >= 0 (a delay)")
    if iv.day is not None and (not _is_int(iv.day) or iv.day < 0):
        out.append(f"'day' {iv.day!r} must be a whole number of days >= 0 from the window start")
    if iv.share is not None and not (isinstance(iv.share, (int, float)) and 0 < iv.share <= 1):
        out.append(f"'share' {iv.share!r} must be in (0, 1], e.g. 0.5")
    for name in ("values", "where"):
        v = getattr(iv, name)
        if v is not None and (not isinstance(v, dict) or not v):
            out.append(f"'{name}' must be a mapping of column: value, got {v!r}")
    return out


@dataclass(frozen=True)
class Population:
    """Whose journeys: a log file, simulator customers or model samples, filtered and cut."""

    log: str | None = None
    simulate: int | None = None
    sample: int | None = None
    where: dict[str, Any] | None = None
    before_day: int | None = None
    source: str | None = None  # 'real' or 'synthetic'; a log file is 'real' by default

    def __post_init__(self):
        given = [k for k in ("log", "simulate", "sample") if getattr(self, k) is not None]
        p = [] if len(given) == 1 else [f"give exactly one of log, simulate, sample (got {given})"]
        for k in ("simulate", "sample"):
            v = getattr(self, k)
            if v is not None and (not _is_int(v) or v < 2):
                p.append(f"{k} {v!r} must be a whole number of customers >= 2")
        if self.before_day is not None and (not _is_int(self.before_day) or self.before_day < 1):
            p.append(f"before_day {self.before_day!r} must be a whole number of days >= 1")
        if self.where is not None and not isinstance(self.where, dict):
            p.append(f"where must be a mapping of context column: value, got {self.where!r}")
        if self.source not in (None, "real", "synthetic"):
            p.append(f"source {self.source!r} must be 'real' or 'synthetic'")
        if p:
            raise ConfigError("population: " + "; ".join(p))

    @property
    def prefix_source(self) -> str:
        return self.source or ("real" if self.log is not None else "synthetic")


@dataclass(frozen=True)
class Outcomes:
    """Outcome windows (journeys/effects.py `log_outcomes`), the interval level, and
    predictor labels (predictors/labels.py TASKS) with their cutoff at `since_day` and
    their horizon `within_days`, reported as `label.<task>`."""

    since_day: int = 0
    within_days: int = 30
    level: float = 0.95
    labels: tuple[str, ...] = ()

    def __post_init__(self):
        p = _label_problems(self.labels)
        if not p:
            object.__setattr__(self, "labels", tuple(self.labels))  # YAML gives a list
        if not _is_int(self.since_day) or self.since_day < 0:
            p.append(f"since_day {self.since_day!r} must be a whole number of days >= 0")
        if not _is_int(self.within_days) or self.within_days < 1:
            p.append(f"within_days {self.within_days!r} must be a whole number of days >= 1")
        if not isinstance(self.level, float) or not 0 < self.level < 1:
            p.append(f"level {self.level!r} must be in (0, 1), e.g. 0.95")
        if p:
            raise ConfigError("outcomes: " + "; ".join(p))


def _label_problems(labels) -> list[str]:
    if not isinstance(labels, (list, tuple)):
        return [f"labels {labels!r} must be a list of predictor labels, e.g. [churn, purchase]"]
    return [
        f"label {t!r} is not a predictor label; choose from {list(TASKS)}"
        for t in labels
        if t not in TASKS
    ]


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file; `Scenario.load(path)` reads and checks it."""

    name: str
    population: Population
    interventions: tuple[ModelIntervention, ...]
    outcomes: Outcomes = field(default_factory=Outcomes)
    horizon: float | None = None  # days past each prefix; None: to the window's end
    paired: bool = True  # common random numbers on both arms
    latent: str = "posterior"  # the completions' z: "posterior" or "prior" (complete.py)
    truth: bool = False
    truth_interventions: tuple[Intervention, ...] | None = None

    def __post_init__(self):
        p = []
        if not isinstance(self.name, str) or not self.name.strip():
            p.append("name must be a non-empty text")
        if not self.interventions:
            p.append("interventions must list at least one change")
        if self.latent not in LATENTS:
            p.append(f"latent {self.latent!r} must be one of {list(LATENTS)}")
        if self.truth and self.population.simulate is None:
            p.append("truth needs population.simulate (the simulator knows the truth)")
        if p:
            raise ConfigError("scenario: " + "; ".join(p))

    @classmethod
    def from_dict(cls, d) -> Scenario:
        d = dict(d or {})
        ivs = d.get("interventions") or []
        d["interventions"] = tuple(ModelIntervention.from_dict(i) for i in _list(ivs))
        d["population"] = strict_from_dict(Population, d.get("population"), what="population")
        d["outcomes"] = strict_from_dict(Outcomes, d.get("outcomes"), what="outcomes")
        if d.get("truth_interventions") is not None:
            truth = _list(d["truth_interventions"])
            d["truth_interventions"] = tuple(Intervention.from_dict(i) for i in truth)
        return strict_from_dict(cls, d, what="scenario")

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"scenario file {path} does not exist; write one (see --help)")
        try:
            d = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"scenario file {path} is not valid YAML: {e}") from e
        return cls.from_dict(d)

    def simulator_interventions(self) -> tuple[Intervention, ...]:
        if self.truth_interventions is not None:
            return self.truth_interventions
        return tuple(iv.to_simulator() for iv in self.interventions)


def _list(v) -> list:
    return v if isinstance(v, list) else [v]
