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


def _python(code: str, cwd, *args):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env={**env, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


OPEN_RUN = """
import sys, time
from journeylab.journeys.tracking import start_run
with start_run("fit", dataset="tiny", fingerprint="f") as run:
    print(run.info.run_id, flush=True)
    if sys.argv[1] == "hang":
        time.sleep(600)
"""


def test_commands_started_together_on_a_fresh_store_both_finish(store):
    procs = [_python(OPEN_RUN, store, "end") for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in results]
    assert not any("Traceback" in e for _, e in results)
    assert len(find_runs(dataset="tiny")) == 3


def test_a_sigkilled_run_reads_failed_when_the_store_is_next_opened(store):
    import signal

    from journeylab.journeys import tracking

    proc = _python(OPEN_RUN, store, "hang")
    run_id = proc.stdout.readline().strip()
    client = tracking.open_store()
    assert client.get_run(run_id).info.status == "RUNNING"  # its process is alive
    tags = client.get_run(run_id).data.tags
    assert tags["journeylab.pid"] == str(proc.pid) and tags["journeylab.pid_start"]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    tracking._OPENED.clear()  # a new command: the next open of the store
    run = tracking.open_store().get_run(run_id)
    assert run.info.status == "FAILED"
    assert f"process {proc.pid}" in run.data.tags["journeylab.error"]
    mine = tracking.owner_tags()
    assert tracking.owner_gone(mine) is None
    reused = {**mine, "journeylab.pid_start": "1"}  # this pid, but another process's start
    assert tracking.owner_gone(reused).endswith("another process)")
