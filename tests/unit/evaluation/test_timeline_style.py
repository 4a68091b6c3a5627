"""Timelines of real and synthetic logs share one style: the schema's declared domain
orders colours and markers, so every chart maps a channel and an event type alike; the
time axis and the marker size scale cover every panel."""

from __future__ import annotations

from conftest import tiny_frame

from journeylab.evaluation import charts
from journeylab.journeys import EventLog


def test_one_colour_per_channel_and_marker_per_type_whatever_the_log(tiny_schema):
    a = EventLog.from_frame(tiny_frame(20, seed=0), tiny_schema)
    b_frame = tiny_frame(20, seed=1)
    b = EventLog.from_frame(b_frame[b_frame.channel != "web"], tiny_schema)  # fewer channels
    assert charts.channel_colors(a) == charts.channel_colors(b) == charts.channel_colors(a, b)
    symbols = charts.event_symbols(b)
    assert list(symbols) == ["view", "cart", "purchase"]  # the schema's order
    assert len(set(symbols.values())) == 3


def test_style_spans_every_panel(tiny_schema):
    a = EventLog.from_frame(tiny_frame(20, seed=0), tiny_schema)
    b = EventLog.from_frame(tiny_frame(20, seed=2), tiny_schema)
    ids_a, ids_b = list(a.customers[:3]), list(b.customers[5:8])
    style = charts.timeline_style([(a, ids_a), (b, ids_b)])
    shown = [g.df[g.df[g.key].isin(ids)] for g, ids in ((a, ids_a), (b, ids_b))]
    lo = min(df[a.time].min() for df in shown)
    hi = max(df[a.time].max() for df in shown)
    assert style.x_range[0] < lo and style.x_range[1] > hi
    assert style.amount_top == max(df["amount"].max() for df in shown)
    figs = [charts.timeline(g, ids, title="t", style=style) for g, ids in ((a, ids_a), (b, ids_b))]
    assert figs[0].layout.xaxis.range == figs[1].layout.xaxis.range
    traces = [t for f in figs for t in f.data]
    assert {(t.marker.sizemode, t.marker.sizeref) for t in traces} == {("diameter", 1)}
    largest = [max(max(t.marker.size) for t in f.data) for f in figs]
    assert max(largest) == 20 and min(largest) < 20  # one scale: only the top amount is 20 px
