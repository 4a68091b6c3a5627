"""Training machinery shared by the GAN and the VAE.

- `Binning`: value transforms between encoded journeys and model targets
  (discretised log numerics, log gaps, first-event times, context classes).
  It depends only on the schema and config, never on the data.
- `JourneyData`: encoded journeys stored ragged (memory follows the number of
  events), encoded chunk by chunk, padded per batch and split into length-sorted
  chunks (a batch's padding is paid per chunk, not per batch).
- `run_training`: a PyTorch Lightning Trainer (progress bar, safetensors
  checkpoints, early stopping, CPU or GPU) around a `Task` whose `step(idx)`
  makes one optimisation step on the customers `idx`: Poisson-sampled under DP,
  shuffled fixed-size batches otherwise.

Losses in `history` are computed on the training batch and are not covered by
the DP guarantee (only the trained weights are).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytorch_lightning as pl
import torch
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from journeylab.generators.config import CommonConfig
from journeylab.journeys.encoding import EncodedJourneys, JourneyEncoder
from journeylab.journeys.quiet import quiet_lightning
from journeylab.privacy.dpsgd import DPPlan, DPSpend, poisson_batch

LOG_SCALE = 1000.0  # numerics u in [0, 1] are modelled as log1p(LOG_SCALE u) / log1p(LOG_SCALE)


@dataclass(frozen=True)
class Binning:
    """Transforms between encoded values and model targets; a function of schema + config."""

    span: float  # seconds in the schema's time range
    max_length: int
    numeric_bins: int
    gap_bins: int
    start_bins: int
    event_vocab: tuple[int, ...]  # per event categorical, without padding
    n_numeric: int
    ctx_vocab: tuple[int, ...]  # context categoricals, then binned context numerics
    n_ctx_cat: int

    @classmethod
    def make(cls, encoder: JourneyEncoder, cfg: CommonConfig) -> Binning:
        n_num_ctx = len(encoder.ctx_num)
        max_len = min(cfg.max_length or encoder.schema.max_length, encoder.schema.max_length)
        return cls(
            span=encoder.time_span,
            max_length=int(max_len),
            numeric_bins=cfg.numeric_bins,
            gap_bins=cfg.gap_bins,
            start_bins=cfg.start_bins,
            event_vocab=tuple(v - 1 for v in encoder.event_vocab),
            n_numeric=len(encoder.event_num),
            ctx_vocab=tuple(encoder.context_vocab) + (cfg.numeric_bins + 1,) * n_num_ctx,
            n_ctx_cat=len(encoder.ctx_cat),
        )

    # numerics: u in [0, 1] <-> w in [0, 1] (log scale), bins with an exact-zero class
    @staticmethod
    def w_of_u(u: torch.Tensor) -> torch.Tensor:
        return torch.log1p(LOG_SCALE * u.clamp(0, 1)) / math.log1p(LOG_SCALE)

    @staticmethod
    def u_of_w(w: torch.Tensor) -> torch.Tensor:
        return (torch.expm1(w.clamp(0, 1) * math.log1p(LOG_SCALE)) / LOG_SCALE).clamp(0, 1)

    def g_of_gap(self, gap: torch.Tensor) -> torch.Tensor:
        return torch.log1p(gap.clamp(min=0)) / math.log1p(self.span)

    def gap_of_g(self, g: torch.Tensor) -> torch.Tensor:
        return torch.expm1(g.clamp(0, 1) * math.log1p(self.span))

    @staticmethod
    def to_bin(x: torch.Tensor, bins: int) -> torch.Tensor:
        """x in [0, 1] -> class 0 (exactly 0) or 1 + floor(x * bins)."""
        k = 1 + (x * bins).floor().long().clamp(0, bins - 1)
        return torch.where(x <= 0, torch.zeros_like(k), k)

    @staticmethod
    def from_bin(k: torch.Tensor, bins: int, gen: torch.Generator) -> torch.Tensor:
        """A value uniformly inside bin k (0 for class 0)."""
        u = torch.rand(k.shape, generator=gen, device=k.device)
        return torch.where(k == 0, torch.zeros_like(u), (k - 1 + u) / bins)

    def start_bin(self, start_frac: torch.Tensor) -> torch.Tensor:
        return (start_frac * self.start_bins).floor().long().clamp(0, self.start_bins - 1)

    def start_from_bin(self, k: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        u = torch.rand(k.shape, generator=gen, device=k.device)
        return (k + u) / self.start_bins

    def pos_feature(self, L: int, batch: int, *, offset: int = 0) -> torch.Tensor:
        """[B, L] log1p(position) / log1p(max_length)."""
        t = torch.arange(offset, offset + L, dtype=torch.float32)
        return (torch.log1p(t) / math.log1p(self.max_length)).expand(batch, L)

    def ctx_classes(self, enc: EncodedJourneys) -> torch.Tensor:
        """[N, T] context as classes: categoricals, then binned numerics."""
        num = self.to_bin(enc.context_numerics.float(), self.numeric_bins)
        return torch.cat([enc.context_tokens.long(), num], dim=1)

    def ctx_values(self, ctx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Classes [N, T] back to (context_tokens [N, K], context_numerics [N, J])."""
        k = self.n_ctx_cat
        num = self.from_bin(ctx[:, k:], self.numeric_bins, gen).double()
        return ctx[:, :k].clone(), num


