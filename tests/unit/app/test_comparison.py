"""The Runs page's comparison: scores as ratios to the real-vs-real reference of the same
measurement, a fit as the mean of its samples' measurements, and the presets that pick
two generators or two epsilons."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from journeylab.app import comparison as cmp

INF, NAN = math.inf, math.nan
URI = "sqlite:///x.db"


def run(run_id, kind, *, generator=None, epsilon=NAN, fit=None, day=1, **metrics):
    row = {
        "run_id": run_id,
        "name": f"{kind}-{run_id}",
        "dataset": "simulate",
        "kind": kind,
        "generator": generator,
        "epsilon": epsilon,
        "status": "FINISHED",
        "fingerprint": "f" * 16,
        "fit_run_id": fit,
        "start": pd.Timestamp(f"2026-01-{day:02d}"),
    }
    return {**row, **{f"metrics.{k}": v for k, v in metrics.items()}}


def compare(run_id, fit, *, tvd, ref_tvd, det=0.8, ref_det=0.5):
    return run(
        run_id, "compare", fit=fit, tvd_1gram=tvd, ref_tvd_1gram=ref_tvd,
        detection_auc=det, ref_detection_auc=ref_det,
    )  # fmt: skip


@pytest.fixture
def runs() -> pd.DataFrame:
    return pd.DataFrame(
        [
            run("v8", "fit", generator="vae", epsilon=8.0, day=3),
            run("v8old", "fit", generator="vae", epsilon=8.0, day=1),
            run("v1", "fit", generator="vae", epsilon=1.0, day=2),
            run("gn", "fit", generator="gan", epsilon=INF, day=2),
            run("raw", "fit", generator="par", epsilon=INF, day=4),  # never measured
            compare("c1", "v8", tvd=0.2, ref_tvd=0.05),
            compare("c2", "v8", tvd=0.1, ref_tvd=0.05, det=0.6),
            compare("c3", "v1", tvd=0.4, ref_tvd=0.05, det=1.0),
            compare("c4", "v8old", tvd=0.05, ref_tvd=0.05),
            compare("c5", "gn", tvd=0.0, ref_tvd=0.0),
            run("e1", "evaluate", fit="gn", **{"churn.logreg.TSTR.auc_ratio": 0.7}),
        ]
    )


def test_ratio_to_the_reference():
    assert cmp.ratio(0.2, 0.05) == pytest.approx(4.0)
    assert cmp.ratio(0.0, 0.0) == 1.0  # both perfect: as good as real data
    assert math.isnan(cmp.ratio(0.1, 0.0))  # nothing to measure against
    assert math.isnan(cmp.ratio(NAN, 0.1)) and math.isnan(cmp.ratio(0.1, NAN))


def test_a_run_shows_its_own_ratios_and_a_fit_the_mean_of_its_samples(runs):
    frame = cmp.reference_ratios(runs, URI, ["c1", "v8", "v1", "gn", "raw"])
    assert list(frame.columns) == ["c1", "v8", "v1", "gn", "raw"]
    mix, det, util = "Event mix difference", "Detection AUC", cmp.UTILITY
    assert frame.at[mix, "c1"] == pytest.approx(4.0)
    assert frame.at[mix, "v8"] == pytest.approx((4.0 + 2.0) / 2)  # c1, c2
    assert frame.at[det, "v8"] == pytest.approx((1.6 + 1.2) / 2)
    assert frame.at[mix, "v1"] == pytest.approx(8.0)
    assert frame.at[mix, "gn"] == 1.0 and frame.at[util, "gn"] == pytest.approx(0.7)
    assert frame["raw"].isna().all()  # not measured: no bars, said so on the page
    assert "3-step path difference" not in frame.index  # nobody measured it


def test_metric_names_with_a_prefix_are_read_too():
    df = pd.DataFrame(
        [run("r", "evaluate", **{"fidelity.tvd_3gram": 0.3, "fidelity.ref_tvd_3gram": 0.1})]
    )
    frame = cmp.reference_ratios(df, URI, ["r"])
    assert frame.at["3-step path difference", "r"] == pytest.approx(3.0)


def test_ratio_chart_is_on_a_log_axis_with_the_real_data_line(runs):
    frame = cmp.reference_ratios(runs, URI, ["v8", "v1"])
    fig = cmp.ratio_bars(frame, {"v8": "vae ε=8", "v1": "vae ε=1"}, title="t")
    assert [t.name for t in fig.data] == ["vae ε=8", "vae ε=1"]
    assert fig.layout.xaxis.type == "log"
    lo, hi = fig.layout.xaxis.range
    assert 10**lo < min(1.0, frame.min().min()) and 10**hi > frame.max().max()  # all in view
    assert [s.x0 for s in fig.layout.shapes] == [1.0]
    for trace, rid in zip(fig.data, ["v8", "v1"], strict=True):  # bars from 1 to the ratio
        assert trace.base == 1.0
        assert list(trace.customdata) == pytest.approx(list(frame[rid]), nan_ok=True)
        assert [trace.base + x for x in trace.x] == pytest.approx(list(frame[rid]), nan_ok=True)


def test_presets_pick_the_newest_measured_fit(runs):
    fits = cmp.measured_fits(runs, URI)
    assert set(fits.fit_run_id) == {"v8", "v8old", "v1", "gn"}  # raw: never measured
    assert cmp.generator_choices(fits, "simulate") == ["gan", "vae"]
    assert cmp.epsilon_choices(fits, "simulate", "vae") == [1.0, 8.0]
    assert cmp.newest(fits, dataset="simulate", generator="vae", epsilon=8.0) == "v8"
    assert cmp.newest(fits, dataset="simulate", generator="vae") == "v8"
    assert cmp.newest(fits, dataset="simulate", generator="gan") == "gn"
    assert cmp.newest(fits, dataset="simulate", generator="vae", epsilon=4.0) is None
    assert fits.set_index("fit_run_id").label["gn"].startswith("gan no DP · fit-gn")
