"""`fit` on a partitioned dataset read in chunks: the same input, profile and model as one file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_frame

import journeylab.generators as generators
import journeylab.journeys.streamed as streamed
from journeylab.generators.config import VAEConfig
from journeylab.generators.data import Binning, JourneyData
from journeylab.generators.par import PARGenerator
from journeylab.generators.profile import JourneyProfile
from journeylab.journeys import ConfigError, EventLog, JourneyEncoder, Schema
from journeylab.journeys.partitioned import write_blocks
from journeylab.journeys.simulate import simulate
from journeylab.journeys.streamed import StreamedLog, subsample_customers
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.ledger import Ledger
from journeylab.runs import fit_run

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SMALL = {"d_model": 16, "n_layers": 2, "batch_size": 8, "epochs": 1, "seed": 3}


def _partitioned(log: EventLog, folder, *, block: int = 9, parts: int = 3) -> StreamedLog:
    ids = log.customers
    blocks = [log.subset(ids[i : i + block]).df for i in range(0, len(ids), block)]
    write_blocks(blocks, folder, log.schema, parts=parts)
    return StreamedLog.open(folder, log.schema)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """200 simulated customers (enough for constants and order rules), and the same
    log as a partitioned dataset of 4 parts written in blocks of 9 customers."""
    log, _ = simulate(200, seed=3)
    return log, _partitioned(log, tmp_path_factory.mktemp("sim") / "events", parts=4)


def test_same_fit_input_from_a_folder_and_from_one_file(sim):
    log, folder = sim
    enc = JourneyEncoder(log.schema)
    codec = Binning.make(enc, VAEConfig())
    whole = JourneyData.from_log(log, enc, codec)
    chunked = JourneyData.from_log(folder, enc, codec, customers_per_chunk=16)
    assert whole.n == chunked.n == log.n_customers
    for k in JourneyData.PER_EVENT + JourneyData.PER_CUSTOMER + ("offsets",):
        assert torch.equal(getattr(whole, k), getattr(chunked, k)), k
    idx = torch.tensor([0, 5, 199, 42])
    for k, v in vars(whole.take(idx)).items():  # batches as before: int64 classes
        assert torch.equal(v, getattr(chunked.take(idx), k)), k
    assert whole.take(idx).tokens.dtype == torch.long


def test_compact_store_takes_what_the_int64_encoding_took(sim):
    log, _ = sim
    enc = JourneyEncoder(log.schema)
    codec = Binning.make(enc, VAEConfig())
    data = JourneyData(enc.encode(log), codec)
    assert data.tokens.dtype == torch.int16
    full = JourneyData._ragged(enc.encode(log), codec)
    padded = enc.encode(log)
    valid = torch.arange(padded.tokens.shape[1]) < padded.lengths[:, None]
    assert torch.equal(data.tokens.long(), padded.tokens.long()[valid])
    as_int64 = sum(
        v.nelement() * (v.element_size() if v.is_floating_point() else 8) for v in full.values()
    )
    stored = data.nbytes() - data.offsets.nelement() * data.offsets.element_size()
    assert stored < 0.6 * as_int64  # classes as int16, not int64: under half the bytes


def _assert_same(a, b, path=""):
    """Equal, with float sums over chunks allowed their last-bit rounding."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list) and a and isinstance(a[0], float | int | list):
        if isinstance(a[0], list) and a[0] and isinstance(a[0][0], str):
            assert a == b, path
        else:
            np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9)
    else:
        assert a == b, path


@pytest.mark.parametrize("epsilon", [None, 2.0])
def test_same_profile_from_a_folder_read_in_small_chunks(sim, monkeypatch, epsilon):
    log, folder = sim
    monkeypatch.setattr(streamed, "CHUNK", 13)  # many chunks: every count adds up
    parts = ("rhythm", "values", "mix")
    whole = JourneyProfile.fit(log, epsilon=epsilon, seed=5, parts=parts).to_dict()
    chunked = JourneyProfile.fit(folder, epsilon=epsilon, seed=5, parts=parts).to_dict()
    _assert_same(whole, chunked)
    if epsilon is None:  # the exact parts are there to compare
        assert any(whole["orders"].values())
    else:
        other = JourneyProfile.fit(log, epsilon=epsilon, seed=6, parts=parts).to_dict()
        assert other["shape"] != whole["shape"]  # the noise is there, and seeded


