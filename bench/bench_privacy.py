"""Privacy benchmark: empirical audits of the generators on Complete Journey.

Two parts, on the Complete Journey train/holdout split (seed 0):

- audits: for each synthetic log written by `bench.bench_generators`
  (bench/results/synthetic-<job>.parquet), the membership-inference AUCs
  (distance, density ratio), DCR share and exact-copy share of
  `privacy.audits.run_audits`; plus a "copier" (synthetic = train, the worst
  case) and "fresh real" (synthetic = half of the holdout, the best case)
  rows that show the audits can fail and can pass.
- canary: `privacy.audit_canary.canary_audit` on DP generators and on the
  copier: canaries are planted in the training data, the generator is trained
  with the same configuration as in the generator benchmark, and an empirical
  lower bound on epsilon is set against the claimed epsilon.

    .venv/bin/python -m bench.bench_privacy                       # audits of every log found
    .venv/bin/python -m bench.bench_privacy --canary vae-eps1,copier

Every canary job runs in its own child process; results are merged into
bench/results/privacy.json and bench/results/privacy.md. These figures are
computed on real data and are not covered by the DP guarantee.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path("bench/results")
JSON = RESULTS / "privacy.json"


def load_split(seed: int):
    from journeylab.journeys import datasets, split_by_customer

    log, _ = datasets.load("completejourney")
    return split_by_customer(log, holdout=0.5, seed=seed)


def audit_rows(seed: int) -> list[dict]:
    """Audits of every synthetic log of the generator benchmark, plus the two references."""
    from journeylab.journeys import EventLog
    from journeylab.privacy.audits import run_audits

    train, holdout = load_split(seed)
    half = holdout.customers[: holdout.n_customers // 2]
    targets = {
        "copier (synthetic = train)": (train, holdout, train),
        "fresh real (synthetic = holdout half)": (
            train,
            holdout.subset(half),
            holdout.subset(holdout.customers[len(half) :]),
        ),
    }
    for path in sorted(RESULTS.glob("synthetic-*.parquet")):
        job = path.stem.removeprefix("synthetic-")
        targets[job] = (train, holdout, EventLog.read(path, train.schema))
    rows = []
    for name, (tr, ho, syn) in targets.items():
        t0 = time.perf_counter()
        rep = run_audits(tr, ho, syn, seed=seed)
        rows.append(
            {"job": name, "seconds": time.perf_counter() - t0, **rep.metrics, "sizes": rep.sizes}
        )
        print(f"  audited {name}", file=sys.stderr)
    return rows


def canary_job(job: str, *, seed: int, n_canaries: int) -> dict:
    """Child process: canary audit of one generator job (or the copier)."""
    from bench.bench_generators import parse_job
    from journeylab.generators import create
    from journeylab.privacy import PrivacyBudget
    from journeylab.privacy.audit_canary import CanaryConfig, canary_audit

    train, _ = load_split(seed)
    cfg = CanaryConfig(n_canaries=n_canaries)
    if job == "copier":
        res = canary_audit(train, lambda log: log, claimed_epsilon=None, seed=seed, config=cfg)
        return {"job": job, **res}
    model, eps = parse_job(job)
    if eps is None:
        raise SystemExit(f"canary jobs are DP jobs (e.g. vae-eps1) or 'copier', got {job!r}")
    budget = PrivacyBudget(epsilon=eps)
    fitted = {}

    def fit(log):
        gen = create(model, {"seed": seed})
        gen.fit(log, privacy=budget)
        fitted["record"] = gen.release if (gen.release or {}).get("dp") else None
        return gen

    t0 = time.perf_counter()
    res = canary_audit(train, fit, claimed_epsilon=eps, seed=seed, config=cfg)
    rec = fitted["record"] or {}
    res["delta"] = rec.get("delta", res["delta"])
    return {
        "job": job,
        "seconds": time.perf_counter() - t0,
        "epsilon_spent": rec.get("epsilon"),
        **res,
    }


def _fmt(v, f: str) -> str:
    return "-" if v is None else format(v, f)


def markdown(res: dict) -> str:
    lines = [
        "Audits (computed on real data; not covered by the DP guarantee):",
        "",
        "| synthetic log | MIA AUC (distance) | MIA AUC (density ratio) | DCR share | "
        "exact copies | exact copies, holdout (chance) |",
        "|---|---|---|---|---|---|",
    ]
    for r in res.get("audits", []):
        lines.append(
            f"| {r['job']} | {_fmt(r.get('mia_distance_auc'), '.3f')} | "
            f"{_fmt(r.get('mia_density_ratio_auc'), '.3f')} | {_fmt(r.get('dcr_share'), '.3f')} "
            f"| {_fmt(r.get('exact_copy_share'), '.3f')} | "
            f"{_fmt(r.get('exact_copy_share_holdout'), '.3f')} |"
        )
    canary = res.get("canary", {})
    if canary:
        lines += [
            "",
            "Canary audits (empirical lower bounds on epsilon, 95% confidence):",
            "",
            "| job | claimed eps | spent eps | lower bound (threshold) | "
            "lower bound (one run) | canaries (planted) | fit + audit s |",
            "|---|---|---|---|---|---|---|",
        ]
        for job in sorted(canary):
            r = canary[job]
            lines.append(
                f"| {job} | {_fmt(r.get('claimed_epsilon'), '.2f')} | "
                f"{_fmt(r.get('epsilon_spent'), '.2f')} | "
                f"{_fmt(r.get('epsilon_lower_bound'), '.2f')} | "
                f"{_fmt(r.get('epsilon_lower_bound_one_run'), '.2f')} | "
                f"{r['n_canaries']} ({r['n_planted']}) | {_fmt(r.get('seconds'), '.0f')} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-audits", action="store_true", help="skip the audits part")
    ap.add_argument("--canary", default="", help="comma-separated jobs, e.g. vae-eps1,copier")
    ap.add_argument("--canaries", type=int, default=200, help="canaries drawn per job")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--job", help=argparse.SUPPRESS)  # child mode
    args = ap.parse_args(argv)
    if args.job:
        res = canary_job(args.job, seed=args.seed, n_canaries=args.canaries)
        print(json.dumps(res, default=float))
        return
    res = json.loads(JSON.read_text()) if JSON.exists() else {}
    if not args.no_audits:
        res["audits"] = audit_rows(args.seed)
    res.setdefault("canary", {})
    for job in filter(None, args.canary.split(",")):
        print(f"  canary {job}", file=sys.stderr)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.bench_privacy",
                "--job",
                job,
                "--seed",
                str(args.seed),
                "--canaries",
                str(args.canaries),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        res["canary"][job] = json.loads(out.stdout.strip().splitlines()[-1])
    res["command"] = "python -m bench.bench_privacy " + " ".join(argv or sys.argv[1:])
    RESULTS.mkdir(parents=True, exist_ok=True)
    JSON.write_text(json.dumps(res, indent=2, default=float))
    md = markdown(res)
    (RESULTS / "privacy.md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
