"""Outcomes of a what-if run and the effect of its interventions, with an interval.

    cf = simulate_counterfactual(500, seed=0, interventions=[...])   # interventions.py
    effects(cf, since_day=60, within_days=30)
    #                  baseline  intervened  effect   se  ci_low  ci_high    n
    # purchase_within      0.43        0.60    0.17 ...

Paired arms (common random numbers) give the standard error from the per-customer
differences, which are zero for every customer the intervention does not reach;
that is where their variance reduction over independent arms comes from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import ndtri

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.simulate import SEGMENTS

if TYPE_CHECKING:
    from journeylab.journeys.interventions import Counterfactual

OUTCOMES = ("purchase_within", "churned", "spend", "purchases")
# what a log alone shows (a model's journeys have no ground truth): `lapsed` stands in
# for churn, the others are read from the purchase events as `outcomes` reads the truth
LOG_OUTCOMES = ("purchase_within", "lapsed", "spend", "purchases")


def outcomes(
    log: EventLog, truth: pd.DataFrame, *, since_day: int = 0, within_days: int = 30
) -> pd.DataFrame:
    """Per customer (index: customer id, the truth's order), as floats:

    purchase_within: 1 if the customer buys in [since_day, since_day + within_days)
    days from the window's start, else 0; churned: 1 if the customer churned in the
    window; spend: total amount; purchases: number of purchases.
    """
    key, time = log.schema.sequence_key, log.schema.sequence_index
    t0 = log.schema.time_start + pd.Timedelta(days=since_day)
    df = log.df
    hit = (df["event_type"] == "purchase") & (df[time] >= t0)
    hit &= df[time] < t0 + pd.Timedelta(days=within_days)
    ids = truth["customer_id"]
    out = {
        "purchase_within": ids.isin(df.loc[hit, key].unique()),
        "churned": truth["churned"],
        "spend": truth["total_amount"],
        "purchases": truth["n_purchases"],
    }
    return pd.DataFrame(
        {k: np.asarray(v, dtype=float) for k, v in out.items()}, index=ids.to_numpy()
    )


def log_outcomes(
    log: EventLog,
    ids,
    *,
    since_day: int = 0,
    within_days: int = 30,
    purchase: tuple[str, str] = ("event_type", "purchase"),
    amount: str = "amount",
) -> pd.DataFrame:
    """Per customer of `ids` (index, in that order), from the events alone, as floats:

    purchase_within as in `outcomes`; lapsed: 1 if the customer has no event at or
    after day since_day + within_days (a log's stand-in for churn); spend: total
    `amount` of the purchase events; purchases: their number. A customer of `ids`
    without events in `log` gets 0, 1, 0, 0. `purchase` is (column, value)."""
    key, time = log.schema.sequence_key, log.schema.sequence_index
    df, ids = log.df, pd.Index(ids)
    t0 = log.schema.time_start + pd.Timedelta(days=since_day)
    t1 = t0 + pd.Timedelta(days=within_days)
    buy = df[purchase[0]] == purchase[1]
    per = df.assign(
        _hit=buy & (df[time] >= t0) & (df[time] < t1),
        _late=df[time] >= t1,
        _spend=df[amount].where(buy, 0.0),
        _buy=buy,
    ).groupby(key, sort=False)[["_hit", "_late", "_spend", "_buy"]]
    agg = per.sum().reindex(ids, fill_value=0).astype(float)
    return pd.DataFrame(
        {
            "purchase_within": (agg["_hit"] > 0).astype(float),
            "lapsed": (agg["_late"] == 0).astype(float),
            "spend": agg["_spend"],
            "purchases": agg["_buy"],
        },
        index=ids,
    )


def effect_table(
    base: pd.DataFrame, treated: pd.DataFrame, *, paired: bool = True, level: float = 0.95
) -> pd.DataFrame:
    """Effect per outcome column (treated minus base), as `effects` reports it; paired
    rows are matched on the index (the same customers in both)."""
    z = float(ndtri(0.5 + level / 2))
    rows = {k: _effect(base[k], treated[k], paired=paired, z=z) for k in base.columns}
    return pd.DataFrame.from_dict(rows, orient="index")


def effects(
    cf: Counterfactual,
    *,
    since_day: int = 0,
    within_days: int = 30,
    level: float = 0.95,
    segment: str | None = None,
) -> pd.DataFrame:
    """The effect of the interventions on each outcome, intervened minus baseline.

    One row per outcome (index: OUTCOMES): baseline and intervened means, effect,
    its standard error se, the `level` normal interval ci_low..ci_high, and n.
    Paired arms take the se from the per-customer differences (common random
    numbers make them small); independent arms from the two variances (Welch).
    `segment` keeps the customers of one segment (as each arm's truth says).
    """
    _check_effect_args(since_day, within_days, level, segment)
    arms = []
    for log, truth in (cf.baseline, cf.intervened):
        keep = (
            np.ones(len(truth), dtype=bool)
            if segment is None
            else truth["segment"].eq(segment).to_numpy()
        )
        arms.append(outcomes(log, truth, since_day=since_day, within_days=within_days)[keep])
    return effect_table(arms[0][list(OUTCOMES)], arms[1], paired=cf.paired, level=level)


def _effect(base: pd.Series, treated: pd.Series, *, paired: bool, z: float) -> dict[str, float]:
    """Mean difference with its standard error and normal interval, over the customers
    the outcome is defined for (not NaN; in both arms when paired)."""
    if paired:
        both = base.notna() & treated.notna()
        base, treated = base[both], treated[both]
        diff = treated - base  # aligned on customer id
        se = diff.std(ddof=1) / np.sqrt(len(diff))
    else:
        base, treated = base.dropna(), treated.dropna()
        se = np.sqrt(base.var(ddof=1) / len(base) + treated.var(ddof=1) / len(treated))
    effect = treated.mean() - base.mean()
    return {
        "baseline": base.mean(),
        "intervened": treated.mean(),
        "effect": effect,
        "se": se,
        "ci_low": effect - z * se,
        "ci_high": effect + z * se,
        "n": float(min(len(base), len(treated))),
    }


def _check_effect_args(since_day, within_days, level, segment) -> None:
    problems = []
    if isinstance(since_day, bool) or not isinstance(since_day, (int, np.integer)) or since_day < 0:
        problems.append(f"since_day {since_day!r} must be a whole number of days >= 0, e.g. 60")
    if (
        isinstance(within_days, bool)
        or not isinstance(within_days, (int, np.integer))
        or within_days < 1
    ):
        problems.append(f"within_days {within_days!r} must be a whole number of days >= 1, e.g. 30")
    if not isinstance(level, float) or not 0 < level < 1:
        problems.append(f"level {level!r} must be a probability in (0, 1), e.g. 0.95")
    if segment is not None and segment not in SEGMENTS:
        problems.append(f"segment {segment!r} is unknown; choose one of {list(SEGMENTS)}")
    if problems:
        raise ConfigError("effects: " + "; ".join(problems))


def effects_markdown(table: pd.DataFrame, columns=("baseline", "intervened", "effect")) -> str:
    """An effect table as a Markdown table: the `columns`, then the interval."""
    head = ["outcome", *columns, "CI"]
    rows = [
        [str(k), *(f"{r[c]:.4g}" for c in columns), f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]"]
        for k, r in table.iterrows()
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
