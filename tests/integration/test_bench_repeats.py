"""bench/bench_repeats.py: a tiny DP VAE on the process simulator, with and without the
repeat bias."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/: scripts, not installed
from bench import bench_repeats  # noqa: E402


@pytest.mark.usefixtures("torch_one_thread")
def test_the_repeat_study_compares_both_samples_with_the_real_holdout(capsys):
    r = bench_repeats.main(
        ["--dataset", "process-1200", "--epochs", "1", "--epsilon", "50", "--journeys", "150"]
    )
    assert 1 <= r["distinct_without"] and 1 <= r["distinct_with"] <= r["distinct_real"] + 3
    assert r["tokens"] and all(0 <= v["real"] <= 1 for v in r["tokens"].values())
    # the bias moves the samples toward the released targets: no further from real
    assert r["mean_abs_error_with"] <= r["mean_abs_error_without"] + 0.02
    assert "| application|A_Submitted |" in capsys.readouterr().out


def test_an_unknown_dataset_is_refused_with_its_name():
    from journeylab.journeys.errors import ConfigError

    with pytest.raises(ConfigError, match="nosuch"):
        bench_repeats.main(["--dataset", "nosuch"])
