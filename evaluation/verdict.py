"""The scorecard: fidelity, utility and privacy, each as a verdict in plain words.

    card = scorecard(detection_auc=0.997, ref_detection_auc=0.51, tstr_ratio=0.82, epsilon=8)
    card[0].words      # 'trivially detectable'
    card[0].figures    # (Figure('Detection AUC', '0.997', ...), Figure('Real-vs-real ...', ...))
    scorecard_of_metrics(flat)      # from MLflow metric names (a run, `flat_metrics(report)`)

A verdict is measured against what real data scores, not against an absolute ideal:
- fidelity: the detector's advantage over the real-vs-real reference (two halves of the
  real data, which no detector should tell apart): (AUC - base) / (1 - base), where base
  is the reference AUC (at least 0.5). 0 means "as hard to tell as fresh real data".
- utility: a predictor trained on the synthetic log and tested on real customers, as a
  share of the same predictor trained on real data (TSTR / TRTR ROC AUC, averaged).
- privacy: the epsilon of the generator's customer-level DP guarantee, or none.
Each verdict has a level (0 best .. 3 worst; None: not measured), its words, the two or
three figures behind it with friendly names, and one sentence on what it means.
Pure functions: no I/O, no Streamlit; the app, the HTML report and the CLI share them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

# (upper bound, words): the first bound the measure stays under gives the verdict.
FIDELITY_LEVELS = (
    (0.1, "hard to tell from real data"),
    (0.3, "close to real data"),
    (0.7, "clearly different from real data"),
    (math.inf, "trivially detectable"),
)
# (lower bound, words) on TSTR / TRTR: the first bound the ratio reaches.
UTILITY_LEVELS = (
    (0.95, "as useful as real data"),
    (0.85, "nearly as useful as real data"),
    (0.7, "useful, with a clear loss"),
    (-math.inf, "much less useful than real data"),
)
# (upper bound, words) on epsilon.
PRIVACY_LEVELS = (
    (1.0, "strong guarantee"),
    (10.0, "moderate guarantee"),
    (math.inf, "weak guarantee"),
)
NO_DP = "no formal privacy guarantee"
NOT_MEASURED = "not measured"
UNKNOWN_ORIGIN = "unknown: no run says which generator made this log"

# metric key -> (friendly name, one sentence a non-expert can read)
METRICS = {
    "detection_auc": (
        "Detection AUC",
        "How well a classifier trained to tell synthetic journeys from real ones "
        "succeeds: 0.5 means it cannot, 1.0 means it always can.",
    ),
    "ref_detection_auc": (
        "Real-vs-real detection AUC",
        "The same classifier on two sets of real customers: what 'cannot tell them "
        "apart' looks like on this dataset.",
    ),
    "detection_advantage": (
        "Detector advantage",
        "How far the detector gets beyond the real-vs-real reference, from 0 (no further) "
        "to 1 (it always tells).",
    ),
    "tstr_ratio": (
        "Synthetic-trained / real-trained AUC",
        "A prediction model trained on synthetic journeys and tested on real customers, "
        "as a share of the same model trained on real journeys: 1.0 is as good as real data.",
    ),
    "epsilon": (
        "Privacy budget ε",
        "Bounds how much any one customer can change what the generator releases: "
        "smaller is stronger; without ε there is no formal guarantee.",
    ),
    "delta": (
        "δ",
        "The small probability with which the ε bound may fail; it should be below "
        "one over the number of customers.",
    ),
    "length_w1_ratio": (
        "Journey length distance ratio",
        "How far synthetic journey lengths are from real ones (Wasserstein-1), divided by "
        "how far two sets of real customers are: 1.0 is as close as fresh real data.",
    ),
    "tvd_3gram": (
        "3-step path difference",
        "Share of three-event paths that would have to change for the synthetic paths to "
        "match the real ones: 0 is identical.",
    ),
}
MEANING = {
    "fidelity": "Can a classifier tell synthetic journeys from real ones, compared with "
    "how well it tells two sets of real customers apart?",
    "utility": "Does a prediction model trained on synthetic journeys work on real "
    "customers as well as one trained on real journeys?",
    "privacy": "How much can any one customer's data change what the generator releases?",
}
TSTR_RE = re.compile(r"\.TSTR(?:\.[^.]+)?\.auc_ratio$")


@dataclass(frozen=True)
class Figure:
    """One number behind a verdict: a friendly name, the value as text, what it means."""

    name: str
    value: str
    explain: str


@dataclass(frozen=True)
class Verdict:
    aspect: str  # fidelity | utility | privacy
    level: int | None  # 0 best .. 3 worst; None: not measured
    words: str
    figures: tuple[Figure, ...]
    meaning: str  # the question the verdict answers


def figure(key: str, value: float | None, spec: str = ".3f") -> Figure:
    """`value` under the friendly name of metric `key`, formatted with `spec` (AUCs and
    ratios to three decimals, so 0.9996 reads 1.000, not 1; epsilon to 3 figures)."""
    name, explain = METRICS[key]
    shown = "–" if value is None or math.isnan(value) else format(value, spec)
    return Figure(name, shown, explain)


def _missing(x: float | None) -> bool:
    return x is None or math.isnan(x)


def detection_advantage(detection_auc: float, ref_detection_auc: float | None = None) -> float:
    """(AUC - base) / (1 - base) clipped to [0, 1]; base: the real-vs-real AUC, >= 0.5."""
    base = 0.5 if _missing(ref_detection_auc) else min(max(0.5, ref_detection_auc), 0.99)
    return min(1.0, max(0.0, (detection_auc - base) / (1.0 - base)))


def fidelity_verdict(detection_auc: float | None, ref_detection_auc: float | None) -> Verdict:
    if _missing(detection_auc):
        return Verdict("fidelity", None, NOT_MEASURED, (), MEANING["fidelity"])
    adv = detection_advantage(detection_auc, ref_detection_auc)
    level = next(i for i, (bound, _) in enumerate(FIDELITY_LEVELS) if adv < bound)
    figures = (
        figure("detection_auc", detection_auc),
        figure("ref_detection_auc", ref_detection_auc),
        figure("detection_advantage", adv, ".2f"),
    )
    return Verdict("fidelity", level, FIDELITY_LEVELS[level][1], figures, MEANING["fidelity"])


def utility_verdict(tstr_ratio: float | None) -> Verdict:
    if _missing(tstr_ratio):
        return Verdict("utility", None, NOT_MEASURED, (), MEANING["utility"])
    level = next(i for i, (bound, _) in enumerate(UTILITY_LEVELS) if tstr_ratio >= bound)
    words = UTILITY_LEVELS[level][1]
    return Verdict("utility", level, words, (figure("tstr_ratio", tstr_ratio),), MEANING["utility"])


def privacy_verdict(epsilon: float | None, delta: float | None = None) -> Verdict:
    """None or infinite epsilon: no DP (the worst level, 3). NaN: the origin of the log
    is unknown (a file from elsewhere), so is its guarantee (level None)."""
    if epsilon is not None and math.isnan(epsilon):
        return Verdict("privacy", None, UNKNOWN_ORIGIN, (), MEANING["privacy"])
    if epsilon is None or math.isinf(epsilon):
        none = Figure(METRICS["epsilon"][0], "none", METRICS["epsilon"][1])
        return Verdict("privacy", 3, NO_DP, (none,), MEANING["privacy"])
    level = next(i for i, (bound, _) in enumerate(PRIVACY_LEVELS) if epsilon <= bound)
    figures = (figure("epsilon", epsilon, ".3g"),)
    if not _missing(delta):
        figures += (figure("delta", delta, ".2g"),)
    return Verdict("privacy", level, PRIVACY_LEVELS[level][1], figures, MEANING["privacy"])


def scorecard(
    *,
    detection_auc: float | None = None,
    ref_detection_auc: float | None = None,
    tstr_ratio: float | None = None,
    epsilon: float | None = None,
    delta: float | None = None,
) -> list[Verdict]:
    """[fidelity, utility, privacy] verdicts (module docstring)."""
    return [
        fidelity_verdict(detection_auc, ref_detection_auc),
        utility_verdict(tstr_ratio),
        privacy_verdict(epsilon, delta),
    ]


def mean_tstr_ratio(metrics: Mapping[str, float]) -> float | None:
    """Mean TSTR/TRTR AUC ratio over `<task>.<model>.TSTR[.<name>].auc_ratio` keys."""
    values = [float(v) for k, v in metrics.items() if TSTR_RE.search(k) and not _missing(v)]
    return sum(values) / len(values) if values else None


def scorecard_of_metrics(
    metrics: Mapping[str, float], *, epsilon: float | None = None, delta: float | None = None
) -> list[Verdict]:
    """The scorecard from flat metric names (an MLflow run's, or `flat_metrics(report)`)."""
    return scorecard(
        detection_auc=metrics.get("detection_auc"),
        ref_detection_auc=metrics.get("ref_detection_auc"),
        tstr_ratio=mean_tstr_ratio(metrics),
        epsilon=epsilon,
        delta=delta,
    )
