"""The `--model` part of bench_scenarios: a VAE's answer to the scenarios against the truth.

A VAE is fitted on simulator journeys (`--train-customers`, seed `seed + 1000`,
`--epochs`) for each of `--epsilons` (`none`: without DP; a number: DP-SGD at that
epsilon, with `--dp-config` on top of the config, as bench_generators' DP jobs).
Each scenario is then asked of each model as a scenario file would ask it
(generators/scenario.py): each rep simulates `--customers` customers (seed
seed + rep), cuts their journeys at `before_day`, applies the model's version of
the intervention to the prefixes and completes both arms (independent arms too,
for the first model only: what pairing saves does not depend on DP). The truth is
the simulator's counterfactual of the same customers, measured with the same
outcomes (journeys/effects.py `log_outcomes`), so the two numbers answer the same
question; every model sees the same customers and truth.

The model's version of a scenario is not always the simulator's: a model cannot
move a campaign it has not generated, so `campaign-earlier` asks it for a promotion
on day 56 to each segment's campaign share (the truth moves campaign 2 from day 70
to day 56; inside days 56-70 the two are the same change).
"""

from __future__ import annotations

import time

import numpy as np

from journeylab.generators import create, load
from journeylab.generators.scenario import Scenario
from journeylab.generators.scenario_run import run_scenario
from journeylab.journeys.effects import LOG_OUTCOMES
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.simulate import PROMO_TARGETED, SEGMENTS, simulate
from journeylab.privacy import PrivacyBudget

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


def fit_model(a, eps: float | None):
    """A VAE on `a.train_customers` simulated customers, DP at `eps` (None: without DP).
    With `a.model_dir`, the model saved there under its name is read back if it exists
    (its fit settings must be the same), else fitted and saved there: two versions of
    the completion code can then be compared on the same fitted model."""
    cfg = {"epochs": a.epochs, "seed": a.seed} | (a.dp_config if eps is not None else {})
    saved = None
    if getattr(a, "model_dir", None) is not None:
        saved = a.model_dir / f"{model_name(eps)}-train{a.train_customers}-seed{a.seed}"
        if (saved / "meta.json").exists():
            gen = load(saved)
            _check_saved(gen, cfg, eps, saved)
            return gen
    log, _ = simulate(a.train_customers, seed=a.seed + 1000)
    budget = None if eps is None else PrivacyBudget(epsilon=eps)
    gen = create("vae", cfg).fit(log, privacy=budget)
    if saved is not None:
        gen.save(saved)
    return gen


def _check_saved(gen, cfg: dict, eps: float | None, where) -> None:
    """A saved model read back must have been fitted as asked now."""
    have = {k: getattr(gen.config, k, None) for k in cfg}
    dp = gen.privacy_record is not None
    if have != cfg or (eps is None) == dp:
        raise ConfigError(
            f"{where}: the saved model was fitted with {have} (DP: {dp}), "
            f"not {cfg} (DP: {eps is not None}); remove it or use another --model-dir"
        )


def model_name(eps: float | None) -> str:
    return "nodp" if eps is None else f"eps{eps:g}"


def scenario(name: str, a, *, paired: bool) -> Scenario:
    d = MODEL_SCENARIOS[name]
    pop = {**d["population"], "simulate": a.customers}
    extra = {"truth": True, "paired": paired, "latent": a.latent}
    return Scenario.from_dict({**d, "name": name, "population": pop, **extra})


def model_runs(gen, name: str, a, *, independent: bool = True) -> dict[str, list]:
    """Per rep: the model's paired (and independent) tables and the truth's."""
    out = {"paired": [], "independent": [], "truth": []}
    for rep in range(a.reps):
        for paired in (True, False)[: 1 + independent]:
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
        var = {p: float(est[p].var(ddof=1)) if len(est[p]) > 1 else None for p in est}
        error = abs(model - true) / abs(true) if clear else None
        rows[k] = {
            "true_effect": true,
            "true_ci_half": half,
            "model_effect": model,
            "sign_right": bool(np.sign(model) == np.sign(true)) if clear else None,
            "relative_error": error,
            "within_30": None if error is None else bool(error <= 0.3),
            "model_baseline": float(np.mean([t.loc[k, "baseline"] for t in runs["paired"]])),
            "true_baseline": float(np.mean([t.loc[k, "baseline"] for t in runs["truth"]])),
            "sd_paired": var["paired"] ** 0.5,
            "variance_ratio": _ratio(var["independent"], var["paired"]),
        }
    return rows


