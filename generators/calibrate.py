"""Token shares under DP: a bias on the logits of the channel and event-type heads.

    bias = calibrate(pilot, targets(profile, schema))   # {column: [classes] logit bias}

DP-SGD clips every customer's gradient to the same norm, and a class that few
customers' gradients push up is learnt last: on Complete Journey at epsilon 8 the VAE
never generated a campaign event (3.6% of real events, 63% of households have one), and
that alone told its journeys apart (AUC 0.81). The profile's calendar has already
released, per token (`channel|event_type`), each customer's share of its events (every
customer weighs 1 in all), so the shares the model should produce are known at no extra
cost. `calibrate` draws a pilot of journeys with the current bias, measures the same
per-customer shares on them, and moves each class's logit by the log ratio of target to
pilot share, a few rounds (post-processing of the model and the released tables: no
further privacy cost). The model still decides which customers and which steps get the
rare tokens; the bias only scales how often.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from journeylab.generators.calendar import Calendar
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema

ROUNDS = 8  # at most; fewer once every share is within TOLERANCE
TOLERANCE = 0.05  # |log(target / pilot share)|, for shares of at least 1%
CLIP = 8.0  # largest bias either way (a factor of e^8 on a class's odds)
# A value whose noisy sum is under this many noise deviations keeps the model's share. At
# 2, Complete Journey's campaign events (about 22 customers' worth on its 632 training
# customers, noise deviation 14 at epsilon 8) were left to a model that made none; at 1.5
# a value the data never has passes about 6% of the time (it is then remapped or rare).
FREE_BELOW = 1.5
FLOOR = 1e-4  # shares below this count as this (a class noise zeroed is pushed down, not to -inf)


def targets(profile, schema: Schema) -> tuple[dict, dict, bool]:
    """(want, free, per_customer): per token column (channel, event type) each declared
    value's target share; which values are left to the model (under DP, those whose noisy
    sum is under FREE_BELOW noise deviations: their share is noise); and whether shares are of each
    customer's events averaged over customers (the profile's `mix`, under DP) rather than
    of all events (the exact calendar, without DP)."""
    if profile.mix:
        mix = dict(profile.mix)
        sd = np.sqrt(2.0) * mix.pop("scale")[0]
        want, free = {}, {}
        for col, sums in mix.items():
            sums = np.asarray(sums, float)
            free[col] = sums <= FREE_BELOW * sd
            want[col] = np.where(free[col], 0.0, sums) / max(sums.sum(), 1.0)
        return want, free, True
    cal = Calendar.from_dict(profile.calendar)
    mass = np.maximum(cal.token_mass(), 0.0) * cal.valid_tokens()
    if not cal.tokens or mass.sum() <= 0:
        return {}, {}, False
    parts = pd.DataFrame([t.split("|", 1) for t in cal.tokens], columns=["channel", "event_type"])
    want = {}
    for col in ("channel", "event_type"):
        values = [str(v) for v in schema.column(col).values or []]
        share = pd.Series(mass).groupby(parts[col].to_numpy()).sum().reindex(values, fill_value=0)
        want[col] = share.to_numpy(float) / mass.sum()
    return want, {c: np.zeros(len(w), dtype=bool) for c, w in want.items()}, cal.scale > 0


def shares(log: EventLog, col: str, values: list, *, per_customer: bool = True) -> np.ndarray:
    """[values] each value's share of a customer's events averaged over customers
    (`per_customer`), or of all events."""
    df = log.df
    if not len(df):
        return np.zeros(len(values))
    counts = pd.crosstab(df[log.key], df[col].astype(str)).reindex(
        columns=[str(v) for v in values], fill_value=0
    )
    if not per_customer:
        return counts.sum().to_numpy(float) / counts.to_numpy().sum()
    return (counts.div(counts.sum(1), axis=0)).mean().to_numpy(float)


def calibrate(
    pilot: Callable[[dict[str, np.ndarray]], EventLog],
    want: dict[str, np.ndarray],
    *,
    free: dict[str, np.ndarray] | None = None,
    per_customer: bool = True,
    rounds: int = ROUNDS,
) -> dict[str, list[float]]:
    """Logit biases per column such that `pilot(bias)` (journeys drawn with them) shows
    each value's share (see `shares`) as in `want`; `free` values keep the model's
    relative shares of what the others leave."""
    bias = {col: np.zeros(len(t)) for col, t in want.items()}
    for _ in range(rounds):
        log = pilot(bias)
        worst = 0.0
        for col, t in want.items():
            values = log.schema.column(col).values or []
            got = shares(log, col, values, per_customer=per_customer)
            t = _with_free(t, got, None if free is None else free.get(col))
            step = np.log(np.maximum(t, FLOOR)) - np.log(np.maximum(got, FLOOR))
            worst = max(worst, float(np.abs(step[np.maximum(t, got) >= 0.01]).max(initial=0)))
            b = bias[col] + step
            bias[col] = np.clip(b - b.mean(), -CLIP, CLIP)  # softmax ignores a common shift
        if worst < TOLERANCE:
            break
    return {col: b.tolist() for col, b in bias.items()}


def _with_free(want: np.ndarray, got: np.ndarray, free: np.ndarray | None) -> np.ndarray:
    """want, with the free values sharing what the fixed ones leave as the model does."""
    if free is None or not free.any():
        return want
    fixed = want[~free].sum()
    if fixed >= 1:
        return np.where(free, 0.0, want / fixed)
    rest = got[free].sum()
    spread = got / rest if rest > 0 else np.full(len(got), 1.0 / free.sum())
    return np.where(free, spread * (1 - fixed), want)
