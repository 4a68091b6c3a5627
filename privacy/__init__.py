"""Privacy: budgets, DP-SGD wiring, accounting, ledger, DP preprocessing, audits."""

from privacy.budget import PrivacyBudget, default_delta
from privacy.card import PrivacyCard, recompute_epsilon
from privacy.ledger import Ledger
from privacy.preprocess import conform, dp_complete_schema

_LAZY = {"run_audits": "privacy.audits", "canary_audit": "privacy.audit_canary"}


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
