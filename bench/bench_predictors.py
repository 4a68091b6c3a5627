"""Benchmark of the predictors (a script, not a test).

    .venv/bin/python bench/bench_predictors.py [--events 5000] [--models logreg gbm tree gru]
        [--synthetic NAME=PATH ...] [--json bench/results/predictors.json]

1. Complete Journey, customers split 50/50 by `split_by_customer(seed=0)`;
   labels at the dataset defaults (predictors/labels.py DEFAULTS). TRTR: each
   model trained on the real train split, tested on the real holdout: ROC AUC,
   PR AUC, top-decile lift per task. With `--synthetic`, TSTR (trained on the
   synthetic log) and augmented (real train + synthetic), with AUC / TRTR AUC.
2. Streaming latency: a bundle per model (all tasks) trained on the train split
   scores the first N holdout events in time order through `Scorer.update`
   (inside `with scorer:`); per-event wall time p50/p99/max, plus the JSON-lines
   path (`score_stream`: parse, update, format).

Writes Markdown to stdout and the figures to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from journeylab.journeys import datasets  # noqa: E402
from journeylab.journeys.eventlog import EventLog, split_by_customer  # noqa: E402
from journeylab.predictors.bundle import train_bundle  # noqa: E402
from journeylab.predictors.evaluate import utility_table  # noqa: E402
from journeylab.predictors.labels import label_spec  # noqa: E402
from journeylab.predictors.scoring import Scorer, score_stream  # noqa: E402


def events_in_time_order(log: EventLog, n: int) -> list[dict]:
    df = log.df.sort_values([log.time, log.key], kind="stable").head(n)
    rows = df.assign(**{log.time: df[log.time].dt.strftime("%Y-%m-%d %H:%M:%S")})
    return rows.to_dict("records")


def latency(scorer: Scorer, events: list[dict]) -> dict:
    """Wall time per event, and this thread's CPU time (which a busy, shared machine's
    preemptions do not inflate)."""
    wall, cpu = np.empty(len(events)), np.empty(len(events))
    with scorer:
        for i, ev in enumerate(events):
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            scorer.update(ev)
            wall[i], cpu[i] = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
    wall, cpu = wall / 1e6, cpu / 1e6
    return {
        "p50_ms": float(np.percentile(wall, 50)),
        "p99_ms": float(np.percentile(wall, 99)),
        "max_ms": float(wall.max()),
        "cpu_p50_ms": float(np.percentile(cpu, 50)),
        "cpu_p99_ms": float(np.percentile(cpu, 99)),
        "share_over_1ms": float(np.mean(wall > 1.0)),
        "events": len(events),
    }


def json_path_latency(scorer: Scorer, events: list[dict]) -> dict:
    lines = [json.dumps(e) for e in events]
    t0 = time.perf_counter()
    with scorer:
        n = sum(1 for _ in score_stream(scorer, lines))
    dt = time.perf_counter() - t0
    return {"mean_ms": dt / n * 1e3, "events_per_s": n / dt}


def load_synthetic(items: list[str], schema) -> dict[str, EventLog]:
    out = {}
    for item in items:
        name, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        out[name or Path(path).stem] = EventLog.read(path, schema)
    return out


def markdown(res: dict) -> str:
    lines = [
        f"### Predictors ({res['machine']})",
        "",
        f"Command: `{res['command']}`",
        "",
        f"Complete Journey, split 50/50 by customer (seed 0): train {res['train_customers']} "
        f"/ holdout {res['holdout_customers']} households; labels at cutoff "
        f"{res['label_spec']['cutoff']}, horizons {res['label_spec']['horizons_days']} "
        "days.",
        "",
        "| task | model | trained on | n train | ROC AUC | AUC / TRTR | PR AUC | top-decile lift |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["utility"]:
        name = r["train"] + (f": {r['synthetic']}" if r["synthetic"] else "")
        lines.append(
            f"| {r['task']} | {r['model']} | {name} | {r['n_train']} | {r['auc']:.3f} | "
            f"{r['auc_ratio']:.3f} | {r['pr_auc']:.3f} | {r['top_decile_lift']:.2f} |"
        )
    lines += [
        "",
        f"Streaming scoring, per event (`Scorer.update`, {res['n_events']} holdout "
        "events in time order, all tasks per event):",
        "",
        "| model | p50 ms | p99 ms | max ms | CPU p50 ms | CPU p99 ms | events > 1 ms "
        "| JSON lines: mean ms | events/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m, lat in res["latency"].items():
        j = res["json_path"][m]
        lines.append(
            f"| {m} | {lat['p50_ms']:.2f} | {lat['p99_ms']:.2f} | {lat['max_ms']:.1f} "
            f"| {lat['cpu_p50_ms']:.2f} | {lat['cpu_p99_ms']:.2f} "
            f"| {100 * lat['share_over_1ms']:.1f}% "
            f"| {j['mean_ms']:.2f} | {j['events_per_s']:.0f} |"
        )
    lines += ["", f"Load average when the latency was measured: {res['load_average']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["logreg", "gbm", "tree", "gru"])
    ap.add_argument(
        "--latency-models",
        nargs="+",
        default=None,
        help="models timed for streaming (default: --models)",
    )
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--synthetic", nargs="*", default=[], help="NAME=PATH of synthetic logs")
    ap.add_argument("--json", default="bench/results/predictors.json")
    args = ap.parse_args(argv)

    log, _ = datasets.load("completejourney")
    train, hold = split_by_customer(log, holdout=0.5, seed=0)
    spec = label_spec(log.schema)
    syn = load_synthetic(args.synthetic, log.schema)
    t0 = time.perf_counter()
    table = utility_table(
        train,
        hold,
        syn or None,
        models=args.models,
        progress=lambda m: print(f"  {m}", file=sys.stderr),
    )
    res = {
        "command": "python " + " ".join([sys.argv[0]] + (argv or sys.argv[1:])),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "train_customers": train.n_customers,
        "holdout_customers": hold.n_customers,
        "label_spec": spec.to_dict(),
        "utility_seconds": time.perf_counter() - t0,
        "utility": table.to_dict("records"),
        "latency": {},
        "json_path": {},
        "n_events": args.events,
    }
    events = events_in_time_order(hold, args.events)
    res["load_average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    for m in args.latency_models or args.models:
        print(f"  latency {m}", file=sys.stderr)
        bundle = train_bundle(train, model=m, spec=spec)
        res["latency"][m] = latency(Scorer(bundle), events)
        res["json_path"][m] = json_path_latency(Scorer(bundle), events)
    md = markdown(res)
    print(md)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2, default=float))
    return res


if __name__ == "__main__":
    main()
