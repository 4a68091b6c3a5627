"""Peer benchmark: JourneyLab's generators beside SDV PAR and MOSTLY AI's engine.

    .venv/bin/python -m bench.bench_peers                                  # everything
    .venv/bin/python -m bench.bench_peers --datasets completejourney \\
        --jobs vae-eps8,mostly-eps8 --minutes 8

`make bench-peers` runs everything, two jobs at a time (`--workers 2`, one CPU
thread each), with the default budgets (`--minutes`): 8 minutes per job on
Complete Journey, 2 on simulate-small, 4 on simulate-large.

Datasets: completejourney, simulate-small (1,000 simulated customers),
simulate-large (5,000), or simulate-<N>. Each is split 50/50 by customer
(seed 0); every job trains on the train half and samples as many journeys as
the holdout has. Jobs: vae-*, gan-* (nodp, eps8, eps1, or any eps<E>), par
(SDV PAR, `--par-epochs`), mostly-* (MOSTLY AI's TabularARGN, run by
bench/peers/mostly_runner.py in .venv-mostly: `make peers` first).

Same wall-clock training budget for every job of a dataset (`--minutes`, either one
number for all datasets or `dataset=minutes,...`): MOSTLY gets it as
`max_training_time`; gan and vae train their configured epochs (`--epochs`,
default theirs) under a Lightning Timer cap of the same length, which stops
training early and never overspends (DP noise is calibrated to the planned
steps; a capped run spends less epsilon, as reported). PAR runs
`--par-epochs` epochs; its measured fit time is reported.

MOSTLY's DP budget is split between its sequence and context models and its
value protection (bench/peers/mostly_runner.py says how); its events outside
the schema's time range are dropped (`--time-policy clip` moves them to the
nearest end instead), and every such repair is counted in the results.

Each job runs in its own child process, pinned to one CPU thread
(OMP_NUM_THREADS=1 and torch's intra-op threads), so `--workers 2` on two cores
gives every job, ours and the peers', one core; jobs start in the order given,
longest budgets first when several datasets run. Each job reports: fit time, training
throughput (customers processed per second of training; under DP the DP
training throughput), sampling throughput, peak memory, epsilon spent, every
fidelity figure (journeys.fidelity.fidelity_report), TSTR/TRTR utility for
churn and purchase (logreg), and the privacy audits (privacy.audits). Rows
merge by (dataset, job) into bench/results/peers.json and peers.md, so jobs
may be run in separate invocations; synthetic logs go to bench/results/peers/.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import timedelta
from pathlib import Path

from bench.common import fit_and_sample, parse_config, parse_job, run_child
from bench.peers.mostly import run_mostly
from bench.peers.report import DATASETS, JOBS, merge_rows, render
from journeylab.journeys.errors import ConfigError

RESULTS = Path("bench/results")
MODELS = ("vae", "gan", "par", "mostly")
SIM_SIZES = {"simulate-small": 1000, "simulate-large": 5000}
DATA_SEED = 0  # the simulator's seed: the dataset itself, whatever --seed says
DEFAULT_MINUTES = "completejourney=8,simulate-small=2,simulate-large=4"


# --- names --------------------------------------------------------------------------
def parse_dataset(name: str) -> tuple[str, int | None]:
    """'completejourney' -> (name, None); 'simulate-small' -> ('simulate', 1000);
    'simulate-5000' -> ('simulate', 5000); 'retail-2000' -> ('retail', 2000): a simulator
    preset (journeys/presets.py) at a number of customers."""
    from journeylab.journeys.presets import PRESETS

    if name == "completejourney":
        return name, None
    if name in SIM_SIZES:
        return "simulate", SIM_SIZES[name]
    base, _, size = name.rpartition("-")
    if (base == "simulate" or base in PRESETS) and size.isdigit() and int(size) >= 20:
        return base, int(size)
    raise ConfigError(
        f"unknown dataset '{name}'; choose from {DATASETS}, simulate-<N>, or "
        f"<preset>-<N> with a preset of {sorted(PRESETS)} and N >= 20 customers"
    )


def parse_list(text: str, *, check) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ConfigError(f"empty list '{text}'; give comma-separated names")
    for x in items:
        check(x)
    return items


def parse_per_dataset(text: str, dsets: list[str], *, option: str, integer: bool = False):
    """'8' -> every dataset 8; 'completejourney=8,simulate-small=2' -> per dataset.

    A dataset left out of a per-dataset list is refused, as is a value <= 0."""
    unit = "whole number" if integer else "number"

    def number(v: str, what: str) -> float | int:
        try:
            x = int(v) if integer else float(v)
        except ValueError:
            x = float("nan")
        if not x > 0:
            raise ConfigError(f"{option}: {what} '{v}' is not a positive {unit}")
        return x

    if "=" not in text:
        m = number(text.strip(), "value")
        return {d: m for d in dsets}
    out = {}
    for item in parse_list(text, check=lambda x: None):
        name, _, v = item.partition("=")
        out[name.strip()] = number(v.strip(), f"value of {name.strip()}")
    missing = [d for d in dsets if d not in out]
    if missing:
        raise ConfigError(
            f"{option} gives no value for {missing}; add e.g. {missing[0]}=2 or give one "
            "number for every dataset"
        )
    return {d: out[d] for d in dsets}


def parse_minutes(text: str | None, dsets: list[str]) -> dict[str, float]:
    """None (not given): DEFAULT_MINUTES, and 8 for a dataset it does not name."""
    if text is None:
        default = parse_per_dataset(DEFAULT_MINUTES, DATASETS, option="--minutes")
        return {d: default.get(d, 8.0) for d in dsets}
    return parse_per_dataset(text, dsets, option="--minutes")


def parse_epochs(text: str | None, dsets: list[str]) -> dict[str, int | None]:
    if text is None:
        return {d: None for d in dsets}
    return parse_per_dataset(text, dsets, option="--epochs", integer=True)


def check_job(job: str) -> None:
    model, _ = parse_job(job)
    if model not in MODELS:
        raise ConfigError(f"job '{job}': unknown model '{model}'; jobs look like {JOBS}")


# --- one job (child process) --------------------------------------------------------
def load_split(dataset: str, seed: int):
    from journeylab.journeys import datasets, split_by_customer

    base, n = parse_dataset(dataset)
    if base in ("completejourney", "simulate"):
        log, _ = datasets.load(base, n_customers=n or 1000, seed=DATA_SEED)
    else:
        log, _ = datasets.load("simulate", preset=base, n_customers=n, seed=DATA_SEED)
    return split_by_customer(log, holdout=0.5, seed=seed)


def run_ours(
    job: str,
    train,
    n: int,
    *,
    minutes: float,
    epochs: int | None,
    par_epochs: int,
    seed: int,
    dp_config: dict | None = None,
) -> tuple:
    import pytorch_lightning as pl

    model, eps = parse_job(job)
    if model == "par":
        cfg, kw, timer = {"epochs": par_epochs, "seed": seed}, {}, None
    else:
        cfg = {"seed": seed} | ({"epochs": epochs} if epochs else {})
        if eps is not None:
            cfg |= dp_config or {}
        timer = pl.callbacks.Timer(duration=timedelta(minutes=minutes), interval="step")
        kw = {"callbacks": [timer]}
    gen, synth, m = fit_and_sample(model, eps, train, n, cfg=cfg, seed=seed, fit_kwargs=kw)
    m.update(training_figures(gen, train.n_customers, dp=eps is not None, fit_s=m["fit_seconds"]))
    rec = gen.release if (gen.release or {}).get("dp") else {}  # the whole release
    m.update(
        epsilon_spent=rec.get("epsilon"),
        epsilon_profile=(rec.get("profile") or {}).get("epsilon"),
        delta=rec.get("delta"),
        time_capped=bool(timer is not None and timer.time_remaining("train") <= 0),
        settings=f"config {cfg}",
    )
    return synth, m


def training_figures(gen, n_train: int, *, dp: bool, fit_s: float) -> dict:
    """Customers processed in training and per second of the training loop."""
    hist = [h for h in (getattr(gen, "history", None) or []) if "steps" in h]
    if not hist:  # PAR: full-batch epochs, no history
        epochs = float(gen.config.epochs)
        train_s = fit_s
    else:
        bs = gen.config.batch_size
        per_epoch = max(1, round(n_train / bs)) if dp else -(-n_train // bs)
        epochs = hist[-1]["steps"] / per_epoch
        train_s = sum(h.get("epoch_seconds", 0.0) for h in hist) or fit_s
    customers = epochs * n_train
    return {
        "epochs": epochs,
        "train_seconds": train_s,
        "train_customers": customers,
        "train_customers_per_second": customers / max(train_s, 1e-9),
    }


def evaluate(train, holdout, synth, *, seed: int) -> dict:
    """The evaluation report's figures, under its metric names (journeylab.evaluation):
    fidelity, TSTR/TRTR (churn, purchase; logreg) and the privacy audits.

    A part that cannot be computed on this synthetic log (e.g. too few journeys
    survived validation) is left out and its reason kept as `<part>_error`.
    """
    from journeylab.journeys.detection import giveaways
    from journeylab.journeys.errors import UserError
    from journeylab.journeys.fidelity import fidelity_report
    from journeylab.privacy.audits import run_audits

    out = {}
    parts = {
        "fidelity": lambda: fidelity_report(train, holdout, synth, seed=seed),
        "utility": lambda: _utility(train, holdout, synth),
        "shape": lambda: shape_figures(holdout, synth),
        "audits": lambda: run_audits(train, holdout, synth, seed=seed).metrics,
        "giveaways": lambda: {
            "giveaways": [
                f"{g['feature']} {g['auc']:.2f}" for g in giveaways(holdout, synth, seed=seed)[:3]
            ]
        },
    }
    for name, part in parts.items():
        try:
            out.update(part())
        except UserError as e:
            out[f"{name}_error"] = " ".join(str(e).split())
    return out


def shape_figures(holdout, synth) -> dict:
    """Two of issue 13's targets, synthetic against the real holdout: the share of
    one-event journeys (and its relative error) and the share of events at midnight
    (a date-only log must give 1.0), as "synthetic/real"."""
    out = {}
    for name, log in (("real", holdout), ("syn", synth)):
        out[f"one_event_share_{name}"] = float((log.lengths() == 1).mean())
        t = log.df[log.time]
        out[f"midnight_share_{name}"] = float((t == t.dt.normalize()).mean())
    real = out["one_event_share_real"]
    if real > 0:
        out["one_event_share_error"] = abs(out["one_event_share_syn"] - real) / real
    out["midnight_shares"] = f"{out['midnight_share_syn']:.2f}/{out['midnight_share_real']:.2f}"
    return out


def _utility(train, holdout, synth) -> dict:
    from journeylab.evaluation.parts import utility_section
    from journeylab.evaluation.report import utility_metrics

    rows = utility_section(train, holdout, synth, tasks=("churn", "purchase"), models=("logreg",))[
        "rows"
    ]
    notes = {f"tstr_note_{r['task']}": r["note"] for r in rows if r["note"]}
    rates = {}
    for r in rows:  # label rates of the training sets: TRTR real train, TSTR synthetic
        if r["n_train"]:
            rates[f"label_rate_{r['task']}_{r['train']}"] = r["positives_train"] / r["n_train"]
    for task in ("churn", "purchase"):
        real, syn = rates.get(f"label_rate_{task}_TRTR"), rates.get(f"label_rate_{task}_TSTR")
        if real and syn is not None:
            rates[f"label_rate_error_{task}"] = abs(syn - real) / real
    return {**utility_metrics(rows), **notes, **rates}


def run_job(
    dataset: str,
    job: str,
    *,
    minutes: float,
    epochs: int | None,
    par_epochs: int,
    seed: int,
    context_mode: str,
    dp_config: dict | None = None,
    time_policy: str = "drop",
    results: Path = RESULTS,
) -> dict:
    train, holdout = load_split(dataset, seed)
    n = holdout.n_customers
    model, eps = parse_job(job)
    if model == "mostly":
        synth, m = run_mostly(
            job,
            train,
            n,
            minutes=minutes,
            seed=seed,
            context_mode=context_mode,
            time_policy=time_policy,
        )
    else:
        synth, m = run_ours(
            job,
            train,
            n,
            minutes=minutes,
            epochs=epochs,
            par_epochs=par_epochs,
            seed=seed,
            dp_config=dp_config,
        )
    synth.write(results / "peers" / f"synthetic-{dataset}-{job}.parquet")
    row = {
        "dataset": dataset,
        "job": job,
        "model": model,
        "epsilon": eps,
        "minutes": minutes,
        "seed": seed,
        "n_train": train.n_customers,
        "n_holdout": n,
        "n_synthetic": synth.n_customers,
        "mean_length": float(synth.lengths().mean()),
    }
    row.update(m)
    row.update(evaluate(train, holdout, synth, seed=seed))
    return row


# --- the benchmark (parent) ---------------------------------------------------------
def child_cmd(
    dataset: str, job: str, a: argparse.Namespace, minutes: float, epochs: int | None
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "bench.bench_peers",
        "--child",
        f"{dataset}/{job}",
        "--minutes",
        str(minutes),
        "--par-epochs",
        str(a.par_epochs),
        "--seed",
        str(a.seed),
        "--context",
        a.context,
        "--results",
        str(a.results),
        "--time-policy",
        a.time_policy,
        "--dp-config",
        a.dp_config,
    ]
    return cmd + (["--epochs", str(epochs)] if epochs else [])


def record(rows: list[dict], row: dict, out: Path) -> list[dict]:
    """Merge one row and rewrite the JSON and Markdown; a failure never hides a success."""
    old = {(r["dataset"], r["job"]): r for r in rows}.get((row["dataset"], row["job"]))
    if "error" in row and old is not None and "error" not in old:
        return rows
    rows = merge_rows(rows, [row])
    out.mkdir(parents=True, exist_ok=True)
    (out / "peers.json").write_text(json.dumps(rows, indent=1, default=float))
    (out / "peers.md").write_text(render(rows) + "\n")
    return rows


def args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--jobs", default=",".join(JOBS))
    ap.add_argument(
        "--minutes",
        default=None,
        help="training budget per job: one number, or dataset=minutes,... "
        f"(default {DEFAULT_MINUTES}, 8 for other datasets)",
    )
    ap.add_argument("--workers", type=int, default=1, help="jobs run at once, one CPU thread each")
    ap.add_argument(
        "--epochs",
        default=None,
        help="gan/vae epochs: one number or dataset=epochs,... (default theirs)",
    )
    ap.add_argument(
        "--dp-config",
        default="{}",
        help="JSON config settings for the gan/vae DP jobs, e.g. a smaller network",
    )
    ap.add_argument("--par-epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--context",
        choices=("model", "bootstrap"),
        default="model",
        help="MOSTLY's new context: a flat model of the context table, or "
        "train rows resampled (not private)",
    )
    ap.add_argument(
        "--time-policy",
        choices=("drop", "clip"),
        default="drop",
        help="MOSTLY's events outside the time range: dropped or clipped",
    )
    ap.add_argument(
        "--results", type=Path, default=RESULTS, help="where peers.json, peers.md and peers/ go"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    a = args(argv)
    if a.child:
        dataset, _, job = a.child.partition("/")
        row = run_job(
            dataset,
            job,
            minutes=float(a.minutes),
            epochs=int(a.epochs) if a.epochs else None,
            par_epochs=a.par_epochs,
            seed=a.seed,
            context_mode=a.context,
            time_policy=a.time_policy,
            results=a.results,
            dp_config=parse_config(a.dp_config, "--dp-config"),
        )
        print("RESULT " + json.dumps(row, default=float))
        return
    dsets = parse_list(a.datasets, check=parse_dataset)
    jobs = parse_list(a.jobs, check=check_job)
    budget = parse_minutes(a.minutes, dsets)
    epochs = parse_epochs(a.epochs, dsets)
    dp_models = [m for m, eps in map(parse_job, jobs) if eps and m in ("gan", "vae")]
    parse_config(a.dp_config, "--dp-config", dp_models)
    if a.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {a.workers}")
    path = a.results / "peers.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    # longest budgets first, so that the short jobs fill the gaps at the end
    todo = sorted(((ds, job) for ds in dsets for job in jobs), key=lambda dj: -budget[dj[0]])
    command = "python -m bench.bench_peers " + " ".join(sys.argv[1:] if argv is None else argv)

    def one(ds_job: tuple[str, str]) -> dict:
        ds, job = ds_job
        print(f"[bench] {ds} {job} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        row, err = run_child(child_cmd(ds, job, a, budget[ds], epochs[ds]), env=child_env())
        if row is None:
            print(f"[bench] {ds} {job} FAILED: {err}", file=sys.stderr)
            row = {"dataset": ds, "job": job, "epsilon": parse_job(job)[1], "error": err}
        row.update(
            measured_at=time.strftime("%Y-%m-%d %H:%M:%S"),
            job_seconds=time.perf_counter() - t0,
            workers=a.workers,
            command=command,
        )
        print(f"[bench] {ds} {job} done in {row['job_seconds']:.0f} s", file=sys.stderr)
        return row

    t_all = time.perf_counter()
    with ThreadPoolExecutor(max_workers=a.workers) as pool:
        futures = [pool.submit(one, dj) for dj in todo]
        for f in as_completed(futures):  # rows are recorded by this thread only, as they come
            rows = record(rows, f.result(), a.results)
    print(
        f"[bench] {len(todo)} jobs in {(time.perf_counter() - t_all) / 60:.1f} min", file=sys.stderr
    )
    if rows:
        print(render(rows))


def child_env() -> dict[str, str]:
    """The environment of a job: one CPU thread for every numeric library."""
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return {**os.environ, **threads}


if __name__ == "__main__":
    main()
