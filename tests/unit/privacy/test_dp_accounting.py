"""Privacy accounting: calibration, reporting, and an independent recomputation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import TINY_SCHEMA, tiny_frame
from scipy.special import gammaln, logsumexp

import journeylab.generators as generators
import journeylab.privacy.accountant as acc
from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError, PrivacyBudgetError
from journeylab.privacy.accountant import cross_check, epsilon_from, noise_multiplier_for
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.dpsgd import plan_dpsgd

THREADS = torch.get_num_threads()


def rdp_sampled_gaussian(q: float, sigma: float, alpha: int) -> float:
    """RDP of one Poisson-subsampled Gaussian step at integer order alpha (Mironov et al.
    2019, eq. for integer orders): log(sum_k C(a,k) (1-q)^(a-k) q^k exp((k^2-k)/(2 s^2)))/(a-1).
    """
    k = np.arange(alpha + 1)
    log_binom = gammaln(alpha + 1) - gammaln(k + 1) - gammaln(alpha - k + 1)
    terms = (
        log_binom + (alpha - k) * math.log1p(-q) + k * math.log(q) + (k * k - k) / (2 * sigma**2)
    )
    return float(logsumexp(terms)) / (alpha - 1)


def independent_epsilon(q: float, sigma: float, steps: int, delta: float) -> float:
    """Epsilon from integer-order RDP with the conversion of Balle et al. 2020 (Thm 21)."""
    best = math.inf
    for a in range(2, 257):
        rdp = steps * rdp_sampled_gaussian(q, sigma, a)
        eps = rdp + math.log1p(-1 / a) - (math.log(delta) + math.log(a)) / (a - 1)
        best = min(best, eps)
    return best


@pytest.mark.parametrize(
    "q, sigma, steps, delta",
    [(0.05, 1.1, 400, 1e-5), (0.27, 1.35, 8, 1e-5), (0.01, 0.8, 3000, 1e-6)],
)
def test_epsilon_matches_an_independent_computation(q, sigma, steps, delta):
    ours = epsilon_from(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta)
    mine = independent_epsilon(q, sigma, steps, delta)
    # integer orders only can be a little looser than opacus' fractional orders, never tighter
    assert mine * 0.95 <= ours <= mine * (1 + 1e-9)


def test_epsilon_after_training_matches_sampling_rate_noise_and_steps():
    torch.set_num_threads(1)  # tiny tensors on a shared machine (restored below)
    try:
        _check_epsilon_after_training()
    finally:
        torch.set_num_threads(THREADS)


def _check_epsilon_after_training():
    log = EventLog.from_frame(tiny_frame(40, seed=3), Schema.from_dict(TINY_SCHEMA))
    gen = generators.create("vae", {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2})
    gen.fit(log, privacy=PrivacyBudget(epsilon=3.0))
    r = gen.privacy_record
    assert r["sample_rate"] == pytest.approx(10 / 40) and r["steps"] == 4
    mine = independent_epsilon(r["sample_rate"], r["noise_multiplier"], r["steps"], r["delta"])
    assert mine * 0.95 <= r["epsilon"] <= mine * (1 + 1e-9)
    assert r["epsilon"] <= 3.0


def test_noise_is_calibrated_to_the_target_over_the_planned_steps():
    sigma = noise_multiplier_for(target_epsilon=2.0, delta=1e-5, sample_rate=0.02, steps=1000)
    eps = epsilon_from(sample_rate=0.02, noise_multiplier=sigma, steps=1000, delta=1e-5)
    assert 1.98 <= eps <= 2.0
    assert (
        epsilon_from(sample_rate=0.02, noise_multiplier=sigma * 0.97, steps=1000, delta=1e-5) > 2.0
    )  # about the least noise that does it


def test_epsilon_grows_with_steps_and_shrinks_with_noise():
    e = [
        epsilon_from(sample_rate=0.1, noise_multiplier=1.0, steps=s, delta=1e-5)
        for s in (0, 10, 100, 1000)
    ]
    assert e[0] == 0 and e == sorted(e) and len(set(e)) == 4
    assert epsilon_from(sample_rate=0.1, noise_multiplier=2.0, steps=100, delta=1e-5) < e[2]


def test_prv_cross_check_agrees_roughly_with_rdp():
    r = cross_check(sample_rate=0.05, noise_multiplier=1.1, steps=400, delta=1e-5)
    assert r["prv_status"] == "ok"
    assert 0.6 * r["epsilon_rdp"] < r["epsilon_prv"] <= r["epsilon_rdp"] * 1.02


def test_prv_failure_is_recorded_not_raised(monkeypatch):
    real = acc.epsilon_from

    def failing(**kw):
        if kw.get("accountant") == "prv":
            raise RuntimeError("Discrete mean differs from continuous mean significantly")
        return real(**kw)

    monkeypatch.setattr(acc, "epsilon_from", failing)
    r = cross_check(sample_rate=0.05, noise_multiplier=1.1, steps=400, delta=1e-5)
    assert r["epsilon_prv"] is None and r["prv_status"].startswith("prv_failed: RuntimeError")
    assert r["epsilon_rdp"] > 0


def test_plan_uses_poisson_rate_and_steps_of_the_config():
    plan = plan_dpsgd(PrivacyBudget(8.0), n_customers=1200, batch_size=64, epochs=10)
    assert plan.sample_rate == pytest.approx(64 / 1200)
    assert plan.steps == round(10 * 1200 / 64)
    assert plan.delta == pytest.approx(1e-5)
    assert (
        epsilon_from(
            sample_rate=plan.sample_rate,
            noise_multiplier=plan.noise_multiplier,
            steps=plan.steps,
            delta=plan.delta,
        )
        <= 8.0
    )
    capped = plan_dpsgd(
        PrivacyBudget(8.0), n_customers=1200, batch_size=64, epochs=10, max_steps=50
    )
    assert capped.steps == 50 and capped.noise_multiplier < plan.noise_multiplier


def test_bad_accounting_input_is_refused():
    with pytest.raises(ConfigError, match="sample_rate"):
        epsilon_from(sample_rate=0, noise_multiplier=1.0, steps=10, delta=1e-5)
    with pytest.raises(ConfigError, match="accountant"):
        epsilon_from(
            sample_rate=0.1, noise_multiplier=1.0, steps=10, delta=1e-5, accountant="moments"
        )
    with pytest.raises(ConfigError, match="1/N"):
        plan_dpsgd(PrivacyBudget(8.0, delta=0.01), n_customers=100, batch_size=10, epochs=1)
    with pytest.raises(PrivacyBudgetError, match="raise epsilon"):
        noise_multiplier_for(target_epsilon=1e-4, delta=1e-5, sample_rate=1.0, steps=100_000)


def test_gaussian_releases_compose_with_dp_sgd_in_one_rdp_accountant():
    """The profile's Gaussian tables (zCDP rho) are one full-batch Gaussian step for
    Opacus' RDP accountant; `gaussian_room` leaves the joint epsilon at the target."""
    from opacus.accountants import RDPAccountant

    q, sigma, steps, delta = 64 / 1071, 2.05, 1505, 1e-5
    alone = acc.epsilon_from(sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta)
    rho = acc.gaussian_room(
        sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta, target_epsilon=8.0
    )
    joint = acc.joint_epsilon(
        sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta, rho=rho
    )
    assert 7.98 < joint <= 8.0 and alone < 6.01
    more = acc.joint_epsilon(
        sample_rate=q, noise_multiplier=sigma, steps=steps, delta=delta, rho=rho * 1.01
    )
    assert more > 8.0
    a = RDPAccountant()
    a.history = [(sigma, q, steps), (acc.gaussian_multiplier(rho), 1.0, 1)]
    assert a.get_epsilon(delta=delta) == pytest.approx(joint, rel=1e-9)
    # composed, the tables get over twice the rho that the 2 left over buy on their own
    assert rho > 2 * acc.gaussian_rho(epsilon=8.0 - alone, delta=delta)
    # a plan that spends it all leaves nothing
    assert (
        acc.gaussian_room(
            sample_rate=q, noise_multiplier=0.3, steps=steps, delta=delta, target_epsilon=8.0
        )
        == 0.0
    )
