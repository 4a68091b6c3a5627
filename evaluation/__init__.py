"""Evaluation as a library: one report per synthetic dataset (fidelity, utility, privacy, cost).

    from journeylab.evaluation import evaluate, write_report
    report = evaluate(train, holdout, synthetic, privacy_record=gen.privacy_record)
    write_report(report, "reports/vae-eps8")  # report.json + self-contained report.html

The CLI (`journeylab evaluate`), the app, the benchmarks and the Python API all import
this package; nothing here imports them.
"""

from journeylab.evaluation.report import (
    EvaluateConfig,
    evaluate,
    evaluate_generator,
    flat_metrics,
    write_report,
)

__all__ = ["EvaluateConfig", "evaluate", "evaluate_generator", "flat_metrics", "write_report"]
