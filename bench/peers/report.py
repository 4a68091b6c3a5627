"""Results of the peer benchmark: merged by (dataset, job), rendered as one table per dataset.

Pure functions of the result rows (dicts as written to bench/results/peers.json),
so that partial runs, done in several invocations, combine into one table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

DATASETS = ["completejourney", "simulate-small", "simulate-large"]
JOBS = [
    "vae-nodp",
    "vae-eps8",
    "vae-eps1",
    "gan-nodp",
    "gan-eps8",
    "gan-eps1",
    "par",
    "mostly-nodp",
    "mostly-eps8",
    "mostly-eps1",
]

# (header, key, format); TSTR columns are TSTR AUC / TRTR AUC (logreg).
COLUMNS = [
    ("eps spent", "epsilon_spent", ".2f"),
    ("fit s", "fit_seconds", ".0f"),
    ("train cust/s", "train_customers_per_second", ".3g"),
    ("journeys/s", "journeys_per_second", ".3g"),
    ("peak MB", "peak_rss_mb", ".0f"),
    ("journeys", "n_synthetic", "d"),
    ("mean len", "mean_length", ".1f"),
    ("det. AUC", "detection_auc", ".3f"),
    ("TVD-1", "tvd_1gram", ".3f"),
    ("TVD-2", "tvd_2gram", ".3f"),
    ("TVD-3", "tvd_3gram", ".3f"),
    ("len W1 ratio", "length_w1_ratio", ".2f"),
    ("gap W1 ratio", "gap_w1_ratio", ".2f"),
    ("amount W1 ratio", "amount_w1_ratio", ".2f"),
    ("TSTR churn", "churn.logreg.TSTR.auc_ratio", ".3f"),
    ("TSTR purchase", "purchase.logreg.TSTR.auc_ratio", ".3f"),
    ("MIA dist. AUC", "mia_distance_auc", ".3f"),
    ("MIA density AUC", "mia_density_ratio_auc", ".3f"),
    ("DCR share", "dcr_share", ".3f"),
    ("exact copies", "exact_copy_share", ".3f"),
]


def _order(name: str, known: list[str]) -> tuple[int, str]:
    return (known.index(name) if name in known else len(known), name)


def row_key(row: dict) -> tuple[str, str]:
    return row["dataset"], row["job"]


def merge_rows(old: Iterable[dict], new: Iterable[dict]) -> list[dict]:
    """`old` rows with those of `new` replacing any of the same (dataset, job); sorted."""
    by = {row_key(r): r for r in old}
    by.update({row_key(r): r for r in new})
    return sorted(
        by.values(), key=lambda r: (_order(r["dataset"], DATASETS), _order(r["job"], JOBS))
    )


# Rows recorded before bench_peers used journeylab.evaluation carry the old names.
LEGACY = {
    "churn.logreg.TSTR.auc_ratio": "tstr_ratio_churn",
    "purchase.logreg.TSTR.auc_ratio": "tstr_ratio_purchase",
    "churn.logreg.TRTR.auc": "trtr_auc_churn",
    "purchase.logreg.TRTR.auc": "trtr_auc_purchase",
}


def value(row: dict, key: str):
    return row[key] if key in row else row.get(LEGACY.get(key, key))


def fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if spec == "d":
        return str(int(value))
    return format(value, spec)


def render(rows: list[dict]) -> str:
    """Markdown: one section per dataset with its table and notes."""
    out = []
    for ds in dict.fromkeys(r["dataset"] for r in merge_rows([], rows)):
        out.append(render_dataset([r for r in rows if r["dataset"] == ds]))
    return "\n\n".join(out)


def render_dataset(rows: list[dict]) -> str:
    rows = merge_rows([], rows)
    first = next((r for r in rows if "error" not in r), rows[0])
    lines = [
        f"### {first['dataset']}",
        "",
        _intro(first),
        "",
        "| job | eps target | " + " | ".join(h for h, _, _ in COLUMNS) + " |",
        "|" + "---|" * (len(COLUMNS) + 2),
    ]
    for r in rows:
        target = "no DP" if r.get("epsilon") is None else fmt(r["epsilon"], "g")
        if "error" in r:
            cells = ["FAILED (see notes)"] + [""] * (len(COLUMNS) - 1)
        else:
            cells = [fmt(value(r, k), f) for _, k, f in COLUMNS]
        lines.append(f"| {r['job']} | {target} | " + " | ".join(cells) + " |")
    notes = [n for r in rows for n in row_notes(r)]
    if "ref_detection_auc" in first:
        notes.append(
            f"reference, real train vs holdout: detection AUC "
            f"{first['ref_detection_auc']:.3f}, TVD-2 {first['ref_tvd_2gram']:.3f}; "
            f"TRTR AUC churn {fmt(value(first, 'churn.logreg.TRTR.auc'), '.3f')}, purchase "
            f"{fmt(value(first, 'purchase.logreg.TRTR.auc'), '.3f')} (logreg)"
        )
    lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines)


def _intro(r: dict) -> str:
    if "n_train" not in r:
        return "(no successful job)"
    return (
        f"Train {r['n_train']} / holdout {r['n_holdout']} customers (split by customer, "
        f"seed {r.get('seed', 0)}); training budget {fmt(r.get('minutes'), 'g')} min "
        "wall clock per job; TSTR = TSTR AUC / TRTR AUC (logreg, tested on the real "
        "holdout); audits and fidelity are computed on real data and are not covered by "
        "the DP guarantee."
    )


def row_notes(r: dict) -> list[str]:
    """What a reader must know about one row: failures, caps, repairs, settings."""
    job = f"{r['job']}:"
    if "error" in r:
        return [f"{job} FAILED: {r['error'].strip().splitlines()[-1][:300]}"]
    notes = []
    if r.get("settings"):
        notes.append(f"{job} {r['settings']}")
    if r.get("time_capped"):
        notes.append(
            f"{job} training stopped by the {fmt(r.get('minutes'), 'g')}-minute cap "
            f"after {fmt(r.get('epochs'), '.2f')} epochs"
        )
    conv = r.get("conversion") or {}
    repairs = {
        k: v
        for k, v in conv.items()
        if v and k not in ("events_in", "events_out", "journeys_requested", "journeys_out")
    }
    if repairs:
        notes.append(
            f"{job} output repaired before validation: "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in repairs.items())
            + f" ({conv.get('events_out')} of {conv.get('events_in')} events kept; "
            f"events outside the time range {r.get('time_policy', 'drop')}ped)"
        )
    for part in ("fidelity", "utility", "audits"):
        if r.get(f"{part}_error"):
            notes.append(f"{job} no {part} figures: {r[f'{part}_error'][:300]}")
    for task in ("churn", "purchase"):
        if r.get(f"tstr_note_{task}"):
            notes.append(f"{job} TSTR {task}: {r[f'tstr_note_{task}']}")
    return notes
