"""Evaluation as a library: one report per synthetic dataset (fidelity, utility, privacy, cost).

    from journeylab.evaluation import evaluate, write_report
    report = evaluate(train, holdout, synthetic, privacy_record=gen.privacy_record)
    write_report(report, "reports/vae-eps8")  # report.json + self-contained report.html

The CLI (`journeylab evaluate`), the app, the benchmarks and the Python API all import
this package; nothing here imports them. Names are imported on first use.
"""

from __future__ import annotations

from journeylab.journeys.lazy import lazy_exports

_API = ("EvaluateConfig", "evaluate", "evaluate_generator", "flat_metrics", "write_report")


__getattr__, __dir__ = lazy_exports(
    __name__, {name: "journeylab.evaluation.report" for name in _API}
)

__all__ = list(_API)
