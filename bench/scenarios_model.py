"""The `--model` part of bench_scenarios: a VAE's answer to the scenarios against the truth.

A VAE is fitted without DP on simulator journeys (`--train-customers`, seed
`seed + 1000`, `--epochs`). Each scenario is then asked of the model as a
scenario file would ask it (generators/scenario.py): each rep simulates
`--customers` customers (seed seed + rep), cuts their journeys at `before_day`,
applies the model's version of the intervention to the prefixes and completes
both arms. The truth is the simulator's counterfactual of the same customers,
measured with the same outcomes (journeys/effects.py `log_outcomes`), so the two
numbers answer the same question.

The model's version of a scenario is not always the simulator's: a model cannot
move a campaign it has not generated, so `campaign-earlier` asks it for a promotion
on day 56 to each segment's campaign share (the truth moves campaign 2 from day 70
to day 56; inside days 56-70 the two are the same change).
"""

from __future__ import annotations

import time

import numpy as np

from journeylab.generators import create
from journeylab.generators.scenario import Scenario
from journeylab.generators.scenario_run import run_scenario
from journeylab.journeys.effects import LOG_OUTCOMES
from journeylab.journeys.simulate import PROMO_TARGETED, SEGMENTS, simulate

CAMPAIGN_SHARES = [
    {"kind": "promotion", "day": 56, "segment": s, "share": p}
    for s, p in zip(SEGMENTS, PROMO_TARGETED, strict=True)
]
MODEL_SCENARIOS = {  # name -> the scenario file's content, less name and population size
    "promo-premium": {
        "population": {"before_day": 60},
        "interventions": [{"kind": "promotion", "day": 60, "segment": "premium"}],
        "outcomes": {"since_day": 60, "within_days": 30},
    },
    "campaign-earlier": {
        "population": {"before_day": 56},
        "interventions": CAMPAIGN_SHARES,
        "truth_interventions": [{"kind": "shift_campaign", "campaign": 2, "days": -14}],
        "outcomes": {"since_day": 56, "within_days": 14},
    },
    "no-email": {
        "population": {"before_day": 30},
        "interventions": [{"kind": "remove_channel", "channel": "email"}],
        "outcomes": {"since_day": 30, "within_days": 120},
    },
}


def fit_model(a):
    """A VAE without DP on `a.train_customers` simulated customers."""
    log, _ = simulate(a.train_customers, seed=a.seed + 1000)
    return create("vae", {"epochs": a.epochs, "seed": a.seed}).fit(log)


def scenario(name: str, a, *, paired: bool) -> Scenario:
    d = MODEL_SCENARIOS[name]
    pop = {**d["population"], "simulate": a.customers}
    extra = {"truth": True, "paired": paired, "latent": a.latent}
    return Scenario.from_dict({**d, "name": name, "population": pop, **extra})


def model_runs(gen, name: str, a) -> dict[str, list]:
    """Per rep: the model's paired and independent tables and the truth's."""
    out = {"paired": [], "independent": [], "truth": []}
    for rep in range(a.reps):
        for paired in (True, False):
            res = run_scenario(gen, scenario(name, a, paired=paired), seed=a.seed + rep)
            out["paired" if paired else "independent"].append(res.effects)
            if paired:
                out["truth"].append(res.truth)
    return out


def summarise_model(runs: dict[str, list]) -> dict[str, dict]:
    """Per outcome: true and estimated effect (means over reps), sign, relative error,
    the spread of the model's estimate paired and independent, and their ratio."""
    rows = {}
    for k in LOG_OUTCOMES:
        est = {p: np.array([t.loc[k, "effect"] for t in runs[p]]) for p in runs}
        true, model = float(est["truth"].mean()), float(est["paired"].mean())
        half = 1.959964 * float(est["truth"].std(ddof=1) / np.sqrt(len(est["truth"])))
        clear = abs(true) > half  # the true effect is clearly non-zero
        var = {p: float(est[p].var(ddof=1)) for p in ("paired", "independent")}
        rows[k] = {
            "true_effect": true,
            "true_ci_half": half,
            "model_effect": model,
            "sign_right": bool(np.sign(model) == np.sign(true)) if clear else None,
            "relative_error": abs(model - true) / abs(true) if clear else None,
            "model_baseline": float(np.mean([t.loc[k, "baseline"] for t in runs["paired"]])),
            "true_baseline": float(np.mean([t.loc[k, "baseline"] for t in runs["truth"]])),
            "sd_paired": var["paired"] ** 0.5,
            "sd_independent": var["independent"] ** 0.5,
            "variance_ratio": var["independent"] / var["paired"] if var["paired"] else float("inf"),
        }
    return rows


def run_model_part(a, names: list[str]) -> dict:
    t0 = time.perf_counter()
    gen = fit_model(a)
    out = {"train_customers": a.train_customers, "epochs": a.epochs, "latent": a.latent}
    out["scenarios"] = {}
    out["fit_seconds"] = time.perf_counter() - t0
    for name in names:
        t1 = time.perf_counter()
        rows = summarise_model(model_runs(gen, name, a))
        out["scenarios"][name] = {
            **MODEL_SCENARIOS[name],
            "seconds": time.perf_counter() - t1,
            "outcomes": rows,
        }
    return out


def render_model(res: dict) -> str:
    cols = [
        ("true baseline", "true_baseline", ".3g"),
        ("model baseline", "model_baseline", ".3g"),
        ("true effect", "true_effect", ".3g"),
        ("± 95%", "true_ci_half", ".2g"),
        ("model effect", "model_effect", ".3g"),
        ("sign right", "sign_right", ""),  # "-": the true effect is not clearly non-zero
        ("rel. error", "relative_error", ".2f"),
        ("var. ratio (model)", "variance_ratio", ".1f"),
    ]
    head = (
        f"VAE without DP, {res['train_customers']} training customers, {res['epochs']} epochs "
        f"(fit {res['fit_seconds']:.0f}s), completions with z from the {res['latent']}"
    )
    return outcome_table(head, res["scenarios"], cols)


def outcome_table(head: str, scenarios: dict, cols: list[tuple[str, str, str]]) -> str:
    """Markdown: `head`, then one row per (scenario, outcome); cols are (title, key,
    format); a missing value (None) shows as "-"."""
    out = [
        head,
        "",
        "| scenario | outcome | " + " | ".join(c for c, _, _ in cols) + " |",
        "|" + "---|" * (len(cols) + 2),
    ]
    for name, sc in scenarios.items():
        for k, row in sc["outcomes"].items():
            cells = ["-" if row[key] is None else format(row[key], f) for _, key, f in cols]
            out.append(f"| {name} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
