"""Sampling in K processes gives the journeys of one process, for any K."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

import journeylab.generators as generators
from journeylab.generators.sample_workers import sample_in_workers
from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.partitioned import read_manifest

TINY = {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2, "latent_dim": 4}
pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    log = EventLog.from_frame(tiny_frame(30, seed=1), Schema.from_dict(TINY_SCHEMA))
    path = tmp_path_factory.mktemp("model") / "vae"
    generators.create("vae", {**TINY, "seed": 0}).fit(log).save(path)
    return path


def test_one_and_three_workers_give_the_same_journeys(model_dir, tmp_path):
    one, three = tmp_path / "one.parquet", tmp_path / "three.parquet"
    gen = generators.load(model_dir)
    args = {"batch_size": 7, "seed": 3, "conditions": {"segment": "premium"}}
    counts = generators.sample_to_parquet(gen, 30, one, **args)
    assert sample_in_workers(model_dir, 30, three, workers=3, **args) == counts
    pd.testing.assert_frame_equal(pd.read_parquet(three), pd.read_parquet(one))
    assert three.read_bytes() == one.read_bytes()  # the same file, row group by row group
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.parquet", "three.parquet"]
    other = tmp_path / "other.parquet"
    generators.sample_to_parquet(gen, 30, other, **{**args, "seed": 4})
    assert not pd.read_parquet(other).equals(pd.read_parquet(one))  # the seed matters


def test_bad_worker_counts_are_refused_before_any_work(model_dir, tmp_path):
    with pytest.raises(ConfigError, match="workers 0 must be an integer >= 1"):
        sample_in_workers(model_dir, 10, tmp_path / "x.parquet", workers=0)
    with pytest.raises(ConfigError, match="no meta.json"):
        sample_in_workers(tmp_path, 10, tmp_path / "x.parquet", workers=2)
    assert not list(tmp_path.iterdir())


def test_a_partitioned_sample_holds_the_same_journeys(model_dir, tmp_path):
    gen = generators.load(model_dir)
    one, folder = tmp_path / "one.parquet", tmp_path / "parted.parquet"
    generators.sample_to_parquet(gen, 30, one, batch_size=7, seed=3)
    counts = generators.sample_to_parquet(gen, 30, folder, batch_size=7, seed=3, partitioned=True)
    a, b = EventLog.read(one, gen.schema), EventLog.read(folder, gen.schema)
    pd.testing.assert_frame_equal(b.df, a.df)
    assert read_manifest(folder)["fingerprint"] == a.fingerprint()
    assert counts["customers"] == read_manifest(folder)["customers"] == 30
    generators.sample_to_parquet(gen, 30, folder, batch_size=7, seed=3)
    assert folder.is_file() and folder.read_bytes() == one.read_bytes()  # the folder gave way


def test_a_sample_in_memory_is_the_file_sample_to_parquet_writes(model_dir, tmp_path):
    """What the app's Generate page shows (sample_log) is what it logs (sample_to_parquet)."""
    from journeylab.generators.base import sample_log

    gen = generators.load(model_dir)
    args = {"batch_size": 7, "seed": 3, "conditions": {"segment": "premium"}}
    generators.sample_to_parquet(gen, 30, tmp_path / "s.parquet", **args)
    shown = sample_log(gen, 30, **args)
    assert shown.fingerprint() == EventLog.read(tmp_path / "s.parquet", gen.schema).fingerprint()
    assert shown.customers[0] == "syn-00000000" and shown.n_customers == 30
