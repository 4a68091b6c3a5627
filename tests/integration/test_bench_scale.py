"""The scale benchmarks on tiny sizes: a child per measure, its own peak memory, merged results."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

from journeylab.journeys import ConfigError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts, not an installed package

from bench import bench_sample_workers as bsw  # noqa: E402
from bench import bench_scale as bs  # noqa: E402


def test_each_mode_is_measured_in_its_own_child(tmp_path, monkeypatch):
    monkeypatch.setattr(bs, "RESULTS", tmp_path)
    monkeypatch.chdir(tmp_path)  # the child finds bench/ wherever it is started
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the builds go
    results = bs.main(["--sizes", "60", "--modes", "auto,partitioned"])
    assert [r["partitioned"] for r in results] == [False, True]
    for r in results:
        assert r["customers"] == 60 and r["build_seconds"] > 0 and r["peak_rss_mb"] > 50
    assert "scan_seconds" not in results[0] and results[1]["scan_peak_rss_mb"] > 50
    saved = json.loads((tmp_path / "scale.json").read_text())["builds"]
    assert set(saved) == {"60 auto", "60 partitioned"}
    assert saved["60 auto"]["command"].endswith("--sizes 60 --modes auto,partitioned")
    assert not list(tmp_path.glob("bench-scale-*"))  # the built files are removed


def test_a_dp_fit_of_each_partitioned_build_is_measured_in_its_own_child(tmp_path, monkeypatch):
    monkeypatch.setattr(bs, "RESULTS", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    tiny = '{"d_model": 16, "n_layers": 2, "latent_dim": 4, "batch_size": 10}'
    args = ["--sizes", "80", "--modes", "partitioned", "--fit-steps", "2", "--fit-config", tiny]
    (r,) = bs.main(args)
    fit = r["fit"]
    assert fit["customers"] == 80 and fit["steps"] == 2 and fit["epoch_steps"] == 8
    assert fit["projected_epoch_seconds"] == pytest.approx(fit["seconds_per_step"] * 8, rel=0.01)
    assert fit["encode_seconds"] > 0 and fit["profile_seconds"] > 0 and fit["encoded_mb"] > 0
    assert fit["peak_rss_mb"] > 100 and 0 < fit["epsilon"] <= 8
    saved = json.loads((tmp_path / "scale.json").read_text())
    assert set(saved["fits"]) == {"80 steps2"} and not saved["builds"]
    with pytest.raises(ConfigError, match="add --modes partitioned"):
        bs.main(["--sizes", "80", "--fit-steps", "2"])


def test_sizes_and_modes_are_checked():
    assert bs.parse_sizes("10000,100000", True) == [10_000, 100_000, 1_000_000]
    with pytest.raises(ConfigError, match="choose from"):
        bs.parse_modes("auto,sharded")
    with pytest.raises(ConfigError, match="write customer counts"):
        bs.parse_sizes("10k", False)


def test_sampling_with_two_workers_writes_the_same_file(tmp_path, monkeypatch):
    monkeypatch.setattr(bsw, "RESULTS", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    config = '{"d_model": 16, "n_layers": 2, "latent_dim": 4, "batch_size": 50}'
    results = bsw.main(["--journeys", "40", "--workers", "1,2", "--config", config])
    assert [r["workers"] for r in results] == [1, 2]
    assert results[0]["sha256"] == results[1]["sha256"] and results[0]["events"] > 40
    assert results[1]["worker_peak_rss_mb"] > 50
    assert set(json.loads((tmp_path / "sample_workers.json").read_text())) == {"40 x1", "40 x2"}
    assert not list(tmp_path.glob("bench-sample-workers-*"))
    with pytest.raises(ConfigError, match="give counts >= 1"):
        bsw.parse_workers("0,2")
