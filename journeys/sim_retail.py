"""The `retail` preset of the simulator: a date-only purchase log with a heavy tail.

    log, truth = simulate_retail(1000, seed=0)   # schema journeys/data/simulate_retail.yaml

Mechanics (tables in docs/simulator.md). Time is counted in whole days from the
window start; every event is at midnight (a date-only log).

- Customers: segment, home store (region first, then one of its 6 stores),
  purchase rate per day lambda = segment rate x LogNormal(0, 1.2), a drop-out
  probability p ~ Beta(1.6, 1.9) after every purchase (buy-till-you-die), an
  online share logistic(segment mean + N(0, 1)) and a basket level
  log(segment median) + N(0, 0.35).
- Calendar: each day has a weight (weekday effect, fewer purchases on Sundays,
  more on Fridays and Saturdays; December x 1.35; 25 December x 0.1), scaled to
  mean 1. Purchases are a Poisson process with rate lambda in this weighted
  time, so busy days get more of them; a day is the weighted-time interval
  it covers.
- Journey: the first purchase falls uniformly in weighted time over the window.
  The number of purchases before drop-out is K ~ Geometric(p); the purchases in
  the rest of the window are M ~ Poisson(lambda x remaining weighted time). The
  customer makes min(K, M + 1) purchases (at most 400), placed as the first
  order statistics of M uniforms (exponential spacings), so nothing is drawn
  beyond the journey. Several purchases on one date happen.
- Amounts: basket level + N(0, 0.6), x 1.1 online, clipped to [0.5, 5000].
- Returns: each purchase is returned with a segment share (doubled online),
  1 + Geometric(0.12) days later, online or in store, the whole basket or
  20-90% of it; a return after the window is dropped.
- Exact duplicate rows (same date, channel, type and amount) are refused by
  validation; they are rare and are told apart by adding 0.01 to the amount.

Only `numpy.random.default_rng(seed)` is used: same arguments, same output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema
from journeylab.journeys.simulate import _check_count

SCHEMA_PATH = Path(__file__).parent / "data" / "simulate_retail.yaml"
CHANNELS = ("store", "online")
STORE, ONLINE = range(2)
EVENT_TYPES = ("purchase", "return")
PURCHASE, RETURN = range(2)
SEGMENTS = ("budget", "mainstream", "premium")
SEGMENT_SHARE = (0.40, 0.40, 0.20)
RATE_MEAN = (1 / 60, 1 / 40, 1 / 30)  # purchases per (weighted) day, median of the lognormal
RATE_SIGMA = 1.2
STOP_BETA = (1.9, 1.7)  # drop-out probability after each purchase ~ Beta(a, b)
LOYAL_SHARE, LOYAL_STOP_BETA, LOYAL_RATE = 0.10, (1.0, 40.0), 2.5  # the heavy tail
ONLINE_MEAN = (-1.5, -1.0, -0.3)  # logit of the online share
BASKET_MEDIAN = (25.0, 45.0, 90.0)
RETURN_SHARE = (0.03, 0.05, 0.07)
REGIONS = ("north", "south", "east", "west")
REGION_SHARE = (0.30, 0.25, 0.25, 0.20)
STORES_PER_REGION = 6
WEEKDAY_WEIGHT = (1.0, 0.95, 0.95, 1.0, 1.15, 1.35, 0.55)  # Monday .. Sunday
DECEMBER_WEIGHT, CHRISTMAS_WEIGHT = 1.35, 0.1
MAX_PURCHASES = 400
MAX_AMOUNT = 5000.0
LATENTS = ("rate", "stop_prob", "online_share", "basket_median")


def retail_schema() -> Schema:
    """The schema in journeys/data/simulate_retail.yaml."""
    return Schema.read(SCHEMA_PATH)


def simulate_retail(n_customers: int, *, seed: int = 0) -> tuple[EventLog, pd.DataFrame]:
    """Simulate `n_customers` retail journeys over the schema's two-year window.

    Returns the validated EventLog and the ground truth, one row per customer in
    id order: customer_id, segment, region, home_store, the latents (rate per
    day, stop_prob, online_share, basket_median), first_purchase_at,
    last_event_at, n_events, n_purchases, n_returns, total_amount (purchases),
    dropped_out (made all K purchases inside the window) and capped.
    """
    _check_count("n_customers", n_customers, minimum=1, example=1000)
    _check_count("seed", seed, minimum=0, example=0)
    schema = retail_schema()
    rng = np.random.default_rng(int(seed))
    weights = day_weights(schema.time_start, schema.time_end)
    cust = _draw_customers(rng, int(n_customers))
    who, day, dropped = _purchase_days(rng, cust, np.cumsum(weights))
    ev = _purchases(rng, cust, who, day)
    ev = _add_returns(rng, cust, ev, len(weights))
    ev = _untie(_cap(ev, schema.max_length))
    events, truth = _frames(ev, cust, dropped, schema)
    return EventLog.from_frame(events, schema), truth


def day_weights(start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Relative purchase intensity of each day in [start, end), mean 1."""
    days = pd.date_range(start, end, freq="D", inclusive="left")
    w = np.take(WEEKDAY_WEIGHT, days.dayofweek) * np.where(days.month == 12, DECEMBER_WEIGHT, 1.0)
    w = np.where((days.month == 12) & (days.day == 25), CHRISTMAS_WEIGHT, w)
    return w / w.mean()


