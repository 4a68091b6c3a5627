"""bench_scenarios at toy size: it runs, writes its table, and refuses bad arguments."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from journeylab.journeys import ConfigError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # bench/ is a folder of scripts, not an installed package

from bench import bench_scenarios as bs  # noqa: E402


def test_a_toy_run_writes_the_table_with_its_command(tmp_path, monkeypatch):
    monkeypatch.setattr(bs, "RESULTS", tmp_path)
    res = bs.main(["--customers", "40", "--reps", "2", "--scenarios", "promo-premium"])
    row = res["scenarios"]["promo-premium"]["outcomes"]["purchases"]
    assert row["sd_paired"] <= row["sd_independent"]
    saved = json.loads((tmp_path / "scenarios.json").read_text())
    assert saved["command"] == "python -m bench.bench_scenarios --customers 40 --reps 2 " + (
        "--scenarios promo-premium"
    )
    table = (tmp_path / "scenarios.md").read_text()
    assert "| promo-premium | purchases |" in table and "var. ratio" in table


@pytest.mark.parametrize(
    "argv, match",
    [(["--scenarios", "no-sms"], "'no-sms' unknown; choose from"), (["--reps", "1"], "at least 2")],
)
def test_bad_arguments_are_refused(argv, match):
    with pytest.raises(ConfigError, match=match):
        bs.main(argv)


def test_the_model_part_at_toy_size_compares_a_vae_and_a_dp_vae_with_the_truth(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(bs, "RESULTS", tmp_path)
    argv = ["--model", "--train-customers", "30", "--epochs", "1", "--customers", "30"]
    res = bs.main([*argv, "--reps", "2", "--scenarios", "promo-premium"])
    assert list(res["models"]) == ["nodp", "eps8"]
    rows = [
        m["scenarios"]["promo-premium"]["outcomes"]["purchase_within"]
        for m in res["models"].values()
    ]
    assert {"true_effect", "model_effect", "sign_right", "within_30", "variance_ratio"} <= set(
        rows[0]
    )
    assert rows[0]["true_effect"] == rows[1]["true_effect"]  # the same customers and truth
    assert rows[1]["variance_ratio"] is None  # independent arms: the first model only
    assert not (tmp_path / "scenarios.json").exists()  # the simulator table is left alone
    table = (tmp_path / "scenarios_model.md").read_text()
    assert "| promo-premium | purchase_within |" in table
    assert "nodp effect" in table and "eps8 within 30%" in table
    judged = sum(
        r["sign_right"] is not None
        for r in res["models"]["eps8"]["scenarios"]["promo-premium"]["outcomes"].values()
    )
    assert "eps8: sign right in " in table and f"of {judged} judged rows" in table


@pytest.mark.parametrize(
    "eps, match", [("none,none", "each model once"), ("0", "'0' is not 'none' or an epsilon")]
)
def test_bad_epsilons_are_refused(eps, match):
    with pytest.raises(ConfigError, match=match):
        bs.main(["--model", "--epsilons", eps])
