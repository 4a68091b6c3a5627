"""Journeys as model tensors, shared by the GAN and the VAE for training and sampling.

- `Binning`: value transforms between encoded journeys and model targets
  (discretised log numerics, log gaps, first-event times, context classes).
  It depends only on the schema and config, never on the data.
- `JourneyData`: encoded journeys stored ragged (memory follows the number of
  events), encoded chunk by chunk, padded per batch and split into length-sorted
  chunks (a batch's padding is paid per chunk, not per batch).
- `Task`: the training step a model hands to `training.run_training`.

Nothing here imports PyTorch Lightning: loading and sampling a saved model needs only
these and torch. `run_training` below is the Lightning loop, imported when a fit
starts (Lightning adds about 2 s to a process that only samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from journeylab.generators.config import CommonConfig
from journeylab.journeys.encoding import EncodedJourneys, JourneyEncoder

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
        return {k: v.to(_compact(v, codec)) for k, v in out.items()}

    def _store(self, codec: Binning, parts: list[dict[str, torch.Tensor]]) -> None:
        self.codec = codec
        for k in self.PER_EVENT + self.PER_CUSTOMER:  # one column at a time: peak memory
            setattr(self, k, torch.cat([p.pop(k) for p in parts]))  # is the store + a column
        self.n = len(self.lengths)
        lengths = self.lengths.long()
        self.offsets = torch.cumsum(lengths, 0) - lengths  # first event of each

    def nbytes(self) -> int:
        """Bytes the encoded journeys take (what a fit holds besides its batch)."""
        keys = self.PER_EVENT + self.PER_CUSTOMER + ("offsets",)
        return sum(getattr(self, k).element_size() * getattr(self, k).nelement() for k in keys)

    def take(self, idx: torch.Tensor) -> Batch:
        """The customers `idx` as a batch padded to its longest journey (padding as in
        the padded encoding: zeros, and the last event's time for `abs_t`)."""
        lens = self.lengths[idx].long()
        L = max(1, int(lens.max())) if len(idx) else 1
        first = self.offsets[idx][:, None]
        pos = torch.arange(L)
        valid = pos < lens[:, None]  # [B, L]
        rows = torch.minimum(first + pos, first + (lens[:, None] - 1).clamp(min=0))

        def pad(x: torch.Tensor) -> torch.Tensor:
            y = x[rows]
            m = valid.view(*valid.shape, *([1] * (y.dim() - 2)))
            return torch.where(m, y, torch.zeros((), dtype=y.dtype))

        return Batch(  # classes are stored compact (data._compact), used as int64
            lengths=lens,
            tokens=pad(self.tokens).long(),
            w=pad(self.w),
            w_bin=pad(self.w_bin).long(),
            g=pad(self.g),
            g_bin=pad(self.g_bin).long(),
            abs_t=self.abs_t[rows],
            start_frac=self.start_frac[idx],
            start_bin=self.start_bin[idx].long(),
            ctx=self.ctx[idx].long(),
        )

    def chunks(self, idx: torch.Tensor, tokens_per_chunk: int) -> list[torch.Tensor]:
        """Rows of `idx` in length-sorted chunks (one step past the end counts)."""
        return length_chunks(self.lengths[idx].long() + 1, tokens_per_chunk)


def _compact(x: torch.Tensor, codec: Binning) -> torch.dtype:
    """The smallest exact dtype to store an encoded column in: classes and lengths (int64
    from the encoder) as int16 where every class fits, else int32; floats as they are.
    At a million customers (57.5 million events) the store is about 1.2 GB instead of 2.6."""
    if x.is_floating_point():
        return x.dtype
    largest = max((*codec.event_vocab, *codec.ctx_vocab, codec.numeric_bins, codec.gap_bins))
    largest = max(largest, codec.start_bins, codec.max_length) + 1
    return torch.int16 if largest < torch.iinfo(torch.int16).max else torch.int32


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


def run_training(task: Task, **options: Any):
    """`training.run_training(task, **options)`; Lightning is imported here, at fit time."""
    from journeylab.generators import training

    return training.run_training(task, **options)
