"""Plotly figures for the pages: pure functions from data to a figure, no Streamlit.

Timelines of journeys, a Sankey of channel flows, n-gram and transition
heatmaps, overlaid distributions, metric bars, curves (ROC, lift, calibration,
epsilon over steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from journeylab.journeys.eventlog import EventLog

PALETTE = px.colors.qualitative.Safe
SYMBOLS = [
    "circle",
    "square",
    "diamond",
    "triangle-up",
    "x",
    "star",
    "cross",
    "triangle-down",
    "pentagon",
    "hexagon",
]
HEIGHT = 380


def _layout(
    fig: go.Figure, title: str, height: int = HEIGHT, *, legend_y: float = -0.3
) -> go.Figure:
    """Title on top, legend below the x-axis title (long legends must not cover either)."""
    fig.update_layout(
        title=dict(text=title, y=0.98, yanchor="top"),
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", yanchor="top", y=legend_y, x=0, title=None),
    )
    return fig


def empty(title: str, note: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, 200)


# --- journeys -------------------------------------------------------------------
MAX_TIMELINE_EVENTS = 1500  # more markers than this make the browser slow to draw


@dataclass(frozen=True)
class TimelineStyle:
    """What every timeline panel of a page shares, so that real and synthetic read alike:
    a colour per channel, a marker per event type, one time axis, and the amount that
    gets the largest marker."""

    colors: dict[str, str]
    symbols: dict[str, str]
    x_range: tuple[pd.Timestamp, pd.Timestamp] | None = None
    amount_top: float | None = None
    legend_items: int = 0  # (channel, event type) pairs drawn over all panels


def timeline_style(shown: list[tuple[EventLog, list]]) -> TimelineStyle:
    """The shared style of panels (log, customers shown): time axis and marker sizes over
    every event drawn, colours and markers from `channel_colors` and `event_symbols`."""
    logs = [log for log, _ in shown]
    drawn = [(log, _drawn(log, ids)[0]) for log, ids in shown]
    times = pd.concat([df[log.time] for log, df in drawn if not df.empty] or [pd.Series()])
    x_range = None
    if len(times):
        pad = max((times.max() - times.min()) * 0.03, pd.Timedelta(hours=12))
        x_range = (times.min() - pad, times.max() + pad)
    amounts = [df["amount"].max() for log, df in drawn if _has_amount(log) and not df.empty]
    top = float(max(amounts)) if amounts else None
    pairs = {(c, e) for _, df in drawn for c, e in zip(df.channel, df.event_type, strict=True)}
    return TimelineStyle(channel_colors(*logs), event_symbols(*logs), x_range, top, len(pairs))


def _has_amount(log: EventLog) -> bool:
    return "amount" in log.schema.event_names("numeric")


def _drawn(log: EventLog, customers) -> tuple[pd.DataFrame, str]:
    """The events a timeline draws of `customers`, and a note when journeys are cut."""
    df = log.df[log.df[log.key].isin(list(customers))].copy()
    per = MAX_TIMELINE_EVENTS // max(len(customers), 1)
    if len(df) <= MAX_TIMELINE_EVENTS:
        return df, ""
    return df[df.groupby(log.key, sort=False).cumcount() < per], f" (first {per} events of each)"


def timeline(
    log: EventLog, customers, *, title: str, style: TimelineStyle | None = None
) -> go.Figure:
    """One row per customer: events over time, channel by colour, event type by marker,
    marker size by amount (when the schema has one), styled by `style` (shared by the
    panels of a page; default: this log's own). Long journeys show their first events
    only (the title says so), so a page stays quick to draw."""
    style = style or timeline_style([(log, list(customers))])
    df, note = _drawn(log, customers)
    if df.empty:
        return empty(title, "no journeys to show")
    df[log.key] = df[log.key].astype(str)
    size = None
    if _has_amount(log):
        top = max(style.amount_top or float(df["amount"].max()), 1e-9)
        df["_size"] = 6 + 14 * np.sqrt(df["amount"].clip(lower=0, upper=top) / top)
        size = "_size"
    hover = [c for c in log.schema.event_names() if c not in ("channel", "event_type")]
    fig = px.scatter(
        df,
        x=log.time,
        y=log.key,
        color="channel",
        symbol="event_type",
        size=size,
        size_max=20,
        hover_data=hover,
        color_discrete_map=style.colors,
        symbol_map=style.symbols,
        category_orders={log.key: [str(c) for c in customers]},
    )
    if size is None:
        fig.update_traces(marker=dict(size=10))
    else:  # diameters in pixels as computed, not rescaled to this panel's largest amount
        fig.update_traces(marker=dict(sizemode="diameter", sizeref=1))
    fig.update_traces(marker=dict(line=dict(width=0.5, color="white")))
    fig.update_yaxes(title=None, type="category")
    fig.update_xaxes(title=None, range=list(style.x_range) if style.x_range else None)
    # The legend sits in a bottom margin sized for every panel's pairs, so that panels
    # with longer or shorter legends keep plot areas of one size, row for row.
    legend = 22 * -(-style.legend_items // 2) + 40
    height = max(HEIGHT, 60 + 40 * len(customers)) + legend
    fig = _layout(fig, title + note, height)
    return fig.update_layout(
        margin=dict(b=legend),
        legend=dict(yref="container", y=0, yanchor="bottom"),
    )


def _domain(logs: tuple[EventLog, ...], column: str) -> list[str]:
    """The values of `column`: the schema's declared domain first (public, so the same on
    every page and chart), then any other value the logs hold, sorted."""
    declared = [v for g in logs for v in (g.schema.column(column).values or ())]
    seen = sorted({str(v) for g in logs for v in g.df[column].unique()})
    return list(dict.fromkeys([*declared, *seen]))


def channel_colors(*logs: EventLog) -> dict[str, str]:
    """One colour per channel, the same in every chart."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(_domain(logs, "channel"))}


