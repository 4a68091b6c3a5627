"""Scenarios with a tiny VAE on simulator journeys: paired arms, interventions, refusals."""

from __future__ import annotations

import pandas as pd
import pytest

from journeylab.generators import create
from journeylab.generators.scenario import ModelIntervention, Scenario
from journeylab.generators.scenario_run import (
    banned,
    cut,
    intervene,
    population_log,
    run_scenario,
)
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.interventions import Intervention
from journeylab.journeys.simulate import simulate

OUTCOMES = {"since_day": 60, "within_days": 30}
TINY_VAE = {"epochs": 1, "batch_size": 20, "d_model": 16, "n_layers": 2, "latent_dim": 4}

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def gen():
    return create("vae", TINY_VAE).fit(simulate(40, seed=1)[0])


def scenario(interventions, **population) -> Scenario:
    pop = {"simulate": 40, "before_day": 60, **population}
    return Scenario.from_dict(
        {
            "name": "t",
            "population": pop,
            "interventions": interventions,
            "outcomes": {"since_day": 60, "within_days": 30},
        }
    )


def test_a_no_op_intervention_gives_identical_arms_and_zero_effect(gen):
    noop = [{"kind": "set_context", "column": "segment", "value": "premium"}]
    res = run_scenario(gen, scenario(noop, where={"segment": "premium"}), seed=4)
    pd.testing.assert_frame_equal(res.arms[0].df, res.arms[1].df)
    assert (res.effects["effect"] == 0).all() and (res.effects["se"] == 0).all()


def test_a_promotion_adds_one_promo_on_its_day_to_its_segment_only(gen):
    res = run_scenario(gen, scenario([{"kind": "promotion", "day": 60, "segment": "budget"}]))
    base, treated = (a.df for a in res.arms)
    day = pd.Timestamp("2024-03-01")  # day 60 of the window
    promo = (treated["event_type"] == "promo_email") & treated["timestamp"].between(
        day, day + pd.Timedelta(hours=12)
    )
    got = treated.loc[promo, ["customer_id", "segment"]]
    assert len(got) > 0 and (got["segment"] == "budget").all()
    # the intervention adds exactly one (the continuation may draw more of its own)
    ivs = (ModelIntervention.from_dict({"kind": "promotion", "day": 60, "segment": "budget"}),)
    prefixes = cut(simulate(40, seed=0)[0], 60)
    added = intervene(prefixes, ivs, seed=0).df.merge(prefixes.df, how="left", indicator=True)
    added = added[added["_merge"] == "left_only"]
    assert (added["event_type"] == "promo_email").all() and (added["segment"] == "budget").all()
    assert not added["customer_id"].duplicated().any() and len(added) > 0
    # everyone outside the segment: the same journey in both arms (common random numbers)
    others = base.loc[base["segment"] != "budget", "customer_id"].unique()
    a = base[base["customer_id"].isin(others)].reset_index(drop=True)
    b = treated[treated["customer_id"].isin(others)].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_arms_agree_until_an_inserted_promotion_and_continue_after_the_cut(gen):
    ivs = [{"kind": "promotion", "day": 60, "segment": "budget"}]
    sc = scenario(ivs)
    res = run_scenario(gen, sc, seed=2)
    prefixes = cut(population_log(gen, sc, seed=2, base_dir=".")[0], 60)
    added = intervene(prefixes, sc.interventions, seed=2).df.merge(
        prefixes.df, how="left", indicator=True
    )
    at = added[added["_merge"] == "left_only"].set_index("customer_id")["timestamp"]
    assert len(at) > 3
    day = pd.Timestamp("2024-03-01")
    for arm in res.arms:  # nothing new before the cut: the prefixes are whole up to it
        new = arm.df.merge(prefixes.df, how="left", indicator=True)["_merge"] == "left_only"
        assert (arm.df.loc[new.to_numpy(), "timestamp"] >= day).all()
    base, treated = (a.df for a in res.arms)
    for cid, t in at.items():
        a = base[(base["customer_id"] == cid) & (base["timestamp"] < t)].reset_index(drop=True)
        b = treated[(treated["customer_id"] == cid) & (treated["timestamp"] < t)]
        pd.testing.assert_frame_equal(a, b.reset_index(drop=True))


