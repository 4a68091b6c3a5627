"""bench/bench_verbs.py, bench_clock.py, bench_rhythm.py, bench_through.py and
bench_profile_noise.py on tiny data:
every verb runs and is measured; the clock, rhythm and profile checks compare the real
holdout with its redraw."""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/: scripts, not installed
from bench import (  # noqa: E402
    bench_clock,
    bench_profile_noise,
    bench_rhythm,
    bench_through,
    bench_verbs,
)
from journeylab.journeys.errors import ConfigError  # noqa: E402


def test_every_streamed_verb_runs_as_a_process_and_is_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_verbs, "RESULTS", tmp_path)
    rows = bench_verbs.main(["--customers", "300", "--max-customers", "100"])
    names = [r["verb"] for r in rows]
    assert names == [
        "build",
        "split",
        "compare",
        "predict train",
        "predict evaluate",
        "predict score",
    ]
    for r in rows:
        assert r["cpu_seconds"] > 0 and r["peak_rss_mb"] > 50 and r["wall_seconds"] > 0
    assert "100 customers of" in rows[3]["last_line"]  # the subsample, stated
    saved = json.loads((tmp_path / "verbs.json").read_text())
    assert saved["300"]["max_customers"] == 100 and len(saved["300"]["verbs"]) == 6


def test_bad_sizes_are_refused():
    with pytest.raises(ConfigError, match="--customers"):
        bench_verbs.main(["--customers", "10"])


def test_the_clock_check_gives_real_and_redrawn_whole_minute_shares(capsys):
    r = bench_clock.measure("omnichannel-300", None, 2)
    (minute, midnight), redrawn = r["real"], r["through the calendar"]
    assert 0 < minute < 0.05 and midnight == 0 and len(redrawn) == 2
    assert all(abs(m - minute) < 0.015 and n == 0 for m, n in redrawn)
    # exact: the simulator's promo emails go out on Mondays only
    assert all(c.get("email|promo_email") == "0111111" for c in r["closed days"])
    assert 0 < bench_clock.calendar_epsilon(8.0) < 8.0


def test_the_rhythm_check_gives_each_gap_feature_an_auc(capsys):
    exact, noisy = (
        bench_rhythm.measure("omnichannel-600", None),
        bench_rhythm.measure("omnichannel-600", 1.0),
    )
    assert exact["tables"] == "fine" and noisy["tables"] == "coarse"
    assert set(exact["auc"]) == set(bench_rhythm.FEATURES)
    assert all(0.3 < v < 0.75 for v in exact["auc"].values()), exact  # the fine tables keep them
    from bench.bench_peers import load_split

    train = load_split("omnichannel-600", 0)[0]
    assert 0 < bench_rhythm.rhythm_scale(train, 8.0) < bench_rhythm.rhythm_scale(train, 1.0)
    with pytest.raises(ConfigError, match="epsilon"):
        bench_rhythm.main(["--epsilons", "0"])
    whole = bench_rhythm.measure_profile("omnichannel-600", 8.0)  # the whole profile's floor
    assert 0.5 <= whole["auc"] <= 1.0 and len(whole["giveaways"]) == 3
    assert all(float(g.rsplit(" ", 1)[1]) >= 0.5 for g in whole["giveaways"]), whole


def test_the_profile_check_keeps_a_process_in_order():
    """Process cases through a DP profile: their activities and orders stay (the profile
    changes times, not what happened), and the figures are all reported."""
    r = bench_through.measure("process-400", 8.0, 2)
    m = r["mean"]
    assert r["real order violations"] == 0.0
    assert m["order violations"] <= 0.01 and m["tokens changed"] <= 0.02
    assert 0.3 < m["first_day AUC"] < 0.9 and 0.3 < m["last_day AUC"] < 0.9
    assert len(r["top of release 0"]) == 3
    with pytest.raises(ConfigError, match="releases"):
        bench_through.main(["--releases", "0"])


def test_the_profile_noise_bench_compares_the_two_mechanisms(capsys):
    """At the same epsilon the Gaussian tables, composed with DP-SGD, are less noisy than
    the Laplace ones were, for every part, and the rho is what the plan leaves."""
    rows = bench_profile_noise.rows(1204, 25, 8.0, 1)
    assert {r["part"] for r in rows} >= {"shape", "calendar", "mix", "values", "rhythm"}
    assert all(r["ratio"] > 1.5 for r in rows) and 0.4 < rows[0]["rho"] < 0.6
    bench_profile_noise.main(["--epsilons", "1"])
    assert "| calendar |" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="customers"):
        bench_profile_noise.main(["--customers", "1"])


def test_saved_samples_are_scored_again_by_the_reviewer_at_hand(tmp_path, capsys):
    """A bench_peers results folder's samples against their real holdout: the holdout's
    own other half scores as real, a copy with every clock at 3 a.m. does not."""
    from bench import bench_rescore
    from bench.bench_peers import load_split

    train, _ = load_split("omnichannel-600", 0)
    (tmp_path / "peers").mkdir()
    train.df.to_parquet(tmp_path / "peers" / "synthetic-omnichannel-600-vae-eps8.parquet")
    late = train.df.assign(timestamp=train.df["timestamp"].dt.normalize() + pd.Timedelta(hours=3))
    late.to_parquet(tmp_path / "peers" / "synthetic-omnichannel-600-vae-nodp.parquet")
    (tmp_path / "peers" / "notes.txt").write_text("not a sample")
    out = tmp_path / "rescored.json"
    bench_rescore.main([str(tmp_path), "--json", str(out)])
    rows = {r["job"]: r for r in json.loads(out.read_text())}
    assert set(rows) == {"vae-eps8", "vae-nodp"}
    assert rows["vae-eps8"]["detection_auc"] < 0.6 < 0.9 < rows["vae-nodp"]["detection_auc"]
    assert len(rows["vae-nodp"]["giveaways"]) == 3
    assert "| omnichannel-600 | vae-nodp |" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="no peers/synthetic"):
        bench_rescore.main([str(tmp_path / "peers")])
    with pytest.raises(ConfigError, match="no such folder"):
        bench_rescore.main([str(tmp_path / "missing")])
