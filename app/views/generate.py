"""Generate: pick a trained generator, set conditions and a count, sample, preview, check
its validity against the training data, and download as CSV or Parquet. Sampling a
trained DP generator costs no extra budget."""

from __future__ import annotations

import io
import uuid

import pandas as pd
import streamlit as st

from journeylab.app import event_logs, store, ui
from journeylab.app.scorecard import show_scorecard, show_validity
from journeylab.evaluation import charts
from journeylab.evaluation.validity import pct, validity
from journeylab.store import resolve_path, store_root

ANY = "(any)"
LOG_HELP = (
    "Runs `journeylab sample` with this model, count, seed and conditions: the same "
    "journeys, written to samples/ beside the store and logged as a sample run."
)
EVAL_HELP = (
    "Runs `journeylab evaluate --run-id` on the logged sample (logistic regression, no "
    "SDMetrics): fidelity, utility and audits against the fit's train and holdout logs."
)
MAX_N = 10_000
FREE = (
    "Sampling from a trained DP generator costs no extra privacy budget: samples are "
    "post-processing of the private model, so the ledger records nothing for them."
)


def model_info(gen, meta: dict, run: pd.Series) -> None:
    rec = meta.get("privacy") or {}
    a, b, c = st.columns(3)
    a.metric("Generator", meta.get("generator", run.generator))
    b.metric("Dataset", meta.get("schema", {}).get("name", run.dataset))
    eps = rec.get("epsilon") if rec else None
    c.metric(
        "Privacy",
        f"ε={eps:.3g}" if eps is not None else "no DP",
        help=f"δ = {rec.get('delta')}" if rec else "trained without differential privacy",
    )
    if rec:
        st.success(FREE)
    else:
        st.info(
            "This generator was trained without differential privacy: its samples carry "
            "no formal guarantee."
        )


def conditions(gen) -> dict:
    """A select box per categorical context column; numeric ones take an optional value."""
    schema = gen.schema
    out = {}
    cols = st.columns(3)
    for i, name in enumerate(schema.context_names()):
        column = schema.column(name)
        with cols[i % 3]:
            if column.kind == "categorical":
                v = st.selectbox(name, [ANY, *column.values], key=f"gen_c_{name}")
                if v != ANY:
                    out[name] = v
            else:
                v = st.text_input(f"{name} (number, blank = any)", key=f"gen_c_{name}")
                if v.strip():
                    out[name] = float(v)
    return out


def files(df: pd.DataFrame) -> dict[str, bytes]:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return {"csv": df.to_csv(index=False).encode(), "parquet": buf.getvalue()}


def preview(sample: dict) -> None:
    log = sample["log"]
    st.write(f"**{log.n_customers} journeys, {log.n_events} events** · {sample['label']}")
    a, b = st.columns(2)
    stem = sample["stem"]
    a.download_button(
        "Download CSV", sample["csv"], f"{stem}.csv", "text/csv", on_click="ignore", key="gen_csv"
    )
    b.download_button(
        "Download Parquet",
        sample["parquet"],
        f"{stem}.parquet",
        "application/vnd.apache.parquet",
        on_click="ignore",
        key="gen_parquet",
    )
    sample_validity(sample)
    st.dataframe(log.df.head(500), hide_index=True)
    ids = list(log.customers[:8])
    st.plotly_chart(charts.timeline(log, ids, title=f"First {len(ids)} journeys"), key="gen_tl")
    st.caption(
        "Until it is logged, this sample lives in this browser session only; the Journeys "
        "and Fidelity pages can show it."
    )


def training_validity(uri: str, df: pd.DataFrame, run: pd.Series, log) -> dict | None:
    """Validity of a generated log against the fit's training data (None: the file the
    fit names is gone, so there is nothing to check against)."""
    path = resolve_path(run.get("params.data"), uri)
    if path is None:
        return None
    source = event_logs.Source(path.name, str(path), "real", run.dataset)
    real = event_logs.read_log(source, df, uri)
    return {"of": path.name, **validity(real, log)}


def sample_validity(sample: dict) -> None:
    figures = sample.get("validity")
    if figures is None:
        st.caption("Validity not checked: the training data of this generator is not here.")
        return
    unseen = figures.get("unseen_pair_share", 0.0)
    if unseen > 0:
        st.warning(
            f"{pct(unseen)} of the generated events are channel/event-type combinations "
            f"that never occur in the training data ({figures['of']}). Filter them out, "
            "or train longer, before using this sample."
        )
    with st.expander(f"Validity against the training data ({figures['of']})", expanded=True):
        show_validity(figures, key="gen")


