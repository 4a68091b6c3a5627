"""Journey generators behind one interface: DP GAN, DP VAE, SDV PAR baseline.

Names are imported on first use, so the `journeylab` command (whose `fit` and `sample`
live in `generators.cli`) starts without torch. Asking for the registry, `create` or
`load` registers the built-in generators ("gan", "vae", "par").
"""

from __future__ import annotations

import importlib

from journeylab.journeys.lazy import lazy_exports

_API = ("REGISTRY", "SequenceGenerator", "create", "load", "register", "sample_to_parquet")


def _registered(_name: str) -> None:
    importlib.import_module("journeylab.generators.base").registry()  # built-in generators


_MODULES = {name: "journeylab.generators.base" for name in _API}
_MODULES["sample_context"] = "journeylab.generators.context"  # one journey per table row
_MODULES["complete_journeys"] = "journeylab.generators.complete"  # continue given journeys
_MODULES["Scenario"] = "journeylab.generators.scenario"
_MODULES["run_scenario"] = "journeylab.generators.scenario_run"

__getattr__, __dir__ = lazy_exports(__name__, _MODULES, before=_registered)

__all__ = list(_MODULES)
