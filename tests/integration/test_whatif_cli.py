"""`journeylab sample --prefix` and `journeylab scenario run`: files, MLflow runs, refusals."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from conftest import cli_io

from journeylab.whatif import read_completion_note

TINY_VAE = ["--epochs", "1", "--config", "batch_size=20", "--config", "d_model=16"]
TINY_VAE += ["--config", "n_layers=2", "--config", "latent_dim=4"]
SCENARIO = """\
name: promo-premium
population: {simulate: 40, where: {segment: premium}, before_day: 60}
interventions:
  - {kind: promotion, day: 60, segment: premium}
outcomes: {since_day: 60, within_days: 30}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("whatif")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{d}/mlruns/mlflow.db")
        mp.setenv("JOURNEYLAB_LEDGER", str(d / "ledger.jsonl"))
        code, _, err = cli_io(
            ["datasets", "build", "simulate", "--customers", "40", "--out", "data"], d
        )
        assert code == 0, err
        data = ["--data", "data/simulate/events.parquet", "--schema", "data/simulate/schema.yaml"]
        code, _, err = cli_io(["fit", *data, *TINY_VAE, "--out", "model"], d)
        assert code == 0, err
        yield d


def _runs(project: Path, kind: str) -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{project}/mlruns/mlflow.db")
    runs = mlflow.search_runs(search_all_experiments=True)
    return runs[runs["tags.journeylab.kind"] == kind]


def test_sample_prefix_keeps_the_prefix_and_says_it_is_real(project):
    events = pd.read_parquet(project / "data/simulate/events.parquet")
    prefix = events[events.groupby("customer_id").cumcount() < 2]
    prefix.to_csv(project / "prefix.csv", index=False)
    args = ["sample", "--model-dir", "model", "--prefix", "prefix.csv", "--horizon", "20"]
    code, out, err = cli_io([*args, "-o", "done.parquet"], project)
    assert code == 0, err
    assert "prefix: real" in out and "not covered by the model's DP guarantee" in err
    done = pd.read_parquet(project / "done.parquet")
    assert done["customer_id"].nunique() == prefix["customer_id"].nunique()
    note = read_completion_note(project / "done.parquet")
    assert note["prefix"] == "real"
    assert "real personal data" in note["privacy_note"]
    assert set(note["given_events"].values()) <= {1, 2}
    run = _runs(project, "sample").iloc[0]
    assert run["tags.journeylab.prefix"] == "real"


def test_scenario_run_reports_effects_and_truth_and_logs_a_run(project):
    (project / "promo.yaml").write_text(SCENARIO)
    args = ["scenario", "run", "promo.yaml", "--model-dir", "model", "--simulate"]
    code, out, err = cli_io(args, project)
    assert code == 0, err
    assert "Model estimate:" in out and "Simulator truth" in out and "extrapolation" in out
    run = _runs(project, "scenario").iloc[0]
    assert run["tags.journeylab.prefix"] == "synthetic"
    assert "metrics.truth.purchase_within.effect" in run.index
    arts = mlflow.MlflowClient().list_artifacts(run["run_id"])
    assert {"scenario.yaml", "effects.csv", "truth.csv", "report.md"} <= {a.path for a in arts}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["sample", "--model-dir", "model", "--horizon", "5"], "apply to --prefix only"),
        (["sample", "--model-dir", "model", "--prefix", "p.csv", "-n", "3"], "leave out -n"),
        (["scenario", "run", "nope.yaml", "--model-dir", "model"], "does not exist"),
        (
            ["sample", "--model-dir", "model", "--prefix", "prefix.csv", "--prefix-source", "x"],
            "must be one of",
        ),
    ],
)
def test_bad_what_if_arguments_are_refused(project, args, match):
    code, _, err = cli_io(args, project)
    assert code == 2 and match in err, err
