"""Sampling from a table of customers: k rows give k journeys with those context values."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.generators import create, sample_context, sample_to_parquet
from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError

TINY_VAE = {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2, "latent_dim": 4}
SEGMENTS = ["premium", "budget", "premium", None, "budget", "premium", "premium"]

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def gen():
    log = EventLog.from_frame(tiny_frame(30, seed=1), Schema.from_dict(TINY_SCHEMA))
    return create("vae", TINY_VAE).fit(log)


def _context_by_id(log: EventLog) -> pd.Series:
    per = log.df.groupby(log.key)["segment"]
    assert (per.nunique() == 1).all()
    return per.first()


def test_k_rows_give_k_journeys_with_those_values(gen):
    table = pd.DataFrame({"segment": SEGMENTS})
    log = sample_context(gen, table, seed=0)
    assert log.n_customers == len(SEGMENTS)
    got = _context_by_id(log)
    ids = sorted(got.index)  # synthetic ids in row order
    for row, seg in enumerate(SEGMENTS):
        if seg is not None:
            assert got[ids[row]] == seg, (row, seg)
    assert got[ids[3]] in ("budget", "premium")  # the missing value is generated


def test_ids_come_from_the_key_column_and_same_seed_same_log(gen):
    table = pd.DataFrame(
        {"customer_id": ["x9", "a1", "m5"], "segment": ["budget", "premium", "budget"]}
    )
    log = sample_context(gen, table, seed=3)
    assert _context_by_id(log).to_dict() == {"x9": "budget", "a1": "premium", "m5": "budget"}
    pd.testing.assert_frame_equal(log.df, sample_context(gen, table, seed=3).df)


def test_parquet_stream_keeps_row_order_across_batches(gen, tmp_path):
    table = pd.DataFrame({"segment": SEGMENTS})
    out = tmp_path / "s.parquet"
    counts = sample_to_parquet(gen, len(table), out, batch_size=3, seed=1, context=table)
    assert counts["customers"] == len(SEGMENTS)
    back = EventLog.read(out, gen.schema)
    got = _context_by_id(back)
    for row, seg in enumerate(SEGMENTS):
        if seg is not None:
            assert got[f"syn-{row:08d}"] == seg


@pytest.mark.parametrize(
    ("table", "match"),
    [
        (pd.DataFrame({"segment": ["budget", "gold", "gold"]}), r"rows 1, 2: .*'gold' is outside"),
        (pd.DataFrame({"colour": ["red"]}), "column 'colour' is not a context column"),
        (
            pd.DataFrame({"customer_id": ["a", "a"], "segment": ["budget"] * 2}),
            r"repeats ids \['a'\]",
        ),
        (pd.DataFrame({"segment": []}), "must be a non-empty DataFrame"),
    ],
)
def test_bad_tables_are_refused_with_the_rows_and_the_fix(gen, table, match):
    with pytest.raises(ConfigError, match=match):
        sample_to_parquet(gen, max(len(table), 1), "unused.parquet", context=table)


def test_n_must_match_the_table_and_conditions_are_not_mixed_in(gen, tmp_path):
    table = pd.DataFrame({"segment": ["budget", "premium"]})
    with pytest.raises(ConfigError, match=r"n \(5\) must equal the context table's 2 rows"):
        sample_to_parquet(gen, 5, tmp_path / "s.parquet", context=table)
    with pytest.raises(ConfigError, match="not both"):
        sample_to_parquet(
            gen, 2, tmp_path / "s.parquet", context=table, conditions={"segment": "budget"}
        )
