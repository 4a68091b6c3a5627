"""Privacy: budgets, DP-SGD wiring, accounting, ledger, DP preprocessing, audits."""

from journeylab.privacy.budget import PrivacyBudget, default_delta
from journeylab.privacy.card import PrivacyCard, recompute_epsilon
from journeylab.privacy.ledger import Ledger
from journeylab.privacy.preprocess import conform, dp_complete_schema

_LAZY = {
    "run_audits": "journeylab.privacy.audits",
    "canary_audit": "journeylab.privacy.audit_canary",
}


def __getattr__(name: str):
    # The audits pull in scikit-learn: loaded on first use, not on `import privacy`.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'privacy' has no attribute '{name}'")


__all__ = [
    "Ledger",
    "PrivacyBudget",
    "PrivacyCard",
    "canary_audit",
    "conform",
    "default_delta",
    "dp_complete_schema",
    "recompute_epsilon",
    "run_audits",
]
