"""The Privacy page's two tools: the epsilon calculator and the audits run from the page.

    calculator()              # epochs, batch, noise, customers, delta -> epsilon (or back)
    audit_action(uri, runs)   # pick a sample run, audit it, log the audit to MLflow

Both only call the library: `privacy.calculator` (the accountant a fit uses) and
`journeylab.audit.audit_sample` (the code path of `journeylab audit`). The calculator
needs no store, so the page draws it also where the store is missing or empty.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from journeylab.app import store, ui
from journeylab.journeys.errors import ConfigError
from journeylab.store import resolve_path

MIA_HELP = (
    "0.5 means an attacker holding the synthetic data cannot tell training customers from "
    "others (by distance to the closest synthetic journey); 1.0 is a total leak."
)
DCR_HELP = (
    "share of synthetic journeys closer to a training journey than to a holdout one: 0.5 "
    "is ideal, 1.0 means every synthetic journey sits on a training journey."
)
CALC = {"eps": "ε from the noise", "noise": "noise for a target ε"}
AUDIT_NAMES = {
    "mia_distance_auc": "Membership inference AUC (distance)",
    "mia_distance_tpr_at_fpr_0.1": "True-positive rate at 10% false positives (distance)",
    "mia_density_ratio_auc": "Membership inference AUC (density ratio)",
    "mia_density_ratio_tpr_at_fpr_0.1": "True-positive rate at 10% false positives (density)",
    "dcr_share": "DCR share (closer to train than to holdout)",
    "exact_copy_share": "Exact copies of training journeys",
    "exact_copy_share_holdout": "Exact copies of holdout journeys (chance)",
}


# --- the epsilon calculator -----------------------------------------------------------
def calculator() -> None:
    st.subheader("Epsilon calculator")
    st.caption(
        "What DP-SGD training spends, from the project's accountant (RDP, Poisson sampling "
        "of customers), before anything is trained. It covers training only: a fit whose "
        "schema leaves domains undeclared, or that releases a journey profile, spends a "
        "share of its total on those first."
    )
    mode = st.radio("Work out", list(CALC), format_func=CALC.get, horizontal=True, key="pv_cm")
    with st.form("pv_calc"):
        a, b, c = st.columns(3)
        n = a.number_input("Customers in the training data", 1, 10**9, 1000, key="pv_cn")
        batch = b.number_input("Expected batch size", 1, 10**7, 64, key="pv_cb")
        epochs = c.number_input("Epochs", 1, 100_000, 10, key="pv_ce")
        d, e = st.columns(2)
        if mode == "eps":
            value = d.number_input("Noise multiplier σ", 0.0, 1e3, 1.0, format="%.4f", key="pv_cs")
        else:
            value = d.number_input("Target ε", 0.0, 1e4, 8.0, format="%.4f", key="pv_ct")
        delta = e.text_input("δ (blank: the default, below 1/N)", key="pv_cd")
        if st.form_submit_button("Calculate"):
            args = dict(n_customers=int(n), batch_size=int(batch), epochs=int(epochs))
            st.session_state["pv_calc_inputs"] = (mode, value, args, delta)
    if "pv_calc_inputs" in st.session_state:
        ui.guard(lambda: estimate(*st.session_state["pv_calc_inputs"]))


def _delta(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        raise ConfigError(f"δ must be a number such as 1e-5, or blank; got {text!r}") from None


@st.cache_data(show_spinner="asking the accountant", max_entries=64)
def _estimate(mode: str, value: float, args: dict, delta: float | None) -> dict:
    from journeylab.privacy.calculator import epsilon_for, noise_for

    if mode == "eps":
        return epsilon_for(noise_multiplier=value, delta=delta, **args).to_dict()
    return noise_for(target_epsilon=value, delta=delta, **args).to_dict()


def estimate(mode: str, value: float, args: dict, delta: str) -> None:
    est = _estimate(mode, value, args, _delta(delta))
    a, b, c = st.columns(3)
    a.metric("ε (RDP accountant)", f"{est['epsilon']:.4g}")
    b.metric("Noise multiplier σ", f"{est['noise_multiplier']:.4g}")
    c.metric("δ", f"{est['delta']:.2g}")
    st.caption(
        f"{est['steps']} steps at sampling rate q = {est['sample_rate']:.4g} (each customer "
        f"joins a batch with probability q; {est['expected_batch_size']:.4g} customers a batch "
        "on average). The bound is per customer: adding or removing one customer's whole "
        "journey changes the probability of any outcome of training by at most a factor "
        "e^ε, plus δ."
    )


# --- audits from the page ----------------------------------------------------------------
def audit_action(uri: str, df: pd.DataFrame) -> None:
    samples = ui.finished(df, "sample")
    if not samples.empty and "params.output" in samples:
        kept = samples["params.output"].map(lambda p: resolve_path(p, uri) is not None)
        samples = samples[kept]
    if samples.empty:
        st.info("No sample file to audit: draw one with `journeylab sample --run-id FIT`.")
        return
    run = ui.pick_run("Sample to audit", samples, key="pv_audit_sample")
    st.caption(ui.lineage_label(run))
    if st.button("Run the membership-inference and DCR audits", key="pv_audit_go"):
        st.session_state["pv_audit_done"] = (run.run_id, *audit(run.run_id))
        store.clear_caches()  # the new audit run joins the table below
        st.rerun()
    done = st.session_state.get("pv_audit_done")
    if done is not None and done[0] == run.run_id:
        audit_result(*done)


def audit(run_id: str) -> tuple[dict, str, list[str]]:
    """Audit a sample run as `journeylab audit` does, its steps shown as they happen;
    (report, audit run id, the steps)."""
    from journeylab.audit import audit_sample  # sklearn and the audits: only when asked

    steps: list[str] = []

    def step(text: str) -> None:
        steps.append(text)
        status.write(text)

    with st.status("Auditing the sample", expanded=True) as status:
        try:
            report, rid = audit_sample(run_id, progress=step)
        except Exception:
            status.update(label="The audit could not run", state="error")
            raise
    return report.to_dict(), rid, steps


def audit_result(sample_id: str, report: dict, rid: str, steps: list[str]) -> None:
    with st.status(f"Audit logged to MLflow run {rid}", state="complete"):
        st.markdown("\n".join(f"- {s}" for s in steps))
    metrics = report["metrics"]
    st.markdown(f"**Audit of this sample** (MLflow run {rid})")
    a, b = st.columns(2)
    a.metric("Membership inference AUC", f"{metrics['mia_distance_auc']:.3f}", help=MIA_HELP)
    b.metric("DCR share", f"{metrics['dcr_share']:.3f}", help=DCR_HELP)
    rows = [(AUDIT_NAMES.get(k, k), round(v, 3)) for k, v in metrics.items()]
    st.dataframe(pd.DataFrame(rows, columns=["audit", "value"]), hide_index=True, key="pv_ar")
    st.caption(f"Membership inference AUC: {MIA_HELP} DCR share: {DCR_HELP} {report['caveat']}")
