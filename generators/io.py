"""Model files, conditions and streamed sampling, shared by every generator.

Streaming samples to Parquet is `generators.base.sample_to_parquet`.

A model directory holds `model.safetensors` (tensors only), `config.json` and
`meta.json` (format version, generator name, schema, encoder info, privacy
record, training history, package versions, and `tensor_sha256`: the hash of the
tensor file, which binds the weights to this metadata). No pickle: loading cannot
run code. Loading refuses weights whose hash differs from meta.json, weights that
are not finite, and a config or schema whose networks would not match the tensors
present (checked on the meta device, before any memory is allocated).

    save_model(path, generator="vae", state=net.state_dict(), config=cfg.to_dict(),
               schema=schema, privacy=record)
    state, config, meta = load_model(path, generator="vae")
"""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.overrides import TorchFunctionMode

from journeylab.generators.base import (
    FORMAT_VERSION,
    check_tensor_hashes,
    file_sha256,
    read_meta,
)
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write, atomic_write_text
from journeylab.journeys.schema import Schema

MODEL_FILE = "model.safetensors"
ID_PREFIX = "syn"
ID_WIDTH = 9
PACKAGES = ("journeylab", "torch", "opacus", "pytorch-lightning", "numpy", "pandas", "safetensors")


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def derive_seed(seed: int | None, *keys: int) -> int:
    """A 63-bit seed from `seed` and `keys`; seed None draws fresh OS entropy."""
    ss = np.random.SeedSequence(None if seed is None else [int(seed), *map(int, keys)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def synthetic_ids(n: int, *, offset: int = 0) -> list[str]:
    return [f"{ID_PREFIX}{i:0{ID_WIDTH}d}" for i in range(offset, offset + n)]


def save_model(
    path: str | Path,
    *,
    generator: str,
    state: dict[str, torch.Tensor],
    config: dict[str, Any],
    schema: Schema,
    privacy: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
    files: dict[str, Any] | None = None,
    packages: tuple[str, ...] = PACKAGES,
) -> Path:
    """Write a model directory; each file atomically, meta.json last.

    `extra` adds keys to meta.json; `files` adds JSON files ({name: object}), such as
    PAR's `state.json`; `packages` are the versions recorded in meta.json."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    meta = {
        "format_version": FORMAT_VERSION,
        "generator": generator,
        "schema": schema.to_dict(),
        "privacy": privacy,
        "versions": package_versions(packages),
        **(extra or {}),
    }
    atomic_write(path / MODEL_FILE, lambda f: save_file(tensors, f))
    meta["tensor_sha256"] = {MODEL_FILE: file_sha256(path / MODEL_FILE)}
    atomic_write_text(path / "config.json", json.dumps(config, indent=2))
    for name, obj in (files or {}).items():
        atomic_write_text(path / name, json.dumps(obj, indent=1, default=_json))
    atomic_write_text(path / "meta.json", json.dumps(meta, indent=2, default=_json))
    return path


def _json(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, torch.Tensor):
        return x.tolist()
    return str(x)


def load_model(
    path: str | Path, *, generator: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Read (tensors, config, meta) of a directory written by `save_model`."""
    path = Path(path)
    meta = read_meta(path)  # checks the format version
    if meta.get("generator") != generator:
        raise ConfigError(
            f"model in {path} was saved by generator '{meta.get('generator')}', "
            f"not '{generator}'; load it with generators.load({str(path)!r})"
        )
    config = read_json(path / "config.json")
    f = path / MODEL_FILE
    check_tensor_hashes(path, meta)
    try:
        state = load_file(str(f))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
        raise ConfigError(
            f"{f} is missing or corrupt ({type(e).__name__}: {e}); re-run the fit "
            "or restore the model directory"
        ) from e
    check_finite(state, f)
    return state, config, meta


def read_json(f: Path) -> Any:
    """A JSON file of a model directory; missing or corrupt ones raise a ConfigError."""
    try:
        return json.loads(Path(f).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(
            f"{f} is missing or corrupt ({type(e).__name__}: {e}); re-run the fit "
            "or restore the model directory"
        ) from e


def check_finite(state: dict[str, torch.Tensor], f: Path) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ConfigError(
            f"{f} holds non-finite weights (NaN or inf) in {bad[:5]}; such a model cannot "
            "sample. Re-run the fit (lower the learning rate if training diverged)"
        )


def check_codec(codec: dict[str, Any], meta: dict[str, Any], path) -> None:
    """The sizes rebuilt from config.json and the schema (max_length, bins) must be the
    ones the model was trained with, as meta.json recorded them: a schema edited to
    max_length 1e8 would otherwise make sampling allocate for 1e8 steps."""
    rebuilt = json.loads(json.dumps(codec, default=_json))
    saved = meta.get("codec")
    if rebuilt != saved:
        keys = sorted(
            k for k in rebuilt if not isinstance(saved, dict) or saved.get(k) != rebuilt[k]
        )
        raise ConfigError(
            f"the config and schema in {path} give sizes {keys} that differ from those the "
            "model was trained with (meta.json 'codec'); restore the model folder as "
            "`journeylab fit` wrote it, or re-run the fit"
        )


class _SkipNormalInit(TorchFunctionMode):
    """Skip normal_() initialisation while a network is built on the meta device.

    On meta tensors `normal_` runs a Python reference kernel whose first call imports
    torch._dynamo (1-2 s of a small `journeylab sample`); meta tensors hold no values, so
    the call is pointless there. Torch function modes are per thread: other threads
    initialising real networks are not affected."""

    SKIP = (torch.nn.init.normal_, torch.nn.init.trunc_normal_, torch.Tensor.normal_)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
        if func in self.SKIP and getattr(target, "is_meta", False):
            return target
        return func(*args, **kwargs)


def build_checked(
    build: Callable[[], nn.Module], state: dict[str, torch.Tensor], path
) -> nn.Module:
    """Build a network for `state` only once its shapes match, then load the weights.

    The network is first built on the meta device (no memory), so a config or schema
    asking for huge layers (d_model: 100000, max_length: 1e8) is refused, not allocated."""
    try:
        with torch.device("meta"), _SkipNormalInit():
            shapes = {k: tuple(v.shape) for k, v in build().state_dict().items()}
    except (RuntimeError, ValueError, TypeError, NotImplementedError) as e:
        raise ConfigError(
            f"{Path(path) / 'config.json'} cannot build a network ({type(e).__name__}: "
            f"{str(e)[:200]}); restore the model folder or re-run the fit"
        ) from e
    present = {k: tuple(v.shape) for k, v in state.items()}
    if shapes != present:
        diff = sorted(k for k in shapes.keys() | present.keys() if shapes.get(k) != present.get(k))
        raise ConfigError(
            f"{Path(path) / 'config.json'} and meta.json describe a network that does not fit "
            f"the tensors in {Path(path) / MODEL_FILE} (e.g. {diff[:3]}); restore the model "
            "folder as `journeylab fit` wrote it, or re-run the fit"
        )
    net = build()
    load_weights(net, state, path)
    return net


def load_weights(net: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """load_state_dict, with a ConfigError naming the file when tensors do not fit."""
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ConfigError(
            f"{Path(path) / MODEL_FILE} does not match its config.json/meta.json "
            f"({str(e)[:300]}); re-run the fit"
        ) from e


def check_conditions(schema: Schema, conditions: dict[str, Any] | None) -> dict[str, Any]:
    """Validate fixed context values; returns {column: value} (str for categoricals)."""
    if conditions is not None and not isinstance(conditions, dict):
        raise ConfigError(
            f"conditions must be a dict {{context column: value}}, got {type(conditions).__name__}"
        )
    out: dict[str, Any] = {}
    problems = []
    ctx = {c.name: c for c in schema.context}
    for name, value in (conditions or {}).items():
        if name not in ctx:
            kind = "an event column" if name in schema.event_names() else "not a column"
            problems.append(
                f"condition on '{name}': {kind}; conditions fix context columns {sorted(ctx)}"
            )
            continue
        c = ctx[name]
        if c.kind == "categorical":
            if str(value) not in c.values:
                problems.append(
                    f"condition {name}={value!r} is outside the domain of '{name}'; "
                    f"allowed values: {list(c.values)}"
                )
            else:
                out[name] = str(value)
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                v = float("nan")
            if not c.min <= v <= c.max:
                problems.append(
                    f"condition {name}={value!r} is outside the domain of '{name}'; "
                    f"allowed values: numbers in [{c.min}, {c.max}]"
                )
            else:
                out[name] = v
    if problems:
        raise ConfigError("; ".join(problems))
    return out
