"""The contract every generator in generators.REGISTRY keeps (tiny data, one epoch).

Only the public interface is used: create, fit, sample, save, load,
sample_to_parquet. A new registry entry passes these tests or is not done.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

import journeylab.generators as generators
from journeylab.generators import REGISTRY, create, sample_to_parquet
from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError, UserError

# the smallest sensible settings of each generator; anything else gets {"epochs": 1}
TINY = {
    "vae": {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2, "latent_dim": 4},
    "gan": {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2, "noise_dim": 4},
}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def log() -> EventLog:
    return EventLog.from_frame(tiny_frame(30, seed=1), Schema.from_dict(TINY_SCHEMA))


@pytest.fixture(scope="module", params=sorted(REGISTRY))
def fitted(request, log):
    name = request.param
    gen = create(name, TINY.get(name, {"epochs": 1}))
    assert gen.fit(log) is gen
    return name, gen


def test_sample_is_a_valid_log_of_the_schema(fitted, log):
    _, gen = fitted
    synth = gen.sample(10, seed=3)
    assert isinstance(synth, EventLog)
    assert synth.schema.fingerprint() == log.schema.fingerprint()
    assert synth.n_customers == 10
    assert list(synth.df.columns) == log.schema.all_names
    # every journey has its context, constant over its events
    assert (synth.df.groupby(synth.key)["segment"].nunique() == 1).all()


def test_same_seed_same_sample_before_and_after_load(fitted, tmp_path):
    name, gen = fitted
    first = gen.sample(10, seed=7)
    pd.testing.assert_frame_equal(first.df, gen.sample(10, seed=7).df)
    gen.save(tmp_path / "model")
    loaded = generators.load(tmp_path / "model")
    assert type(loaded) is type(gen) and loaded.name == name
    pd.testing.assert_frame_equal(first.df, loaded.sample(10, seed=7).df)
    assert loaded.privacy_record == gen.privacy_record


def test_conditions_fix_context(fitted):
    _, gen = fitted
    synth = gen.sample(12, conditions={"segment": "premium"}, seed=1)
    assert set(synth.df["segment"]) == {"premium"}


@pytest.mark.parametrize(
    "conditions, words",
    [
        ({"segment": "gold"}, ["segment", "gold", "budget", "premium"]),
        ({"colour": "red"}, ["colour"]),
        ({"channel": "web"}, ["channel", "event column"]),
    ],
)
def test_conditions_outside_the_domain_are_refused(fitted, conditions, words):
    _, gen = fitted
    with pytest.raises(ConfigError) as e:
        gen.sample(5, conditions=conditions, seed=0)
    for w in words:
        assert w in str(e.value)


def test_corrupt_model_file_is_a_clear_error(fitted, tmp_path):
    _, gen = fitted
    path = gen.save(tmp_path / "model")
    biggest = max(
        (f for f in Path(path).iterdir() if f.name != "meta.json"), key=lambda f: f.stat().st_size
    )
    data = biggest.read_bytes()
    biggest.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match="corrupt"):
        generators.load(path)


def test_other_format_version_is_refused(fitted, tmp_path):
    _, gen = fitted
    path = gen.save(tmp_path / "model")
    meta = json.loads((path / "meta.json").read_text())
    meta["format_version"] = 999
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="format version 999"):
        generators.load(path)


def test_sample_streams_to_parquet(fitted, tmp_path, log):
    _, gen = fitted
    out = tmp_path / "synth.parquet"
    sample_to_parquet(gen, 25, out, batch_size=10, seed=4, conditions={"segment": "budget"})
    back = EventLog.read(out, log.schema)
    assert back.n_customers == 25
    assert set(back.df["segment"]) == {"budget"}
    again = tmp_path / "again.parquet"
    sample_to_parquet(gen, 25, again, batch_size=10, seed=4, conditions={"segment": "budget"})
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(again))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_bad_input_is_refused(name):
    gen = create(name, TINY.get(name, {"epochs": 1}))
    with pytest.raises(UserError):
        gen.sample(5, seed=0)  # not fitted
    with pytest.raises(UserError):
        gen.fit(tiny_frame(5))  # a raw DataFrame, not a validated EventLog
    with pytest.raises(ConfigError, match="unknown generator"):
        create("nope")
