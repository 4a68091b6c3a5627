"""What-if scenarios on the simulator: the true effect, and what common random numbers save.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_scenarios [--customers 300] [--reps 20] \\
        [--seed 0] [--scenarios promo-premium,campaign-earlier,no-email]
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_scenarios --model [--train-customers 600] \\
        [--epochs 20] [--latent posterior] [--customers 300] [--reps 5] [--epsilons none,8] \\
        [--dp-config '{"d_model": 48, "n_layers": 4}']

Each scenario (SCENARIOS) is run `--reps` times, seeds seed..seed+reps-1, twice:
with paired arms (common random numbers: same customers, same per-customer
draws; journeys/interventions.py) and with independent arms (the intervened arm
has its own customers and draws, as two separate simulations would). Per outcome:

- true effect: the mean of the paired estimates over all reps (reps x customers
  paired customers) with its 95% interval;
- sd of the estimate across reps, paired and independent, and their variance
  ratio (independent / paired: how many times more customers independent arms
  would need for the same precision);
- the mean 95% CI half-width one run reports, paired and independent, and how
  often the paired interval covers the true effect.

Results go to bench/results/scenarios.json and scenarios.md, with the command.

`--model` runs the model part instead (bench/scenarios_model.py): a VAE trained
without DP and one at each DP epsilon of `--epsilons` answer the scenarios, side
by side, compared with the simulator's true effect on the same customers; results
to scenarios_model.json and scenarios_model.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import parse_config
from bench.scenarios_model import outcome_table, render_model, run_model_part
from journeylab.journeys.effects import OUTCOMES, effects
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write_text
from journeylab.journeys.interventions import simulate_counterfactual

RESULTS = Path("bench/results")
Z95 = 1.959964
# name -> (interventions, since_day, within_days) of the purchase-within outcome
SCENARIOS = {
    "promo-premium": ([{"kind": "promotion", "day": 60, "segment": "premium"}], 60, 30),
    "campaign-earlier": ([{"kind": "shift_campaign", "campaign": 2, "days": -14}], 56, 14),
    "no-email": ([{"kind": "remove_channel", "channel": "email"}], 0, 180),
}


def estimates(name: str, a: argparse.Namespace) -> dict[bool, list]:
    """paired -> one effects() table per rep."""
    ivs, since, within = SCENARIOS[name]
    out: dict[bool, list] = {True: [], False: []}
    for rep in range(a.reps):
        for paired in out:
            cf = simulate_counterfactual(
                a.customers, seed=a.seed + rep, interventions=ivs, paired=paired
            )
            out[paired].append(effects(cf, since_day=since, within_days=within))
    return out


def summarise(runs: dict[bool, list]) -> dict[str, dict]:
    """Per outcome: true effect, spread across reps, CI widths, variance ratio, coverage."""
    rows = {}
    for k in OUTCOMES:
        est = {p: np.array([t.loc[k, "effect"] for t in runs[p]]) for p in runs}
        half = {p: np.mean([Z95 * t.loc[k, "se"] for t in runs[p]]) for p in runs}
        true, sd_true = est[True].mean(), est[True].std(ddof=1) / np.sqrt(len(est[True]))
        lo = np.array([t.loc[k, "ci_low"] for t in runs[True]])
        hi = np.array([t.loc[k, "ci_high"] for t in runs[True]])
        var = {p: est[p].var(ddof=1) for p in est}
        rows[k] = {
            "true_effect": true,
            "true_ci_half": Z95 * sd_true,
            "baseline_mean": float(np.mean([t.loc[k, "baseline"] for t in runs[True]])),
            "sd_paired": float(np.sqrt(var[True])),
            "sd_independent": float(np.sqrt(var[False])),
            "variance_ratio": float(var[False] / var[True]) if var[True] > 0 else float("inf"),
            "ci_half_paired": float(half[True]),
            "ci_half_independent": float(half[False]),
            "paired_coverage": float(np.mean((lo <= true) & (true <= hi))),
        }
    return rows


def render(results: dict, command: str) -> str:
    cols = [
        ("baseline", "baseline_mean", ".3g"),
        ("true effect", "true_effect", ".3g"),
        ("± 95%", "true_ci_half", ".2g"),
        ("sd paired", "sd_paired", ".3g"),
        ("sd indep.", "sd_independent", ".3g"),
        ("var. ratio", "variance_ratio", ".0f"),
        ("CI ± paired", "ci_half_paired", ".3g"),
        ("CI ± indep.", "ci_half_independent", ".3g"),
        ("paired coverage", "paired_coverage", ".2f"),
    ]
    return outcome_table(f"`{command}`", results["scenarios"], cols)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=300)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--model", action="store_true", help="a VAE's estimates vs the truth")
    ap.add_argument("--train-customers", type=int, default=600)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--latent", choices=("posterior", "prior"), default="posterior")
    ap.add_argument("--epsilons", default="none,8", help="models: 'none' (no DP) or an epsilon")
    ap.add_argument("--dp-config", default="{}", help="JSON config values for the DP models")
    ap.add_argument("--tag", default="", help="model part: results to scenarios_model_TAG.*")
    ap.add_argument(
        "--model-dir",
        type=Path,
        help="model part: read the fitted models from here if saved, else fit and save them",
    )
    a = ap.parse_args(argv)
    names = a.scenarios.split(",")
    a.epsilons = parse_epsilons(a.epsilons)
    a.dp_config = parse_config(a.dp_config, "--dp-config", ["vae"])
    problems = [
        f"--scenarios: {n!r} unknown; choose from {list(SCENARIOS)}"
        for n in names
        if n not in SCENARIOS
    ]
    if a.reps < 2:
        problems.append(f"--reps {a.reps}: the spread across reps needs at least 2")
    if a.customers < 2:
        problems.append(f"--customers {a.customers}: a standard error needs at least 2")
    if problems:
        raise ConfigError("; ".join(problems))
    command = "python -m bench.bench_scenarios " + " ".join(argv or sys.argv[1:])
    if a.model:
        return write_model_part(a, names, command)
    results = {"command": command, "customers": a.customers, "reps": a.reps, "scenarios": {}}
    for name in names:
        t0 = time.perf_counter()
        rows = summarise(estimates(name, a))
        results["scenarios"][name] = {
            "interventions": SCENARIOS[name][0],
            "since_day": SCENARIOS[name][1],
            "within_days": SCENARIOS[name][2],
            "seconds": time.perf_counter() - t0,
            "outcomes": rows,
        }
    results["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    table = render(results, command)
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "scenarios.json", json.dumps(results, indent=1))
    atomic_write_text(RESULTS / "scenarios.md", table)
    print(table)
    return results


def parse_epsilons(text: str) -> list[float | None]:
    """'none,8' -> [None, 8.0]: the models of the `--model` part, each told apart once."""
    out = []
    for part in text.split(","):
        try:
            eps = None if part.strip() == "none" else float(part)
        except ValueError:
            eps = -1.0
        if eps is not None and not 0 < eps < float("inf"):
            raise ConfigError(f"--epsilons: {part!r} is not 'none' or an epsilon > 0, e.g. none,8")
        out.append(eps)
    if len(set(out)) != len(out):
        raise ConfigError(f"--epsilons {text!r}: each model once, e.g. none,8")
    return out


def write_model_part(a: argparse.Namespace, names: list[str], command: str) -> dict:
    results = {"command": command, "customers": a.customers, "reps": a.reps}
    results["load_average_at_start"] = os.getloadavg()[0]
    t0 = time.perf_counter()
    results.update(run_model_part(a, names))
    results["measured_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
    results["wall_seconds"] = time.perf_counter() - t0
    results["load_average_at_end"] = os.getloadavg()[0]
    table = f"`{command}`\n\n" + render_model(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "scenarios_model" + (f"_{a.tag}" if a.tag else "")
    atomic_write_text(RESULTS / f"{stem}.json", json.dumps(results, indent=1))
    atomic_write_text(RESULTS / f"{stem}.md", table)
    print(table)
    return results


if __name__ == "__main__":
    main()
