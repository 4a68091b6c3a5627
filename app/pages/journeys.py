"""Journeys: individual journeys as timelines, real and synthetic side by side; a Sankey
of channel flows; the most frequent event paths."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from journeylab.app import derived, ui
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
            share = label == "Single-event"
            delta = v - other[label] if label in other else None
            box.metric(
                label,
                f"{v:.0%}" if share else f"{v:,.4g}",
                delta=None if delta is None else (f"{delta:+.0%}" if share else f"{delta:+,.4g}"),
                delta_color="off",
            )


def timelines(pair) -> None:
    a, b = st.columns(2)
    n = a.slider("Journeys shown", 1, 12, 5, key="jn_count")
    start = b.number_input("Starting at journey #", min_value=0, value=0, step=n, key="jn_start")
    shown = [
        (x, list(x.log.customers[int(start) : int(start) + n])) if x is not None else None
        for x in pair
    ]
    style = charts.timeline_style([(x.log, ids) for x, ids in filter(None, shown)])
    for col, item, name in zip(st.columns(2), shown, ("Real", "Synthetic"), strict=True):
        if item is not None:
            x, ids = item
            title = f"{name}: {len(ids)} of {x.log.n_customers} journeys"
            col.plotly_chart(
                charts.timeline(x.log, ids, title=title, style=style), key=f"tl_{name}"
            )
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


def body(uri: str, df: pd.DataFrame) -> None:
    pair = ui.pick_logs(uri, df, key="jn")
    if all(x is None for x in pair):
        return
    colors = charts.channel_colors(*[x.log for x in pair if x is not None])
    ui.guard(lambda: figures(pair))
    ui.lazy_tabs(
        {
            "Timelines": lambda: timelines(pair),
            "Channel flows": lambda: flows(pair, colors),
            "Frequent paths": lambda: paths(pair),
        },
        key="jn_tab",
    )
    if pair[0] is not None:
        st.caption(PRIVACY_NOTE)


ui.page("Journeys", body, intro="Browse journeys one by one, real next to synthetic.")
