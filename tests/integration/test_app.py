"""The Streamlit app under Streamlit's AppTest: every page against a small real store
(tests/app_support.py: real MLflow, runs made by the `journeylab` CLI), an empty
store, a missing one, one of a newer format, and one with damaged artefacts.
No page may raise; each shows its key elements or a clear message."""

from __future__ import annotations

import io
import json
import math
import sqlite3
from pathlib import Path

import app_support as support
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import journeylab.app as app

APP = str(Path(app.__file__).with_name("streamlit_app.py"))
PAGES = list(support.PAGES)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    root, ids = support.shared_store(tmp_path_factory.getbasetemp())
    with support.inside(root):
        st.cache_data.clear()
        yield root, ids


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == support.PAGES[page]
    assert any(support.FOOTER in c.value for c in at.caption), "page not drawn to the end"
    return at


def texts(at: AppTest, kind: str) -> str:
    return " | ".join(str(e.value) for e in getattr(at, kind))


# --- the seeded store -----------------------------------------------------------------
def test_overview(seeded):
    at = open_page("overview")
    assert not at.error, texts(at, "error")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs"] == "11" and metrics["Failed runs"] == "1"
    best = at.dataframe[1].value
    assert set(best.by) == {"fidelity", "utility"}
    assert set(best.generator) <= {"vae", "gan"}
    recent = at.dataframe[2].value
    assert len(recent) == 10 and recent.status.iloc[0] == "FAILED"


def test_runs_filter_and_compare(seeded):
    _, ids = seeded
    at = open_page("runs")
    table = at.dataframe[0].value
    assert {ids["vae"], ids["gan"], ids["failed"]} <= set(table.run_id)
    gan = table.set_index("run_id").loc[ids["gan"]]  # a fit shows its samples' scores
    assert 0 <= gan["3-step path difference"] <= 1
    assert gan["Synthetic-trained / real-trained AUC"] > 0
    at.multiselect(key="runs_kind").select("fit").run()
    assert set(at.dataframe[0].value.kind) == {"fit"}
    assert "out of memory" in at.dataframe[1].value.error.iloc[0]  # why it failed
    at.multiselect(key="runs_compare").select(ids["vae"]).select(ids["gan"]).run()
    assert not at.exception
    side = at.dataframe[2].value
    assert side.shape[1] == 2 and "generator" in side.index
    assert len(at.get("plotly_chart")) >= 1


def test_runs_offer_the_evaluation_report(seeded):
    _, ids = seeded
    at = open_page("runs")
    assert at.selectbox(key="runs_report").value == ids["report"]
    figures = {m.label: float(m.value) for m in at.metric}
    assert 0 <= figures["detection AUC"] <= 1 and 0 <= figures["membership-inference AUC"] <= 1
    assert len(at.get("download_button")) == 1


def test_journeys(seeded):
    at = open_page("journeys")
    assert not at.error, texts(at, "error")
    assert [s.label for s in at.selectbox] == ["Real log", "Synthetic log"]
    assert "synthetic" in at.selectbox[1].value.label
    synthetic = {o for o in at.selectbox[1].options if "synthetic" in o}
    assert any("· vae ε=" in o for o in synthetic) and any("· gan no DP" in o for o in synthetic)
    assert [c.key for c in at.get("plotly_chart")] == ["tl_Real", "tl_Synthetic"]
    open_tab(at, "jn_tab", "Channel flows")  # tabs draw only the open one
    assert [c.key for c in at.get("plotly_chart")] == ["sk_Real", "sk_Synthetic"]
    open_tab(at, "jn_tab", "Frequent paths")
    at.radio(key="jn_n").set_value(2).run()
    assert not at.exception and [c.key for c in at.get("plotly_chart")] == ["jn_paths"]


def open_tab(at: AppTest, key: str, label: str) -> None:
    at.session_state[key] = label
    at.run()
    assert not at.exception and not at.error, texts(at, "error")


