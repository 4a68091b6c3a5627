"""Evaluate at scale: streamed counts equal the whole logs' metrics, the rest on subsamples."""

import math

import numpy as np
import pytest
from conftest import as_folders, simulated_split

from journeylab.evaluation.at_scale import subsample_customers
from journeylab.evaluation.report import evaluate
from journeylab.journeys.fidelity import fidelity_report
from journeylab.journeys.fidelity_stream import BIN, FidelityCounts, streamed_fidelity

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    whole = simulated_split()
    return whole, as_folders(whole, tmp_path_factory.mktemp("scale"))


def test_streamed_counts_give_the_whole_logs_metrics(logs):
    whole, streamed = logs
    exact = fidelity_report(whole["train"], whole["holdout"], whole["synthetic"])
    counts = {r: FidelityCounts.of(streamed[r]) for r in ("train", "holdout", "synthetic")}
    got = streamed_fidelity(counts["train"], counts["holdout"], counts["synthetic"])
    for k, v in got.items():
        if "gap" in k or "amount" in k:
            if not k.endswith("ratio"):
                assert abs(v - exact[k]) <= BIN, k  # binned: within one bin
        else:
            assert math.isclose(v, exact[k], rel_tol=1e-9, abs_tol=1e-12), k
    one_file = FidelityCounts.of(whole["train"])
    assert one_file.ngrams == counts["train"].ngrams
    assert np.array_equal(one_file.gaps, counts["train"].gaps)


def test_subsample_is_the_same_customers_from_a_folder_and_one_file(logs):
    whole, streamed = logs
    a = subsample_customers(whole["train"], 25, seed=1)
    b = subsample_customers(streamed["train"], 25, seed=1)
    assert a.n_customers == 25 and list(a.customers) == list(b.customers)
    assert list(subsample_customers(whole["train"], 25, seed=2).customers) != list(a.customers)
    assert subsample_customers(whole["train"], 10_000, seed=1) is whole["train"]


def test_evaluate_with_partitioned_inputs_says_how_many_customers_each_figure_used(logs):
    whole, streamed = logs
    cfg = {"models": ["logreg"], "tasks": ["churn"], "sdmetrics": False, "max_customers": 100}
    report = evaluate(streamed["train"], streamed["holdout"], streamed["synthetic"], config=cfg)
    scale = report["scale"]
    n = {r: whole[r].n_customers for r in scale["customers"]}
    assert scale["customers"] == n
    assert scale["subsample_customers"] == {r: min(v, 100) for r, v in n.items()}
    exact = fidelity_report(whole["train"], whole["holdout"], whole["synthetic"])
    f = report["fidelity"]["metrics"]
    assert math.isclose(f["tvd_2gram"], exact["tvd_2gram"], rel_tol=1e-9)
    assert 0 <= f["detection_auc"] <= 1 and report["utility"]["rows"]
    assert report["inputs"]["train"]["fingerprint"] == whole["train"].fingerprint()
    assert report["scorecard"]
