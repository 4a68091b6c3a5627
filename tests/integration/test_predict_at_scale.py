"""predict train, evaluate and utility on partitioned folders, never read whole: the one-file
results where the log fits, a stated and recorded seeded subsample where it does not."""

import json

import pytest
from conftest import TINY_SCHEMA, cli_io, tiny_frame

from journeylab.journeys import EventLog, Schema, split_by_customer
from journeylab.journeys.partitioned import write_partitioned
from journeylab.predictors import at_scale, cli

LABEL = ["--cutoff", "2024-02-10", "--horizon", "30"]


@pytest.fixture
def logs(tmp_path, monkeypatch):
    """files/ROLE.parquet and parts/ROLE.parquet (3-part folders) of a tiny 80-customer
    split, a schema.yaml beside each; MLflow in tmp_path."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    schema = Schema.from_dict(TINY_SCHEMA)
    log = EventLog.from_frame(tiny_frame(80, seed=4, max_events=12), schema)
    train, holdout = split_by_customer(log, holdout=0.5, seed=0)
    for folder in ("files", "parts"):
        (tmp_path / folder).mkdir()
        schema.write(tmp_path / folder / "schema.yaml")
    for role, g in {"train": train, "holdout": holdout}.items():
        g.write(tmp_path / "files" / f"{role}.parquet")
        write_partitioned(g, tmp_path / "parts" / f"{role}.parquet", parts=3)
    return {"train": train, "holdout": holdout}


@pytest.fixture
def never_whole(monkeypatch):
    """No whole read of a folder, and chunks of 16 customers."""

    def refuse(*a, **k):
        raise AssertionError("a partitioned dataset was read whole")

    monkeypatch.setattr("journeylab.journeys.eventlog.read_partitioned", refuse)
    monkeypatch.setattr("journeylab.journeys.streamed.CHUNK", 16)


def run(args, cwd):
    code, out, err = cli_io(args, cwd)
    assert code == 0, err
    return out


def mlflow_runs(tmp_path) -> list:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids)


def test_the_default_max_customers_is_the_librarys():
    import inspect

    for command in (cli.train, cli.utility):
        default = inspect.signature(command).parameters["max_customers"].default
        assert default == at_scale.MAX_CUSTOMERS


def test_train_and_evaluate_of_folders_give_the_one_file_metrics(logs, tmp_path, never_whole):
    d, train = tmp_path, ["predict", "train", "--model", "gbm", "--no-mlflow", *LABEL]
    evaluate = ["predict", "evaluate", "--no-mlflow", "--data"]
    for f in ("files", "parts"):
        out = run([*train, "--data", f"{f}/train.parquet", "-o", f"m-{f}"], d)
        out += run([*evaluate, f"{f}/holdout.parquet", "-m", f"m-{f}", "--json", f"{f}.json"], d)
    one, many = (json.loads((d / f"{f}.json").read_text()) for f in ("files", "parts"))
    assert many == one
    assert "on all 40 customers of the partitioned dataset" in out
    n = int(many["churn"]["n"])
    assert f"metrics over every customer of parts/holdout.parquet: the {n} of 40" in out
    info = json.loads((d / "m-parts" / "bundle.json").read_text())["info"]
    assert info["train_scale"] == {
        "customers": 40,
        "train_customers": 40,
        "subsample_seed": 0,
        "max_customers": 50_000,
    }
    assert "train_scale" not in json.loads((d / "m-files" / "bundle.json").read_text())["info"]


def test_train_on_a_small_max_customers_states_and_records_its_subsample(
    logs, tmp_path, never_whole
):
    args = ["predict", "train", "--data", "parts/train.parquet", "--model", "logreg", *LABEL]
    args += ["--max-customers", "15", "--seed", "2", "--holdout", "parts/holdout.parquet"]
    out = run([*args, "-o", "m"], tmp_path)
    assert "on 15 customers of 40 (a subsample, seed 2; --max-customers 15)" in out
    assert "metrics over every customer of parts/holdout.parquet" in out
    scale = json.loads((tmp_path / "m" / "bundle.json").read_text())["info"]["train_scale"]
    assert (scale["customers"], scale["train_customers"], scale["subsample_seed"]) == (40, 15, 2)
    (r,) = mlflow_runs(tmp_path)
    p = r.data.params
    assert (p["train_customers"], p["train_subsample_customers"]) == ("40", "15")
    assert p["train_subsample_seed"] == "2" and p["holdout_customers"] == "40"
    assert p["holdout_evaluated"] == "every customer, chunk by chunk"


def test_utility_of_folders_subsamples_every_log_and_says_so(logs, tmp_path, never_whole):
    d = tmp_path
    args = ["predict", "utility", "--train", "{}/train.parquet", "--holdout"]
    args += ["{}/holdout.parquet", "--synthetic", "copy={}/train.parquet", "--model", "logreg"]
    args += ["--no-augmented", *LABEL, "--json", "{}.json"]
    run([*(a.format("files") for a in args), "--no-mlflow"], d)
    out = run([*(a.format("parts") for a in args), "--no-mlflow"], d)
    one, many = (json.loads((d / f"{f}.json").read_text()) for f in ("files", "parts"))
    assert many == one
    assert "customers: train 40 of 40, holdout 40 of 40, synthetic.copy 40 of 40" in out
    out = run([*(a.format("parts") for a in args), "--max-customers", "20", "--seed", "1"], d)
    assert "train 20 of 40, holdout 20 of 40, synthetic.copy 20 of 40 (seeded" in out
    assert "seed 1; --max-customers 20)" in out
    (r,) = mlflow_runs(d)
    p = r.data.params
    assert (p["train_customers"], p["train_subsample_customers"]) == ("40", "20")
    assert (p["holdout_subsample_customers"], p["synthetic.copy_subsample_customers"]) == (
        "20",
        "20",
    )
    assert (p["subsample_seed"], p["max_customers"]) == ("1", "20")


@pytest.mark.parametrize("verb", ["train", "utility"])
def test_a_bad_max_customers_is_one_clear_error_and_writes_nothing(logs, tmp_path, verb):
    if verb == "train":
        args = ["predict", "train", "--data", "parts/train.parquet", "-o", "m"]
    else:
        args = ["predict", "utility", "--train", "parts/train.parquet"]
        args += ["--holdout", "parts/holdout.parquet", "--json", "u.json"]
    code, _, err = cli_io([*args, "--max-customers", "0", "--no-mlflow"], tmp_path)
    err = " ".join(err.split())
    assert code == 2 and "max_customers must be an integer >= 1" in err
    assert "got 0; e.g. --max-customers 50000" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists() and not (tmp_path / "u.json").exists()
