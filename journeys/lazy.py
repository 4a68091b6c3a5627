"""Names a package exports but imports on first use (the `journeylab` command starts fast).

    __getattr__, __dir__ = lazy_exports(__name__, {"EventLog": "journeylab.journeys.eventlog"})

`api` maps each exported name to the module that defines it; `aliases` renames (exported
name -> name in that module); `before(name)` runs first (e.g. filling a registry).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(
    package: str,
    api: dict[str, str],
    *,
    aliases: dict[str, str] | None = None,
    before: Callable[[str], None] | None = None,
):
    def __getattr__(name: str):
        if name not in api:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        if before is not None:
            before(name)
        value = getattr(importlib.import_module(api[name]), (aliases or {}).get(name, name))
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted([*vars(sys.modules[package]), *api])

    return __getattr__, __dir__