def _draw_customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Static attributes and latents of every customer; arrays of length n."""
    seg = rng.choice(3, size=n, p=SEGMENT_SHARE)
    region = rng.choice(4, size=n, p=REGION_SHARE)
    store = region * STORES_PER_REGION + rng.integers(0, STORES_PER_REGION, n)
    loyal = rng.random(n) < LOYAL_SHARE
    rate_up = np.where(loyal, LOYAL_RATE, 1.0)
    online = 1.0 / (1.0 + np.exp(-(np.take(ONLINE_MEAN, seg) + rng.normal(0.0, 1.0, n))))
    return {
        "segment": seg,
        "region": region,
        "home_store": store,
        "rate": np.take(RATE_MEAN, seg) * rng.lognormal(0.0, RATE_SIGMA, n) * rate_up,
        "stop_prob": np.where(loyal, rng.beta(*LOYAL_STOP_BETA, n), rng.beta(*STOP_BETA, n)),
        "online_share": online,
        "basket_median": np.take(BASKET_MEDIAN, seg) * rng.lognormal(0.0, 0.35, n),
    }


def _purchase_days(
    rng: np.random.Generator, cust: dict, cum_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer, day) of every purchase, and per customer whether it dropped out in the window.

    Weighted time runs over [0, cum_w[-1]); day d covers [cum_w[d-1], cum_w[d]).
    """
    n, total = len(cust["rate"]), cum_w[-1]
    first = rng.random(n) * total
    k = np.minimum(rng.geometric(cust["stop_prob"]), MAX_PURCHASES)
    m = rng.poisson(cust["rate"] * (total - first))  # purchases the rest of the window holds
    more = np.minimum(k - 1, m)  # repeat purchases actually made
    who = np.repeat(np.arange(n), more)
    # First `more` of M sorted uniforms: spacings E_1.. over (their sum + Gamma(M - more + 1)).
    spacing = rng.exponential(1.0, len(who))
    cum = np.cumsum(spacing)
    cum -= _group_base(cum, more)
    rest = rng.gamma(m - more + 1.0)
    scale = (total - first) / (np.bincount(who, weights=spacing, minlength=n) + rest)
    at = first[who] + cum * scale[who]
    who = np.concatenate([np.arange(n), who])
    at = np.concatenate([first, at])
    day = np.searchsorted(cum_w, at, side="right")
    return who, np.minimum(day, len(cum_w) - 1), k <= m + 1