def test_removing_a_channel_removes_it_from_prefix_and_continuation(gen):
    res = run_scenario(gen, scenario([{"kind": "remove_channel", "channel": "email"}]), seed=1)
    assert (res.arms[1].df["channel"] != "email").all()
    assert not res.arms[1].df["event_type"].isin(["email_open", "promo_email"]).any()
    assert res.arms[0].n_customers == res.arms[1].n_customers == res.customers
    assert 0 <= res.pattern_share["0:remove_channel"] <= 1


def test_set_context_changes_the_targeted_customers_and_truth_is_reported(gen):
    ivs = [{"kind": "set_context", "column": "segment", "value": "premium"}]
    sc = scenario(ivs, where={"segment": "budget"})
    sc = Scenario.from_dict({**_as_dict(sc), "truth": True})
    res = run_scenario(gen, sc, seed=2)
    assert (res.arms[1].df["segment"] == "premium").all()
    assert (res.arms[0].df["segment"] == "budget").all()
    assert list(res.truth.index) == list(res.effects.index)
    assert res.truth["n"].iloc[0] == res.customers


def _as_dict(sc: Scenario) -> dict:
    return {
        "name": sc.name,
        "population": {"simulate": 40, "before_day": 60, "where": sc.population.where},
        "interventions": [iv.to_dict() for iv in sc.interventions],
        "outcomes": {"since_day": 60, "within_days": 30},
    }


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"interventions": [{"kind": "shift_campaign", "days": -14}]}, "cannot move a campaign"),
        ({"population": {"simulate": 40, "log": "x.parquet"}}, "exactly one of log, simulate"),
        ({"population": {"log": "x.parquet"}, "truth": True}, "truth needs population.simulate"),
        ({"interventions": [{"kind": "promotion", "day": -3}]}, r"'day' -3 must be"),
        ({"outcomes": {"within": 3}}, "within"),
        ({"colour": "red"}, "colour"),
        (
            {"interventions": [{"kind": "delay", "event_type": "purchase", "days": -1}]},
            r"'days' -1 must be a whole number of days >= 0",
        ),
        (
            {"interventions": [{"kind": "insert_event", "values": {"channel": "web"}}]},
            "insert_event needs exactly one of 'day' or 'after'",
        ),
    ],
)
def test_bad_scenarios_are_refused_naming_the_problem(change, match):
    d = {
        "name": "t",
        "population": {"simulate": 40},
        "interventions": [{"kind": "promotion", "day": 60}],
        **change,
    }
    with pytest.raises(ConfigError, match=match):
        Scenario.from_dict(d)


def test_an_intervention_on_values_outside_the_schema_is_refused(gen):
    bad = [{"kind": "insert_event", "day": 60, "values": {"channel": "fax"}}]
    with pytest.raises(ConfigError, match=r"channel 'fax' is not in its domain"):
        run_scenario(gen, scenario(bad))


def test_values_seen_only_on_a_removed_channel_are_banned_with_it():
    log, _ = simulate(40, seed=3)
    got = banned(log, ["email"])
    assert got["channel"] == ["email"]
    assert set(got["event_type"]) == {"email_open", "promo_email"}
    assert banned(log, []) == {}


def test_a_population_log_is_real_by_default_and_read_beside_the_scenario(gen, tmp_path):
    simulate(30, seed=6)[0].write(tmp_path / "people.parquet")
    d = {
        "name": "t",
        "population": {"log": "people.parquet", "before_day": 60},
        "interventions": [{"kind": "promotion", "day": 60}],
    }
    res = run_scenario(gen, Scenario.from_dict(d), seed=0, base_dir=tmp_path)
    assert res.prefix_source == "real" and res.truth is None
    assert res.customers + res.left_out == 30
    synthetic = {**d, "population": {**d["population"], "source": "synthetic"}}
    assert Scenario.from_dict(synthetic).population.prefix_source == "synthetic"


