"""Predictors on a partitioned log: evaluation over every customer chunk by chunk, training
and TSTR on a stated seeded subsample (the one-file results when the log fits)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.eventlog import split_by_customer
from journeylab.journeys.partitioned import write_blocks
from journeylab.journeys.streamed import StreamedLog, subsample_customers
from journeylab.predictors.at_scale import train_subsample, utility_subsamples
from journeylab.predictors.bundle import train_bundle
from journeylab.predictors.evaluate import evaluate_bundle, utility_table
from journeylab.predictors.labels import label_spec

CUT = "2024-02-10"
LABEL = {"cutoff": CUT, "horizon": 30}


def as_folder(log: EventLog, path) -> StreamedLog:
    """`log` as a 3-part folder of many row groups (blocks of 9 customers)."""
    ids = log.customers
    write_blocks(
        [log.subset(ids[i : i + 9]).df for i in range(0, len(ids), 9)], path, log.schema, parts=3
    )
    return StreamedLog.open(path, log.schema)


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    log = EventLog.from_frame(tiny_frame(80, seed=4, max_events=12), Schema.from_dict(TINY_SCHEMA))
    train, holdout = split_by_customer(log, holdout=0.5, seed=0)
    root = tmp_path_factory.mktemp("at_scale")
    whole = {"train": train, "holdout": holdout}
    return whole, {r: as_folder(g, root / r) for r, g in whole.items()}


@pytest.mark.parametrize("name, tol", [("gbm", 0), ("gru", 1e-6)])
def test_a_folder_evaluated_in_chunks_gives_the_whole_logs_metrics(
    logs, small_chunks, torch_one_thread, name, tol
):
    whole, folders = logs
    config = {"epochs": 1, "hidden": 8} if name == "gru" else None
    bundle = train_bundle(whole["train"], model=name, config=config, **LABEL)
    one, many = (
        evaluate_bundle(bundle, whole["holdout"]),
        evaluate_bundle(bundle, folders["holdout"]),
    )
    for task in bundle.tasks:
        np.testing.assert_array_equal(many[task].y, one[task].y)
        np.testing.assert_allclose(many[task].p, one[task].p, rtol=0, atol=tol)
        for k, v in one[task].metrics.items():
            assert many[task].metrics[k] == pytest.approx(v, rel=0, abs=max(tol, 1e-12)), k


def test_a_holdout_with_no_one_before_the_cutoff_is_a_clear_error(logs, small_chunks):
    whole, folders = logs
    bundle = train_bundle(whole["train"], model="logreg", **LABEL)
    late = folders["holdout"].path.parent / "late"
    df = whole["holdout"].df.assign(timestamp=lambda d: d["timestamp"] + pd.Timedelta(days=120))
    write_blocks([df], late, whole["holdout"].schema, parts=2)
    with pytest.raises(DataError, match="no customer of the holdout has an event before"):
        evaluate_bundle(bundle, StreamedLog.open(late, whole["holdout"].schema))


def test_training_on_a_folder_that_fits_gives_the_one_file_model(logs, small_chunks):
    whole, folders = logs
    one = train_bundle(whole["train"], model="logreg", **LABEL)
    many = train_subsample(folders["train"], max_customers=1000, model="logreg", **LABEL)
    n = whole["train"].n_customers
    scale = {"customers": n, "train_customers": n, "subsample_seed": 0, "max_customers": 1000}
    assert many.info["train_scale"] == scale
    assert many.info["dataset_fingerprint"] == one.info["dataset_fingerprint"]
    assert many.spec == one.spec and many.info["customers"] == one.info["customers"]
    pd.testing.assert_frame_equal(many.predict(whole["holdout"]), one.predict(whole["holdout"]))


def test_a_small_max_customers_trains_on_the_stated_seeded_subsample(logs, small_chunks):
    whole, folders = logs
    bundle = train_subsample(folders["train"], max_customers=12, seed=3, model="logreg", **LABEL)
    scale = bundle.info["train_scale"]
    n = whole["train"].n_customers
    assert (scale["customers"], scale["train_customers"], scale["subsample_seed"]) == (n, 12, 3)
    sub = subsample_customers(whole["train"], 12, seed=3)
    want = train_bundle(sub, model="logreg", **LABEL)
    pd.testing.assert_frame_equal(bundle.predict(whole["holdout"]), want.predict(whole["holdout"]))


def test_a_schema_without_a_time_range_labels_a_subsample_at_the_whole_logs_cutoff(logs, tmp_path):
    whole, _ = logs
    schema = Schema.from_dict({k: v for k, v in TINY_SCHEMA.items() if k != "time_range"})
    log = EventLog.from_frame(whole["train"].df, schema)
    folder = as_folder(log, tmp_path / "open")
    want = label_spec(schema, log=log, cutoff=0.5, horizon=10)
    assert label_spec(schema, log=folder, cutoff=0.5, horizon=10) == want
    sub = subsample_customers(log, 15, seed=0)
    assert label_spec(schema, log=sub, cutoff=0.5, horizon=10) != want  # its own range
    bundle = train_subsample(folder, max_customers=15, model="logreg", cutoff=0.5, horizon=10)
    assert bundle.spec == want


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_a_bad_max_customers_is_refused_with_the_fix(logs, k):
    _, folders = logs
    with pytest.raises(ConfigError, match=f"max_customers must be an integer >= 1.*got {k!r}; e.g"):
        train_subsample(folders["train"], max_customers=k, **LABEL)


def test_utility_of_folders_that_fit_is_the_one_file_table_and_states_its_counts(
    logs, small_chunks
):
    whole, folders = logs
    kw = {"models": ("logreg",), **LABEL}
    want = utility_table(whole["train"], whole["holdout"], {"copy": whole["train"]}, **kw)
    got, scale = utility_subsamples(
        folders["train"], folders["holdout"], {"copy": folders["train"]}, **kw
    )
    pd.testing.assert_frame_equal(got, want)
    n = {"train": 40, "holdout": 40, "synthetic.copy": 40}
    assert {r: whole[r].n_customers for r in ("train", "holdout")} == {"train": 40, "holdout": 40}
    assert scale["customers"] == scale["subsample_customers"] == n
    small, scale = utility_subsamples(
        folders["train"], whole["holdout"], {"copy": folders["train"]}, max_customers=25, **kw
    )
    assert scale["subsample_customers"] == {"train": 25, "holdout": 25, "synthetic.copy": 25}
    assert (small[small["train"] == "TSTR"]["auc_ratio"] == 1.0).all()  # the same 25 as TRTR
