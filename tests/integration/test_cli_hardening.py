"""Issue 14: nothing lost, nothing refunded, no traceback.

A hypothesis fuzz test drives the real entry point (`journeylab.app.cli.main`) over
malformed logs, schemas, configs, paths and model folders: every case must end
with exit status 2, one message, no traceback, and no file changed outside the
command's own output. Then the concrete cases: `fit --out` onto other files, two
fits on a fresh store, a SIGKILLed fit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from conftest import TINY_SCHEMA, cli, tiny_frame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,  # seeded: the same examples every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TINY_VAE = ["--epochs", "1", "--config", "batch_size=10", "--config", "d_model=16"]
TINY_VAE += ["--config", "n_layers=2", "--config", "latent_dim=4"]
MARKUP = st.sampled_from(["[bold]", "[/]", "a[/b]", "x/y", "[red]z[/red]", "[", "/"])


def snapshot(root: Path) -> dict[str, str]:
    """Every file outside the MLflow store, with a hash of its content."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "mlruns" not in p.relative_to(root).parts
    }


def assert_refused(args: list[str], cwd: Path, *, output: str | None = None) -> str:
    before = snapshot(cwd)
    code, err = cli(args, cwd)
    assert code == 2, (args, code, err)
    assert "Traceback" not in err and "error" in err.lower(), err
    after = snapshot(cwd)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    allowed = {output} if output else set()
    assert changed <= allowed | {"ledger.jsonl", "ledger.jsonl.lock"}, changed
    return err


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A folder with a valid log, its schema and a tiny fitted VAE model."""
    d = tmp_path_factory.mktemp("project")
    (d / "schema.yaml").write_text(yaml.safe_dump(TINY_SCHEMA, sort_keys=False))
    tiny_frame(30, seed=1).to_csv(d / "events.csv", index=False)
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{d}/mlruns/mlflow.db"}
    env["JOURNEYLAB_LEDGER"] = str(d / "ledger.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        code, err = cli(["fit", "--data", "events.csv", *TINY_VAE, "--out", "model"], d)
    assert code == 0, err
    return d


@pytest.fixture
def work(project, monkeypatch):
    """A fresh copy of the project for each example (no state between examples)."""

    @contextlib.contextmanager
    def copy():
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "p"
            shutil.copytree(project, d, ignore=shutil.ignore_patterns("mlruns"))
            monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{d}/mlruns/mlflow.db")
            monkeypatch.setenv("JOURNEYLAB_LEDGER", str(d / "ledger.jsonl"))
            yield d

    return copy


# --- fuzz: logs ----------------------------------------------------------------------
BAD_CELLS = {
    "timestamp": st.one_of(
        st.sampled_from(["2300-01-01", "abc", "2024-13-01", "12", "2024-01-01T25:00"]),
        MARKUP,
    ),
    "channel": st.one_of(MARKUP, st.text("fax[]/", min_size=1, max_size=6)),
    "amount": st.one_of(MARKUP, st.sampled_from(["zero", "inf", "1e999", "--1"])),
}


@FUZZ
@given(
    column=st.sampled_from(sorted(BAD_CELLS)),
    data=st.data(),
    command=st.sampled_from(["validate", "split", "compare", "fit"]),
    name=st.sampled_from(["log.csv", "lo[g].csv", "[bold]a[red].csv"]),
)
def test_fuzz_malformed_logs(work, column, data, command, name):
    value = data.draw(BAD_CELLS[column])
    with work() as d:
        df = tiny_frame(6, seed=2).astype(str)
        df.loc[3, column] = value
        df.to_csv(d / name, index=False)
        args = {
            "validate": ["validate", "--data", name, "--schema", "schema.yaml"],
            "split": ["split", "--data", name, "--schema", "schema.yaml", "--out", "s"],
            "compare": ["compare", "events.csv", name, "--schema", "schema.yaml", "--no-mlflow"],
            "fit": ["fit", "--data", name, "--schema", "schema.yaml", *TINY_VAE],
        }[command]
        assert_refused(args, d)


# --- fuzz: schemas -------------------------------------------------------------------
SCHEMA_DAMAGE = st.sampled_from(
    [
        {"events": ["channel", "event_type"]},
        {"max_length": "abc"},
        {"max_length": 1.5},
        {"name": "../../x"},
        {"name": "[bold]x"},
        {"time_range": ["2024-01-01", "2300-01-01"]},
        {"time_range": "yesterday"},
        {"context": [1, 2]},
        {"events": {"channel": {"type": "categorical", "values": None}}},
        {"events": {**TINY_SCHEMA["events"], "amount": {"type": "numeric", "min": "zero"}}},
    ]
)


@FUZZ
@given(damage=SCHEMA_DAMAGE, command=st.sampled_from(["validate", "fit", "split", "compare"]))
def test_fuzz_malformed_schemas(work, damage, command):
    with work() as d:
        (d / "bad.yaml").write_text(yaml.safe_dump({**TINY_SCHEMA, **damage}))
        args = [command, "--data", "events.csv", "--schema", "bad.yaml"]
        if command == "compare":
            args = ["compare", "events.csv", "events.csv", "-s", "bad.yaml", "--no-mlflow"]
        assert_refused(args + (["--out", "s"] if command == "split" else []), d)


def test_yaml_alias_bomb_is_refused_fast(work):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    with work() as d:
        (d / "bomb.yaml").write_text("\n".join(lines) + "\nname: *a9\n")
        t0 = time.perf_counter()
        assert "aliases" in assert_refused(
            ["validate", "--data", "events.csv", "-s", "bomb.yaml"], d
        )
        assert time.perf_counter() - t0 < 5


# --- fuzz: configs, paths, conditions ------------------------------------------------
@FUZZ
@given(
    key=st.sampled_from(["beta", "epochs", "lr", "d_model", "nope", "max_length"]),
    value=st.one_of(MARKUP, st.text("abcxyz[]/", min_size=1, max_size=8)),
)
def test_fuzz_bad_generator_config(work, key, value):
    with work() as d:
        assert_refused(["fit", "--data", "events.csv", "--config", f"{key}={value}"], d)


@FUZZ
@given(
    case=st.sampled_from(["validate", "split", "compare", "score", "fit", "sample", "audit"]),
    name=st.sampled_from(["out", "o[u]t", "[bold]a[red]", "x.json"]),
)
def test_fuzz_output_and_input_paths(work, case, name):
    with work() as d:
        (d / "taken").mkdir()
        (d / "taken" / "keep.txt").write_text("keep")
        (d / "file.csv").write_text("not a folder")
        args = {
            "validate": ["validate", "--data", "events.csv", "--out", "taken"],
            "split": ["split", "--data", "events.csv", "--out", "file.csv"],
            "compare": ["compare", "events.csv", "events.csv", "--json", "taken", "--no-mlflow"],
            "score": ["predict", "score", "--model-dir", "model", "--input", f"missing-{name}"],
            "fit": ["fit", "--data", "events.csv", *TINY_VAE, "--out", "taken"],
            "sample": ["sample", "--model-dir", "model", "-n", "3", "--out", f"{name}/x.txt"],
            "audit": ["audit", "--train", "events.csv", "--holdout", "events.csv"]
            + ["--synthetic", "events.csv", "--json", "taken", "--no-mlflow"],
        }[case]
        assert_refused(args, d)
        assert (d / "taken" / "keep.txt").read_text() == "keep"


@FUZZ
@given(key=MARKUP, value=MARKUP)
def test_fuzz_conditions_with_markup(work, key, value):
    with work() as d:
        args = ["sample", "--model-dir", "model", "-n", "3", "--out", "s.parquet"]
        err = assert_refused(args + ["--condition", f"{key}={value}"], d)
        assert key.strip() in err.replace("\n", "")


# --- fuzz: model folders -------------------------------------------------------------
def _damage_model(m: Path, how: str) -> None:
    from safetensors.torch import load_file, save_file

    from journeylab.generators.io import MODEL_FILE, file_sha256

    meta = json.loads((m / "meta.json").read_text())
    if how == "no-meta":
        (m / "meta.json").unlink()
    elif how == "meta-garbage":
        (m / "meta.json").write_text("{[")
    elif how == "truncated":
        data = (m / MODEL_FILE).read_bytes()
        (m / MODEL_FILE).write_bytes(data[: len(data) // 3])
    elif how in ("nan", "inf"):
        state = load_file(str(m / MODEL_FILE))
        k = sorted(k for k, v in state.items() if v.is_floating_point())[0]
        state[k] = state[k].clone().fill_(float(how))
        save_file(state, str(m / MODEL_FILE))
        meta["tensor_sha256"] = {MODEL_FILE: file_sha256(m / MODEL_FILE)}
        (m / "meta.json").write_text(json.dumps(meta))
    elif how == "d_model":
        cfg = json.loads((m / "config.json").read_text())
        (m / "config.json").write_text(json.dumps({**cfg, "d_model": 100_000}))
    elif how == "max_length":
        meta["schema"]["max_length"] = 100_000_000
        (m / "meta.json").write_text(json.dumps(meta))
    elif how == "schema-name":
        meta["schema"]["name"] = "../../x"
        (m / "meta.json").write_text(json.dumps(meta))


DAMAGE = {
    "no-meta": "not a JourneyLab model",
    "meta-garbage": "corrupt",
    "truncated": "sha256",
    "nan": "non-finite",
    "inf": "non-finite",
    "d_model": "does not fit the tensors",
    "max_length": "differ from those the model was trained with",
    "schema-name": "name '../../x' must be",
}


@pytest.mark.parametrize("how", sorted(DAMAGE))  # every damage, each once
def test_damaged_model_folders_are_refused(work, how):
    with work() as d:
        _damage_model(d / "model", how)
        t0 = time.perf_counter()
        args = ["sample", "--model-dir", "model", "-n", "3", "--out", "s.parquet"]
        err = assert_refused(args, d)
        assert DAMAGE[how] in " ".join(err.split()), err
        assert time.perf_counter() - t0 < 20


# --- concrete cases ------------------------------------------------------------------
def test_offsets_in_a_csv_are_converted_and_noted(work):
    with work() as d:
        df = tiny_frame(5, seed=3)
        df["timestamp"] = df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S+02:00")
        df.to_csv(d / "tz.csv", index=False)
        code, err = cli(["validate", "--data", "tz.csv", "--schema", "schema.yaml"], d)
        assert code == 0 and "converted to UTC" in err


def test_fit_out_onto_a_folder_of_other_files_refuses_and_keeps_them(work):
    with work() as d:
        (d / "mine").mkdir()
        (d / "mine" / "notes.txt").write_text("precious")
        err = assert_refused(["fit", "--data", "events.csv", *TINY_VAE, "--out", "mine"], d)
        assert "holding other files" in err and (d / "mine/notes.txt").read_text() == "precious"
        (d / "model" / "notes.txt").write_text("mine too")  # a model folder with a user's file
        err = assert_refused(["fit", "--data", "events.csv", *TINY_VAE, "--out", "model"], d)
        assert "notes.txt" in err and (d / "model/notes.txt").read_text() == "mine too"


def test_an_unreachable_epsilon_is_refused_and_nothing_is_recorded(work):
    with work() as d:
        before = (d / "ledger.jsonl").read_bytes()
        err = assert_refused(["fit", "--data", "events.csv", *TINY_VAE, "--epsilon", "0.05"], d)
        assert "no noise multiplier" in err and "Nothing was recorded" in err
        assert (d / "ledger.jsonl").read_bytes() == before
        assert not (d / "mlruns").exists()  # no MLflow run either


def test_an_edited_ledger_blocks_the_next_fit(work):
    with work() as d:
        ledger = d / "ledger.jsonl"
        lines = ledger.read_bytes().splitlines(keepends=True)
        lines[0] = lines[0].replace(b'"epsilon":Infinity', b'"epsilon":0.0')
        assert lines[0] != ledger.read_bytes().splitlines(keepends=True)[0]
        ledger.write_bytes(b"".join(lines))
        err = assert_refused(["fit", "--data", "events.csv", *TINY_VAE, "--epsilon", "8"], d)
        assert "line 1" in err and "--verify" in err
        assert cli(["privacy", "ledger", "--verify"], d)[0] == 1


def _journeylab(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{cwd}/mlruns/mlflow.db"
    env["JOURNEYLAB_LEDGER"] = str(cwd / "ledger.jsonl")
    return subprocess.Popen(
        [sys.executable, "-m", "journeylab.app.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow  # two real processes (~50 s); tests/unit/journeys/test_tracking.py is quick
def test_two_fits_on_a_fresh_store_both_finish_or_one_is_refused_by_the_cap(tmp_path):
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(TINY_SCHEMA, sort_keys=False))
    tiny_frame(30, seed=1).to_csv(tmp_path / "events.csv", index=False)
    from journeylab.journeys import EventLog, Schema
    from journeylab.privacy.ledger import Ledger

    fp = EventLog.read(tmp_path / "events.csv", Schema.from_dict(TINY_SCHEMA)).fingerprint()
    Ledger(tmp_path / "ledger.jsonl").set_cap(fp, 12.0)  # room for one fit at epsilon 8
    args = ["fit", "--data", "events.csv", *TINY_VAE, "--epsilon", "8"]
    procs = [_journeylab(args, tmp_path) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert not any("Traceback" in e for _, e in results), results
    assert codes == [0, 2], results
    assert any("cap" in e for _, e in results)
    assert Ledger(tmp_path / "ledger.jsonl").spent(fp).epsilon <= 12.0


@pytest.mark.slow  # a real fit process (~35 s); tests/unit/journeys/test_tracking.py is quick
def test_a_sigkilled_fit_reads_failed_after_the_next_command(tmp_path):
    import mlflow

    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(TINY_SCHEMA, sort_keys=False))
    tiny_frame(30, seed=1).to_csv(tmp_path / "events.csv", index=False)
    args = ["fit", "--data", "events.csv", "--epochs", "100000", "--config", "d_model=16"]
    proc = _journeylab(args + ["--config", "n_layers=2", "--config", "batch_size=10"], tmp_path)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    try:
        run_id, runs = None, []
        for _ in range(240):  # until its MLflow run exists
            time.sleep(0.5)
            if (tmp_path / "mlruns" / "mlflow.db").exists():
                with contextlib.suppress(Exception):  # the store may be mid-creation
                    runs = mlflow.MlflowClient(uri).search_runs(["1"])
                if runs:
                    run_id = runs[0].info.run_id
                    break
        assert run_id is not None, proc.stderr.read() if proc.poll() is not None else "no run"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert mlflow.MlflowClient(uri).get_run(run_id).info.status == "RUNNING"
    nxt = _journeylab(["compare", "events.csv", "events.csv", "--schema", "schema.yaml"], tmp_path)
    out, err = nxt.communicate(timeout=300)
    assert nxt.returncode == 0, err
    run = mlflow.MlflowClient(uri).get_run(run_id)
    assert run.info.status == "FAILED" and "is gone" in run.data.tags["journeylab.error"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "--data", "events.csv", "--epsilon", "inf"], "finite number > 0"),
        (["privacy", "ledger", "--ledger", "taken"], "is a folder"),
        (["privacy", "cap", "--dataset", "x", "--epsilon", "1", "--ledger", "f.txt/l"], "under"),
        (["datasets", "build", "simulate", "--out", "f.txt"], "is a file"),
        (["validate", "--data", "events.csv", "--schema", "taken"], "is a folder"),
        (["validate", "--data", "events.csv", "--out", "x.txt"], "unknown file type"),
    ],
)
def test_other_bad_arguments_are_one_message(work, args, message):
    with work() as d:
        (d / "taken").mkdir()
        (d / "f.txt").write_text("a file")
        assert message in " ".join(assert_refused(args, d).split())