def event_symbols(*logs: EventLog) -> dict[str, str]:
    """One marker per event type, the same in every chart."""
    return {n: SYMBOLS[i % len(SYMBOLS)] for i, n in enumerate(_domain(logs, "event_type"))}


def sankey_links(log: EventLog, *, steps: int = 4) -> pd.DataFrame:
    """Counts of (step i channel -> step i+1 channel) over the first `steps` events,
    with `end` where a journey stops earlier. Columns: source, target, count."""
    df = log.df[[log.key, "channel"]].copy()
    df["pos"] = df.groupby(log.key, sort=False).cumcount()
    df = df[df.pos < steps]
    df["node"] = (df.pos + 1).astype(str) + ". " + df["channel"].astype(str)
    df["next"] = df.groupby(log.key, sort=False)["node"].shift(-1)
    last = df.next.isna() & (df.pos < steps - 1)
    df.loc[last, "next"] = (df.pos[last] + 2).astype(str) + ". end"
    links = df.dropna(subset=["next"]).groupby(["node", "next"]).size()
    return links.rename("count").reset_index().rename(columns={"node": "source", "next": "target"})


def sankey(links: pd.DataFrame, *, title: str, colors: dict | None = None) -> go.Figure:
    """Channel flows from `sankey_links`: column k holds step k, its `k. end` node too
    (Plotly's default alignment pushes every node without outflow, ends included, to the
    last column, where "2. end" reads as an end after four events)."""
    if links.empty:
        return empty(title, "no journeys to show")
    nodes = sorted(set(links.source) | set(links.target), key=lambda s: (int(s.split(".")[0]), s))
    index = {n: i for i, n in enumerate(nodes)}
    colors = colors or {}
    node_colors = [colors.get(n.split(". ", 1)[1], "#bbbbbb") for n in nodes]
    fig = go.Figure(
        go.Sankey(
            node=dict(label=nodes, pad=12, thickness=14, color=node_colors, align="left"),
            link=dict(
                source=links.source.map(index), target=links.target.map(index), value=links["count"]
            ),
        )
    )
    return _layout(fig, title, 420)


def paths_bar(shares: dict[str, pd.Series], *, title: str, top: int = 12) -> go.Figure:
    """Shares of the most frequent n-grams (event paths), one bar per log."""
    frame = pd.DataFrame(shares).fillna(0.0)
    if frame.empty:
        return empty(title, "no paths")
    frame = frame.loc[frame.max(axis=1).sort_values(ascending=False).index[:top]]
    long = frame.rename_axis("path").reset_index().melt("path", var_name="log", value_name="share")
    fig = px.bar(long, x="share", y="path", color="log", barmode="group", orientation="h")
    fig.update_yaxes(autorange="reversed", title=None)
    return _layout(fig, title, 120 + 28 * len(frame))


