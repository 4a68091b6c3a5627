"""The DDP benchmark on a tiny simulated log: 1 and 2 processes, the same DP plan."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest

from journeylab.journeys import ConfigError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts, not an installed package

from bench import bench_ddp as bd  # noqa: E402


@pytest.mark.slow
def test_one_and_two_processes_spend_the_same_plan(tmp_path, monkeypatch):
    monkeypatch.setattr(bd, "RESULTS", tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the data and models go
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = '{"d_model": 16, "n_layers": 2, "batch_size": 16}'
    results = bd.main(["--customers", "80", "--devices", "1,2", "--config", cfg])
    assert [r["devices"] for r in results] == [1, 2]
    assert results[0]["steps"] == results[1]["steps"] == round(1 / (16 / 80))
    assert results[0]["epsilon_training"] == results[1]["epsilon_training"]
    assert all(r["wall_seconds"] > 0 and len(r["epoch_seconds"]) == 1 for r in results)
    saved = json.loads((tmp_path / "ddp.json").read_text())
    assert set(saved) == {"80 x1", "80 x2"}
    assert not list(tmp_path.glob("bench-ddp-*"))  # the data and models are removed


def test_process_counts_are_checked():
    assert bd.parse_devices("1,2,4") == [1, 2, 4]
    with pytest.raises(ConfigError, match="write process counts"):
        bd.parse_devices("1,two")
    with pytest.raises(ConfigError, match="counts >= 1"):
        bd.parse_devices("0,2")
