"""The `par` generator: SDV PAR behind the SequenceGenerator interface (tiny data, 1 epoch)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import journeylab.generators as generators
from journeylab.generators.par import PARConfig, PARGenerator
from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError
from journeylab.privacy.budget import PrivacyBudget

SCHEMA = {
    "name": "par-tiny",
    "sequence_key": "customer_id",
    "sequence_index": "timestamp",
    "max_length": 10,
    "time_range": ["2024-01-01 00:00:00", "2024-03-01 00:00:00"],
    "events": {
        "channel": {"type": "categorical", "values": ["web", "app", "email"]},
        "event_type": {"type": "categorical", "values": ["view", "cart", "purchase"]},
        "amount": {"type": "numeric", "min": 0.0, "max": 200.0, "decimals": 2},
    },
    # 'vip' is declared but no customer has it: PAR cannot condition on it.
    "context": {"segment": {"type": "categorical", "values": ["budget", "premium", "vip"]}},
}


def make_frame(n: int = 24, *, seed: int = 0, context: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        seg = ["budget", "premium"][c % 2]
        t = pd.Timestamp("2024-01-02") + pd.Timedelta(seconds=int(rng.integers(0, 86_400 * 20)))
        for _ in range(int(rng.integers(2, 9))):
            t += pd.Timedelta(seconds=int(rng.integers(60, 86_400 * 3)))
            et = ["view", "cart", "purchase"][int(rng.integers(3))]
            row = {
                "customer_id": f"c{c:03d}",
                "timestamp": t,
                "channel": ["web", "app", "email"][int(rng.integers(3))],
                "event_type": et,
                "amount": round(float(rng.uniform(5, 150)), 2) if et == "purchase" else 0.0,
            }
            if context:
                row["segment"] = seg
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def schema() -> Schema:
    return Schema.from_dict(SCHEMA)


@pytest.fixture(scope="module")
def log(schema) -> EventLog:
    return EventLog.from_frame(make_frame(), schema)


@pytest.fixture(scope="module")
def fitted(log) -> PARGenerator:
    return generators.create("par", {"epochs": 1}).fit(log)


# --- config ---------------------------------------------------------------
def test_config_defaults_round_trip_and_create():
    cfg = PARConfig()
    assert (cfg.epochs, cfg.sample_size, cfg.cuda, cfg.verbose, cfg.seed) == (
        128,
        1,
        False,
        False,
        0,
    )
    assert PARConfig.from_dict(cfg.to_dict()) == cfg
    gen = generators.create("par", {"epochs": 2})
    assert isinstance(gen, PARGenerator) and gen.config.epochs == 2
    assert "par" in generators.REGISTRY


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"sample_size": 1.5}, "sample_size must be an integer"),
        ({"cuda": "yes"}, "cuda must be true or false"),
        ({"epoch": 3}, r"unknown key\(s\) \['epoch'\]; valid keys"),
    ],
)
def test_config_rejects_bad_values(bad, match):
    with pytest.raises(ConfigError, match=match):
        generators.create("par", bad)


# --- fit and sample ---------------------------------------------------------
def test_sample_is_a_valid_log_inside_the_domains(fitted, schema, log):
    synth = fitted.sample(10, seed=0)
    df = synth.df
    assert isinstance(synth, EventLog) and synth.n_customers == 10
    assert df["channel"].isin(["web", "app", "email"]).all()
    assert df["segment"].isin(["budget", "premium"]).all()
    assert df["amount"].between(0, 200).all()
    assert np.allclose(df["amount"], df["amount"].round(2))
    assert df["timestamp"].between(schema.time_start, schema.time_end, inclusive="left").all()
    assert (df["timestamp"].dt.floor("s") == df["timestamp"]).all()
    assert synth.lengths().max() <= 10 and not df.duplicated().any()
    assert not set(df["customer_id"]) & set(log.customers)  # new ids, not training ids


def test_same_seed_same_journeys_other_seed_others(fitted):
    a, b, c = (fitted.sample(8, seed=s) for s in (3, 3, 4))
    pd.testing.assert_frame_equal(a.df, b.df)
    assert not a.df.equals(c.df)
    pd.testing.assert_frame_equal(fitted.sample(5).df, fitted.sample(5, seed=0).df)


def test_history_and_large_seeds(fitted, log):
    assert [h["epoch"] for h in fitted.history] == [0]
    assert np.isfinite(fitted.history[0]["loss"])
    big = 5000 * 1_000_003 + 7  # sample_to_parquet's batch seeds exceed 2**32
    pd.testing.assert_frame_equal(fitted.sample(3, seed=big).df, fitted.sample(3, seed=big).df)


def test_fit_and_sample_leave_global_rng_alone(log):
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    gen = PARGenerator(epochs=1).fit(log)
    gen.sample(3, seed=1)
    assert torch.equal(torch_state, torch.get_rng_state())
    assert (np_state == np.random.get_state()[1]).all()


def test_fit_is_reproducible(log, fitted):
    again = PARGenerator(epochs=1).fit(log)
    pd.testing.assert_frame_equal(again.sample(6, seed=2).df, fitted.sample(6, seed=2).df)


def test_fit_without_context_columns():
    d = {k: v for k, v in SCHEMA.items() if k != "context"}
    log = EventLog.from_frame(make_frame(context=False), Schema.from_dict(d))
    gen = PARGenerator(epochs=1).fit(log)
    assert gen.sample(4, seed=0).n_customers == 4
    with pytest.raises(ConfigError, match="condition on 'segment': not a column"):
        gen.sample(4, conditions={"segment": "budget"})


def test_privacy_budget_is_refused(log):
    with pytest.raises(
        ConfigError, match=r"generator 'par' has no differential privacy.*\['gan', 'vae'\]"
    ):
        PARGenerator(epochs=1).fit(log, privacy=PrivacyBudget(epsilon=8.0))


def test_unfitted_generator_refuses_to_sample(tmp_path):
    with pytest.raises(ConfigError, match="not fitted"):
        PARGenerator().sample(3)
    with pytest.raises(ConfigError, match="not fitted"):
        PARGenerator().save(tmp_path)


# --- conditions -------------------------------------------------------------
def test_conditions_fix_the_context(fitted):
    synth = fitted.sample(12, conditions={"segment": "premium"}, seed=0)
    assert synth.n_customers == 12 and (synth.df["segment"] == "premium").all()


@pytest.mark.parametrize(
    "cond, match",
    [
        (
            {"region": "north"},
            r"condition on 'region': not a column; conditions fix context columns \['segment'\]",
        ),
        ({"segment": "gold"}, r"segment='gold' is outside the domain.*allowed values: \['budget'"),
        (
            {"segment": "vip"},
            r"segment='vip': no training customer.*usable values: \['budget', "
            r"'premium'\]",
        ),
    ],
)
def test_bad_conditions_are_refused(fitted, cond, match):
    with pytest.raises(ConfigError, match=match):
        fitted.sample(3, conditions=cond)


def test_numeric_context_column_is_sampled_and_conditioned():
    d = {**SCHEMA, "context": {"age": {"type": "numeric", "min": 18, "max": 90, "decimals": 0}}}
    df = make_frame(context=False)
    df["age"] = 20 + df["customer_id"].str[1:].astype(int) * 2
    gen = PARGenerator(epochs=1).fit(EventLog.from_frame(df, Schema.from_dict(d)))
    ages = gen.sample(20, seed=0).context()["age"]
    assert ages.between(18, 90).all() and (ages == ages.round()).all() and ages.nunique() > 1
    assert (gen.sample(5, conditions={"age": 40}, seed=0).df["age"] == 40).all()
    with pytest.raises(ConfigError, match=r"age=120 is outside.*numbers in \[18.0, 90.0\]"):
        gen.sample(5, conditions={"age": 120})


# --- save / load --------------------------------------------------------------
def test_save_load_samples_identically(fitted, log, tmp_path):
    before = fitted.sample(10, seed=0)
    fitted.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json",
        "meta.json",
        "model.safetensors",
        "state.json",
    ]
    meta = generators.base.read_meta(tmp_path / "m")
    assert meta["generator"] == "par" and meta["privacy"] is None
    assert meta["dataset_fingerprint"] == log.fingerprint()
    loaded = generators.load(tmp_path / "m")
    assert isinstance(loaded, PARGenerator) and loaded.config == fitted.config
    assert loaded.history == fitted.history
    pd.testing.assert_frame_equal(loaded.sample(10, seed=0).df, before.df)
    cond = {"segment": "budget"}
    pd.testing.assert_frame_equal(
        loaded.sample(5, conditions=cond, seed=1).df, fitted.sample(5, conditions=cond, seed=1).df
    )


@pytest.mark.parametrize(
    "target, damage, match",
    [
        ("model.safetensors", b"\x00garbage", "model.safetensors does not match the sha256"),
        ("state.json", b"{not json", "state.json is missing or corrupt"),
        ("state.json", b'{"data_map": []}', "corrupt or incomplete"),
        ("meta.json", b"[", "meta.json is corrupt"),
    ],
)
def test_corrupt_files_raise_config_error(fitted, tmp_path, target, damage, match):
    fitted.save(tmp_path)
    (tmp_path / target).write_bytes(damage)
    with pytest.raises(ConfigError, match=match):
        generators.load(tmp_path)


def test_other_format_version_or_generator_is_refused(fitted, tmp_path):
    fitted.save(tmp_path)
    meta = json.loads((tmp_path / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ConfigError, match="format version 99"):
        generators.load(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "generator": "vae"}))
    with pytest.raises(ConfigError, match="not 'par'"):
        PARGenerator.load(tmp_path)
