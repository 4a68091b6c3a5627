"""Validity: how much of a synthetic log breaks what the real data shows.

    figures = validity(real, synthetic)
    figures["unseen_pair_share"]     # events whose channel/event-type pair real data never has
    figures["outside_window_share"]  # events before the first or after the last real event
    figures["cut_at_max_share"]      # journeys as long as the schema's max_length (cut there)
    figures["amount_out_of_range_share"]  # amounts outside the real [min, max] (if any)

Fidelity metrics say how close a log is on average; these say how many of its rows are
impossible: a direct-mail purchase in a dataset where purchases only happen in store is
a row no analyst should see. Every figure is a share in [0, 1] (0 is best), with the
same figure of the real log (`ref_...`) beside the journey-length one, where a real log
can score above 0 too. Pure functions of two EventLogs; computed on real data, so not
covered by the DP guarantee.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from journeylab.journeys.eventlog import EventLog

PAIR = ("channel", "event_type")
AMOUNT = "amount"
# key -> (friendly name, one sentence)
FIGURES = {
    "unseen_pair_share": (
        "Impossible channel/event pairs",
        "Share of synthetic events whose channel and event type never occur together in "
        "the real data (e.g. a purchase by direct mail).",
    ),
    "outside_window_share": (
        "Events outside the real time window",
        "Share of synthetic events before the first or after the last real event.",
    ),
    "cut_at_max_share": (
        "Journeys cut at the maximum length",
        "Share of synthetic journeys as long as the schema's maximum length: they were "
        "probably cut there rather than ended.",
    ),
    "amount_out_of_range_share": (
        "Amounts outside the real range",
        "Share of synthetic events whose amount lies outside the smallest and largest real amount.",
    ),
}


def _pairs(log: EventLog) -> pd.Series:
    return log.df[PAIR[0]].astype(str) + "|" + log.df[PAIR[1]].astype(str)


def unseen_pair_share(real: EventLog, synth: EventLog) -> float:
    """Share of `synth` events whose (channel, event_type) pair no `real` event has."""
    if synth.n_events == 0 or any(c not in synth.df for c in PAIR):
        return math.nan
    return float((~_pairs(synth).isin(set(_pairs(real)))).mean())


def outside_window_share(real: EventLog, synth: EventLog) -> float:
    """Share of `synth` events earlier than the first or later than the last real event."""
    if synth.n_events == 0:
        return math.nan
    t_real, t_syn = real.df[real.time], synth.df[synth.time]
    return float(((t_syn < t_real.min()) | (t_syn > t_real.max())).mean())


def cut_at_max_share(log: EventLog) -> float:
    """Share of journeys of `log` with as many events as its schema's max_length
    (NaN: the schema sets no maximum)."""
    max_length = log.schema.max_length
    if max_length is None or log.n_customers == 0:
        return math.nan
    return float((log.lengths().to_numpy() >= max_length).mean())


def amount_out_of_range_share(real: EventLog, synth: EventLog) -> float:
    """Share of `synth` events whose amount is outside the real [min, max] (NaN: no amount)."""
    if AMOUNT not in real.df or AMOUNT not in synth.df or synth.n_events == 0:
        return math.nan
    lo, hi = real.df[AMOUNT].min(), real.df[AMOUNT].max()
    values = synth.df[AMOUNT].to_numpy(float)
    return float(np.mean((values < lo) | (values > hi)))


def validity(real: EventLog, synth: EventLog) -> dict[str, float]:
    """Every figure of the module docstring (NaN where it does not apply), plus
    `ref_cut_at_max_share`: the real log's own share of journeys at max_length."""
    out = {
        "unseen_pair_share": unseen_pair_share(real, synth),
        "outside_window_share": outside_window_share(real, synth),
        "cut_at_max_share": cut_at_max_share(synth),
        "ref_cut_at_max_share": cut_at_max_share(real),
        "amount_out_of_range_share": amount_out_of_range_share(real, synth),
    }
    return out


def validity_rows(figures: dict[str, float]) -> list[dict[str, str]]:
    """[{"figure", "synthetic", "real", "meaning"}] for a page or a report: shares as
    percentages to one decimal, the real log's where there is one."""
    rows = []
    for key, (name, meaning) in FIGURES.items():
        value = figures.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        ref = figures.get(f"ref_{key}")
        rows.append({"figure": name, "synthetic": pct(value), "real": pct(ref), "meaning": meaning})
    return rows


def pct(x: float | None) -> str:
    """0.0612 -> '6.1%'; None/NaN -> '–' (no figure); 0 < x < 0.05% -> '<0.1%'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if 0 < x < 0.0005:
        return "<0.1%"
    return f"{100 * x:.1f}%"
