"""What-if runs of the simulator: the same customers with and without an intervention.

    promo = Intervention.from_dict({"kind": "promotion", "day": 60, "segment": "premium"})
    cf = simulate_counterfactual(500, seed=0, interventions=[promo])
    effects(cf, within_days=30, since_day=60)   # one row per outcome, effect and its CI

Kinds (applied in the order given, each to the customers left by the previous):

- `promotion`: an extra campaign on `day` (receipt within its first 12 hours) to a
  `share` of the customers of `segment` (all segments when None). A promotion
  raises purchase rates and cuts the churn hazard for 7 days (journeys/simulate.py).
  With `after: {event_type: T, days: N}` instead of `day`, each reached customer
  gets it N days after their first event of type T, as the journey unfolds
  (none for a customer without one; N = 0: one second after it).
- `delay`: move every event of `event_type` by `days` (>= 0) for `segment` (None:
  everyone). Only the promo emails can be moved: they are the world's doing (every
  campaign and every added promotion); the other types are the customer's choices,
  which the run makes afresh. Receipts moved out of the window are dropped.
- `shift_campaign`: move campaign `campaign` (0 = day 14, every 28 days; None =
  all) by `days` (negative: earlier) for `segment` (None: everyone); receipts
  moved out of the window are dropped.
- `remove_channel`: no events on `channel` (email: no promo emails and no email
  opens; social: no ads; call_centre: no support calls; store: no store
  purchases). Acquisition moves to the other of social/email.
- `set_context`: set `column` (segment, region or age_band) to `value` for
  `segment` (None: everyone); the customers' latents move with it (a new segment
  shifts propensity, engagement and churn hazard by the segment means).

Common random numbers: both arms share the customers (drawn from `seed` exactly
as `simulate` draws them) and every later draw is looked up by (customer, step
key, slot) in a per-customer stream (`StreamDraws`; the step key counts the
customer's events off email, so an added, moved or removed promo email or email
open does not shift the later draws), so a customer the intervention does not touch gets
the same journey in both arms, and one it does touch keeps its draws up to the
intervention and shares them again from its next event off email. A no-op intervention
gives identical logs. The baseline arm is a valid simulator sample, but not
`simulate(n, seed=seed)`'s log: that one takes its draws from one shared stream
in call order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from scipy.special import ndtri

from journeylab.journeys import simulate as sim
from journeylab.journeys.config import strict_from_dict
from journeylab.journeys.effects import OUTCOMES, effects, outcomes
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog

KINDS = {  # kind -> (required fields, optional fields)
    "promotion": ((), ("day", "after", "segment", "share")),
    "delay": (("event_type", "days"), ("segment",)),
    "shift_campaign": (("days",), ("campaign", "segment")),
    "remove_channel": (("channel",), ()),
    "set_context": (("column", "value"), ("segment",)),
}
CONTEXT = {"segment": sim.SEGMENTS, "region": sim.REGIONS, "age_band": sim.AGE_BANDS}
# channel -> (types that cannot continue a session, types that cannot start one)
REMOVABLE = {
    "email": ((sim.OPEN, sim.PROMO), (sim.OPEN,)),
    "social": ((sim.AD,), (sim.AD,)),
    "call_centre": ((sim.CALL,), ()),
    "store": ((), (sim.BUY,)),
}
__all__ = [
    "Counterfactual",
    "Intervention",
    "OUTCOMES",
    "StreamDraws",
    "apply_interventions",
    "effects",
    "outcomes",
    "simulate_counterfactual",
]
PROMO_TAG, INDEPENDENT_TAG, STREAM_TAG, STREAK_TAG = 101, 202, 303, 505  # derived streams


@dataclass(frozen=True)
class Intervention:
    """One change to the simulated world; see the module docstring for the kinds.

    Fields that a kind does not use must stay unset (a `day` on a `remove_channel`
    is a mistake, not something to ignore).
    """

    kind: str
    day: int | None = None  # promotion: day of the extra campaign, 0 = the window's start
    days: int | None = None  # shift_campaign: days to move by, negative = earlier
    segment: str | None = None  # who is touched; None = every customer
    share: float | None = None  # promotion: share of the segment reached (default 1.0)
    campaign: int | None = None  # shift_campaign: index of the campaign, None = all
    channel: str | None = None  # remove_channel: one of REMOVABLE
    column: str | None = None  # set_context: segment, region or age_band
    value: str | None = None  # set_context: the new value
    after: dict | None = None  # promotion: {event_type, days}, the trigger instead of a day
    event_type: str | None = None  # delay: the type of the events moved (promo_email)

    def __post_init__(self):
        problems = _problems(self)
        if problems:
            raise ConfigError(f"intervention {self.to_dict()}: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, d) -> Intervention:
        """From a plain dict, refusing unknown keys (e.g. `{"kind": "promotion", "day": 30}`)."""
        return strict_from_dict(cls, d, what="intervention")

    def to_dict(self) -> dict:
        """The fields that are set, `kind` first; `from_dict` gives the same intervention."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }


