"""`journeylab evaluate` and `journeylab.evaluation.evaluate`: one report per synthetic dataset.

Tiny data: the simulator (160 customers split in two) and generators fitted for one epoch.
"""

from __future__ import annotations

import json
import math
import re

import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

import journeylab.generators as generators
from journeylab.evaluation.html import render
from journeylab.evaluation.report import EvaluateConfig, evaluate, evaluate_generator, write_report
from journeylab.evaluation.verdict import FIDELITY_LEVELS, NO_DP, NOT_MEASURED
from journeylab.journeys import EventLog, Schema, split_by_customer
from journeylab.journeys.errors import ConfigError, DataError, UserError
from journeylab.journeys.fidelity import fidelity_report
from journeylab.journeys.simulate import simulate
from journeylab.privacy.audits import run_audits
from journeylab.privacy.budget import PrivacyBudget

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY = {
    "vae": {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2, "latent_dim": 4},
    "gan": {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2, "noise_dim": 4},
    "par": {"epochs": 1},
}
FAST = {"models": ["logreg"], "sdmetrics_max_rows": 3000}
SCRIPT_SRC = re.compile(r"<script[^>]*\bsrc\s*=", re.I)


@pytest.fixture(scope="module")
def real():
    log, _ = simulate(160, seed=0)
    return split_by_customer(log, holdout=0.5, seed=0)


@pytest.fixture(scope="module")
def external(real):
    """A synthetic log from outside JourneyLab: another simulator draw, new ids."""
    log, _ = simulate(70, seed=5)
    df = log.df.assign(customer_id="ext-" + log.df["customer_id"].astype(str))
    return EventLog.from_frame(df, log.schema)