@dataclass
class Batch:
    """Journeys of one chunk, trimmed to its longest. L = that length."""

    lengths: torch.Tensor  # [B]
    tokens: torch.Tensor  # [B, L, C] 1-based, 0 = padding
    w: torch.Tensor  # [B, L, M] log-scaled numerics
    w_bin: torch.Tensor  # [B, L, M]
    g: torch.Tensor  # [B, L] log gap since the previous event (0 at the first)
    g_bin: torch.Tensor  # [B, L]
    abs_t: torch.Tensor  # [B, L] event time / span
    start_frac: torch.Tensor  # [B]
    start_bin: torch.Tensor  # [B]
    ctx: torch.Tensor  # [B, T] context classes

    def to(self, device) -> Batch:
        return Batch(**{k: v.to(device) for k, v in vars(self).items()})

    def mask(self) -> torch.Tensor:
        L = self.tokens.shape[1]
        return (torch.arange(L, device=self.lengths.device) < self.lengths[:, None]).float()


class JourneyData:
    """Encoded training journeys, indexable by customer.

    Stored ragged: the events of all customers end to end, without padding, so memory
    follows the number of events, not customers x the longest journey. `from_log`
    encodes the log a chunk of customers at a time; `take` pads one batch only.
    """

    PER_EVENT = ("tokens", "w", "w_bin", "g", "g_bin", "abs_t")
    PER_CUSTOMER = ("lengths", "start_frac", "start_bin", "ctx")

    def __init__(self, enc: EncodedJourneys, codec: Binning):
        self._store(codec, [self._ragged(enc, codec)])

    @classmethod
    def from_log(
        cls, log, encoder, codec: Binning, *, customers_per_chunk: int = 1024
    ) -> JourneyData:
        """Encode `log` chunk by chunk (customers in the log's order)."""
        data = cls.__new__(cls)
        chunks = log.iter_chunks(customers_per_chunk)
        parts = [cls._ragged(encoder.encode(c), codec) for c in chunks]
        data._store(codec, parts)
        return data

    @staticmethod
    def _ragged(enc: EncodedJourneys, codec: Binning) -> dict[str, torch.Tensor]:
        lengths = enc.lengths.long()
        gaps = enc.gaps.double()
        start = enc.start.double()
        w = Binning.w_of_u(enc.numerics.float())
        g = codec.g_of_gap(gaps).float()
        start_frac = (start / codec.span).float()
        padded = {
            "tokens": enc.tokens.long(),
            "w": w,
            "w_bin": Binning.to_bin(w, codec.numeric_bins),
            "g": g,
            "g_bin": Binning.to_bin(g, codec.gap_bins),
            "abs_t": ((start[:, None] + gaps.cumsum(1)) / codec.span).float(),
        }
        valid = torch.arange(enc.tokens.shape[1]) < lengths[:, None]  # [N, L]
        out = {k: v[valid] for k, v in padded.items()}  # row-major: customer by customer
        out.update(
            lengths=lengths,
            start_frac=start_frac,
            start_bin=codec.start_bin(start_frac),
            ctx=codec.ctx_classes(enc),
        )
        return out

    def _store(self, codec: Binning, parts: list[dict[str, torch.Tensor]]) -> None:
        self.codec = codec
        for k in self.PER_EVENT + self.PER_CUSTOMER:
            setattr(self, k, torch.cat([p[k] for p in parts]))
        self.n = len(self.lengths)
        self.offsets = torch.cumsum(self.lengths, 0) - self.lengths  # first event of each

    def take(self, idx: torch.Tensor) -> Batch:
        """The customers `idx` as a batch padded to its longest journey (padding as in
        the padded encoding: zeros, and the last event's time for `abs_t`)."""
        lens = self.lengths[idx]
        L = max(1, int(lens.max())) if len(idx) else 1
        first = self.offsets[idx][:, None]
        pos = torch.arange(L)
        valid = pos < lens[:, None]  # [B, L]
        rows = torch.minimum(first + pos, first + (lens[:, None] - 1).clamp(min=0))

        def pad(x: torch.Tensor) -> torch.Tensor:
            y = x[rows]
            m = valid.view(*valid.shape, *([1] * (y.dim() - 2)))
            return torch.where(m, y, torch.zeros((), dtype=y.dtype))

        return Batch(
            lengths=lens,
            tokens=pad(self.tokens),
            w=pad(self.w),
            w_bin=pad(self.w_bin),
            g=pad(self.g),
            g_bin=pad(self.g_bin),
            abs_t=self.abs_t[rows],
            start_frac=self.start_frac[idx],
            start_bin=self.start_bin[idx],
            ctx=self.ctx[idx],
        )

    def chunks(self, idx: torch.Tensor, tokens_per_chunk: int) -> list[torch.Tensor]:
        """Rows of `idx` in length-sorted chunks (one step past the end counts)."""
        return length_chunks(self.lengths[idx] + 1, tokens_per_chunk)


