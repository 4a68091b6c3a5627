"""Running a scenario (generators/scenario.py) with a trained VAE, and its truth.

    result = run_scenario(gen, Scenario.load("scenario.yaml"), seed=0)
    result.effects        # per outcome: baseline, intervened, effect, se, ci_low, ci_high, n
    result.truth          # the same table from the simulator, when the scenario asks

Steps: the population's journeys (a log, the simulator's baseline arm or model
samples), filtered by `where`, are cut to their events before `before_day` (the
prefixes; customers with none are left out). The interventions change a copy of
the prefixes; what they put on or after the cut (an inserted or delayed event) is
fed to the model at its time instead, and removed or delayed events are thinned
from the continuation (generators/scenario.py says what each kind means). Both
sets are completed by the model (generators/complete.py) with the same seed, so a
customer the intervention does not touch gets the same journey in both arms, and
one it touches the same journey up to the intervention (common random numbers);
per-customer differences give the interval (journeys/effects.py). Customers whose
treated prefix is empty (all their events were on a removed channel) are left out
of both arms, and counted.

What the answer means: the model answers with associations it learned from its
training journeys; where they never contained the intervened pattern the answer
is an extrapolation. `pattern_share` says how common the pattern is in the
population's journeys (the closest look at the training data a run has).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from journeylab.generators.complete import EventDelay, complete_journeys
from journeylab.generators.scenario import PROMO_EVENT, ModelIntervention, Outcomes, Scenario
from journeylab.journeys.effects import effect_table, log_outcomes
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.interventions import Counterfactual, simulate_counterfactual
from journeylab.predictors.labels import make_labels

INSERT_TAG = 404  # key of the stream that times and picks inserted events
LIMITS = (
    "The model answers with associations it learned from its training journeys; where "
    "they never contained the intervened pattern, the answer is an extrapolation."
)


@dataclass(frozen=True)
class ScenarioResult:
    """A scenario's answer: the model's effect table, the truth's (or None), and counts."""

    effects: pd.DataFrame
    truth: pd.DataFrame | None
    customers: int  # in both arms
    left_out: int  # population customers without a (treated) prefix
    pattern_share: dict[str, float]
    prefix_source: str
    arms: tuple[EventLog, EventLog]
    outcomes: tuple[pd.DataFrame, pd.DataFrame]  # per customer: control, intervened


def run_scenario(
    gen,
    sc: Scenario,
    *,
    seed: int = 0,
    base_dir: str | Path = ".",
    progress: Callable[[str, float], None] | None = None,
) -> ScenarioResult:
    """Both arms of `sc` completed by `gen` from `seed`; see the module docstring.
    `progress(step, done)` hears each step as it starts (done: the share behind it)."""
    say = progress or (lambda step, done: None)
    say("the population's journeys", 0.0)
    full, cf = population_log(gen, sc, seed=seed, base_dir=base_dir)
    before = cut(full, sc.population.before_day)
    treated, later = split_at(
        intervene(before, sc.interventions, seed=seed), sc.population.before_day
    )
    keep = pd.Index(sorted(set(treated.customers)))
    left_out = full.n_customers - len(keep)
    if len(keep) < 2:
        raise ConfigError(
            f"scenario '{sc.name}': {len(keep)} customer(s) have a prefix; widen `where`, "
            "raise before_day or use more customers"
        )
    before = before.subset(keep)
    remove = banned(full, [iv.channel for iv in sc.interventions if iv.kind == "remove_channel"])
    edits = {"remove": remove, "delays": delays(treated, sc.interventions)}
    edits["later"] = later.subset(sorted(set(later.customers) & set(keep))) if later else None
    kw = {"horizon": sc.horizon, "latent": sc.latent, "observed_until": observed(full, sc)}
    kw["touched"] = touched(remove, edits["delays"])  # the same keys in both arms
    say(f"completing the control arm ({len(keep)} customers)", 0.2)
    control = complete_journeys(gen, before, seed=seed, **kw).log
    say(f"completing the intervened arm ({len(keep)} customers)", 0.6)
    other = seed if sc.paired else seed + 1
    treated_arm = complete_journeys(gen, treated, seed=other, latent_from=before, **edits, **kw)
    arms = (control, treated_arm.log)
    per = tuple(arm_outcomes(a, keep, sc.outcomes) for a in arms)
    est = effect_table(*per, paired=sc.paired, level=sc.outcomes.level)
    truth = None
    if cf is not None and sc.truth:
        logs = (cf.baseline[0], cf.intervened[0])
        truth = effect_table(
            *(arm_outcomes(x, keep, sc.outcomes) for x in logs),
            paired=True,
            level=sc.outcomes.level,
        )
    say("done", 1.0)
    return ScenarioResult(
        effects=est,
        truth=truth,
        customers=len(keep),
        left_out=left_out,
        pattern_share=pattern_share(full, sc.interventions),
        prefix_source=sc.population.prefix_source,
        arms=arms,
        outcomes=per,
    )


