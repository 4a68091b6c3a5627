"""The Journeys page's segment view, the Runs page's comparison and the server's warm-up
under Streamlit's AppTest, against the small real store of tests/app_support.py (real
MLflow, runs made by the `journeylab` CLI)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import app_support as support
import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import journeylab.app as app

APP = str(Path(app.__file__).with_name("streamlit_app.py"))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    root, ids = support.shared_store(tmp_path_factory.getbasetemp())
    with support.inside(root):
        st.cache_data.clear()
        yield root, ids


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def open_tab(at: AppTest, key: str, label: str) -> None:
    at.session_state[key] = label
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]


def figures(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


# --- the segment view -------------------------------------------------------------------
def test_segment_view_puts_real_customers_next_to_conditioned_synthetic_ones(
    seeded, tmp_path, monkeypatch
):
    root, ids = seeded
    copy = support.clone(root, tmp_path / "segment")  # the CLI below logs a sample run
    for k, v in support.store_env(copy).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(copy)
    st.cache_data.clear()
    at = open_page("journeys")
    open_tab(at, "jn_tab", "Segment")
    assert set(at.selectbox(key="jn_seg_col").options) == {"segment", "region", "age_band"}
    at.selectbox(key="jn_seg_col").set_value("segment").run()
    at.selectbox(key="jn_seg_val").set_value("premium").run()
    assert not at.exception and not at.error
    holdout = pd.read_parquet(copy / "data" / "split" / "holdout.parquet")
    premium = holdout[holdout.segment == "premium"]
    lengths = premium.groupby("customer_id").size()
    shown = figures(at)[-8:]  # after the whole logs' figures at the top
    real, synth = shown[:4], shown[4:]
    assert real[0] == ("Journeys", f"{len(lengths):,}")
    assert real[1] == ("Median length", format(float(np.median(lengths)), ",.4g"))
    assert synth[0] == ("Journeys", f"{min(len(lengths), 500):,}")
    assert [c.key for c in at.get("plotly_chart")] == ["seg_Real", "seg_Synthetic"]
    # the caption's command writes the very journeys the page shows, all of them premium
    caption = " ".join(c.value for c in at.caption)
    command = re.search(r"`(journeylab sample [^`]+)`", caption).group(1)
    args = shlex.split(command)[1:]
    assert args[args.index("--run-id") + 1] == ids["gan"]  # the fit of the shown sample
    support.cli(*args)
    written = pd.read_parquet(copy / args[args.index("--out") + 1])
    assert (written.segment == "premium").all()
    median = float(np.median(written.groupby("customer_id").size()))
    assert synth[1][1] == format(median, ",.4g")
    assert "segment = premium" in caption


def test_segment_view_with_another_generator_and_segment(seeded):
    _, ids = seeded
    at = open_page("journeys")
    open_tab(at, "jn_tab", "Segment")
    at.selectbox(key="jn_seg_col").set_value("region").run()
    values = at.selectbox(key="jn_seg_val").options
    assert set(values) <= {"north", "south", "east", "west"} and values
    at.selectbox(key="jn_seg_fit").set_value(ids["vae"]).run()
    assert not at.exception and not at.error
    assert "vae ε=" in " ".join(c.value for c in at.caption)
    assert len(figures(at)) == 16  # the whole logs', then the segment's


# --- runs: ratios to the reference, presets -----------------------------------------------
def ratio_spec(at: AppTest) -> dict:
    found = [c for c in at.get("plotly_chart") if "ratios to real data" in c.proto.spec]
    assert found, "no ratio chart"
    return json.loads(found[0].proto.spec)


def test_runs_compare_picked_runs_as_ratios_to_the_reference(seeded):
    _, ids = seeded
    at = open_page("runs")
    at.multiselect(key="runs_compare").select(ids["compare_vae"]).select(ids["compare_gan"]).run()
    assert not at.exception and not at.error
    spec = ratio_spec(at)
    assert spec["layout"]["xaxis"]["type"] == "log"
    bars = {
        t["name"].split(" · ")[-1]: dict(zip(t["y"], t["customdata"], strict=True))
        for t in spec["data"]
    }
    import mlflow

    client = mlflow.MlflowClient(support.store_env(seeded[0])["MLFLOW_TRACKING_URI"])
    for rid in (ids["compare_vae"], ids["compare_gan"]):
        m = client.get_run(rid).data.metrics
        got = bars[rid[:8]]
        assert got["3-step path difference"] == pytest.approx(m["tvd_3gram"] / m["ref_tvd_3gram"])
        assert got["Detection AUC"] == pytest.approx(m["detection_auc"] / m["ref_detection_auc"])


def test_runs_preset_two_generators(seeded):
    _, ids = seeded
    at = open_page("runs")
    at.radio(key="runs_preset").set_value("Two generators").run()
    assert not at.exception and not at.error
    assert {at.selectbox(key="runs_p_ga").value, at.selectbox(key="runs_p_gb").value} == {
        "gan", "vae"
    }  # fmt: skip
    spec = ratio_spec(at)
    names = [t["name"] for t in spec["data"]]
    assert len(names) == 2 and {n.split(" · ")[-1] for n in names} == {
        ids["gan"][:8], ids["vae"][:8]
    }  # fmt: skip
    assert "The newest measured fit of each" in " ".join(c.value for c in at.caption)


def test_runs_preset_two_epsilons_says_what_is_missing(seeded):
    at = open_page("runs")
    at.radio(key="runs_preset").set_value("Two epsilons").run()
    at.selectbox(key="runs_p_gen").set_value("vae").run()
    assert not at.exception and not at.error
    info = " ".join(i.value for i in at.info)
    assert "vae has measured fits at one epsilon only (ε=8)" in info
    assert not [c for c in at.get("plotly_chart") if "ratios to real data" in c.proto.spec]


# --- the warm-up after the server starts -----------------------------------------------------
def test_warmup_computes_what_journeys_first_draws(seeded, monkeypatch):
    """After the warm-up, the first Journeys page reads no log and builds no timeline: the
    warm-up computed them under the keys the page asks for."""
    from journeylab.app import store, warmup
    from journeylab.evaluation import charts
    from journeylab.journeys.eventlog import EventLog

    st.cache_data.clear()
    st.cache_resource.clear()
    took = warmup.warm_store(store.store_uri())
    assert list(took) == [
        "runs and ledger", "read the default logs", "journeys figures and timelines",
        "fidelity figures",
    ]  # fmt: skip

    def again(*args, **kwargs):
        raise AssertionError("computed again: the warm-up did not compute what the page reads")

    monkeypatch.setattr(charts, "timeline", again)
    monkeypatch.setattr(EventLog, "read", again)
    at = open_page("journeys")  # no error shown
    assert [c.key for c in at.get("plotly_chart")] == ["tl_Real", "tl_Synthetic"]
    assert [m.label for m in at.metric][:2] == ["Journeys", "Median length"]


def test_runs_preset_two_epsilons(seeded, tmp_path, monkeypatch):
    """A second DP fit of the VAE at epsilon 4, sampled and compared on a copy of the store:
    the preset offers both epsilons and draws the newest measured fit at each."""
    root, ids = seeded
    copy = support.clone(root, tmp_path / "epsilons")
    with support.inside(copy):
        # the seeded GAN fit without DP spent epsilon = inf of this dataset's ledger: the
        # second DP fit reserves in a ledger of its own (the page reads runs, not ledgers)
        monkeypatch.setenv("JOURNEYLAB_LEDGER", str(tmp_path / "second-ledger.jsonl"))
        train, hold = "data/split/train.parquet", "data/split/holdout.parquet"
        fit = support.run_id(
            support.cli("fit", "--data", train, "--model", "vae", *support.TINY, "--epsilon", "4")
        )
        support.cli("sample", "--run-id", fit, "-n", "60", "--out", "data/syn_vae4.parquet")
        support.cli("compare", hold, "data/syn_vae4.parquet", "--reference", train)
    for k, v in support.store_env(copy).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(copy)
    st.cache_data.clear()
    at = open_page("runs")
    at.radio(key="runs_preset").set_value("Two epsilons").run()
    at.selectbox(key="runs_p_gen").set_value("vae").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.multiselect(key="runs_p_eps").value == [4.0, 8.0]
    names = [t["name"] for t in ratio_spec(at)["data"]]
    assert sorted(n.split(" · ")[-1] for n in names) == sorted([fit[:8], ids["vae"][:8]])
