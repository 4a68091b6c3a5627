"""`compare` on partitioned logs: counts over everyone, detection on a stated seeded subsample."""

import math

import pytest
from conftest import as_folders, simulated_split

from journeylab.journeys import ConfigError
from journeylab.journeys.fidelity import compare, fidelity_report
from journeylab.journeys.fidelity_stream import BIN, compare_at_scale
from journeylab.journeys.partitioned import write_partitioned
from journeylab.journeys.simulate import simulate
from journeylab.journeys.streamed import StreamedLog, subsample_customers

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """A 160-customer split and a 70-customer other log, each also as a 3-part folder."""
    whole = simulated_split()
    return whole, as_folders(whole, tmp_path_factory.mktemp("compare"))


def _assert_counts_match(got: dict, exact: dict) -> None:
    for k, v in got.items():
        if ("gap" in k or "amount" in k) and not k.endswith("ratio"):
            assert abs(v - exact[k]) <= BIN, k  # binned: within one bin
        elif "tvd" in k or "length" in k:
            assert math.isclose(v, exact[k], rel_tol=1e-9, abs_tol=1e-12), k


def test_a_folder_that_fits_gives_the_one_file_compare(logs):
    whole, streamed = logs
    exact = compare(whole["holdout"], whole["synthetic"], seed=2)
    got, scale = compare_at_scale(streamed["holdout"], streamed["synthetic"], seed=2)
    assert got.keys() == exact.keys()
    _assert_counts_match(got, exact)
    assert got["detection_auc"] == exact["detection_auc"]  # every customer: the same sample
    n = {"a": whole["holdout"].n_customers, "b": whole["synthetic"].n_customers}
    assert scale["customers"] == n and scale["subsample_customers"] == n
    assert scale["subsampled"] == "detection_auc" and scale["subsample_seed"] == 2


def test_reference_counts_and_detection_on_the_stated_seeded_subsample(logs):
    whole, streamed = logs
    got, scale = compare_at_scale(
        streamed["holdout"], streamed["synthetic"], reference=streamed["train"], seed=1
    )
    exact = fidelity_report(whole["train"], whole["holdout"], whole["synthetic"], seed=1)
    _assert_counts_match(got, exact)
    assert got["order_violations"] == exact["order_violations"]  # under 20,000: everyone
    assert got["ref_detection_auc"] == exact["ref_detection_auc"]
    assert "ref_detection_auc" in scale["subsampled"] and "reference" in scale["customers"]
    k, doubled = 100, simulate(260, seed=1)[0]  # more than k customers: a real subsample
    folder = streamed["train"].path.parent / "doubled"
    write_partitioned(doubled, folder, parts=2)
    many = StreamedLog.open(folder, doubled.schema)
    got, scale = compare_at_scale(many, streamed["synthetic"], max_customers=k, seed=4)
    assert scale["customers"]["a"] == 260 and scale["subsample_customers"]["a"] == k
    sub = subsample_customers(doubled, k, seed=4)
    assert got["detection_auc"] == compare(sub, whole["synthetic"], seed=4)["detection_auc"]
    _assert_counts_match(got, compare(doubled, whole["synthetic"]))  # counts: all 260


def test_a_subsample_too_small_to_read_is_refused(logs):
    _, streamed = logs
    with pytest.raises(ConfigError, match="max_customers must be an integer >= 100, got 10"):
        compare_at_scale(streamed["holdout"], streamed["synthetic"], max_customers=10)
