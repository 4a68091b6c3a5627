"""The epsilon calculator gives the accountant's answer for the fit's own sampling rate and
steps, and its reverse is the noise a fit would calibrate."""

from __future__ import annotations

import pytest

from journeylab.journeys.errors import ConfigError, PrivacyBudgetError
from journeylab.privacy.accountant import epsilon_from
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.calculator import epsilon_for, noise_for
from journeylab.privacy.dpsgd import plan_dpsgd


def test_epsilon_is_the_accountants_for_the_fits_rate_and_steps():
    est = epsilon_for(epochs=10, batch_size=64, noise_multiplier=1.1, n_customers=1200)
    q = 64 / 1200
    assert est.sample_rate == pytest.approx(q) and est.steps == round(10 / q) == 188
    assert est.delta == 1e-5  # the default for 1,200 customers
    direct = epsilon_from(sample_rate=q, noise_multiplier=1.1, steps=188, delta=1e-5)
    assert est.epsilon == pytest.approx(direct, rel=1e-12)
    assert 1 < est.epsilon < 10


def test_epsilon_grows_with_epochs_and_batch_and_shrinks_with_noise():
    base = dict(epochs=5, batch_size=50, noise_multiplier=1.0, n_customers=1000, delta=1e-5)
    eps = epsilon_for(**base).epsilon
    assert epsilon_for(**{**base, "epochs": 10}).epsilon > eps
    assert epsilon_for(**{**base, "batch_size": 200}).epsilon > eps
    assert epsilon_for(**{**base, "noise_multiplier": 2.0}).epsilon < eps


def test_noise_for_a_target_is_what_a_fit_calibrates():
    est = noise_for(target_epsilon=4, epochs=3, batch_size=20, n_customers=500, delta=1e-4)
    plan = plan_dpsgd(PrivacyBudget(4, delta=1e-4), n_customers=500, batch_size=20, epochs=3)
    assert est.noise_multiplier == plan.noise_multiplier and est.steps == plan.steps
    assert 4 * 0.98 <= est.epsilon <= 4  # calibrated to 1%, never above the target


def test_bad_input_is_refused_with_the_fix():
    ok = dict(epochs=1, batch_size=10, n_customers=100)
    with pytest.raises(ConfigError, match="noise multiplier must be > 0"):
        epsilon_for(noise_multiplier=0, **ok)
    with pytest.raises(ConfigError, match="would allow releasing a whole customer"):
        epsilon_for(noise_multiplier=1.0, delta=0.01, **ok)
    with pytest.raises(ConfigError, match="customers must be >= 1"):
        epsilon_for(noise_multiplier=1.0, epochs=1, batch_size=10, n_customers=0)
    with pytest.raises(ConfigError, match="batch_size"):
        epsilon_for(noise_multiplier=1.0, epochs=1, batch_size=0, n_customers=100)
    with pytest.raises(PrivacyBudgetError, match="raise epsilon"):
        noise_for(target_epsilon=1e-4, epochs=1000, batch_size=100, n_customers=100)
