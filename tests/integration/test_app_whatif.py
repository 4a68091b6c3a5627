"""The What-if page under Streamlit's AppTest, against the small real store of
tests/app_support.py (its VAE: one epoch, DP at epsilon 8, on 60 simulated customers).
The empty and missing stores are covered with every page in test_app.py."""

from __future__ import annotations

from pathlib import Path

import app_support as support
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import journeylab.app as app
from journeylab.privacy.caveats import PREFIX_CAVEAT

APP = str(Path(app.__file__).with_name("streamlit_app.py"))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    root, ids = support.shared_store(tmp_path_factory.getbasetemp())
    with support.inside(root):
        st.cache_data.clear()
        yield root, ids


def whatif() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("views/whatif.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest, kind: str) -> str:
    return " | ".join(str(e.value) for e in getattr(at, kind))


def promotion(at: AppTest, *, customers: int = 30) -> AppTest:
    """Simulator customers, the simulator's promo email on day 60 to the premium segment."""
    at.number_input(key="wi_n").set_value(customers)
    at.selectbox(key="wi_where_segment").select("premium")
    at.selectbox(key="wi_ch").select("email")
    at.selectbox(key="wi_type").select("promo_email")
    return at.run()


def test_a_promotion_runs_with_its_truth_and_its_limits(seeded):
    _, ids = seeded
    at = promotion(whatif())
    assert at.selectbox(key="wi_run").value == ids["vae"]
    assert at.checkbox[0].value, "a promotion to simulator customers has a truth"
    at.button(key="wi_go").click().run()
    assert not at.exception and not at.error, texts(at, "error")
    effects = at.table[0].value
    assert list(effects.index) == ["purchase_within", "lapsed", "spend", "purchases"]
    assert (effects.ci_low <= effects.effect).all() and (effects.effect <= effects.ci_high).all()
    truth = at.table[1].value
    assert truth.n.iloc[0] == effects.n.iloc[0] > 0  # the same customers
    assert len(at.get("plotly_chart")) == 4  # both arms' distribution of each outcome
    shown = texts(at, "info") + texts(at, "warning")
    assert "already show the pattern of 0:promotion" in shown
    assert PREFIX_CAVEAT not in shown and "The prefixes are synthetic" in texts(at, "caption")
    assert "extrapolation" in texts(at, "caption")  # the limits, always said


def test_prefixes_from_a_real_log_carry_the_privacy_caveat_and_rare_patterns_a_warning(seeded):
    at = whatif()
    at.radio(key="wi_pop").set_value("Prefixes from a real log").run()
    at.selectbox(key="wi_kind").select("Insert an event").run()
    at.selectbox(key="wi_ch").select("call_centre")
    at.selectbox(key="wi_type").select("purchase").run()  # never seen in the data
    assert at.checkbox[0].disabled and not at.checkbox[0].value  # no simulator truth
    at.button(key="wi_go").click().run()
    assert not at.exception and not at.error, texts(at, "error")
    warnings = texts(at, "warning")
    assert PREFIX_CAVEAT in warnings
    assert "0% of the population's journeys" in warnings and "extrapolation" in warnings


def test_logging_the_answer_makes_a_scenario_run(seeded, tmp_path, monkeypatch):
    root, ids = seeded
    copy = support.clone(root, tmp_path / "store")  # the shared store's run counts stay
    for k, v in support.store_env(copy).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(copy)
    st.cache_data.clear()
    at = promotion(whatif(), customers=12)
    at.selectbox(key="wi_kind").select("Remove a channel").run()
    at.selectbox(key="wi_rc").select("social").run()
    at.button(key="wi_go").click().run()
    at.button(key="wi_log_run").click().run()
    assert not at.exception and not at.error, texts(at, "error")
    run_id = at.session_state["whatif_result"]["logged"]
    assert f"Logged as MLflow run {run_id}" in texts(at, "success")
    import mlflow

    run = mlflow.MlflowClient(support.store_env(copy)["MLFLOW_TRACKING_URI"]).get_run(run_id)
    assert run.data.tags["journeylab.kind"] == "scenario"
    assert run.data.tags["journeylab.fit_run_id"] == ids["vae"]
    assert "truth.purchases.effect" in run.data.metrics


def test_a_folder_that_is_not_a_model_is_named(seeded, tmp_path):
    at = whatif()
    at.radio(key="wi_model_src").set_value("A model folder").run()
    at.text_input(key="wi_dir").input(str(tmp_path)).run()
    assert f"{tmp_path} is not a model folder (no meta.json)" in texts(at, "error")


@pytest.mark.parametrize("kind", ["trigger", "delay"])
def test_a_triggered_promotion_and_a_delay_run_with_their_truth(seeded, kind):
    at = promotion(whatif(), customers=20)
    if kind == "trigger":
        at.radio(key="wi_when").set_value("After a trigger event").run()
        at.selectbox(key="wi_trig").select("purchase")
        at.number_input(key="wi_after").set_value(3).run()
    else:
        at.selectbox(key="wi_kind").select("Delay events of a type").run()
        at.selectbox(key="wi_dt").select("promo_email").run()
    at.multiselect(key="wi_labels").select("churn").run()  # a predictor label as an outcome
    assert at.checkbox[0].value, "the simulator knows both"
    at.button(key="wi_go").click().run()
    assert not at.exception and not at.error, texts(at, "error")
    name = "0:promotion" if kind == "trigger" else "0:delay"
    assert "label.churn" in at.table[0].value.index
    assert f"already show the pattern of {name}" in texts(at, "info") + texts(at, "warning")
    assert len(at.table) == 2  # the model's estimate and the simulator's truth
