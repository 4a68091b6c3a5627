"""The first screen of the HTML report: the scorecard and the validity figures.

    scorecard_html(report_scorecard(report))      # three verdict cards, figures beneath
    giveaways_html(report["fidelity"].get("giveaways"))   # the top giveaways as sentences
    validity_html(report.get("validity"))           # a table of shares, "" for old reports

Each figure's one-sentence explanation is its tooltip (the `title` attribute) and is
also written under the table, so a printed report keeps it. Strings are HTML-escaped.
"""

from __future__ import annotations

import html

from journeylab.evaluation.giveaways import giveaway_sentence
from journeylab.evaluation.validity import validity_rows
from journeylab.evaluation.verdict import Verdict

CSS = """
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #ddd;border-left:6px solid #999;border-radius:8px;padding:10px 14px;
min-width:250px;flex:1}.card h3{margin:0;font-size:.85em;color:#666;text-transform:uppercase}
.card b{display:block;font-size:1.3em;margin:4px 0}.card p{margin:4px 0;font-size:.85em}
.l0{border-left-color:#2e7d32}.l1{border-left-color:#9e9d24}.l2{border-left-color:#ef6c00}
.l3{border-left-color:#c62828}
"""


def _card(v: Verdict) -> str:
    level = "" if v.level is None else f" l{v.level}"
    figures = "".join(
        f"<p title='{html.escape(f.explain)}'>{html.escape(f.name)}: "
        f"<b style='display:inline;font-size:1em'>{html.escape(f.value)}</b></p>"
        for f in v.figures
    )
    return (
        f"<div class='card{level}'><h3>{html.escape(v.aspect)}</h3>"
        f"<b>{html.escape(v.words)}</b><p class='note'>{html.escape(v.meaning)}</p>"
        f"{figures}</div>"
    )


def scorecard_html(verdicts: list[Verdict]) -> str:
    """Three cards (fidelity, utility, privacy) and what each figure means."""
    notes = {f.name: f.explain for v in verdicts for f in v.figures}
    explained = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(e)}</li>" for k, e in notes.items()
    )
    return (
        "<h2>Scorecard</h2>"
        f"<div class='cards'>{''.join(_card(v) for v in verdicts)}</div>"
        f"<ul class='note'>{explained}</ul>"
    )


def validity_html(figures: dict | None) -> str:
    """The validity table (evaluation.validity), or "" when the report has none."""
    rows = validity_rows(figures or {})
    if not rows:
        return ""
    body = "".join(
        f"<tr title='{html.escape(r['meaning'])}'><td>{html.escape(r['figure'])}</td>"
        f"<td>{r['synthetic']}</td><td>{r['real']}</td>"
        f"<td class='w'>{html.escape(r['meaning'])}</td></tr>"
        for r in rows
    )
    return (
        "<h2>Validity</h2><p>How much of the synthetic log breaks what the real training "
        "data shows (0% is best).</p><table><tr><th>figure</th><th>synthetic</th>"
        f"<th>real</th><th>what it counts</th></tr>{body}</table>"
    )


def giveaways_html(rows: list[dict] | None, top: int = 3) -> str:
    """The detector's `top` giveaways as sentences (evaluation.giveaways), or ""."""
    if not rows:
        return ""
    items = "".join(f"<li>{html.escape(giveaway_sentence(r))}</li>" for r in rows[:top])
    return f"<p><b>What gives the synthetic journeys away most:</b></p><ul>{items}</ul>"
