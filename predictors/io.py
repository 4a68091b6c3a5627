"""Saving and loading predictors without pickle.

scikit-learn estimators go through skops.io, loaded with an explicit allow-list
of types (a file that holds any other type is refused, so loading cannot run
foreign code); torch weights go to safetensors; everything else is JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.files import atomic_write

FORMAT_VERSION = 1


def write_json(path: str | Path, obj: Any) -> Path:
    path = Path(path)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2)))
    return path


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} does not exist; pass a folder written by JourneyLab")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); re-create the model") from e


def save_sklearn(estimator, path: str | Path) -> Path:
    import skops.io as sio

    path = Path(path)
    atomic_write(path, lambda tmp: sio.dump(estimator, tmp))
    return path


def load_sklearn(path: str | Path, *, trusted: list[str]):
    """Load a skops file whose non-default types are all in `trusted`; refuse any other."""
    import skops.io as sio

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"model file {path} does not exist; train and save the model first")
    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as e:  # skops raises several types for a corrupt archive
        raise ConfigError(f"{path} is not a readable skops file ({e}); re-create the model") from e
    extra = sorted(set(found) - set(trusted))
    if extra:
        raise ConfigError(
            f"model file {path} holds types outside the allow-list: {extra}; "
            "load only model files written by JourneyLab"
        )
    return sio.load(path, trusted=list(found))


def save_tensors(tensors: dict, path: str | Path) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    atomic_write(path, lambda tmp: save_file({k: v.contiguous() for k, v in tensors.items()}, tmp))
    return path


def load_tensors(path: str | Path) -> dict:
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"weights file {path} does not exist; train and save the model")
    return load_file(path)


def versions() -> dict[str, str]:
    import sklearn

    from journeylab.journeys import __version__

    out = {"journeylab": __version__, "scikit-learn": sklearn.__version__}
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return out


def check_format(meta: dict, path: Path) -> None:
    v = meta.get("format_version")
    if v != FORMAT_VERSION:
        raise ConfigError(
            f"{path} has format version {v}, this JourneyLab reads "
            f"{FORMAT_VERSION}; re-train the model with this version"
        )
