"""`vae`: a sequence VAE over whole journeys, DP-SGD on the whole model.

- Context: an order-agnostic autoregressive model p(context) (so any subset of
  context columns can be fixed when sampling).
- Encoder q(z | journey, context): a non-causal dilated-conv stack over the
  events, masked mean and max pooling -> mu, log-variance.
- Decoder p(journey | z, context): first-event time from (z, context), then a
  causal dilated-conv stack over the previous events, emitting per step the end
  flag and the event's columns (categoricals, binned log numerics, binned log
  gap), chained within the event.

Both encoder and decoder see real journeys, so under DP the whole model is
private. Per-customer loss = (NLL of the journey + NLL of its context + beta KL) / 64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from generators.base import register
from generators.config import VAEConfig
from generators.nets import (
    ContextAR,
    ConvStack,
    EventHeads,
    Head,
    StepInput,
    TokenEmbed,
    gumbel_argmax,
)
from generators.neural import NeuralGenerator
from generators.training import Batch, Codec, JourneyData
from privacy.dpsgd import DPPlan, dp_step, make_private

LOSS_NORM = 64.0  # per-customer losses are divided by this constant (not by data)


def step_features(w: torch.Tensor, g: torch.Tensor, abs_t: torch.Tensor, pos: torch.Tensor,
                  first: torch.Tensor) -> torch.Tensor:
    """[B, L, M + 4]: numerics, log gap, time / span, log position, first-step flag."""
    return torch.cat([w, g.unsqueeze(-1), abs_t.unsqueeze(-1), pos.unsqueeze(-1),
                      first.unsqueeze(-1)], dim=-1)


class VAENet(nn.Module):
    def __init__(self, codec: Codec, cfg: VAEConfig):
        super().__init__()
        d, M = cfg.d_model, codec.n_numeric
        self.codec, self.cfg = codec, cfg
        tok_vocab = [v + 1 for v in codec.event_vocab]
        ctx = list(codec.ctx_vocab)
        self.context = ContextAR(ctx, d) if ctx else None
        self.enc_ctx = TokenEmbed(ctx, d) if ctx else None
        self.dec_ctx = TokenEmbed(ctx, d) if ctx else None
        self.enc_in = StepInput(tok_vocab, M + 4, d)
        self.enc_stack = ConvStack(d, n_layers=max(2, cfg.n_layers // 2), kernel=cfg.kernel_size,
                                   causal=False)
        self.enc_out = nn.Linear(2 * d + 1, 2 * cfg.latent_dim)
        self.dec_z = nn.Linear(cfg.latent_dim, d)
        self.dec_in = StepInput(tok_vocab, M + 4, d)
        self.dec_stack = ConvStack(d, n_layers=cfg.n_layers, kernel=cfg.kernel_size, causal=True)
        self.start = Head(d, codec.start_bins)
        sizes = list(codec.event_vocab) + [codec.numeric_bins + 1] * M + [codec.gap_bins + 1]
        self.heads = EventHeads(d, sizes)

    def _ctx(self, emb: TokenEmbed | None, ctx: torch.Tensor, d: int) -> torch.Tensor:
        return emb(ctx) if emb is not None else ctx.new_zeros(ctx.shape[0], d, dtype=torch.float)

    def encode(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        B, L = b.tokens.shape[:2]
        mask = b.mask()  # [B, L]
        pos = self.codec.pos_feature(L, B).to(mask.device)
        first = torch.zeros_like(mask)
        first[:, 0] = 1.0
        x = self.enc_in(b.tokens, step_features(b.w, b.g, b.abs_t, pos, first))
        x = x + self._ctx(self.enc_ctx, b.ctx, x.shape[-1]).unsqueeze(1)
        h = self.enc_stack(x, mask)  # [B, L, d]
        m = mask.unsqueeze(-1)
        mean = (h * m).sum(1) / b.lengths.clamp(min=1).unsqueeze(-1)
        mx = (h * m - 1e4 * (1 - m)).max(1).values
        length = (torch.log1p(b.lengths.float()) / math.log1p(self.codec.max_length)).unsqueeze(-1)
        mu, logvar = self.enc_out(torch.cat([mean, mx, length], -1)).chunk(2, dim=-1)
        return mu, logvar.clamp(-10, 10)

    def forward(self, b: Batch, eps: torch.Tensor, rank: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-customer loss [B] and its parts [B] (eps [B, latent], rank [B, T] are the noise)."""
        mu, logvar = self.encode(b)
        z = mu + eps * torch.exp(0.5 * logvar)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)  # [B, latent]
        kl = kl.clamp(min=self.cfg.free_bits).sum(1)
        cond = self._ctx(self.dec_ctx, b.ctx, self.cfg.d_model) + self.dec_z(z)
        start_nll = F.cross_entropy(self.start(cond), b.start_bin, reduction="none")
        ctx_nll = self.context.loss(b.ctx, rank) if self.context is not None \
            else torch.zeros_like(kl)
        h = self.dec_stack(self._decoder_input(b, cond))  # [B, L+1, d]
        field_nll, end_nll = self.heads.loss(h, *self._targets(b))
        parts = {"nll_events": field_nll[:, :-1].sum(1), "nll_gap": field_nll[:, -1],
                 "nll_end": end_nll, "nll_start": start_nll, "nll_context": ctx_nll, "kl": kl}
        total = field_nll.sum(1) + end_nll + start_nll + ctx_nll + self.cfg.beta * kl
        return total / LOSS_NORM, parts

    def _decoder_input(self, b: Batch, cond: torch.Tensor) -> torch.Tensor:
        """Step t sees event t-1 (step 0 a start token carrying the first-event time)."""
        B, L, C = b.tokens.shape
        tok = F.pad(b.tokens, (0, 0, 1, 0))  # [B, L+1, C]
        w = F.pad(b.w, (0, 0, 1, 0))
        g = F.pad(b.g, (1, 0))
        abs_t = torch.cat([b.start_frac.unsqueeze(1), b.abs_t], dim=1)
        pos = self.codec.pos_feature(L + 1, B).to(w.device)
        first = torch.zeros_like(g)
        first[:, 0] = 1.0
        return self.dec_in(tok, step_features(w, g, abs_t, pos, first)) + cond.unsqueeze(1)

    def _targets(self, b: Batch) -> tuple[torch.Tensor, ...]:
        B, L, C = b.tokens.shape
        t = torch.arange(L + 1, device=b.tokens.device).expand(B, L + 1)
        n = b.lengths.unsqueeze(1)
        ev = (t < n).float()
        cats = F.pad((b.tokens - 1).clamp(min=0), (0, 0, 0, 1))
        nums = F.pad(b.w_bin, (0, 0, 0, 1))
        gap = F.pad(b.g_bin, (0, 1)).unsqueeze(-1)
        targets = torch.cat([cats, nums, gap], dim=-1)  # [B, L+1, F]
        gap_mask = ((t >= 1) & (t < n)).float().unsqueeze(-1)
        field_mask = torch.cat([ev.unsqueeze(-1).expand(B, L + 1, targets.shape[-1] - 1),
                                gap_mask], dim=-1)
        end_target = (t == n).float()
        end_mask = ((t >= 1) & (t <= n)).float()
        return targets, field_mask, end_target, end_mask

    @torch.no_grad()
    def generate(self, ctx: torch.Tensor, z: torch.Tensor, gen: torch.Generator
                 ) -> dict[str, torch.Tensor]:
        """Batched autoregressive sampling; every journey of the batch steps in parallel."""
        c, n, M = self.codec, ctx.shape[0], self.codec.n_numeric
        C, L = len(c.event_vocab), c.max_length
        cond = self._ctx(self.dec_ctx, ctx, self.cfg.d_model) + self.dec_z(z)
        start = c.start_from_bin(gumbel_argmax(self.start(cond), gen), gen)
        caches = self.dec_stack.new_cache(n, L + 1)
        out_tok = torch.zeros(n, L, C, dtype=torch.long)
        out_w, out_g = torch.zeros(n, L, M), torch.zeros(n, L)
        alive, lengths = torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.long)
        tok, w, g, abs_t = torch.zeros(n, C, dtype=torch.long), torch.zeros(n, M), \
            torch.zeros(n), start.clone()
        for t in range(L + 1):
            pos = c.pos_feature(1, n, offset=t)[:, 0]
            first = torch.full((n,), float(t == 0))
            feats = step_features(w, g, abs_t, pos, first)
            x = self.dec_in(tok.unsqueeze(1), feats.unsqueeze(1))[:, 0] + cond
            end_p, k = self.heads.sample(self.dec_stack.step(x, caches, t), gen)
            tok, w = k[:, :C] + 1, Codec.from_bin(k[:, C:C + M], c.numeric_bins, gen)
            g = Codec.from_bin(k[:, -1], c.gap_bins, gen) if t else torch.zeros(n)
            abs_t = abs_t + c.gap_of_g(g) / c.span
            if t > 0:
                ended = torch.rand(n, generator=gen) < end_p
                alive &= ~ended & (abs_t < 1.0) & (t < L)
            if not alive.any():
                break
            out_tok[alive, t], out_w[alive, t], out_g[alive, t] = tok[alive], w[alive], g[alive]
            lengths += alive.long()
        Lmax = int(lengths.max())
        return {"lengths": lengths, "tokens": out_tok[:, :Lmax],
                "numerics": Codec.u_of_w(out_w[:, :Lmax]),
                "gaps": c.gap_of_g(out_g[:, :Lmax].double()), "start": start.double() * c.span,
                "ctx": ctx}