def arm_outcomes(log: EventLog, ids: pd.Index, oc: Outcomes) -> pd.DataFrame:
    """Per customer of `ids`: the log outcomes (journeys/effects.py) and each predictor
    label of `oc.labels` as `label.<task>`, its cutoff on day `since_day` and its
    horizon `within_days` (NaN for a customer with no event before the cutoff: a label
    is only defined for customers active before it, predictors/labels.py)."""
    out = log_outcomes(log, ids, since_day=oc.since_day, within_days=oc.within_days)
    if not oc.labels:
        return out
    cutoff = log.schema.time_start + pd.Timedelta(days=oc.since_day)
    y = make_labels(log, task=list(oc.labels), cutoff=cutoff, horizon=oc.within_days)
    return out.join(y.reindex(ids).astype(float).add_prefix("label."))


def banned(log: EventLog, channels: list[str]) -> dict[str, list[str]]:
    """What is thinned out of the continuations once `channels` are removed: those
    channels, and every event value seen only on them in `log` (the simulator's
    email_open and promo_email without email), so the model cannot put them on
    another channel."""
    if not channels:
        return {}
    df, on = log.df, log.df["channel"].isin(channels)
    out = {"channel": list(channels)}
    for c in log.schema.events:
        if c.kind == "categorical" and c.name != "channel":
            only = set(df.loc[on, c.name]) - set(df.loc[~on, c.name])
            out.update({c.name: sorted(only)} if only else {})
    return out


def population_log(
    gen, sc: Scenario, *, seed: int, base_dir: str | Path
) -> tuple[EventLog, Counterfactual | None]:
    """The population's whole journeys (filtered by `where`), and the simulator's arms."""
    pop, cf = sc.population, None
    if pop.log is not None:
        path = Path(base_dir) / pop.log
        if not path.is_file():
            raise ConfigError(f"population log {path} does not exist; check population.log")
        log = EventLog.read(path, gen.schema)
    elif pop.simulate is not None:
        ivs = sc.simulator_interventions() if sc.truth else ()
        cf = simulate_counterfactual(pop.simulate, seed=seed, interventions=ivs)
        log = EventLog.from_frame(cf.baseline[0].df, gen.schema)
    else:
        log = gen.sample(pop.sample, seed=seed)
    return where(log, pop.where), cf


def where(log: EventLog, filt: dict | None) -> EventLog:
    """The customers whose context matches `filt` ({column: value or [values]})."""
    if not filt:
        return log
    keep = _matching(log.df, log, filt)
    if not keep.any():
        raise ConfigError(f"where {filt} matches no customer of the population")
    return log.subset(log.df.loc[keep, log.key].unique())


def cut(log: EventLog, before_day: int | None) -> EventLog:
    """Each journey's events before `before_day` (None: whole journeys)."""
    if before_day is None:
        return log
    t = log.schema.time_start + pd.Timedelta(days=before_day)
    return EventLog.from_frame(log.df[log.df[log.time] < t], log.schema)


