"""Presets of the `simulate` dataset: journey data of several shapes, seeded, with ground truth.

    log, truth = simulate_preset("retail", 1000, seed=0)
    schema = get_preset("process").schema()

A plain dict maps each name to a `Preset`; an unknown name is a `ConfigError`
that lists the valid ones. `omnichannel` is today's `simulate()` and the
default. Each preset has its own schema file in journeys/data/ and its own
schema name, so logs of different shapes never share a ledger entry or folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema
from journeylab.journeys.sim_process import process_schema, simulate_process
from journeylab.journeys.sim_retail import retail_schema, simulate_retail
from journeylab.journeys.simulate import simulate, simulate_schema


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    simulate: Callable[..., tuple[EventLog, pd.DataFrame]]  # (n_customers, *, seed)
    schema: Callable[[], Schema]


PRESETS = {
    "omnichannel": Preset(
        "omnichannel",
        "multichannel funnel (web, app, email, social, store, call centre), second-level "
        "clock, promotions and churn (the default)",
        simulate,
        simulate_schema,
    ),
    "retail": Preset(
        "retail",
        "date-only purchase log (store, online) over two years: about half buy once, a heavy "
        "tail buys hundreds of times; basket amounts, returns, per-journey store_id",
        simulate_retail,
        retail_schema,
    ),
    "process": Preset(
        "process",
        "loan-application process traces (BPI 2017 style): 22 activities in 3 channels, "
        "strict orderings, office-hours work items, terminal outcome per case",
        simulate_process,
        process_schema,
    ),
}
DEFAULT_PRESET = "omnichannel"


def get_preset(name: str | None) -> Preset:
    """The preset called `name` (None: the default); ConfigError listing the valid names."""
    key = DEFAULT_PRESET if name is None else name
    if key not in PRESETS:
        raise ConfigError(f"unknown simulate preset '{name}'; choose one of {sorted(PRESETS)}")
    return PRESETS[key]


def simulate_preset(
    name: str | None, n_customers: int, *, seed: int = 0
) -> tuple[EventLog, pd.DataFrame]:
    """Simulate `n_customers` journeys of preset `name`: the log and its ground truth."""
    return get_preset(name).simulate(n_customers, seed=seed)


def preset_of_schema(schema_name: str) -> str | None:
    """The preset whose schema is called `schema_name` (e.g. 'simulate-retail'), else None."""
    for preset in PRESETS.values():
        if preset.schema().name == schema_name:
            return preset.name
    return None