def test_fidelity(seeded):
    at = open_page("fidelity")
    assert not at.error, texts(at, "error")
    report = at.dataframe[0].value
    assert {"tvd_1gram", "tvd_3gram", "detection_auc"} <= set(report.metric)
    assert "not covered by the differential-privacy guarantee" in texts(at, "caption")
    expected = {
        "Time between events": "fid_gap",
        "Amount": "fid_amount",
        "Event n-grams": "fid_ngrams",
        "Transitions": "fid_heat",
    }
    for tab, chart in expected.items():
        open_tab(at, "fid_tab", tab)
        assert chart in {c.key for c in at.get("plotly_chart")}, tab
    open_tab(at, "fid_tab", "Event n-grams")
    assert {m.label for m in at.metric} >= {"1-gram TVD", "3-gram TVD"}
    at.button(key="fid_detect").click().run()
    auc = float(next(m.value for m in at.metric if m.label == "Detection AUC"))
    assert 0.0 <= auc <= 1.0
    assert "What gives the synthetic journeys away most:**\n- " in texts(at, "markdown")
    assert ": real " in texts(at, "markdown")  # each giveaway in words, real vs synthetic


def test_privacy(seeded):
    at = open_page("privacy")
    assert not at.error, texts(at, "error")
    ledger = at.dataframe[0].value
    assert ledger["ε cap"].iloc[0] == "20"
    assert "Privacy card" in texts(at, "markdown")
    assert {b.label for b in at.get("download_button")} == {
        "Download card (Markdown)",
        "Download card (HTML)",
    }
    assert "not covered by the differential-privacy guarantee" in texts(at, "warning")
    audits = at.dataframe[-1].value
    assert "mia_distance_auc" in audits


def test_predictors(seeded):
    at = open_page("predictors")
    assert not at.error, texts(at, "error")
    util = at.dataframe[0].value
    assert {"TRTR", "TSTR:syn_gan"} <= set(util.columns)
    assert "auc" in at.dataframe[1].value.columns
    assert len(at.get("plotly_chart")) == 3  # TRTR/TSTR bars, lift, calibration
    assert len(at.get("image")) == 1  # the ROC plot the run logged


def test_generate_samples_and_offers_downloads(seeded):
    _, ids = seeded
    at = open_page("generate")
    assert "costs no extra privacy budget" in texts(at, "caption")
    at.selectbox(key="gen_run").select(ids["gan"]).run()
    at.selectbox(key="gen_c_segment").select_index(1)  # inside the form: sent on submit
    at.number_input(key="gen_n").set_value(7)
    at.button[0].click().run()
    assert not at.exception and not at.error, texts(at, "error")
    downloads = {b.label for b in at.get("download_button")}
    assert downloads == {"Download CSV", "Download Parquet"}
    sample = at.session_state["journeylab_generated"]
    assert sample["log"].n_customers == 7
    chosen = at.selectbox(key="gen_c_segment").value
    assert set(sample["log"].df["segment"]) == {chosen}
    csv = pd.read_csv(io.BytesIO(sample["csv"]))
    parquet = pd.read_parquet(io.BytesIO(sample["parquet"]))
    assert csv.customer_id.nunique() == parquet.customer_id.nunique() == 7


def dp_record() -> dict:
    """A genuine DP-SGD record (privacy.dpsgd.DPSpend), as `journeylab fit --epsilon` logs it."""
    from journeylab.privacy.budget import PrivacyBudget
    from journeylab.privacy.dpsgd import DPSpend, plan_dpsgd

    plan = plan_dpsgd(PrivacyBudget(epsilon=8.0), n_customers=30, batch_size=10, epochs=2)
    spend = DPSpend(plan)
    for _ in range(plan.steps):
        spend.step()
        spend.mark()
    return spend.record(epochs=2, private_modules=["encoder", "decoder"])


