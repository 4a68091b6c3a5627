import mlflow
import pytest

from journeylab.journeys import ConfigError
from journeylab.journeys.tracking import find_runs, start_run, tracking_uri


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_default_store_is_sqlite_in_mlruns(store):
    assert tracking_uri() == f"sqlite:///{store.resolve()}/mlruns/mlflow.db"


def test_convention_and_failed_runs_are_not_successes(store):
    with start_run("compare", dataset="tiny", fingerprint="f00", detail="a-vs-b") as run:
        mlflow.log_metric("tvd_2gram", 0.1)
        mlflow.log_dict({"x": 1}, "m.json")
    with pytest.raises(RuntimeError), start_run("fit", dataset="tiny", fingerprint="f00"):
        raise RuntimeError("killed")
    runs = find_runs(dataset="tiny")
    assert [r.info.run_id for r in runs] == [run.info.run_id]
    r = runs[0]
    assert r.data.tags["journeylab.kind"] == "compare"
    assert r.data.tags["journeylab.dataset_fingerprint"] == "f00"
    assert r.info.run_name.startswith("compare-a-vs-b-")
    assert r.info.artifact_uri.startswith((store / "mlruns" / "artifacts").resolve().as_uri())
    failed = mlflow.search_runs(search_all_experiments=True, filter_string="status = 'FAILED'")
    assert len(failed) == 1 and "killed" in failed["tags.journeylab.error"][0]
    with pytest.raises(ConfigError, match="run kind 'nope'"):
        with start_run("nope", dataset="tiny", fingerprint="f"):
            pass
