"""`PrivacyBudget`: what a DP run may spend, at the level of a whole customer."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from journeylab.journeys.config import strict_from_dict
from journeylab.journeys.errors import ConfigError

ACCOUNTANTS = ("rdp", "prv")


@dataclass(frozen=True)
class PrivacyBudget:
    """Target (epsilon, delta) for customer-level DP.

    epsilon: total budget, > 0.
    delta: failure probability; None means the default for the dataset size,
        `default_delta(n)` (below 1/N). A delta of 1/N or more is refused at fit time.
    max_grad_norm: per-customer clipping bound C.
    accountant: "rdp" (used to calibrate and report) cross-checked with "prv".
    """

    epsilon: float
    delta: float | None = None
    max_grad_norm: float = 1.0
    accountant: str = "rdp"

    def __post_init__(self) -> None:
        p = []
        if not isinstance(self.epsilon, (int, float)) or not 0 < self.epsilon < math.inf:
            p.append(
                f"epsilon must be a finite number > 0, got {self.epsilon!r}; use e.g. "
                "--epsilon 8, or no --epsilon for a non-private run"
            )
        if self.delta is not None and not 0 < self.delta < 1:
            p.append(f"delta must be in (0, 1), got {self.delta!r}")
        if not self.max_grad_norm > 0:
            p.append(f"max_grad_norm must be > 0, got {self.max_grad_norm!r}")
        if self.accountant not in ACCOUNTANTS:
            p.append(f"accountant '{self.accountant}' is not one of {ACCOUNTANTS}")
        if p:
            raise ConfigError("; ".join(p))

    def resolve_delta(self, n_customers: int) -> float:
        """The delta to use for a dataset of `n_customers`; refuses delta >= 1/N."""
        return resolve_delta(self.delta, n_customers)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PrivacyBudget:
        return strict_from_dict(cls, d, what="privacy budget")


def resolve_delta(delta: float | None, n_customers: int) -> float:
    """`delta`, or the default for `n_customers` when None; refuses delta >= 1/N."""
    if n_customers < 1:
        raise ConfigError("cannot set delta for a dataset with no customers")
    if delta is None:
        return default_delta(n_customers)
    if delta >= 1.0 / n_customers:
        raise ConfigError(
            f"delta {delta:g} >= 1/N = {1.0 / n_customers:g} for N={n_customers} "
            f"customers would allow releasing a whole customer; use delta < 1/N, e.g. "
            f"{default_delta(n_customers):g} (the default)"
        )
    return delta


def default_delta(n_customers: int) -> float:
    """Default delta: 1/(10 N), and never above 1e-5."""
    return min(1e-5, 1.0 / (10.0 * n_customers))