def test_a_delay_of_zero_days_gives_identical_arms(gen):
    zero = [{"kind": "delay", "event_type": "page_view", "days": 0}]
    res = run_scenario(gen, scenario(zero), seed=3)
    pd.testing.assert_frame_equal(res.arms[0].df, res.arms[1].df)
    assert (res.effects["effect"] == 0).all()


@pytest.fixture(scope="module")
def prefixes():
    return cut(simulate(60, seed=5)[0], 60)


def test_a_delay_moves_exactly_the_events_of_its_type_for_its_customers(prefixes):
    iv = {"kind": "delay", "event_type": "page_view", "days": 3, "where": {"segment": "premium"}}
    out = intervene(prefixes, (ModelIntervention.from_dict(iv),), seed=0).df
    before = prefixes.df
    moved = (before["event_type"] == "page_view") & (before["segment"] == "premium")
    assert moved.sum() > 5
    key = ["customer_id", "event_type", "channel", "timestamp"]
    want = before.assign(timestamp=before["timestamp"] + moved * pd.Timedelta(days=3))[key]
    got = out[key]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True), want.sort_values(key).reset_index(drop=True)
    )


def test_an_event_after_a_trigger_comes_days_after_the_first_such_event(prefixes):
    after = {"event_type": "purchase", "days": 2}
    iv = {"kind": "insert_event", "after": after, "values": {"channel": "email"}}
    iv["values"]["event_type"] = "promo_email"
    out = intervene(prefixes, (ModelIntervention.from_dict(iv),), seed=0).df
    before = prefixes.df
    first = before[before["event_type"] == "purchase"].groupby("customer_id")["timestamp"].min()
    added = out.merge(before, how="left", indicator=True).query("_merge == 'left_only'")
    assert len(first) > 5
    assert (
        added.set_index("customer_id")["timestamp"]
        .sort_index()
        .equals((first + pd.Timedelta(days=2)).rename("timestamp").sort_index())
    )
    assert (added["event_type"] == "promo_email").all() and (added["channel"] == "email").all()


def test_delay_and_trigger_have_the_simulators_version():
    delay = {"kind": "delay", "event_type": "promo_email", "days": 3}
    delay["where"] = {"segment": "budget"}
    assert ModelIntervention.from_dict(delay).to_simulator() == Intervention(
        kind="delay", event_type="promo_email", days=3, segment="budget"
    )
    promo = {"kind": "promotion", "after": {"event_type": "purchase", "days": 7}, "share": 0.5}
    assert ModelIntervention.from_dict(promo).to_simulator() == Intervention.from_dict(promo)


def test_outcomes_may_name_predictor_labels(gen):
    sc = scenario([{"kind": "promotion", "day": 60, "segment": "budget"}])
    sc = Scenario.from_dict(
        {**_as_dict(sc), "outcomes": {**OUTCOMES, "labels": ["churn", "purchase"]}}
    )
    assert sc.outcomes.labels == ("churn", "purchase")
    res = run_scenario(gen, sc, seed=1)
    assert {"label.churn", "label.purchase"} <= set(res.effects.index)
    for per in res.outcomes:  # the labels, from predictors/labels.py, on day 60 for 30 days
        seen = per.dropna()
        assert len(seen) > 0
        assert (seen["label.purchase"] == seen["purchase_within"]).all()
        assert (seen["label.churn"] == 1 - seen["label.purchase"]).all()


def test_an_unknown_label_names_the_valid_ones():
    d = {
        "name": "t",
        "population": {"simulate": 40},
        "interventions": [{"kind": "promotion", "day": 6}],
    }
    with pytest.raises(ConfigError, match=r"label 'ltv' is not a predictor label; choose from"):
        Scenario.from_dict({**d, "outcomes": {"labels": ["ltv"]}})