def test_privacy_card_of_a_dp_run(seeded, tmp_path, monkeypatch):
    root, ids = seeded
    copy = root
    art = root / "mlruns" / "artifacts" / "simulate" / ids["vae"] / "artifacts"
    if not (art / "privacy_record.json").exists():  # no DP fit in the store
        copy = support.clone(root, tmp_path / "dp")
        art = copy / "mlruns" / "artifacts" / "simulate" / ids["vae"] / "artifacts"
        (art / "privacy_record.json").write_text(json.dumps(dp_record()))
    env_for(monkeypatch, copy)
    at = open_page("privacy")
    at.selectbox(key="pv_run").select(ids["vae"]).run()
    assert not at.exception and not at.error, texts(at, "error")
    eps = next(m.value for m in at.metric if m.label == "ε spent by training")
    assert 0 < float(eps) <= 8.0 + 1e-6
    assert "DP-SGD" in texts(at, "markdown") and "not differentially private" not in texts(
        at, "warning"
    )
    figure = json.loads(at.get("plotly_chart")[-1].proto.spec)
    names = {t.get("name") for t in figure["data"]}
    assert {"accountant during training", "RDP accountant"} <= names


# --- stores that are empty, missing, newer or damaged ------------------------------
def env_for(monkeypatch, root: Path) -> None:
    for k, v in support.store_env(root).items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(root)
    st.cache_data.clear()


@pytest.mark.parametrize("page", PAGES)
def test_missing_store(page, tmp_path, monkeypatch):
    env_for(monkeypatch, tmp_path)
    at = open_page(page)
    assert "no JourneyLab store at" in texts(at, "info")
    assert not (tmp_path / "mlruns").exists(), "the app must not create a store"


def empty_store(tmp_path_factory, monkeypatch) -> None:
    """An MLflow store with no JourneyLab run, as the app's store."""
    root = tmp_path_factory.getbasetemp() / "empty_store"
    if not root.exists():
        import mlflow

        (root / "mlruns").mkdir(parents=True)
        mlflow.MlflowClient(support.store_env(root)["MLFLOW_TRACKING_URI"]).search_experiments()
    env_for(monkeypatch, root)


@pytest.mark.parametrize("page", PAGES)
def test_empty_store(page, tmp_path_factory, monkeypatch):
    empty_store(tmp_path_factory, monkeypatch)
    at = open_page(page)
    assert "has no JourneyLab runs yet" in texts(at, "info")


def test_newer_mlflow_store(seeded, tmp_path, monkeypatch):
    root, _ = seeded
    copy = support.clone(root, tmp_path / "newer")
    with sqlite3.connect(copy / "mlruns" / "mlflow.db") as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    env_for(monkeypatch, copy)
    for page in ("overview", "generate"):
        at = open_page(page)
        assert "written by a newer MLflow" in texts(at, "error")


def test_newer_journeylab_runs_and_damaged_artefacts(seeded, tmp_path, monkeypatch):
    root, ids = seeded
    copy = support.clone(root, tmp_path / "damaged")
    art = copy / "mlruns" / "artifacts" / "simulate"
    with sqlite3.connect(copy / "mlruns" / "mlflow.db") as con:
        con.execute(
            "UPDATE tags SET value = '9.0.0' WHERE key = 'journeylab.version' AND run_uuid = ?",
            (ids["compare_gan"],),
        )
    meta = art / ids["gan"] / "artifacts" / "model" / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format_version": 99}))
    (art / ids["vae"] / "artifacts" / "model" / "model.safetensors").write_bytes(b"garbage")
    (art / ids["audit"] / "artifacts" / "audits.json").write_text("{not json")
    for lift in (art / ids["evaluate"] / "artifacts" / "tables").glob("lift_*.csv"):
        lift.write_text("nonsense\n1\n")
    (art / ids["gan"] / "artifacts" / "privacy_record.json").write_text("{broken")
    env_for(monkeypatch, copy)

    at = open_page("overview")
    assert "JourneyLab 9.0.0, newer than this app" in texts(at, "warning")
    at = open_page("generate")
    at.selectbox(key="gen_run").select(ids["gan"]).run()
    assert "format version 99" in texts(at, "error") and not at.exception
    at.selectbox(key="gen_run").select(ids["vae"]).run()
    assert "cannot be loaded" in texts(at, "error") or "corrupt" in texts(at, "error")
    assert not at.exception
    at = open_page("privacy")
    assert "audits.json" in texts(at, "error") and "corrupt" in texts(at, "error")
    at.selectbox(key="pv_run").select(ids["gan"]).run()
    assert "privacy_record.json" in texts(at, "error") and not at.exception
    at = open_page("predictors")
    assert "lacks columns" in texts(at, "error")


