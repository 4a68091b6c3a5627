"""The privacy card: recomputing epsilon from the card's numbers matches the card."""

from __future__ import annotations

import base64
import copy
import math

import pytest
from conftest import TINY_SCHEMA, tiny_frame
from opacus.accountants import RDPAccountant

from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.card import PrivacyCard, card_numbers, epsilon_curve, recompute_epsilon
from journeylab.privacy.dpsgd import DPSpend, plan_dpsgd
from journeylab.privacy.preprocess import PreprocessConfig, dp_complete_schema

RECORD_BAD = {
    "dp": True,
    "epsilon": 0.5,
    "delta": 1e-5,
    "noise_multiplier": 0.8,
    "sample_rate": 0.1,
    "steps": 500,
}  # claims far less than these numbers give


@pytest.fixture(scope="module")
def training_record():
    """A genuine DP-SGD record (DPSpend), as a generator stores it, without training."""
    plan = plan_dpsgd(PrivacyBudget(epsilon=2.0), n_customers=1000, batch_size=50, epochs=3)
    spend = DPSpend(plan)
    for _ in range(plan.steps):
        spend.step()
        if spend.steps % 20 == 0:
            spend.mark()
    return spend.record(epochs=3, private_modules=["decoder", "encoder"])


def _preprocessing():
    d = copy.deepcopy(TINY_SCHEMA)
    d["events"]["channel"]["values"] = None
    d["max_length"] = None
    log = EventLog.from_frame(tiny_frame(200, seed=0), Schema.from_dict(d))
    return dp_complete_schema(
        log, epsilon=20.0, delta=1e-7, seed=0, config=PreprocessConfig(tail=0.05)
    ).record


def test_recomputing_from_the_card_matches_the_card(training_record):
    pre = _preprocessing()
    card = PrivacyCard.from_record(
        {
            "training": training_record,
            "preprocessing": pre,
            "run_id": "r1",
            "dataset_fingerprint": "abc123",
            "generator": "vae",
        }
    )
    numbers = card_numbers(card.markdown)  # what a reviewer reads off the card
    assert card.consistent and "matches the recorded total" in card.markdown
    assert numbers == card.numbers
    assert recompute_epsilon(numbers) == pytest.approx(numbers["epsilon_total"], rel=1e-12)
    assert numbers["epsilon_total"] == pytest.approx(training_record["epsilon"] + 20.0)
    assert numbers["delta_total"] == pytest.approx(training_record["delta"] + 1e-7)
    # independently, straight from Opacus
    t = numbers["training"]
    acc = RDPAccountant()
    acc.history = [(t["noise_multiplier"], t["sample_rate"], t["steps"])]
    assert acc.get_epsilon(delta=t["delta"]) == pytest.approx(training_record["epsilon"], rel=1e-12)
    assert t["epsilon"] <= 2.0 + 1e-9  # the target held


def test_card_shows_what_a_reviewer_needs(training_record, tmp_path):
    audits = {
        "metrics": {"mia_distance_auc": 0.51, "dcr_share": 0.49},
        "canary": {
            "claimed_epsilon": 2.0,
            "epsilon_lower_bound": 0.0,
            "epsilon_lower_bound_one_run": 0.0,
        },
    }
    card = PrivacyCard.from_record(
        {
            "training": training_record,
            "audits": audits,
            "dataset_fingerprint": "abc123",
            "run_id": "r2",
            "ledger": {"spent_epsilon": 5.0, "cap_epsilon": 10.0},
        }
    )
    md, page = card.markdown, card.html
    for text in (
        "abc123",
        "one customer",
        "noise multiplier",
        "clipping bound C",
        "sampling rate q",
        "steps",
        "not covered by the differential-privacy",
        "mia_distance_auc",
        "empirical epsilon lower bound",
        "spent_epsilon",
    ):
        assert text in md, text
        assert text in page, text
    png = page.split("data:image/png;base64,")[1].split("'")[0]
    assert base64.b64decode(png)[:4] == b"\x89PNG"
    written = card.write(tmp_path / "card")
    assert {p.name for p in written.iterdir()} == {
        "card.md",
        "card.html",
        "card_numbers.json",
        "epsilon_over_steps.png",
    }


def test_epsilon_curve_ends_at_the_recorded_epsilon(training_record):
    t = training_record
    xs, ys = epsilon_curve(
        noise_multiplier=t["noise_multiplier"],
        sample_rate=t["sample_rate"],
        steps=t["steps"],
        delta=t["delta"],
    )
    assert xs[-1] == t["steps"] and ys[-1] == pytest.approx(t["epsilon"], rel=1e-9)
    assert all(a <= b for a, b in zip(ys, ys[1:], strict=False))


def test_non_private_run_says_so():
    card = PrivacyCard.from_record({"dp": False})
    assert math.isinf(card.numbers["epsilon_total"]) and card.plot_png is None
    assert "infinite (no DP)" in card.markdown
    assert math.isinf(recompute_epsilon(card_numbers(card.markdown)))
    forged = PrivacyCard.from_record({**RECORD_BAD})
    assert not forged.consistent and "DOES NOT match" in forged.markdown
    with pytest.raises(ConfigError, match="noise_multiplier"):
        PrivacyCard.from_record({"dp": True, "epsilon": 1.0})
