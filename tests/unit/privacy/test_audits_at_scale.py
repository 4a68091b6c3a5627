"""Audits of partitioned logs: seeded subsamples, exact copies against everyone, never whole."""

from __future__ import annotations

import pytest
from conftest import as_folders, simulated_split

from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.partitioned import write_partitioned
from journeylab.journeys.streamed import StreamedLog, subsample_customers
from journeylab.privacy.audits import run_audits
from journeylab.privacy.embedding import journey_hashes

ROLES = ("train", "holdout", "synthetic")


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """A 160-customer split; a synthetic log of 70 other journeys plus 30 train journeys
    copied under new ids; each log also as a 3-part folder."""
    whole = simulated_split(copies=30)
    return whole, as_folders(whole, tmp_path_factory.mktemp("audit"))


@pytest.fixture
def never_whole(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a partitioned dataset was read whole")

    monkeypatch.setattr("journeylab.journeys.eventlog.read_partitioned", refuse)


def test_folders_that_fit_give_the_one_file_audits(logs, never_whole):
    whole, streamed = logs
    one_file = run_audits(*(whole[r] for r in ROLES), seed=3, max_targets=500)
    folders = run_audits(*(streamed[r] for r in ROLES), seed=3, max_targets=500)
    assert folders.metrics == one_file.metrics and folders.sizes == one_file.sizes
    assert one_file.scale == {} and "scale" not in one_file.to_dict()  # as before
    n = {r: whole[r].n_customers for r in ROLES}
    assert folders.scale["customers"] == n == folders.scale["subsample_customers"]
    assert folders.to_dict()["scale"]["subsample_seed"] == 3


def test_a_subsample_is_audited_and_copies_are_counted_against_everyone(logs, never_whole):
    whole, streamed = logs
    report = run_audits(*(streamed[r] for r in ROLES), seed=1, max_targets=20)
    subs = {r: subsample_customers(whole[r], 20, seed=1) for r in ROLES}
    on_subs = run_audits(*(subs[r] for r in ROLES), seed=1, max_targets=20)
    copied = {k: v for k, v in report.metrics.items() if k.startswith("exact_copy")}
    assert {k: v for k, v in report.metrics.items() if k not in copied} == {
        k: v for k, v in on_subs.metrics.items() if k not in copied
    }
    train = set(journey_hashes(whole["train"]))
    syn = journey_hashes(subs["synthetic"])
    share = sum(h in train for h in syn) / len(syn)
    assert copied == {"exact_copy_share": share, "exact_copy_share_holdout": 0.0}
    assert share > on_subs.metrics["exact_copy_share"]  # the 20 train customers miss copies
    assert report.scale["subsample_customers"] == {r: 20 for r in ROLES}
    assert "exact_copy_share" in report.scale["all_customers"]
    assert "mia_distance_auc" in report.scale["subsampled"]


def test_train_and_holdout_sharing_customers_are_refused_over_the_whole_logs(logs, tmp_path):
    whole, streamed = logs
    write_partitioned(whole["train"], tmp_path / "again", parts=2)
    again = StreamedLog.open(tmp_path / "again", whole["train"].schema)
    with pytest.raises(DataError, match="are in both train and holdout"):
        run_audits(streamed["train"], again, streamed["synthetic"])
    with pytest.raises(ConfigError, match="max_targets must be an integer >= 4, got 2"):
        run_audits(streamed["train"], streamed["holdout"], streamed["synthetic"], max_targets=2)
