"""The numbers behind the evaluation report's plots: pure functions, no plotting, no I/O.

Everything here ends in report.json under `plots`, so the HTML is drawn from the
JSON alone (`journeylab.evaluation.html.render(report)`) and every plotted number is
machine-readable:
- distributions: shared-bin histograms of journey length, log gap and each
  numeric column (log1p of positive values where the column is >= 0), and the
  shares of every categorical column (event and context), real vs synthetic;
- transitions: P(next token | token) of channel|event tokens (with start and
  end), real vs synthetic, on one row and column order;
- sankey: channel flows over the first `steps` events of each journey.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from journeylab.evaluation.charts import aligned, sankey_links, transition_matrix
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.fidelity import log_gaps, ngram_frequencies


def histogram(samples: dict[str, np.ndarray], *, bins: int = 40) -> dict:
    """Shares per bin on bins shared by every sample; empty samples are left out."""
    arrays = {k: np.asarray(v, float) for k, v in samples.items() if v is not None and len(v)}
    arrays = {k: a[np.isfinite(a)] for k, a in arrays.items()}
    arrays = {k: a for k, a in arrays.items() if a.size}
    if not arrays:
        return {"kind": "histogram", "edges": [], "shares": {}}
    lo = min(float(a.min()) for a in arrays.values())
    hi = max(float(a.max()) for a in arrays.values())
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, bins + 1)
    shares = {}
    for name, a in arrays.items():
        counts = np.histogram(a, bins=edges)[0]
        shares[name] = (counts / max(counts.sum(), 1)).tolist()
    return {"kind": "histogram", "edges": edges.tolist(), "shares": shares}


def category_shares(values: dict[str, pd.Series], domain: list[str] | None) -> dict:
    """Share of each category per log, over the declared domain (or the values seen)."""
    seen = sorted({str(v) for s in values.values() for v in s.unique()})
    cats = list(domain) if domain else seen
    shares = {
        name: s.astype(str).value_counts(normalize=True).reindex(cats, fill_value=0.0).tolist()
        for name, s in values.items()
    }
    return {"kind": "categories", "categories": cats, "shares": shares}


def _numeric_values(log: EventLog, col: str, frame: pd.DataFrame) -> np.ndarray:
    x = frame[col].to_numpy(dtype=float)
    c = log.schema.column(col)
    return np.log1p(x[x > 0]) if c.min is not None and c.min >= 0 else x


def distributions(logs: dict[str, EventLog], *, bins: int = 40) -> list[dict]:
    """One entry per quantity: name, where (journey, event, context), x label and data."""
    first = next(iter(logs.values()))
    schema = first.schema
    out = [
        {
            "name": "journey length",
            "where": "journey",
            "xlabel": "events per journey",
            **histogram({k: g.lengths().to_numpy(float) for k, g in logs.items()}, bins=bins),
        },
        {
            "name": "log gap",
            "where": "event",
            "xlabel": "log1p(seconds between events)",
            **histogram({k: log_gaps(g) for k, g in logs.items()}, bins=bins),
        },
    ]
    for where, names, frame_of in (
        ("event", schema.event_names(), lambda g: g.df),
        ("context", schema.context_names(), lambda g: g.context()),
    ):
        for col in names:
            out.append(_column_entry(logs, col, where, frame_of, bins))
    return out


def _column_entry(logs, col: str, where: str, frame_of, bins: int) -> dict:
    first = next(iter(logs.values()))
    c = first.schema.column(col)
    if c.kind == "categorical":
        data = category_shares({k: frame_of(g)[col] for k, g in logs.items()}, c.values)
        return {"name": col, "where": where, "xlabel": col, **data}
    logged = c.min is not None and c.min >= 0
    data = histogram({k: _numeric_values(g, col, frame_of(g)) for k, g in logs.items()}, bins=bins)
    label = f"log1p({col}) where > 0" if logged else col
    return {"name": col, "where": where, "xlabel": label, **data}


def transitions(real: EventLog, synthetic: EventLog) -> dict:
    """P(next | token) matrices of real and synthetic on shared rows and columns."""
    a = transition_matrix(ngram_frequencies(real, n=2))
    b = transition_matrix(ngram_frequencies(synthetic, n=2))
    a, b = aligned(a, b)
    return {
        "rows": list(a.index),
        "columns": list(a.columns),
        "real": a.to_numpy().round(6).tolist(),
        "synthetic": b.to_numpy().round(6).tolist(),
    }


def sankey(log: EventLog, *, steps: int = 4) -> list[dict]:
    """Channel flow counts (source, target, count) over the first `steps` events."""
    links = sankey_links(log, steps=steps)
    return [
        {"source": r.source, "target": r.target, "count": int(r.count)} for r in links.itertuples()
    ]


def plot_data(real: EventLog, synthetic: EventLog, *, bins: int = 40, steps: int = 4) -> dict:
    """Everything the HTML plots, from the real holdout and the synthetic log."""
    return {
        "real_label": "real (holdout)",
        "distributions": distributions({"real (holdout)": real, "synthetic": synthetic}, bins=bins),
        "transitions": transitions(real, synthetic),
        "sankey": {
            "steps": steps,
            "real": sankey(real, steps=steps),
            "synthetic": sankey(synthetic, steps=steps),
        },
    }
