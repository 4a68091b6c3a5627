"""Predictors: ROC, lift and calibration of churn/purchase models on the real holdout,
and TRTR (train on real) against TSTR (train on synthetic)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from journeylab.app import results, store, ui
from journeylab.evaluation import charts

NOTE = "Every model is tested on the same real holdout; " + ui.REAL_DATA_CAVEAT


def utility(uri: str, df: pd.DataFrame) -> None:
    long = results.utility_long(df)
    if long.empty:
        st.info(
            "No TRTR/TSTR comparison yet: `journeylab predict utility --train T "
            "--holdout H --synthetic S`."
        )
        return
    runs = df[df.run_id.isin(set(long.run_id))]
    run = ui.pick_run("Comparison", runs, key="pr_util")
    measure = st.radio(
        "Measure",
        ["auc", "auc_ratio", "pr_auc", "brier", "top_decile_lift"],
        horizontal=True,
        key="pr_measure",
    )
    table = results.utility_table(long, run.run_id, measure)
    if table.empty:
        st.info(f"This run logged no {measure}.")
        return
    st.dataframe(table.style.format("{:.3f}"))
    frame = table.copy()
    frame.index = [f"{t} · {m}" for t, m in frame.index]
    st.plotly_chart(
        charts.metric_bars(frame.T, title=f"{measure}: TRTR vs TSTR vs augmented"), key="pr_bars"
    )
    st.caption(
        "TRTR: trained on real train customers. TSTR: trained on a synthetic log. "
        "auc_ratio: AUC / TRTR AUC (1.0 = as useful as real data). " + NOTE
    )


def evaluation(uri: str, df: pd.DataFrame) -> None:
    runs = ui.finished(df, "predict")
    runs = runs[[not results.evaluation_metrics(r).empty for _, r in runs.iterrows()]]
    if runs.empty:
        st.info(
            "No predictor evaluation yet: `journeylab predict train --data TRAIN --out DIR "
            "--holdout HOLDOUT` (or `journeylab predict evaluate`)."
        )
        return
    run = ui.pick_run("Evaluation", runs, key="pr_eval")
    st.dataframe(results.evaluation_metrics(run).style.format("{:.3f}"))
    files = store.artifact_files(uri, run.run_id, run.artifact_uri)
    tables = results.curve_tables(files)
    if not tables:
        st.warning("This run has no lift, calibration or ROC artefacts (tables/, plots/).")
        return
    task = st.selectbox("Task", sorted(tables), key="pr_task")
    curves(uri, run, tables[task], task)


def curves(uri: str, run: pd.Series, found: dict[str, str], task: str) -> None:
    a, b = st.columns(2)
    with a:
        ui.guard(lambda: _lift(uri, run, found.get("lift"), task))
    with b:
        ui.guard(lambda: _calibration(uri, run, found.get("calibration"), task))
    if "roc" in found:
        st.image(
            str(store.artifact_path(uri, run.run_id, run.artifact_uri, found["roc"])),
            caption=f"ROC and precision-recall curves: {task} (as logged by the run)",
        )
    else:
        st.info("No ROC plot logged.")
    st.caption(NOTE)


def _csv(uri: str, run: pd.Series, path: str, needed: tuple[str, ...]) -> pd.DataFrame:
    from journeylab.journeys.errors import ConfigError

    try:
        t = pd.read_csv(store.artifact_path(uri, run.run_id, run.artifact_uri, path))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"artefact '{path}' of run {run.run_id} is corrupt ({e})") from e
    missing = [c for c in needed if c not in t]
    if missing:
        raise ConfigError(
            f"artefact '{path}' of run {run.run_id} lacks columns {missing}; "
            "it was written by another version of JourneyLab"
        )
    return t


def _lift(uri: str, run: pd.Series, path: str | None, task: str) -> None:
    if path is None:
        st.info("No lift table logged.")
        return
    t = _csv(uri, run, path, ("bin", "lift"))
    st.plotly_chart(
        charts.curves(
            [("lift", t["bin"].tolist(), t["lift"].tolist())],
            title=f"Lift per score decile: {task}",
            xlabel="decile (1 = highest scores)",
            ylabel="lift",
            baseline=1.0,
        ),
        key="pr_lift",
    )


def _calibration(uri: str, run: pd.Series, path: str | None, task: str) -> None:
    if path is None:
        st.info("No calibration table logged.")
        return
    t = _csv(uri, run, path, ("mean_predicted", "observed"))
    name = run.get("params.model")
    st.plotly_chart(
        charts.curves(
            [
                (
                    name if isinstance(name, str) else "model",
                    t["mean_predicted"].tolist(),
                    t["observed"].tolist(),
                )
            ],
            title=f"Calibration: {task}",
            xlabel="mean predicted",
            ylabel="observed rate",
            diagonal=True,
        ),
        key="pr_calib",
    )


def body(uri: str, df: pd.DataFrame) -> None:
    st.subheader("TRTR vs TSTR")
    ui.guard(lambda: utility(uri, df))
    st.subheader("Evaluations")
    ui.guard(lambda: evaluation(uri, df))


ui.page(
    "Predictors",
    body,
    intro="Churn and purchase predictors trained on real and on "
    "synthetic journeys, tested on real customers.",
)