def _problems(iv: Intervention) -> list[str]:
    """Every problem of one intervention, each with its fix."""
    if iv.kind not in KINDS:
        return [f"unknown kind {iv.kind!r}; choose one of {sorted(KINDS)}"]
    required, optional = KINDS[iv.kind]
    out = [f"{iv.kind} needs '{k}'" for k in required if getattr(iv, k) is None]
    extra = [f.name for f in fields(iv) if f.name not in ("kind", *required, *optional)]
    out += [
        f"'{k}' does not apply to {iv.kind}; remove it" for k in extra if getattr(iv, k) is not None
    ]
    out += _value_problems(iv)
    return out


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _value_problems(iv: Intervention) -> list[str]:
    out = []
    for name in ("day", "days", "campaign"):
        v = getattr(iv, name)
        if v is not None and not _is_int(v):
            out.append(f"'{name}' must be a whole number of days or an index, got {v!r}")
    out += trigger_problems(iv.kind, iv.day, iv.after, sim.EVENT_TYPES)
    if iv.kind == "delay" and iv.event_type != "promo_email":
        out.append(
            f"event_type {iv.event_type!r} cannot be delayed in the simulator: only "
            "promo_email (the campaigns) is the world's doing; the rest are customer choices"
        )
    if iv.kind == "delay" and _is_int(iv.days) and iv.days < 0:
        out.append(f"'days' {iv.days} must be >= 0 (a delay); shift_campaign moves earlier")
    if _is_int(iv.day) and iv.day < 0:
        out.append(f"'day' {iv.day} is before the window; use 0 or later")
    if _is_int(iv.campaign) and iv.campaign < 0:
        out.append(f"'campaign' {iv.campaign} must be >= 0 (0 = the campaign of day 14)")
    real = isinstance(iv.share, (int, float)) and not isinstance(iv.share, bool)
    if iv.share is not None and not (real and 0 < iv.share <= 1):
        out.append(f"'share' {iv.share!r} must be in (0, 1], e.g. 0.5")
    if iv.segment is not None and iv.segment not in sim.SEGMENTS:
        out.append(f"segment {iv.segment!r} is unknown; choose one of {list(sim.SEGMENTS)}")
    if iv.channel is not None and iv.channel not in REMOVABLE:
        out.append(
            f"channel {iv.channel!r} cannot be removed; choose one of {sorted(REMOVABLE)} "
            "(web and app carry every browsing session)"
        )
    if iv.column is not None and iv.column not in CONTEXT:
        out.append(f"column {iv.column!r} is not a context column; choose one of {list(CONTEXT)}")
    elif iv.column is not None and iv.value not in CONTEXT[iv.column]:
        out.append(f"{iv.column} {iv.value!r} is unknown; choose one of {list(CONTEXT[iv.column])}")
    return out


def trigger_problems(kind: str, day, after, event_types=None) -> list[str]:
    """A promotion or inserted event is on a `day` or `after` a trigger, not both;
    `after` is {event_type: one of `event_types` (None: any text), days: whole number >= 0}."""
    if kind not in ("promotion", "insert_event"):
        return []
    if (day is None) == (after is None):
        return [f"{kind} needs exactly one of 'day' or 'after' (e.g. after: {EXAMPLE_AFTER})"]
    if after is None:
        return []
    if not isinstance(after, dict) or set(after) != {"event_type", "days"}:
        return [f"'after' {after!r} must be a mapping with event_type and days: {EXAMPLE_AFTER}"]
    out = []
    known = event_types is None and isinstance(after["event_type"], str)
    if not known and after["event_type"] not in (event_types or ()):
        names = list(event_types or ["an event type"])
        out.append(f"after: event_type {after['event_type']!r} is not one of {names}")
    if not _is_int(after["days"]) or after["days"] < 0:
        out.append(f"after: days {after['days']!r} must be a whole number of days >= 0")
    return out


