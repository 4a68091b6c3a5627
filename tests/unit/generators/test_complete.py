"""Journey completion: prefixes kept exactly, journeys only grow, limits respected."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.generators import create
from journeylab.generators.complete import complete_journeys
from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError

TINY_VAE = {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2, "latent_dim": 4}

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def gen():
    log = EventLog.from_frame(tiny_frame(30, seed=1), Schema.from_dict(TINY_SCHEMA))
    return create("vae", TINY_VAE).fit(log)


@pytest.fixture(scope="module")
def prefix():
    """The first two events of 12 journeys (early in the window, so there is room)."""
    df = tiny_frame(12, seed=5, max_events=6)
    df = df[df.groupby("customer_id").cumcount() < 2]
    return EventLog.from_frame(df, Schema.from_dict(TINY_SCHEMA))


@pytest.mark.parametrize("latent", ["prior", "posterior"])
def test_every_prefix_event_and_context_value_is_kept_exactly(gen, prefix, latent):
    done = complete_journeys(gen, prefix, seed=0, latent=latent)
    cols = prefix.schema.all_names
    kept = done.log.df[done.given][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, prefix.df[cols].reset_index(drop=True))
    own = prefix.df.groupby("customer_id")["segment"].first()
    got = done.log.df.groupby("customer_id")["segment"]
    assert (got.nunique() == 1).all()
    assert got.first().to_dict() == own.to_dict()


def test_journeys_only_grow_and_continue_after_the_prefix(gen, prefix):
    done = complete_journeys(gen, prefix, seed=1)
    before, after = prefix.lengths(), done.log.lengths()
    assert set(after.index) == set(before.index)
    assert (after.reindex(before.index) >= before).all()
    assert (~done.given).sum() > 0  # the model did add events
    assert done.given_counts() == {k: int(v) for k, v in before.items()}
    last = prefix.df.groupby("customer_id")["timestamp"].max()
    new = done.log.df[~done.given]
    assert (new["timestamp"].to_numpy() >= new["customer_id"].map(last).to_numpy()).all()


def test_a_horizon_is_respected_and_until_too(gen, prefix):
    last = prefix.df.groupby("customer_id")["timestamp"].max()
    for horizon in (0.5, 20.0):
        done = complete_journeys(gen, prefix, seed=2, horizon=horizon)
        new = done.log.df[~done.given]
        cut = new["customer_id"].map(last) + pd.Timedelta(days=horizon)
        assert (new["timestamp"] <= cut + pd.Timedelta(seconds=1)).all()
    done = complete_journeys(gen, prefix, seed=2, until="2024-02-01")
    assert (done.log.df[~done.given]["timestamp"] <= pd.Timestamp("2024-02-01 00:00:01")).all()


def test_same_seed_same_completion_and_no_continuation_without_room(gen, prefix):
    a = complete_journeys(gen, prefix, seed=3)
    pd.testing.assert_frame_equal(a.log.df, complete_journeys(gen, prefix, seed=3).log.df)
    none = complete_journeys(gen, prefix, seed=3, until="2024-01-01")
    assert none.given.all() and none.log.n_events == prefix.n_events


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"horizon": 5, "until": "2024-03-01"}, "not both"),
        ({"horizon": -1}, "must be a positive number of days"),
        ({"until": "soon"}, "is not a time"),
        ({"latent": "mean"}, "latent 'mean' must be one of"),
    ],
)
def test_bad_limits_are_refused_with_the_fix(gen, prefix, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        complete_journeys(gen, prefix, **kwargs)


def test_par_and_gan_refuse_a_prefix(prefix):
    with pytest.raises(ConfigError, match="needs the VAE"):
        complete_journeys(create("gan", {"epochs": 1}), prefix)