# --- fidelity -------------------------------------------------------------------
def hist_compare(
    samples: dict[str, np.ndarray | None], *, title: str, xlabel: str, bins: int = 40
) -> go.Figure:
    """Normalised histograms on shared bins, binned here: the browser gets `bins` bars per
    log, not every value."""
    arrays = {k: np.asarray(v, float) for k, v in samples.items() if v is not None and len(v)}
    if not arrays:
        return empty(title, "no values")
    lo = min(float(a.min()) for a in arrays.values())
    hi = max(float(a.max()) for a in arrays.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, float(edges[1] - edges[0])
    fig = go.Figure()
    for name, a in arrays.items():
        counts = np.histogram(a, bins=edges)[0]
        fig.add_trace(
            go.Bar(x=centers, y=counts / max(counts.sum(), 1), width=width, name=name, opacity=0.6)
        )
    fig.update_layout(barmode="overlay", bargap=0, xaxis_title=xlabel, yaxis_title="share")
    return _layout(fig, title)


def transition_matrix(bigrams: pd.Series) -> pd.DataFrame:
    """P(next token | token) from 2-gram shares indexed 'a > b' (journeys.fidelity)."""
    if bigrams.empty:
        return pd.DataFrame()
    parts = bigrams.index.str.split(" > ", n=1, expand=True)
    frame = pd.DataFrame(
        {
            "from": parts.get_level_values(0),
            "to": parts.get_level_values(1),
            "share": bigrams.to_numpy(),
        }
    )
    mat = frame.pivot_table(
        index="from", columns="to", values="share", aggfunc="sum", fill_value=0.0
    )
    return mat.div(mat.sum(axis=1).replace(0, 1), axis=0)


def heatmap(mat: pd.DataFrame, *, title: str, diverging: bool = False) -> go.Figure:
    if mat.empty:
        return empty(title, "no transitions")
    scale, mid = ("RdBu_r", 0.0) if diverging else ("Blues", None)
    fig = go.Figure(
        go.Heatmap(
            z=mat.to_numpy(),
            x=list(mat.columns),
            y=list(mat.index),
            colorscale=scale,
            zmid=mid,
            hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(title="next event", tickangle=45)
    fig.update_yaxes(title="event", autorange="reversed")
    return _layout(fig, title, 180 + 22 * len(mat))


def aligned(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = sorted(set(a.index) | set(b.index))
    cols = sorted(set(a.columns) | set(b.columns))
    return (
        a.reindex(index=rows, columns=cols, fill_value=0.0),
        b.reindex(index=rows, columns=cols, fill_value=0.0),
    )


# --- runs and metrics -----------------------------------------------------------
def metric_bars(frame: pd.DataFrame, *, title: str) -> go.Figure:
    """frame: index metric names, one column per run."""
    if frame.empty:
        return empty(title, "no shared metrics")
    long = (
        frame.rename_axis("metric")
        .reset_index()
        .melt("metric", var_name="run", value_name="_value")
    )
    fig = px.bar(
        long, x="metric", y="_value", color="run", barmode="group", labels={"_value": "value"}
    )
    return _layout(fig, title)


def lines(
    series: dict[str, pd.DataFrame], *, title: str, xlabel: str = "step", ylabel: str = "value"
) -> go.Figure:
    """series: label -> DataFrame(step, value)."""
    fig = go.Figure()
    for label, s in series.items():
        fig.add_trace(go.Scatter(x=s["step"], y=s["value"], mode="lines+markers", name=label))
    if not series:
        return empty(title, "no values")
    fig.update_layout(xaxis_title=xlabel, yaxis_title=ylabel)
    return _layout(fig, title)


def curves(
    items: list[tuple[str, list, list]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    diagonal: bool = False,
    baseline: float | None = None,
) -> go.Figure:
    """Curves (label, x, y); a y=x diagonal for ROC/calibration, a flat line for lift."""
    fig = go.Figure()
    for label, x, y in items:
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=label))
    if not items:
        return empty(title, "no curve")
    if diagonal:
        fig.add_trace(
            go.Scatter(
                x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(dash="dot", color="grey")
            )
        )
    if baseline is not None:
        fig.add_hline(y=baseline, line_dash="dot", line_color="grey")
    fig.update_layout(xaxis_title=xlabel, yaxis_title=ylabel)
    return _layout(fig, title)


def budget_bars(summary: pd.DataFrame, *, title: str) -> go.Figure:
    """Per dataset: epsilon spent and, under a cap, epsilon left. A non-private release
    (epsilon = inf) fills the bar to the cap and is labelled as such."""
    if summary.empty:
        return empty(title, "nothing recorded")
    cap = summary["cap_epsilon"].astype(float)
    spent = summary["epsilon"].astype(float)
    infinite = np.isinf(spent)
    top = np.nanmax(np.r_[cap.to_numpy(), spent[~infinite].to_numpy(), 1.0])
    shown = spent.where(~infinite, cap.fillna(top))
    text = np.where(infinite, "∞: a non-private release", spent.map("{:.3g}".format))
    left = summary["left_epsilon"].astype(float).replace(np.inf, np.nan)
    fig = go.Figure(
        [
            go.Bar(
                y=summary["label"],
                x=shown,
                name="spent",
                orientation="h",
                text=text,
                textposition="inside",
            ),
            go.Bar(y=summary["label"], x=left, name="left under the cap", orientation="h"),
        ]
    )
    fig.update_layout(barmode="stack", xaxis_title="epsilon")
    return _layout(fig, title, 200 + 40 * len(summary))


def tradeoff(
    points: pd.DataFrame,
    *,
    measures: dict[str, tuple[str, float]],
    reference: tuple[str, pd.Series] = ("", pd.Series(dtype=float)),
    cap: float | None = None,
    title: str,
) -> go.Figure:
    """A panel per measure (key -> (name, ideal)) against epsilon: the DP fits `points`
    (columns epsilon, name and the keys) joined in order of epsilon, the no-DP reference
    (label, value per key) dashed, what real data scores dotted, the cap as a vertical line."""
    label, ref = reference
    if points.empty and ref.empty:
        return empty(title, "no measured runs")
    pts = points.sort_values("epsilon")
    right = max([1.0, *pts.epsilon, *([cap] if cap else [])]) * 1.1
    names = [name for name, _ in measures.values()]
    fig = make_subplots(rows=1, cols=len(measures), subplot_titles=names)
    for col, (key, (_, ideal)) in enumerate(measures.items(), start=1):
        first = col == 1
        flat = [("real data (ideal)", ideal, dict(dash="dot", color="grey"))]
        if pd.notna(ref.get(key)):
            flat.append((label, ref[key], dict(dash="dash", color=PALETTE[1])))
        for text, y, style in flat:
            fig.add_trace(_line(text, [0, right], [y, y], style, first), row=1, col=col)
        fig.add_trace(_points(pts, key, first), row=1, col=col)
        if cap:
            ys = [*pts[key].dropna(), *(y for _, y, _ in flat)]
            pad = (max(ys) - min(ys)) * 0.1 or 0.1
            y = [min(ys) - pad, max(ys) + pad]
            style = dict(color=PALETTE[2], width=2)
            fig.add_trace(_line(f"cap ε={cap:g}", [cap, cap], y, style, first), row=1, col=col)
        fig.update_xaxes(title_text="ε", rangemode="tozero", row=1, col=col)
    fig = _layout(fig, title, 440, legend_y=-0.25)
    return fig.update_layout(margin=dict(t=80))  # room for the panels' titles under the title


def _points(pts: pd.DataFrame, key: str, legend: bool) -> go.Scatter:
    return go.Scatter(
        x=pts.epsilon,
        y=pts[key],
        text=pts["name"],
        mode="lines+markers",
        name="DP fits",
        legendgroup="DP fits",
        showlegend=legend,
        marker=dict(color=PALETTE[0], size=9),
        hovertemplate="%{text}<br>ε=%{x:.3g}<br>%{y:.3f}<extra></extra>",
    )


def _line(name: str, x: list, y: list, line: dict, legend: bool) -> go.Scatter:
    """A reference line as a trace, so that the legend names it (once for all panels)."""
    return go.Scatter(
        x=x, y=y, mode="lines", name=name, legendgroup=name, showlegend=legend, line=line
    )
