"""Evaluation as a library: one report per synthetic dataset (fidelity, utility, privacy, cost).

    from journeylab.evaluation import evaluate, write_report
    report = evaluate(train, holdout, synthetic, privacy_record=gen.privacy_record)
    write_report(report, "reports/vae-eps8")  # report.json + self-contained report.html

The CLI (`journeylab evaluate`), the app, the benchmarks and the Python API all import
this package; nothing here imports them. Names are imported on first use.
"""

from __future__ import annotations

import importlib

_API = ("EvaluateConfig", "evaluate", "evaluate_generator", "flat_metrics", "write_report")


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'journeylab.evaluation' has no attribute '{name}'")
    value = getattr(importlib.import_module("journeylab.evaluation.report"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = list(_API)
