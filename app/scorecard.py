"""The scorecard and the validity figures as the pages show them.

    show_scorecard(results.run_scorecard(df, run), key="ov")   # three verdicts in words
    show_validity(validity(real.log, synth.log), key="fid")    # a table of shares

The verdicts and figures come from `journeylab.evaluation` (verdict, validity), so a
page says what the HTML report says. Every figure has its one-sentence explanation as
a tooltip.
"""

from __future__ import annotations

import streamlit as st

from journeylab.evaluation.validity import validity_rows
from journeylab.evaluation.verdict import Verdict

ICONS = {0: "🟢", 1: "🟡", 2: "🟠", 3: "🔴", None: "⚪"}


def show_scorecard(verdicts: list[Verdict], *, key: str) -> None:
    """One column per verdict: the aspect, the verdict in words, the figures behind it."""
    for col, v in zip(st.columns(len(verdicts)), verdicts, strict=True):
        with col.container(border=True, key=f"{key}_card_{v.aspect}"):
            st.metric(v.aspect.capitalize(), f"{ICONS[v.level]} {v.words}", help=v.meaning)
            for f in v.figures:
                st.caption(f"{f.name}: **{f.value}**", help=f.explain)


def show_validity(figures: dict[str, float], *, key: str) -> None:
    """The validity table (evaluation.validity): share of synthetic rows that break what
    the real data shows; 0% is best."""
    rows = validity_rows(figures)
    if not rows:
        st.info("No validity figure applies to these logs.")
        return
    st.dataframe(
        rows,
        hide_index=True,
        key=f"{key}_validity",
        column_config={"meaning": st.column_config.TextColumn("what it counts", width="large")},
    )
