"""Overview: the scorecard of an evaluated sample in plain words, the datasets in the
store, recent runs, and the best run per dataset by fidelity and by utility at each
epsilon."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from journeylab.app import event_logs, results, ui
from journeylab.app.scorecard import show_scorecard


def datasets_table(df: pd.DataFrame, uri: str) -> pd.DataFrame:
    """One row per dataset: runs by kind, fingerprints, last run, budget spent."""
    counts = df.pivot_table(
        index="dataset", columns="kind", values="run_id", aggfunc="count", fill_value=0
    )
    out = counts.assign(
        runs=counts.sum(axis=1),
        failed=df[df.status == "FAILED"]
        .groupby("dataset")
        .size()
        .reindex(counts.index, fill_value=0),
        fingerprints=df.groupby("dataset").fingerprint.agg(
            lambda s: ", ".join(sorted({f for f in s if f}))
        ),
        last_run=df.groupby("dataset").start.max().dt.strftime("%Y-%m-%d %H:%M"),
    )
    led = event_logs.ledger(uri)
    if led is not None and not led.summary.empty:
        fp_eps = led.summary.set_index("dataset")["epsilon"]
        out["ε spent (ledger)"] = out.fingerprints.map(
            lambda fps: event_logs.fmt_eps(sum(fp_eps.get(f, 0.0) for f in fps.split(", ") if f))
        )
    return out.reset_index()


def scorecard(df: pd.DataFrame) -> None:
    """The verdicts of one evaluated sample (the newest by default)."""
    runs = results.fidelity_runs(df)
    if runs.empty:
        st.info(
            "No evaluated sample yet: `journeylab evaluate --run-id FIT_RUN` (or "
            "`journeylab compare HOLDOUT SAMPLE --reference TRAIN`) and its verdict in "
            "words appears here."
        )
        return
    run = ui.pick_run("Scorecard of", runs, key="ov_score", help="a comparison or a report")
    st.caption(ui.lineage_label(run))
    show_scorecard(results.run_scorecard(df, run), key="ov")


def body(uri: str, df: pd.DataFrame) -> None:
    st.subheader("Scorecard")
    ui.guard(lambda: scorecard(df))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Datasets", df.dataset.nunique())
    c2.metric("Runs", len(df))
    c3.metric("Trained generators", int(((df.kind == "fit") & (df.status == "FINISHED")).sum()))
    c4.metric("Failed runs", int((df.status == "FAILED").sum()))

    st.subheader("Datasets")
    ui.guard(lambda: st.dataframe(datasets_table(df, uri), hide_index=True))

    st.subheader("Best run per dataset and epsilon")
    best = results.best_runs(df, uri)
    if best.empty:
        st.info(
            "No evaluated generator yet: compare a sample with the holdout "
            "(`journeylab compare HOLDOUT SAMPLE --reference TRAIN`) or measure utility "
            "(`journeylab predict utility ...`) and the best runs appear here."
        )
    else:
        best = best.assign(epsilon=best.epsilon.map(ui.eps_label))
        st.dataframe(
            best,
            hide_index=True,
            column_config={"value": st.column_config.NumberColumn(format="%.4f")},
        )
        st.caption(
            "Fidelity: lowest 3-gram TVD against the real holdout. Utility: highest "
            "mean TSTR/TRTR AUC ratio. " + ui.REAL_DATA_CAVEAT
        )

    st.subheader("Recent runs")
    st.dataframe(ui.run_table(df.head(10), ["run_id"]), hide_index=True)


ui.page(
    "JourneyLab",
    body,
    intro="Privacy-preserving synthetic customer journeys: what is in "
    "the store, and which generator does best.",
)
