"""The Journeys page's segment view: one segment's real customers, and synthetic journeys
generated with the segment fixed (the journeys `journeylab sample --condition` writes)."""

from __future__ import annotations

import shlex

import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.app import segments
from journeylab.generators import create
from journeylab.generators.base import sample_log
from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError

TINY_VAE = {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2, "latent_dim": 4}
pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def real() -> EventLog:
    return EventLog.from_frame(tiny_frame(30, seed=1), Schema.from_dict(TINY_SCHEMA))


@pytest.fixture(scope="module")
def gen(real):
    return create("vae", TINY_VAE).fit(real)


def test_columns_list_the_values_customers_hold_in_declared_order(real):
    assert segments.segment_columns(real) == {"segment": ["budget", "premium"]}
    only_premium = real.subset(real.context().query("segment == 'premium'").customer_id)
    assert segments.segment_columns(only_premium) == {"segment": ["premium"]}


def test_real_segment_is_exactly_the_customers_of_that_value(real):
    mine = segments.real_segment(real, "segment", "premium")
    expected = set(real.df.loc[real.df.segment == "premium", "customer_id"])
    assert set(mine.customers) == expected and 0 < len(expected) < real.n_customers
    assert (mine.df.segment == "premium").all()
    whole = real.df[real.df.customer_id.isin(expected)].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine.df.reset_index(drop=True), whole)  # whole journeys


def test_bad_segment_names_what_to_pick(real):
    with pytest.raises(ConfigError, match=r"'channel' is not a categorical context column.*"):
        segments.real_segment(real, "channel", "web")
    with pytest.raises(ConfigError, match=r"no customer of tiny has segment='gold'.*budget"):
        segments.real_segment(real, "segment", "gold")


def test_synthetic_journeys_all_carry_the_segment_and_match_the_cli(gen):
    log = segments.segment_sample(gen, "segment", "budget", n=12, seed=3)
    assert log.n_customers == 12
    assert (log.context().segment == "budget").all()
    same = sample_log(gen, 12, seed=3, conditions={"segment": "budget"})  # `journeylab sample`
    pd.testing.assert_frame_equal(log.df, same.df)
    other = segments.segment_sample(gen, "segment", "budget", n=12, seed=4)
    assert not log.df.equals(other.df)  # the seed matters


def test_a_generator_without_the_column_is_refused_with_its_columns(gen):
    with pytest.raises(ConfigError, match=r"context columns are \['segment'\].*'region'"):
        segments.segment_sample(gen, "region", "north", n=5)
    with pytest.raises(ConfigError, match="outside the domain of 'segment'"):
        segments.segment_sample(gen, "segment", "gold", n=5)


def test_count_and_command():
    assert [segments.synthetic_count(n) for n in (0, 7, 10_000)] == [1, 7, 500]
    cmd = segments.sample_command("abc", "age_band", "55+", n=40, seed=2)
    assert shlex.split(cmd) == [
        "journeylab", "sample", "--run-id", "abc", "-n", "40", "--seed", "2",
        "--condition", "age_band=55+", "--out", "segment-age_band-55+.parquet",
    ]  # fmt: skip


def test_fit_of_the_shown_sample_comes_first(tmp_path):
    out = tmp_path / "syn_gan.parquet"
    out.write_bytes(b"a sample file")  # a run names files that still exist
    runs = pd.DataFrame(
        [
            {"run_id": "v", "kind": "fit", "status": "FINISHED", "dataset": "d",
             "start": pd.Timestamp("2026-01-02"), "fit_run_id": None},
            {"run_id": "g", "kind": "fit", "status": "FINISHED", "dataset": "d",
             "start": pd.Timestamp("2026-01-01"), "fit_run_id": None},
            {"run_id": "x", "kind": "fit", "status": "FINISHED", "dataset": "other",
             "start": pd.Timestamp("2026-01-03"), "fit_run_id": None},
            {"run_id": "f", "kind": "fit", "status": "FAILED", "dataset": "d",
             "start": pd.Timestamp("2026-01-04"), "fit_run_id": None},
            {"run_id": "s", "kind": "sample", "status": "FINISHED", "dataset": "d",
             "start": pd.Timestamp("2026-01-05"), "fit_run_id": "g", "params.output": str(out)},
        ]
    )  # fmt: skip
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    fits = segments.generator_fits(runs, uri, dataset="d", synthetic_path=str(out))
    assert list(fits.run_id) == ["g", "v"]  # the shown sample's fit, then the newest
    fits = segments.generator_fits(runs, uri, dataset="d", synthetic_path=None)
    assert list(fits.run_id) == ["v", "g"]
    assert list(segments.generator_fits(runs, uri, dataset="nope", synthetic_path=None).run_id) == [
        "x", "v", "g"
    ]  # fmt: skip
