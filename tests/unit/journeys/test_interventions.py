"""What-if runs of the simulator: paired arms, interventions that do what they say, and
effects whose direction the simulator's mechanics fix in advance."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from journeylab.journeys import simulate as sim
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.interventions import (
    Intervention,
    StreamDraws,
    effects,
    outcomes,
    simulate_counterfactual,
)
from journeylab.journeys.simulate import simulate

PROMO_DAY = 60


def _truth_hash(truth: pd.DataFrame) -> str:
    rows = pd.util.hash_pandas_object(truth, index=False).to_numpy().tobytes()
    return hashlib.sha256(rows).hexdigest()[:16]


@pytest.mark.parametrize(
    ("kwargs", "log_fp", "truth_fp"),
    [
        # Computed on main (a4007d9) before the what-if hooks existed.
        ({"seed": 3}, "87e3ccd6769d4edf", "63c2f01adbb34728"),
        ({"seed": 5, "clock": "diurnal", "days": 90}, "418c25b1a273379c", "3c5cf638e2c3d713"),
    ],
)
def test_plain_simulate_is_unchanged_by_the_hooks(kwargs, log_fp, truth_fp):
    log, truth = simulate(60, **kwargs)
    assert log.fingerprint() == log_fp
    assert _truth_hash(truth) == truth_fp


def _assert_same_arms(cf) -> None:
    pd.testing.assert_frame_equal(cf.baseline[0].df, cf.intervened[0].df)
    pd.testing.assert_frame_equal(cf.baseline[1], cf.intervened[1])


@pytest.mark.parametrize(
    "noop",
    [
        [],
        [{"kind": "shift_campaign", "days": 0}],
        [{"kind": "promotion", "day": 5, "share": 1e-9}],
        [{"kind": "delay", "event_type": "promo_email", "days": 0}],
        [{"kind": "promotion", "after": {"event_type": "purchase", "days": 3}, "share": 1e-9}],
    ],
)
def test_a_no_op_intervention_gives_identical_arms(noop):
    cf = simulate_counterfactual(80, seed=2, interventions=noop)
    _assert_same_arms(cf)
    assert (effects(cf)["effect"] == 0).all()
    assert (effects(cf)["se"] == 0).all()


def test_same_arguments_same_arms_and_the_baseline_keeps_the_customers():
    promo = [{"kind": "promotion", "day": PROMO_DAY}]
    a = simulate_counterfactual(60, seed=4, interventions=promo)
    b = simulate_counterfactual(60, seed=4, interventions=promo)
    pd.testing.assert_frame_equal(a.intervened[0].df, b.intervened[0].df)
    # the customers are the ones simulate() draws from the same seed
    plain = simulate(60, seed=4)[1]
    cols = ["customer_id", "segment", "region", "age_band", "propensity", "acquired_at"]
    pd.testing.assert_frame_equal(a.baseline[1][cols], plain[cols])


@pytest.fixture(scope="module")
def promo_to_premium():
    iv = Intervention(kind="promotion", day=PROMO_DAY, segment="premium")
    return simulate_counterfactual(300, seed=0, interventions=[iv])


def test_a_promotion_raises_purchases(promo_to_premium):
    eff = effects(promo_to_premium, since_day=PROMO_DAY, within_days=14, segment="premium")
    assert eff.loc["purchase_within", "ci_low"] > 0
    assert eff.loc["purchases", "effect"] > 0
    log = promo_to_premium.intervened[0].df
    day = log["timestamp"] - log["timestamp"].dt.normalize().min()
    new_promos = (log["event_type"] == "promo_email") & (day.dt.days == PROMO_DAY)
    assert set(log.loc[new_promos, "segment"]) == {"premium"}


def test_customers_the_intervention_misses_keep_their_journeys(promo_to_premium):
    base, treated = (arm[0].df for arm in (promo_to_premium.baseline, promo_to_premium.intervened))
    others = base["segment"] != "premium"
    pd.testing.assert_frame_equal(
        base[others].reset_index(drop=True),
        treated[treated["segment"] != "premium"].reset_index(drop=True),
    )
    assert (
        not base[~others]
        .reset_index(drop=True)
        .equals(treated[treated["segment"] == "premium"].reset_index(drop=True))
    )


def test_reached_customers_keep_their_journeys_up_to_the_promotion(promo_to_premium):
    base, treated = (arm[0].df for arm in (promo_to_premium.baseline, promo_to_premium.intervened))
    day = base["timestamp"].dt.normalize().min() + pd.Timedelta(days=PROMO_DAY)
    a, b = base[base["timestamp"] < day], treated[treated["timestamp"] < day]
    assert (a["segment"] == "premium").sum() > 50
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_a_steps_draws_follow_its_own_events_not_the_promo_emails():
    """The key is (events off email, email events since the last): a streak gets fresh
    draws, and the draws realign at the same own-event count."""
    own, streak = np.array([2, 2, 5, 17]), np.array([0, 1, 0, 0])
    one, two = StreamDraws((3,), 4), StreamDraws((3,), 4)
    one.bind(own, streak)
    two.bind(own.copy(), np.zeros(4, dtype=np.int64))
    u, v = one.random(np.arange(4), sim.NEXT), two.random(np.arange(4), sim.NEXT)
    assert u[0] == v[0] and u[2] == v[2] and u[3] == v[3] and u[1] != v[1]
    two.steps[1] = 3  # the next own event after the streak: a fresh key, unlike (2, 1)
    assert two.random(np.array([1]), sim.NEXT)[0] not in (u[1], v[1])


@pytest.mark.parametrize("channel", ["email", "social", "call_centre", "store"])
def test_removing_a_channel_leaves_no_events_of_it(channel):
    cf = simulate_counterfactual(
        150, seed=1, interventions=[{"kind": "remove_channel", "channel": channel}]
    )
    assert (cf.baseline[0].df["channel"] == channel).sum() > 0
    assert (cf.intervened[0].df["channel"] == channel).sum() == 0
    assert cf.intervened[0].n_customers == 150  # everyone is still acquired


def test_removing_email_stops_promotions_and_lowers_purchases():
    cf = simulate_counterfactual(
        300, seed=0, interventions=[{"kind": "remove_channel", "channel": "email"}]
    )
    assert cf.intervened[1]["n_promotions"].sum() == 0
    triggered = {"kind": "promotion", "after": {"event_type": "purchase", "days": 1}}
    ivs = [triggered, {"kind": "remove_channel", "channel": "email"}]
    other = simulate_counterfactual(60, seed=0, interventions=ivs)
    assert other.intervened[1]["n_promotions"].sum() == 0  # a trigger sends no email either
    assert effects(cf).loc["purchases", "ci_high"] < 0


def test_shifting_a_campaign_moves_its_emails():
    shift = Intervention(kind="shift_campaign", campaign=0, days=7)
    cf = simulate_counterfactual(200, seed=3, interventions=[shift])

    def promo_days(arm) -> set[int]:
        df = arm[0].df
        promo = df.loc[df["event_type"] == "promo_email", "timestamp"]
        return set((promo - arm[0].schema.time_start).dt.days)

    assert 14 in promo_days(cf.baseline) and 21 not in promo_days(cf.baseline)
    assert 21 in promo_days(cf.intervened) and 14 not in promo_days(cf.intervened)


def promo_times(arm) -> pd.Series:
    df = arm[0].df
    return df.loc[df["event_type"] == "promo_email", ["customer_id", "timestamp"]]


def test_a_delay_moves_every_promo_email_of_the_segment_by_its_days():
    delay = {"kind": "delay", "event_type": "promo_email", "days": 5, "segment": "budget"}
    cf = simulate_counterfactual(200, seed=3, interventions=[delay])
    setup = sim._setup(200, seed=3, start="2024-01-01", days=180, clock="uniform")
    planned = {  # customer -> the campaign receipts drawn for them, in seconds
        f"c{i:05d}": set(row[row != sim.NEVER]) for i, row in enumerate(setup.cust["promo_at"])
    }
    seg = cf.baseline[1].set_index("customer_id")["segment"]
    t0 = cf.baseline[0].schema.time_start
    for arm, shift in ((cf.baseline, 0), (cf.intervened, 5)):
        got = promo_times(arm)
        secs = (got.timestamp - t0).dt.total_seconds().astype(int)
        days = got.customer_id.map(seg).eq("budget") * shift
        rows = zip(got.customer_id, secs, days, strict=True)
        # each promo email is a planned receipt, 5 days late for the budget customers
        assert all(s - d * sim.DAY in planned[c] for c, s, d in rows)
    logs = (cf.baseline[0].df, cf.intervened[0].df)
    others = [df[df.customer_id.map(seg).ne("budget")].reset_index(drop=True) for df in logs]
    pd.testing.assert_frame_equal(*others)  # the other segments are untouched


def test_a_promotion_after_a_trigger_comes_days_after_the_first_such_event():
    iv = {"kind": "promotion", "after": {"event_type": "purchase", "days": 7}}
    cf = simulate_counterfactual(150, seed=1, interventions=[iv])
    df = cf.intervened[0].df
    first = df[df.event_type == "purchase"].groupby("customer_id").timestamp.min()
    due = first + pd.Timedelta(days=7)
    last = df.groupby("customer_id").timestamp.max().reindex(due.index)
    promos = set(map(tuple, promo_times(cf.intervened).to_numpy()))
    reached = [c for c in due.index if last[c] >= due[c]]  # their journey went on that long
    assert len(reached) > 20
    assert all((c, due[c]) in promos for c in reached)
    never = set(cf.baseline[1].customer_id) - set(first.index)  # no purchase: untouched
    base = cf.baseline[0].df
    pd.testing.assert_frame_equal(
        base[base.customer_id.isin(never)].reset_index(drop=True),
        df[df.customer_id.isin(never)].reset_index(drop=True),
    )
    assert effects(cf).loc["purchases", "effect"] > 0


def test_set_context_moves_the_segment_and_its_latents():
    iv = {"kind": "set_context", "column": "segment", "value": "premium", "segment": "budget"}
    cf = simulate_counterfactual(120, seed=0, interventions=[iv])
    base, treated = cf.baseline[1], cf.intervened[1]
    was_budget = base["segment"] == "budget"
    assert (treated.loc[was_budget, "segment"] == "premium").all()
    np.testing.assert_allclose(treated["propensity"] - base["propensity"], 1.2 * was_budget)
    assert (treated.loc[was_budget, "churn_hazard"] < base.loc[was_budget, "churn_hazard"]).all()
    pd.testing.assert_frame_equal(base[~was_budget], treated[~was_budget])


def test_common_random_numbers_shrink_the_variance_of_the_effect():
    promo = [{"kind": "promotion", "day": PROMO_DAY, "segment": "premium"}]
    est = {True: [], False: []}
    for seed in range(8):
        for paired in est:
            cf = simulate_counterfactual(100, seed=seed, interventions=promo, paired=paired)
            est[paired].append(effects(cf, since_day=PROMO_DAY).loc["purchases", "effect"])
    ratio = np.var(est[False], ddof=1) / np.var(est[True], ddof=1)
    assert ratio > 5, est


def test_independent_arms_have_their_own_customers():
    cf = simulate_counterfactual(50, seed=0, paired=False)
    assert not cf.paired
    assert not np.allclose(cf.baseline[1]["propensity"], cf.intervened[1]["propensity"])


def test_outcomes_count_purchases_in_the_window():
    log, truth = simulate(40, seed=0)
    out = outcomes(log, truth, since_day=0, within_days=180)
    np.testing.assert_array_equal(out["purchase_within"], truth["n_purchases"] > 0)
    assert list(out.index) == list(truth["customer_id"])


def test_to_dict_round_trips():
    iv = Intervention(kind="promotion", day=30, segment="budget", share=0.5)
    assert iv.to_dict() == {"kind": "promotion", "day": 30, "segment": "budget", "share": 0.5}
    assert Intervention.from_dict(iv.to_dict()) == iv


@pytest.mark.parametrize(
    ("d", "match"),
    [
        ({"kind": "promotion", "dya": 3}, r"unknown key\(s\) \['dya'\]"),
        ({"kind": "discount"}, "unknown kind 'discount'; choose one of"),
        ({"kind": "promotion"}, "promotion needs exactly one of 'day' or 'after'"),
        ({"kind": "remove_channel", "channel": "email", "day": 3}, "'day' does not apply"),
        ({"kind": "remove_channel", "channel": "web"}, "web and app carry every browsing"),
        ({"kind": "promotion", "day": 3, "share": 1.5}, r"'share' 1.5 must be in \(0, 1\]"),
        ({"kind": "promotion", "day": 3, "segment": "gold"}, "segment 'gold' is unknown"),
        ({"kind": "set_context", "column": "region", "value": "mars"}, "region 'mars' is unknown"),
        ({"kind": "shift_campaign", "days": 1.5}, "'days' must be a whole number"),
        ({"kind": "promotion", "day": "3"}, "'day' must be a whole number of days .* got '3'"),
        ({"kind": "promotion", "day": -1}, "'day' -1 is before the window; use 0 or later"),
        ({"kind": "delay", "event_type": "purchase", "days": 2}, "'purchase' cannot be delayed"),
        ({"kind": "delay", "event_type": "promo_email", "days": -2}, "must be >= 0 \\(a delay\\)"),
        (
            {"kind": "promotion", "day": 3, "after": {"event_type": "purchase", "days": 1}},
            "exactly one of 'day' or 'after'",
        ),
        ({"kind": "promotion", "after": {"event_type": "buy"}}, "mapping with event_type and days"),
        (
            {"kind": "promotion", "after": {"event_type": "buy", "days": 1}},
            "after: event_type 'buy' is not one of",
        ),
    ],
)
def test_bad_interventions_name_the_problem_and_the_fix(d, match):
    with pytest.raises(ConfigError, match=match):
        Intervention.from_dict(d)


@pytest.mark.parametrize(
    ("ivs", "match"),
    [
        ([{"kind": "promotion", "day": 200}], "not inside the 180-day window; use a day from 0"),
        ([{"kind": "shift_campaign", "days": 3, "campaign": 9}], "campaign 9 does not exist"),
        (
            [{"kind": "remove_channel", "channel": c} for c in ("email", "social")],
            "no way to acquire customers",
        ),
    ],
)
def test_interventions_that_do_not_fit_the_window_are_refused(ivs, match):
    with pytest.raises(ConfigError, match=match):
        simulate_counterfactual(10, seed=0, interventions=ivs)


def test_effects_refuses_bad_arguments():
    cf = simulate_counterfactual(10, seed=0)
    with pytest.raises(ConfigError, match="within_days 0 must be .* >= 1.*level 2.0 must be"):
        effects(cf, within_days=0, level=2.0)
