"""compare, audit, predict score and a par fit on partitioned folders, never read whole:
the one-file results where the log fits, the stated seeded subsample where it does not."""

import json
import math

import pandas as pd
import pytest
from conftest import cli_io

from journeylab.journeys import EventLog, split_by_customer
from journeylab.journeys.fidelity_stream import BIN
from journeylab.journeys.partitioned import write_partitioned
from journeylab.journeys.simulate import simulate

pytestmark = pytest.mark.usefixtures("torch_one_thread")
ROLES = ("train", "holdout", "synthetic")


@pytest.fixture
def logs(tmp_path, monkeypatch):
    """files/ROLE.parquet and parts/ROLE.parquet (3-part folders) of a 240-customer split
    and 70 other journeys, a schema.yaml beside each; MLflow in tmp_path."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    log, _ = simulate(240, seed=2)
    train, holdout = split_by_customer(log, holdout=0.5, seed=0)
    other, _ = simulate(70, seed=5)
    df = other.df.assign(customer_id="ext-" + other.df["customer_id"].astype(str))
    whole = {"train": train, "holdout": holdout, "synthetic": EventLog.from_frame(df, log.schema)}
    for folder in ("files", "parts"):
        (tmp_path / folder).mkdir()
        log.schema.write(tmp_path / folder / "schema.yaml")
    for role, g in whole.items():
        g.write(tmp_path / "files" / f"{role}.parquet")
        write_partitioned(g, tmp_path / "parts" / f"{role}.parquet", parts=3)
    return whole


def never_whole(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a partitioned dataset was read whole")

    monkeypatch.setattr("journeylab.journeys.eventlog.read_partitioned", refuse)


def run(args, cwd):
    code, out, err = cli_io(args, cwd)
    assert code == 0, err
    return out


def mlflow_runs(tmp_path, kind: str) -> list:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    ids = [e.experiment_id for e in client.search_experiments()]
    return [r for r in client.search_runs(ids) if r.data.tags.get("journeylab.kind") == kind]


def test_compare_of_folders_counts_everyone_and_states_its_subsample(logs, tmp_path, monkeypatch):
    d = tmp_path
    args = ["compare", "{}/holdout.parquet", "{}/synthetic.parquet", "--reference"]
    args += ["{}/train.parquet", "--no-mlflow", "--json", "{}.json"]
    run([a.format("files") for a in args], d)
    never_whole(monkeypatch)
    out = run([a.format("parts") for a in args], d)
    exact, got = (json.loads((d / f"{f}.json").read_text()) for f in ("files", "parts"))
    scale = got.pop("scale")
    assert got.keys() == exact.keys()
    for k, v in got.items():
        if ("gap" in k or "amount" in k) and not k.endswith("ratio"):
            assert abs(v - exact[k]) <= BIN, k  # binned: within one bin
        elif not k.endswith("ratio"):  # counts exact; under 20,000 customers: everyone
            assert math.isclose(v, exact[k], rel_tol=1e-9, abs_tol=1e-12), k
    n = {"a": logs["holdout"].n_customers, "b": 70, "reference": logs["train"].n_customers}
    assert scale["customers"] == n == scale["subsample_customers"]
    assert "(a subsample, seed 0) in detection_auc" in out
    args = ["compare", "parts/holdout.parquet", "files/synthetic.parquet", "--max-customers"]
    out = run([*args, "100", "--seed", "4"], d)
    (r,) = mlflow_runs(d, "compare")
    p = r.data.params
    assert (p["a_customers"], p["a_subsample_customers"]) == (str(n["a"]), "100")
    assert (p["b_subsample_customers"], p["subsample_seed"]) == ("70", "4")
    assert f"A {n['a']:,}, B 70 in tvd_*" in out and "A 100, B 70 (a subsample, seed 4)" in out


def test_compare_refuses_a_subsample_too_small_before_reading(logs, tmp_path):
    args = ["compare", "parts/holdout.parquet", "parts/synthetic.parquet"]
    code, _, err = cli_io([*args, "--max-customers", "5"], tmp_path)
    assert code == 2 and "max_customers must be an integer >= 100, got 5" in err


def test_audit_of_folders_reads_subsamples_only_and_says_so(logs, tmp_path, monkeypatch):
    d = tmp_path
    args = ["audit", "--train", "{}/train.parquet", "--holdout", "{}/holdout.parquet"]
    args += ["--synthetic", "{}/synthetic.parquet", "--json", "{}.json", "--max-targets", "500"]
    run([*(a.format("files") for a in args), "--no-mlflow"], d)
    never_whole(monkeypatch)
    out = run([a.format("parts") for a in args], d)
    exact, got = (json.loads((d / f"{f}.json").read_text()) for f in ("files", "parts"))
    assert got["metrics"] == exact["metrics"] and got["sizes"] == exact["sizes"]
    n = {r: logs[r].n_customers for r in ROLES}
    assert got["scale"]["customers"] == n == got["scale"]["subsample_customers"]
    assert "scale" not in exact and "audited (a subsample, seed 0)" in out
    (r,) = mlflow_runs(d, "audit")
    assert r.data.params["train_subsample_customers"] == str(n["train"])
    args[-1] = "20"
    run([a.format("parts") for a in args], d)
    small = json.loads((d / "parts.json").read_text())
    assert small["scale"]["subsample_customers"] == {r: 20 for r in ROLES}
    assert small["sizes"]["targets_per_side"] == 10  # half the 20 holdout are the reference


def test_predict_score_of_a_folder_writes_the_one_file_scores(logs, tmp_path, monkeypatch):
    d = tmp_path
    score = ["predict", "score", "--model-dir", "pm", "--data"]
    run(["predict", "train", "--data", "files/train.parquet", "--model", "logreg", "-o", "pm"], d)
    run([*score, "files/holdout.parquet", "--out", "one.parquet"], d)
    never_whole(monkeypatch)
    monkeypatch.setattr("journeylab.journeys.streamed.CHUNK", 16)  # several chunks
    out = run([*score, "parts/holdout.parquet", "--out", "many.parquet"], d)
    one, many = pd.read_parquet(d / "one.parquet"), pd.read_parquet(d / "many.parquet")
    pd.testing.assert_frame_equal(one, many)
    assert len(many) > 0 and f"of {logs['holdout'].n_customers:,} customers" in out
    code, _, err = cli_io([*score, "parts/holdout.parquet"], d)
    assert code == 2 and "with both --data LOG and --out scores.parquet" in err
    code, _, err = cli_io([*score, "parts/holdout.parquet", "--out", "s.txt"], d)
    assert code == 2 and "unknown file type '.txt'" in err and not (d / "s.txt").exists()


def test_par_fit_of_a_folder_uses_a_stated_seeded_subsample(logs, tmp_path, monkeypatch):
    never_whole(monkeypatch)
    fit = ["fit", "--data", "parts/train.parquet", "--model", "par", "-c", "epochs=1"]
    out = run([*fit, "-c", "max_customers=40", "--out", "par"], tmp_path)
    n = logs["train"].n_customers
    assert f"note: PAR (SDV) holds its training log in memory: fitted on the 40 of {n}" in out
    (r,) = mlflow_runs(tmp_path, "fit")
    assert (r.data.params["customers"], r.data.params["fit_customers"]) == (str(n), "40")
    assert "fitted on the 40" in r.data.tags["journeylab.note"]
