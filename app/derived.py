"""Statistics of event logs for the Journeys and Fidelity pages, computed once per log.

A log on a page is a `Loaded`: a key (its file and modification time, or the id
of a sample generated in this session), a label and the EventLog. Streamlit
caches each statistic by the key; the log itself is never hashed (a cached
function's parameters starting with `_` are left out of its key), so a page
with the 163k events of Complete Journey redraws without recomputing them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from journeylab.app import segments
from journeylab.evaluation import charts
from journeylab.evaluation import validity as validity_figures
from journeylab.journeys import fidelity
from journeylab.journeys.eventlog import EventLog


@dataclass(frozen=True)
class Loaded:
    key: str
    label: str
    log: EventLog


@st.cache_data(max_entries=64, show_spinner=False)
def _ngrams(key: str, n: int, _log: EventLog) -> pd.Series:
    return fidelity.ngram_frequencies(_log, n=n)


def ngrams(x: Loaded, n: int) -> pd.Series:
    """Share of each n-gram of channel|event tokens (journeys.fidelity), largest first."""
    return _ngrams(x.key, n, x.log)


@st.cache_data(max_entries=64, show_spinner=False)
def _tvd(key_a: str, key_b: str, n: int, _a: EventLog, _b: EventLog) -> float:
    return fidelity.ngram_tvd(_a, _b, n=n)


def tvd(a: Loaded, b: Loaded, n: int) -> float:
    return _tvd(a.key, b.key, n, a.log, b.log)


@st.cache_data(max_entries=64, show_spinner=False)
def _values(key: str, what: str, _log: EventLog) -> np.ndarray | None:
    if what == "length":
        return _log.lengths().to_numpy(float)
    if what == "gap":
        return fidelity.log_gaps(_log)
    return fidelity.log_amounts(_log)


def values(x: Loaded, what: str) -> np.ndarray | None:
    """Journey lengths, log1p gaps or log1p amounts (None: the log has no amount)."""
    return _values(x.key, what, x.log)


@st.cache_data(max_entries=64, show_spinner=False)
def _links(key: str, steps: int, _log: EventLog) -> pd.DataFrame:
    return charts.sankey_links(_log, steps=steps)


def sankey_links(x: Loaded, steps: int) -> pd.DataFrame:
    return _links(x.key, steps, x.log)


def transitions(x: Loaded) -> pd.DataFrame:
    """P(next token | token), START and END included."""
    return charts.transition_matrix(ngrams(x, 2))


@st.cache_data(max_entries=64, show_spinner=False)
def _validity(key_real: str, key_synth: str, _real: EventLog, _synth: EventLog) -> dict:
    return validity_figures.validity(_real, _synth)


def validity(real: Loaded, synth: Loaded) -> dict[str, float]:
    """The validity figures of `synth` against `real` (evaluation.validity)."""
    return _validity(real.key, synth.key, real.log, synth.log)


def summary(x: Loaded) -> dict[str, float]:
    """The figures read above a log's timelines: journeys, median and 90th-percentile
    journey length (events), and the share of single-event journeys."""
    lengths = values(x, "length")
    if lengths is None or not len(lengths):
        return {}
    return {
        "Journeys": float(len(lengths)),
        "Median length": float(np.median(lengths)),
        "P90 length": float(np.quantile(lengths, 0.9)),
        "Single-event": float(np.mean(lengths == 1)),
    }


@st.cache_resource(max_entries=16, show_spinner=False)
def _segment(key: str, column: str, value: str, _log: EventLog) -> EventLog:
    return segments.real_segment(_log, column, value)


def segment(x: Loaded, column: str, value: str) -> Loaded:
    """The journeys of `x`'s customers whose `column` is `value` (computed once per log)."""
    log = _segment(x.key, column, value, x.log)
    return Loaded(f"{x.key}|{column}={value}", f"{x.label} · {column}={value}", log)


SHOWN = 5  # journeys a timeline panel shows at first (Journeys' slider; the warm-up)


@st.cache_data(max_entries=32, show_spinner=False)
def _timeline(key: str, ids: tuple, title: str, style_key: str, _log: EventLog, _style) -> dict:
    return charts.timeline(_log, list(ids), title=title, style=_style).to_dict()


def timeline_panels(pair, start: int, n: int) -> list[dict | None]:
    """The timeline panels of a (real, synthetic) pair: journeys start..start+n of each
    log in one shared style (charts.timeline_style), as figure dicts. Each is built once
    per log, journeys and style (Plotly Express takes about half a second for two)."""
    shown = [
        (x, x.log.customers[start : start + n].tolist()) if x is not None else None for x in pair
    ]
    style = charts.timeline_style([(x.log, ids) for x, ids in filter(None, shown)])
    out: list[dict | None] = []
    for item, name in zip(shown, ("Real", "Synthetic"), strict=True):
        if item is None:
            out.append(None)
            continue
        x, ids = item
        title = f"{name}: {len(ids)} of {x.log.n_customers} journeys"
        out.append(_timeline(x.key, tuple(ids), title, repr(style), x.log, style))
    return out
