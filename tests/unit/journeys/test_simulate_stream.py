"""The simulator in blocks: seeded, faithful to one block's simulation, built to a dataset."""

import pandas as pd
import pytest

from journeylab.journeys import ConfigError, EventLog
from journeylab.journeys import datasets as ds
from journeylab.journeys.partitioned import is_partitioned, read_manifest, read_partitioned
from journeylab.journeys.presets import get_preset, simulate_preset
from journeylab.journeys.simulate_stream import block_seed, simulate_partitioned


def build(tmp_path, name="a", *, customers=25, seed=0, preset=None):
    out = tmp_path / f"{name}.parquet"
    truth = tmp_path / f"{name}-truth.parquet"
    manifest = simulate_partitioned(
        customers, seed, out, block=10, preset=preset, parts=3, truth=truth
    )
    return out, manifest, pd.read_parquet(truth)


def test_same_arguments_same_files_other_seed_differs(tmp_path):
    a, ma, _ = build(tmp_path, "a")
    b, mb, _ = build(tmp_path, "b")
    assert ma["fingerprint"] == mb["fingerprint"]
    for entry in ma["files"]:
        assert (a / entry["file"]).read_bytes() == (b / entry["file"]).read_bytes()
    _, mc, _ = build(tmp_path, "c", seed=1)
    assert mc["fingerprint"] != ma["fingerprint"]


def test_a_block_is_the_simulation_of_its_seed_with_ids_shifted(tmp_path):
    out, manifest, _ = build(tmp_path, customers=25)
    df = read_partitioned(out)
    block1 = df[df["customer_id"].between("c00010", "c00019")].reset_index(drop=True)
    alone, _ = simulate_preset(None, 10, seed=block_seed(0, 1))
    shifted = alone.df["customer_id"].map(lambda i: f"c{int(i[1:]) + 10:05d}")  # c00000 -> c00010
    expected = alone.df.assign(customer_id=shifted)
    pd.testing.assert_frame_equal(block1, expected)
    assert manifest["customers"] == 25 and df["customer_id"].iloc[-1] == "c00024"


@pytest.mark.parametrize("preset", ["omnichannel", "retail", "process"])
def test_every_preset_gives_a_valid_log_and_its_truth(tmp_path, preset):
    out, manifest, truth = build(tmp_path, customers=23, preset=preset)
    log = EventLog.read(out, get_preset(preset).schema())
    assert log.fingerprint() == manifest["fingerprint"] and not log.report.notes
    key = log.key
    assert list(truth[key]) == sorted(log.customers) and len(truth) == 23
    assert truth.set_index(key)["n_events"].to_dict() == log.lengths().to_dict()


def test_block_seeds_are_fixed_and_distinct():
    seeds = [block_seed(s, k) for s in (0, 1) for k in range(3)]
    assert len(set(seeds)) == 6 and block_seed(0, 2) == seeds[2]


def test_bad_sizes_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="block 0 must be an integer >= 1"):
        simulate_partitioned(10, 0, tmp_path / "x", block=0)
    with pytest.raises(ConfigError, match="customers -1 must be an integer >= 1"):
        simulate_partitioned(-1, 0, tmp_path / "x")
    assert not list(tmp_path.iterdir())


def test_build_partitions_above_the_threshold_only(tmp_path, monkeypatch):
    monkeypatch.setattr(ds, "PARTITION_ABOVE", 20)
    big = ds.build("simulate", tmp_path / "big", n_customers=21) / "events.parquet"
    small = ds.build("simulate", tmp_path / "small", n_customers=20) / "events.parquet"
    assert is_partitioned(big) and read_manifest(big)["customers"] == 21
    assert small.is_file() and (big.parent / "truth.parquet").is_file()
    forced = ds.build("simulate", tmp_path / "big", n_customers=21, partitioned=False)
    assert (forced / "events.parquet").is_file()  # the folder gave way to the file
    again = ds.build("simulate", tmp_path / "big", n_customers=21, partitioned=True)
    assert is_partitioned(again / "events.parquet")  # and the file to the folder
    assert not [p.name for p in again.iterdir() if p.name.startswith(".")]
