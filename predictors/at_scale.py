"""Training and TSTR on logs too large to hold: seeded subsamples, stated.

    bundle = train_subsample(streamed, max_customers=50_000, seed=0, model="gbm")
    bundle.info["train_scale"]   # {'customers': 1000000, 'train_customers': 50000, ...}
    table, scale = utility_subsamples(train, holdout, {"vae": syn}, max_customers=50_000)

A model is fitted on a table of examples held in memory, so a partitioned dataset
(journeys/streamed.StreamedLog) is trained on the `max_customers` customers with the
smallest sha256(seed:id) (journeys/streamed.subsample_customers: the same customers
from a folder as from the same log in one file). The label spec is resolved on the
whole log, so a subsample is labelled at the cutoff the whole log would get. Where the
log has no more customers than `max_customers`, the subsample is the whole log and the
model is the one-file model. Evaluation needs no subsample: `evaluate_bundle` reads a
partitioned holdout chunk by chunk (evaluate.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.streamed import StreamedLog, subsample_customers
from journeylab.predictors.bundle import Bundle, fit_bundle
from journeylab.predictors.data import build_examples
from journeylab.predictors.evaluate import utility_table
from journeylab.predictors.labels import label_spec

MAX_CUSTOMERS = 50_000  # default subsample of a partitioned log (`--max-customers`)
Log = EventLog | StreamedLog


def check_max_customers(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(
            f"max_customers must be an integer >= 1 (customers of a partitioned log to train "
            f"and test on), got {k!r}; e.g. --max-customers {MAX_CUSTOMERS}"
        )


def train_subsample(
    log: StreamedLog,
    *,
    max_customers: int = MAX_CUSTOMERS,
    seed: int = 0,
    model: str = "gbm",
    config: Any = None,
    progress: Callable[[str], None] | None = None,
    **label: Any,
) -> Bundle:
    """`bundle.train_bundle` on the seeded subsample of `log`; `label`: task, cutoff,
    horizon, conversion (labels.label_spec, resolved on the whole log). The bundle's
    info holds the folder's fingerprint and `train_scale` (how many of how many, seed)."""
    check_max_customers(max_customers)
    spec = label_spec(log.schema, log=log, **label)
    (progress or (lambda _m: None))(f"subsampling {max_customers:,} customers, seed {seed}")
    sub = subsample_customers(log, max_customers, seed=seed)
    scale = {
        "customers": log.n_customers,
        "train_customers": sub.n_customers,
        "subsample_seed": seed,
        "max_customers": max_customers,
    }
    return fit_bundle(
        build_examples(sub, spec=spec),
        spec=spec,
        model=model,
        config=config,
        schema=log.schema,
        info={"dataset_fingerprint": log.fingerprint(), "train_scale": scale},
        progress=progress,
    )


def utility_subsamples(
    train: Log,
    holdout: Log,
    synthetic: Mapping[str, Log],
    *,
    max_customers: int = MAX_CUSTOMERS,
    seed: int = 0,
    tasks=None,
    cutoff=None,
    horizon=None,
    conversion=None,
    **options: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(table, scale): `evaluate.utility_table` on the seeded subsample of every log (the
    label spec resolved on the whole train log); `options` go to utility_table. `scale`
    says how many customers of each log (train, holdout, synthetic.NAME) were used."""
    check_max_customers(max_customers)
    spec = label_spec(
        train.schema, task=tasks, cutoff=cutoff, horizon=horizon, conversion=conversion, log=train
    )
    logs = {"train": train, "holdout": holdout}
    logs |= {f"synthetic.{name}": g for name, g in synthetic.items()}
    subs = {r: subsample_customers(g, max_customers, seed=seed) for r, g in logs.items()}
    syn = {r.removeprefix("synthetic."): g for r, g in subs.items() if r.startswith("synthetic.")}
    table = utility_table(subs["train"], subs["holdout"], syn, spec=spec, **options)
    scale = {
        "customers": {r: g.n_customers for r, g in logs.items()},
        "subsample_customers": {r: g.n_customers for r, g in subs.items()},
        "subsample_seed": seed,
        "max_customers": max_customers,
    }
    return table, scale


def scale_params(scale: dict[str, Any]) -> dict[str, Any]:
    """MLflow params of a utility `scale`: ROLE_customers, ROLE_subsample_customers, ..."""
    params = {f"{r}_customers": n for r, n in scale["customers"].items()}
    params |= {f"{r}_subsample_customers": k for r, k in scale["subsample_customers"].items()}
    return params | {k: scale[k] for k in ("subsample_seed", "max_customers")}


def train_scale_params(info: dict[str, Any]) -> dict[str, Any]:
    """MLflow params of a bundle trained on a subsample (none for a one-file log)."""
    scale = info.get("train_scale")
    if scale is None:
        return {}
    return {
        "train_customers": scale["customers"],
        "train_subsample_customers": scale["train_customers"],
        "train_subsample_seed": scale["subsample_seed"],
    }