def _ratio(independent: float | None, paired: float) -> float | None:
    if independent is None:
        return None
    return independent / paired if paired else float("inf")


def run_model_part(a, names: list[str]) -> dict:
    """Per model of `a.epsilons` (`nodp`, `eps8`, ...): its fit and its scenario rows."""
    out = {"train_customers": a.train_customers, "epochs": a.epochs, "latent": a.latent}
    out |= {"dp_config": a.dp_config, "models": {}}
    for i, eps in enumerate(a.epsilons):
        t0 = time.perf_counter()
        gen = fit_model(a, eps)
        res = {"epsilon": eps, "fit_seconds": time.perf_counter() - t0, "scenarios": {}}
        for name in names:
            t1 = time.perf_counter()
            rows = summarise_model(model_runs(gen, name, a, independent=i == 0))
            res["scenarios"][name] = {"seconds": time.perf_counter() - t1, "outcomes": rows}
        out["models"][model_name(eps)] = res
    out["scenarios"] = {n: MODEL_SCENARIOS[n] for n in names}
    return out


def render_model(res: dict) -> str:
    """One row per (scenario, outcome): the truth, then each model's estimate, its sign
    and whether it is within 30% of the true effect ("-": the true effect is not
    clearly non-zero), then the first model's variance ratio."""
    models = res["models"]
    first = next(iter(models.values()))
    rows = {}
    for name in first["scenarios"]:
        rows[name] = {"outcomes": {}}
        for k, r in first["scenarios"][name]["outcomes"].items():
            row = {key: r[key] for key in ("true_baseline", "true_effect", "true_ci_half")}
            for m, mr in models.items():
                got = mr["scenarios"][name]["outcomes"][k]
                row |= {f"{m}.{c}": got[c] for c in ("model_effect", "sign_right", "within_30")}
            rows[name]["outcomes"][k] = row | {"variance_ratio": r["variance_ratio"]}
    cols = [("true baseline", "true_baseline", ".3g"), ("true effect", "true_effect", ".3g")]
    cols.append(("± 95%", "true_ci_half", ".2g"))
    for m in models:
        cols += [(f"{m} effect", f"{m}.model_effect", ".3g"), (f"{m} sign", f"{m}.sign_right", "")]
        cols.append((f"{m} within 30%", f"{m}.within_30", ""))
    cols.append((f"var. ratio ({next(iter(models))})", "variance_ratio", ".1f"))
    fits = ", ".join(f"{m} fit {mr['fit_seconds']:.0f}s" for m, mr in models.items())
    head = (
        f"VAE on {res['train_customers']} training customers, {res['epochs']} epochs ({fits}), "
        f"completions with z from the {res['latent']}"
    )
    return outcome_table(head, rows, cols) + "\n" + tally(res) + "\n"


def tally(res: dict) -> str:
    """One line per model: judged rows with the sign right and within 30%, and how many
    of the first model's variance ratios reach 5."""
    out = []
    for m, mr in res["models"].items():
        rows = [o for sc in mr["scenarios"].values() for o in sc["outcomes"].values()]
        sign = [o["sign_right"] for o in rows if o["sign_right"] is not None]
        near = [o["within_30"] for o in rows if o["within_30"] is not None]
        line = (
            f"{m}: sign right in {sum(sign)} of {len(sign)} judged rows, within 30% in {sum(near)}"
        )
        ratios = [o["variance_ratio"] for o in rows if o["variance_ratio"] is not None]
        if ratios:
            line += (
                f"; variance ratio {min(ratios):.1f}-{max(ratios):.1f}, "
                f"at least 5 in {sum(r >= 5 for r in ratios)} of {len(ratios)} rows"
            )
        out.append(line + ".")
    return "\n".join(out)


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