class VAETask:
    """One (DP-)SGD step of the VAE on a batch of customers."""

    def __init__(self, net: VAENet, data: JourneyData, cfg: VAEConfig, plan: DPPlan | None,
                 optimizer=None):
        self.net, self.data, self.cfg, self.plan = net, data, cfg, plan
        self.nets = nn.ModuleDict({"vae": net})
        self.make_optimizer = optimizer or (lambda ps: torch.optim.Adam(ps, lr=cfg.lr))
        self.model: nn.Module = net
        self.gsm = None

    def setup(self, device: torch.device) -> None:
        self.device = device
        opt = self.make_optimizer(self.net.parameters())
        if self.plan is not None:
            self.gsm, opt = make_private(self.net, opt, plan=self.plan,
                                         noise_seed=self.cfg.seed + 1, device=device)
            self.model = self.gsm
        self.opt = opt
        self.gen = torch.Generator().manual_seed(self.cfg.seed + 2)

    def _pieces(self, idx: torch.Tensor, logs: dict[str, float]):
        """(per-customer loss [b], rows [b]) chunk by chunk."""
        T = len(self.data.codec.ctx_vocab)
        for rows in self.data.chunks(idx, self.cfg.tokens_per_chunk):
            b = self.data.take(idx[rows]).to(self.device)
            eps = torch.randn(len(rows), self.cfg.latent_dim, generator=self.gen)
            rank = torch.rand(len(rows), T, generator=self.gen).argsort(-1)
            loss, parts = self.model(b, eps.to(self.device), rank.to(self.device))
            for k, v in {"loss": loss, **parts}.items():
                logs[k] = logs.get(k, 0.0) + float(v.detach().sum())
            yield loss, rows

    def step(self, idx: torch.Tensor) -> dict[str, float]:
        self.net.train()
        logs: dict[str, float] = {}
        n = len(idx)
        if self.plan is not None:
            dp_step(self.opt, self._pieces(idx, logs), batch_size=n)
        else:
            self.opt.zero_grad(set_to_none=True)
            for loss, _ in self._pieces(idx, logs):
                (loss.sum() / n).backward()
            self.opt.step()
        return {k: v / n for k, v in logs.items()} if n else {}

    def teardown(self) -> None:
        if self.gsm is not None:
            self.gsm.remove_hooks()


@register("vae")
class VAEGenerator(NeuralGenerator):
    """Sequence VAE; `create("vae", {"epochs": 20})`. Config: `generators.config.VAEConfig`."""

    config_cls = VAEConfig
    private_modules = ["vae (encoder, decoder, context and first-event models)"]

    def _build(self, codec: Codec) -> VAENet:
        return VAENet(codec, self.config)

    def _task(self, net: VAENet, data: JourneyData, plan: DPPlan | None) -> VAETask:
        return VAETask(net, data, self.config, plan)

    def _generate(self, n: int, fixed: dict[int, int], gen: torch.Generator
                  ) -> dict[str, torch.Tensor]:
        net = self.net
        ctx = net.context.sample(n, fixed, gen) if net.context is not None \
            else torch.zeros(n, 0, dtype=torch.long)
        z = torch.randn(n, self.config.latent_dim, generator=gen)
        return net.generate(ctx, z, gen)