def body(uri: str, df: pd.DataFrame) -> None:
    fits = ui.finished(df, "fit")
    if fits.empty:
        st.info(
            "No trained generator yet: `journeylab fit --data TRAIN.parquet --model vae "
            "[--epsilon 8]`, then come back."
        )
        return
    run = ui.pick_run("Trained generator", fits, key="gen_run")
    with st.spinner("loading the model"):
        gen, meta = store.load_generator(uri, run.run_id, run.artifact_uri)
    model_info(gen, meta, run)
    with st.form("gen_form"):
        cond = conditions(gen)
        a, b = st.columns(2)
        n = a.number_input("Journeys", 1, MAX_N, 100, key="gen_n")
        seed = b.number_input("Seed", 0, 2**31 - 1, 0, key="gen_seed")
        go = st.form_submit_button("Generate", type="primary")
    if go:
        from journeylab.generators.base import sample_log  # the model's modules: loaded above

        with st.spinner(f"sampling {n} journeys"):
            log = sample_log(gen, int(n), conditions=cond or None, seed=int(seed))
        checked: list = []
        ui.guard(lambda: checked.append(training_validity(uri, df, run, log)))
        st.session_state[ui.GENERATED] = {
            "log": log,
            **files(log.df),
            "id": uuid.uuid4().hex,
            "args": {"run_id": run.run_id, "n": int(n), "seed": int(seed), "conditions": cond},
            "validity": checked[0] if checked else None,
            "stem": f"synthetic-{run.generator}-{run.run_id[:8]}-seed{seed}",
            "label": f"generated: {n} from {run['name']} (seed {seed}"
            + "".join(f", {k}={v}" for k, v in cond.items())
            + ")",
        }
    sample = st.session_state.get(ui.GENERATED)
    if sample is not None:
        preview(sample)
        ui.guard(lambda: actions(uri, sample))


# --- log and evaluate a sample: the library code of `journeylab sample` and `evaluate` ---
def actions(uri: str, sample: dict) -> None:
    st.subheader("Keep this sample")
    a, b = st.columns(2)
    logged = sample.get("logged")
    if a.button("Log to MLflow", key="gen_log", disabled=logged is not None, help=LOG_HELP):
        sample["logged"] = log_sample(uri, sample)
        store.clear_caches()
    if sample.get("logged") is not None:
        rid, path = sample["logged"]
        a.success(f"Logged as sample run {rid}: {path}")
    if b.button("Evaluate", key="gen_eval", disabled=sample.get("logged") is None, help=EVAL_HELP):
        sample["evaluated"] = evaluate_sample(uri, sample["logged"][0])
        store.clear_caches()
    if sample.get("evaluated") is not None:
        from journeylab.evaluation.report import report_scorecard

        report, rid = sample["evaluated"]
        st.markdown(f"**Evaluation** (MLflow run {rid}; the report is on the Runs page)")
        show_scorecard(report_scorecard(report), key="gen_eval")


def log_sample(uri: str, sample: dict) -> tuple[str, str]:
    """`journeylab sample` with this sample's model, count, seed and conditions: the same
    journeys, written under the store's `samples/` and logged as a `sample` run."""
    from journeylab.runs import sample_run

    args = sample["args"]
    out = store_root(uri) / "samples" / f"{sample['stem']}-n{args['n']}.parquet"
    with st.spinner(f"writing {out.name} and logging it"):
        result = sample_run(
            run_id=args["run_id"],
            n=args["n"],
            seed=args["seed"],
            conditions=args["conditions"] or None,
            out=out,
        )
    return result.run_id, str(result.path)


def evaluate_sample(uri: str, sample_run_id: str) -> tuple[dict, str]:
    """`journeylab evaluate --run-id SAMPLE --models logreg --no-sdmetrics`: the report
    written under the store's `reports/` and logged as an `evaluate` run."""
    from journeylab.evaluation.report import EvaluateConfig
    from journeylab.evaluation.runs import resolve_run
    from journeylab.runs import evaluate_run

    config = EvaluateConfig(models=("logreg",), sdmetrics=False)
    target = store_root(uri) / "reports" / f"evaluate-{sample_run_id[:12]}"
    with st.status("Evaluating the sample", expanded=True) as status:
        inputs = resolve_run(sample_run_id)
        report, rid = evaluate_run(inputs, config, target, status=status.write)
        status.update(label=f"Evaluated: MLflow run {rid}", state="complete", expanded=False)
    return report, rid


ui.page(
    "Generate",
    body,
    intro="Sample synthetic journeys from a trained generator and download them. " + FREE,
)
