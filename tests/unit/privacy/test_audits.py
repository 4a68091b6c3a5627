"""The audits can fail: a copier leaks on every audit, fresh data from the same source does not."""

from __future__ import annotations

import numpy as np
import pytest

from journeylab.journeys import EventLog, split_by_customer
from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.simulate import simulate
from journeylab.privacy.audit_canary import (
    CanaryConfig,
    canary_audit,
    clopper_pearson,
    epsilon_from_rates,
    epsilon_one_run,
    make_canaries,
)
from journeylab.privacy.audits import AUDITS, CAVEAT, run_audits
from journeylab.privacy.embedding import embed, journey_hashes


def _renamed(log: EventLog, prefix: str) -> EventLog:
    df = log.df.copy()
    df[log.key] = prefix + df[log.key]
    return EventLog.from_frame(df, log.schema)


class Copier:
    """A 'generator' that memorises: it returns its training journeys under new ids."""

    def __init__(self, log: EventLog):
        self.log = log

    def sample(self, n: int, *, seed: int | None = None) -> EventLog:
        return _renamed(self.log.head_customers(n), "copy-")


@pytest.fixture(scope="module")
def split():
    log, _ = simulate(400, seed=0)
    return split_by_customer(log, holdout=0.5, seed=0)


@pytest.fixture(scope="module")
def fresh():
    return simulate(200, seed=1)[0]  # same distribution, no training customer in it


def test_copier_fails_every_audit(split):
    train, holdout = split
    report = run_audits(train, holdout, _renamed(train, "s-"), seed=0)
    m = report.metrics
    assert m["mia_distance_auc"] > 0.9 and m["mia_density_ratio_auc"] > 0.9
    assert m["dcr_share"] > 0.9
    assert m["exact_copy_share"] == 1.0 and m["exact_copy_share_holdout"] == 0.0
    assert report.caveat == CAVEAT and "not covered" in report.to_dict()["caveat"]


def test_fresh_data_passes_every_audit(split, fresh):
    train, holdout = split
    m = run_audits(train, holdout, fresh, seed=0).metrics
    assert abs(m["mia_distance_auc"] - 0.5) < 0.12
    assert abs(m["mia_density_ratio_auc"] - 0.5) < 0.12
    assert abs(m["dcr_share"] - 0.5) < 0.1
    assert m["exact_copy_share"] == 0.0


def test_canary_audit_bounds_the_copier_far_above_zero(split):
    train, _ = split
    r = canary_audit(
        train, Copier, claimed_epsilon=1.0, delta=1e-6, seed=0, config=CanaryConfig(n_canaries=100)
    )
    assert r["epsilon_lower_bound"] > 1.0 and r["epsilon_lower_bound_one_run"] > 1.0
    assert r["epsilon_lower_bound"] > r["claimed_epsilon"]  # the claim is refuted
    assert r["tpr"] > 0.9 and r["fpr"] == 0.0 and r["caveat"] == CAVEAT


def test_canary_audit_gives_fresh_data_a_bound_near_zero(split, fresh):
    train, _ = split
    for seed in range(2):
        r = canary_audit(train, lambda log: fresh, seed=seed, config=CanaryConfig(n_canaries=100))
        assert r["epsilon_lower_bound"] < 0.3 and r["epsilon_lower_bound_one_run"] < 0.3
        assert 30 <= r["n_planted"] <= 70


def test_bounds_are_honest_arithmetic():
    lo, hi = clopper_pearson(50, 50, alpha=0.05)
    assert lo == pytest.approx(0.05 ** (1 / 50)) and hi == 1.0
    assert clopper_pearson(0, 10, alpha=0.05) == pytest.approx((0.0, 1 - 0.05**0.1))
    assert epsilon_from_rates(20, 40, 20, 40, delta=0.0, alpha=0.05) == 0.0
    assert epsilon_from_rates(25, 25, 0, 25, delta=0.0, alpha=0.05) == pytest.approx(
        np.log(0.025 ** (1 / 25) / (1 - 0.025 ** (1 / 25)))
    )
    assert epsilon_one_run(25, 50, alpha=0.05) == 0.0
    assert epsilon_one_run(50, 50, alpha=0.05) == pytest.approx(
        np.log(0.05**0.02 / (1 - 0.05**0.02))
    )


def test_embeddings_ignore_ids_and_share_one_space(split):
    train, holdout = split
    a, b, c = embed([train, _renamed(train, "x-"), holdout])
    assert a.shape == b.shape and a.shape[1] == c.shape[1]
    np.testing.assert_allclose(a, b)
    assert list(journey_hashes(train)) == list(journey_hashes(_renamed(train, "y-")))
    assert np.isfinite(np.vstack([a, c])).all()


def test_canaries_are_valid_rare_journeys(split):
    train, _ = split
    can = make_canaries(train, 20, seed=3)
    assert can.n_customers == 20 and can.schema == train.schema
    assert can.lengths().between(4, 12).all()
    assert not set(can.customers) & set(train.customers)


def test_errors_name_the_choices(split, tiny_log):
    train, holdout = split
    with pytest.raises(ConfigError, match="dcr_share"):
        run_audits(train, holdout, train, audits=["nope"])
    with pytest.raises(DataError, match="both train and holdout"):
        run_audits(train, train, holdout)
    with pytest.raises(ConfigError, match="share one schema"):
        run_audits(train, holdout, tiny_log)
    with pytest.raises(ConfigError, match="n_canaries"):
        CanaryConfig(n_canaries=2)
    assert set(AUDITS) == {"mia_distance", "mia_density_ratio", "dcr_share", "exact_copy_share"}
