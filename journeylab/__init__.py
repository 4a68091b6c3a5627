"""JourneyLab: privacy-preserving synthetic customer journeys.

The public Python API, in the order a data scientist uses it:

    import journeylab as jl

    log, _ = jl.load_dataset("completejourney")                    # a validated EventLog
    train, holdout = jl.split_by_customer(log, holdout=0.5, seed=0)
    fit = jl.fit_run(train, model="vae", epsilon=8, config={"epochs": 3})  # ledger + MLflow
    synthetic = fit.generator.sample(holdout.n_customers, seed=0)
    report = jl.evaluate(train, holdout, synthetic, privacy_record=fit.record)
    jl.write_report(report, "reports/vae-eps8")

`fit_run` is the same run layer `journeylab fit` uses (journeylab.runs): a DP fit reserves
its budget in the dataset's privacy ledger before training and commits what it spent, and
the run, its privacy card and its model are logged to MLflow.

Subpackages: journeylab.journeys (event log), .generators, .privacy, .predictors,
.evaluation, .app (the CLI and the Streamlit app). Names are imported on first use, so
`import journeylab` (and the `journeylab` command) starts fast.
"""

from __future__ import annotations

import importlib

from journeylab.journeys.lazy import lazy_exports

__version__ = "0.1.0"

_API = {
    "EventLog": "journeylab.journeys.eventlog",
    "StreamedLog": "journeylab.journeys.streamed",
    "split_streamed": "journeylab.journeys.streamed_split",
    "Schema": "journeylab.journeys.schema",
    "split_by_customer": "journeylab.journeys.eventlog",
    "load_dataset": "journeylab.journeys.datasets",
    "create_generator": "journeylab.generators.base",
    "load_generator": "journeylab.generators.base",
    "PrivacyBudget": "journeylab.privacy.budget",
    "Ledger": "journeylab.privacy.ledger",
    "fit_run": "journeylab.runs",
    "sample_run": "journeylab.runs",
    "evaluate_run": "journeylab.runs",
    "FitResult": "journeylab.runs",
    "complete_run": "journeylab.whatif",
    "scenario_run": "journeylab.whatif",
    "evaluate": "journeylab.evaluation.report",
    "write_report": "journeylab.evaluation.report",
    "UserError": "journeylab.journeys.errors",
    "DataError": "journeylab.journeys.errors",
    "ConfigError": "journeylab.journeys.errors",
    "PrivacyBudgetError": "journeylab.journeys.errors",
}
_ALIASES = {"load_dataset": "load", "create_generator": "create", "load_generator": "load"}


def _registered(name: str) -> None:
    if name in ("create_generator", "load_generator"):
        importlib.import_module("journeylab.generators.base").registry()  # gan, vae, par


__getattr__, __dir__ = lazy_exports(__name__, _API, aliases=_ALIASES, before=_registered)


__all__ = sorted(_API)
