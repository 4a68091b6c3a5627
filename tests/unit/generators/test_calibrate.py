"""Token shares under DP: the logits of a model that never draws a rare class are moved
until a customer's share of each class is the profile's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

from journeylab import generators
from journeylab.generators.calibrate import calibrate, shares, targets
from journeylab.generators.profile import JourneyProfile
from journeylab.journeys import EventLog, Schema

SCHEMA = Schema.from_dict(TINY_SCHEMA)
TYPES = ["view", "cart", "purchase"]


def toy_model(base: np.ndarray, seed: int = 0):
    """A 'model' that draws event types from softmax(base + bias) with a per-customer
    taste (the model's own say in who gets which type)."""

    def pilot(bias: dict[str, np.ndarray]) -> EventLog:
        rng = np.random.default_rng(seed)
        rows = []
        for c in range(300):
            taste = rng.normal(0, 1, 3)
            logits = base + taste + bias.get("event_type", np.zeros(3))
            p = np.exp(logits - logits.max())
            for k in range(int(rng.integers(2, 12))):
                rows.append(
                    {
                        "customer_id": f"c{c:03d}",
                        "timestamp": pd.Timestamp("2024-02-01") + pd.Timedelta(days=k),
                        "channel": "web",
                        "event_type": TYPES[rng.choice(3, p=p / p.sum())],
                        "amount": 0.0,
                        "segment": "budget",
                    }
                )
        return EventLog.from_frame(pd.DataFrame(rows), SCHEMA)

    return pilot


def test_a_class_the_model_never_draws_gets_its_share():
    pilot = toy_model(np.array([3.0, -9.0, 0.0]))  # carts: about 1 in 20,000 events
    want = {"event_type": np.array([0.6, 0.1, 0.3])}
    before = shares(pilot({}), "event_type", TYPES)
    assert before[1] < 0.01
    bias = calibrate(pilot, want)
    after = shares(pilot({k: np.array(v) for k, v in bias.items()}), "event_type", TYPES)
    assert after == pytest.approx(want["event_type"], abs=0.03)
    assert max(abs(b) for b in bias["event_type"]) <= 8.0


@pytest.mark.parametrize("epsilon", [None, 1e6])
def test_targets_are_the_profiles_shares(epsilon):
    """Exact: the calendar's shares of all events; under DP the profile's own `mix`
    table: shares of each customer's events, averaged over customers."""
    log = EventLog.from_frame(tiny_frame(300, seed=1), SCHEMA)
    prof = JourneyProfile.fit(log, epsilon=epsilon, seed=0, parts=("mix",) if epsilon else ())
    want, free, per_customer = targets(prof, SCHEMA)
    assert per_customer == (epsilon is not None)
    for col in ("channel", "event_type"):
        got = shares(log, col, SCHEMA.column(col).values, per_customer=per_customer)
        assert want[col] == pytest.approx(got, abs=1e-4)
        assert not free[col].any()


def test_a_value_drowned_in_noise_is_left_to_the_model():
    df = tiny_frame(400, seed=4)
    df["channel"] = df["channel"].replace("email", "web")
    df.loc[df.index[::50], "channel"] = "email"  # 2% of events
    df.loc[df["channel"] == "email", "event_type"] = "view"
    log = EventLog.from_frame(df, SCHEMA)
    prof = JourneyProfile.fit(log, epsilon=2.0, seed=0, parts=("mix",))
    want, free, _ = targets(prof, SCHEMA)
    assert free["channel"].tolist() == [False, False, True, False]  # web, app, email, store
    pilot = toy_model(np.array([0.0, 0.0, 0.0]))
    bias = calibrate(
        pilot,
        {"event_type": np.array([0.5, 0.0, 0.3])},
        free={"event_type": np.array([False, True, False])},
    )
    after = shares(pilot({k: np.array(v) for k, v in bias.items()}), "event_type", TYPES)
    assert after[0] == pytest.approx(0.5, abs=0.03) and after[2] == pytest.approx(0.3, abs=0.03)


@pytest.mark.usefixtures("torch_one_thread")
def test_a_dp_vae_is_calibrated_and_keeps_its_bias(tmp_path):
    from journeylab.privacy.budget import PrivacyBudget

    log = EventLog.from_frame(tiny_frame(200, seed=2), SCHEMA)
    small = {"epochs": 1, "d_model": 16, "n_layers": 1, "batch_size": 32, "seed": 0}
    budget = PrivacyBudget(epsilon=200.0)  # enough for the mix table to say something
    gen = generators.create("vae", small).fit(log, privacy=budget)
    bias = gen.profile.logit_bias
    assert set(bias) == {"channel", "event_type"} and gen.profile.mix is not None
    assert len(bias["channel"]) == 4 and any(b != 0 for b in bias["event_type"])
    # the mix table is part of the profile's release, in the ledger's record
    assert "mix" in gen.privacy_record["profile"]["parts"]
    back = generators.load(gen.save(tmp_path / "m"))
    assert back.profile.logit_bias == bias
    assert back.sample(5, seed=1).df.equals(gen.sample(5, seed=1).df)
    off = generators.create("vae", {**small, "calibrate": "off"}).fit(log, privacy=budget)
    assert off.profile.logit_bias is None and off.profile.mix is None
