"""Simulator presets: every shape builds, validates, is seeded, and has the shape it claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from journeylab.journeys import datasets
from journeylab.journeys.encoding import JourneyEncoder
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.presets import PRESETS, get_preset, simulate_preset
from journeylab.journeys.sim_process import ACTIVITIES, TERMINAL, simulate_process
from journeylab.journeys.sim_retail import simulate_retail
from journeylab.journeys.simulate import simulate


@pytest.fixture(scope="module")
def retail():
    return simulate_retail(200, seed=0)


@pytest.fixture(scope="module")
def retail_large():
    return simulate_retail(2000, seed=0)


@pytest.fixture(scope="module")
def process():
    return simulate_process(200, seed=0)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_builds_valid_public_and_seeded(name):
    log, truth = simulate_preset(name, 200, seed=3)
    schema = get_preset(name).schema()
    assert log.schema == schema and schema.is_public
    again = EventLog.from_frame(log.df, schema)  # re-validation changes nothing
    pd.testing.assert_frame_equal(again.df, log.df)
    assert log.n_customers == len(truth) == 200
    assert list(truth.iloc[:, 0]) == list(log.customers)
    assert simulate_preset(name, 200, seed=3)[0].fingerprint() == log.fingerprint()
    assert simulate_preset(name, 200, seed=4)[0].fingerprint() != log.fingerprint()


def test_schema_names_are_distinct():
    names = [p.schema().name for p in PRESETS.values()]
    assert sorted(names) == ["simulate", "simulate-process", "simulate-retail"]


def test_default_is_todays_simulator():
    log, _ = datasets.load("simulate", n_customers=60, seed=5)
    assert log.fingerprint() == simulate(60, seed=5)[0].fingerprint()
    same, _ = datasets.load("simulate", preset="omnichannel", n_customers=60, seed=5)
    assert same.fingerprint() == log.fingerprint()
    other, extra = datasets.load("simulate", preset="retail", n_customers=60, seed=5)
    assert other.schema.name == "simulate-retail" and len(extra["truth"]) == 60


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown simulate preset 'nope'.*'omnichannel'"):
        datasets.load("simulate", preset="nope", n_customers=10)
    with pytest.raises(ConfigError, match="'completejourney' has no presets"):
        datasets.load("completejourney", preset="retail")


def test_build_writes_the_preset_folder(tmp_path):
    target = datasets.build("simulate", tmp_path, preset="process", n_customers=20, seed=1)
    assert target == tmp_path / "simulate-process"
    schema = datasets.resolve_schema(None, target / "events.parquet")
    assert schema.name == "simulate-process"
    assert EventLog.read(target / "events.parquet", schema).n_customers == 20
    assert datasets.resolve_schema("simulate-retail").name == "simulate-retail"


# --- retail ----------------------------------------------------------------


def test_retail_is_date_only_with_positive_amounts(retail):
    df = retail[0].df
    assert (df["timestamp"] == df["timestamp"].dt.normalize()).all()
    assert (df["amount"] > 0).all()
    assert np.allclose(df["amount"], df["amount"].round(2), rtol=0, atol=1e-9)
    assert set(df["event_type"]) == {"purchase", "return"}
    assert set(df["channel"]) == {"store", "online"}


def test_retail_store_id_is_a_per_journey_constant_matching_the_region(retail):
    log, truth = retail
    df = log.df
    assert (df.groupby("customer_id")["store_id"].nunique() == 1).all()
    number = df["store_id"].str[1:].astype(int)
    region = np.array(["north", "south", "east", "west"])[(number - 1) // 6]
    assert (region == df["region"]).all()
    first = df.groupby("customer_id")["store_id"].first()
    assert (first == truth.set_index("customer_id")["home_store"]).all()


def test_retail_returns_follow_a_purchase(retail):
    df = retail[0].df
    first_type = df.groupby("customer_id")["event_type"].first()
    assert (first_type == "purchase").all()


def test_retail_shape_half_buy_once_and_a_heavy_tail(retail_large):
    log, truth = retail_large
    one = (truth["n_purchases"] == 1).mean()
    assert 0.4 <= one <= 0.6
    assert log.lengths().max() >= 50
    # fewer purchases on Sundays than on any other weekday
    by_day = log.df["timestamp"].dt.dayofweek.value_counts()
    assert by_day.idxmin() == 6


# --- process ---------------------------------------------------------------


def _count_before(df: pd.DataFrame, activity: str) -> pd.Series:
    """Events of `activity` in the case up to and including each row."""
    return (df["event_type"] == activity).astype(int).groupby(df["case_id"]).cumsum()


def test_process_strict_orderings_hold_in_every_case(process):
    df = process[0].df
    t = df["event_type"]
    assert (df.groupby("case_id")["event_type"].first() == "A_Submitted").all()
    assert (df.groupby("case_id")["timestamp"].diff().dropna() > pd.Timedelta(0)).all()
    for later, earlier in [
        ("A_Accepted", "A_PreAccepted"),
        ("O_Returned", "O_Sent"),
        ("A_Validating", "O_Returned"),
        ("O_Accepted", "A_Validating"),
        ("A_Pending", "O_Accepted"),
    ]:
        assert (_count_before(df, earlier)[t == later] >= 1).all(), (later, earlier)
    # every offer sent was created first (as many O_Created as O_Sent up to each O_Sent)
    assert (_count_before(df, "O_Created") >= _count_before(df, "O_Sent"))[t == "O_Sent"].all()


def test_process_terminal_events_end_the_case(process):
    log, truth = process
    df = log.df
    terminal = df["event_type"].isin(list(TERMINAL))
    assert (terminal.groupby(df["case_id"]).sum() <= 1).all()
    last = df.groupby("case_id").tail(1)
    assert terminal[last.index].sum() == terminal.sum()
    outcome = last.set_index("case_id")["event_type"].map(TERMINAL).fillna("open")
    assert (outcome == truth.set_index("case_id")["outcome"]).all()


def test_process_activities_amounts_and_office_hours(process):
    df = process[0].df
    assert df["event_type"].nunique() >= 20 and set(df["event_type"]) <= set(ACTIVITIES)
    assert (df.groupby("case_id")["requested_amount"].nunique() == 1).all()
    assert (df["requested_amount"] % 500 == 0).all()
    assert (df["timestamp"] == df["timestamp"].dt.floor("s")).all()
    channel = df["event_type"].str[0].map({"A": "application", "O": "offer", "W": "workflow"})
    assert (channel == df["channel"]).all()
    work = df.loc[df["channel"] == "workflow", "timestamp"]
    assert (work.dt.dayofweek < 5).all() and work.dt.hour.between(8, 17).all()
    # automatic steps run at any time: some fall outside office hours
    auto = df.loc[df["channel"] != "workflow", "timestamp"]
    assert ((auto.dt.dayofweek >= 5) | ~auto.dt.hour.between(8, 17)).any()


def test_process_durations_from_minutes_to_weeks(process):
    truth = process[1]
    duration = (truth["ended_at"] - truth["submitted_at"]).dropna()
    assert duration.min() < pd.Timedelta(hours=1)
    assert duration.max() > pd.Timedelta(weeks=3)


@pytest.mark.parametrize("name", ["retail", "process"])
def test_encode_decode_round_trip_is_exact(name):
    log, _ = simulate_preset(name, 60, seed=1)
    enc = JourneyEncoder(log.schema)
    pd.testing.assert_frame_equal(enc.decode(enc.encode(log)).df, log.df)