def assert_offline_html(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert not SCRIPT_SRC.search(html), "a script is loaded from outside the page"
    head, library, page = re.split(r"<script type='text/javascript'>|</script></head>", html)
    assert "* plotly.js v" in library and "* plotly.js v" not in page
    assert not re.search(r"https?://", head + page) and "<link" not in html  # nothing fetched
    assert html.count("* plotly.js v") == 1  # the library, inline, once
    assert html.count("<script") == html.count("Plotly.newPlot") + 1 > 1  # + one per figure


def check_report(report: dict, *, dp: bool) -> None:
    f = report["fidelity"]["metrics"]
    assert 0 <= f["tvd_3gram"] <= 1 and 0 <= f["detection_auc"] <= 1
    assert {"events", "context"} <= set(report["fidelity"]["sdmetrics"])
    assert "not covered" in report["fidelity"]["caveat"]
    rows = report["utility"]["rows"]
    assert {(r["task"], r["train"]) for r in rows} >= {("churn", "TRTR"), ("purchase", "TSTR")}
    assert report["privacy"]["dp"] is dp
    assert "not covered" in report["privacy"]["audits"]["caveat"]
    assert 0 <= report["privacy"]["audits"]["metrics"]["mia_distance_auc"] <= 1
    json.dumps(report, allow_nan=False)  # strict JSON: NaN became null
    card = {v["aspect"]: v for v in report["scorecard"]}
    assert card["fidelity"]["words"] in {w for _, w in FIDELITY_LEVELS}
    if card["utility"]["words"] != NOT_MEASURED:  # a tiny sample may lack a label class
        assert card["utility"]["figures"][0]["name"] == "Synthetic-trained / real-trained AUC"
    assert (card["privacy"]["words"] == NO_DP) is not dp
    assert 0 <= report["validity"]["unseen_pair_share"] <= 1
    html = render(report)
    assert_offline_html(html)
    assert "<h2>Scorecard</h2>" in html and card["fidelity"]["words"] in html
    assert "Impossible channel/event pairs" in html
    if report["fidelity"]["giveaways"]:
        assert "What gives the synthetic journeys away most" in html and ": real " in html


# --- the report for every generator, with and without DP, and for outside data -------------
@pytest.mark.parametrize("name", sorted(generators.REGISTRY))
def test_report_renders_for_every_generator(name, real):
    train, holdout = real
    gen = generators.create(name, TINY.get(name, {"epochs": 1})).fit(train)
    report = evaluate_generator(gen, train, holdout, n=40, config=FAST)
    check_report(report, dp=False)
    assert report["privacy"]["statement"].startswith("no formal guarantee")
    assert report["cost"]["sample_seconds"] > 0 and report["source"]["generator"] == name


@pytest.mark.parametrize(
    "name", [n for n, c in sorted(generators.REGISTRY.items()) if c.supports_dp]
)
def test_report_with_dp_gives_epsilon_and_delta_per_part(name, real):
    train, holdout = real
    gen = generators.create(name, TINY[name]).fit(train, privacy=PrivacyBudget(epsilon=8.0))
    report = evaluate_generator(gen, train, holdout, n=40, config=FAST)
    check_report(report, dp=True)
    p, rec = report["privacy"], gen.privacy_record
    # the total: DP-SGD (its noise set for 75% of the budget) and the journey profile's
    # Gaussian tables, composed in one RDP accountant: the profile adds the rest
    assert p["epsilon"] == pytest.approx(rec["epsilon"] + rec["profile"]["epsilon"])
    assert 7.9 < p["epsilon"] <= 8.0 and p["delta"] == rec["delta"]
    assert p["parts"]["profile"]["epsilon"] == pytest.approx(rec["profile"]["epsilon"])
    assert p["parts"]["training"]["noise_multiplier"] == rec["noise_multiplier"]
    assert p["parts"]["preprocessing"]["epsilon"] == 0.0  # every domain declared
    html = render(report)
    assert "training (DP-SGD)" in html and "-DP for one whole customer" in html


def test_report_numbers_match_the_libraries(real, external):
    from journeylab.predictors.evaluate import utility_table

    train, holdout = real
    report = evaluate(train, holdout, external, config={"seed": 3})
    fid = fidelity_report(train, holdout, external, seed=3)
    assert set(report["fidelity"]["metrics"]) == set(fid)
    for k, v in fid.items():
        got = report["fidelity"]["metrics"][k]
        assert (got is None and math.isnan(v)) or got == pytest.approx(v, rel=1e-12), k
    audits = run_audits(train, holdout, external, seed=3)
    assert report["privacy"]["audits"]["metrics"] == pytest.approx(audits.metrics)
    table = utility_table(
        train,
        holdout,
        external,
        tasks=("churn", "purchase"),
        models=("logreg", "gbm"),
        augmented=False,
    )
    got = {(r["task"], r["model"], r["train"]): r for r in report["utility"]["rows"]}
    assert len(got) == len(table) == 8
    for r in table.itertuples():
        row = got[(r.task, r.model, r.train)]
        assert row["auc"] == pytest.approx(r.auc) and row["auc_ratio"] == pytest.approx(r.auc_ratio)
    lift = report["utility"]["lift"]
    assert len(lift) == 8 and all(len(x["table"]) == 10 for x in lift)
    assert report["privacy"]["statement"].startswith("no formal guarantee")
    assert report["config"]["models"] == ["logreg", "gbm"]


def test_a_copier_is_caught_by_membership_inference(real):
    train, holdout = real
    copier = EventLog.from_frame(
        train.df.assign(customer_id="copy-" + train.df["customer_id"]), train.schema
    )
    report = evaluate(train, holdout, copier, config={**FAST, "sdmetrics": False})
    audits = report["privacy"]["audits"]["metrics"]
    assert audits["mia_distance_auc"] > 0.95 and audits["exact_copy_share"] == 1.0
    assert audits["dcr_share"] > 0.95


# --- the command -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """An empty MLflow store, created once: each test copies it instead of migrating anew."""
    import mlflow

    db = tmp_path_factory.mktemp("store") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def store(tmp_path, monkeypatch, empty_store):
    import shutil

    (tmp_path / "mlruns").mkdir()
    shutil.copy(empty_store, tmp_path / "mlruns" / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    monkeypatch.setenv("JOURNEYLAB_LEDGER", str(tmp_path / "ledger.jsonl"))
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.fixture
def files(store, real, external):
    train, holdout = real
    (store / "split").mkdir()
    train.write(store / "split" / "train.parquet")
    holdout.write(store / "split" / "holdout.parquet")
    train.schema.write(store / "split" / "schema.yaml")
    (store / "outside").mkdir()
    external.write(store / "outside" / "synthetic.csv")  # written by someone else, as CSV
    return store


def cli(args: list[str]) -> int:
    from journeylab.app.cli import main

    with pytest.raises(SystemExit) as e:
        main(["evaluate", *args])
    return e.value.code


def evaluate_runs(status: str | None = None) -> list:
    import mlflow

    from journeylab.journeys.tracking import open_store

    client = open_store()
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    mlflow.end_run()
    return [
        r
        for r in runs
        if r.data.tags.get("journeylab.kind") == "evaluate"
        and (status is None or r.info.status == status)
    ]


FILE_ARGS = (
    "--train",
    "split/train.parquet",
    "--holdout",
    "split/holdout.parquet",
    "--synthetic",
    "outside/synthetic.csv",
    "--schema",
    "split/schema.yaml",
    "--out",
    "rep",
    "--models",
    "logreg",
)


def test_cli_from_files_writes_html_json_and_mlflow(files, capsys):
    import mlflow

    args = list(FILE_ARGS)
    assert cli(args) == 0
    assert "report: rep/report.html" in capsys.readouterr().out
    report = json.loads((files / "rep" / "report.json").read_text())
    html = (files / "rep" / "report.html").read_text()
    assert_offline_html(html)
    assert report["source"]["synthetic"] == "file outside/synthetic.csv"
    assert sorted(p.name for p in (files / "rep").iterdir()) == ["report.html", "report.json"]
    (run,) = evaluate_runs("FINISHED")
    assert run.data.metrics["detection_auc"] == pytest.approx(
        report["fidelity"]["metrics"]["detection_auc"]
    )
    assert run.data.params["synthetic"].endswith("outside/synthetic.csv")
    arts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "report")}
    assert arts == {"report/report.html", "report/report.json"}


