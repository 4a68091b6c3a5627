"""The Runs page's comparison: each run's scores as ratios to what real data scores, and
presets that pick two generators, or two epsilons of one generator, to compare.

A fidelity metric is measured twice in a comparison or report (journeys.fidelity):
synthetic vs holdout, and train vs holdout (`ref_*`, two sets of real customers). Their
ratio puts every metric on one scale, 1.0 = as close as fresh real data, where raw
values (a TVD of 0.02 next to a length distance of 14) would flatten each other.
Utility is already such a ratio: the predictor trained on synthetic data over the one
trained on real data. A fit run shows the mean over the runs that measured its samples.
Pure functions (pandas, Plotly): no Streamlit, no I/O.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from journeylab.app import results, store
from journeylab.journeys.fidelity import RATIO_EPS

# metric measured against the real-vs-real reference -> friendly name
RATIOS = {
    "detection_auc": "Detection AUC",
    "tvd_1gram": "Event mix difference",
    "tvd_2gram": "2-step path difference",
    "tvd_3gram": "3-step path difference",
    "length_w1": "Journey length distance",
    "gap_w1": "Time between events distance",
    "amount_w1": "Amount distance",
    "order_violations": "Events out of order",
}
UTILITY = "Synthetic-trained / real-trained AUC"
AXIS = "ratio to real data (1 = what fresh real data scores)"
PRESETS = ("Runs I pick", "Two generators", "Two epsilons")


def ratio(value: float, reference: float) -> float:
    """value / reference; NaN where either is missing or the reference is 0 (nothing to
    measure against), 1.0 where both are 0 (synthetic as perfect as real)."""
    if value is None or reference is None or math.isnan(value) or math.isnan(reference):
        return math.nan
    if reference < RATIO_EPS:
        return 1.0 if value < RATIO_EPS else math.nan
    return value / reference


def own_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Per run (index run_id), the ratio of each RATIOS metric to its reference and the
    utility ratio, from the run's own metrics (NaN where it logged none)."""
    out = pd.DataFrame(index=df.run_id)
    for key, name in RATIOS.items():
        col, ref = store.metric_column(df, key), store.metric_column(df, f"ref_{key}")
        if col is None or ref is None:
            continue
        pairs = zip(df[col].astype(float), df[ref].astype(float), strict=True)
        out[name] = [ratio(v, r) for v, r in pairs]
    out[UTILITY] = store.utility_score(df).to_numpy()
    return out


def reference_ratios(df: pd.DataFrame, uri: str, ids: list[str]) -> pd.DataFrame:
    """Metric (friendly name) x run id: the ratios of each chosen run; a fit run gets the
    mean over the comparisons and reports of its samples (their lineage), and its mean
    utility ratio. Metrics no chosen run measured are left out."""
    own = own_ratios(df)
    fits = df.set_index("run_id").kind == "fit"
    measured = results.fidelity_runs(df)
    by_fit = own.loc[measured.run_id].groupby(measured.fit_run_id.to_numpy()).mean()
    utility = results.scores_by_fit(df, uri).get("tstr_ratio", pd.Series(dtype=float))
    if not by_fit.empty or not utility.empty:
        by_fit = by_fit.reindex(by_fit.index.union(utility.index))
        by_fit[UTILITY] = utility.reindex(by_fit.index)
    rows = {
        i: by_fit.loc[i] if fits.get(i, False) and i in by_fit.index else own.loc[i] for i in ids
    }
    return pd.DataFrame(rows).reindex(columns=ids).dropna(how="all")


TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def ratio_bars(frame: pd.DataFrame, labels: dict[str, str], *, title: str) -> go.Figure:
    """One group of bars per metric, one bar per run, each drawn from 1.0 (real data) to
    its ratio on a log scale (twice as far and half as far look alike), with the
    real-data line at 1; hover and labels give the ratio."""
    fig = go.Figure()
    for rid in frame.columns:
        values = frame[rid].astype(float)
        fig.add_bar(
            y=list(frame.index),
            x=(values - 1.0).tolist(),  # a bar spans base .. base + x
            base=1.0,
            customdata=values.tolist(),
            name=labels.get(rid, rid),
            orientation="h",
            text=[f"{v:.2f}×" if np.isfinite(v) else "" for v in values],
            textposition="outside",
            hovertemplate="%{y}: %{customdata:.3g}×<extra>%{fullData.name}</extra>",
        )
    finite = frame.to_numpy(float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (1.0, 1.0)
    lo, hi = min(lo, 1.0) / 1.6, max(hi, 1.0) * 1.6
    fig.add_vline(x=1.0, line=dict(color="#444", dash="dash"))
    fig.add_annotation(  # on a log axis an annotation's x is log10 of the value
        x=0.0, y=1.0, yref="paper", text="real data", showarrow=False, yanchor="bottom"
    )
    fig.update_xaxes(
        type="log",
        range=[math.log10(lo), math.log10(hi)],
        tickvals=[t for t in TICKS if lo <= t <= hi],
        ticktext=[f"{t:g}×" for t in TICKS if lo <= t <= hi],
        title=AXIS,
    )
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_layout(
        title=title,
        barmode="group",
        height=140 + 34 * len(frame) * max(1, len(frame.columns)) // 2,
        legend=dict(orientation="h", y=-0.25),
        margin=dict(l=10, r=10, t=60, b=10),
    )
    return fig


# --- presets ------------------------------------------------------------------------
def measured_fits(df: pd.DataFrame, uri: str) -> pd.DataFrame:
    """Fits whose samples were measured (results.tradeoff), newest first, with a label."""
    fits = results.tradeoff(df, uri)
    if fits.empty:
        return fits.assign(start=pd.Series(dtype="datetime64[ns]"), label=pd.Series(dtype=str))
    start = df.set_index("run_id").start
    fits = fits.assign(start=fits.fit_run_id.map(start))
    fits["label"] = [
        f"{r.generator} {eps_text(r.epsilon)} · {r['name']} · {r.fit_run_id[:8]}"
        for _, r in fits.iterrows()
    ]
    return fits.sort_values("start", ascending=False, ignore_index=True)


def eps_text(eps: float) -> str:
    return "no DP" if math.isinf(eps) else f"ε={eps:.3g}"


def newest(fits: pd.DataFrame, **match) -> str | None:
    """The newest measured fit with these column values, or None."""
    hit = fits
    for col, value in match.items():
        hit = hit[hit[col] == value]
    return None if hit.empty else str(hit.fit_run_id.iloc[0])


def generator_choices(fits: pd.DataFrame, dataset: str) -> list[str]:
    return sorted(fits.loc[fits.dataset == dataset, "generator"].dropna().unique())


def epsilon_choices(fits: pd.DataFrame, dataset: str, generator: str) -> list[float]:
    """The distinct epsilons of a generator's measured fits, smallest first (no DP last)."""
    hit = fits[(fits.dataset == dataset) & (fits.generator == generator)]
    return sorted(hit.epsilon.astype(float).unique())