# --- pure parts ------------------------------------------------------------------------
def test_resolve_store(tmp_path):
    from journeylab.app.serve_cli import resolve_store, server_env
    from journeylab.journeys.errors import ConfigError

    (tmp_path / "mlruns").mkdir()
    (tmp_path / "mlruns" / "mlflow.db").write_bytes(b"")
    db = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert resolve_store(str(tmp_path)) == db
    assert resolve_store(str(tmp_path / "mlruns")) == db
    assert resolve_store(str(tmp_path / "mlruns" / "mlflow.db")) == db
    assert resolve_store("http://mlflow:5000") == "http://mlflow:5000"
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_store(str(tmp_path / "nowhere"))
    env = server_env(db)
    assert env["JOURNEYLAB_LEDGER"] == str(tmp_path / "mlruns" / "privacy" / "ledger.jsonl")


def test_app_command_is_registered():
    from typer.testing import CliRunner

    from journeylab.app.cli import app as cli_app

    result = CliRunner().invoke(cli_app, ["app", "--help"])
    assert result.exit_code == 0 and "--store" in result.output and "--port" in result.output


def test_sankey_links_and_transitions(tiny_log):
    from journeylab.evaluation import charts
    from journeylab.journeys.fidelity import ngram_frequencies

    links = charts.sankey_links(tiny_log, steps=3)
    first = links[links.source.str.startswith("1. ")]["count"].sum()
    assert first == tiny_log.n_customers  # every journey leaves step 1 (to step 2 or end)
    mat = charts.transition_matrix(ngram_frequencies(tiny_log, n=2))
    assert mat.sum(axis=1).round(9).eq(1.0).all()
    assert "<START>" in mat.index and "<END>" in mat.columns


# --- lineage and the reviewer's privacy page -------------------------------------------
def derived_runs(client, fit_id: str) -> dict[str, object]:
    """kind -> the newest run of that kind whose lineage names fit run `fit_id`."""
    from journeylab.journeys.tracking import TAG

    exp = client.get_run(fit_id).info.experiment_id
    found = client.search_runs([exp], f"tags.`{TAG}fit_run_id` = '{fit_id}'")
    return {r.data.tags[f"{TAG}kind"]: r for r in reversed(found)}


def test_runs_derived_from_a_fit_carry_its_lineage(seeded):
    """The sample of the (DP) VAE, and the comparison, audit and report of that sample,
    are tagged with the fit's generator, epsilon, delta and run id; the run table shows them."""
    from journeylab.journeys.tracking import TAG, open_store

    _, ids = seeded
    client = open_store()
    fit = client.get_run(ids["vae"]).data
    dp = "privacy.epsilon" in fit.metrics
    runs = derived_runs(client, ids["vae"])
    assert {"sample", "compare", "audit", "evaluate"} <= set(runs)
    sample = runs["sample"].data.tags
    assert sample[f"{TAG}generator"] == "vae"
    eps = float(sample[f"{TAG}epsilon"])
    assert (0 < eps <= 8.0 + 1e-6 and float(sample[f"{TAG}delta"]) > 0) if dp else eps == inf
    for kind in ("compare", "audit", "evaluate"):
        tags = runs[kind].data.tags
        assert [tags.get(f"{TAG}{k}") for k in ("generator", "epsilon", "delta")] == [
            sample[f"{TAG}{k}"] for k in ("generator", "epsilon", "delta")
        ], kind
    report = runs["evaluate"].data.metrics  # from files: the guarantee comes with the lineage
    assert report.get("privacy.epsilon", inf) == (pytest.approx(eps, rel=1e-5) if dp else inf)
    utility = client.get_run(ids["utility"]).data.tags  # TSTR on the GAN's sample
    assert utility[f"{TAG}generator"] == "gan" and utility[f"{TAG}fit_run_id"] == ids["gan"]
    at = open_page("runs")
    table = at.dataframe[0].value.set_index("run_id")
    for kind in ("sample", "compare", "audit"):
        row = table.loc[runs[kind].info.run_id]
        assert (row.generator, row["fit run"]) == ("vae", ids["vae"][:8]), kind
        assert row.epsilon == (f"ε={eps:.3g}" if dp else "no DP"), kind


