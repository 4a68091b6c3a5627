"""Journeys: individual journeys as timelines, real and synthetic side by side; one
segment's real customers next to synthetic journeys conditioned on it; a Sankey of
channel flows; the most frequent event paths."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from journeylab.app import derived, segments, store, ui
from journeylab.app.derived import Loaded
from journeylab.evaluation import charts

PRIVACY_NOTE = (
    "Real journeys are personal data: they are shown to people with access to "
    "the store, and nothing shown of them is covered by the DP guarantee."
)


def figures(pair) -> None:
    """Each log's summary above its timelines; the synthetic side shows its difference."""
    real, synth = (derived.summary(x) if x is not None else {} for x in pair)
    for col, own, other, name in zip(
        st.columns(2), (real, synth), ({}, real), ("Real", "Synthetic"), strict=True
    ):
        if not own:
            continue
        col.markdown(f"**{name}**")
        for box, (label, v) in zip(col.columns(len(own)), own.items(), strict=True):
            delta = fmt(label, v - other[label], "+") if label in other else None
            box.metric(label, fmt(label, v), delta=delta, delta_color="off")


def fmt(label: str, v: float, sign: str = "") -> str:
    """A summary figure as text: a share in %, a count of journeys whole, a length to 4
    significant figures."""
    spec = {"Single-event": ".0%", "Journeys": ",.0f"}.get(label, ",.4g")
    return format(v, sign + spec)


def timelines(pair, key: str = "jn") -> None:
    a, b = st.columns(2)
    n = a.slider("Journeys shown", 1, 12, derived.SHOWN, key=f"{key}_count")
    start = b.number_input(
        "Starting at journey #", min_value=0, value=0, step=n, key=f"{key}_start"
    )
    panels = derived.timeline_panels(pair, int(start), n)
    for col, fig, name in zip(st.columns(2), panels, ("Real", "Synthetic"), strict=True):
        if fig is not None:
            col.plotly_chart(fig, key=f"{'tl' if key == 'jn' else key}_{name}")
    st.caption(
        "Both panels share one time axis, one colour per channel, one marker per event type "
        "and one marker size scale: size is the amount (where the log has one)."
    )


def flows(pair, colors: dict) -> None:
    steps = st.slider("Steps", 2, 8, 4, key="jn_steps")
    left, right = st.columns(2)
    for col, x, name in zip((left, right), pair, ("Real", "Synthetic"), strict=True):
        if x is not None:
            col.plotly_chart(
                charts.sankey(
                    derived.sankey_links(x, steps),
                    title=f"{name}: channel flows, first {steps} events",
                    colors=colors,
                ),
                key=f"sk_{name}",
            )


def paths(pair) -> None:
    n = st.radio("Path length (events)", [1, 2, 3], index=2, horizontal=True, key="jn_n")
    shares = {
        name: derived.ngrams(x, n)
        for x, name in zip(pair, ("real", "synthetic"), strict=True)
        if x is not None
    }
    st.plotly_chart(
        charts.paths_bar(shares, title=f"Most frequent {n}-event paths (share of all paths)"),
        key="jn_paths",
    )


# --- one segment: real customers next to synthetic ones conditioned on it ---------------
@st.cache_resource(max_entries=8, show_spinner="generating journeys conditioned on the segment")
def _conditioned(
    uri: str, run_id: str, artifact_uri: str, column: str, value: str, n: int, seed: int
):
    gen, _ = store.load_generator(uri, run_id, artifact_uri)
    return segments.segment_sample(gen, column, value, n=n, seed=seed)


def segment_view(uri: str, df: pd.DataFrame, pair) -> None:
    real = pair[0]
    if real is None:
        st.info("Pick a real log: the segment view shows its customers of one segment.")
        return
    choices = segments.segment_columns(real.log)
    if not choices:
        st.info(f"{real.log.schema.name} has no categorical context column to pick a segment by.")
        return
    a, b = st.columns(2)
    column = a.selectbox("Context column", list(choices), key="jn_seg_col")
    value = b.selectbox(f"Customers whose {column} is", choices[column], key="jn_seg_val")
    mine = derived.segment(real, column, value)
    # a log file's key is "<path>:<mtime>" (event_logs.loaded); a generated one matches no run
    synth_path = pair[1].key.rsplit(":", 1)[0] if pair[1] is not None else None
    fits = segments.generator_fits(df, uri, dataset=real.log.schema.name, synthetic_path=synth_path)
    if fits.empty:
        st.info("No trained generator to condition on this segment: fit one, then come back.")
        figures((mine, None))
        return
    labels = {
        r.run_id: f"{r.generator} {ui.eps_label(r.epsilon)} · {r['name']}"
        for _, r in fits.iterrows()
    }
    c, d, e = st.columns([2, 1, 1])
    rid = c.selectbox(
        "Generator, conditioned on the segment",
        list(labels),
        format_func=labels.get,
        key="jn_seg_fit",
    )
    n = d.number_input(
        "Synthetic journeys",
        1,
        segments.MAX_SYNTHETIC,
        segments.synthetic_count(mine.log.n_customers),
        key=f"jn_seg_n_{column}_{value}",  # its own default per segment: as many as are real
    )
    seed = e.number_input("Seed", 0, 2**31 - 1, 0, key="jn_seg_seed")
    run = fits[fits.run_id == rid].iloc[0]
    log = _conditioned(uri, run.run_id, run.artifact_uri, column, value, int(n), int(seed))
    syn = Loaded(f"segment:{run.run_id}:{column}={value}:{n}:{seed}", labels[rid], log)
    figures((mine, syn))
    command = segments.sample_command(run.run_id, column, value, n=int(n), seed=int(seed))
    st.caption(
        f"Real: the {mine.log.n_customers} customers of {real.label} with {column} = {value}. "
        f"Synthetic: {log.n_customers} journeys from {labels[rid]}, each generated with "
        f"{column} = {value} (`{command}` writes the same ones). Sampling a trained model "
        "costs no privacy budget."
    )
    timelines((mine, syn), key="seg")


def body(uri: str, df: pd.DataFrame) -> None:
    pair = ui.pick_logs(uri, df, key="jn")
    if all(x is None for x in pair):
        return
    colors = charts.channel_colors(*[x.log for x in pair if x is not None])
    ui.guard(lambda: figures(pair))
    ui.lazy_tabs(
        {
            "Timelines": lambda: timelines(pair),
            "Segment": lambda: segment_view(uri, df, pair),
            "Channel flows": lambda: flows(pair, colors),
            "Frequent paths": lambda: paths(pair),
        },
        key="jn_tab",
    )
    if pair[0] is not None:
        st.caption(PRIVACY_NOTE)


ui.page("Journeys", body, intro="Browse journeys one by one, real next to synthetic.")
