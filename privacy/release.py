"""One private release end to end: ledger, DP preprocessing, training, record.

    record = private_release(log, budget, fit=train_fn, mechanism="dp-sgd/vae", run_id=rid)

1. The total (epsilon, delta) is split between DP preprocessing (only when the
   schema leaves domains undeclared) and training (`split_budget`).
2. The whole total is reserved in the dataset's ledger *before* anything reads
   the data; a cap that would be exceeded refuses the run here, with nothing
   else written. A crash later keeps the budget spent.
3. Undeclared domains are estimated under DP and the log is conformed to them.
4. `fit(log, training_budget)` trains (DP-SGD) and returns its privacy record; a
   generator that releases a journey profile (generators/profile.py) plans
   `profile_share` of the training budget for it (Gaussian tables composed with the
   DP-SGD steps in one RDP accountant) and returns it under "profile", with what it
   added to the training's epsilon.
5. The ledger entry is committed with what was actually spent.

`privacy` wraps any model: `fit` is a callable, no generator is imported here.
A non-private run (`budget=None`) is recorded too, as epsilon = inf.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.ledger import Ledger
from journeylab.privacy.preprocess import conform, dp_complete_schema, split_budget

FitFn = Callable[[EventLog, PrivacyBudget | None], dict[str, Any] | None]
CheckFn = Callable[[int, PrivacyBudget], None]


def training_budget(
    log: EventLog, budget: PrivacyBudget, *, preprocess_share: float = 0.1
) -> PrivacyBudget:
    """The part of `budget` left for training once DP preprocessing has its share."""
    delta = budget.resolve_delta(log.n_customers)
    parts = split_budget(log.schema, epsilon=budget.epsilon, delta=delta, share=preprocess_share)
    eps, dlt = parts["training"]
    return replace(budget, epsilon=eps, delta=dlt)


def private_release(
    log: EventLog,
    budget: PrivacyBudget | None,
    *,
    fit: FitFn,
    mechanism: str,
    run_id: str,
    ledger: Ledger | None = None,
    seed: int = 0,
    preprocess_share: float = 0.1,
    profile_share: float = 0.0,
    check: CheckFn | None = None,
) -> dict[str, Any]:
    """Run `fit` under `budget` with ledger accounting; return the composite privacy record.

    `check(n_customers, training_budget)` refuses a budget the training cannot reach
    (no noise multiplier gets there) before anything is reserved: a run is charged only
    what it could have spent."""
    ledger = ledger or Ledger()
    fp = log.fingerprint()
    if budget is not None and log.schema.undeclared() and not isinstance(log, EventLog):
        raise ConfigError(
            f"schema '{log.schema.name}' leaves {log.schema.undeclared()} undeclared, and "
            "estimating them under DP needs the whole log in memory, which a partitioned "
            "dataset read in chunks is not; declare the domains in the schema (they are then "
            "public and cost no budget), or read the log whole with EventLog.read"
        )
    if budget is not None and check is not None:
        check(log.n_customers, training_budget(log, budget, preprocess_share=preprocess_share))
    if budget is None:
        if log.schema.undeclared():
            raise ConfigError(
                f"schema '{log.schema.name}' leaves {log.schema.undeclared()} undeclared; a "
                "non-private run cannot estimate them. Declare the domains in the schema, or "
                "train with --epsilon so they are estimated under DP"
            )
        with ledger.reservation(
            fp,
            epsilon=math.inf,
            delta=0.0,
            mechanism=f"non-private/{mechanism.split('/')[-1]}",
            run_id=run_id,
        ) as r:
            fit(log, None)
            r.commit()
        return {"dp": False, "dataset_fingerprint": fp, "epsilon": math.inf, "delta": 0.0}
    delta = budget.resolve_delta(log.n_customers)
    parts = split_budget(log.schema, epsilon=budget.epsilon, delta=delta, share=preprocess_share)
    (pre_eps, pre_delta), (train_eps, train_delta) = parts["preprocessing"], parts["training"]
    part_dicts = {
        k: {
            "epsilon": e,
            "delta": d,
            "mechanism": "dp-preprocess" if k == "preprocessing" else mechanism,
        }
        for k, (e, d) in parts.items()
    }
    if profile_share > 0:  # the generator releases its journey profile from its training part
        part_dicts["profile"] = {
            "epsilon": train_eps * profile_share,
            "delta": 0.0,
            "mechanism": "gaussian/profile (rdp-composed with training)",
        }
        part_dicts["training"]["epsilon"] = train_eps * (1 - profile_share)
    with ledger.reservation(
        fp,
        epsilon=budget.epsilon,
        delta=delta,
        mechanism=mechanism,
        run_id=run_id,
        parts=part_dicts,
    ) as r:
        pre_record, train_log = None, log
        if pre_eps > 0:
            pre = dp_complete_schema(log, epsilon=pre_eps, delta=pre_delta, seed=seed)
            train_log, report = conform(log, pre.schema)
            pre_record = {**pre.record, "conform": report.to_dict()}
        train_budget = replace(budget, epsilon=train_eps, delta=train_delta)
        training = dict(fit(train_log, train_budget) or {})
        profile = training.pop("profile", None)
        spent_eps = (pre_record["epsilon"] if pre_record else 0.0) + training.get("epsilon", 0.0)
        spent_eps += profile["epsilon"] if profile else 0.0
        spent_delta = (pre_record["delta"] if pre_record else 0.0) + training.get("delta", 0.0)
        r.commit(epsilon=spent_eps, delta=spent_delta)
    return {
        "dp": True,
        "unit": "customer",
        "dataset_fingerprint": fp,
        "epsilon": spent_eps,
        "delta": spent_delta,
        "budget": budget.to_dict(),
        "training": training,
        "profile": profile,
        "preprocessing": pre_record,
        "ledger": {"path": str(ledger.path), "release": r.id},
    }