inf = float("inf")


def test_privacy_page_says_no_cap_instead_of_no_dp(seeded, tmp_path, monkeypatch):
    """A dataset with epsilon spent and no cap: 'no cap set; X spent', never '∞ (no DP)'."""
    from journeylab.journeys.tracking import TAG
    from journeylab.privacy.ledger import Ledger

    root, ids = seeded
    copy = support.clone(root, tmp_path / "nocap")
    ledger = copy / "mlruns" / "privacy" / "ledger.jsonl"
    ledger.unlink()
    env_for(monkeypatch, copy)
    fp = open_store_tags(ids["vae"])[f"{TAG}dataset_fingerprint"]
    with Ledger(ledger).reservation(
        fp, epsilon=8.0, delta=1e-5, mechanism="dp-sgd/vae", run_id=ids["vae"]
    ) as r:
        r.commit(epsilon=7.999943, delta=1e-5)
    at = open_page("privacy")
    left = at.dataframe[0].value["ε left"].iloc[0]
    assert left == "no cap set; 8 spent", left
    times = at.dataframe[1].value["time"]
    assert times.str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC").all(), list(times)


def open_store_tags(run_id: str) -> dict[str, str]:
    from journeylab.journeys.tracking import open_store

    return open_store().get_run(run_id).data.tags


def test_privacy_card_reads_as_words(seeded):
    _, ids = seeded
    at = open_page("privacy")
    at.selectbox(key="pv_run").select(ids["vae"]).run()
    assert not at.exception and not at.error, texts(at, "error")
    md = texts(at, "markdown")
    title = next(m.value for m in at.markdown if "Privacy card ·" in m.value)
    assert title.startswith("**Privacy card · vae on simulate, ")
    assert ids["vae"] not in title, "the title is words, not a run id"
    assert "# Privacy card" not in md and "```json" not in md and "['" not in md
    if "RDP" in md:  # a DP fit: the two accountants are explained in one line
        assert "RDP and PRV are two accountants" in texts(at, "caption")


def test_left_label_and_time_format():
    from journeylab.app.event_logs import fmt_time, left_label

    assert left_label(math.nan, inf, 8.0) == "no cap set; 8 spent"
    assert left_label(None, inf, 0.0) == "no cap set; 0 spent"
    assert left_label(20.0, 12.000057, 7.999943) == "12"
    assert fmt_time("2026-12-04T21:42:32.123456+00:00") == "2026-12-04 21:42:32 UTC"


# --- scorecard and validity -------------------------------------------------------------
def verdicts(at: AppTest) -> dict[str, str]:
    """aspect -> the verdict's words: the scorecard's coloured lines, e.g.
    "**:red[trivially detectable]**", in the order fidelity, utility, privacy."""
    words = [m.value for m in at.markdown if m.value.startswith("**:")]
    return dict(zip(("Fidelity", "Utility", "Privacy"), words[:3], strict=False))


def validity_table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "figure" in d.value.columns)