def observed(log: EventLog, sc: Scenario) -> pd.Timestamp | None:
    """The prefixes' cut: every event before it is in them (None: whole journeys)."""
    day = sc.population.before_day
    return None if day is None else log.schema.time_start + pd.Timedelta(days=day)


def split_at(log: EventLog, before_day: int | None) -> tuple[EventLog, EventLog | None]:
    """(the events before `before_day`: the treated prefixes; the events on or after it,
    which interventions put there: inserted and delayed events, fed to the model at
    their times as its continuation reaches them, or None when there are none)."""
    if before_day is None:
        return log, None
    t = log.schema.time_start + pd.Timedelta(days=before_day)
    early = (log.df[log.time] < t).to_numpy()
    if early.all():
        return log, None
    ids = set(log.df.loc[early, log.key])  # a customer with no prefix left is left out
    late = log.df[~early & log.df[log.key].isin(ids).to_numpy()]
    later = EventLog.from_frame(late, log.schema) if len(late) else None
    return EventLog.from_frame(log.df[early], log.schema), later


def touched(remove: dict[str, list[str]] | None, delays: list[EventDelay]) -> dict | None:
    """The event values the intervention removes or delays, {column: values}: both arms
    key their draws by them (generators/continuation.py), so that an arm that drops an
    email and one that keeps it share their draws again from their next other event."""
    out: dict[str, list[str]] = {}
    for values in [remove or {}, *(d.values for d in delays)]:
        for col, vs in values.items():
            out[col] = sorted(set(out.get(col, [])) | set(vs))
    return out or None


def delays(log: EventLog, ivs: tuple[ModelIntervention, ...]) -> list[EventDelay]:
    """Each `delay` as a delay of the continuations' events of its type, for its customers."""
    out = []
    for iv in ivs:
        if iv.kind == "delay":
            who = log.df.loc[_matching(log.df, log, iv.where), log.key].unique()
            out.append(EventDelay({"event_type": [iv.event_type]}, iv.days, list(who)))
    return out


def intervene(log: EventLog, ivs: tuple[ModelIntervention, ...], *, seed: int) -> EventLog:
    """A copy of the prefixes with `ivs` applied in order (see generators/scenario.py)."""
    df = log.df.copy()
    for i, iv in enumerate(ivs):
        rng = np.random.default_rng([int(seed), INSERT_TAG, i])
        if iv.kind in ("insert_event", "promotion"):
            df = _insert(df, log, iv, rng)
        elif iv.kind == "delay":
            df = _delay(df, log, iv)
        elif iv.kind == "remove_channel":
            _need(log, "channel", iv.channel, event=True)
            df = df[df["channel"] != iv.channel]
        else:
            _need(log, iv.column, iv.value, event=False)
            df.loc[_matching(df, log, iv.where), iv.column] = iv.value
    return EventLog.from_frame(df, log.schema)


def _insert(df: pd.DataFrame, log: EventLog, iv: ModelIntervention, rng) -> pd.DataFrame:
    """One new event per chosen customer on day `iv.day`, in its first 12 hours, or
    `after` days past the customer's first prefix event of its type (none without one)."""
    values = dict(PROMO_EVENT) if iv.kind == "promotion" else dict(iv.values)
    filt = {"segment": iv.segment} if iv.kind == "promotion" and iv.segment else iv.where
    for col, v in values.items():
        _need(log, col, v, event=True)
    first = df.groupby(log.key, sort=True).first()  # one row per customer, id order
    chosen = _matching(first.reset_index(), log, filt)
    chosen &= rng.random(len(first)) < (iv.share or 1.0)
    secs = iv.day * 86_400 if iv.day is not None else 0
    at = log.schema.time_start + pd.to_timedelta(secs + rng.integers(0, 12 * 3600, len(first)), "s")
    if iv.after is not None:
        at, chosen = _after(df, log, iv.after, first.index, chosen)
    new = first.reset_index()[chosen].copy()
    new[log.time] = at[chosen]
    for c in log.schema.events:
        new[c.name] = values.get(c.name, c.min if c.kind == "numeric" else None)
    missing = [c.name for c in log.schema.events if new[c.name].isna().any()]
    if missing:
        raise ConfigError(f"insert_event: give values for the event columns {missing}")
    return pd.concat([df, new[df.columns]], ignore_index=True)


