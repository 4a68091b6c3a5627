"""Generator benchmark: gan and vae at epsilon 1, 8 and no DP, against SDV PAR.

Every job runs in its own child process of this one (side by side on the same
machine, one after another), on the Complete Journey train/holdout split
(seed 0): fit time, epoch time, sampling throughput, peak memory (the child's
max RSS) and the fidelity metrics of journeys.fidelity against the holdout.

    .venv/bin/python -m bench.bench_generators                   # all jobs
    .venv/bin/python -m bench.bench_generators --jobs vae-nodp,par --par-epochs 4
    .venv/bin/python -m bench.bench_generators --jobs vae-eps8 --epochs 60 \\
        --dp-config '{"d_model": 48, "n_layers": 4}'

`--dp-config` (JSON) sets config values of the DP jobs only (e.g. a smaller network:
DP noise grows with the number of parameters); each row keeps its full config.

PAR at its default 128 epochs does not finish within hours here (peers.md);
`--par-epochs` sets what is run, and the table reports both the measured fit
time and the 128-epoch time extrapolated from the measured epoch time,
labelled as such.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench.common import fit_and_sample, parse_config, parse_job, run_child
from journeylab.journeys.files import atomic_write

RESULTS = Path("bench/results")
ALL_JOBS = ["vae-nodp", "vae-eps8", "vae-eps1", "gan-nodp", "gan-eps8", "gan-eps1", "par"]


def run_job(
    job: str, *, epochs: int | None, par_epochs: int, seed: int, dp_config: dict | None = None
) -> dict:
    """Child process: fit, sample, measure. Returns a JSON-able dict."""
    from journeylab.journeys import datasets, fidelity, split_by_customer

    model, eps = parse_job(job)
    log, _ = datasets.load("completejourney")
    train, holdout = split_by_customer(log, holdout=0.5, seed=seed)
    cfg = {"epochs": par_epochs} if model == "par" else ({"epochs": epochs} if epochs else {})
    cfg["seed"] = seed
    if eps is not None and model != "par":
        cfg |= dp_config or {}
    n = holdout.n_customers
    gen, synth, m = fit_and_sample(model, eps, train, n, cfg=cfg, seed=seed)
    fit_s, sample_s = m["fit_seconds"], m["sample_seconds"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    synth.write(RESULTS / f"synthetic-{job}.parquet")
    hist = getattr(gen, "history", []) or []
    epoch_s = [h["epoch_seconds"] for h in hist if "epoch_seconds" in h]
    n_epochs = cfg.get("epochs") or len(hist) or 1
    rec = gen.release if (gen.release or {}).get("dp") else {}  # the whole release
    return {
        "job": job,
        "model": model,
        "epsilon": eps,
        "epochs": n_epochs,
        "config": gen.config.to_dict(),
        "fit_seconds": fit_s,
        "epoch_seconds": (sum(epoch_s) / len(epoch_s)) if epoch_s else fit_s / n_epochs,
        "sample_seconds": sample_s,
        "sampled": n,
        "journeys_per_second": n / sample_s,
        "peak_rss_mb": m["peak_rss_mb"],
        "epsilon_spent": rec.get("epsilon"),
        "delta": rec.get("delta"),
        "mean_length": float(synth.lengths().mean()),
        **fidelity.fidelity_report(train, holdout, synth, seed=seed),
    }


def table(rows: list[dict]) -> str:
    by = {r["job"]: r for r in rows}
    par = by.get("par")
    head = (
        "| job | epochs | fit s | epoch s | DP/non-DP epoch | journeys/s | x PAR throughput | "
        "events/s | x PAR events/s | peak MB | eps spent | mean len | det. AUC | TVD-2 | "
        "len W1 ratio | gap W1 ratio |"
    )
    lines = [head, "|" + "---|" * 16]
    for r in rows:
        base = by.get(f"{r['model']}-nodp")
        dp_ratio = (
            r["epoch_seconds"] / base["epoch_seconds"]
            if base and r["epsilon"] is not None and _same_net(r, base)
            else None
        )
        xpar = r["journeys_per_second"] / par["journeys_per_second"] if par else None
        ev = r["journeys_per_second"] * r["mean_length"]  # events sampled per second
        xpar_ev = ev / (par["journeys_per_second"] * par["mean_length"]) if par else None
        lines.append(
            "| "
            + " | ".join(
                [
                    r["job"],
                    str(r["epochs"]),
                    f"{r['fit_seconds']:.0f}",
                    f"{r['epoch_seconds']:.1f}",
                    _f(dp_ratio, ".2f"),
                    f"{r['journeys_per_second']:.1f}",
                    _f(xpar, ".0f"),
                    f"{ev:.0f}",
                    _f(xpar_ev, ".0f"),
                    f"{r['peak_rss_mb']:.0f}",
                    _f(r["epsilon_spent"], ".2f"),
                    f"{r['mean_length']:.1f}",
                    f"{r['detection_auc']:.3f}",
                    f"{r['tvd_2gram']:.3f}",
                    f"{r['length_w1_ratio']:.2f}",
                    f"{r['gap_w1_ratio']:.2f}",
                ]
            )
            + " |"
        )
    lines.append(
        "\nDP/non-DP epoch: only where both rows trained the same network (`-` otherwise); "
        "`python -m bench.bench_dp_overhead` measures it interleaved."
    )
    if par:
        lines.append(
            f"PAR ran {par['epochs']} epochs ({par['epoch_seconds']:.0f} s each); its "
            f"default 128 epochs extrapolate to {128 * par['epoch_seconds'] / 60:.0f} min "
            "of fitting (extrapolated, not measured)."
        )
    ref = rows[0]
    lines.append(
        f"Reference, real train vs holdout: detection AUC {ref['ref_detection_auc']:.3f}, "
        f"TVD-2 {ref['ref_tvd_2gram']:.3f}."
    )
    return "\n".join(lines)


def _same_net(a: dict, b: dict) -> bool:
    """Both rows trained the same network (config other than epochs and seed equal); rows
    from before configs were recorded count as the default network."""
    skip = ("epochs", "seed", "patience")
    ca = {k: v for k, v in a.get("config", {}).items() if k not in skip}
    cb = {k: v for k, v in b.get("config", {}).items() if k not in skip}
    return not ca or not cb or ca == cb


def merged_rows(new: dict | None = None) -> list[dict]:
    """All results so far, `new` replacing its job's row. Each job's row is also kept in
    its own file (bench/results/generators/<job>.json), so invocations running side by
    side never lose each other's rows: the summary is rebuilt from those files."""
    per_job = RESULTS / "generators"
    per_job.mkdir(parents=True, exist_ok=True)
    summary = RESULTS / "generators.json"
    rows = {r["job"]: r for r in (json.loads(summary.read_text()) if summary.exists() else [])}
    for f in sorted(per_job.glob("*.json")):
        r = json.loads(f.read_text())
        old = rows.get(r["job"], {})
        if r.get("measured_at", "") >= old.get("measured_at", ""):
            rows[r["job"]] = r
    if new is not None:
        _write_json(per_job / f"{new['job']}.json", new)
        rows[new["job"]] = new
    out = sorted(
        rows.values(), key=lambda r: ALL_JOBS.index(r["job"]) if r["job"] in ALL_JOBS else 99
    )
    _write_json(summary, out)
    return out


