"""Privacy accounting for DP-SGD with Poisson sampling: calibrate noise, report epsilon.

The maths lives in Opacus' accountants; this module wraps it in small
keyword-only pure functions so that calibration, reporting and the tests all
compute epsilon the same way from the same three numbers (sampling rate, noise
multiplier, steps):

    sigma = noise_multiplier_for(target_epsilon=8, delta=1e-5, sample_rate=0.05, steps=400)
    eps = epsilon_from(sample_rate=0.05, noise_multiplier=sigma, steps=400, delta=1e-5)

RDP calibrates and reports; PRV is the cross-check. Opacus' PRV accountant
fails numerically for some parameters (its issue #601); `cross_check` records
that as `prv_failed` instead of crashing a finished training run.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from journeylab.journeys.errors import ConfigError, PrivacyBudgetError

ACCOUNTANTS = ("rdp", "prv")


def _check(*, sample_rate: float, steps: int, delta: float, accountant: str) -> None:
    p = []
    if not 0 < sample_rate <= 1:
        p.append(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    if steps < 0:
        p.append(f"steps must be >= 0, got {steps!r}")
    if not 0 < delta < 1:
        p.append(f"delta must be in (0, 1), got {delta!r}")
    if accountant not in ACCOUNTANTS:
        p.append(f"accountant '{accountant}' is not one of {ACCOUNTANTS}")
    if p:
        raise ConfigError("; ".join(p))


def epsilon_from(
    *,
    sample_rate: float,
    noise_multiplier: float,
    steps: int,
    delta: float,
    accountant: str = "rdp",
) -> float:
    """Epsilon spent by `steps` Poisson-subsampled Gaussian steps (a pure function)."""
    _check(sample_rate=sample_rate, steps=steps, delta=delta, accountant=accountant)
    if steps == 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    from opacus.accountants import create_accountant  # imported here: Opacus takes ~2 s

    acc = create_accountant(mechanism=accountant)
    acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # opacus warns about the optimal RDP order at the edges
        return float(acc.get_epsilon(delta=delta))


def noise_multiplier_for(
    *, target_epsilon: float, delta: float, sample_rate: float, steps: int, accountant: str = "rdp"
) -> float:
    """The smallest noise multiplier (to 1%) whose epsilon after `steps` is <= the target."""
    _check(sample_rate=sample_rate, steps=steps, delta=delta, accountant=accountant)
    if steps < 1:
        raise ConfigError(f"cannot calibrate noise for {steps} training steps; train >= 1 step")
    from opacus.accountants.utils import get_noise_multiplier

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sigma = get_noise_multiplier(
                target_epsilon=target_epsilon,
                target_delta=delta,
                sample_rate=sample_rate,
                steps=steps,
                accountant=accountant,
                epsilon_tolerance=0.01,
            )
    except (ValueError, RuntimeError, FloatingPointError) as e:
        raise PrivacyBudgetError(
            f"no noise multiplier reaches epsilon={target_epsilon:g} (delta={delta:g}) over "
            f"{steps} steps at sampling rate {sample_rate:g} with the {accountant} accountant "
            f"({e}); raise epsilon, train fewer epochs or use a smaller batch"
        ) from e
    # get_noise_multiplier returns the upper end of its bisection, whose epsilon is below target
    return float(sigma)


def cross_check(
    *, sample_rate: float, noise_multiplier: float, steps: int, delta: float
) -> dict[str, Any]:
    """Epsilon by RDP and by PRV; a PRV failure is recorded, not raised."""
    out: dict[str, Any] = {
        "epsilon_rdp": epsilon_from(
            sample_rate=sample_rate,
            noise_multiplier=noise_multiplier,
            steps=steps,
            delta=delta,
            accountant="rdp",
        ),
        "epsilon_prv": None,
        "prv_status": "ok",
    }
    try:
        eps = epsilon_from(
            sample_rate=sample_rate,
            noise_multiplier=noise_multiplier,
            steps=steps,
            delta=delta,
            accountant="prv",
        )
        if not math.isfinite(eps):
            raise FloatingPointError(f"PRV returned {eps}")
        out["epsilon_prv"] = eps
    except Exception as e:  # noqa: BLE001 - any numerical failure of PRV is recorded (opacus #601)
        out["prv_status"] = f"prv_failed: {type(e).__name__}: {e}"[:300]
    return out
