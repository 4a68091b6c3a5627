"""Privacy: budgets, DP-SGD wiring, accounting, ledger, DP preprocessing, audits.

Names are imported on first use (the audits pull in scikit-learn, the card Opacus),
so `journeylab privacy ...` and `import journeylab.privacy` start fast.
"""

from __future__ import annotations

from journeylab.journeys.lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _API)

__all__ = sorted(_API)
