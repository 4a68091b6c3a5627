"""The evaluation report as one self-contained HTML page, drawn from the report dict alone.

    html = render(report)  # report: evaluation.report.evaluate(...), or json.load(report.json)

plotly.js is embedded inline once, in the head; every figure is a div plus a
small inline script. Nothing is fetched at view time (no CDN, no fonts, no
MathJax), so the page works offline. Strings from the data are HTML-escaped.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from journeylab.evaluation import charts, html_summary

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:16px 24px;color:#222}
h1{font-size:1.6em;margin-bottom:0}
h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:2em}
.sub{color:#666;margin-top:4px}.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.tile{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:150px}
.tile b{display:block;font-size:1.4em}.tile span{color:#666;font-size:.85em}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right;font-size:.9em}th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
.caveat{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px;margin:8px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:8px}
.note{color:#666;font-size:.9em}td.w{text-align:left}
"""
REAL, SYN = "real (holdout)", "synthetic"


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if v == "inf":
        return "∞"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    if isinstance(v, dict):
        return ", ".join(f"{html.escape(str(k))} {fmt(x, digits)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(fmt(x, digits) for x in v)
    return html.escape(str(v))


def table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(c: Any) -> str:
    """Numbers right-aligned (the CSS default), words left."""
    words = isinstance(c, str) and c not in ("inf", "-inf")
    return f"<td class='w'>{fmt(c)}</td>" if words else f"<td>{fmt(c)}</td>"


class Figures:
    """Turns plotly figures into divs with stable ids (the same report, the same page)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, fig: go.Figure) -> str:
        self.n += 1
        return fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"fig-{self.n}",
            config={"displaylogo": False, "responsive": True},
        )


# --- sections ----------------------------------------------------------------------------
def _tiles(r: dict) -> str:
    f, p = r["fidelity"]["metrics"], r["privacy"]
    ratios = [x["auc_ratio"] for x in r["utility"]["rows"] if x["train"] == "TSTR"]
    ratio = None if None in ratios or not ratios else sum(ratios) / len(ratios)
    tiles = [
        ("detection AUC", f.get("detection_auc"), "0.5 = indistinguishable"),
        ("3-gram TVD", f.get("tvd_3gram"), f"train vs holdout: {fmt(f.get('ref_tvd_3gram'), 3)}"),
        ("TSTR / TRTR AUC", ratio, "mean over tasks and models; 1.0 = as real"),
        (
            "epsilon",
            p["epsilon"] if p["dp"] else "inf",
            "customer-level DP" if p["dp"] else "no formal guarantee",
        ),
        ("MIA AUC (distance)", p["audits"]["metrics"].get("mia_distance_auc"), "0.5 = no leak"),
    ]
    cells = "".join(
        f"<div class='tile'><span>{html.escape(a)}</span><b>{fmt(b, 3)}</b>"
        f"<span>{html.escape(c)}</span></div>"
        for a, b, c in tiles
    )
    return f"<div class='tiles'>{cells}</div>"


def _inputs(r: dict) -> str:
    rows = [
        [
            name,
            d["customers"],
            d["events"],
            d["length_mean"],
            d["length_max"],
            d["fingerprint"],
            r["source"].get(name, ""),
        ]
        for name, d in r["inputs"].items()
    ]
    head = ["log", "customers", "events", "mean length", "longest", "fingerprint", "source"]
    return table(head, rows) + _scale(r.get("scale"))


def _scale(s: dict | None) -> str:
    """Which figures used every customer and which a seeded subsample (evaluation/at_scale)."""
    if not s:
        return ""
    used = ", ".join(f"{k} {v:,}" for k, v in s["subsample_customers"].items())
    return (
        f"<p>Every customer: {html.escape(s['all_customers'])}. A subsample of customers "
        f"(seed {s['subsample_seed']}; {used}): {html.escape(s['subsampled'])}.</p>"
    )


def _fidelity(r: dict, fig: Figures) -> str:
    f = r["fidelity"]["metrics"]
    keys = [k for k in f if not k.startswith("ref_") and not k.endswith("_ratio")]
    rows = [[k, f[k], f.get(f"ref_{k}"), f.get(f"{k}_ratio")] for k in keys]
    parts = [
        "<h2>Fidelity</h2>",
        table(
            ["metric", "synthetic vs holdout", "train vs holdout (fresh real data)", "ratio"], rows
        ),
        "<p class='note'>TVD: n-gram total variation distance (0 = same). W1: "
        "Wasserstein-1 (ratio 1.0 = as close as fresh real data). Detection AUC: 0.5 = a "
        "classifier cannot tell synthetic journeys from real ones.</p>",
        _giveaways(r["fidelity"].get("giveaways") or []),
        _sdmetrics(r["fidelity"].get("sdmetrics")),
        f"<div class='caveat'>{html.escape(r['fidelity']['caveat'])}</div>",
        "<h3>Distributions</h3>",
        _distributions(r["plots"]["distributions"], fig),
        "<h3>Token transitions</h3>",
        _transitions(r["plots"]["transitions"], fig),
        "<h3>First steps by channel</h3>",
        _sankeys(r["plots"]["sankey"], fig),
    ]
    return "".join(parts)


def _giveaways(rows: list[dict]) -> str:
    if not rows:
        return ""
    body = [[g["feature"], g["auc"], g["real_mean"], g["synthetic_mean"]] for g in rows]
    return (
        "<h3>What gives the synthetic journeys away</h3>"
        + table(["feature", "AUC on its own", "real mean", "synthetic mean"], body)
        + "<p class='note'>Each feature's own cross-fitted AUC (binned: a wrong shape counts, "
        "not only a wrong mean); 0.5 = no signal. Fix the top ones first.</p>"
    )


def _sdmetrics(sdm: dict | None) -> str:
    if not sdm:
        return ""
    rows = []
    for name in ("events", "context"):
        t = sdm.get(name)
        if t:
            props = t["properties"]
            rows.append(
                [
                    name,
                    t["score"],
                    t["ref_score"],
                    props.get("Column Shapes"),
                    props.get("Column Pair Trends"),
                ]
            )
    return (
        "<h3>SDMetrics quality report (second opinion)</h3>"
        + table(
            [
                "table",
                "score vs holdout",
                "train vs holdout",
                "column shapes",
                "column pair trends",
            ],
            rows,
        )
        + "<p class='note'>SDMetrics 0..1, 1 = same; on at most "
        f"{fmt(sdm['max_rows'])} events per log (whole journeys, seeded).</p>"
    )


def _distributions(entries: list[dict], fig: Figures) -> str:
    divs = []
    for e in entries:
        title = f"{e['name']} ({e['where']})"
        if e["kind"] == "histogram":
            divs.append(fig(_histogram(e, title)))
        else:
            divs.append(fig(_categories(e, title)))
    return f"<div class='grid'>{''.join(divs)}</div>"


def _histogram(e: dict, title: str) -> go.Figure:
    edges = e["edges"]
    if not edges:
        return charts.empty(title, "no values")
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    width = edges[1] - edges[0]
    fig = go.Figure(
        [
            go.Bar(x=centers, y=s, width=width, name=name, opacity=0.6)
            for name, s in e["shares"].items()
        ]
    )
    fig.update_layout(barmode="overlay", bargap=0, xaxis_title=e["xlabel"], yaxis_title="share")
    return charts._layout(fig, title)


def _categories(e: dict, title: str) -> go.Figure:
    fig = go.Figure([go.Bar(x=e["categories"], y=s, name=name) for name, s in e["shares"].items()])
    fig.update_layout(barmode="group", xaxis_title=e["xlabel"], yaxis_title="share")
    return charts._layout(fig, title)


def _transitions(t: dict, fig: Figures) -> str:
    if not t["rows"]:
        return "<p>no transitions</p>"
    real = pd.DataFrame(t["real"], index=t["rows"], columns=t["columns"])
    syn = pd.DataFrame(t["synthetic"], index=t["rows"], columns=t["columns"])
    return (
        "<div class='grid'>"
        + "".join(
            [
                fig(charts.heatmap(real, title=f"P(next | event): {REAL}")),
                fig(charts.heatmap(syn, title="P(next | event): synthetic")),
                fig(charts.heatmap(syn - real, title="synthetic minus real", diverging=True)),
            ]
        )
        + "</div>"
    )


def _sankeys(s: dict, fig: Figures) -> str:
    frames = {
        k: pd.DataFrame(s[k], columns=["source", "target", "count"]) for k in ("real", "synthetic")
    }
    names = sorted(
        {
            n.split(". ", 1)[1]
            for f in frames.values()
            for n in pd.concat([f.source, f.target])
            if not n.endswith(". end")
        }
    )
    colors = {n: charts.PALETTE[i % len(charts.PALETTE)] for i, n in enumerate(names)}
    label = {"real": REAL, "synthetic": SYN}
    return (
        "<div class='grid'>"
        + "".join(
            fig(charts.sankey(f, title=f"first {s['steps']} events: {label[k]}", colors=colors))
            for k, f in frames.items()
        )
        + "</div>"
    )


def _utility(r: dict, fig: Figures) -> str:
    u = r["utility"]
    rows = [
        [
            x["task"],
            x["model"],
            x["train"],
            x["n_train"],
            x["auc"],
            x["auc_ratio"],
            x["pr_auc"],
            x["brier"],
            x["top_decile_lift"],
            x["note"],
        ]
        for x in u["rows"]
    ]
    spec = u["label_spec"]
    lifts = []
    for task in dict.fromkeys(x["task"] for x in u["rows"]):
        items = [
            (
                f"{x['model']} {x['train']}",
                [b["bin"] for b in x["table"]],
                [b["lift"] for b in x["table"]],
            )
            for x in u["lift"]
            if x["task"] == task
        ]
        lifts.append(
            fig(
                charts.curves(
                    items,
                    title=f"lift by score decile: {task}",
                    xlabel="score decile (1 = highest)",
                    ylabel="lift",
                    baseline=1.0,
                )
            )
        )
    from journeylab.predictors.evaluate import UTILITY_COLUMNS

    return (
        "<h2>Utility</h2>"
        f"<p>Labels at cutoff {fmt(spec['cutoff'])}, horizons (days) "
        f"{fmt(spec['horizons_days'])}; TRTR trains on real train, TSTR on the synthetic "
        "log; both are tested on the real holdout.</p>"
        + table([*UTILITY_COLUMNS, "note"], rows)
        + f"<div class='grid'>{''.join(lifts)}</div>"
        + f"<div class='caveat'>{html.escape(u['caveat'])}</div>"
    )


def _privacy(r: dict) -> str:
    p = r["privacy"]
    out = ["<h2>Privacy</h2>", f"<p><b>{html.escape(p['statement'])}</b></p>"]
    if p["dp"]:
        t, pre = p["parts"]["training"] or {}, p["parts"]["preprocessing"]
        prof = p["parts"].get("profile") or {"epsilon": 0.0, "delta": 0.0}
        rows = [
            ["preprocessing (domains estimated from data)", pre["epsilon"], pre["delta"], ""],
            [
                "journey profile (lengths, calendar, constants)",
                prof["epsilon"],
                prof["delta"],
                (
                    "Gaussian histograms, composed with training by RDP"
                    if prof.get("composition") == "rdp"
                    else "Laplace histograms"
                )
                if prof["epsilon"]
                else "",
            ],
            [
                "training (DP-SGD)",
                t.get("epsilon"),
                t.get("delta"),
                f"noise {fmt(t.get('noise_multiplier'))}, sample rate "
                f"{fmt(t.get('sample_rate'))}, {fmt(t.get('steps'))} steps, "
                f"clip {fmt(t.get('max_grad_norm'))}, {fmt(t.get('accountant'))}",
            ],
            ["total", p["epsilon"], p["delta"], p["composition"]],
        ]
        out.append(table(["part", "epsilon", "delta", "how"], rows))
    a = p["audits"]
    out += [
        "<h3>Empirical audits</h3>",
        table(["audit", "value"], [[k, v] for k, v in a["metrics"].items()]),
        "<p class='note'>Membership-inference AUC: 0.5 = the attack cannot tell training "
        "customers from holdout ones, 1.0 = total leak. DCR share: 0.5 is ideal. Exact "
        f"copies: share of synthetic journeys identical to a training journey. Sizes: "
        f"{fmt(a['sizes'])}.</p>",
        f"<div class='caveat'>{html.escape(a['caveat'])}</div>",
    ]
    return "".join(out)


def _cost(r: dict) -> str:
    rows = [[k.replace("_", " "), v] for k, v in r["cost"].items()]
    return "<h2>Cost</h2>" + table(["what", "seconds"], rows)


def render(report: dict) -> str:
    """The whole page: plotly.js inline once, then the sections."""
    from plotly.offline import get_plotlyjs

    from journeylab.evaluation.report import report_scorecard

    fig = Figures()
    title = f"JourneyLab evaluation: {report['dataset']}"
    body = "".join(
        [
            f"<h1>{html.escape(title)}</h1>",
            f"<p class='sub'>created {fmt(report['created'])} · schema fingerprint "
            f"{fmt(report['schema_fingerprint'])} · report format {report['format']}</p>",
            html_summary.scorecard_html(report_scorecard(report)),
            html_summary.giveaways_html(report["fidelity"].get("giveaways")),
            _tiles(report),
            html_summary.validity_html(report.get("validity")),
            _inputs(report),
            _fidelity(report, fig),
            _utility(report, fig),
            _privacy(report),
            _cost(report),
            "<h2>Settings</h2>",
            table(["setting", "value"], [[k, v] for k, v in report["config"].items()]),
        ]
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}{html_summary.CSS}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head>"
        f"<body>{body}</body></html>"
    )