def _group_base(cum: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """For a cumulative sum over concatenated groups: the sum before each element's group."""
    ends = np.cumsum(sizes)
    before = np.concatenate([[0.0], cum])[ends - sizes]
    return np.repeat(before, sizes)


def _purchases(rng: np.random.Generator, cust: dict, who: np.ndarray, day: np.ndarray) -> dict:
    """Channel and basket value of every purchase."""
    chan = np.where(rng.random(len(who)) < cust["online_share"][who], ONLINE, STORE)
    amount = cust["basket_median"][who] * rng.lognormal(0.0, 0.6, len(who))
    amount *= np.where(chan == ONLINE, 1.1, 1.0)
    amount = np.round(np.clip(amount, 0.5, MAX_AMOUNT), 2)
    etype = np.full(len(who), PURCHASE)
    return {"who": who, "day": day, "type": etype, "chan": chan, "amount": amount}


def _add_returns(rng: np.random.Generator, cust: dict, ev: dict, n_days: int) -> dict:
    """Returns of some purchases, days later, whole or in part; none after the window."""
    who, chan = ev["who"], ev["chan"]
    share = np.take(RETURN_SHARE, cust["segment"][who]) * np.where(chan == ONLINE, 2.0, 1.0)
    hit = np.flatnonzero(rng.random(len(who)) < share)
    day = ev["day"][hit] + rng.geometric(0.12, len(hit))
    part = np.where(rng.random(len(hit)) < 0.5, 1.0, rng.uniform(0.2, 0.9, len(hit)))
    ret_chan = np.where((chan[hit] == ONLINE) & (rng.random(len(hit)) < 0.6), ONLINE, STORE)
    ok = day < n_days
    ret = {
        "who": who[hit][ok],
        "day": day[ok],
        "type": np.full(int(ok.sum()), RETURN),
        "chan": ret_chan[ok],
        "amount": np.maximum(0.01, np.round(ev["amount"][hit][ok] * part[ok], 2)),
    }
    return {k: np.concatenate([ev[k], ret[k]]) for k in ev}


def _cap(ev: dict, max_length: int) -> dict:
    """Sort by customer, day, type, channel; keep each journey's first max_length events."""
    order = np.lexsort((ev["amount"], ev["chan"], ev["type"], ev["day"], ev["who"]))
    ev = {k: v[order] for k, v in ev.items()}
    who = ev["who"]
    starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
    pos = np.arange(len(who)) - np.repeat(starts, np.diff(np.r_[starts, len(who)]))
    keep = pos < max_length
    return {k: v[keep] for k, v in ev.items()}


def _untie(ev: dict) -> dict:
    """Add 0.01 per earlier twin to rows identical in customer, day, type, channel, amount."""
    keys = ("who", "day", "type", "chan", "amount")
    for _ in range(5):  # a bumped amount can meet another row; settle in a few passes
        frame = pd.DataFrame({k: ev[k] for k in keys})
        rank = frame.groupby(list(keys), sort=False).cumcount().to_numpy()
        if not rank.any():
            break
        ev["amount"] = np.round(ev["amount"] + 0.01 * rank, 2)
    return ev


def _frames(ev: dict, cust: dict, dropped: np.ndarray, schema: Schema):
    """The raw event table and the ground truth, customers in id order."""
    n = len(cust["rate"])
    ids = np.array([f"r{i:0{max(5, len(str(n - 1)))}d}" for i in range(n)], dtype=object)
    stores = np.array([f"s{i + 1:02d}" for i in range(4 * STORES_PER_REGION)], dtype=object)
    who = ev["who"]
    ctx = {
        "segment": np.asarray(SEGMENTS, dtype=object)[cust["segment"]],
        "region": np.asarray(REGIONS, dtype=object)[cust["region"]],
    }
    events = pd.DataFrame(
        {
            schema.sequence_key: ids[who],
            schema.sequence_index: schema.time_start + pd.to_timedelta(ev["day"], unit="D"),
            "channel": np.asarray(CHANNELS, dtype=object)[ev["chan"]],
            "event_type": np.asarray(EVENT_TYPES, dtype=object)[ev["type"]],
            "amount": ev["amount"].astype(np.float64),
            "store_id": stores[cust["home_store"]][who],
            **{c: v[who] for c, v in ctx.items()},
        }
    )
    buy = ev["type"] == PURCHASE
    n_buy = np.bincount(who[buy], minlength=n)
    n_events = np.bincount(who, minlength=n)
    day = lambda x: schema.time_start + pd.to_timedelta(x, unit="D")  # noqa: E731
    truth = pd.DataFrame(
        {
            "customer_id": ids.astype(str),
            **ctx,
            "home_store": stores[cust["home_store"]].astype(str),
            **{c: cust[c] for c in LATENTS},
            "first_purchase_at": day(np.minimum.reduceat(ev["day"], _starts(who))),
            "last_event_at": day(np.maximum.reduceat(ev["day"], _starts(who))),
            "n_events": n_events,
            "n_purchases": n_buy,
            "n_returns": n_events - n_buy,
            "total_amount": np.round(np.bincount(who[buy], ev["amount"][buy], minlength=n), 2),
            "dropped_out": dropped,
            "capped": n_events >= schema.max_length,
        }
    )
    return events, truth


def _starts(who: np.ndarray) -> np.ndarray:
    """Index of the first row of each customer in a log sorted by customer (all present)."""
    return np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
