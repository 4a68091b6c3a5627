"""Plots (matplotlib, no pyplot state) and MLflow logging of predictor evaluations.

Runs follow journeys/tracking.py: kind `predict`, experiment `journeylab/<dataset>`,
tagged with the fingerprint of the real holdout the metrics were computed on.
Metrics computed on real data are not covered by any DP guarantee; the runs say so
in the tag `journeylab.note`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from journeylab.journeys.eventlog import EventLog
from journeylab.predictors.evaluate import TaskResult, wide

NOTE = "metrics computed on real holdout data; not covered by the DP guarantee"


def _figure(width: float = 5.0, height: float = 4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig, fig.add_subplot(1, 1, 1)


def calibration_figure(result: TaskResult):
    t = result.calibration()
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect")
    ax.plot(t["mean_predicted"], t["observed"], marker="o", label=result.model)
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed rate",
        xlim=(0, 1),
        ylim=(0, 1),
        title=f"calibration: {result.task}",
    )
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def lift_figure(result: TaskResult):
    t = result.lift()
    fig, ax = _figure()
    ax.bar(t["bin"], t["lift"], color="tab:blue", alpha=0.7, label="lift per decile")
    ax.axhline(1.0, color="grey", ls="--", lw=1)
    ax.set(
        xlabel="score decile (1 = highest)",
        ylabel="lift",
        title=f"lift: {result.task} (top decile {result.metrics['top_decile_lift']:.2f})",
    )
    ax2 = ax.twinx()
    ax2.plot(
        t["bin"], t["cumulative_gain"], color="tab:orange", marker="o", label="cumulative gain"
    )
    ax2.set(ylabel="share of positives captured", ylim=(0, 1.05))
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax2.legend(handles, [h.get_label() for h in handles], loc="center right", fontsize=8)
    fig.tight_layout()
    return fig


def roc_pr_figure(result: TaskResult):
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig, ax = _figure(9, 4)
    ax.remove()
    a1, a2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    fpr, tpr, _ = roc_curve(result.y, result.p)
    a1.plot(fpr, tpr)
    a1.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    a1.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=f"ROC {result.task}: AUC {result.metrics['auc']:.3f}",
    )
    prec, rec, _ = precision_recall_curve(result.y, result.p)
    a2.plot(rec, prec)
    a2.axhline(result.metrics["base_rate"], ls="--", color="grey", lw=1)
    a2.set(
        xlabel="recall",
        ylabel="precision",
        title=f"PR {result.task}: AP {result.metrics['pr_auc']:.3f}",
    )
    fig.tight_layout()
    return fig


def utility_figure(table: pd.DataFrame):
    """AUC per task and model, one bar per training set."""
    w = wide(table, "auc")
    fig, ax = _figure(max(5.0, 1.2 * len(w)), 4)
    x = np.arange(len(w))
    width = 0.8 / max(1, len(w.columns))
    for i, col in enumerate(w.columns):
        ax.bar(x + i * width, w[col].to_numpy(), width, label=col)
    ax.set_xticks(x + 0.4 - width / 2, [f"{t}\n{m}" for t, m in w.index], fontsize=8)
    ax.set(ylabel="ROC AUC on the real holdout", ylim=(0.4, 1.0), title="TRTR vs TSTR")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def log_evaluation(
    results: Mapping[str, TaskResult],
    holdout: EventLog,
    *,
    model_dir: str = "",
    extra_params: dict | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """One MLflow run: metrics per task, lift/calibration tables, three plots per task.
    tags: e.g. the lineage of a synthetic training log (journeylab.store.LINEAGE_KEYS)."""
    import mlflow

    from journeylab.journeys.tracking import start_run

    model = next(iter(results.values())).model if results else ""
    with start_run(
        "predict",
        dataset=holdout.schema.name,
        fingerprint=holdout.fingerprint(),
        detail=f"evaluate-{model}",
        tags={**(tags or {}), "predictor": model, "note": NOTE},
    ) as run:
        mlflow.log_params(
            {
                "model": model,
                "model_dir": model_dir,
                "holdout_customers": holdout.n_customers,
                **(extra_params or {}),
            }
        )
        for task, r in results.items():
            mlflow.log_metrics(
                {_safe(f"{task}.{k}"): v for k, v in r.metrics.items() if math.isfinite(v)}
            )
            mlflow.log_text(r.lift().to_csv(index=False), f"tables/lift_{task}.csv")
            mlflow.log_text(r.calibration().to_csv(index=False), f"tables/calibration_{task}.csv")
            for name, fig in (
                ("calibration", calibration_figure(r)),
                ("lift", lift_figure(r)),
                ("roc_pr", roc_pr_figure(r)),
            ):
                mlflow.log_figure(fig, f"plots/{name}_{task}.png")
        return run.info.run_id


def log_utility(
    table: pd.DataFrame,
    holdout: EventLog,
    *,
    params: dict | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """One MLflow run for a TRTR/TSTR/augmented table: metrics, the table, a bar plot.
    tags: e.g. the lineage of the synthetic log (journeylab.store.LINEAGE_KEYS)."""
    import mlflow

    from journeylab.journeys.tracking import start_run

    with start_run(
        "predict",
        dataset=holdout.schema.name,
        fingerprint=holdout.fingerprint(),
        detail="utility",
        tags={**(tags or {}), "note": NOTE},
    ) as run:
        mlflow.log_params(params or {})
        values = {}
        for r in table.itertuples():
            prefix = f"{r.task}.{r.model}.{r.train}" + (f".{r.synthetic}" if r.synthetic else "")
            for k in ("auc", "auc_ratio", "pr_auc", "brier", "top_decile_lift"):
                v = getattr(r, k)
                if isinstance(v, float) and math.isfinite(v):
                    values[_safe(f"{prefix}.{k}")] = v
        mlflow.log_metrics(values)
        mlflow.log_text(table.to_csv(index=False), "tables/utility.csv")
        mlflow.log_figure(utility_figure(table), "plots/utility_auc.png")
        return run.info.run_id


def _safe(name: str) -> str:
    """MLflow metric names allow letters, digits and _ - . / space only."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name)