EXAMPLE_AFTER = "{event_type: purchase, days: 7}"


@dataclass
class Trigger:
    """A promotion sent `delay` seconds after each reached customer's first event of type
    `etype`; it fills column `col` of promo_at as the run goes (journeys/simulate.py)."""

    etype: int
    delay: int
    col: int
    reached: np.ndarray  # bool[n]
    fired: np.ndarray  # bool[n]: the customer's first event of etype has happened


class StreamDraws:
    """Common random numbers: the draw of (customer i, step key, slot s) depends on the key only.

    Uniforms come in blocks of BLOCK steps for all customers, [n, BLOCK, N_SLOTS],
    from `default_rng([*key, STREAM_TAG, block])` (`[..., STREAK_TAG, block, j]` for
    streak j > 0), so which customers are still active (the thing an intervention
    changes) never shifts anyone's draws. Normal, exponential and lognormal draws
    are inverse transforms of the same uniforms.

    A step's key is (k, j): k the customer's events so far that are not on email,
    j the email events (promo emails, email opens) since the last of those. Every
    step gets fresh draws: k or j grows with each event, so no key is used twice on
    one path (reusing the draws of a step a promotion interrupted would bias them:
    the promotion won the race against those very draws). Email events are what the
    interventions add, move or remove (promotions, campaigns, the email channel):
    after a promotion that only one arm has, that arm draws its next step from
    (k, 1), and from the next event off email on both arms are at (k + 1, 0) again,
    so their draws line up. (Keyed by the event count, the arms would stay apart
    for the rest of the run.)
    """

    BLOCK = 16

    def __init__(self, key: Sequence[int], n: int):
        self.key, self.n = tuple(int(k) for k in key), n
        self.blocks: dict[tuple[int, int], np.ndarray] = {}
        self.steps = np.zeros(n, dtype=np.int64)
        self.streak = np.zeros(n, dtype=np.int64)

    def bind(self, steps: np.ndarray, streak: np.ndarray) -> None:
        """Follow the run's per-customer own-event counts and promo streaks (the keys)."""
        self.steps, self.streak = steps, streak

    def random(self, a: np.ndarray, slot: int) -> np.ndarray:
        k, j = self.steps[a], self.streak[a]
        if slot == sim.NEXT and len(k):  # a step's first draw is for every active customer
            self._evict(int(k.min()) // self.BLOCK)
        u = np.empty(len(a))
        for b, jj in {(int(x), int(y)) for x, y in zip(k // self.BLOCK, j, strict=True)}:
            rows = (k // self.BLOCK == b) & (j == jj)
            u[rows] = self._block(b, jj)[a[rows], k[rows] % self.BLOCK, slot]
        return u

    def normal(self, a: np.ndarray, slot: int) -> np.ndarray:
        return ndtri(np.clip(self.random(a, slot), 2.0**-53, 1 - 2.0**-53))

    def exponential(self, a: np.ndarray, slot: int) -> np.ndarray:
        return -np.log1p(-self.random(a, slot))

    def lognormal(self, a: np.ndarray, slot: int, sigma: float) -> np.ndarray:
        return np.exp(sigma * self.normal(a, slot))

    def _evict(self, lowest: int) -> None:
        """Drop blocks below `lowest`: steps only grow, so no one needs them again."""
        for b in [b for b in self.blocks if b[0] < lowest]:
            del self.blocks[b]

    def _block(self, b: int, j: int) -> np.ndarray:
        if (b, j) not in self.blocks:
            key = [STREAM_TAG, b] if j == 0 else [STREAK_TAG, b, j]
            rng = np.random.default_rng([*self.key, *key])
            self.blocks[(b, j)] = rng.random((self.n, self.BLOCK, sim.N_SLOTS))
        return self.blocks[(b, j)]


@dataclass(frozen=True)
class Counterfactual:
    """Both arms of a what-if run: (log, ground truth) without and with the interventions.

    `paired`: the arms share customers and draws (common random numbers), so
    customer i of one arm is customer i of the other; else they are independent.
    """

    baseline: tuple[EventLog, pd.DataFrame]
    intervened: tuple[EventLog, pd.DataFrame]
    interventions: tuple[Intervention, ...]
    paired: bool = True


def simulate_counterfactual(
    n_customers: int,
    *,
    seed: int = 0,
    interventions: Sequence[Intervention | dict] = (),
    start="2024-01-01",
    days: int = 180,
    clock: str = "uniform",
    paired: bool = True,
) -> Counterfactual:
    """Simulate `n_customers` twice, without and with `interventions` (dicts are read
    with `Intervention.from_dict`), from `seed`; same arguments, same arms.

    `paired=False` gives the intervened arm its own customers and draws (independent
    arms: what two separate simulations would give), to measure what pairing saves.
    """
    if isinstance(interventions, (Intervention, dict)):
        interventions = [interventions]  # one intervention given without a list
    ivs = tuple(
        i if isinstance(i, Intervention) else Intervention.from_dict(i) for i in interventions
    )
    kw = {"seed": seed, "start": start, "days": days, "clock": clock}
    base = sim._setup(n_customers, **kw)
    other = base if paired else sim._setup(n_customers, **kw, stream=(INDEPENDENT_TAG,))
    cust, hooks = apply_interventions(ivs, other.cust, seed=seed, horizon=other.horizon)
    key = (seed,) if paired else (seed, INDEPENDENT_TAG)
    return Counterfactual(
        baseline=sim._run(base, base.cust, draws=StreamDraws((seed,), n_customers)),
        intervened=sim._run(other, cust, draws=StreamDraws(key, n_customers), **hooks),
        interventions=ivs,
        paired=paired,
    )


def apply_interventions(
    ivs: Sequence[Intervention], cust: dict, *, seed: int, horizon: int
) -> tuple[dict, dict]:
    """The customers changed by `ivs` (a new dict; `cust` is left as it is) and the run's
    hooks: `blocked`, the event types removed channels block (None when none is), and
    `triggers`, the promotions sent after a trigger event."""
    cust = dict(cust)
    blocked, triggers = None, []
    for i, iv in enumerate(ivs):
        if iv.kind == "promotion":
            rng = np.random.default_rng([int(seed), PROMO_TAG, i])
            cust["promo_at"] = _add_campaign(iv, cust, rng, horizon)
            if iv.after is not None:
                triggers.append(_trigger(iv, cust, rng))
        elif iv.kind in ("shift_campaign", "delay"):
            cust["promo_at"] = _shift_campaigns(iv, cust, horizon)
        elif iv.kind == "remove_channel":
            blocked = _remove_channel(iv.channel, cust, blocked)
        else:
            _set_context(iv, cust)
    return cust, {"blocked": blocked, "triggers": triggers}


def _who(iv: Intervention, cust: dict) -> np.ndarray:
    """bool[n]: the customers of the intervention's segment (everyone when None)."""
    if iv.segment is None:
        return np.ones(len(cust["segment"]), dtype=bool)
    return cust["segment"] == sim.SEGMENTS.index(iv.segment)


def _add_campaign(
    iv: Intervention, cust: dict, rng: np.random.Generator, horizon: int
) -> np.ndarray:
    """promo_at with one more column: the new campaign's receipt times (NEVER if not reached;
    all NEVER for a triggered one, which the run fills in)."""
    if iv.after is not None:
        return np.column_stack([cust["promo_at"], np.full(len(cust["segment"]), sim.NEVER)])
    if iv.day * sim.DAY >= horizon:
        raise ConfigError(
            f"promotion day {iv.day} is not inside the {horizon // sim.DAY}-day window; "
            f"use a day from 0 to {horizon // sim.DAY - 1}"
        )
    at = iv.day * sim.DAY + rng.integers(0, 12 * 3600, len(cust["segment"]))
    new = np.where(_reached(iv, cust, rng) & (at >= 1) & (at < horizon), at, sim.NEVER)
    return np.column_stack([cust["promo_at"], new])


def _reached(iv: Intervention, cust: dict, rng: np.random.Generator) -> np.ndarray:
    """bool[n]: the customers of the segment a promotion's `share` reaches."""
    n = len(cust["segment"])
    return _who(iv, cust) & (rng.random(n) < (1.0 if iv.share is None else iv.share))


def _trigger(iv: Intervention, cust: dict, rng: np.random.Generator) -> Trigger:
    """The run's hook for a promotion `after` a trigger: its column is promo_at's last."""
    n = len(cust["segment"])
    return Trigger(
        etype=sim.EVENT_TYPES.index(iv.after["event_type"]),
        delay=max(1, iv.after["days"] * sim.DAY),
        col=cust["promo_at"].shape[1] - 1,
        reached=_reached(iv, cust, rng),
        fired=np.zeros(n, dtype=bool),
    )


def _shift_campaigns(iv: Intervention, cust: dict, horizon: int) -> np.ndarray:
    """promo_at with the chosen campaign(s) moved by `days` for the chosen customers."""
    promo_at = cust["promo_at"].copy()  # [n, campaigns]
    n_campaigns = promo_at.shape[1]
    if iv.campaign is not None and iv.campaign >= n_campaigns:
        raise ConfigError(
            f"campaign {iv.campaign} does not exist: the window has {n_campaigns} "
            f"campaign(s), 0 to {n_campaigns - 1} (every {sim.PROMO_EVERY_DAYS} days "
            f"from day {sim.PROMO_FIRST_DAY})"
        )
    cols = slice(None) if iv.campaign is None else [iv.campaign]  # delay: every campaign
    rows = _who(iv, cust)
    at = promo_at[rows][:, cols]
    moved = at + iv.days * sim.DAY
    keep = (at != sim.NEVER) & (moved >= 1) & (moved < horizon)
    sub = promo_at[rows]
    sub[:, cols] = np.where(keep, moved, sim.NEVER)
    promo_at[rows] = sub
    return promo_at


def _remove_channel(channel: str, cust: dict, blocked: dict | None) -> dict[str, np.ndarray]:
    """Block the channel's event types; email also stops promotions, and acquisition
    moves to the channel left (social ads or email opens)."""
    blocked = blocked or {p: np.zeros(sim.END + 1, dtype=bool) for p in ("continue", "start")}
    blocked = {p: b.copy() for p, b in blocked.items()}
    no_continue, no_start = REMOVABLE[channel]
    blocked["continue"][list(no_continue)] = True
    blocked["start"][list(no_start)] = True
    if blocked["start"][sim.AD] and blocked["start"][sim.OPEN]:
        raise ConfigError(
            "removing both social and email leaves no way to acquire customers "
            "(the first event is an ad or an email open); keep one of them"
        )
    if channel == "email":
        cust["promo_at"] = np.full_like(cust["promo_at"], sim.NEVER)
    first = cust["first_type"]
    cust["first_type"] = np.where(blocked["start"][first], sim.OPEN + sim.AD - first, first)
    return blocked


def _set_context(iv: Intervention, cust: dict) -> None:
    """Set a context column for the chosen customers and move the latents that depend on it."""
    rows = _who(iv, cust)
    new = CONTEXT[iv.column].index(iv.value)
    old = cust[iv.column]
    if iv.column == "segment":
        ratio = lambda table: np.take(table, new) / np.take(table, old)  # noqa: E731
        shift = np.take(sim.PROPENSITY_MEAN, new) - np.take(sim.PROPENSITY_MEAN, old)
        cust["propensity"] = np.where(rows, cust["propensity"] + shift, cust["propensity"])
        eng = np.clip(cust["engagement"] * ratio(sim.ENGAGEMENT_MEAN), 0.01, 0.4)
        cust["engagement"] = np.where(rows, eng, cust["engagement"])
        hazard = cust["churn_hazard"] * ratio(sim.CHURN_MEAN)
        cust["churn_hazard"] = np.where(rows, hazard, cust["churn_hazard"])
    cust[iv.column] = np.where(rows, new, old)
    age, region, seg = cust["age_band"], cust["region"], cust["segment"]
    cust["support_prob"] = np.take(sim.SUPPORT_AFTER_PURCHASE, seg)
    cust["app_share"] = np.take(sim.AGE_APP, age)
    cust["call_share"] = np.take(sim.AGE_CALL, age)
    store = np.take(sim.AGE_STORE, age) + np.take(sim.REGION_STORE, region)
    cust["store_share"] = np.clip(store, 0.02, 0.9)
