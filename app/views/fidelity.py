"""Fidelity: the logged fidelity reports, and the distributions and heatmaps behind them,
interactively, for any real and synthetic log in the store."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from journeylab.app import derived, results, ui
from journeylab.app.scorecard import show_scorecard, show_validity
from journeylab.evaluation import charts
from journeylab.evaluation.giveaways import giveaway_sentence
from journeylab.journeys import fidelity
from journeylab.journeys.detection import giveaways


def logged(df: pd.DataFrame) -> None:
    runs = results.fidelity_runs(df)
    if runs.empty:
        st.info(
            "No fidelity report logged yet: run `journeylab compare HOLDOUT SAMPLE "
            "--reference TRAIN` (or `journeylab evaluate`)."
        )
        return
    run = ui.pick_run("Report", runs, key="fid_run")
    st.caption(ui.lineage_label(run))
    show_scorecard(results.run_scorecard(df, run), key="fid")
    rows = results.fidelity_rows(run)
    st.dataframe(
        rows,
        hide_index=True,
        column_config={c: st.column_config.NumberColumn(format="%.4f") for c in rows.columns[1:]},
    )
    frame = rows.set_index("metric")[["value", "real reference"]]
    frame.columns = ["synthetic vs holdout", "train vs holdout"]
    bounded = frame[frame.index.str.startswith(("tvd_", "detection"))].dropna(how="all")
    ratios = rows.set_index("metric")[["ratio"]].dropna()
    a, b = st.columns(2)
    a.plotly_chart(charts.metric_bars(bounded, title="TVD and detection AUC"), key="fid_bars")
    if not ratios.empty:
        b.plotly_chart(
            charts.metric_bars(
                ratios.rename(columns={"ratio": "W1 ratio"}), title="Wasserstein-1 ratios"
            ),
            key="fid_ratios",
        )
    st.caption(
        "Train vs holdout is what fresh real data scores. TVD: 0 is identical. W1 "
        "ratio: 1.0 means as close to the holdout as real training data. Detection "
        "AUC: 0.5 is ideal. " + ui.REAL_DATA_CAVEAT
    )
    logged_validity = results.validity_figures(run)
    if logged_validity:
        st.markdown("**Validity** (synthetic rows that break what the real data shows)")
        show_validity(logged_validity, key="fid_logged")


def validity(real, synth) -> None:
    st.markdown(f"**Validity** of {synth.label} against {real.label}")
    show_validity(derived.validity(real, synth), key="fid_explore")


def histogram(real, synth, what: str, title: str, xlabel: str) -> None:
    values = {"real": derived.values(real, what), "synthetic": derived.values(synth, what)}
    if all(v is None for v in values.values()):
        st.info("These logs have no numeric `amount` column.")
        return
    st.plotly_chart(charts.hist_compare(values, title=title, xlabel=xlabel), key=f"fid_{what}")


def distributions(real, synth) -> None:
    ui.lazy_tabs(
        {
            "Journey length": lambda: histogram(
                real, synth, "length", "Events per journey", "events"
            ),
            "Time between events": lambda: histogram(
                real, synth, "gap", "Time between consecutive events", "log(1 + seconds)"
            ),
            "Amount": lambda: histogram(
                real, synth, "amount", "Amounts (events with amount > 0)", "log(1 + amount)"
            ),
            "Event n-grams": lambda: ngrams(real, synth),
            "Transitions": lambda: transitions(real, synth),
        },
        key="fid_tab",
    )


def ngrams(real, synth) -> None:
    cols = st.columns(3)
    for col, n in zip(cols, fidelity.NGRAM_ORDERS, strict=True):
        col.metric(f"{n}-gram TVD", f"{derived.tvd(real, synth, n):.3f}")
    n = st.radio("n", fidelity.NGRAM_ORDERS, index=1, horizontal=True, key="fid_n")
    shares = {"real": derived.ngrams(real, n), "synthetic": derived.ngrams(synth, n)}
    top = st.slider("Most frequent", 5, 40, 15, key="fid_top")
    st.plotly_chart(charts.paths_bar(shares, title=f"{n}-gram shares", top=top), key="fid_ngrams")


def transitions(real, synth) -> None:
    a, b = charts.aligned(derived.transitions(real), derived.transitions(synth))
    view = st.radio(
        "Show",
        ["difference (synthetic − real)", "real", "synthetic"],
        horizontal=True,
        key="fid_tr",
    )
    if view == "real":
        fig = charts.heatmap(a, title="P(next event | event), real")
    elif view == "synthetic":
        fig = charts.heatmap(b, title="P(next event | event), synthetic")
    else:
        fig = charts.heatmap(b - a, title="P(next | event): synthetic − real", diverging=True)
    st.plotly_chart(fig, key="fid_heat")


def detection(real, synth) -> None:
    st.caption(
        "Detection AUC trains a classifier to tell real journeys from synthetic ones "
        "(0.5 is ideal); it runs only when you ask."
    )
    if st.button("Compute detection AUC", key="fid_detect"):
        with st.spinner("training the detector"):
            auc = fidelity.detection_auc(real.log, synth.log, seed=0)
            found = giveaways(real.log, synth.log, seed=0, top=3)
        st.metric("Detection AUC", f"{auc:.3f}")
        st.markdown(
            "**What gives the synthetic journeys away most:**\n"
            + "\n".join(f"- {giveaway_sentence(g)}" for g in found)
        )


def body(uri: str, df: pd.DataFrame) -> None:
    st.subheader("Logged reports")
    ui.guard(lambda: logged(df))
    st.subheader("Explore")
    real, synth = ui.pick_logs(uri, df, key="fid")
    if real is None or synth is None:
        st.info("Pick a real and a synthetic log to compare their distributions.")
        return
    ui.guard(lambda: validity(real, synth))
    ui.guard(lambda: distributions(real, synth))
    ui.guard(lambda: detection(real, synth))
    st.caption(ui.REAL_DATA_CAVEAT)


ui.page("Fidelity", body, intro="How close synthetic journeys are to real ones.")
