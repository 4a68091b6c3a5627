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


# --- DP-SGD composed with Gaussian releases (the journey profile) --------------------
# A Gaussian release of L2 sensitivity 1 at noise deviation s has Renyi DP alpha / (2 s^2)
# at every order alpha: several such releases add up to rho * alpha (zero-concentrated
# DP, rho = sum of 1 / (2 s^2)). In Opacus' RDP accountant that is one step of a
# Gaussian mechanism at sampling rate 1 and noise multiplier 1 / sqrt(2 rho), so one
# accountant composes it with the DP-SGD steps, and a reviewer can recompute the total
# from these numbers with Opacus alone.


def gaussian_multiplier(rho: float) -> float:
    """The noise multiplier of one full-batch Gaussian step whose RDP is rho * alpha."""
    if not rho > 0:
        raise ConfigError(f"rho must be > 0, got {rho!r}")
    return 1.0 / math.sqrt(2.0 * rho)


def _rdp_parts(sample_rate: float, noise_multiplier: float, steps: int):
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis import rdp

    orders = RDPAccountant.DEFAULT_ALPHAS
    if steps == 0:
        return rdp, orders, [0.0] * len(orders)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = rdp.compute_rdp(
            q=sample_rate, noise_multiplier=noise_multiplier, steps=steps, orders=orders
        )
    return rdp, orders, base


def _spent(rdp, orders, base, rho: float, delta: float) -> float:
    """Epsilon at `delta` of the RDP curve `base` plus rho * alpha."""
    total = [b + rho * a for b, a in zip(base, orders, strict=True)]
    if not any(total):
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(rdp.get_privacy_spent(orders=orders, rdp=total, delta=delta)[0])


def joint_epsilon(
    *, sample_rate: float, noise_multiplier: float, steps: int, delta: float, rho: float
) -> float:
    """Epsilon (RDP accountant) of `steps` DP-SGD steps and Gaussian releases of total
    rho, composed: the same as Opacus' RDPAccountant with the history
    [(noise_multiplier, sample_rate, steps), (gaussian_multiplier(rho), 1.0, 1)]."""
    _check(sample_rate=sample_rate, steps=steps, delta=delta, accountant="rdp")
    if rho < 0:
        raise ConfigError(f"rho must be >= 0, got {rho!r}")
    return _spent(*_rdp_parts(sample_rate, noise_multiplier, steps), rho, delta)


def gaussian_room(
    *,
    sample_rate: float,
    noise_multiplier: float,
    steps: int,
    delta: float,
    target_epsilon: float,
) -> float:
    """The largest rho (to 0.1%) that Gaussian releases may spend beside these DP-SGD steps
    with the joint epsilon still at most `target_epsilon` (0 when the steps alone reach
    it)."""
    _check(sample_rate=sample_rate, steps=steps, delta=delta, accountant="rdp")
    parts = _rdp_parts(sample_rate, noise_multiplier, steps)

    def eps(rho: float) -> float:
        return _spent(*parts, rho, delta)

    lo, hi = 0.0, float(target_epsilon)  # epsilon >= rho: rho = target overshoots
    if eps(1e-12) > target_epsilon:
        return 0.0
    while hi - lo > 1e-3 * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if eps(mid) <= target_epsilon else (lo, mid)
    return lo


def gaussian_rho(*, epsilon: float, delta: float) -> float:
    """The rho of Gaussian releases that alone reach (epsilon, delta) by the RDP
    conversion (a profile released on its own, without training)."""
    if not epsilon > 0:
        raise ConfigError(f"epsilon must be > 0, got {epsilon!r}")
    return gaussian_room(
        sample_rate=1.0, noise_multiplier=1.0, steps=0, delta=delta, target_epsilon=epsilon
    )
