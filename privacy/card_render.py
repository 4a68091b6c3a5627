"""Rendering of a `PrivacyCard` as Markdown and as one self-contained HTML page.

Both formats are built from the same list of sections: a heading plus either a
table (rows of cells), a bullet list, or a paragraph.
"""

from __future__ import annotations

import html
import json
import math
from typing import TYPE_CHECKING, Any

from journeylab.privacy.caveats import AUDIT_CAVEAT, PREFIX_CAVEAT

if TYPE_CHECKING:  # the card calls the renderer; the renderer only reads the card
    from journeylab.privacy.card import PrivacyCard

UNIT = (
    "one customer: all of their events and context. Neighbouring datasets differ by "
    "one whole customer journey."
)
COVERS = [
    "the trained model and everything sampled from it (sampling is post-processing)",
    "the domains estimated from the data by DP preprocessing (category sets, bounds, "
    "time range, maximum length)",
]
NOT_COVERED = [
    "domains declared in the schema: public by declaration, so they cost nothing",
    "metrics computed on real data (fidelity reports, audits below): not private",
    "hyperparameters or model choices tuned by looking at results on real data",
    "other releases from the same dataset: see the ledger total",
    PREFIX_CAVEAT,
]
RECIPE = """from journeylab.privacy.card import card_numbers, recompute_epsilon
numbers = card_numbers(open("card.md").read())
print(recompute_epsilon(numbers))  # Opacus' RDP accountant (training, profile) + preprocessing"""


def fmt(x: Any) -> str:
    if isinstance(x, bool) or x is None:
        return "-" if x is None else str(x)
    if isinstance(x, float):
        return "infinite (no DP)" if math.isinf(x) else f"{x:.4g}"
    if isinstance(x, (list, tuple)):
        return ", ".join(fmt(v) for v in x)  # a reviewer reads words, not a Python list
    return str(x)


def _header(rec: dict[str, Any]) -> list[list[str]]:
    rows = [
        ["run", rec.get("run_id")],
        ["generator", rec.get("generator")],
        ["dataset", rec.get("dataset")],
        ["dataset fingerprint", rec.get("dataset_fingerprint")],
        ["unit of privacy", UNIT],
    ]
    return [[k, fmt(v)] for k, v in rows if v is not None]


def _guarantee(rec: dict[str, Any]) -> list[list[str]]:
    t, p = rec["training"], rec["preprocessing"]
    mech = (
        "DP-SGD (Opacus), Poisson sampling, per-customer clipping, Gaussian noise"
        if rec["dp"]
        else "none: not differentially private"
    )
    return [
        ["part", "mechanism", "epsilon", "delta"],
        [
            "preprocessing",
            "DP domain estimation" if p.get("domains") else "none needed (schema declared)",
            fmt(float(p.get("epsilon", 0.0))),
            fmt(float(p.get("delta", 0.0))),
        ],
        [
            "journey profile",
            _profile_mechanism(rec["profile"])
            if float(rec["profile"].get("epsilon", 0.0)) > 0
            else "none (not private, or no profile)",
            fmt(float(rec["profile"].get("epsilon", 0.0))),
            fmt(float(rec["profile"].get("delta", 0.0))),
        ],
        [
            "training",
            mech,
            fmt(float(t["epsilon"]) if rec["dp"] else math.inf),
            fmt(t.get("delta") if rec["dp"] else 0.0),
        ],
        [
            "**total** (training and profile by RDP, preprocessing added)"
            if rec["profile"].get("composition") == "rdp"
            else "**total** (basic composition)",
            "",
            fmt(rec["epsilon_total"]),
            fmt(rec["delta_total"]),
        ],
    ]


def _profile_mechanism(prof: dict[str, Any]) -> str:
    """The profile's row: Gaussian tables composed with the training in one RDP accountant
    (its epsilon is what it adds to the training's), or Laplace tables from before."""
    what = "histograms (lengths and spans, calendar, per-journey constants, mix)"
    if prof.get("composition") == "rdp":
        return (
            f"Gaussian {what}, zCDP rho {fmt(float(prof.get('rho') or 0.0))}, composed with "
            "the training in one RDP accountant: epsilon is what it adds"
        )
    return f"Laplace {what}"


def _dpsgd(rec: dict[str, Any]) -> list[list[str]]:
    t = rec["training"]
    keys = [
        ("accountant", "accountant"),
        ("noise multiplier", "noise_multiplier"),
        ("clipping bound C", "max_grad_norm"),
        ("sampling rate q", "sample_rate"),
        ("expected batch size", "expected_batch_size"),
        ("steps", "steps"),
        ("planned steps", "planned_steps"),
        ("epochs", "epochs"),
        ("training customers N", "n_customers"),
        ("training processes (DDP: each takes its part of the Poisson batch)", "processes"),
        ("delta", "delta"),
        ("epsilon (RDP)", "epsilon_rdp"),
        ("epsilon (PRV cross-check)", "epsilon_prv"),
        ("PRV status", "prv_status"),
        ("private modules", "private_modules"),
    ]
    return [["parameter", "value"]] + [[k, fmt(t[v])] for k, v in keys if v in t]


