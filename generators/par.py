"""`par`: the SDV PARSynthesizer baseline behind the SequenceGenerator interface.

    gen = create("par", {"epochs": 16})
    gen.fit(train_log)                       # no DP: a privacy budget is refused
    synth = gen.sample(500, conditions={"segment": "premium"}, seed=0)
    gen.save("models/par-1");  gen2 = load("models/par-1")

Training is SDV 2.0's own: `PARSynthesizer.fit` on the event table with SDV
metadata (sequence key, sequence index, context columns). Sampling and saving
are ours, and this is a deliberate fallback. SDV saves with cloud-pickle, which
JourneyLab forbids, and its full fitted state (an rdt HyperTransformer, a
GaussianCopula context synthesizer built from `copulas` univariates, transformer
random states) has no JSON form; rebuilding it from private attributes would be
fragile and still not byte-identical. So after `fit` we keep only:
- the fitted PAR network (deepecho `PARNet`) weights -> `model.safetensors`;
- deepecho's `PARModel` maps (column types, one-hot indices, normalisation,
  length limits), SDV's column orders and gap bounds -> `state.json`;
- a small Gaussian copula for the per-customer context (context columns plus
  the first-event time), fitted on the same data, as plain numbers, standing
  in for SDV's GaussianCopulaSynthesizer -> `state.json`.
Sequences are sampled by deepecho's own `PARModel.sample_sequence` on a model
rebuilt from that state, both before and after a save, so a loaded model
samples exactly what the fitted one did under the same seed. The state work
(coding, extraction, rebuild, copula, decoding) lives in `generators.par_state`.
The sampled journeys are post-processed into a valid EventLog: new customer
ids, times rounded to seconds and clipped to the time range, numerics clipped
to their bounds and rounded to their decimals, exact duplicates dropped,
journeys cut at max_length.

Other choices, and the SDV quirks behind them:
- deepecho numbers categories in `set()` order, which for strings depends on
  Python's hash seed, so two processes fit different models. We hand SDV
  integer codes (the schema's category order), whose set order is fixed.
- The timestamp goes in as seconds since the time origin (a numerical
  sequence index): SDV models the gaps and puts the first time in the context.
- SDV/torch draw from global RNGs; `fit` and `sample` seed them inside a
  context manager that restores the previous global state afterwards.
- PAR can only condition on context values it saw in training (deepecho
  one-hot maps); others are refused with the list of usable values.
- deepecho samples one journey at a time and re-runs the GRU over the whole
  prefix at every step, so sampling time grows with the square of the length.
- SDV fits PAR on one DataFrame of the whole log, so it cannot take a log larger
  than memory. A partitioned dataset (a StreamedLog) is therefore fitted on a seeded
  subsample: the `max_customers` customers with the smallest sha256(seed:id)
  (journeys/streamed.subsample_customers), never the whole log; `fit_scale` (also in
  state.json, and the fit run's params) says how many customers the log has and how
  many the fit used. A one-file log is fitted whole, as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from journeylab.generators import io, par_state
from journeylab.generators.base import SequenceGenerator, check_fitted, register
from journeylab.journeys.config import strict_from_dict
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema
from journeylab.journeys.streamed import StreamedLog, subsample_customers

STATE_FILE = "state.json"  # PAR's maps, domains and context copula (JSON)
PACKAGES = ("journeylab", "sdv", "deepecho", "torch", "safetensors")


@dataclass(frozen=True)
class PARConfig:
    """Settings of the PAR baseline.

    epochs: full-batch training epochs of the PAR network (SDV's default 128).
    sample_size: sequences drawn per journey, keeping the most likely (SDV default 1).
    cuda: train and sample on a GPU when one is available.
    verbose: let deepecho show its tqdm progress bar (on stderr).
    seed: seeds fitting, and sampling when `sample(seed=None)`.
    context_quantiles: resolution of the context sampler's numeric marginals.
    max_customers: a partitioned (streamed) log is fitted on this many of its customers,
        a subsample seeded by `seed` (SDV needs the log in memory); a file is fitted whole.
    """

    epochs: int = 128
    sample_size: int = 1
    cuda: bool = False
    verbose: bool = False
    seed: int = 0
    context_quantiles: int = 101
    max_customers: int = 20_000

    def __post_init__(self) -> None:
        p = []
        for name in ("epochs", "sample_size", "seed", "context_quantiles", "max_customers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                p.append(f"{name} must be an integer, got {v!r}")
        if not p:
            if self.epochs < 1:
                p.append(f"epochs must be >= 1, got {self.epochs}")
            if self.sample_size < 1:
                p.append(f"sample_size must be >= 1, got {self.sample_size}")
            if self.seed < 0:
                p.append(f"seed must be >= 0, got {self.seed}")
            if self.context_quantiles < 2:
                p.append(f"context_quantiles must be >= 2, got {self.context_quantiles}")
            if self.max_customers < 1:
                p.append(f"max_customers must be >= 1, got {self.max_customers}")
        for name in ("cuda", "verbose"):
            if not isinstance(getattr(self, name), bool):
                p.append(f"{name} must be true or false, got {getattr(self, name)!r}")
        if p:
            raise ConfigError("par config: " + "; ".join(p))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> PARConfig:
        return strict_from_dict(cls, d, what="par config")


@contextlib.contextmanager
def seeded(seed: int, *, cuda: bool = False):
    """Seed torch, numpy and random globally, and restore their old state on exit.

    Any non-negative seed works (batch seeds can exceed numpy's 2**32 limit).
    """
    devices = list(range(torch.cuda.device_count())) if cuda and torch.cuda.is_available() else []
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed % 2**63)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


@register("par")
class PARGenerator(SequenceGenerator):
    """SDV's PAR (probabilistic autoregressive RNN) as a non-private baseline."""

    streams = True  # a StreamedLog: fitted on a seeded subsample of it, never held whole

    def __init__(self, config: PARConfig | dict[str, Any] | None = None, /, **overrides: Any):
        if isinstance(config, PARConfig) and not overrides:
            self.config = config
        else:
            base = config.to_dict() if isinstance(config, PARConfig) else dict(config or {})
            self.config = PARConfig.from_dict({**base, **overrides})
        self.schema: Schema | None = None
        self._state: dict[str, Any] | None = None  # JSON-able: PAR maps, domains, copula
        self._tensors: dict[str, torch.Tensor] | None = None  # PARNet state_dict
        self._par = None  # deepecho PARModel rebuilt from the two above

    # --- fit -------------------------------------------------------------
    def _fit(self, log: EventLog | StreamedLog, *, privacy=None, progress=None) -> PARGenerator:
        """SDV fits PAR in one call: no per-epoch progress to report (`progress` unused).
        A StreamedLog: on its seeded subsample (see the module)."""
        fingerprint = log.fingerprint()
        log = self._in_memory(log)
        domains = par_state.domains_of(log)
        frame = par_state.to_sdv_frame(log, domains)
        with seeded(self.config.seed, cuda=self.config.cuda):
            synth = _fit_sdv(frame, log.schema, self.config)
            state, tensors = par_state.extract(synth, log.schema)
            contexts = frame.groupby(log.schema.sequence_key, sort=False).first()
            state["context_model"] = par_state.fit_context_model(
                contexts, log.schema, domains, quantiles=self.config.context_quantiles
            )
        state["domains"] = domains
        state["dataset_fingerprint"] = fingerprint
        if self.fit_scale is not None:
            state["fit_scale"] = self.fit_scale
        # Through JSON and back: the in-memory model is exactly the one a save/load gives.
        self._set_state(log.schema, json.loads(json.dumps(state)), tensors)
        return self

    def _in_memory(self, log: EventLog | StreamedLog) -> EventLog:
        """The log SDV is given: an EventLog as it is; a StreamedLog's seeded subsample of
        `max_customers` customers, recorded in `fit_scale`."""
        self.fit_scale = None
        if isinstance(log, EventLog):
            return log
        k, seed = self.config.max_customers, self.config.seed
        sub = subsample_customers(log, k, seed=seed)
        self.fit_scale = {
            "customers": log.n_customers,
            "fit_customers": sub.n_customers,
            "subsample_seed": seed,
            "note": f"PAR (SDV) holds its training log in memory: fitted on the "
            f"{sub.n_customers:,} of {log.n_customers:,} customers of the partitioned "
            f"dataset {log.path} with the smallest sha256(seed:id), seed {seed} "
            "(config max_customers)",
        }
        return sub

    @property
    def history(self) -> list[dict[str, float]]:
        """Training loss per epoch (deepecho's negative log-likelihood), for tracking."""
        return list(self._state.get("history", [])) if self._state else []

    def _set_state(self, schema: Schema, state: dict, tensors: dict[str, torch.Tensor]) -> None:
        self.schema, self._state, self._tensors = schema, state, tensors
        self.fit_scale = state.get("fit_scale")
        self._par = par_state.build_par(state, tensors, self.config)

    # --- sample ----------------------------------------------------------
    def sample(
        self, n: int, *, conditions: dict[str, Any] | None = None, seed: int | None = None
    ) -> EventLog:
        """Sample `n` journeys; `seed=None` uses the config's seed (same seed, same journeys)."""
        check_fitted(self, self._par is not None)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"n must be a positive integer number of journeys, got {n!r}")
        seed = self.config.seed if seed is None else seed
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        seed = int(seed)
        fixed = self._check_conditions(conditions or {})
        with seeded(seed, cuda=self.config.cuda):
            rng = np.random.default_rng(seed)
            ctx = par_state.sample_context(self._state["context_model"], n, fixed=fixed, rng=rng)
            seqs = [self._par.sample_sequence(self._par_context(ctx, i)) for i in range(n)]
        df = par_state.to_events(seqs, ctx, self._state, self.schema, prefix=f"par-s{seed}-")
        return EventLog.from_frame(df, self.schema)

    def _par_context(self, ctx: dict[str, np.ndarray], i: int) -> list:
        start = self._state["start_column"]  # SDV's '<index>.context': the first event time
        names = [par_state.START if c == start else c for c in self._state["context_columns"]]
        return [ctx[name][i].item() for name in names]

    def _check_conditions(self, conditions: dict[str, Any]) -> dict[str, float]:
        """Map {context column: value} to context codes; refuse what PAR cannot condition on.

        The domain checks are the neural generators' (`io.check_conditions`): the same
        mistake, the same error; PAR then refuses values no training customer had."""
        fixed = io.check_conditions(self.schema, conditions)
        return {
            col: par_state.condition_code(col, value, self._state, self.schema)
            for col, value in fixed.items()
        }

    # --- save / load -----------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """The neural generators' model directory (`io.save_model`), plus `state.json`."""
        check_fitted(self, self._par is not None)
        return io.save_model(
            path,
            generator=self.name,
            state=self._tensors,
            config=self.config.to_dict(),
            schema=self.schema,
            privacy=None,
            extra={"dataset_fingerprint": self._state.get("dataset_fingerprint", "")},
            files={STATE_FILE: self._state},
            packages=PACKAGES,
        )

    @classmethod
    def load(cls, path: str | Path) -> PARGenerator:
        path = Path(path)
        tensors, config, meta = io.load_model(path, generator="par")
        state = io.read_json(path / STATE_FILE)
        try:
            gen = cls(config)
            gen._set_state(Schema.from_dict(meta["schema"]), state, tensors)
        except ConfigError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as e:
            raise ConfigError(
                f"model in {path} is corrupt or incomplete ({type(e).__name__}: "
                f"{e}); re-run the fit and save again"
            ) from e
        return gen


def _fit_sdv(frame: pd.DataFrame, schema: Schema, config: PARConfig):
    """Fit SDV's PARSynthesizer on the coded frame (warnings and SDV's log file silenced)."""
    from sdv.logging.utils import disable_single_table_logger
    from sdv.metadata import Metadata
    from sdv.sequential import PARSynthesizer

    with warnings.catch_warnings(), disable_single_table_logger(), _quiet("Metadata"):
        warnings.simplefilter("ignore")
        md = Metadata.detect_from_dataframes({"table": frame})
        if md.tables["table"].primary_key is not None:  # detection may pick any unique column
            md.remove_primary_key()
        md.update_column(schema.sequence_key, sdtype="id")
        md.update_column(schema.sequence_index, sdtype="numerical")
        for c in schema.columns:
            md.update_column(
                c.name, sdtype="categorical" if c.kind == "categorical" else "numerical"
            )
        md.set_sequence_key(schema.sequence_key)
        md.set_sequence_index(schema.sequence_index)
        synth = PARSynthesizer(
            md,
            context_columns=schema.context_names() or None,
            epochs=config.epochs,
            sample_size=config.sample_size,
            cuda=config.cuda,
            verbose=config.verbose,
        )
        synth.fit({"table": frame})
    return synth


@contextlib.contextmanager
def _quiet(name: str):
    logger = logging.getLogger(name)
    handlers, logger.handlers = logger.handlers, []
    try:
        yield
    finally:
        logger.handlers = handlers


__all__ = ["PARConfig", "PARGenerator", "seeded"]