def length_chunks(lengths: torch.Tensor, tokens_per_chunk: int) -> list[torch.Tensor]:
    """Split rows 0..B-1 into chunks of similar length with at most `tokens_per_chunk`
    padded steps each (longest first). Per-sample results do not depend on the split."""
    if len(lengths) == 0:
        return []
    order = torch.argsort(lengths.cpu(), descending=True, stable=True)
    lens = lengths.cpu()[order]
    out, start = [], 0
    for i in range(1, len(order) + 1):
        if i == len(order) or (i - start + 1) * int(lens[start]) > tokens_per_chunk:
            out.append(order[start:i])
            start = i
    return out


class Task(Protocol):
    """One model's training step; `nets` holds every trained module."""

    nets: nn.ModuleDict

    def setup(self, device: torch.device) -> None: ...

    def step(self, idx: torch.Tensor) -> dict[str, float]: ...

    def teardown(self) -> None: ...


class IndexBatches(IterableDataset):
    """Customer index batches: Poisson (DP) or shuffled fixed-size, at most `total` in all."""

    def __init__(
        self,
        n: int,
        *,
        batch_size: int,
        sample_rate: float | None,
        steps_per_epoch: int,
        total: int,
        seed: int,
    ):
        super().__init__()
        self.n, self.batch_size, self.q = n, batch_size, sample_rate
        self.steps_per_epoch, self.total, self.seed = steps_per_epoch, total, seed
        self.yielded = 0
        self.epoch = 0

    def __len__(self) -> int:
        return max(0, min(self.steps_per_epoch, self.total - self.yielded))

    def __iter__(self) -> Iterator[torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        perm = torch.randperm(self.n, generator=gen)
        for s in range(self.steps_per_epoch):
            if self.yielded >= self.total:
                return
            self.yielded += 1
            if self.q is not None:
                yield poisson_batch(self.n, sample_rate=self.q, generator=gen)
            else:
                yield perm[s * self.batch_size : (s + 1) * self.batch_size]


class _LitTask(pl.LightningModule):
    """Lightning face of a Task (manual optimisation: the task owns its optimisers)."""

    def __init__(self, task: Task, batches: IndexBatches, spend: DPSpend | None):
        super().__init__()
        self.automatic_optimization = False
        self.task, self.batches, self.spend = task, batches, spend
        self.nets = task.nets
        self.history: list[dict[str, Any]] = []
        self._sums: dict[str, float] = {}
        self._count = 0
        self.steps = 0

    def configure_optimizers(self):
        return None

    def on_fit_start(self) -> None:
        self.task.setup(self.device)

    def on_train_epoch_start(self) -> None:
        self._t0 = time.perf_counter()

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.batches, batch_size=None, num_workers=0)

    def training_step(self, idx: torch.Tensor, batch_idx: int) -> None:
        if self.spend is not None and self.spend.exhausted:
            return None  # never step beyond the planned (budgeted) steps
        logs = self.task.step(idx.cpu())
        if self.spend is not None:
            self.spend.step()
        self.steps += 1
        for k, v in logs.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._count += 1
        self.log("loss", logs["loss"], on_step=False, on_epoch=True, prog_bar=True, batch_size=1)
        return None

    def on_train_epoch_end(self) -> None:
        row: dict[str, Any] = {
            "epoch": self.current_epoch + 1,
            "steps": self.steps,
            "epoch_seconds": time.perf_counter() - self._t0,
        }
        row.update({k: v / max(1, self._count) for k, v in self._sums.items()})
        if self.spend is not None:
            row["epsilon"] = self.spend.mark()
            self.log("epsilon", row["epsilon"], prog_bar=True, batch_size=1)
        self.history.append(row)
        self._sums, self._count = {}, 0


