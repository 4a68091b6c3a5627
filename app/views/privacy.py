"""Privacy: per dataset, the ledger with its cap and what is left; each run's privacy card;
epsilon over steps; the audits and their caveat."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st

from journeylab.app import event_logs, privacy_tools, results, store, ui
from journeylab.evaluation import charts
from journeylab.evaluation.verdict import METRICS
from journeylab.journeys.errors import ConfigError
from journeylab.privacy.caveats import AUDIT_CAVEAT

RECORDS = ("privacy_record.json", "privacy.json")
RDP_VS_PRV = (
    "RDP and PRV are two accountants of the same training: RDP (Rényi DP) gives the "
    "guaranteed upper bound the budget is charged with; PRV computes the privacy loss "
    "numerically and more tightly, so its smaller epsilon is a cross-check, not the figure "
    "that counts."
)
TRADEOFF_MEASURES = {k: (METRICS[k][0], ideal) for k, ideal in results.TRADEOFF.items()}
NO_TRADEOFF = (
    "No fit with a measured sample yet. The trade-off needs fits at several ε, each with "
    "a comparison (`journeylab compare HOLDOUT SAMPLE --reference TRAIN`), a report "
    "(`journeylab evaluate --run-id FIT`) or a utility run of a sample."
)
TRADEOFF_HELP = (
    "Each point is a fit at the ε it spent, scored on its samples. Detection AUC: 0.5 "
    "means a classifier cannot tell synthetic from real journeys. Length distance ratio: "
    "1.0 is as close as fresh real data. Synthetic-trained / real-trained AUC: 1.0 is as "
    "useful as real data. Dashed: the same measures without DP; dotted: what real data "
    "scores; the vertical line: the dataset's ε cap. "
)


def fmt_delta(x) -> str:
    """δ to two significant figures (1e-05), blank when unknown."""
    return "" if x is None or pd.isna(x) else f"{float(x):.2g}"


def ledger(uri: str, df: pd.DataFrame) -> None:
    view = event_logs.ledger(uri)
    if view is None:
        st.info(
            f"No privacy ledger at {event_logs.ledger_path(uri)} yet: no DP run has reserved "
            "budget on any dataset. Caps are set with `journeylab privacy cap`."
        )
        return
    for p in view.problems:
        st.warning(f"Ledger {view.path}: {p}")
    if any("acknowledged" not in p for p in view.problems):
        st.error(
            "The ledger fails to verify: the totals below are what can be read (a lower bound) "
            "and every new release is refused. Run `journeylab privacy ledger --verify` for "
            "the lines and the repair."
        )
    if view.summary.empty:
        st.info("The ledger is empty.")
        return
    names = df.groupby("fingerprint").dataset.first().to_dict() if not df.empty else {}
    s = view.summary.copy()
    s["label"] = [f"{names.get(fp, '?')} ({fp})" for fp in s.dataset]
    table = pd.DataFrame(
        {
            "dataset": s.label,
            "ε spent": s.epsilon.map(event_logs.fmt_eps),
            "δ spent": s.delta.map(fmt_delta),
            "releases": s.releases,
            "ε cap": s.cap_epsilon.map(lambda x: "none" if pd.isna(x) else event_logs.fmt_eps(x)),
            "ε left": [
                event_logs.left_label(c, left, spent)
                for c, left, spent in zip(s.cap_epsilon, s.left_epsilon, s.epsilon, strict=True)
            ],
        }
    )
    st.dataframe(table, hide_index=True)
    st.plotly_chart(
        charts.budget_bars(s, title="Budget per dataset (basic composition)"), key="pv_budget"
    )
    labels = dict(zip(s.dataset, s.label, strict=True))
    fp = st.selectbox("Releases of", list(s.dataset), format_func=labels.get, key="pv_fp")
    e = view.entries
    if not e.empty:
        cols = [
            "time",
            "run_id",
            "mechanism",
            "status",
            "epsilon",
            "spent_epsilon",
            "delta",
            "spent_delta",
            "note",
        ]
        e = e[e.dataset == fp][[c for c in cols if c in e]].copy()
        if "time" in e:
            e["time"] = e["time"].map(event_logs.fmt_time)
        for c in ("epsilon", "spent_epsilon"):
            e[c] = e[c].map(event_logs.fmt_eps)
        for c in ("delta", "spent_delta"):
            e[c] = e[c].map(fmt_delta)
        st.dataframe(
            e.rename(
                columns={
                    "epsilon": "ε reserved",
                    "spent_epsilon": "ε spent",
                    "delta": "δ reserved",
                    "spent_delta": "δ spent",
                }
            ),
            hide_index=True,
        )


def _record(uri: str, run: pd.Series) -> dict | None:
    files = store.artifact_files(uri, run.run_id, run.artifact_uri)
    for name in RECORDS:
        if name in files:
            return store.read_json(uri, run.run_id, run.artifact_uri, name)
    return None


@st.cache_data(show_spinner="drawing the privacy card", max_entries=32)
def _card(record_json: str) -> tuple[str, str]:
    """(the card's Markdown as downloaded, its HTML)."""
    from journeylab.privacy.card import PrivacyCard

    card = PrivacyCard.from_record(json.loads(record_json))
    return card.markdown, card.html


def card_title(run: pd.Series) -> str:
    """A card's title in words: what was trained on what, at which epsilon, and when."""
    when = event_logs.fmt_time(run.start) if pd.notna(run.start) else "unknown time"
    return (
        f"Privacy card · {run.generator or 'generator'} on {run.dataset}, "
        f"{ui.eps_label(run.epsilon)} · {when}"
    )


def card(uri: str, df: pd.DataFrame) -> None:
    fits = ui.finished(df, "fit")
    if fits.empty:
        st.info("No trained generator yet, so no privacy card.")
        return
    run = ui.pick_run("Run", fits, key="pv_run")
    rec = _record(uri, run)
    led = event_logs.ledger(uri)
    spent = None
    if led is not None and not led.summary.empty and run.fingerprint in set(led.summary.dataset):
        spent = led.summary.set_index("dataset").loc[run.fingerprint].to_dict()
    full = results.privacy_record(run, rec, None, spent)
    md, html = _card(json.dumps(full, default=str))
    st.markdown(f"**{card_title(run)}**")
    dp = rec is not None and rec.get("dp", True)
    if not dp:
        st.warning(
            "This run is not differentially private: "
            + ("it logged no privacy record." if rec is None else "it trained without DP-SGD.")
            + " Its model and samples carry no formal guarantee."
        )
    else:
        steps(uri, run, rec)
    with st.expander("Privacy card", expanded=dp):
        st.markdown(results.readable_card(md))
    a, b = st.columns(2)
    a.download_button(
        "Download card (Markdown)",
        md,
        f"privacy-card-{run.run_id[:8]}.md",
        "text/markdown",
        on_click="ignore",
        key="pv_md",
    )
    b.download_button(
        "Download card (HTML)",
        html,
        f"privacy-card-{run.run_id[:8]}.html",
        "text/html",
        on_click="ignore",
        key="pv_html",
    )


def steps(uri: str, run: pd.Series, rec: dict) -> None:
    rec = rec.get("training", rec)
    series = {}
    marks = rec.get("epsilon_over_steps") or []
    if marks:
        series["accountant during training"] = pd.DataFrame(marks, columns=["step", "value"])
    if all(k in rec for k in ("noise_multiplier", "sample_rate", "steps", "delta")):
        try:
            from journeylab.privacy.card import epsilon_curve

            xs, ys = epsilon_curve(
                noise_multiplier=rec["noise_multiplier"],
                sample_rate=rec["sample_rate"],
                steps=max(int(rec["steps"]), 1),
                delta=rec["delta"],
            )
            series["RDP accountant"] = pd.DataFrame({"step": xs, "value": ys})
        except (ImportError, ConfigError, ValueError) as e:
            st.caption(f"(no recomputed curve: {e})")
    eps, delta = rec.get("epsilon"), rec.get("delta")
    st.metric(
        "ε spent by training",
        event_logs.fmt_eps(eps) if eps is not None else "unknown",
        help=f"δ = {delta:.2g}" if isinstance(delta, float) else None,
    )
    st.caption(RDP_VS_PRV)
    st.plotly_chart(
        charts.lines(series, title="Epsilon over training steps", ylabel="epsilon"), key="pv_steps"
    )


def audits(uri: str, df: pd.DataFrame) -> None:
    runs = ui.finished(df, "audit")
    if runs.empty:
        st.info("No audit yet: `journeylab audit --train T --holdout H --synthetic S`.")
        st.caption(AUDIT_CAVEAT)
        return
    metrics = [c for c in runs.columns if c.startswith("metrics.") and runs[c].notna().any()]
    table = ui.run_table(runs)
    for c in metrics:
        table[c.removeprefix("metrics.")] = runs[c].astype(float).round(3)
    st.dataframe(table, hide_index=True)
    run = ui.pick_run("Audit", runs, key="pv_audit")
    caveat = AUDIT_CAVEAT
    if "audits.json" in store.artifact_files(uri, run.run_id, run.artifact_uri):
        report = store.read_json(uri, run.run_id, run.artifact_uri, "audits.json")
        caveat = report.get("caveat", caveat)
        sizes = report.get("sizes") or {}
        if sizes:
            st.caption("Sample sizes: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    st.warning(caveat)


# --- the privacy-utility trade-off ----------------------------------------------------
def dataset_cap(uri: str, fingerprint: str) -> float | None:
    view = event_logs.ledger(uri)
    if view is None or view.summary.empty:
        return None
    caps = view.summary.set_index("dataset").cap_epsilon
    cap = caps.get(fingerprint)
    return None if cap is None or pd.isna(cap) else float(cap)


def tradeoff(uri: str, df: pd.DataFrame) -> None:
    frame = results.tradeoff(df, uri)
    if frame.empty:
        st.info(NO_TRADEOFF)
        return
    labels = dict(
        zip(frame.fingerprint, frame.dataset + " (" + frame.fingerprint + ")", strict=True)
    )
    a, b = st.columns(2)
    fp = a.selectbox("Data", list(labels), format_func=labels.get, key="pv_to_fp")
    of = frame[frame.fingerprint == fp]
    dp = of[np.isfinite(of.epsilon)]
    gens = sorted(set(of.generator.dropna()), key=lambda g: (g not in set(dp.generator), g))
    generator = b.selectbox("Generator", gens, key="pv_to_gen")
    points = dp[dp.generator == generator]
    cap = dataset_cap(uri, fp)
    figure = charts.tradeoff(
        points,
        measures=TRADEOFF_MEASURES,
        reference=results.tradeoff_reference(frame, fingerprint=fp, generator=generator),
        cap=cap,
        title=f"Privacy-utility trade-off · {generator} on {labels[fp]}",
    )
    st.plotly_chart(figure, key="pv_tradeoff")
    st.caption(TRADEOFF_HELP + ui.REAL_DATA_CAVEAT)
    if points.empty:
        st.info(f"No DP fit of {generator} on this data has a measured sample yet.")
        return
    names = {k: name for k, (name, _) in TRADEOFF_MEASURES.items()}
    table = points[["name", "epsilon", *names]].rename(columns={**names, "epsilon": "ε"})
    st.dataframe(table.round(3), hide_index=True, key="pv_to_table")


def body(uri: str, df: pd.DataFrame) -> None:
    st.subheader("Ledger")
    ui.guard(lambda: ledger(uri, df))
    st.subheader("Privacy-utility trade-off")
    ui.guard(lambda: tradeoff(uri, df))
    st.subheader("Privacy card")
    ui.guard(lambda: card(uri, df))
    st.subheader("Audits")
    ui.guard(lambda: privacy_tools.audit_action(uri, df))
    ui.guard(lambda: audits(uri, df))


ui.page(
    "Privacy",
    body,
    intro="What was spent on each dataset, what each epsilon covers, "
    "and whether an attack can tell who was in the training data.",
    always=privacy_tools.calculator,
)
