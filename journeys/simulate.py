"""The `simulate` dataset: seeded multichannel customer journeys with known ground truth.

    log, truth = simulate(1000, seed=0)      # EventLog (schema journeys/data/simulate.yaml)
    truth.set_index("customer_id").loc["c00042", ["segment", "churned", "churn_time"]]

Mechanics (full tables in docs/simulator.md). Time runs in whole seconds from
`start`; every event lies strictly inside (start, start + days).

- Customers: segment (budget/mainstream/premium), region, age band; latent
  purchase propensity p = segment mean + d (logit), engagement = segment mean x
  exp(e) sessions per day (clipped to [0.01, 0.4]), base churn hazard per day =
  segment mean x exp(N(0, 0.3) - 0.3 d - 0.6 e), with d ~ N(0, 0.6) and
  e ~ N(0, 0.5): less engaged, less inclined customers churn sooner. App share
  (age), store share (age, region), call-centre share of support (age).
- Acquisition: the first event (ad_impression on social or email_open) falls
  uniformly in the first 35% of the window.
- Journey: a Markov chain over event types. After each event the customer
  either continues the session (next type from the row of that event type,
  in-session gap LogNormal(median, sigma) per transition) or ends it; the next
  session starts after an Exponential gap with mean 1 / session rate, at an
  awareness event, a direct page_view/product_view on web or app, or a store
  purchase. Funnel: awareness -> consideration -> add_to_cart -> purchase or
  cart_abandonment; a purchase may be followed days later by support_chat (web
  or app) or support_call (call_centre).
- Promotions: a campaign every 28 days from day 14 sends promo_email to a
  segment-dependent share of customers; a promotion interrupts whatever the
  customer was doing and for 7 days raises click-through, add-to-cart and
  purchase logits (+0.7 to +0.8), multiplies the session rate by 1.8, cuts the
  churn hazard by 40% and basket values by 15%.
- Recent activity: decayed counts (half-life 14 days) of purchases P, support
  contacts S and cart abandonments A. Session rate x (1 + 0.4 min(P, 3)) x
  exp(-0.3 S); churn hazard x exp(0.35 S + 0.2 A - 0.4 min(P, 4)).
- Churn: the hazard is held constant between events at its value just after
  the last one; an Exponential churn time races the next event, and a customer
  who churns has no events after `churn_time`. A journey also stops at the end
  of the window or at the schema's max_length (`capped` in the ground truth).
- Clock: by default (`clock="uniform"`) time runs evenly, at any hour. With
  `clock="diurnal"` the acquisition time and the gaps between sessions run on
  a weekly clock (journeys/clock.py: quiet nights, busy evenings, later
  weekends), so sessions start mostly in waking hours; in-session gaps stay real.

Only `numpy.random.default_rng(seed)` is used: same arguments, same output.
What-if runs (journeys/interventions.py) reuse the customers and the mechanics
through two hooks, a draw source and blocked event types; a plain call uses neither.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from journeylab.journeys.clock import WeeklyClock, diurnal_clock, week_offset
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema

SCHEMA_PATH = Path(__file__).parent / "data" / "simulate.yaml"
DAY = 86_400
CHANNELS = ("web", "app", "email", "social", "store", "call_centre")
WEB, APP, EMAIL, SOCIAL, STORE, CALL_CENTRE = range(6)
EVENT_TYPES = tuple(
    "ad_impression email_open promo_email page_view product_view add_to_cart "
    "cart_abandonment purchase support_chat support_call".split()
)
AD, OPEN, PROMO, PAGE, PRODUCT, CART, ABANDON, BUY, CHAT, CALL = range(10)
END = len(EVENT_TYPES)  # pseudo-type: the session ends
# Channel fixed by the event type; -1 = web or app (or store for a session-start purchase).
FIXED_CHANNEL = np.array([SOCIAL, EMAIL, EMAIL, -1, -1, -1, -1, -1, -1, CALL_CENTRE, -1])

SEGMENTS = ("budget", "mainstream", "premium")
SEGMENT_SHARE = (0.35, 0.45, 0.20)
PROPENSITY_MEAN = (-0.6, 0.0, 0.6)  # logit
ENGAGEMENT_MEAN = (0.10, 0.12, 0.14)  # sessions per day
CHURN_MEAN = (1 / 150, 1 / 300, 1 / 550)  # base hazard per day
BASKET_MEDIAN = (30.0, 65.0, 160.0)
PROMO_TARGETED = (0.60, 0.45, 0.30)  # share of customers each campaign reaches
SUPPORT_AFTER_PURCHASE = (0.20, 0.12, 0.10)
REGIONS = ("north", "south", "east", "west")
REGION_SHARE = (0.30, 0.25, 0.25, 0.20)
REGION_STORE = (0.10, 0.0, -0.05, 0.0)
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
AGE_SHARE = (0.15, 0.25, 0.22, 0.18, 0.20)
AGE_APP = (0.75, 0.65, 0.50, 0.35, 0.20)
AGE_STORE = (0.15, 0.20, 0.25, 0.30, 0.40)
AGE_CALL = (0.20, 0.30, 0.40, 0.55, 0.70)

ACQUISITION_SHARE = 0.35
PROMO_FIRST_DAY, PROMO_EVERY_DAYS, PROMO_DAYS = 14, 28, 7
HALF_LIFE_DAYS = 14
MAX_AMOUNT = 5000.0
NEVER = np.iinfo(np.int64).max
LATENTS = ("propensity", "engagement", "churn_hazard", "app_share", "store_share")
CLOCKS = ("uniform", "diurnal")


def _gap_tables() -> tuple[np.ndarray, np.ndarray]:
    """In-session gap LogNormal(log median, sigma) in seconds, per (from, to) event type."""
    med = np.full((END + 1, END + 1), 60.0)
    sig = np.full((END + 1, END + 1), 0.7)
    browse = [PAGE, PRODUCT]
    for src, dst, m, s in [
        ([AD, OPEN], browse, 25.0, 0.8),  # click-through from an ad or email
        ([PROMO], [OPEN], 3 * 3600.0, 1.0),  # promo email opened hours later
        (browse, browse, 45.0, 0.7),
        ([PRODUCT], [CART], 60.0, 0.6),
        ([CART], [CART], 40.0, 0.6),
        ([CART], [BUY], 120.0, 0.7),
        ([CART], [ABANDON], 1800.0, 0.2),  # logged at the 30-minute cart timeout
        ([BUY], [CHAT, CALL], 2 * DAY, 0.8),
        ([CHAT], [CALL], 3 * 3600.0, 0.8),  # escalation
        ([CALL], [CALL], DAY, 0.8),  # follow-up call
    ]:
        med[np.ix_(src, dst)], sig[np.ix_(src, dst)] = m, s
    return med, sig


GAP_MEDIAN, GAP_SIGMA = _gap_tables()


def simulate_schema(*, start=None, days: int | None = None) -> Schema:
    """The schema in journeys/data/simulate.yaml; `start`/`days` move its time range."""
    schema = Schema.read(SCHEMA_PATH)
    if start is None and days is None:
        return schema
    t0 = schema.time_start if start is None else _timestamp(start)
    n_days = (schema.time_end - schema.time_start).days if days is None else _days(days)
    return replace(schema, time_start=t0, time_end=t0 + pd.Timedelta(days=n_days))


def simulate(
    n_customers: int,
    *,
    seed: int = 0,
    start="2024-01-01",
    days: int = 180,
    clock: str = "uniform",
) -> tuple[EventLog, pd.DataFrame]:
    """Simulate `n_customers` journeys from `start` for `days` days.

    Returns the validated EventLog (schema `simulate_schema(start=start, days=days)`)
    and the ground truth, one row per customer in id order: customer_id, segment,
    region, age_band, the latents (propensity logit, engagement in sessions per
    day, churn_hazard per day, app_share, store_share), acquired_at,
    last_event_at, n_events, n_purchases, total_amount, n_promotions, n_support,
    churned (bool), churn_time (NaT unless churned) and capped (stopped at
    max_length). Same arguments, same output. `clock="diurnal"` starts sessions
    mostly in waking hours (see the module docstring); the default is uniform.
    """
    setup = _setup(n_customers, seed=seed, start=start, days=days, clock=clock)
    return _run(setup, setup.cust)


class _Setup(NamedTuple):
    """What every arm of one simulation shares: schema, stream, window, customers, clock."""

    schema: Schema
    rng: np.random.Generator
    horizon: int  # seconds
    cust: dict[str, np.ndarray]
    clock: WeeklyClock | None


def _setup(
    n_customers: int, *, seed: int, start, days: int, clock: str, stream: tuple[int, ...] = ()
) -> _Setup:
    """Check the arguments and draw the customers (the first draws of the seed's stream).

    A non-empty `stream` keys another stream of the same seed (independent customers).
    """
    _check_count("n_customers", n_customers, minimum=1, example=1000)
    _check_count("seed", seed, minimum=0, example=0)
    schema = simulate_schema(start=start, days=days)
    rng = np.random.default_rng([int(seed), *stream] if stream else int(seed))
    horizon = int((schema.time_end - schema.time_start).total_seconds())
    cust = _draw_customers(rng, int(n_customers), horizon)
    clk = _clock(clock, schema.time_start)
    if clk is not None:
        cust["acquired"] = clk.after(np.zeros_like(cust["acquired"]), cust["acquired"])
    return _Setup(schema, rng, horizon, cust, clk)


def _run(
    setup: _Setup, cust: dict, *, draws=None, blocked=None, triggers=()
) -> tuple[EventLog, pd.DataFrame]:
    """Simulate the journeys of `cust` (the setup's customers, possibly changed)."""
    run = _Run(
        setup.rng,
        cust,
        setup.horizon,
        setup.schema.max_length,
        setup.clock,
        draws=draws,
        blocked=blocked,
        triggers=triggers,
    )
    run.simulate()
    events, truth = _frames(run, cust, setup.schema)
    return EventLog.from_frame(events, setup.schema), truth


def _timestamp(start) -> pd.Timestamp:
    try:
        t0 = pd.Timestamp(start)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"start {start!r} is not a timestamp; use e.g. '2024-01-01'") from e
    if t0 is pd.NaT or t0.tzinfo is not None or t0 != t0.floor("s"):
        raise ConfigError(
            f"start {start!r} must be a naive timestamp in whole seconds, "
            "e.g. '2024-01-01 00:00:00'"
        )
    return t0


def _clock(name: str, start: pd.Timestamp) -> WeeklyClock | None:
    if name not in CLOCKS:
        raise ConfigError(f"unknown clock {name!r}; choose one of {list(CLOCKS)}")
    return diurnal_clock(offset=week_offset(start)) if name == "diurnal" else None


def _days(days) -> int:
    _check_count("days", days, minimum=1, example=180)
    return int(days)


def _check_count(name: str, value, *, minimum: int, example: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} {value!r} must be an integer >= {minimum}, e.g. {example}")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _pick(rng: np.random.Generator, probs, n: int) -> np.ndarray:
    return rng.choice(len(probs), size=n, p=np.asarray(probs) / np.sum(probs))


def _draw_customers(rng: np.random.Generator, n: int, horizon: int) -> dict[str, np.ndarray]:
    """Static attributes and latents of every customer; arrays of length n."""
    seg, region, age = (
        _pick(rng, SEGMENT_SHARE, n),
        _pick(rng, REGION_SHARE, n),
        _pick(rng, AGE_SHARE, n),
    )
    prop_dev = rng.normal(0.0, 0.6, n)
    eng_dev = rng.normal(0.0, 0.5, n)
    engagement = np.take(ENGAGEMENT_MEAN, seg) * np.exp(eng_dev)
    # Less engaged, less inclined customers churn sooner: the latents are coupled.
    hazard = np.take(CHURN_MEAN, seg) * np.exp(
        rng.normal(0.0, 0.3, n) - 0.3 * prop_dev - 0.6 * eng_dev
    )
    acquired = rng.integers(1, max(2, int(ACQUISITION_SHARE * horizon)), n)
    first_type = np.where(rng.random(n) < 0.65, AD, OPEN)
    cust = {
        "segment": seg,
        "region": region,
        "age_band": age,
        "propensity": np.take(PROPENSITY_MEAN, seg) + prop_dev,
        "engagement": np.clip(engagement, 0.01, 0.4),
        "churn_hazard": hazard,
        "app_share": np.take(AGE_APP, age),
        "store_share": np.clip(np.take(AGE_STORE, age) + np.take(REGION_STORE, region), 0.02, 0.9),
        "call_share": np.take(AGE_CALL, age),
        "support_prob": np.take(SUPPORT_AFTER_PURCHASE, seg),
        "acquired": acquired,
        "first_type": first_type,
    }
    cust["promo_at"] = _promo_receipts(rng, seg, horizon)
    return cust


def _promo_receipts(rng: np.random.Generator, seg: np.ndarray, horizon: int) -> np.ndarray:
    """[n, campaigns] receipt times in seconds, ascending per row; NEVER when not targeted."""
    starts = np.arange(PROMO_FIRST_DAY * DAY, horizon, PROMO_EVERY_DAYS * DAY, dtype=np.int64)
    n = len(seg)
    at = starts[None, :] + rng.integers(0, 12 * 3600, (n, len(starts)))
    targeted = rng.random((n, len(starts))) < np.take(PROMO_TARGETED, seg)[:, None]
    return np.where(targeted & (at < horizon), at, NEVER)


# Slots of the random draws one step of a customer makes (journeys/interventions.py
# gives each (customer, step, slot) its own draw so that two arms share them).
NEXT, START, IN_GAP, BETWEEN, CHURN, APP_DRAW, BASKET = range(7)
N_SLOTS = 7


class _RngDraws:
    """The plain simulator's draws: one shared stream consumed in call order.

    `a` (the customers drawn for) and `slot` only fix how many draws are taken;
    a per-customer source (journeys/interventions.py) uses them to look draws up.
    """

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def bind(self, steps: np.ndarray, streak: np.ndarray) -> None:
        """The run's per-customer step keys (journeys/interventions.py); not needed here."""

    def random(self, a: np.ndarray, slot: int) -> np.ndarray:
        return self.rng.random(len(a))

    def normal(self, a: np.ndarray, slot: int) -> np.ndarray:
        return self.rng.standard_normal(len(a))

    def exponential(self, a: np.ndarray, slot: int) -> np.ndarray:
        return self.rng.exponential(1.0, len(a))

    def lognormal(self, a: np.ndarray, slot: int, sigma: float) -> np.ndarray:
        return self.rng.lognormal(0.0, sigma, len(a))


class _Run:
    """Mutable state of one simulation: per-customer arrays plus the events emitted so far.

    Hooks for what-if runs (journeys/interventions.py), inert by default: `draws`
    replaces the shared random stream, `blocked` ({"continue": bool[END + 1],
    "start": bool[END + 1]}) names event types that cannot happen within a session
    or at its start, `triggers` (interventions.Trigger) send a promotion some time
    after a customer's first event of a type, into promo_at's column `col`.
    """

    def __init__(
        self,
        rng,
        cust: dict,
        horizon: int,
        max_length: int,
        clock=None,
        *,
        draws=None,
        blocked=None,
        triggers=(),
    ):
        n = len(cust["segment"])
        self.rng, self.cust, self.horizon, self.max_length = rng, cust, horizon, max_length
        self.clock: WeeklyClock | None = clock  # None: between-session gaps in real time
        self.draws = _RngDraws(rng) if draws is None else draws
        self.blocked: dict[str, np.ndarray] | None = blocked
        self.triggers = triggers
        self.t = np.zeros(n, dtype=np.int64)  # time of the last event, seconds from start
        self.last = np.zeros(n, dtype=np.int64)  # type of the last event
        self.chan = np.zeros(n, dtype=np.int64)  # channel of the last event
        self.promo_until = np.full(n, -1, dtype=np.int64)
        self.recent = np.zeros((n, 3))  # decayed counts: purchases P, support S, abandons A
        self.n_events = np.zeros(n, dtype=np.int64)
        self.own = np.zeros(n, dtype=np.int64)  # events not on email (the step keys' first part)
        self.streak = np.zeros(n, dtype=np.int64)  # email events since the last of them
        self.churn_t = np.full(n, -1, dtype=np.int64)  # -1: did not churn in the window
        self.capped = np.zeros(n, dtype=bool)
        self.log: list[tuple[np.ndarray, ...]] = []  # (customer, time, type, channel, amount)
        self.draws.bind(self.own, self.streak)  # updated in place: each step's key

    def simulate(self) -> None:
        a = np.arange(len(self.t))
        first = self.cust["first_type"]
        self._record(a, self.cust["acquired"], first, FIXED_CHANNEL[first], np.zeros(len(a)))
        while a.size:
            a = self._step(a)

    def _step(self, a: np.ndarray) -> np.ndarray:
        """One more event (or churn, or the end) for each active customer `a`."""
        draw, c, t, s = self.draws, self.cust, self.t[a], self.last[a]
        promo = self.promo_until[a] > t
        p_next = self._allow(_continue_probs(s, c, a, promo), "continue")
        nxt = _choose(p_next, draw.random(a, NEXT))
        new = nxt == END
        p_start = self._allow(_start_probs(c, a[new], promo[new]), "start")
        nxt[new] = _choose(p_start, draw.random(a[new], START))
        z, between = draw.normal(a, IN_GAP), draw.exponential(a, BETWEEN)
        in_session = np.exp(np.log(GAP_MEDIAN[s, nxt]) + GAP_SIGMA[s, nxt] * z)
        gap = np.where(new, between * DAY / self._session_rate(a, promo), in_session)
        when = t + np.maximum(1, np.rint(gap)).astype(np.int64)
        if self.clock is not None:
            when[new] = self.clock.after(t[new], gap[new])
        promo_at = self._next_promo(a, t)
        hit = promo_at < when  # a promotion interrupts whatever came next
        nxt[hit], when[hit], new[hit] = PROMO, promo_at[hit], True
        wait = draw.exponential(a, CHURN) * DAY / self._hazard(a, promo)
        churn_at = t + np.maximum(1, np.ceil(np.minimum(wait, 2.0 * self.horizon))).astype(np.int64)
        churns = (churn_at <= when) & (churn_at < self.horizon)
        self.churn_t[a[churns]] = churn_at[churns]
        go = ~churns & (when < self.horizon)
        self._emit(a[go], nxt[go], new[go], when[go])
        a = a[go]
        full = self.n_events[a] >= self.max_length
        self.capped[a[full]] = True
        return a[~full]

    def _emit(self, a: np.ndarray, nxt: np.ndarray, new: np.ndarray, when: np.ndarray) -> None:
        decay = 0.5 ** ((when - self.t[a]) / (HALF_LIFE_DAYS * DAY))
        self.recent[a] *= decay[:, None]
        self.recent[a] += np.stack([nxt == BUY, (nxt == CHAT) | (nxt == CALL), nxt == ABANDON], 1)
        promo = self.promo_until[a] > when
        self.promo_until[a[nxt == PROMO]] = when[nxt == PROMO] + PROMO_DAYS * DAY
        chan = self._channels(a, nxt, new)
        amount = np.where(nxt == BUY, self._amounts(a, chan, promo), 0.0)
        self._record(a, when, nxt, chan, amount)

    def _record(self, a, when, etype, chan, amount) -> None:
        self.t[a], self.last[a], self.chan[a] = when, etype, chan
        self.n_events[a] += 1
        email = (etype == PROMO) | (etype == OPEN)
        self.own[a[~email]] += 1
        self.streak[a[~email]] = 0
        self.streak[a[email]] += 1
        self.log.append((a, when, etype, chan, amount))
        for trig in self.triggers:
            self._fire(trig, a, when, etype)

    def _fire(self, trig, a, when, etype) -> None:
        """A triggered promotion for each reached customer's first event of its type
        (none once email is removed: promo emails are blocked)."""
        if self.blocked is not None and self.blocked["continue"][PROMO]:
            return
        hit = (etype == trig.etype) & trig.reached[a] & ~trig.fired[a]
        trig.fired[a[hit]] = True
        at = when[hit] + trig.delay
        self.cust["promo_at"][a[hit], trig.col] = np.where(at < self.horizon, at, NEVER)

    def _allow(self, p: np.ndarray, phase: str) -> np.ndarray:
        """`p` with the blocked types of `phase` removed; a session that would have
        continued with one ends instead (the start weights are renormalised by _choose)."""
        if self.blocked is None:
            return p
        off = self.blocked[phase]
        p = p.copy()
        if phase == "continue":
            p[:, END] += p[:, off].sum(axis=1)
        p[:, off] = 0.0
        return p

    def _channels(self, a: np.ndarray, nxt: np.ndarray, new: np.ndarray) -> np.ndarray:
        """Fixed by type, store for a session-start purchase, else the session's web/app."""
        chan = FIXED_CHANNEL[nxt].copy()
        chan[(nxt == BUY) & new] = STORE
        prev = self.chan[a]
        keep = (chan < 0) & ~new & ((prev == WEB) | (prev == APP)) & (nxt != CHAT)
        chan[keep] = prev[keep]
        draw = chan < 0
        app = self.draws.random(a[draw], APP_DRAW) < self.cust["app_share"][a[draw]]
        chan[draw] = np.where(app, APP, WEB)
        return chan

    def _amounts(self, a: np.ndarray, chan: np.ndarray, promo: np.ndarray) -> np.ndarray:
        median = np.take(BASKET_MEDIAN, self.cust["segment"][a])
        x = median * self.draws.lognormal(a, BASKET, 0.55)
        x *= np.where(chan == STORE, 1.15, 1.0) * np.where(promo, 0.85, 1.0)
        return np.round(np.clip(x, 1.0, MAX_AMOUNT), 2)

    def _session_rate(self, a: np.ndarray, promo: np.ndarray) -> np.ndarray:
        """Sessions per day."""
        p, s = self.recent[a, 0], self.recent[a, 1]
        boost = (1 + 0.4 * np.minimum(p, 3)) * np.exp(-0.3 * s) * np.where(promo, 1.8, 1.0)
        return self.cust["engagement"][a] * boost

    def _hazard(self, a: np.ndarray, promo: np.ndarray) -> np.ndarray:
        """Churn hazard per day, held until the next event."""
        p, s, ab = self.recent[a].T
        h = self.cust["churn_hazard"][a] * np.exp(0.35 * s + 0.2 * ab - 0.4 * np.minimum(p, 4))
        return h * np.where(promo, 0.6, 1.0)

    def _next_promo(self, a: np.ndarray, t: np.ndarray) -> np.ndarray:
        at = self.cust["promo_at"][a]
        return np.where(at > t[:, None], at, NEVER).min(axis=1, initial=NEVER)


def _choose(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw: the first column whose cumulative weight exceeds u * total."""
    cum = probs.cumsum(axis=1)
    return np.argmax(cum > (u * cum[:, -1])[:, None], axis=1)


def _continue_probs(s: np.ndarray, c: dict, a: np.ndarray, promo: np.ndarray) -> np.ndarray:
    """[m, END + 1] probabilities of the next event type in the session (last column: end)."""
    prop, boost = c["propensity"][a], promo.astype(float)
    click_ad = _sigmoid(-1.0 + 0.5 * prop + 0.8 * boost)
    click_mail = _sigmoid(-0.5 + 0.5 * prop + 0.8 * boost)
    cart = 0.55 * _sigmoid(-0.5 + 0.8 * prop + 0.7 * boost)
    buy = 0.85 * _sigmoid(0.2 + 0.8 * prop + 0.8 * boost)
    support, call = c["support_prob"][a], c["call_share"][a]
    i = {k: (s == k).astype(float) for k in range(END)}
    p = np.zeros((len(s), END + 1))
    p[:, OPEN] = i[PROMO] * _sigmoid(0.3 + 0.4 * prop)
    p[:, PAGE] = i[AD] * 0.6 * click_ad + i[OPEN] * 0.4 * click_mail + i[PAGE] * 0.25
    p[:, PAGE] += i[PRODUCT] * 0.10
    p[:, PRODUCT] = i[AD] * 0.4 * click_ad + i[OPEN] * 0.6 * click_mail + i[PAGE] * 0.45
    p[:, PRODUCT] += i[PRODUCT] * 0.30
    p[:, CART] = i[PRODUCT] * cart + i[CART] * 0.15
    p[:, BUY] = i[CART] * buy
    p[:, ABANDON] = i[CART] * (0.85 - buy)
    p[:, CHAT] = i[BUY] * support * (1 - call)
    p[:, CALL] = i[BUY] * support * call + i[CHAT] * 0.15 + i[CALL] * 0.05
    p[:, END] = 1.0 - p[:, :END].sum(axis=1)
    return p


def _start_probs(c: dict, a: np.ndarray, promo: np.ndarray) -> np.ndarray:
    """[m, END + 1] weights of the first event of a new session."""
    w = c["store_share"][a]
    store_buy = _sigmoid(-0.3 + c["propensity"][a] + 0.8 * promo)
    p = np.zeros((len(a), END + 1))
    p[:, AD], p[:, OPEN] = 0.30, 0.15
    p[:, PAGE] = 0.55 * (1 - w) * 0.7
    p[:, PRODUCT] = 0.55 * (1 - w) * 0.3
    p[:, BUY] = 0.55 * w * store_buy  # a store visit without a purchase leaves no event
    return p


def _frames(run: _Run, cust: dict, schema: Schema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw event table and the ground truth, customers in id order."""
    who, when, etype, chan, amount = (np.concatenate(x) for x in zip(*run.log, strict=True))
    order = np.lexsort((when, who))
    who, when, etype, chan, amount = (x[order] for x in (who, when, etype, chan, amount))
    n = len(run.t)
    ids = np.array([f"c{i:0{max(5, len(str(n - 1)))}d}" for i in range(n)], dtype=object)
    t0 = schema.time_start
    ctx = {
        name: np.asarray(vals, dtype=object)[cust[name]]
        for name, vals in (("segment", SEGMENTS), ("region", REGIONS), ("age_band", AGE_BANDS))
    }
    events = pd.DataFrame(
        {
            schema.sequence_key: ids[who],
            schema.sequence_index: t0 + pd.to_timedelta(when, unit="s"),
            "channel": np.asarray(CHANNELS, dtype=object)[chan],
            "event_type": np.asarray(EVENT_TYPES, dtype=object)[etype],
            "amount": amount.astype(np.float64),
            **{k: v[who] for k, v in ctx.items()},
        }
    )
    return events, _truth(run, cust, ids, ctx, who, etype, amount, t0)


def _truth(run, cust, ids, ctx, who, etype, amount, t0) -> pd.DataFrame:
    n = len(ids)
    count = lambda mask: np.bincount(who[mask], minlength=n)  # noqa: E731
    churned = run.churn_t >= 0
    secs = lambda x: t0 + pd.to_timedelta(x, unit="s")  # noqa: E731
    return pd.DataFrame(
        {
            "customer_id": ids.astype(str),
            **ctx,
            **{k: cust[k] for k in LATENTS},
            "acquired_at": secs(cust["acquired"]),
            "last_event_at": secs(run.t),
            "n_events": run.n_events,
            "n_purchases": count(etype == BUY),
            "total_amount": np.round(np.bincount(who, weights=amount, minlength=n), 2),
            "n_promotions": count(etype == PROMO),
            "n_support": count((etype == CHAT) | (etype == CALL)),
            "churned": churned,
            "churn_time": pd.Series(secs(np.where(churned, run.churn_t, 0))).where(churned, pd.NaT),
            "capped": run.capped,
        }
    )