def _recomputed(card: PrivacyCard) -> list[str]:
    verdict = (
        "matches the recorded total"
        if card.consistent
        else f"DOES NOT match the recorded total {fmt(card.numbers['epsilon_total'])}: "
        "do not trust this card"
    )
    return [
        "total epsilon recomputed from the numbers below (Opacus)",
        f"{fmt(card.recomputed_epsilon)}: {verdict}",
    ]


def _domains(rec: dict[str, Any]) -> list[list[str]]:
    d = rec["preprocessing"].get("domains") or {}
    return [["domain", "mechanism", "epsilon", "delta"]] + [
        [k, fmt(v.get("mechanism")), fmt(v["epsilon"]), fmt(v["delta"])] for k, v in d.items()
    ]


def _ledger(rec: dict[str, Any]) -> list[list[str]]:
    led = rec.get("ledger") or {}
    return [["ledger", "value"]] + [[k, fmt(v)] for k, v in led.items()]


def _audits(rec: dict[str, Any]) -> list[list[str]]:
    a = rec.get("audits") or {}
    rows = [["audit", "value"]]
    for k, v in (a.get("metrics") or {}).items():
        rows.append([k, fmt(v)])
    can = a.get("canary")
    if can:
        rows += [
            ["canary: claimed epsilon", fmt(can.get("claimed_epsilon"))],
            ["canary: empirical epsilon lower bound", fmt(can.get("epsilon_lower_bound"))],
            ["canary: one-run lower bound", fmt(can.get("epsilon_lower_bound_one_run"))],
        ]
    return rows


def sections(card: PrivacyCard) -> list[tuple[str, str, Any]]:
    """(heading, kind, content) with kind in table | list | text | plot | numbers."""
    rec = card.record
    out: list[tuple[str, str, Any]] = [
        ("Identity", "table", [["field", "value"]] + _header(rec)),
        ("Guarantee", "table", _guarantee(rec)),
        ("What epsilon covers", "list", COVERS),
        ("What it does not cover", "list", NOT_COVERED),
    ]
    if rec["dp"]:
        out += [
            ("DP-SGD", "table", _dpsgd(rec) + [_recomputed(card)]),
            ("Epsilon over steps", "plot", None),
        ]
    if rec["preprocessing"].get("domains"):
        out.append(("DP preprocessing", "table", _domains(rec)))
    if rec.get("ledger"):
        out.append(("Ledger (all releases on this dataset)", "table", _ledger(rec)))
    if rec.get("audits"):
        out += [
            ("Empirical audits", "text", f"**Caveat:** {AUDIT_CAVEAT}"),
            ("Audit results", "table", _audits(rec)),
        ]
    out.append(("Numbers to recompute epsilon", "numbers", card.numbers))
    return out


def _md_table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
    return "\n".join(lines)


def esc(x: Any) -> str:
    return html.escape(str(x))


def render_markdown(card: PrivacyCard) -> str:
    run = card.record.get("run_id")
    parts = [f"# Privacy card{': run ' + run if run else ''}"]
    for heading, kind, content in sections(card):
        parts.append(f"## {heading}")
        if kind == "table":
            parts.append(_md_table(content))
        elif kind == "list":
            parts.append("\n".join(f"- {x}" for x in content))
        elif kind == "text":
            parts.append(content)
        elif kind == "plot":
            parts.append("![epsilon over steps](epsilon_over_steps.png)")
        else:
            parts.append(
                "<!-- privacy-numbers -->\n```json\n"
                + json.dumps(content, indent=2)
                + "\n```\n\nRecompute:\n\n```python\n"
                + RECIPE
                + "\n```"
            )
    return "\n\n".join(parts) + "\n"


def _html_table(rows: list[list[str]]) -> str:
    head, *body = rows
    th = "".join(f"<th>{esc(c)}</th>" for c in head)
    trs = "".join(
        "<tr>" + "".join(f"<td>{esc(c).replace('**', '')}</td>" for c in r) + "</tr>" for r in body
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def render_html(card: PrivacyCard) -> str:
    run = card.record.get("run_id")
    body = [f"<h1>Privacy card{esc(': run ' + run) if run else ''}</h1>"]
    for heading, kind, content in sections(card):
        body.append(f"<h2>{esc(heading)}</h2>")
        if kind == "table":
            body.append(_html_table(content))
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{esc(x)}</li>" for x in content) + "</ul>")
        elif kind == "text":
            body.append(f"<p class='caveat'>{esc(content.replace('**', ''))}</p>")
        elif kind == "plot" and card.plot_png:
            body.append(
                f"<img alt='epsilon over steps' src='data:image/png;base64,{card.png_base64()}'>"
            )
        elif kind == "numbers":
            body.append(
                "<pre id='privacy-numbers'>"
                + esc(json.dumps(content, indent=2))
                + "</pre><p>Recompute:</p><pre>"
                + esc(RECIPE)
                + "</pre>"
            )
    style = (
        "body{font-family:sans-serif;max-width:860px;margin:2em auto}table{border-collapse:"
        "collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        ".caveat{background:#fff4e5;padding:8px}pre{background:#f6f6f6;padding:8px}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Privacy card</title>"
        f"<style>{style}</style></head><body>" + "\n".join(body) + "</body></html>\n"
    )