class SafetensorsCheckpoint(pl.Callback):
    """Saves the weights after every epoch as safetensors (Lightning's .ckpt is a pickle)."""

    def __init__(self, dirpath: str | Path):
        self.dirpath = Path(dirpath)

    def on_train_epoch_end(self, trainer: pl.Trainer, lit: pl.LightningModule) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        epoch = trainer.current_epoch + 1
        state = {k: v.detach().cpu().contiguous() for k, v in lit.nets.state_dict().items()}
        save_file(state, str(self.dirpath / f"epoch-{epoch:04d}.safetensors"))
        row = lit.history[-1] if getattr(lit, "history", None) else {"epoch": epoch}
        (self.dirpath / f"epoch-{epoch:04d}.json").write_text(json.dumps(row, default=float))


class ProgressReport(pl.Callback):
    """Calls `report(row)` after every epoch: epoch, epochs, steps, total_steps, loss,
    epsilon spent so far (DP), elapsed and estimated seconds left. The CLI shows it."""

    def __init__(self, report: Callable[[dict[str, Any]], None], *, total_steps: int):
        self.report, self.total = report, total_steps

    def on_train_start(self, trainer: pl.Trainer, lit: pl.LightningModule) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, lit: pl.LightningModule) -> None:
        row = dict(lit.history[-1]) if lit.history else {}
        elapsed = time.perf_counter() - self._t0
        done = max(1, lit.steps)
        self.report(
            {
                **row,
                "epochs": trainer.max_epochs,
                "total_steps": self.total,
                "elapsed_seconds": elapsed,
                "seconds_left": elapsed / done * max(0, self.total - lit.steps),
            }
        )


@dataclass
class TrainResult:
    history: list[dict[str, Any]]
    spend: DPSpend | None
    steps: int
    epochs: float


def run_training(
    task: Task,
    *,
    n: int,
    cfg: CommonConfig,
    plan: DPPlan | None,
    progress_bar: bool = False,
    checkpoint_dir: str | Path | None = None,
    callbacks: list[pl.Callback] | tuple = (),
    accelerator: str = "auto",
    early_stopping: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train `task` on `n` customers with Lightning; under `plan`, DP with Poisson batches."""
    if plan is not None:
        per_epoch = max(1, round(1 / plan.sample_rate))
        total = plan.steps
    else:
        per_epoch = math.ceil(n / cfg.batch_size)
        total = min(per_epoch * cfg.epochs, cfg.max_steps or math.inf)
    batches = IndexBatches(
        n,
        batch_size=cfg.batch_size,
        sample_rate=None if plan is None else plan.sample_rate,
        steps_per_epoch=per_epoch,
        total=int(total),
        seed=cfg.seed,
    )
    spend = DPSpend(plan) if plan is not None else None
    lit = _LitTask(task, batches, spend)
    cbs = list(callbacks)
    if checkpoint_dir is not None:
        cbs.append(SafetensorsCheckpoint(checkpoint_dir))
    if progress is not None:
        cbs.append(ProgressReport(progress, total_steps=int(total)))
    if plan is None and early_stopping and cfg.patience is not None:
        cbs.append(
            pl.callbacks.EarlyStopping(
                monitor="loss", patience=cfg.patience, check_on_train_epoch_end=True
            )
        )
    with tempfile.TemporaryDirectory(prefix="journeylab-fit-") as tmp, quiet_lightning():
        trainer = pl.Trainer(
            max_epochs=math.ceil(total / per_epoch),
            accelerator=accelerator,
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=progress_bar,
            enable_model_summary=False,
            default_root_dir=tmp,
            callbacks=cbs,
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
        try:
            trainer.fit(lit)
        finally:
            task.teardown()
    return TrainResult(
        history=lit.history, spend=spend, steps=lit.steps, epochs=lit.steps / per_epoch
    )
