"""Evaluation as a library: one report per synthetic dataset (fidelity, utility, privacy, cost).

    from journeylab.evaluation import evaluate, write_report
    report = evaluate(train, holdout, synthetic, privacy_record=gen.privacy_record)
    write_report(report, "reports/vae-eps8")  # report.json + self-contained report.html
    report["scorecard"]                        # fidelity, utility, privacy in words (verdict)
    scorecard(detection_auc=0.9, ref_detection_auc=0.5, tstr_ratio=0.8, epsilon=8)
    from journeylab.evaluation.validity import validity   # impossible pairs, out of window

The CLI (`journeylab evaluate`), the app, the benchmarks and the Python API all import
this package; nothing here imports them. Names are imported on first use.
"""

from __future__ import annotations

from journeylab.journeys.lazy import lazy_exports

_API = ("EvaluateConfig", "evaluate", "evaluate_generator", "flat_metrics", "write_report")


_MODULES = {
    **{name: "journeylab.evaluation.report" for name in _API},
    "scorecard": "journeylab.evaluation.verdict",
}
__getattr__, __dir__ = lazy_exports(__name__, _MODULES)

__all__ = list(_MODULES)
