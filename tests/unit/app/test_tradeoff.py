"""The privacy-utility trade-off: the frame built from the runs table (one row per fit,
its samples' measures averaged), its no-DP reference, and the chart drawn from them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from journeylab.app.results import TRADEOFF, tradeoff, tradeoff_reference
from journeylab.app.store import BASE_COLUMNS
from journeylab.evaluation import charts

INF, NAN = math.inf, math.nan
FP = "f" * 16


def run(run_id, kind, *, generator=None, epsilon=NAN, fit=None, status="FINISHED", **metrics):
    row = {
        "run_id": run_id,
        "name": f"{kind}-{run_id}",
        "dataset": "simulate",
        "kind": kind,
        "generator": generator,
        "epsilon": epsilon,
        "status": status,
        "fingerprint": FP,
        "fit_run_id": fit,
    }
    return {**row, **{f"metrics.{k}": v for k, v in metrics.items()}}


def compare(run_id, fit, det, length):
    return run(run_id, "compare", fit=fit, tvd_1gram=0.1, detection_auc=det, length_w1_ratio=length)


@pytest.fixture
def runs() -> pd.DataFrame:
    tstr = {"churn.logreg.TSTR.auc_ratio": 0.8, "purchase.logreg.TSTR.auc_ratio": 0.6}
    rows = [
        run("v8", "fit", generator="vae", epsilon=8.0),
        run("v1", "fit", generator="vae", epsilon=1.0),
        run("vn", "fit", generator="vae", epsilon=INF),
        run("gn", "fit", generator="gan", epsilon=INF),
        run("unknown", "fit", generator="vae"),  # epsilon unknown: left out
        run("broken", "fit", generator="vae", epsilon=2.0, status="FAILED"),
        run("unmeasured", "fit", generator="vae", epsilon=4.0),  # no sample measured
        compare("c1", "v8", 0.9, 3.0),
        compare("c2", "v8", 0.7, 1.0),  # two comparisons of one fit: their mean
        compare("c3", "v1", 0.95, 5.0),
        compare("c4", "vn", 0.6, 1.2),
        compare("c5", "gn", 0.8, 2.0),
        compare("c6", "unknown", 0.5, 1.0),
        compare("c7", "broken", 0.5, 1.0),
        run(
            "e1",
            "evaluate",
            fit="v8",
            tvd_1gram=0.1,
            detection_auc=0.8,
            length_w1_ratio=2.0,
            **tstr,
        ),
    ]
    return pd.DataFrame(rows)


def test_one_row_per_measured_fit_of_known_epsilon(runs):
    frame = tradeoff(runs, "sqlite:///x.db")
    assert list(frame.fit_run_id) == ["gn", "v1", "v8", "vn"]  # by generator, then epsilon
    v8 = frame.set_index("fit_run_id").loc["v8"]
    assert v8.detection_auc == pytest.approx((0.9 + 0.7 + 0.8) / 3)
    assert v8.length_w1_ratio == pytest.approx(2.0)
    assert v8.tstr_ratio == pytest.approx(0.7)  # the report's churn and purchase, averaged
    assert math.isnan(frame.set_index("fit_run_id").loc["v1"].tstr_ratio)  # not measured
    assert set(TRADEOFF) <= set(frame.columns) and v8.epsilon == 8.0


def test_no_dp_reference_is_the_same_generator_else_every_other(runs):
    frame = tradeoff(runs, "sqlite:///x.db")
    label, ref = tradeoff_reference(frame, fingerprint=FP, generator="vae")
    assert label == "no DP (vae)" and ref["detection_auc"] == pytest.approx(0.6)
    label, ref = tradeoff_reference(frame.drop(index=3), fingerprint=FP, generator="vae")
    assert label == "no DP (gan)" and ref["length_w1_ratio"] == pytest.approx(2.0)
    assert tradeoff_reference(frame, fingerprint="other", generator="vae")[0] == ""


def test_an_empty_store_gives_an_empty_frame_and_chart():
    frame = tradeoff(pd.DataFrame(columns=BASE_COLUMNS), "sqlite:///x.db")  # as store.runs
    assert frame.empty and set(TRADEOFF) <= set(frame.columns)
    figure = charts.tradeoff(frame, measures={k: (k, v) for k, v in TRADEOFF.items()}, title="t")
    assert figure.layout.annotations[0].text == "no measured runs"


def test_chart_draws_each_measure_with_reference_ideal_and_cap(runs):
    frame = tradeoff(runs, "sqlite:///x.db")
    points = frame[(frame.generator == "vae") & np.isfinite(frame.epsilon)]
    reference = tradeoff_reference(frame, fingerprint=FP, generator="vae")
    measures = {k: (k, ideal) for k, ideal in TRADEOFF.items()}
    fig = charts.tradeoff(points, measures=measures, reference=reference, cap=20.0, title="t")
    by_name: dict[str, list] = {}
    for t in fig.data:
        by_name.setdefault(t.name, []).append(t)
    assert set(by_name) == {"DP fits", "no DP (vae)", "real data (ideal)", "cap ε=20"}
    assert {k: len(v) for k, v in by_name.items() if k != "no DP (vae)"} == dict.fromkeys(
        ["DP fits", "real data (ideal)", "cap ε=20"], 3
    )  # one per panel; no reference where the no-DP fit was not measured (TSTR)
    assert [t.y[0] for t in by_name["no DP (vae)"]] == pytest.approx([0.6, 1.2])
    dp = by_name["DP fits"][0]
    assert list(dp.x) == [1.0, 8.0] and dp.y[1] == pytest.approx(0.8)
    assert {t.x[0] for t in by_name["cap ε=20"]} == {20.0}
    assert [t.y[0] for t in by_name["real data (ideal)"]] == [0.5, 1.0, 1.0]
