"""`gru`: a small GRU over the events before the cutoff, trained with PyTorch Lightning.

Per event the network reads the embedded categoricals (channel, event type, ...),
the scaled numerics (amount) and log(1 + gap in days); the last hidden state,
the embedded context, log(1 + days since the last event) and log(1 + number of
events) feed a two-layer head that gives the logit. Journeys are encoded whole
(JourneyEncoder) and packed, never cut into windows.

Because a GRU is a recurrence, the streaming scorer keeps each customer's hidden
state and advances it one event at a time (`step`), which equals running the
network on the whole prefix (up to float32 rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from journeylab.journeys.encoding import JourneyEncoder
from journeylab.journeys.quiet import quiet_lightning
from journeylab.journeys.schema import Schema
from journeylab.predictors import io
from journeylab.predictors.data import Examples
from journeylab.predictors.features import DAY_NS
from journeylab.predictors.models import Config, Predictor, _check, check_labels

DAY_S = 86_400.0


@dataclass(frozen=True)
class GRUConfig(Config):
    """Small and quick on a CPU: about a second per epoch on 1,200 Complete Journey households."""

    hidden: int = 32
    embed_dim: int = 8
    epochs: int = 8
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self):
        _check(1 <= self.hidden <= 1024, f"gru hidden {self.hidden} not in 1..1024")
        _check(1 <= self.embed_dim <= 256, f"gru embed_dim {self.embed_dim} not in 1..256")
        _check(self.epochs >= 1, f"gru epochs {self.epochs} must be >= 1")
        _check(self.batch_size >= 1, f"gru batch_size {self.batch_size} must be >= 1")
        _check(self.lr > 0, f"gru lr {self.lr} must be > 0")
        _check(self.weight_decay >= 0, "gru weight_decay must be >= 0")


class GRUNet(nn.Module):
    """GRU over events + head over (last state, context, recency, count)."""

    def __init__(self, dims: dict, hidden: int, embed_dim: int):
        super().__init__()
        self.dims = dims
        self.emb = nn.ModuleList(
            nn.Embedding(v, embed_dim, padding_idx=0) for v in dims["event_vocab"]
        )
        step_in = len(dims["event_vocab"]) * embed_dim + dims["n_num"] + 1
        self.gru = nn.GRU(step_in, hidden, batch_first=True)
        # one extra row per context categorical for "unknown" (streaming without context)
        self.ctx_emb = nn.ModuleList(nn.Embedding(v + 1, embed_dim) for v in dims["ctx_vocab"])
        head_in = hidden + len(dims["ctx_vocab"]) * embed_dim + dims["n_ctx_num"] + 2
        self.head = nn.Sequential(nn.Linear(head_in, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def step_inputs(self, tokens, numerics, gaps):
        """tokens [N, L, C] int, numerics [N, L, M], gaps [N, L] seconds -> [N, L, D]."""
        parts = [e(tokens[..., j]) for j, e in enumerate(self.emb)]
        parts += [numerics.float(), torch.log1p(gaps.float().clamp(min=0) / DAY_S)[..., None]]
        return torch.cat(parts, dim=-1)

    def head_logits(self, h, ctx_tokens, ctx_numerics, recency_days, n_events):
        """h [N, H], ctx_tokens [N, K], ctx_numerics [N, J], recency/n [N] -> logits [N]."""
        parts = [h] + [e(ctx_tokens[:, k]) for k, e in enumerate(self.ctx_emb)]
        parts += [
            ctx_numerics.float(),
            torch.log1p(recency_days.float())[:, None],
            torch.log1p(n_events.float())[:, None],
        ]
        return self.head(torch.cat(parts, dim=-1)).squeeze(-1)

    def forward(self, batch: dict) -> torch.Tensor:
        x = self.step_inputs(batch["tokens"], batch["numerics"], batch["gaps"])  # [N, L, D]
        packed = pack_padded_sequence(
            x, batch["lengths"].cpu(), batch_first=True, enforce_sorted=False
        )
        _, h = self.gru(packed)  # h [1, N, H]
        return self.head_logits(
            h[0], batch["ctx_tokens"], batch["ctx_numerics"], batch["recency"], batch["lengths"]
        )


class _Lit(pl.LightningModule):
    def __init__(self, net: GRUNet, cfg: GRUConfig):
        super().__init__()
        self.net, self.cfg = net, cfg
        self.loss = nn.BCEWithLogitsLoss()

    def training_step(self, batch, _idx):
        loss = self.loss(self.net(batch), batch["y"])
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(
            self.net.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
        )


def encode_examples(data: Examples, encoder: JourneyEncoder) -> dict[str, torch.Tensor]:
    """Tensors of the history of `data.customers`, in that order."""
    enc = encoder.encode(data.history)
    pos = {c: i for i, c in enumerate(enc.customer_ids)}
    idx = torch.tensor([pos[str(c)] for c in data.customers], dtype=torch.long)
    recency = data.features["recency_days"].to_numpy(np.float64)
    return {
        "tokens": enc.tokens[idx],
        "numerics": enc.numerics[idx].float(),
        "gaps": enc.gaps[idx].float(),
        "lengths": enc.lengths[idx],
        "ctx_tokens": enc.context_tokens[idx],
        "ctx_numerics": enc.context_numerics[idx],
        "recency": torch.from_numpy(recency).float(),
    }


def _batches(tensors: dict, order: np.ndarray, size: int):
    for i in range(0, len(order), size):
        idx = torch.from_numpy(order[i : i + size])
        b = {k: v[idx] for k, v in tensors.items()}
        L = int(b["lengths"].max())  # trim padding to the longest journey of the batch
        for k in ("tokens", "numerics", "gaps"):
            b[k] = b[k][:, :L]
        yield b


class _Loader:
    """A re-iterable, seeded shuffling batcher (one permutation per epoch)."""

    def __init__(self, tensors: dict, size: int, seed: int):
        self.tensors, self.size = tensors, size
        self.rng = np.random.default_rng(seed)
        self.n = len(tensors["lengths"])

    def __len__(self) -> int:
        return math.ceil(self.n / self.size)

    def __iter__(self):
        return _batches(self.tensors, self.rng.permutation(self.n), self.size)


class GRUPredictor(Predictor):
    name = "gru"
    config_class = GRUConfig

    def __init__(self, config=None):
        super().__init__(config)
        self.net: GRUNet | None = None
        self.schema: Schema | None = None

    def fit(self, data: Examples, y: np.ndarray) -> GRUPredictor:
        y = check_labels(y, len(data))
        self.schema = data.history.schema
        encoder = JourneyEncoder(self.schema)
        tensors = encode_examples(data, encoder)
        tensors["y"] = torch.from_numpy(y.astype(np.float32))
        dims = {
            "event_vocab": encoder.event_vocab,
            "n_num": len(encoder.event_num),
            "ctx_vocab": encoder.context_vocab,
            "n_ctx_num": len(encoder.ctx_num),
        }
        c = self.config
        with torch.random.fork_rng(devices=[]), quiet_lightning():
            torch.manual_seed(c.seed)
            self.net = GRUNet(dims, c.hidden, c.embed_dim)
            trainer = pl.Trainer(
                max_epochs=c.epochs,
                accelerator="cpu",
                devices=1,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                num_sanity_val_steps=0,
            )
            trainer.fit(_Lit(self.net, c), train_dataloaders=_Loader(tensors, c.batch_size, c.seed))
        self.net.eval()
        self.fitted = True
        return self

    def predict_proba(self, data: Examples) -> np.ndarray:
        self._require_fitted()
        tensors = encode_examples(data, JourneyEncoder(self.schema))
        out = []
        with torch.no_grad():
            for b in _batches(tensors, np.arange(len(data)), 256):
                out.append(torch.sigmoid(self.net(b)))
        return torch.cat(out).double().numpy() if out else np.zeros(0)

    # --- streaming: one event at a time -------------------------------------
    def init_state(self) -> torch.Tensor:
        return torch.zeros(1, 1, self.net.gru.hidden_size)

    @torch.no_grad()
    def step(
        self, h: torch.Tensor, tokens: np.ndarray, numerics: np.ndarray, gap_s: float
    ) -> torch.Tensor:
        """Advance one customer's hidden state [1, 1, H] by one encoded event."""
        x = self.net.step_inputs(
            torch.from_numpy(tokens)[None, None],
            torch.from_numpy(numerics)[None, None],
            torch.tensor([[gap_s]]),
        )
        return self.net.gru(x, h)[1]

    @torch.no_grad()
    def score_state(
        self,
        h: torch.Tensor,
        ctx_tokens: np.ndarray,
        ctx_numerics: np.ndarray,
        recency_ns: int,
        n_events: int,
    ) -> float:
        logit = self.net.head_logits(
            h[0],
            torch.from_numpy(ctx_tokens)[None],
            torch.from_numpy(ctx_numerics)[None],
            torch.tensor([recency_ns / DAY_NS]),
            torch.tensor([n_events]),
        )
        return float(torch.sigmoid(logit.double())[0])

    # --- persistence -------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        self._require_fitted()
        path = Path(path)
        io.save_tensors(self.net.state_dict(), path / "model.safetensors")
        io.write_json(
            path / "predictor.json",
            {
                "format_version": io.FORMAT_VERSION,
                "model": self.name,
                "config": self.config.to_dict(),
                "dims": self.net.dims,
                "schema": self.schema.to_dict(),
                "versions": io.versions(),
            },
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> GRUPredictor:
        path = Path(path)
        meta = io.read_json(path / "predictor.json")
        io.check_format(meta, path)
        model = cls(meta["config"])
        model.schema = Schema.from_dict(meta["schema"])
        model.net = GRUNet(meta["dims"], model.config.hidden, model.config.embed_dim)
        model.net.load_state_dict(io.load_tensors(path / "model.safetensors"))
        model.net.eval()
        model.fitted = True
        return model
