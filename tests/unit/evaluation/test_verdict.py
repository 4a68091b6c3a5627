"""The scorecard's thresholds: each verdict at and around its bounds, and its figures."""

from __future__ import annotations

import math

import pytest

from journeylab.evaluation.verdict import (
    NO_DP,
    NOT_MEASURED,
    UNKNOWN_ORIGIN,
    detection_advantage,
    fidelity_verdict,
    mean_tstr_ratio,
    privacy_verdict,
    scorecard,
    scorecard_of_metrics,
    utility_verdict,
)


@pytest.mark.parametrize(
    ("auc", "ref", "words"),
    [
        (0.52, 0.50, "hard to tell from real data"),
        (0.549, 0.50, "hard to tell from real data"),  # advantage 0.098 < 0.1
        (0.551, 0.50, "close to real data"),
        (0.64, 0.50, "close to real data"),
        (0.66, 0.50, "clearly different from real data"),
        (0.84, 0.50, "clearly different from real data"),
        (0.86, 0.50, "trivially detectable"),
        (0.997, 0.51, "trivially detectable"),  # the demo's log of issue 17
    ],
)
def test_fidelity_thresholds(auc, ref, words):
    assert fidelity_verdict(auc, ref).words == words


def test_fidelity_is_measured_against_the_real_reference():
    """0.6 is 'close' when real data scores 0.5, and as good as real when it scores 0.6."""
    assert fidelity_verdict(0.6, 0.5).level == 1
    assert fidelity_verdict(0.6, 0.6).level == 0
    assert detection_advantage(0.4, 0.5) == 0.0  # below chance is no advantage
    assert detection_advantage(0.75, None) == pytest.approx(0.5)  # no reference: base 0.5
    assert detection_advantage(1.0, 1.0) == 1.0  # a degenerate reference does not divide by 0


def test_fidelity_figures_have_friendly_names():
    v = fidelity_verdict(0.997, 0.512)
    assert [f.name for f in v.figures] == [
        "Detection AUC",
        "Real-vs-real detection AUC",
        "Detector advantage",
    ]
    assert [f.value for f in v.figures] == ["0.997", "0.512", "0.99"]
    assert fidelity_verdict(0.9996, 0.5).figures[0].value == "1.000"  # not "1"
    assert all(f.explain.endswith(".") for f in v.figures)


@pytest.mark.parametrize(
    ("ratio", "words"),
    [
        (1.02, "as useful as real data"),
        (0.95, "as useful as real data"),
        (0.949, "nearly as useful as real data"),
        (0.85, "nearly as useful as real data"),
        (0.84, "useful, with a clear loss"),
        (0.70, "useful, with a clear loss"),
        (0.69, "much less useful than real data"),
    ],
)
def test_utility_thresholds(ratio, words):
    assert utility_verdict(ratio).words == words


@pytest.mark.parametrize(
    ("eps", "words", "level"),
    [
        (0.5, "strong guarantee", 0),
        (1.0, "strong guarantee", 0),
        (1.01, "moderate guarantee", 1),
        (8.0, "moderate guarantee", 1),
        (10.0, "moderate guarantee", 1),
        (12.0, "weak guarantee", 2),
        (math.inf, NO_DP, 3),
        (None, NO_DP, 3),
        (math.nan, UNKNOWN_ORIGIN, None),  # a log of unknown origin: its guarantee too
    ],
)
def test_privacy_thresholds(eps, words, level):
    v = privacy_verdict(eps)
    assert (v.words, v.level) == (words, level)


def test_privacy_figures_round_epsilon():
    v = privacy_verdict(7.999943, 1e-5)
    assert [(f.name, f.value) for f in v.figures] == [("Privacy budget ε", "8"), ("δ", "1e-05")]


def test_missing_measures_say_so():
    card = scorecard()
    assert [v.aspect for v in card] == ["fidelity", "utility", "privacy"]
    assert [v.words for v in card] == [NOT_MEASURED, NOT_MEASURED, NO_DP]
    assert card[0].level is None and card[0].figures == ()
    assert fidelity_verdict(math.nan, 0.5).words == NOT_MEASURED


def test_scorecard_of_metrics_reads_report_and_utility_run_names():
    metrics = {
        "detection_auc": 0.7,
        "ref_detection_auc": 0.5,
        "churn.logreg.TSTR.auc_ratio": 0.9,  # evaluate's report
        "purchase.gbm.TSTR.syn_gan.auc_ratio": 0.8,  # `predict utility` with a named log
        "churn.logreg.TRTR.auc_ratio": 1.0,  # not a TSTR figure
        "churn.logreg.augmented.syn_gan.auc_ratio": 1.3,
    }
    assert mean_tstr_ratio(metrics) == pytest.approx(0.85)
    fid, util, priv = scorecard_of_metrics(metrics, epsilon=4.0)
    assert fid.words == "clearly different from real data"
    assert util.words == "nearly as useful as real data"
    assert priv.words == "moderate guarantee"
    assert mean_tstr_ratio({"x": 1.0}) is None
