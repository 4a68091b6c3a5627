"""Token shares under DP: a bias on the logits of the channel and event-type heads.

    want, free, per_customer = targets(profile, schema)
    bias = calibrate(pilot, want, free=free, per_customer=per_customer)  # column -> bias

DP-SGD clips every customer's gradient to the same norm, and a class that few
customers' gradients push up is learnt last: on Complete Journey at epsilon 8 the VAE
never generated a campaign event (3.6% of real events, 63% of households have one), and
that alone told its journeys apart (AUC 0.81). Under DP the profile releases a `mix`
(generators/profile.py): each event type's and token's (`channel|event_type`) share of a
customer's events, summed over customers (each customer adds 1). `calibrate` draws a pilot
of journeys with the current bias, measures the same shares on them, and moves each
class's logit by the log ratio of target to pilot share, a few rounds (post-processing of
the model and the released tables: no further privacy cost). The model still decides
which customers and which steps get the rare classes; the bias only scales how often.
Without DP the targets are the calendar's exact token counts (shares of all events).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from journeylab.generators.calendar import Calendar
from journeylab.generators.profile import mix_known, mix_usable, share_sums
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema

ROUNDS = 8  # at most; fewer once every share is within TOLERANCE
TOLERANCE = 0.05  # |log(target / pilot share)|, for shares of at least 1%
CLIP = 8.0  # largest bias either way (a factor of e^8 on a class's odds)
FLOOR = 1e-4  # shares below this count as this (a class noise zeroed is pushed down, not to -inf)


def targets(profile, schema: Schema) -> tuple[dict, dict, bool]:
    """(want, free, per_customer): per token column (channel, event type) each declared
    value's target share; which values are left to the model (under DP, those whose noisy
    sum is under `mix_known`'s bar: their share is noise); and whether shares are of each
    customer's events averaged over customers (the profile's `mix`, under DP: a channel's
    share is the sum of its known tokens') rather than of all events (the exact calendar,
    without DP)."""
    if profile.mix:
        if not mix_usable(profile.mix):  # pure noise: the model knows better
            return {}, {}, True
        types, known = mix_known(profile.mix, "event_type")
        tokens, token_known = mix_known(profile.mix, "token")
        cal = Calendar.from_dict(profile.calendar)
        channel = pd.Series([t.split("|", 1)[0] for t in cal.tokens])
        values = [str(v) for v in schema.column("channel").values or []]
        by = pd.DataFrame({"sum": np.where(token_known, tokens, 0.0), "known": token_known})
        ch = by.groupby(channel.to_numpy()).sum().reindex(values, fill_value=0)
        want = {
            "event_type": np.where(known, types, 0.0) / max(types.sum(), 1.0),
            "channel": ch["sum"].to_numpy(float) / max(tokens.sum(), 1.0),
        }
        free = {"event_type": ~known, "channel": ch["known"].to_numpy() == 0}
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
    if not len(log.df):
        return np.zeros(len(values))
    if per_customer:
        return share_sums(log, log.df[col], values) / log.n_customers
    counts = log.df[col].astype(str).value_counts().reindex([str(v) for v in values], fill_value=0)
    return counts.to_numpy(float) / len(log.df)


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
    """Targets where the free values share what the known ones leave, in the model's
    proportions, but never less than half of what the model gives them (the known values'
    noisy shares can sum past 1: on a 30-customer training set the VAE stopped making
    purchases); the known values share the rest in their released proportions."""
    if free is None or not free.any():
        return want
    known = np.where(free, 0.0, want)
    if known.sum() <= 0:
        return got
    mine = got[free].sum()
    rest = min(max(1.0 - known.sum(), 0.5 * mine), 1.0)  # the free values' total
    spread = got / mine if mine > 0 else np.full(len(got), 1.0 / free.sum())
    return np.where(free, spread * rest, known / known.sum() * (1.0 - rest))