@pytest.mark.parametrize("page", ["overview", "fidelity"])
def test_pages_lead_with_the_scorecard(seeded, page):
    """The newest evaluated sample (the report on the DP VAE's sample) in words, with the
    lineage it was tagged with and the figures behind each verdict."""
    from journeylab.evaluation.verdict import FIDELITY_LEVELS, NO_DP, UTILITY_LEVELS

    _, ids = seeded
    at = open_page(page)
    assert not at.error, texts(at, "error")
    v = verdicts(at)
    assert set(v) == {"Fidelity", "Utility", "Privacy"}
    assert any(f"[{w}]" in v["Fidelity"] for _, w in FIDELITY_LEVELS), v
    assert any(f"[{w}]" in v["Utility"] for _, w in UTILITY_LEVELS), v  # the report's TSTR
    assert NO_DP not in v["Privacy"] and "unknown" not in v["Privacy"]
    captions = texts(at, "caption")
    assert "vae · ε=" in captions and f"fit run {ids['vae'][:8]}" in captions
    assert "Detection AUC: **" in captions and "Real-vs-real detection AUC: **" in captions


def test_fidelity_shows_validity_of_the_report_and_of_any_pair(seeded):
    at = open_page("fidelity")
    logged = validity_table(at)
    assert "Impossible channel/event pairs" in set(logged.figure)
    assert logged.synthetic.str.fullmatch(r"(<0\.1|\d+\.\d)%").all()
    explored = [d.value for d in at.dataframe if "figure" in d.value.columns]
    assert len(explored) == 2, "the logged report's and the explored pair's"


def test_generate_checks_validity_against_the_training_data(seeded):
    _, ids = seeded
    at = open_page("generate")
    at.selectbox(key="gen_run").select(ids["gan"]).run()
    at.number_input(key="gen_n").set_value(20)
    at.button[0].click().run()
    assert not at.exception and not at.error, texts(at, "error")
    figures = at.session_state["journeylab_generated"]["validity"]
    assert figures["of"] == "train.parquet"
    assert 0.0 <= figures["unseen_pair_share"] <= 1.0
    table = validity_table(at)
    assert {"Impossible channel/event pairs", "Events outside the real time window"} <= set(
        table.figure
    )
    if figures["unseen_pair_share"] > 0:
        assert "never occur in the training data" in texts(at, "warning")


# --- the reviewer's tools: trade-off, calculator, audits ----------------------------------
def tradeoff_figure(at: AppTest) -> dict:
    return next(
        spec
        for c in at.get("plotly_chart")
        if "trade-off" in str((spec := json.loads(c.proto.spec))["layout"].get("title"))
    )


def test_privacy_draws_the_tradeoff_with_cap_and_reference(seeded):
    """The DP VAE's fit at the epsilon it spent, scored on its sample's comparison and
    report; the GAN fitted without DP as the reference; the dataset's cap of 20."""
    _, ids = seeded
    at = open_page("privacy")
    assert not at.error, texts(at, "error")
    assert at.selectbox(key="pv_to_gen").value == "vae"  # generators with DP fits first
    names = [t.get("name") for t in tradeoff_figure(at)["data"]]
    assert {"DP fits", "no DP (gan)", "real data (ideal)", "cap ε=20"} == set(names)
    table = next(d.value for d in at.dataframe if "Detection AUC" in d.value.columns)
    assert list(table.name) == [open_store_run_name(ids["vae"])]
    assert 0 < table["ε"].iloc[0] <= 8.0 + 1e-6
    assert table[["Detection AUC", "Journey length distance ratio"]].notna().all(axis=None)
    # the GAN's utility run gives the no-DP reference a TSTR line too: one per panel
    assert names.count("no DP (gan)") == 3
    at.selectbox(key="pv_to_gen").select("gan").run()
    assert "No DP fit of gan on this data" in texts(at, "info")


def open_store_run_name(run_id: str) -> str:
    from journeylab.journeys.tracking import open_store

    return open_store().get_run(run_id).info.run_name


