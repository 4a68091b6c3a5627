"""bench/bench_mix.py: the known-token study runs on a small simulator split."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # bench/: scripts, not installed
from bench import bench_mix  # noqa: E402


def test_the_mix_study_counts_missed_and_false_tokens_per_release(capsys):
    (r,) = bench_mix.main(["--datasets", "omnichannel-400", "--seeds", "2", "--epsilon", "8"])
    assert r["dataset"] == "omnichannel-400" and 0 < r["real_tokens"] <= r["tokens"]
    for rule in ("presence", "share"):
        assert 0 <= r[f"{rule}_missed"] <= r["real_tokens"]
        assert 0 <= r[f"{rule}_false"] <= r["tokens"] - r["real_tokens"]
    # the omnichannel simulator's views and impressions carry no amount: at epsilon 8 on
    # 200 customers the release calls them structural zeros in both releases
    assert len(r["zero_types"]) == 2 and all("page_view" in z for z in r["zero_types"])
    assert "| omnichannel-400 |" in capsys.readouterr().out


def test_an_unknown_dataset_is_refused_with_its_name():
    from journeylab.journeys.errors import ConfigError

    with pytest.raises(ConfigError, match="nosuch"):
        bench_mix.main(["--datasets", "nosuch"])
