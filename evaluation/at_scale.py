"""`evaluate` on logs too large to hold: counts over everyone, the rest on seeded subsamples.

    report = evaluate(train, holdout, synthetic)   # any input a StreamedLog: this module

When an input is a partitioned dataset (journeys/streamed.py), the report is made of
- counts over every customer of each log, one streamed pass each
  (journeys/fidelity_stream.py): n-gram TVDs, length W1 exactly, gap and amount W1
  within a bin of 0.001;
- every other figure (detection AUC and the giveaways, order violations, SDMetrics,
  TRTR/TSTR, the membership-inference, DCR and copy audits, validity, the plots) on a
  seeded subsample of at most `max_customers` customers of each log: those with the
  smallest sha256(seed:id), a choice that depends on the id and the seed alone.
The report's `scale` section says how many customers each figure used.
"""

from __future__ import annotations

from typing import Any

from journeylab.evaluation.report import _describe as describe_log
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.fidelity_stream import FidelityCounts, streamed_fidelity
from journeylab.journeys.streamed import StreamedLog, subsample_customers

__all__ = ["evaluate_at_scale", "subsample_customers"]  # the subsample: journeys/streamed.py
ROLES = ("train", "holdout", "synthetic")
SUBSAMPLED = (
    "fidelity.metrics.detection_auc, ref_detection_auc, order_violations, "
    "ref_order_violations; fidelity.giveaways; fidelity.sdmetrics; utility; privacy.audits; "
    "validity; plots"
)


def evaluate_at_scale(
    logs: dict[str, EventLog | StreamedLog], *, max_customers: int, seed: int, run: Any
) -> dict[str, Any]:
    """The report (see the module): `run(train, holdout, synthetic)` makes the report on
    the subsamples; the streamed counts then replace its count-based figures."""
    subs = {r: subsample_customers(logs[r], max_customers, seed=seed) for r in ROLES}
    report = run(subs["train"], subs["holdout"], subs["synthetic"])
    counts = {r: FidelityCounts.of(logs[r]) for r in ROLES}
    report["fidelity"]["metrics"].update(streamed_fidelity(*(counts[r] for r in ROLES)))
    report["inputs"] = {r: _describe(logs[r]) for r in ROLES}
    report["scale"] = {
        "customers": {r: counts[r].customers for r in ROLES},
        "subsample_customers": {r: subs[r].n_customers for r in ROLES},
        "subsample_seed": seed,
        "all_customers": "fidelity.metrics: tvd_*, *_w1, *_w1_ratio (one streamed pass "
        "each; gap and amount W1 on bins of 0.001 log1p units)",
        "subsampled": SUBSAMPLED,
    }
    return report


def _describe(log: EventLog | StreamedLog) -> dict[str, Any]:
    if isinstance(log, EventLog):
        return describe_log(log)
    d = log.describe()
    return {k: d[k] for k in ("customers", "events", "fingerprint", "length_mean", "length_max")}