BAD = {
    "missing file": (["--synthetic", "nope.csv"], "the synthetic file nope.csv does not exist"),
    "no inputs": (["--train", None], "missing --train"),
    "invalid log": (["--synthetic", "bad.csv"], "fax"),
    "other schema": (["--synthetic", "tiny/events.csv", "--schema", None], "different schemas"),
    "unknown run": (["--run-id", "0123456789abcdef"], "no MLflow run '0123456789abcdef'"),
    "unknown model": (["--models", "forest"], "model 'forest' is not one of"),
    "overlap": (["--holdout", "split/train.parquet"], "in both train and holdout"),
    "bad record": (["--privacy-record", "rec.json"], "the training record lacks"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_user_error_and_leaves_nothing(case, files, capsys, tiny_schema):
    bad = simulate(5, seed=1)[0].df
    bad.loc[2, "channel"] = "fax"
    bad.to_csv(files / "bad.csv", index=False)
    (files / "tiny").mkdir()
    tiny_frame(20).to_csv(files / "tiny" / "events.csv", index=False)
    tiny_schema.write(files / "tiny" / "schema.yaml")
    (files / "rec.json").write_text(json.dumps({"dp": True, "epsilon": 1.0}))
    args = {
        "--train": "split/train.parquet",
        "--holdout": "split/holdout.parquet",
        "--synthetic": "outside/synthetic.csv",
        "--schema": "split/schema.yaml",
        "--out": "rep",
    }
    extra, message = BAD[case]
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        args[flag] = value
    if "--run-id" in args:
        args = {k: v for k, v in args.items() if k in ("--run-id", "--out")}
    argv = [x for k, v in args.items() if v is not None for x in (k, v)]
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err
    assert not (files / "rep").exists()
    assert evaluate_runs() == []


def test_a_privacy_record_file_gives_the_guarantee_of_outside_data(files):
    from journeylab.privacy.card import training_epsilon

    numbers = {"delta": 1e-5, "noise_multiplier": 1.2, "sample_rate": 0.05, "steps": 60}
    record = {
        "dp": True,
        "epsilon": training_epsilon(**numbers),
        "max_grad_norm": 1.0,
        "accountant": "rdp",
        **numbers,
    }
    (files / "privacy_record.json").write_text(json.dumps(record))
    args = [
        "--train",
        "split/train.parquet",
        "--holdout",
        "split/holdout.parquet",
        "--synthetic",
        "outside/synthetic.csv",
        "--schema",
        "split/schema.yaml",
        "--privacy-record",
        "privacy_record.json",
        "--out",
        "rep",
        "--models",
        "logreg",
        "--no-sdmetrics",
        "--no-mlflow",
    ]
    assert cli(args) == 0
    report = json.loads((files / "rep" / "report.json").read_text())
    p = report["privacy"]
    assert p["dp"] and p["epsilon"] == pytest.approx(record["epsilon"]) and p["delta"] == 1e-5
    assert p["parts"]["training"]["steps"] == 60
    assert report["source"]["privacy_record"] == "file privacy_record.json"
    assert evaluate_runs() == []  # --no-mlflow


def test_a_failure_midway_ends_the_run_failed_and_writes_no_file(files, monkeypatch):
    import journeylab.evaluation.html

    def broken(report):
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(journeylab.evaluation.html, "render", broken)
    args = [*FILE_ARGS, "--no-sdmetrics"]
    with pytest.raises(RuntimeError, match="renderer broke"):
        cli(args)
    assert not (files / "rep").exists()
    (run,) = evaluate_runs()
    assert run.info.status == "FAILED" and "renderer broke" in run.data.tags["journeylab.error"]


def test_write_report_is_all_or_nothing(tmp_path, real, external):
    train, holdout = real
    report = evaluate(train, holdout, external, config={**FAST, "sdmetrics": False})

    class Broken:  # a table that fails half-way through writing
        def to_parquet(self, *a, **k):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_report(report, tmp_path / "rep", extra={"synthetic.parquet": Broken()})
    assert not (tmp_path / "rep").exists()
    written = write_report(report, tmp_path / "rep")
    assert sorted(written) == ["report.html", "report.json"]
    assert json.loads(written["report.json"].read_text())["fidelity"] == report["fidelity"]


def test_config_is_validated_and_round_trips():
    cfg = EvaluateConfig(models=("gbm",), tasks=("churn",), seed=2)
    assert EvaluateConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="task 'lifetime' is not one of"):
        EvaluateConfig(tasks=("lifetime",))
    with pytest.raises(ConfigError, match=r"evaluate settings: unknown key\(s\)"):
        EvaluateConfig.from_dict({"modles": ["gbm"]})


def test_logs_of_different_schemas_are_refused_by_the_api(real):
    train, holdout = real
    tiny = EventLog.from_frame(tiny_frame(20), Schema.from_dict(TINY_SCHEMA))
    with pytest.raises(DataError, match="different schemas"):
        evaluate(train, holdout, tiny)
    with pytest.raises(UserError, match="not an EventLog"):
        evaluate(train, holdout, pd.DataFrame())


def runs_of_kind(kind: str) -> list:
    from journeylab.journeys.tracking import find_runs

    return find_runs(kind=kind)


def journeylab(args: list[str]) -> None:
    from journeylab.app.cli import main

    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 0


def test_run_id_of_a_dp_fit_and_of_its_sample(files, capsys):
    journeylab(
        [
            "fit",
            "--data",
            "split/train.parquet",
            "--model",
            "vae",
            "--epsilon",
            "8",
            "--epochs",
            "1",
            "-c",
            "batch_size=10",
            "-c",
            "d_model=16",
            "-c",
            "n_layers=2",
            "-c",
            "latent_dim=4",
        ]
    )
    (fit,) = runs_of_kind("fit")
    fit_id = fit.info.run_id
    # no sample run yet: the model is sampled with seed 0, as many journeys as holdout customers
    assert cli(["--run-id", fit_id, "--out", "rep1", "--models", "logreg", "--no-sdmetrics"]) == 0
    r1 = json.loads((files / "rep1" / "report.json").read_text())
    assert r1["inputs"]["synthetic"]["customers"] == r1["inputs"]["holdout"]["customers"]
    assert r1["source"]["synthetic"].startswith(f"sampled from the model of fit run {fit_id}")
    assert (files / "rep1" / "synthetic.parquet").exists()
    assert r1["privacy"]["dp"] and r1["privacy"]["epsilon"] == pytest.approx(
        fit.data.metrics["privacy.epsilon"]
    )
    assert r1["cost"]["fit_seconds"] == fit.data.metrics["fit_seconds"]
    assert r1["cost"]["sample_seconds"] > 0
    (ev,) = runs_of_kind("evaluate")
    assert ev.data.tags["journeylab.fit_run_id"] == fit_id
    assert ev.data.tags["journeylab.generator"] == "vae"  # lineage: the report's own run
    assert float(ev.data.tags["journeylab.epsilon"]) == pytest.approx(r1["privacy"]["epsilon"])
    assert r1["source"]["evaluate_run_id"] == ev.info.run_id
    # after `journeylab sample`, a fit run id finds the sample's file, and so does its own id
    journeylab(["sample", "--run-id", fit_id, "-n", "30", "-o", "synth/s.parquet"])
    (sample,) = runs_of_kind("sample")
    for rid, out in ((fit_id, "rep2"), (sample.info.run_id, "rep3")):
        assert cli(["--run-id", rid, "--out", out, "--models", "logreg", "--no-sdmetrics"]) == 0
        r = json.loads((files / out / "report.json").read_text())
        assert r["source"]["synthetic"].startswith("file ")
        assert f"sample run {sample.info.run_id}" in r["source"]["synthetic"]
        assert r["inputs"]["synthetic"]["customers"] == 30 and r["privacy"]["dp"]
        assert r["cost"]["sample_seconds"] == sample.data.metrics["sample_seconds"]
        assert not (files / out / "synthetic.parquet").exists()
