"""Strict config dicts: the one `from_dict` check every config class uses.

    @classmethod
    def from_dict(cls, d):
        return strict_from_dict(cls, d, what="vae config")

An unknown key is refused with a ConfigError that lists the unknown keys and the
valid ones (a typo such as `epoch` must not silently train with the default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any, TypeVar

from journeylab.journeys.errors import ConfigError

T = TypeVar("T")


def check_keys(d: Mapping[str, Any], valid: Iterable[str], *, what: str) -> None:
    """Refuse keys of `d` outside `valid`, naming them and the valid ones."""
    valid = sorted(valid)
    unknown = sorted(set(d) - set(valid))
    if unknown:
        raise ConfigError(
            f"{what}: unknown key(s) {unknown}; valid keys are {valid}. Remove or correct them"
        )


def strict_from_dict(cls: type[T], d: Mapping[str, Any] | None, *, what: str = "") -> T:
    """`cls(**d)` for a dataclass `cls`, refusing keys that are not its fields.

    `d` None is an empty dict (all defaults). Values are checked by `cls.__post_init__`.
    """
    d = {} if d is None else d
    what = what or cls.__name__
    if not isinstance(d, Mapping):
        raise ConfigError(f"{what}: expected a mapping of settings, got {type(d).__name__}")
    check_keys(d, (f.name for f in fields(cls)), what=what)  # type: ignore[arg-type]
    return cls(**d)
