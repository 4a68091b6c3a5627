"""Runs: a sortable, filterable table of every run, and two or more runs side by side."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from journeylab.app import comparison, results, store, ui
from journeylab.evaluation import charts
from journeylab.evaluation.verdict import METRICS
from journeylab.journeys.errors import ConfigError

SCORES = ("detection_auc", "tstr_ratio", "tvd_3gram", "length_w1_ratio")  # verdict.METRICS
OTHER = {"fit_seconds": "fit s", "privacy.epsilon": "ε spent"}


def filtered(df: pd.DataFrame) -> pd.DataFrame:
    cols = st.columns(5)
    picks = {}
    for col, (field, label) in zip(
        cols,
        [
            ("dataset", "Dataset"),
            ("kind", "Kind"),
            ("generator", "Generator"),
            ("status", "Status"),
        ],
        strict=False,
    ):
        options = sorted(str(v) for v in df[field].dropna().unique())
        picks[field] = col.multiselect(label, options, key=f"runs_{field}")
    text = cols[4].text_input("Name contains", key="runs_text")
    out = df
    for field, chosen in picks.items():
        if chosen:
            out = out[out[field].astype(str).isin(chosen)]
    if text:
        out = out[out.name.str.contains(text, case=False, regex=False)]
    return out


def own_score(df: pd.DataFrame, key: str) -> pd.Series:
    """A run's own logged score `key` (NaN where it logged none)."""
    if key == "tstr_ratio":
        return store.utility_score(df)
    col = store.metric_column(df, key)
    return df[col].astype(float) if col else pd.Series(float("nan"), df.index)


def summary(df: pd.DataFrame, uri: str) -> pd.DataFrame:
    """The table, scores first (friendly names, 3 decimals): a fit run shows the scores
    of its samples (their comparisons, reports and utility runs)."""
    by_fit = results.scores_by_fit(df, uri)
    fits = df.kind == "fit"
    scores = {}
    for key in SCORES:
        own = own_score(df, key)
        if key in by_fit:
            own = own.where(~fits | own.notna(), df.run_id.map(by_fit[key]))
        scores[METRICS[key][0]] = own.round(3)
    table = ui.run_table(df, ["duration_s"])
    first = pd.DataFrame(scores, index=df.index)
    for key, label in OTHER.items():
        col = store.metric_column(df, key)
        if col:
            table[label] = df[col].astype(float).round(3)
    out = pd.concat([table[["name"]], first, table.drop(columns="name")], axis=1)
    out["run_id"] = df.run_id
    return out.dropna(axis=1, how="all")


def score_columns() -> dict:
    """Each score column explained in its header's tooltip."""
    return {
        name: st.column_config.NumberColumn(name, help=explain, format="%.3f")
        for name, explain in (METRICS[k] for k in SCORES)
    }


def side_by_side(df: pd.DataFrame, ids: list[str], only_diff: bool) -> pd.DataFrame:
    chosen = df.set_index("run_id").loc[ids]
    keep = [
        c
        for c in chosen.columns
        if c.startswith(("metrics.", "params."))
        or c
        in (
            "kind",
            "dataset",
            "generator",
            "epsilon",
            "delta",
            "fit_run_id",
            "status",
            "duration_s",
            "fingerprint",
            "error",
        )
    ]
    t = chosen[keep].T.dropna(how="all")
    labels = ui.run_labels(df)
    t.columns = [labels[i] for i in ids]
    if only_diff and len(ids) > 1:
        t = t[t.astype(str).nunique(axis=1) > 1]
    return t.astype(str).replace({"nan": "", "None": ""})


def picked(uri: str, df: pd.DataFrame) -> list[str]:
    """The runs to compare: picked by hand, or by a preset (two generators, two epsilons)."""
    how = st.radio("Compare", comparison.PRESETS, horizontal=True, key="runs_preset")
    if how == comparison.PRESETS[0]:
        labels = ui.run_labels(df)
        return st.multiselect(
            "Compare runs",
            list(labels),
            format_func=labels.get,
            key="runs_compare",
            help="Pick two or more runs",
        )
    fits = comparison.measured_fits(df, uri)
    if fits.empty:
        st.info(
            "No fit whose samples were measured yet: compare a sample with "
            "`journeylab compare HOLDOUT SAMPLE --reference TRAIN` (or evaluate it)."
        )
        return []
    cols = st.columns(3)
    dataset = cols[0].selectbox("Dataset", sorted(fits.dataset.unique()), key="runs_p_ds")
    gens = comparison.generator_choices(fits, dataset)
    if how == comparison.PRESETS[1]:
        if len(gens) < 2:
            st.info(f"Only {gens} has measured fits on {dataset}: fit and measure another.")
            return []
        a = cols[1].selectbox("Generator A", gens, index=0, key="runs_p_ga")
        b = cols[2].selectbox("Generator B", gens, index=1, key="runs_p_gb")
        pairs = [dict(dataset=dataset, generator=g) for g in (a, b)]
    else:
        gen = cols[1].selectbox("Generator", gens, key="runs_p_gen")
        eps = comparison.epsilon_choices(fits, dataset, gen)
        if len(eps) < 2:
            st.info(
                f"{gen} has measured fits at one epsilon only ({comparison.eps_text(eps[0])}) "
                f"on {dataset}: fit it at another --epsilon and measure a sample."
            )
            return []
        two = cols[2].multiselect(
            "Two epsilons",
            eps,
            default=[eps[0], eps[-1]],
            format_func=comparison.eps_text,
            max_selections=2,
            key="runs_p_eps",
        )
        pairs = [dict(dataset=dataset, generator=gen, epsilon=e) for e in two]
    ids = [comparison.newest(fits, **p) for p in pairs]
    st.caption(
        "The newest measured fit of each: "
        + "; ".join(fits.set_index("fit_run_id").label[i] for i in ids if i)
    )
    return list(dict.fromkeys(i for i in ids if i))