def calculate(at: AppTest, **values) -> dict[str, str]:
    for key, v in values.items():
        (at.text_input if key == "pv_cd" else at.number_input)(key=key).set_value(v)
    at.button(key="FormSubmitter:pv_calc-Calculate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return {m.label: m.value for m in at.metric}


def test_calculator_works_on_an_empty_store_and_answers_as_the_accountant(
    tmp_path_factory, monkeypatch
):
    from journeylab.privacy.accountant import epsilon_from
    from journeylab.privacy.budget import PrivacyBudget
    from journeylab.privacy.dpsgd import plan_dpsgd

    empty_store(tmp_path_factory, monkeypatch)
    at = open_page("privacy")
    assert "has no JourneyLab runs yet" in texts(at, "info")
    assert [s.value for s in at.subheader] == ["Epsilon calculator"]
    shown = calculate(at, pv_cn=1200, pv_cb=64, pv_ce=10, pv_cs=1.1)
    q = 64 / 1200
    direct = epsilon_from(sample_rate=q, noise_multiplier=1.1, steps=round(10 / q), delta=1e-5)
    assert shown["ε (RDP accountant)"] == f"{direct:.4g}" and shown["δ"] == "1e-05"
    assert f"{round(10 / q)} steps" in texts(at, "caption")
    at.radio(key="pv_cm").set_value("noise").run()
    shown = calculate(at, pv_ct=4.0, pv_cd="1e-4", pv_cn=500, pv_cb=20, pv_ce=3)
    plan = plan_dpsgd(PrivacyBudget(4.0, delta=1e-4), n_customers=500, batch_size=20, epochs=3)
    assert shown["Noise multiplier σ"] == f"{plan.noise_multiplier:.4g}"
    assert 3.9 <= float(shown["ε (RDP accountant)"]) <= 4.0
    calculate(at, pv_cd="0.01")  # delta >= 1/N: refused with the fix
    assert "would allow releasing a whole customer" in texts(at, "error")


def test_audit_button_runs_and_logs_the_audit_as_the_cli_does(seeded, tmp_path, monkeypatch):
    """On a copy of the store: the audit of the DP VAE's sample, from the page, shows its
    figures, is logged as an `audit` run with the sample's lineage, and has the numbers
    `run_audits` gives on the same logs."""
    from journeylab.journeys.eventlog import EventLog
    from journeylab.journeys.schema import Schema
    from journeylab.journeys.tracking import TAG, open_store
    from journeylab.privacy.audits import run_audits

    root, ids = seeded
    copy = support.clone(root, tmp_path / "audit")
    env_for(monkeypatch, copy)
    sample = derived_runs(open_store(), ids["vae"])["sample"].info.run_id
    at = open_page("privacy")
    at.selectbox(key="pv_audit_sample").select(sample).run()
    at.button(key="pv_audit_go").click().run()
    assert not at.exception and not at.error, texts(at, "error")
    shown = next(d.value for d in at.dataframe if "audit" in d.value.columns)
    figures = dict(zip(shown.audit, shown.value, strict=True))
    audit = derived_runs(open_store(), ids["vae"])["audit"]  # the newest: the page's
    assert audit.data.tags[f"{TAG}generator"] == "vae"
    assert f"MLflow run {audit.info.run_id}" in texts(at, "markdown")
    schema = Schema.read(copy / "data" / "split" / "schema.yaml")
    logs = [
        EventLog.read(copy / "data" / p, schema)
        for p in ("split/train.parquet", "split/holdout.parquet", "syn_vae.parquet")
    ]
    direct = run_audits(*logs, seed=0).metrics
    assert audit.data.metrics == pytest.approx(direct)
    assert figures["DCR share (closer to train than to holdout)"] == round(direct["dcr_share"], 3)
    assert len(at.dataframe[-1].value) == 2  # the audits table now lists both audits


# --- journeys you can compare --------------------------------------------------------------
def test_journeys_share_one_axis_colours_markers_and_lead_with_figures(seeded):
    at = open_page("journeys")
    assert not at.error, texts(at, "error")
    metrics = [(m.label, m.value) for m in at.metric]
    medians = [v for label, v in metrics if label == "Median length"]
    assert len(medians) == 2 and all(float(v) >= 1 for v in medians), metrics
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert specs[0]["layout"]["xaxis"]["range"] == specs[1]["layout"]["xaxis"]["range"]
    colours, markers = {}, {}
    for spec in specs:
        for t in spec["data"]:
            channel, event_type = t["name"].split(", ")
            colours.setdefault(channel, set()).add(t["marker"]["color"])
            markers.setdefault(event_type, set()).add(t["marker"].get("symbol", "circle"))
    assert all(len(v) == 1 for v in colours.values()), colours
    assert all(len(v) == 1 for v in markers.values()), markers
    assert len({min(v) for v in markers.values()}) == len(markers)  # one marker per type


def test_runs_lead_with_rounded_scores_under_friendly_names(seeded):
    from journeylab.evaluation.verdict import METRICS

    at = open_page("runs")
    table = at.dataframe[0].value
    names = [METRICS[k][0] for k in ("detection_auc", "tstr_ratio", "tvd_3gram")]
    assert list(table.columns[1:4]) == names, list(table.columns)  # right after the name
    scores = table[names].stack()
    assert len(scores) and (scores == scores.round(3)).all()


# --- actions on Generate --------------------------------------------------------------------
def test_generate_logs_the_sample_and_evaluates_it(seeded, tmp_path, monkeypatch):
    """On a copy of the store: Log writes the very journeys shown as a `sample` run (the
    code of `journeylab sample`), Evaluate reports on it as `journeylab evaluate --run-id`."""
    from journeylab.journeys.tracking import TAG, open_store

    root, ids = seeded
    copy = support.clone(root, tmp_path / "generate")
    env_for(monkeypatch, copy)
    at = open_page("generate")
    at.selectbox(key="gen_run").select(ids["vae"]).run()
    at.number_input(key="gen_n").set_value(25)
    at.button[0].click().run()
    shown = at.session_state["journeylab_generated"]["log"].df
    assert at.button(key="gen_eval").disabled  # nothing to evaluate before it is logged
    at.button(key="gen_log").click().run()
    assert not at.exception and not at.error, texts(at, "error")
    sample_id, path = at.session_state["journeylab_generated"]["logged"]
    assert Path(path).parent == copy / "samples"
    pd.testing.assert_frame_equal(pd.read_parquet(path), shown, check_dtype=False)
    sample = open_store().get_run(sample_id).data
    assert sample.tags[f"{TAG}kind"] == "sample" and sample.tags[f"{TAG}fit_run_id"] == ids["vae"]
    assert f"Logged as sample run {sample_id}" in texts(at, "success")
    at.button(key="gen_eval").click().run()
    assert not at.exception and not at.error, texts(at, "error")
    _, evaluate_id = at.session_state["journeylab_generated"]["evaluated"]
    report = open_store().get_run(evaluate_id).data
    assert report.tags[f"{TAG}kind"] == "evaluate" and report.tags[f"{TAG}fit_run_id"] == ids["vae"]
    assert "detection_auc" in report.metrics
    assert (copy / "reports" / f"evaluate-{sample_id[:12]}" / "report.html").is_file()
    assert set(verdicts(at)) == {"Fidelity", "Utility", "Privacy"}


def test_privacy_tools_say_what_is_missing(seeded, tmp_path, monkeypatch):
    """No measured sample (comparisons, reports and predictors deleted) and no sample file
    left: the trade-off and the audit button say what to run instead; nothing breaks."""
    root, _ = seeded
    copy = support.clone(root, tmp_path / "unmeasured")
    with sqlite3.connect(copy / "mlruns" / "mlflow.db") as con:
        con.execute(
            "UPDATE runs SET lifecycle_stage = 'deleted' WHERE run_uuid IN (SELECT run_uuid "
            "FROM tags WHERE key = 'journeylab.kind' AND value IN ('compare', 'evaluate', "
            "'predict'))"
        )
    for f in (copy / "data").glob("syn_*.parquet"):
        f.unlink()
    env_for(monkeypatch, copy)
    at = open_page("privacy")
    assert not at.error, texts(at, "error")
    info = texts(at, "info")
    assert "No fit with a measured sample yet" in info and "No sample file to audit" in info
    assert not [c for c in at.get("plotly_chart") if "trade-off" in c.proto.spec]
