"""The privacy-utility curve and the shapes table, in one command (`make bench-fidelity`).

    OMP_NUM_THREADS=1 python -m bench.bench_fidelity [--part curve,scale,shapes] \
        [--minutes 45] [--workers 2] [--epochs dataset=N,...] [--model vae]

- curve: epsilon in {0.5, 1, 2, 4, 8, no DP} on Complete Journey and on the 10k-customer
  simulator (detection AUC of the reviewer-strength detector, length and gap W1 ratios,
  TSTR for churn and purchase, label-rate error, the one-event share's relative error
  and the share of events at midnight, synthetic/real; membership inference, time);
- scale: epsilon 1 and 8 at 1k and 50k simulated customers (how fidelity grows with
  the number of customers at a fixed epsilon);
- shapes: every simulator preset (retail: date-only purchases; process: loan-application
  traces; omnichannel) at 2,000 customers, without DP and at epsilon 8.
Each job is one child process of bench.bench_peers (same split, same evaluation through
journeylab.evaluation, one CPU thread); rows merge into bench/results/fidelity/peers.json.
This script renders fidelity.md and the curve as fidelity.png from them. Each job trains
its dataset's plan of --epochs, capped at --minutes (a capped DP job spends less than
its target epsilon: the table shows what was spent).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from bench import bench_peers
from bench.peers.report import fmt, value

RESULTS = Path(__file__).parent / "results" / "fidelity"
EPSILONS = ("0.5", "1", "2", "4", "8")
PARTS = {
    "curve": (["completejourney", "simulate-10000"], [f"eps{e}" for e in EPSILONS] + ["nodp"]),
    "scale": (["simulate-1000", "simulate-50000"], ["eps1", "eps8"]),
    "shapes": (["retail-2000", "process-2000", "omnichannel-2000"], ["nodp", "eps8"]),
}
DP_CONFIG = '{"d_model": 48, "n_layers": 4}'
# Whole epoch plans (a DP job calibrates its noise to the plan, so a job cut by the time cap
# spends less than its target): the epochs the sessions of 2026-12-05 used per dataset.
EPOCHS = (
    "completejourney=25,simulate-10000=10,simulate-1000=60,simulate-50000=10,"
    "retail-2000=60,process-2000=90,omnichannel-2000=35"
)
COLUMNS = [
    ("eps spent", "epsilon_spent", ".2f"),
    ("epochs", "epochs", ".1f"),
    ("fit s", "fit_seconds", ".0f"),
    ("det. AUC", "detection_auc", ".3f"),
    ("real/real det.", "ref_detection_auc", ".3f"),
    ("len W1 ratio", "length_w1_ratio", ".2f"),
    ("gap W1 ratio", "gap_w1_ratio", ".2f"),
    ("TVD-2", "tvd_2gram", ".3f"),
    ("order viol.", "order_violations", ".3f"),
    ("one-event err", "one_event_share_error", ".2f"),
    ("midnight syn/real", "midnight_shares", "s"),
    ("TSTR churn", "churn.logreg.TSTR.auc_ratio", ".3f"),
    ("TSTR purchase", "purchase.logreg.TSTR.auc_ratio", ".3f"),
    ("churn rate err", "label_rate_error_churn", ".2f"),
    ("purchase rate err", "label_rate_error_purchase", ".2f"),
    ("MIA AUC", "mia_distance_auc", ".3f"),
    ("exact copies", "exact_copy_share", ".3f"),
]


def _epochs_for(plan: str, dsets: list[str]) -> str:
    """The part of a dataset=epochs plan that names these datasets (one number: as is)."""
    if "=" not in plan:
        return plan
    return ",".join(e for e in plan.split(",") if e.split("=")[0].strip() in dsets)


def run(parts: list[str], a: argparse.Namespace) -> None:
    for part in parts:
        dsets, suffixes = PARTS[part]
        jobs = ",".join(f"{a.model}-{s}" for s in suffixes)
        bench_peers.main(
            [
                "--datasets",
                ",".join(dsets),
                "--jobs",
                jobs,
                "--minutes",
                str(a.minutes),
                "--workers",
                str(a.workers),
                "--dp-config",
                DP_CONFIG,
                "--epochs",
                _epochs_for(a.epochs, dsets),
                "--results",
                str(a.results),
            ]
        )


def render(rows: list[dict]) -> str:
    out = [
        "Detection AUC: the reviewer-strength detector (journeys/detection.py), synthetic vs "
        "real holdout; real/real: train vs holdout. W1 ratios: 1.0 = as close as fresh "
        "real data. TSTR: TSTR AUC / TRTR AUC (logreg). Rate error: |synthetic label rate "
        "- real| / real. Computed on real data: not covered by the DP guarantee.",
        "",
    ]
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        out += [
            f"### {ds}",
            "",
            "| job | " + " | ".join(c for c, _, _ in COLUMNS) + " | giveaways |",
        ]
        out.append("|" + "---|" * (len(COLUMNS) + 2))
        mine = sorted((r for r in rows if r["dataset"] == ds), key=_eps_order)
        for r in mine:
            if "error" in r:
                out.append(f"| {r['job']} | FAILED: {r['error'].splitlines()[0][:80]} |")
                continue
            cells = [fmt(value(r, k), f) for _, k, f in COLUMNS]
            give = "; ".join(r.get("giveaways") or [])
            out.append(f"| {r['job']} | " + " | ".join(cells) + f" | {give} |")
        out.append("")
    return "\n".join(out)


def _eps_order(r: dict) -> float:
    eps = r.get("epsilon")
    return math.inf if eps is None else float(eps)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    metrics = [
        ("detection_auc", "detection AUC (0.5 ideal)"),
        ("length_w1_ratio", "length W1 ratio (1 = real)"),
        ("churn.logreg.TSTR.auc_ratio", "TSTR / TRTR churn"),
    ]
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == ds and "error" not in r]
        if len(mine) < 2:
            continue
        mine.sort(key=_eps_order)
        xs = [r["epsilon"] if r.get("epsilon") is not None else 32.0 for r in mine]
        for ax, (key, title) in zip(axes, metrics, strict=True):
            ax.plot(xs, [value(r, key) for r in mine], marker="o", label=ds)
            ax.set_title(title)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks([0.5, 1, 2, 4, 8, 32], ["0.5", "1", "2", "4", "8", "no DP"])
        ax.set_xlabel("epsilon")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--part", default="curve,scale,shapes", help=f"any of {sorted(PARTS)}")
    ap.add_argument("--minutes", type=float, default=45.0, help="training cap per job")
    ap.add_argument("--epochs", default=EPOCHS, help="dataset=epochs,... (the whole plan)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="vae", choices=("vae", "gan"))
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--render-only", action="store_true", help="only redraw md and png")
    a = ap.parse_args(argv)
    parts = [p.strip() for p in a.part.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        sys.exit(f"unknown --part {unknown}; choose from {sorted(PARTS)}")
    if not a.render_only:
        run(parts, a)
    rows = json.loads((a.results / "peers.json").read_text())
    (a.results / "fidelity.md").write_text(render(rows) + "\n")
    plot(rows, a.results / "fidelity.png")
    print(render(rows))


if __name__ == "__main__":
    main()
