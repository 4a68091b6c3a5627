"""The detector's giveaways in plain words.

    giveaway_sentence({"feature": "share_gap_same_day", "auc": 0.93,
                       "real_mean": 0.12, "synthetic_mean": 0.48})
    # 'share of events on the same day as the one before: real 12%, synthetic 48%'

`journeys.detection.giveaways` names the journey features (`journeys.features`) that
tell synthetic journeys from real ones on their own, with their mean on each side. A
feature name such as `first_channel=email` or `gap_median` (log seconds) means little to
a product team; each pattern below says what the feature counts, and the means are shown
in the feature's own unit: a share as a percentage, a gap as a duration.
"""

from __future__ import annotations

import math
import re

# (pattern, words, unit): the first pattern matching the feature name wins; groups fill
# the words. Units: "pct" share, "dur" log1p seconds, "num" a plain number.
PATTERNS = (
    (
        r"gap_before_(\w+)=(.+)",
        "time before events with {0} '{1}' (log seconds; -1 where a journey has none)",
        "num",
    ),
    (
        r"weekend_of_(\w+)=(.+)",
        "share of events with {0} '{1}' at the weekend (-1 where a journey has none)",
        "num",
    ),
    (
        r"wave_of_(\w+)=(.+)",
        "share of events with {0} '{1}' on dates crowded with them (3 times an even "
        "spread; -1 where a journey has none)",
        "num",
    ),
    (r"first_weekday=(\w+)", "journeys starting on a {0}", "pct"),
    (r"share_weekday=(\w+)", "share of events on a {0}", "pct"),
    (r"n_(\w+)=(.+)", "events with {0} '{1}' per journey", "num"),
    (r"share_(\w+)=(.+)", "share of a journey's events with {0} '{1}'", "pct"),
    (r"first_(\w+)=(.+)", "journeys whose first event has {0} '{1}'", "pct"),
    (r"last_(\w+)=(.+)", "journeys whose last event has {0} '{1}'", "pct"),
    (r"distinct_(\w+)", "different {0} values per journey", "num"),
    (r"gap_(mean|median|max|min)", "{0} time between events", "dur"),
    (r"gap_std", "spread of the time between events (log scale)", "num"),
    (r"share_gap_zero", "share of events at the same second as the one before", "pct"),
    (r"share_gap_same_day", "share of events on the same day as the one before", "pct"),
    (r"active_days", "days with activity per journey", "num"),
    (r"events_per_active_day", "events per day of activity", "num"),
    (r"first_day", "day of the first event (days from the start of the data)", "num"),
    (r"last_day", "day of the last event (days from the start of the data)", "num"),
    (r"duration_days", "days from a journey's first to its last event", "num"),
    (r"recency_days", "days from a journey's last event to the end of the data", "num"),
    (r"first_hour", "hour of day of the first event", "num"),
    (r"hour_mean", "mean hour of day of the events", "num"),
    (r"hour_std", "spread of the hours of day of the events", "num"),
    (r"share_midnight", "share of events at exactly midnight", "pct"),
    (r"share_whole_minute", "share of events on a whole minute", "pct"),
    (r"share_whole_hour", "share of events on a whole hour", "pct"),
    (r"share_weekend", "share of events at the weekend", "pct"),
    (r"length", "events per journey", "num"),
    (r"log_length", "events per journey (log scale)", "num"),
    (r"(\w+)_(sum|mean|max|min|std)", "{1} {0} per journey", "num"),
    (r"(\w+)_n_positive", "events with a positive {0} per journey", "num"),
    (r"(\w+)_distinct_share", "share of distinct {0} values in a journey", "pct"),
    (r"(\w+)_share_whole", "share of whole-number {0} values", "pct"),
    (
        r"(\w+)_whole_level",
        "size of whole-number {0} values against all (log scale; 0 where none is whole)",
        "num",
    ),
    (r"ctx_(\w+)=(.+)", "customers with {0} '{1}'", "pct"),
    (r"ctx_(\w+)", "the customer's {0}", "num"),
)


def describe(feature: str) -> tuple[str, str]:
    """(what the feature counts, in words; its unit: pct | dur | num). An unknown name is
    returned as it is, as a plain number."""
    for pattern, words, unit in PATTERNS:
        m = re.fullmatch(pattern, feature)
        if m:
            return words.format(*m.groups()), unit
    return feature, "num"


def duration(seconds: float) -> str:
    """A duration as people say it: 45 s, 12 min, 3.5 h, 2.1 days."""
    for size, unit in ((86_400, "days"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.2g} {unit}"
    return f"{seconds:.2g} s"


def shown(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "–"
    if unit == "pct":
        return f"{100 * value:.0f}%"
    if unit == "dur":
        return duration(math.expm1(value))  # journeys.features keeps gaps as log1p seconds
    return f"{value:.3g}"


def giveaway_sentence(row: dict) -> str:
    """One row of `journeys.detection.giveaways` as a sentence (module docstring)."""
    words, unit = describe(str(row["feature"]))
    real, synth = shown(row.get("real_mean"), unit), shown(row.get("synthetic_mean"), unit)
    return f"{words}: real {real}, synthetic {synth}"
