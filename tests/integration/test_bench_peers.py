"""The pure parts of the peer benchmark: names, merging, tables, MOSTLY output -> EventLog."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.journeys import ConfigError, EventLog, Schema

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts, not an installed package

from bench import bench_peers as bp  # noqa: E402
from bench.common import parse_config, parse_job  # noqa: E402
from bench.peers import mostly_runner as mr  # noqa: E402
from bench.peers.mostly import RUNNER, mostly_spec  # noqa: E402
from bench.peers.report import merge_rows, render, row_notes  # noqa: E402

SCHEMA = Schema.from_dict({**TINY_SCHEMA, "max_length": 3})
MOSTLY_PY = ROOT / ".venv-mostly" / "bin" / "python"


# --- names -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "job, want",
    [
        ("vae-eps8", ("vae", 8.0)),
        ("gan-eps0.5", ("gan", 0.5)),
        ("vae-nodp", ("vae", None)),
        ("par", ("par", None)),
        ("mostly-eps1", ("mostly", 1.0)),
    ],
)
def test_parse_job(job, want):
    assert parse_job(job) == want


@pytest.mark.parametrize("job", ["vae-eps0", "vae-epsx", "vae-dp8", "gan-eps-1"])
def test_bad_job_names_say_how_to_write_them(job):
    with pytest.raises(ConfigError, match="<model>-eps<E>"):
        parse_job(job)


def test_minutes_one_number_or_per_dataset():
    ds = ["completejourney", "simulate-small"]
    assert bp.parse_minutes("8", ds) == {"completejourney": 8.0, "simulate-small": 8.0}
    assert bp.parse_minutes(None, ["simulate-large", "simulate-40"]) == {
        "simulate-large": 4.0,
        "simulate-40": 8.0,
    }
    got = bp.parse_minutes("completejourney=8, simulate-small=2,simulate-large=4", ds)
    assert got == {"completejourney": 8.0, "simulate-small": 2.0}
    with pytest.raises(ConfigError, match=r"no value for \['simulate-small'\].*simulate-small=2"):
        bp.parse_minutes("completejourney=8", ds)
    for bad in ("0", "-1", "x", "completejourney=8,simulate-small=nan"):
        with pytest.raises(ConfigError, match="--minutes: .* is not a positive number"):
            bp.parse_minutes(bad, ds)


def test_epochs_per_dataset_and_dp_config():
    ds = ["completejourney", "simulate-small"]
    assert bp.parse_epochs(None, ds) == {"completejourney": None, "simulate-small": None}
    assert bp.parse_epochs("completejourney=50,simulate-small=40", ds)["simulate-small"] == 40
    with pytest.raises(ConfigError, match="--epochs: .* not a positive whole number"):
        bp.parse_epochs("2.5", ds)
    assert parse_config('{"d_model": 48}', "--dp-config") == {"d_model": 48}
    for bad in ("{d_model: 48}", "[48]"):
        with pytest.raises(ConfigError, match="--dp-config"):
            parse_config(bad, "--dp-config")
    # a setting the model does not have is refused before any job runs, naming the model
    with pytest.raises(ConfigError, match=r"--dp-config for vae: .*unknown key\(s\) \['d_modle'\]"):
        parse_config('{"d_modle": 48}', "--dp-config", ["vae"])
    assert parse_config('{"d_model": 48}', "--dp-config", ["vae", "gan"]) == {"d_model": 48}


def test_children_get_one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    env = bp.child_env()
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert env["PATH"]  # the rest of the environment is kept


@pytest.mark.slow
def test_two_workers_run_every_job_and_record_each_row(tmp_path):
    """The real parent and children, two at a time, on 40 simulated customers."""
    cmd = [sys.executable, "-m", "bench.bench_peers", "--datasets", "simulate-40,simulate-30"]
    cmd += ["--jobs", "par,vae-eps8", "--minutes", "simulate-40=0.2,simulate-30=0.1"]
    cmd += ["--epochs", "1", "--par-epochs", "1", "--workers", "2", "--results", str(tmp_path)]
    cmd += ["--dp-config", '{"d_model": 8}']
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = json.loads((tmp_path / "peers.json").read_text())
    got = {(r["dataset"], r["job"]): r for r in rows}
    assert set(got) == {(d, j) for d in ("simulate-40", "simulate-30") for j in ("par", "vae-eps8")}
    for r in rows:
        assert "error" not in r and r["workers"] == 2 and r["n_synthetic"] > 0
    assert got[("simulate-40", "vae-eps8")]["minutes"] == 0.2
    assert got[("simulate-30", "vae-eps8")]["minutes"] == 0.1
    assert "'d_model': 8" in got[("simulate-30", "vae-eps8")]["settings"]  # --dp-config
    assert "d_model" not in got[("simulate-30", "par")]["settings"]
    assert "4 jobs in" in p.stderr


def test_job_list_rejects_unknown_models_and_empty_lists():
    assert bp.parse_list("vae-nodp, mostly-eps8", check=bp.check_job) == ["vae-nodp", "mostly-eps8"]
    with pytest.raises(ConfigError, match="unknown model 'sdv'"):
        bp.parse_list("vae-nodp,sdv-nodp", check=bp.check_job)
    with pytest.raises(ConfigError, match="empty list"):
        bp.parse_list(" , ", check=bp.check_job)


def test_dataset_names():
    assert bp.parse_dataset("completejourney") == ("completejourney", None)
    assert bp.parse_dataset("simulate-small") == ("simulate", 1000)
    assert bp.parse_dataset("simulate-large") == ("simulate", 5000)
    assert bp.parse_dataset("simulate-300") == ("simulate", 300)
    for bad in ("simulate", "simulate-5", "cj"):
        with pytest.raises(ConfigError, match="unknown dataset"):
            bp.parse_dataset(bad)


# --- results -----------------------------------------------------------------------
def _row(dataset, job, **kw):
    base = {
        "dataset": dataset,
        "job": job,
        "epsilon": parse_job(job)[1],
        "n_train": 10,
        "n_holdout": 11,
        "minutes": 1.0,
        "detection_auc": 0.9,
        "tvd_2gram": 0.1,
        "ref_detection_auc": 0.5,
        "ref_tvd_2gram": 0.01,
        "churn.logreg.TSTR.auc_ratio": 0.8,
        "epsilon_spent": parse_job(job)[1],
        "fit_seconds": 60.0,
    }
    return base | kw


def test_merge_replaces_by_dataset_and_job_and_sorts():
    old = [_row("simulate-small", "mostly-nodp"), _row("completejourney", "par", fit_seconds=1)]
    new = [_row("completejourney", "par", fit_seconds=2), _row("completejourney", "vae-eps8")]
    rows = merge_rows(old, new)
    assert [(r["dataset"], r["job"]) for r in rows] == [
        ("completejourney", "vae-eps8"),
        ("completejourney", "par"),
        ("simulate-small", "mostly-nodp"),
    ]
    assert rows[1]["fit_seconds"] == 2


def test_render_one_table_per_dataset_with_failures_and_repairs():
    conv = {
        "events_in": 10,
        "events_out": 8,
        "events_out_of_time_range": 2,
        "journeys_requested": 3,
        "journeys_out": 3,
        "values_clipped": 0,
    }
    rows = [
        _row("completejourney", "vae-eps8", detection_auc=float("nan")),
        _row("completejourney", "mostly-eps8", conversion=conv),
        {
            "dataset": "simulate-small",
            "job": "gan-eps1",
            "epsilon": 1.0,
            "error": "exit code 1\nTraceback...\nValueError: boom",
        },
    ]
    md = render(rows)
    assert md.count("### ") == 2 and md.index("### completejourney") < md.index("### simulate")
    line = next(ln for ln in md.splitlines() if ln.startswith("| vae-eps8 "))
    assert "| 8 | 8.00 | 60 |" in line and "| - |" in line  # NaN shows as '-'
    assert (
        "events out of time range 2 (8 of 10 events kept; events outside the time range "
        "dropped)" in md
    )
    assert "gan-eps1: FAILED: ValueError: boom" in md
    assert "detection AUC 0.500" in md


def test_notes_flag_time_capped_runs():
    notes = row_notes(_row("cj", "vae-eps1", time_capped=True, epochs=3.5))
    assert any("stopped by the 1-minute cap after 3.50 epochs" in n for n in notes)


def test_record_writes_files_and_a_failure_never_hides_a_success(tmp_path):
    rows = bp.record([], _row("completejourney", "par"), tmp_path)
    failed = {"dataset": "completejourney", "job": "par", "epsilon": None, "error": "x"}
    rows = bp.record(rows, failed, tmp_path)
    assert "error" not in rows[0]
    saved = json.loads((tmp_path / "peers.json").read_text())
    assert saved == rows and "| par |" in (tmp_path / "peers.md").read_text()


def test_training_figures_count_customer_passes():
    gen = SimpleNamespace(
        config=SimpleNamespace(batch_size=10, epochs=30),
        history=[{"steps": 5, "epoch_seconds": 2.0}, {"steps": 10, "epoch_seconds": 3.0}],
    )
    f = bp.training_figures(gen, 50, dp=False, fit_s=9.0)
    assert f["epochs"] == 2 and f["train_customers"] == 100 and f["train_seconds"] == 5.0
    assert f["train_customers_per_second"] == 20.0
    par = SimpleNamespace(config=SimpleNamespace(epochs=4))
    assert bp.training_figures(par, 50, dp=False, fit_s=8.0)["train_customers_per_second"] == 25


# --- MOSTLY's side -----------------------------------------------------------------
def _spec(**kw):
    return (
        mostly_spec(
            SCHEMA,
            n=3,
            minutes=1.0,
            epsilon=None,
            delta=None,
            seed=0,
            work=Path("/w"),
            context_mode="model",
        )
        | kw
    )


def test_spec_carries_the_declared_domains():
    s = _spec()
    assert s["event_columns"] == ["channel", "event_type", "amount"]
    assert s["context_columns"] == ["segment"]
    assert s["categories"]["channel"] == ["web", "app", "email", "store"]
    assert s["bounds"] == {"amount": [0.0, 500.0]}
    assert s["time_range"] == ["2024-01-01 00:00:00", "2024-07-01 00:00:00"]
    assert s["max_length"] == 3 and s["train_events"] == "/w/train-events.parquet"


def _mostly_like_output() -> tuple[pd.DataFrame, pd.DataFrame]:
    """What TabularARGN.sample returns: nullable dtypes, events not in time order."""
    ev = pd.DataFrame(
        {
            "customer_id": ["m1", "m1", "m1", "m2", "m2", "m2", "m2", "m2", "m3"],
            "timestamp": pd.to_datetime(
                [
                    "2024-03-02",
                    "2024-03-01",
                    "2031-01-01",  # m1: unsorted, one far outside
                    "2024-02-01",
                    "2024-02-02",
                    "2024-02-03",
                    "2024-02-04",
                    "2024-02-04",
                ]  # m2: 5 > 3
                + ["2024-05-01"]
            ),
            "channel": ["web", "app", "web", "web", "web", "email", "store", "store", "fax"],
            "event_type": [
                "view",
                "purchase",
                "view",
                "view",
                "cart",
                "view",
                "view",
                "view",
                "view",
            ],
            "amount": [0.0, 612.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        }
    ).astype(
        {"customer_id": "string", "channel": "string", "event_type": "string", "amount": "Float64"}
    )
    ctx = pd.DataFrame(
        {
            "customer_id": ["m1", "m2", "m3", "m4"],
            "segment": ["budget", "premium", "budget", "premium"],
        }
    )
    return ev, ctx


def test_mostly_output_becomes_a_valid_event_log_and_every_repair_is_counted():
    ev, ctx = _mostly_like_output()
    frame, counts = mr.to_event_frame(ev, ctx, _spec(n_samples=4))
    log = EventLog.from_frame(frame, SCHEMA)  # validates: domains, order, length, duplicates
    assert not log.report.sorted  # already sorted by customer and time
    assert counts["events_out_of_time_range"] == 1
    assert counts["events_out_of_domain"] == 1  # 'fax'
    assert counts["values_clipped"] == 1  # 612.5 > 500
    assert counts["events_duplicate"] == 1  # m2's second 2024-02-04 store view
    assert counts["journeys_truncated"] == 1 and counts["events_truncated"] == 1
    assert counts["journeys_out"] == 2 and counts["journeys_empty"] == 2  # m3 lost, m4 empty
    assert counts["events_in"] == 9 and counts["events_out"] == log.n_events == 5
    m1 = log.df[log.df.customer_id == "m1"]
    assert list(m1.event_type) == ["purchase", "view"] and m1.amount.max() == 500.0
    assert set(log.df.segment) == {"budget", "premium"}


def test_time_policy_clip_keeps_events_at_the_ends_of_the_range():
    ev, ctx = _mostly_like_output()
    frame, counts = mr.to_event_frame(ev, ctx, _spec(n_samples=4, time_policy="clip"))
    log = EventLog.from_frame(frame, SCHEMA)
    assert counts["events_out_of_time_range"] == 1
    m1 = log.df[log.df.customer_id == "m1"]
    assert m1.timestamp.max() == pd.Timestamp("2024-06-30 23:59:59") and len(m1) == 3


def test_evaluation_keeps_what_it_can_and_says_why_not_the_rest(tiny_schema):
    log = EventLog.from_frame(tiny_frame(40, seed=2), tiny_schema)
    train, holdout = log.subset(log.customers[:20]), log.subset(log.customers[20:])
    synth = log.subset(log.customers[:3])  # too few journeys for a 5-fold detection AUC
    out = bp.evaluate(train, holdout, synth, seed=0)
    assert "5 folds" in out["fidelity_error"] and "detection_auc" not in out
    assert "mia_distance_auc" in out and "dcr_share" in out
    assert "utility_error" in out or "churn.logreg.TRTR.auc" in out


def test_shape_figures_give_the_one_event_share_and_midnights(tiny_schema):
    df = tiny_frame(40, seed=2)
    real = EventLog.from_frame(df, tiny_schema)
    dated = df.assign(timestamp=df["timestamp"].dt.normalize())
    first = dated.groupby("customer_id").head(1)  # every journey one event, at midnight
    out = bp.shape_figures(real, EventLog.from_frame(first, tiny_schema))
    share = float((real.lengths() == 1).mean())
    assert out["one_event_share_syn"] == 1.0 and out["one_event_share_real"] == share
    assert out["one_event_share_error"] == pytest.approx((1.0 - share) / share)
    assert out["midnight_share_syn"] == 1.0 and out["midnight_shares"].startswith("1.00/")


def test_budget_split_sums_to_the_job_budget():
    assert mr.budget_split(None, 1e-5) is None
    s = mr.budget_split(8.0, 1e-5)
    assert sum(m["max_epsilon"] for m in s.values()) == pytest.approx(8.0)
    assert all(m["value_protection_epsilon"] < m["max_epsilon"] for m in s.values())
    assert sum(m["delta"] for m in s.values()) == pytest.approx(1e-5)


def test_read_progress_counts_every_dp_step(tmp_path):
    p = tmp_path / "progress-messages.csv"
    p.write_text(
        "epoch,is_checkpoint,steps,samples,trn_loss,total_time,learn_rate,dp_eps,"
        "dp_delta,val_loss\n0.1,0,1,7,29.3,0.3,0.0005,1.95,1e-05,\n"
        "1.0,1,9,51,29.4,7.6,0.0005,2.5,1e-05,29.06\n"
        "2.0,0,18,122,29.3,16.8,0.0005,2.89,1e-05,29.07\n"
    )
    prog = mr.read_progress(p)
    assert prog["samples"] == 122 and prog["train_seconds"] == 16.8
    assert prog["dp_epsilon"] == 2.89 and prog["dp_epsilon_checkpoint"] == 2.5
    assert prog["checkpoint_epoch"] == 1.0 and prog["val_loss"] == 29.07


@pytest.mark.bench
@pytest.mark.skipif(not MOSTLY_PY.exists(), reason=".venv-mostly is absent: run `make peers`")
def test_mostly_runner_end_to_end(tmp_path):
    frame = tiny_frame(40, seed=3, max_events=3)
    log = EventLog.from_frame(frame, Schema.from_dict(TINY_SCHEMA))
    spec = mostly_spec(
        log.schema,
        n=10,
        minutes=0.3,
        epsilon=None,
        delta=None,
        seed=0,
        work=tmp_path,
        context_mode="model",
    )
    log.df.drop(columns=["segment"]).to_parquet(spec["train_events"])
    log.context().to_parquet(spec["train_context"])
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    subprocess.run(
        [str(MOSTLY_PY), str(RUNNER), str(tmp_path / "spec.json")],
        check=True,
        capture_output=True,
        timeout=600,
    )
    res = json.loads(Path(spec["out_json"]).read_text())
    synth = EventLog.read(spec["out_events"], log.schema)
    assert res["conversion"]["journeys_out"] == synth.n_customers > 0
    assert res["train_customers_per_second"] > 0 and res["peak_rss_mb"] > 0
