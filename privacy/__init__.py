"""Privacy: budgets, DP-SGD wiring, accounting, ledger, DP preprocessing, audits.

Names are imported on first use (the audits pull in scikit-learn, the card Opacus),
so `journeylab privacy ...` and `import journeylab.privacy` start fast.
"""

from __future__ import annotations

import importlib

_API = {
    "PrivacyBudget": "journeylab.privacy.budget",
    "default_delta": "journeylab.privacy.budget",
    "PrivacyCard": "journeylab.privacy.card",
    "recompute_epsilon": "journeylab.privacy.card",
    "Ledger": "journeylab.privacy.ledger",
    "conform": "journeylab.privacy.preprocess",
    "dp_complete_schema": "journeylab.privacy.preprocess",
    "run_audits": "journeylab.privacy.audits",
    "canary_audit": "journeylab.privacy.audit_canary",
}


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'journeylab.privacy' has no attribute '{name}'")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = sorted(_API)
