"""`journeylab sample --context customers.csv`: one journey per row, its context kept."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from conftest import TINY_SCHEMA, cli, tiny_frame

TINY_VAE = ["--epochs", "1", "--config", "batch_size=10", "--config", "d_model=16"]
TINY_VAE += ["--config", "n_layers=2", "--config", "latent_dim=4"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("context")
    (d / "schema.yaml").write_text(yaml.safe_dump(TINY_SCHEMA, sort_keys=False))
    tiny_frame(30, seed=1).to_csv(d / "events.csv", index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{d}/mlruns/mlflow.db")
        mp.setenv("JOURNEYLAB_LEDGER", str(d / "ledger.jsonl"))
        code, err = cli(["fit", "--data", "events.csv", *TINY_VAE, "--out", "model"], d)
        assert code == 0, err
        yield d


def test_sample_with_a_context_table_gives_one_journey_per_row(project):
    segments = ["premium", "budget", None, "premium"]  # None: generated
    pd.DataFrame({"segment": segments}).to_parquet(project / "customers.parquet")
    args = ["sample", "--model-dir", "model", "--context", "customers.parquet", "-o", "s.parquet"]
    code, err = cli(args, project)
    assert code == 0, err
    got = _context_by_id(pd.read_parquet(project / "s.parquet"))
    assert len(got) == len(segments)
    for row, seg in enumerate(segments):
        if seg:
            assert got[f"syn-{row:08d}"] == seg


def test_a_csv_table_with_ids_names_the_journeys(project):
    (project / "ids.csv").write_text("customer_id,segment\nq7,budget\nb2,\nk1,premium\n")
    args = ["sample", "--model-dir", "model", "--context", "ids.csv", "-o", "ids.parquet"]
    code, err = cli(args, project)
    assert code == 0, err
    got = _context_by_id(pd.read_parquet(project / "ids.parquet"))
    assert sorted(got.index) == ["b2", "k1", "q7"]
    assert (got["q7"], got["k1"]) == ("budget", "premium")


def _context_by_id(df: pd.DataFrame) -> pd.Series:
    per = df.groupby("customer_id")["segment"]
    assert (per.nunique() == 1).all()
    return per.first()


def test_n_that_disagrees_with_the_table_is_refused(project):
    (project / "two.csv").write_text("segment\nbudget\npremium\n")
    args = ["sample", "--model-dir", "model", "--context", "two.csv", "-n", "5", "-o", "x.parquet"]
    code, err = cli(args, project)
    assert code == 2 and "has 2 rows" in err and "leave out -n" in err.replace("\n", " "), err
    assert not (project / "x.parquet").exists()
