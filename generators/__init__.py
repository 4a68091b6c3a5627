"""Journey generators behind one interface: DP GAN, DP VAE, SDV PAR baseline.

Names are imported on first use, so the `journeylab` command (whose `fit` and `sample`
live in `generators.cli`) starts without torch. Asking for the registry, `create` or
`load` registers the built-in generators ("gan", "vae", "par").
"""

from __future__ import annotations

import importlib

_API = ("REGISTRY", "SequenceGenerator", "create", "load", "register", "sample_to_parquet")


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'journeylab.generators' has no attribute '{name}'")
    base = importlib.import_module("journeylab.generators.base")
    base.registry()  # registers the built-in generators
    value = getattr(base, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = list(_API)
