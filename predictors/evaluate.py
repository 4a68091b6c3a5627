"""Evaluation on a real holdout, and TRTR vs TSTR vs augmented training.

Metrics are small pure functions of 0/1 labels `y` and scores `p`:
`roc_auc`, `pr_auc` (average precision), `brier`, `top_decile_lift`,
`lift_table` (per score decile), `calibration_table` (per probability bin).

Utility (design.md, "How quality is measured"): labels come from the journeys by
one function at one cutoff; every model is tested on the same real holdout.
- TRTR: trained on the real train split;
- TSTR: trained on a synthetic log (sampled by a generator fitted on that split);
- augmented: trained on the real train split plus the synthetic log.
`auc_ratio` is each row's AUC over the TRTR AUC of the same task and model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from journeylab.journeys.errors import DataError, UserError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.streamed import StreamedLog
from journeylab.predictors.batch import scored_chunks
from journeylab.predictors.bundle import Bundle, check_schema
from journeylab.predictors.data import Examples, build_examples
from journeylab.predictors.labels import LabelSpec, label_spec
from journeylab.predictors.models import create

# --- metrics -------------------------------------------------------------------

# Column labels of a utility table (utility_table), as the CLI and the report show it.
UTILITY_COLUMNS = (
    "task",
    "model",
    "train",
    "n",
    "AUC",
    "AUC / TRTR",
    "PR AUC",
    "Brier",
    "top-decile lift",
)


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y).astype(np.int64).ravel(), np.asarray(p, np.float64).ravel()
    if len(y) != len(p):
        raise DataError(f"{len(y)} labels but {len(p)} scores", fix="pass one score per label")
    if len(y) == 0 or y.min() == y.max():
        raise DataError(
            f"the {len(y)} evaluation label(s) have a single class, so AUC is undefined",
            fix="evaluate on more customers or another cutoff/horizon",
        )
    return y, p


def roc_auc(y, p) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(*_check(y, p)))


def pr_auc(y, p) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(*_check(y, p)))


def brier(y, p) -> float:
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2))


def top_decile_lift(y, p) -> float:
    """Positive rate among the 10% highest scores over the overall positive rate."""
    y, p = _check(y, p)
    k = max(1, math.ceil(0.1 * len(y)))
    top = np.argsort(-p, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def lift_table(y, p, *, bins: int = 10) -> pd.DataFrame:
    """Customers ranked by score into `bins` groups (1 = highest scores)."""
    y, p = _check(y, p)
    order = np.argsort(-p, kind="stable")
    group = np.minimum(np.arange(len(y)) * bins // len(y), bins - 1) + 1
    df = pd.DataFrame({"bin": group, "y": y[order], "p": p[order]})
    t = df.groupby("bin").agg(n=("y", "size"), positives=("y", "sum"), mean_score=("p", "mean"))
    base = y.mean()
    t["rate"] = t["positives"] / t["n"]
    t["lift"] = t["rate"] / base
    t["cumulative_gain"] = t["positives"].cumsum() / y.sum()
    t["cumulative_lift"] = (t["positives"].cumsum() / t["n"].cumsum()) / base
    return t.reset_index()


def calibration_table(y, p, *, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate in equal-width probability bins (empty bins dropped)."""
    y, p = _check(y, p)
    b = np.minimum((p * bins).astype(np.int64), bins - 1)
    df = pd.DataFrame({"bin": b, "y": y, "p": p})
    t = df.groupby("bin").agg(n=("y", "size"), mean_predicted=("p", "mean"), observed=("y", "mean"))
    return t.reset_index()


def metrics(y, p) -> dict[str, float]:
    y, p = _check(y, p)
    return {
        "auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "brier": brier(y, p),
        "top_decile_lift": top_decile_lift(y, p),
        "base_rate": float(y.mean()),
        "n": float(len(y)),
    }


# --- evaluating a trained bundle -------------------------------------------------


@dataclass
class TaskResult:
    task: str
    model: str
    y: np.ndarray
    p: np.ndarray
    metrics: dict[str, float]

    def lift(self) -> pd.DataFrame:
        return lift_table(self.y, self.p)

    def calibration(self) -> pd.DataFrame:
        return calibration_table(self.y, self.p)


def evaluate_bundle(bundle: Bundle, holdout: EventLog | StreamedLog) -> dict[str, TaskResult]:
    """Score the holdout at the bundle's cutoff and compare with its labels, per task.

    A StreamedLog is read chunk by chunk (batch.scored_chunks): labels, features and
    scores are per customer, so every customer's label and score is the whole log's, in
    log order, and only those two numbers per customer and task are held."""
    ys, ps = {t: [] for t in bundle.tasks}, {t: [] for t in bundle.tasks}
    for _, data, scores in scored_chunks(bundle, holdout, labels=True):
        for task in bundle.tasks if data is not None else ():
            ys[task].append(data.y(task))
            ps[task].append(scores[task].to_numpy())
    if not ys[bundle.tasks[0]]:
        raise DataError(
            f"no customer of the holdout has an event before the model's cutoff "
            f"{bundle.spec.cutoff}, so none can be labelled",
            fix="evaluate on a log with events before the cutoff (bundle.json, label_spec)",
        )
    out = {}
    for task in bundle.tasks:
        y, p = np.concatenate(ys[task]), np.concatenate(ps[task])
        out[task] = TaskResult(task, bundle.model, y, p, metrics(y, p))
    return out


# --- TRTR vs TSTR vs augmented --------------------------------------------------------