def compare(uri: str, df: pd.DataFrame) -> None:
    ids = picked(uri, df)
    if len(ids) < 2:
        if st.session_state.get("runs_preset", comparison.PRESETS[0]) == comparison.PRESETS[0]:
            st.info("Pick two or more runs to see them side by side.")
        return
    labels = ui.run_labels(df)
    ratios = comparison.reference_ratios(df, uri, ids)
    if ratios.empty:
        st.info(
            "None of these runs measured a synthetic log against real data, so there is "
            "no ratio to draw; the table below has what they logged."
        )
    else:
        st.plotly_chart(
            comparison.ratio_bars(ratios, labels, title="Scores as ratios to real data"),
            key="runs_ratios",
        )
        missing = [labels[i] for i in ids if i not in ratios.dropna(axis=1, how="all").columns]
        st.caption(
            "Each bar: the run's score over what two sets of real customers score (the "
            "real-vs-real reference of the same comparison); 1 = as close as fresh real "
            "data. The synthetic-trained / real-trained AUC is such a ratio already. A fit "
            "shows the mean over the runs that measured its samples."
            + (f" Not measured against real data: {', '.join(missing)}." if missing else "")
        )
    only_diff = st.toggle("Only rows that differ", value=True, key="runs_diff")
    st.dataframe(side_by_side(df, ids, only_diff))
    chosen = df.set_index("run_id").loc[ids]
    fits = [i for i in ids if chosen.at[i, "kind"] == "fit"]
    history = sorted(
        {
            c.removeprefix("metrics.")
            for c in chosen.columns
            if c.startswith("metrics.")
            and chosen.loc[fits, c].notna().any()
            and c not in ("metrics.fit_seconds",)
            and not (c.startswith("metrics.privacy.") and "spent" not in c)
        }
    )
    if fits and history:
        key = st.selectbox("Training curve", history, key="runs_history")
        series = {labels[i]: store.metric_history(uri, i, key) for i in fits}
        st.plotly_chart(charts.lines(series, title=f"{key} per epoch", xlabel="epoch"))


def reports(uri: str, df: pd.DataFrame) -> None:
    """Evaluation reports (`journeylab evaluate`): headline figures and the HTML report."""
    ev = df[(df.kind == "evaluate") & (df.status == "FINISHED")]
    if ev.empty:
        st.info(
            "No evaluation report yet: `journeylab evaluate --train T --holdout H "
            "--synthetic S` (or `--run-id R`) writes one and logs it here."
        )
        return
    row = ui.pick_run("Report", ev, key="runs_report")
    try:
        html = store.artifact_path(uri, row.run_id, row.artifact_uri, "report/report.html")
    except ConfigError as e:
        st.warning(str(e))
        return
    figures = {
        label: row.get(f"metrics.{key}")
        for key, label in (
            ("detection_auc", "detection AUC"),
            ("tvd_3gram", "3-gram TVD"),
            ("mia_distance_auc", "membership-inference AUC"),
            ("dcr_share", "DCR share"),
        )
        if pd.notna(row.get(f"metrics.{key}"))
    }
    if figures:
        for col, (label, value) in zip(st.columns(len(figures)), figures.items(), strict=True):
            col.metric(label, f"{value:.3f}")
    st.download_button(
        "Download the HTML report",
        data=html.read_bytes(),
        file_name=f"{row['name']}.html",
        mime="text/html",
        key="runs_report_dl",
    )
    st.caption("The report works offline. " + ui.REAL_DATA_CAVEAT)


def body(uri: str, df: pd.DataFrame) -> None:
    view = filtered(df)
    st.caption(f"{len(view)} of {len(df)} runs · click a column header to sort")
    st.dataframe(
        summary(view, uri),
        hide_index=True,
        column_config={
            **score_columns(),
            "duration_s": st.column_config.NumberColumn("duration s", format="%.1f"),
        },
    )
    failed = view[view.status == "FAILED"]
    if not failed.empty:
        with st.expander(f"{len(failed)} failed run(s): why"):
            st.dataframe(failed[["name", "error"]], hide_index=True)
    st.subheader("Side by side")
    compare(uri, view)
    st.subheader("Evaluation reports")
    reports(uri, view)


ui.page(
    "Runs",
    body,
    intro="Every run in the store: generators fitted, samples drawn, "
    "comparisons, audits and predictors.",
)
