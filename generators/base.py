"""The one interface every journey generator implements, and its registry.

    gen = create("vae", {"epochs": 5})
    gen.fit(train_log, privacy=PrivacyBudget(epsilon=8))
    synth = gen.sample(1000, conditions={"age": "45-54"}, seed=0)   # -> EventLog
    gen.save("models/vae-1");  gen2 = load("models/vae-1")

A model directory holds only `model.safetensors` (tensors) and JSON files
(`config.json`, `meta.json` with format version, class name, schema, privacy
record, package versions). No pickle: loading a model cannot run code.
"""

from __future__ import annotations

import abc
import json
from pathlib import Path
from typing import Any, ClassVar

from journeys.errors import ConfigError
from journeys.eventlog import EventLog

FORMAT_VERSION = 1
REGISTRY: dict[str, type[SequenceGenerator]] = {}


def register(name: str):
    def deco(cls):
        cls.name = name
        REGISTRY[name] = cls
        return cls

    return deco


def create(name: str, config: dict[str, Any] | None = None) -> SequenceGenerator:
    if name not in REGISTRY:
        raise ConfigError(f"unknown generator '{name}'; choose one of {sorted(REGISTRY)}")
    return REGISTRY[name](**(config or {}))


def load(path: str | Path) -> SequenceGenerator:
    """Load any saved generator; the class is read from meta.json."""
    meta = read_meta(path)
    name = meta.get("generator")
    if name not in REGISTRY:
        raise ConfigError(
            f"model in {path} was saved by generator '{name}', which this "
            f"version does not know; known: {sorted(REGISTRY)}"
        )
    return REGISTRY[name].load(path)


def read_meta(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    f = path / "meta.json"
    if not f.exists():
        raise ConfigError(
            f"{path} is not a JourneyLab model directory (no meta.json); pass the "
            "directory written by `journeylab fit` or `save()`"
        )
    try:
        meta = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{f} is corrupt (not valid JSON: {e}); re-run the fit") from e
    if meta.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"model in {path} has format version {meta.get('format_version')!r}; "
            f"this JourneyLab reads version {FORMAT_VERSION}. Re-fit the model "
            "with this version"
        )
    return meta


class SequenceGenerator(abc.ABC):
    """Learns whole customer journeys from an EventLog and samples new ones."""

    name: ClassVar[str] = ""

    @abc.abstractmethod
    def fit(self, log: EventLog, *, privacy=None) -> SequenceGenerator:
        """Train on `log`; with a `privacy.PrivacyBudget`, customer-level DP."""

    @abc.abstractmethod
    def sample(
        self, n: int, *, conditions: dict[str, Any] | None = None, seed: int | None = None
    ) -> EventLog:
        """Sample `n` journeys (optionally with fixed context values)."""

    @abc.abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write safetensors + JSON into directory `path`."""

    @classmethod
    @abc.abstractmethod
    def load(cls, path: str | Path) -> SequenceGenerator:
        """Read a directory written by `save`."""

    @property
    def privacy_record(self) -> dict[str, Any] | None:
        """What DP training spent (epsilon, delta, noise, steps, ...), or None if not private."""
        return None