def utility_table(
    train_real: EventLog,
    holdout_real: EventLog,
    synthetic: EventLog | Mapping[str, EventLog] | None = None,
    *,
    tasks: str | Sequence[str] | None = None,
    models: Sequence[str] = ("logreg", "gbm"),
    configs: Mapping[str, Any] | None = None,
    cutoff=None,
    horizon=None,
    conversion=None,
    augmented: bool = True,
    lift: bool = False,
    spec: LabelSpec | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """One row per (task, model, training set): AUC, PR AUC, Brier, top-decile lift, ratio.

    `synthetic` is one log or a mapping name -> log (one per generator). A
    synthetic training set that cannot be used (e.g. its labels have a single
    class: a poor generator) gets a row with NaN metrics and the reason in
    `note`, instead of stopping the table; a failing TRTR row raises.
    With `lift`, `table.attrs["lift"]` holds the lift table of every usable row
    ({task, model, train, synthetic, table: records}), all tested on the holdout.
    `spec`: a resolved label spec (e.g. of the whole log the train split was subsampled
    from: predictors/at_scale.py) instead of tasks, cutoff, horizon and conversion.
    """
    say = progress or (lambda _m: None)
    if spec is None:
        spec = spec_for(
            train_real, task=tasks, cutoff=cutoff, horizon=horizon, conversion=conversion
        )
    check_schema(holdout_real, train_real.schema)
    hold = build_examples(holdout_real, spec=spec)
    sets = {("TRTR", ""): lambda: build_examples(train_real, spec=spec)}
    syn = {"synthetic": synthetic} if isinstance(synthetic, EventLog) else dict(synthetic or {})
    for name, log in syn.items():
        check_schema(log, train_real.schema)
        sets[("TSTR", name)] = lambda log=log: build_examples(log, spec=spec)
        if augmented:
            sets[("augmented", name)] = lambda log=log: build_examples(
                _combine(train_real, log), spec=spec
            )
    rows, lifts = [], []
    for (setting, name), make in sets.items():
        say(f"labels and features: {setting} {name}".strip())
        try:
            data = make()
        except UserError as e:
            if setting == "TRTR":  # without a real baseline the table means nothing
                raise
            rows += [_failed(t, m, setting, name, e) for t in spec.tasks for m in models]
            continue
        for model in models:
            for task in spec.tasks:
                say(f"{setting} {name} {model} {task}".replace("  ", " "))
                row, p = _row(data, hold, task, model, setting, name, configs)
                rows.append(row)
                if lift and p is not None:
                    key = {"task": task, "model": model, "train": setting, "synthetic": name}
                    records = lift_table(hold.y(task), p).to_dict(orient="records")
                    lifts.append({**key, "table": records})
    table = _with_ratio(pd.DataFrame(rows))
    if lift:
        table.attrs["lift"] = lifts
    return table


def _row(
    data: Examples,
    hold: Examples,
    task: str,
    model: str,
    setting: str,
    name: str,
    configs: Mapping[str, Any] | None,
) -> tuple[dict, np.ndarray | None]:
    """(row, holdout predictions); predictions are None for a failed synthetic row."""
    try:
        y = data.y(task)
        m = create(model, (configs or {}).get(model)).fit(data, y)
        p = m.predict_proba(hold)
        scores = metrics(hold.y(task), p)
    except UserError as e:
        if setting == "TRTR":
            raise
        return _failed(task, model, setting, name, e), None
    row = {
        "task": task,
        "model": model,
        "train": setting,
        "synthetic": name,
        "n_train": len(data),
        "positives_train": int(y.sum()),
        **{k: scores[k] for k in ("auc", "pr_auc", "brier", "top_decile_lift", "base_rate")},
        "note": "",
    }
    return row, p


def _failed(task, model, setting, name, err: Exception) -> dict:
    return {
        "task": task,
        "model": model,
        "train": setting,
        "synthetic": name,
        "n_train": 0,
        "positives_train": 0,
        "auc": np.nan,
        "pr_auc": np.nan,
        "brier": np.nan,
        "top_decile_lift": np.nan,
        "base_rate": np.nan,
        "note": message(err),
    }


def message(err: Exception) -> str:
    """One line: a DataError's problems (message and fix), or the error's text."""
    if isinstance(err, DataError):
        return "; ".join(f"{p.message} ({p.fix})" for p in err.problems)
    return " ".join(str(err).split())


def _with_ratio(t: pd.DataFrame) -> pd.DataFrame:
    base = t[t["train"] == "TRTR"].set_index(["task", "model"])["auc"]
    t["auc_ratio"] = [r.auc / base.get((r.task, r.model), np.nan) for r in t.itertuples()]
    cols = [
        "task",
        "model",
        "train",
        "synthetic",
        "n_train",
        "positives_train",
        "auc",
        "auc_ratio",
        "pr_auc",
        "brier",
        "top_decile_lift",
        "base_rate",
        "note",
    ]
    return t[cols]


def _combine(real: EventLog, synthetic: EventLog) -> EventLog:
    """Real plus synthetic journeys; synthetic ids get a `syn:` prefix so none collide."""
    key = real.key
    syn = synthetic.df.assign(**{key: "syn:" + synthetic.df[key].astype(str)})
    return EventLog.from_frame(pd.concat([real.df, syn], ignore_index=True), real.schema)


def wide(table: pd.DataFrame, metric: str = "auc") -> pd.DataFrame:
    """task x model rows, one column per training set (TRTR, TSTR:name, augmented:name)."""
    col = table["train"] + np.where(table["synthetic"] != "", ":" + table["synthetic"], "")
    return table.assign(setting=col).pivot_table(
        index=["task", "model"], columns="setting", values=metric, sort=False, dropna=False
    )


def spec_for(log: EventLog, **kw) -> LabelSpec:
    """The label spec `utility_table` uses, to report it beside the table."""
    return label_spec(log.schema, log=log, **kw)
