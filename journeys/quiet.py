"""Library code never prints: the one helper that silences PyTorch Lightning.

    with quiet_lightning():
        trainer.fit(module)

Used by every Lightning fit (generators.training, predictors.sequence). Lightning's
info lines ("GPU available", "Trainer.fit stopped") and its hints (few DataLoader
workers) go nowhere; warnings from other libraries and real errors still show.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning.fabric", "lightning")


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="pytorch_lightning")
            warnings.filterwarnings("ignore", module="lightning")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            yield
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)