def _after(df: pd.DataFrame, log: EventLog, after: dict, ids: pd.Index, chosen: np.ndarray):
    """(times, chosen): `after["days"]` days past each customer's first event of type
    `after["event_type"]` in `df` (ids order); customers without one are not chosen."""
    _need(log, "event_type", after["event_type"], event=True)
    hit = df[df["event_type"] == after["event_type"]].groupby(log.key)[log.time].min()
    at = hit.reindex(ids) + pd.Timedelta(days=after["days"])
    ok = at.notna().to_numpy() & (at < log.schema.time_end).to_numpy()
    return at.to_numpy(), chosen & ok


def _delay(df: pd.DataFrame, log: EventLog, iv: ModelIntervention) -> pd.DataFrame:
    """The events of `iv.event_type` of the customers matching `iv.where`, `iv.days` days
    later; those moved past the window's end are dropped."""
    _need(log, "event_type", iv.event_type, event=True)
    moved = (df["event_type"] == iv.event_type).to_numpy() & _matching(df, log, iv.where)
    df = df.copy()
    df.loc[moved, log.time] = df.loc[moved, log.time] + pd.Timedelta(days=iv.days)
    return df[df[log.time] < log.schema.time_end]


def _matching(df: pd.DataFrame, log: EventLog, filt: dict | None) -> np.ndarray:
    """bool[rows]: the rows whose context matches `filt` (all rows when None)."""
    keep = np.ones(len(df), dtype=bool)
    for col, v in (filt or {}).items():
        if col not in [c.name for c in log.schema.context]:
            ctx = [c.name for c in log.schema.context]
            raise ConfigError(f"where: '{col}' is not a context column; choose from {ctx}")
        keep &= df[col].isin(v if isinstance(v, list) else [v]).to_numpy()
    return keep


def _need(log: EventLog, col: str, value, *, event: bool) -> None:
    """`col` must be an event (or context) column whose domain holds `value`."""
    cols = log.schema.events if event else log.schema.context
    names = [c.name for c in cols]
    if col not in names:
        what = "event" if event else "context"
        raise ConfigError(f"'{col}' is not an {what} column of '{log.schema.name}'; use {names}")
    c = cols[names.index(col)]
    if c.kind == "categorical" and value not in c.values:
        raise ConfigError(f"{col} {value!r} is not in its domain {list(c.values)}")


def pattern_share(log: EventLog, ivs: tuple[ModelIntervention, ...]) -> dict[str, float]:
    """Per intervention, the share of the population's customers whose journeys already
    show its pattern (the inserted event, no event on the channel, the context value)."""
    df, key, out = log.df, log.key, {}
    for i, iv in enumerate(ivs):
        if iv.kind in ("insert_event", "promotion"):
            values = PROMO_EVENT if iv.kind == "promotion" else iv.values
            hit = np.all([df[c] == v for c, v in values.items() if c in df], axis=0)
            share = df.loc[hit, key].nunique() / log.n_customers
        elif iv.kind == "delay":  # customers with such events, the ones a delay moves
            share = df.loc[df["event_type"] == iv.event_type, key].nunique() / log.n_customers
        elif iv.kind == "remove_channel":
            share = 1 - df.loc[df["channel"] == iv.channel, key].nunique() / log.n_customers
        else:
            share = df.loc[df[iv.column] == iv.value, key].nunique() / log.n_customers
        out[f"{i}:{iv.kind}"] = float(share)
    return out
