"""Privacy: budgets, DP-SGD wiring, accounting, ledger, DP preprocessing, audits."""

from privacy.budget import PrivacyBudget, default_delta

__all__ = ["PrivacyBudget", "default_delta"]
