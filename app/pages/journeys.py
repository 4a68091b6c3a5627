"""Journeys: individual journeys as timelines, real and synthetic side by side; a Sankey
of channel flows; the most frequent event paths."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import charts, ui
from journeys.fidelity import ngram_frequencies

PRIVACY_NOTE = ("Real journeys are personal data: they are shown to people with access to "
                "the store, and nothing shown of them is covered by the DP guarantee.")


def timelines(real, synth, colors: dict) -> None:
    a, b = st.columns(2)
    n = a.slider("Journeys shown", 1, 12, 5, key="jn_count")
    start = b.number_input("Starting at journey #", min_value=0, value=0, step=n,
                           key="jn_start")
    left, right = st.columns(2)
    for col, log, name in ((left, real, "Real"), (right, synth, "Synthetic")):
        if log is not None:
            ids = list(log.customers[int(start): int(start) + n])
            col.plotly_chart(charts.timeline(log, ids, title=f"{name}: {len(ids)} of "
                                             f"{log.n_customers} journeys",
                                             channel_colors=colors), key=f"tl_{name}")
    st.caption("Colour: channel · marker: event type · size: amount (where the log has one).")


def flows(real, synth, colors: dict) -> None:
    steps = st.slider("Steps", 2, 8, 4, key="jn_steps")
    left, right = st.columns(2)
    for col, log, name in ((left, real, "Real"), (right, synth, "Synthetic")):
        if log is not None:
            col.plotly_chart(charts.sankey(log, title=f"{name}: channel flows, first {steps} "
                                           "events", steps=steps, colors=colors),
                             key=f"sk_{name}")


def paths(real, synth) -> None:
    n = st.radio("Path length (events)", [1, 2, 3], index=2, horizontal=True, key="jn_n")
    shares = {name: ngram_frequencies(log, n=n) for log, name in ((real, "real"),
                                                                  (synth, "synthetic"))
              if log is not None}
    st.plotly_chart(charts.paths_bar(shares, title=f"Most frequent {n}-event paths "
                                     "(share of all paths)"), key="jn_paths")


def body(uri: str, df: pd.DataFrame) -> None:
    real, synth = ui.pick_logs(uri, df, key="jn")
    if real is None and synth is None:
        return
    colors = charts.channel_colors(*[g for g in (real, synth) if g is not None])
    tab1, tab2, tab3 = st.tabs(["Timelines", "Channel flows", "Frequent paths"])
    with tab1:
        ui.guard(lambda: timelines(real, synth, colors))
    with tab2:
        ui.guard(lambda: flows(real, synth, colors))
    with tab3:
        ui.guard(lambda: paths(real, synth))
    if real is not None:
        st.caption(PRIVACY_NOTE)


ui.page("Journeys", body, intro="Browse journeys one by one, real next to synthetic.")
