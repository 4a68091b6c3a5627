"""Batch scoring of a log: a partitioned folder chunk by chunk gives the whole log's scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import DataError
from journeylab.journeys.partitioned import write_blocks
from journeylab.journeys.streamed import StreamedLog
from journeylab.predictors.batch import score_log
from journeylab.predictors.bundle import train_bundle

CUT = "2024-02-10"


@pytest.fixture(scope="module")
def log():
    return EventLog.from_frame(tiny_frame(60, seed=1, max_events=12), Schema.from_dict(TINY_SCHEMA))


@pytest.fixture(scope="module")
def folder(log, tmp_path_factory):
    ids = log.customers
    blocks = [log.subset(ids[i : i + 9]).df for i in range(0, len(ids), 9)]  # many row groups
    path = tmp_path_factory.mktemp("batch") / "events.parquet"
    write_blocks(blocks, path, log.schema, parts=3)
    return StreamedLog.open(path, log.schema)


@pytest.fixture(scope="module")
def bundles(log):
    gru = {"epochs": 1, "hidden": 8}
    return {
        m: train_bundle(log, model=m, cutoff=CUT, horizon=30, config=gru if m == "gru" else None)
        for m in ("gbm", "gru")
    }


@pytest.mark.parametrize("name, tol", [("gbm", 0), ("gru", 1e-6)])
def test_a_folder_scored_in_chunks_gives_the_whole_logs_scores(
    log, folder, bundles, tmp_path, small_chunks, name, tol
):
    bundle = bundles[name]
    at = "2024-01-12"  # early: 17 of the 60 customers have history, whole chunks none
    one = score_log(bundle, log, tmp_path / "one.parquet", as_of=at)
    many = score_log(bundle, folder, tmp_path / "many.parquet", as_of=at)
    assert one["chunks"] == 1 and many["chunks"] >= 9  # 60 customers, at most 7 a chunk
    assert one["customers"] == many["customers"] == 17 and many["log_customers"] == 60
    want = bundle.predict(log, as_of=at).rename_axis("customer_id").reset_index()
    a, b = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "many.parquet")
    assert list(a.columns) == ["customer_id", *bundle.tasks]
    assert list(a["customer_id"]) == list(b["customer_id"]) == list(want["customer_id"])
    for task in bundle.tasks:
        np.testing.assert_allclose(b[task], want[task], rtol=0, atol=tol)
        np.testing.assert_array_equal(a[task], want[task])


def test_csv_and_a_later_as_of(log, folder, bundles, tmp_path, small_chunks):
    bundle = bundles["gbm"]
    n = score_log(bundle, folder, tmp_path / "s.csv", as_of="2024-03-01")
    got = pd.read_csv(tmp_path / "s.csv")
    want = bundle.predict(log, as_of="2024-03-01")
    assert n["as_of"] == "2024-03-01 00:00:00" and len(got) == len(want) == n["customers"]
    np.testing.assert_allclose(got[bundle.tasks[0]], want[bundle.tasks[0]], rtol=1e-12)


def test_nothing_to_score_leaves_the_old_file_and_no_temporary(folder, bundles, tmp_path):
    target = tmp_path / "scores.parquet"
    target.write_bytes(b"old")
    with pytest.raises(DataError, match="no customer of the log has an event before 2020-01-01"):
        score_log(bundles["gbm"], folder, target, as_of="2020-01-01")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_log_of_another_schema_is_refused(bundles, tmp_path):
    d = dict(TINY_SCHEMA, name="other")
    other = EventLog.from_frame(tiny_frame(5), Schema.from_dict(d))
    with pytest.raises(DataError, match="score logs that follow the model's schema.yaml"):
        score_log(bundles["gbm"], other, tmp_path / "s.parquet")
    assert not (tmp_path / "s.parquet").exists()
