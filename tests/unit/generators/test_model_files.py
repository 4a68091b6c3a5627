"""Model folders: weights bound to their metadata by sha256, non-finite weights and
configs that would not fit the tensors refused before anything large is built."""

from __future__ import annotations

import json
import time

import pytest
from conftest import TINY_SCHEMA, tiny_frame
from safetensors.torch import load_file, save_file

import journeylab.generators as generators
from journeylab.generators.io import MODEL_FILE, file_sha256
from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError

TINY = {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2, "latent_dim": 4}
pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    log = EventLog.from_frame(tiny_frame(30, seed=1), Schema.from_dict(TINY_SCHEMA))
    root = tmp_path_factory.mktemp("models")
    for seed in (0, 1):
        generators.create("vae", {**TINY, "seed": seed}).fit(log).save(root / f"m{seed}")
    return root


def _copy(saved, tmp_path, name="m0"):
    import shutil

    return shutil.copytree(saved / name, tmp_path / name)


def _meta(path, **changes):
    meta = json.loads((path / "meta.json").read_text())
    meta.update(changes)
    (path / "meta.json").write_text(json.dumps(meta))
    return meta


def test_a_saved_model_loads_and_records_its_tensor_hash(saved):
    meta = json.loads((saved / "m0" / "meta.json").read_text())
    assert meta["tensor_sha256"] == {MODEL_FILE: file_sha256(saved / "m0" / MODEL_FILE)}
    generators.load(saved / "m0")


def test_swapped_weights_are_refused(saved, tmp_path):
    path = _copy(saved, tmp_path)
    (path / MODEL_FILE).write_bytes((saved / "m1" / MODEL_FILE).read_bytes())
    with pytest.raises(ConfigError, match="does not match the sha256.*swapped"):
        generators.load(path)
    _meta(path, tensor_sha256=None)
    with pytest.raises(ConfigError, match="no tensor_sha256"):
        generators.load(path)


def test_nan_weights_are_refused_even_with_a_matching_hash(saved, tmp_path):
    path = _copy(saved, tmp_path)
    state = load_file(str(path / MODEL_FILE))
    first = sorted(k for k, v in state.items() if v.is_floating_point())[0]
    state[first] = state[first].clone().fill_(float("nan"))
    save_file(state, str(path / MODEL_FILE))
    _meta(path, tensor_sha256={MODEL_FILE: file_sha256(path / MODEL_FILE)})
    with pytest.raises(ConfigError, match="non-finite weights"):
        generators.load(path)


def test_huge_sizes_in_config_or_schema_are_refused_without_allocating(saved, tmp_path):
    path = _copy(saved, tmp_path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "d_model": 100_000}))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="does not fit the tensors"):
        generators.load(path)
    (path / "config.json").write_text(json.dumps(config))
    meta = json.loads((path / "meta.json").read_text())
    _meta(path, schema={**meta["schema"], "max_length": 100_000_000})
    with pytest.raises(ConfigError, match="differ from those the model was trained with"):
        generators.load(path)
    assert time.perf_counter() - t0 < 20


def test_a_killed_samplers_temporary_is_removed_by_the_next_sample(saved, tmp_path):
    import subprocess
    import sys

    from journeylab.journeys.files import remove_stale_temporaries

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    out = tmp_path / "s.parquet"
    names = [f".s.{dead}-x1.parquet", ".s.parquet.tmp", f".s.parquet.{dead}.tmp"]
    names += [".s.1-x2.parquet", ".other.1-x3.parquet", "s.parquet.1.tmp"]  # pid 1 lives
    for n in names:
        (tmp_path / n).write_text("partial")
    assert sorted(p.name for p in remove_stale_temporaries(out)) == sorted(names[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[3:])
    generators.sample_to_parquet(generators.load(saved / "m0"), 3, out, seed=0)
    assert out.is_file() and (tmp_path / names[3]).exists()  # a live writer's file is kept


def test_loading_and_sampling_a_model_imports_neither_opacus_nor_dynamo(saved):
    """Start-up of a small `journeylab sample`: Opacus (~2 s) is for DP fits only, and the
    meta-device size check must not pull in torch._dynamo (~1.5 s)."""
    import subprocess
    import sys

    code = (
        "import sys, journeylab.generators as g\n"
        f"g.load({str(saved / 'm0')!r}).sample(5, seed=0)\n"
        "print(sorted(m for m in ('opacus', 'torch._dynamo') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_vae_saved_before_recency_existed_loads_without_it(tmp_path):
    """Models saved before `recency` was a setting (their config lacks it) were built
    without its inputs: they load with it off, and sample."""
    log = EventLog.from_frame(tiny_frame(20, seed=2), Schema.from_dict(TINY_SCHEMA))
    path = tmp_path / "old"
    generators.create("vae", {**TINY, "recency": False}).fit(log).save(path)
    config = json.loads((path / "config.json").read_text())
    del config["recency"]
    (path / "config.json").write_text(json.dumps(config))
    gen = generators.load(path)
    assert gen.config.recency is False
    assert gen.sample(5, seed=0).n_customers == 5
