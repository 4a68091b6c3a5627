"""What-if: ask a trained VAE what an intervention changes. Pick a model and a population,
build one intervention, run it as `journeylab scenario run` runs a scenario file (the same
library calls: generators/scenario_run.py), and read both arms' outcomes, the effect with
its interval, and what the answer rests on. Nothing is logged unless asked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
import yaml

from journeylab.app import event_logs, store, ui
from journeylab.evaluation import charts
from journeylab.generators import base
from journeylab.generators.complete import prefix_note
from journeylab.generators.scenario import PROMO_EVENT, ModelIntervention, Scenario
from journeylab.generators.scenario_run import LIMITS, run_scenario
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.simulate import simulate_schema
from journeylab.predictors.labels import available_tasks
from journeylab.runs import model_dir_of
from journeylab.whatif import log_scenario

ANY = "(any)"
RESULT = "whatif_result"  # session key: the last answer, until the next run
KINDS = {
    "Insert an event": "insert_event",
    "Delay events of a type": "delay",
    "Remove a channel": "remove_channel",
    "Change a context value": "set_context",
}
RARE = 0.05  # below this share of journeys showing the pattern, the answer extrapolates
COLUMNS = {"baseline": "control", "intervened": "intervened", "effect": "effect"}


@st.cache_resource(show_spinner=False, max_entries=4)
def load_folder(path: str, stamp: float):
    """(generator, meta) of a model folder; `stamp` (meta.json's mtime) keys the cache."""
    return base.load(path), base.read_meta(path)


def pick_model(uri: str, df: pd.DataFrame):
    """(generator, (fit run id, None) or (None, model folder)), or None when there is
    none to pick; the folder of a run is only fetched to log (`log_button`)."""
    where = st.radio("Model", ["A fit run in the store", "A model folder"], key="wi_model_src")
    if where == "A model folder":
        text = st.text_input("Model folder (from `journeylab fit --out`)", key="wi_dir")
        if not text.strip():
            return None
        path = Path(text.strip()).expanduser()
        if not (path / "meta.json").is_file():
            raise ConfigError(f"{path} is not a model folder (no meta.json); give a fit's --out")
        gen, _ = load_folder(str(path), (path / "meta.json").stat().st_mtime)
        return gen, (None, str(path))
    fits = ui.finished(df, "fit")
    vaes = fits[fits.generator == "vae"] if not fits.empty else fits
    if vaes.empty:
        st.info(
            "No trained VAE in the store: only the VAE completes journeys. Run "
            "`journeylab fit --data TRAIN.parquet --model vae [--epsilon 8]`, then come back."
        )
        return None
    run = ui.pick_run("Trained VAE", vaes, key="wi_run")
    gen, _ = store.load_generator(uri, run.run_id, run.artifact_uri)
    return gen, (run.run_id, None)


def window_days(gen) -> int:
    s = gen.schema
    if s.time_start is None:
        raise ConfigError(f"model of '{s.name}' has no time range; refit it with a schema")
    return max(2, (s.time_end - s.time_start).days)


def context_filter(gen, key: str) -> dict:
    """A select box per categorical context column; (any) leaves it open."""
    out, names = {}, gen.schema.context_names("categorical")
    for col, name in zip(st.columns(max(1, len(names))), names, strict=False):
        v = col.selectbox(name, [ANY, *gen.schema.column(name).values], key=f"{key}_{name}")
        if v != ANY:
            out[name] = v
    return out


def population(gen, uri: str, df: pd.DataFrame) -> dict:
    """The scenario's `population`: simulator customers, model samples or a real log."""
    kinds = {"Journeys sampled from the model": "sample"}
    if gen.schema.name == simulate_schema().name:
        kinds = {"Simulator customers (the truth is known)": "simulate", **kinds}
    name = gen.schema.name
    logs = [s for s in event_logs.sources(df, uri) if s.role == "real" and s.dataset == name]
    if logs:
        kinds["Prefixes from a real log"] = "log"
    kind = kinds[st.radio("Population", list(kinds), key="wi_pop", horizontal=True)]
    if kind == "log":
        src = st.selectbox("Real log", logs, key="wi_log", format_func=lambda s: s.label)
        pop: dict = {"log": src.path}
    else:
        pop = {kind: int(st.number_input("Customers", 2, 5000, 200, key="wi_n"))}
    where = context_filter(gen, "wi_where")
    days = window_days(gen)
    before = st.number_input(
        "Prefixes: each journey's events before day", 1, days - 1, min(60, days - 1), key="wi_b"
    )
    return {**pop, **({"where": where} if where else {}), "before_day": int(before)}


def intervention(gen, pop: dict) -> dict:
    """One intervention from a few controls (generators/scenario.py's kinds)."""
    kind = KINDS[st.selectbox("Intervention", list(KINDS), key="wi_kind")]
    a, b, c = st.columns(3)
    if kind == "remove_channel":
        return {"kind": kind, "channel": a.selectbox("Channel", channels(gen), key="wi_rc")}
    if kind == "delay":
        days = int(b.number_input("By days", 0, window_days(gen) - 1, 7, key="wi_delay"))
        return {
            "kind": kind,
            "event_type": a.selectbox("Event type", types(gen), key="wi_dt"),
            "days": days,
        }
    if kind == "set_context":
        cols = gen.schema.context_names("categorical")
        col = a.selectbox("Context column", cols, key="wi_col")
        value = b.selectbox("New value", list(gen.schema.column(col).values), key="wi_val")
        return {"kind": kind, "column": col, "value": value}
    values = {
        "channel": a.selectbox("Channel", channels(gen), key="wi_ch"),
        "event_type": b.selectbox("Event type", types(gen), key="wi_type"),
    }
    share = st.slider("Share of the population reached", 0.05, 1.0, 1.0, 0.05, key="wi_share")
    return insert(values, when(gen, c, pop), share, pop.get("where"))


def when(gen, col, pop: dict) -> dict:
    """{day: D} or {after: {event_type, days}}: on a day, or after a trigger event."""
    if st.radio("When", ["On a day", "After a trigger event"], key="wi_when") == "On a day":
        last = window_days(gen) - 1
        return {"day": int(col.number_input("On day", 0, last, pop["before_day"], key="wi_day"))}
    a, b = st.columns(2)
    trigger = a.selectbox("Trigger: the first event of type", types(gen), key="wi_trig")
    days = int(b.number_input("Days after it", 0, window_days(gen) - 1, 7, key="wi_after"))
    return {"after": {"event_type": trigger, "days": days}}


def insert(values: dict, at: dict, share: float, where: dict | None) -> dict:
    """insert_event; the simulator's promo email to everyone or one segment is written as
    a `promotion`, which the simulator can run too (its true effect)."""
    extra = {"share": share} if share < 1 else {}
    if values == PROMO_EVENT and set(where or {}) <= {"segment"}:
        return {"kind": "promotion", **at, **(where or {}), **extra}
    return {"kind": "insert_event", **at, "values": values, **extra}


def channels(gen) -> list:
    return list(gen.schema.column("channel").values)


def types(gen) -> list:
    return list(gen.schema.column("event_type").values)


def has_truth(pop: dict, iv: dict) -> bool:
    """Whether the simulator can run this too: simulator customers, and an intervention
    it knows (a promotion, a removable channel, a context value)."""
    try:
        ModelIntervention.from_dict(iv).to_simulator()
    except ConfigError:
        return False
    return "simulate" in pop


def scenario_form(gen, uri: str, df: pd.DataFrame) -> tuple[dict, int] | None:
    """The scenario as a scenario file's dict, and the seed; None until Run is pressed."""
    pop = population(gen, uri, df)
    iv = intervention(gen, pop)
    a, b, c = st.columns(3)
    days = window_days(gen)
    since = a.number_input("Outcomes from day", 0, days - 1, pop["before_day"], key="wi_since")
    within = b.number_input("Purchase within (days)", 1, days, min(30, days), key="wi_within")
    seed = int(c.number_input("Seed", 0, 2**31 - 1, 0, key="wi_seed"))
    labels = st.multiselect(
        "Also as predictor labels (cutoff: the outcomes' first day; horizon: the days)",
        available_tasks(gen.schema),
        key="wi_labels",
    )
    can = has_truth(pop, iv)  # no key: a new box (ticked when it can be) when `can` changes
    truth = st.checkbox("Also run the simulator (the true effect)", can, disabled=not can)
    sc = {
        "name": f"app-{iv['kind']}",
        "population": pop,
        "interventions": [iv],
        "outcomes": {"since_day": int(since), "within_days": int(within), "labels": labels},
        "truth": bool(can and truth),
    }
    return (sc, seed) if st.button("Run scenario", type="primary", key="wi_go") else None


def run(gen, model: tuple, sc_dict: dict, seed: int) -> None:
    """Both arms, with a progress bar; the answer goes to the session for `show`."""
    sc = Scenario.from_dict(sc_dict)
    bar = st.progress(0.0, text="starting")
    result = run_scenario(gen, sc, seed=seed, progress=lambda s, d: bar.progress(d, text=s))
    bar.empty()
    text = yaml.safe_dump(sc_dict, sort_keys=False)
    st.session_state[RESULT] = {"sc": sc, "result": result, "model": model}
    st.session_state[RESULT] |= {"seed": seed, "text": text, "logged": None}


def effect_frame(table: pd.DataFrame) -> pd.DataFrame:
    """An effect table as people read it: the outcome, both arms, the effect, its interval."""
    out = table[[*COLUMNS, "ci_low", "ci_high", "n"]].rename(columns=COLUMNS)
    return out.rename_axis("outcome").astype({"n": int})


def show(state: dict, uri: str) -> None:
    sc, res = state["sc"], state["result"]
    o = sc.outcomes
    st.subheader("Estimated effect")
    st.caption(
        f"{res.customers} customers in both arms ({res.left_out} left out: no prefix); "
        f"intervened minus control, with {o.level:.0%} intervals from paired arms (common "
        f"random numbers); purchase_within: days {o.since_day} to {o.since_day + o.within_days}."
    )
    st.table(effect_frame(res.effects))
    if res.truth is not None:
        st.markdown("**Simulator truth** (the same customers)")
        st.table(effect_frame(res.truth))
    distributions(res.outcomes)
    limits(res)
    log_button(state, uri)


def distributions(per: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    st.subheader("Outcomes of both arms")
    cols = st.columns(2)
    for i, k in enumerate(per[0].columns):
        arms = {"control": per[0][k].dropna(), "intervened": per[1][k].dropna()}
        binary = set(arms["control"]) | set(arms["intervened"]) <= {0.0, 1.0}
        fig = charts.hist_compare(arms, title=k, xlabel=k, bins=2 if binary else 30)
        cols[i % 2].plotly_chart(fig, key=f"wi_dist_{k}")


def limits(res) -> None:
    st.subheader("What the answer rests on")
    for name, share in res.pattern_share.items():
        said = f"{share:.0%} of the population's journeys already show the pattern of {name}"
        if share < RARE:
            st.warning(f"{said}: the answer is an extrapolation beyond what the data shows.")
        else:
            st.info(f"{said}.")
    st.caption(f"Limits: {LIMITS}")
    note = prefix_note(res.prefix_source)
    (st.warning if res.prefix_source == "real" else st.caption)(f"Privacy: {note}")


def log_button(state: dict, uri: str) -> None:
    if st.button("Log this scenario to MLflow", key="wi_log_run"):
        run_id, folder = state["model"]
        logged = log_scenario(
            state["sc"],
            state["result"],
            model=Path(folder) if folder else model_dir_of(run_id, uri=uri),
            run_id=run_id,
            seed=state["seed"],
            text=state["text"],
        )
        state["logged"] = logged.run_id
        store.clear_caches()
    if state["logged"]:
        st.success(f"Logged as MLflow run {state['logged']} (kind scenario).")


def body(uri: str, df: pd.DataFrame) -> None:
    picked = pick_model(uri, df)
    if picked is None:
        return
    gen, model = picked
    asked = scenario_form(gen, uri, df)
    if asked is not None:
        run(gen, model, *asked)
    state = st.session_state.get(RESULT)
    if state is not None and state["model"] == model:  # the answer of the model shown
        show(state, uri)


ui.page(
    "What-if",
    body,
    intro="Ask a trained VAE what an intervention changes: both arms completed with the "
    "same random numbers, the effect with its interval, and the limits of the answer.",
)