def _write_json(path: Path, obj) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=1)))


def _f(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--jobs", default=",".join(ALL_JOBS))
    ap.add_argument("--epochs", type=int, default=None, help="epochs for gan/vae (default: theirs)")
    ap.add_argument("--par-epochs", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dp-config", default="{}", help="JSON config values for the DP jobs")
    ap.add_argument("--job", help=argparse.SUPPRESS)  # child mode
    a = ap.parse_args()
    dp_models = [m for m, eps in map(parse_job, (a.job or a.jobs).split(",")) if eps and m != "par"]
    dp_config = parse_config(a.dp_config, "--dp-config", dp_models)
    if a.job:
        row = run_job(
            a.job, epochs=a.epochs, par_epochs=a.par_epochs, seed=a.seed, dp_config=dp_config
        )
        print("RESULT " + json.dumps(row))
        return
    rows = merged_rows()
    for job in a.jobs.split(","):
        cmd = [
            sys.executable,
            "-m",
            "bench.bench_generators",
            "--job",
            job,
            "--par-epochs",
            str(a.par_epochs),
            "--seed",
            str(a.seed),
            "--dp-config",
            a.dp_config,
        ]
        if a.epochs:
            cmd += ["--epochs", str(a.epochs)]
        print(f"[bench] {job} ...", file=sys.stderr, flush=True)
        row, err = run_child(cmd)
        if row is None:
            print(f"[bench] {job} FAILED: {err}", file=sys.stderr)
            continue
        row["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
        row["load_average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        rows = merged_rows(row)
    if rows:
        md = table(rows)
        (RESULTS / "generators.md").write_text(md + "\n")
        print(md)


if __name__ == "__main__":
    main()
