"""The epsilon calculator: what a DP-SGD training spends, worked out before training.

    est = epsilon_for(epochs=10, batch_size=64, noise_multiplier=1.1, n_customers=1200)
    est.epsilon, est.steps, est.sample_rate
    noise_for(target_epsilon=8, epochs=10, batch_size=64, n_customers=1200).noise_multiplier

The same numbers a fit uses: sampling rate and steps from `dpsgd.sampling` (Poisson
sampling over customers), delta from `budget.resolve_delta` (default below 1/N, 1/N or
more refused), epsilon from `accountant.epsilon_from`; the reverse is `dpsgd.plan_dpsgd`,
which is how a fit calibrates its noise. It covers DP-SGD training only: a fit whose
schema leaves domains undeclared, or that releases a journey profile, spends a share of
its total on those first (its privacy card shows the split).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from journeylab.journeys.errors import ConfigError
from journeylab.privacy.accountant import epsilon_from
from journeylab.privacy.budget import PrivacyBudget, resolve_delta
from journeylab.privacy.dpsgd import plan_dpsgd, sampling


@dataclass(frozen=True)
class Estimate:
    """One DP-SGD training's privacy: (epsilon, delta) and the numbers that fix it."""

    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    expected_batch_size: float
    n_customers: int
    accountant: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def epsilon_for(
    *,
    epochs: int,
    batch_size: int,
    noise_multiplier: float,
    n_customers: int,
    delta: float | None = None,
    accountant: str = "rdp",
) -> Estimate:
    """Epsilon of `epochs` of DP-SGD at this noise (delta None: the default for N)."""
    if not noise_multiplier > 0:
        raise ConfigError(
            f"noise multiplier must be > 0, got {noise_multiplier!r}; without noise there "
            "is no differential privacy (epsilon is infinite)"
        )
    q, steps = sampling(n_customers=n_customers, batch_size=batch_size, epochs=epochs)
    d = resolve_delta(delta, n_customers)
    eps = epsilon_from(
        sample_rate=q,
        noise_multiplier=noise_multiplier,
        steps=steps,
        delta=d,
        accountant=accountant,
    )
    return Estimate(
        eps, d, float(noise_multiplier), q, steps, q * n_customers, n_customers, accountant
    )


def noise_for(
    *,
    target_epsilon: float,
    epochs: int,
    batch_size: int,
    n_customers: int,
    delta: float | None = None,
    accountant: str = "rdp",
) -> Estimate:
    """The noise a fit would calibrate to reach `target_epsilon` (PrivacyBudgetError when
    no noise multiplier gets there), with the epsilon it actually spends (<= target)."""
    budget = PrivacyBudget(epsilon=target_epsilon, delta=delta, accountant=accountant)
    plan = plan_dpsgd(budget, n_customers=n_customers, batch_size=batch_size, epochs=epochs)
    return epsilon_for(
        epochs=epochs,
        batch_size=batch_size,
        noise_multiplier=plan.noise_multiplier,
        n_customers=n_customers,
        delta=plan.delta,
        accountant=accountant,
    )