@pytest.mark.parametrize("model", ["vae", "gan"])
def test_dp_fit_on_a_folder_equals_the_fit_on_one_file(tmp_path, tiny_schema, monkeypatch, model):
    log = EventLog.from_frame(tiny_frame(40, seed=7), tiny_schema)
    folder = _partitioned(log, tmp_path / "ds")
    monkeypatch.setattr(streamed, "CHUNK", 11)

    def never_whole(*a, **k):
        raise AssertionError("a streamed fit read the folder whole")

    monkeypatch.setattr("journeylab.journeys.eventlog.read_partitioned", never_whole)
    fits = []
    for i, source in enumerate((log, folder)):
        gen = generators.create(model, SMALL)
        gen.fit(source, privacy=PrivacyBudget(epsilon=8), ledger=Ledger(tmp_path / f"l{i}.jsonl"))
        fits.append(gen)
    a, b = fits
    theirs = b.net.state_dict()
    for name, x in a.net.state_dict().items():
        assert torch.equal(x, theirs[name]), name
    assert a.release["epsilon"] == b.release["epsilon"] < 8
    assert a.release["dataset_fingerprint"] == b.release["dataset_fingerprint"]
    _assert_same(a.profile.to_dict(), b.profile.to_dict())
    assert b.sample(5, seed=0).n_customers == 5


def test_a_generator_that_needs_the_whole_log_refuses_a_folder(tmp_path, tiny_log, monkeypatch):
    folder = _partitioned(tiny_log, tmp_path / "ds")
    ledger = Ledger(tmp_path / "l.jsonl")
    monkeypatch.setattr(PARGenerator, "streams", False)  # every generator streams today
    with pytest.raises(ConfigError, match="generator 'par' needs the whole log in memory"):
        generators.create("par", {}).fit(folder, ledger=ledger)
    with pytest.raises(ConfigError, match="fit one of \\['gan', 'vae'\\]"):
        fit_run(folder, model="par", ledger=ledger)  # refused before any MLflow run opens
    assert not ledger.entries()


def test_par_fits_a_folder_on_its_stated_seeded_subsample(tmp_path, tiny_log, monkeypatch):
    """SDV needs its log in memory: a folder is fitted on the max_customers customers with
    the smallest sha256(seed:id), exactly the fit on that subsample as one log; a folder
    that fits whole gives the one-file fit."""
    folder = _partitioned(tiny_log, tmp_path / "ds")  # 30 customers
    monkeypatch.setattr(streamed, "CHUNK", 11)

    def never_whole(*a, **k):
        raise AssertionError("a par fit read the folder whole")

    monkeypatch.setattr("journeylab.journeys.eventlog.read_partitioned", never_whole)
    sub = subsample_customers(tiny_log, 12, seed=2)
    fits = {}
    for name, source, k in (("folder", folder, 12), ("sub", sub, 12), ("all", folder, 30)):
        gen = generators.create("par", {"epochs": 1, "max_customers": k, "seed": 2})
        fits[name] = gen.fit(source, ledger=Ledger(tmp_path / f"{name}.jsonl"))
    fits["file"] = generators.create("par", {"epochs": 1, "max_customers": 30, "seed": 2}).fit(
        tiny_log, ledger=Ledger(tmp_path / "file.jsonl")
    )
    for a, b in (("folder", "sub"), ("all", "file")):
        for name, x in fits[a]._tensors.items():
            assert torch.equal(x, fits[b]._tensors[name]), (a, name)
        pd.testing.assert_frame_equal(fits[a].sample(4, seed=1).df, fits[b].sample(4, seed=1).df)
    scale = fits["folder"].fit_scale
    assert {k: scale[k] for k in ("customers", "fit_customers", "subsample_seed")} == {
        "customers": 30,
        "fit_customers": 12,
        "subsample_seed": 2,
    }
    assert "fitted on the 12 of 30 customers" in scale["note"]
    assert fits["sub"].fit_scale is None and fits["file"].fit_scale is None
    assert fits["folder"].release["dataset_fingerprint"] == tiny_log.fingerprint()  # the ledger's
    loaded = generators.load(fits["folder"].save(tmp_path / "model"))
    assert loaded.fit_scale == scale


def test_undeclared_domains_under_dp_are_refused_before_any_charge(tmp_path, tiny_log):
    d = tiny_log.schema.to_dict()
    d["events"]["amount"].pop("max")
    schema = Schema.from_dict(d)
    log = EventLog.from_frame(tiny_log.df, schema)
    folder = _partitioned(log, tmp_path / "ds")
    ledger = Ledger(tmp_path / "l.jsonl")
    with pytest.raises(ConfigError, match="declare the domains in the schema"):
        generators.create("vae", SMALL).fit(folder, privacy=PrivacyBudget(epsilon=8), ledger=ledger)
    assert not ledger.entries()


def test_a_streamed_fit_on_glibc_names_the_allocator_that_keeps_memory_flat():
    from journeylab.generators.cli import allocator_hint

    hint = allocator_hint({}, libc="glibc")
    assert "LD_PRELOAD" in hint and "libjemalloc2" in hint
    assert allocator_hint({"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}, libc="glibc") is None
    assert allocator_hint({}, libc="") is None  # not glibc: nothing to say
