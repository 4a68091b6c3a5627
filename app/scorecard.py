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

COLORS = {0: "green", 1: "blue", 2: "orange", 3: "red", None: "gray"}


def show_scorecard(verdicts: list[Verdict], *, key: str) -> None:
    """One bordered column per verdict: the aspect (its question as a tooltip), the verdict
    in words, coloured from green (best) to red, and the figures behind it."""
    for col, v in zip(st.columns(len(verdicts)), verdicts, strict=True):
        with col.container(border=True, key=f"{key}_card_{v.aspect}"):
            st.caption(v.aspect.upper(), help=v.meaning)
            st.markdown(f"**:{COLORS[v.level]}[{v.words}]**")
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
