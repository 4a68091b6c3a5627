"""`gan`: a DoppelGANger-like sequence GAN; under DP only the discriminator is private.

- Generator (under DP it reads no real data): a context generator (given the journey's
  length class: order-agnostic autoregressive over context columns,
  straight-through one-hots, then the first-event time) and an event generator: a
  causal dilated-conv stack over per-event noise, emitting per position every
  event column (straight-through one-hots for categoricals, log-scaled numerics,
  log gap). The length is an attribute: a class of log-spaced lengths, the exact
  length drawn uniformly inside it, the journey masked after it. The class is
  not learnt adversarially: there lengths drift short, since every event is one
  more piece of evidence for the discriminator and short fakes are the safest
  (per-step end flags, soft or straight-through, collapsed to one-event journeys
  for the same reason). Without DP it is drawn from the training journeys'
  length-class frequencies. Under DP it is drawn from a length prior (K logits)
  that is part of the discriminator and fitted by maximum likelihood inside its
  private update: each real customer's loss term carries length_weight times the
  NLL of its length class, clipped and noised with the rest of its gradient, so
  the prior is as private as the discriminator. All positions are produced in parallel
  (no output feedback), which keeps training and sampling fast. At sampling a
  journey also stops before its first event past the schema's time range.
- Discriminator: a non-causal dilated-conv stack over whole journeys (one-hots,
  masked by length) with their context and length class; masked mean and max
  pooling -> score.

DP: each customer i of a Poisson batch is paired with one fresh fake journey
(fake i goes with the i-th sampled customer, whatever the data), and

    loss_i = softplus(-D(real_i)) + softplus(D(fake_i)) + drift (D(real_i)^2 + D(fake_i)^2)

with instance noise on every discriminator input. Real and fake journeys are run
in chunks of similar length; `privacy.dpsgd.dp_step` adds the per-sample gradients
of the real and the fake term of row i *before* clipping, so customer i's clipped
gradient holds both terms and the fake term is noised with it, never added or
overwritten after the DP step (the failure of other tools).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from journeylab.generators import distributed
from journeylab.generators.base import register
from journeylab.generators.config import GANConfig
from journeylab.generators.data import Batch, Binning, JourneyData, length_chunks
from journeylab.generators.nets import ConvStack, Head, straight_through
from journeylab.generators.neural import NeuralGenerator
from journeylab.privacy.dpsgd import DPPlan, dp_step, make_private

MASK_EPS = 1e-3  # a fake journey whose mask is below this has ended
LENGTH_CLASSES = 32  # log-spaced classes of journey length (fewer if max_length is small)


@functools.lru_cache(maxsize=16)
def length_edges(max_length: int) -> torch.Tensor:
    """Edges e_0 = 1 < e_1 < ... < e_K = max_length + 1; class k holds lengths [e_k, e_k+1).

    Cached (every discriminator step needs them): callers must not modify the tensor."""
    # on the CPU explicitly: a model built under `torch.device("meta")` (io.build_checked)
    # must not cache meta edges
    e = torch.logspace(
        0, math.log10(max_length + 1), LENGTH_CLASSES + 1, dtype=torch.float64, device="cpu"
    )
    e = torch.unique(e.round().long())
    e[0], e[-1] = 1, max_length + 1
    return torch.unique(e)


def length_class(lengths: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    return torch.searchsorted(edges.to(lengths.device), lengths, right=True) - 1


def length_in_class(k: torch.Tensor, u: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """A length drawn uniformly in class k (u uniform in [0, 1))."""
    e = edges.to(k.device)
    lo, hi = e[k], e[k + 1]
    return (lo + (u * (hi - lo)).floor().long()).clamp(max=hi - 1)


class ContextGenerator(nn.Module):
    """noise [B, z] + length class one-hots [B, K] -> context one-hots [B, sum V]
    (column by column) and start time [B]."""

    def __init__(self, vocab: list[int], d: int, noise_dim: int, n_lengths: int):
        super().__init__()
        self.vocab = vocab
        self.noise = nn.Linear(noise_dim, d)
        self.embs = nn.ModuleList(nn.Linear(v, d, bias=False) for v in vocab)
        self.query = nn.Embedding(len(vocab), d) if vocab else None
        self.heads = nn.ModuleList(Head(d, v) for v in vocab)
        self.length_emb = nn.Linear(n_lengths, d, bias=False)
        self.start = Head(d, 1)

    def forward(
        self,
        noise: torch.Tensor,
        order: list[int],
        length: torch.Tensor,
        fixed: dict[int, int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        fixed = fixed or {}
        B = noise.shape[0]
        base = self.noise(noise) + self.length_emb(length)
        acc = torch.zeros_like(base)
        onehots: list[torch.Tensor | None] = [None] * len(self.vocab)
        for j in order:
            if j in fixed:
                cls = torch.as_tensor(fixed[j], dtype=torch.long).expand(B)  # one or per row
                oh = F.one_hot(cls, self.vocab[j]).float().to(base.device)
            else:
                q = self.query(torch.full((B,), j, dtype=torch.long, device=base.device))
                oh = straight_through(self.heads[j](base + acc + q))
            onehots[j] = oh
            acc = acc + self.embs[j](oh)
        start = torch.sigmoid(self.start(base + acc)).squeeze(-1)
        ctx = torch.cat(onehots, -1) if onehots else base.new_zeros(B, 0)
        return ctx, start


class EventGenerator(nn.Module):
    """Per-event noise [B, L, z] + journey noise + context -> every column of L events."""

    def __init__(self, codec: Binning, cfg: GANConfig):
        super().__init__()
        d, self.codec = cfg.d_model, codec
        n_len = len(length_edges(codec.max_length)) - 1
        self.step_in = nn.Linear(cfg.noise_dim + 2, d)
        self.journey_in = nn.Linear(cfg.noise_dim, d)
        self.ctx_in = nn.Linear(sum(codec.ctx_vocab) + n_len + 1, d)
        self.stack = ConvStack(d, n_layers=cfg.n_layers, kernel=cfg.kernel_size, causal=True)
        self.cats = nn.ModuleList(Head(d, v) for v in codec.event_vocab)
        self.out = Head(d, codec.n_numeric + 1)  # numerics, log gap

    def forward(
        self,
        step_noise: torch.Tensor,
        z: torch.Tensor,
        ctx: torch.Tensor,
        length: torch.Tensor,
        n_events: torch.Tensor,
        start: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """step_noise [B, L, z], z [B, z], ctx [B, sum V], length class one-hots [B, K],
        n_events [B] (the drawn length), start [B] -> L positions, masked after n_events.

        In training the mask is not cut at the end of the time range: the discriminator
        sees events past it (abs_t > 1, which no real journey has) and penalises them."""
        B, L, _ = step_noise.shape
        pos = self.codec.pos_feature(L, B).to(z.device)
        t = torch.arange(L, device=z.device)
        # events left in the journey: the network knows where its journey ends
        left = (n_events.unsqueeze(1) - t).clamp(min=0).to(pos.dtype)
        left = torch.log1p(left) / math.log1p(self.codec.max_length)
        cond = self.journey_in(z) + self.ctx_in(torch.cat([ctx, length, start.unsqueeze(-1)], -1))
        x = torch.cat([step_noise, pos.unsqueeze(-1), left.unsqueeze(-1)], -1)
        h = self.stack(self.step_in(x) + cond.unsqueeze(1))
        cats = [straight_through(head(h)) for head in self.cats]  # [B, L, V] each
        out = self.out(h)
        M = self.codec.n_numeric
        w, g = torch.sigmoid(out[..., :M]), torch.sigmoid(out[..., M])
        g = torch.cat([torch.zeros_like(g[:, :1]), g[:, 1:]], 1)  # first event: no gap
        mask = (t.unsqueeze(0) < n_events.unsqueeze(1)).to(w.dtype)  # [B, L]
        abs_t = start.unsqueeze(1) + torch.cumsum(self.codec.gap_of_g(g), 1) / self.codec.span
        return {"cats": cats, "w": w, "g": g, "abs_t": abs_t.clamp(max=2.0), "mask": mask}


class Discriminator(nn.Module):
    """Whole journeys with their context -> one score per journey [B]."""

    def __init__(self, codec: Binning, cfg: GANConfig):
        super().__init__()
        d, self.codec = cfg.d_model, codec
        n_feat = sum(codec.event_vocab) + codec.n_numeric + 3
        n_len = len(length_edges(codec.max_length)) - 1
        self.inp = nn.Linear(n_feat, d)
        self.ctx = nn.Linear(sum(codec.ctx_vocab) + n_len + 1, d)
        # the length prior: logits = length_prior(1), fitted inside the private update
        self.length_prior = nn.Linear(1, n_len)
        self.stack = ConvStack(
            d, n_layers=max(2, cfg.n_layers // 2), kernel=cfg.kernel_size, causal=False
        )
        self.out = Head(3 * d + 2, 1)

    def length_nll(self, k: torch.Tensor) -> torch.Tensor:
        """Per-customer NLL [B] of length classes k [B] under the length prior."""
        ones = torch.ones(len(k), 1, device=k.device)
        return F.cross_entropy(self.length_prior(ones), k, reduction="none")

    @torch.no_grad()
    def length_probs(self) -> torch.Tensor:
        ones = self.length_prior.weight.new_ones(1, 1)
        return torch.softmax(self.length_prior(ones).squeeze(0).double(), -1)

    def forward(self, ev: torch.Tensor, mask: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        """ev [B, L, F] features, mask [B, L], ctx [B, sum V + K + 1] (context, length
        class, start) -> scores [B]."""
        c = self.ctx(ctx)
        h = self.stack(self.inp(ev) + c.unsqueeze(1), mask)
        m = mask.unsqueeze(-1)
        n = mask.sum(1, keepdim=True)
        mean = (h * m).sum(1) / n.clamp(min=1)
        mx = (h * m - 1e4 * (1 - m)).max(1).values
        length = torch.cat(
            [torch.log1p(n) / math.log1p(self.codec.max_length), n / self.codec.max_length], -1
        )
        return self.out(torch.cat([mean, mx, c, length], -1)).squeeze(-1)


class GANNet(nn.Module):
    def __init__(self, codec: Binning, cfg: GANConfig):
        super().__init__()
        self.codec, self.cfg = codec, cfg
        self.register_buffer("edges", length_edges(codec.max_length), persistent=False)
        # length-class frequencies of the training journeys (non-DP fits); all zero: the
        # discriminator's private length prior gives them (DP fits). Saved with the weights.
        self.register_buffer("length_probs", torch.zeros(len(self.edges) - 1, dtype=torch.float64))
        self.context = ContextGenerator(
            list(codec.ctx_vocab), cfg.d_model, cfg.noise_dim, len(self.edges) - 1
        )
        self.events = EventGenerator(codec, cfg)
        self.disc = Discriminator(codec, cfg)

    def fake(
        self,
        n: int,
        gen: torch.Generator,
        *,
        order: list[int] | None = None,
        fixed: dict[int, int] | None = None,
        device=None,
        grad: bool = False,
    ) -> dict[str, torch.Tensor]:
        """n fake journeys, trimmed to the longest of them; differentiable if `grad`.

        The event generator is causal, so its first L positions do not depend on
        later ones: it runs on 64, 128, 256, ... positions until every journey has
        ended, which costs about the journeys' length, not max_length.
        """
        cfg, Lmax = self.cfg, self.codec.max_length
        noise = torch.randn(n, cfg.noise_dim, generator=gen).to(device)
        z = torch.randn(n, cfg.noise_dim, generator=gen).to(device)
        steps = torch.randn(n, Lmax, cfg.noise_dim, generator=gen).to(device)
        u = torch.rand(n, generator=gen).to(device)
        order = order if order is not None else list(range(len(self.codec.ctx_vocab)))
        probs = self.length_probs if self.length_probs.sum() > 0 else self.disc.length_probs()
        k = torch.multinomial(probs.cpu(), n, replacement=True, generator=gen).to(device)
        length = F.one_hot(k, len(self.edges) - 1).float()
        with torch.set_grad_enabled(grad):
            ctx, start = self.context(noise, order, length, fixed)
        n_events = length_in_class(k, u, self.edges)
        args = (z, ctx, length, n_events, start)
        with torch.no_grad():
            out = self._events_nograd(steps, *args)
        if grad:
            Lf = out["mask"].shape[1]
            out = self.events(steps[:, :Lf], *args)
        return {**out, "ctx": ctx, "length": length, "start": start}

    def _events_nograd(self, steps: torch.Tensor, *args: torch.Tensor) -> dict:
        """Events of n journeys, each computed on 64, 128, ... positions until it ends
        (args: per-journey tensors of EventGenerator.forward after the step noise)."""
        n, Lmax = steps.shape[:2]
        active, L, pieces = torch.arange(n, device=steps.device), min(64, Lmax), []
        while len(active):
            out = self.events(steps[active, :L], *(a[active] for a in args))
            fin = out["mask"][:, -1] < MASK_EPS if L < Lmax else torch.ones_like(active, dtype=bool)
            if fin.any():
                pieces.append((active[fin], take_fake(out, fin)))
            active, L = active[~fin], min(2 * L, Lmax)
        Lf = max(p["mask"].shape[1] for _, p in pieces)
        full = {
            k: (
                [torch.zeros(n, Lf, c.shape[-1], device=steps.device) for c in v]
                if k == "cats"
                else torch.zeros(n, Lf, *v.shape[2:], device=steps.device)
            )
            for k, v in pieces[0][1].items()
        }
        for rows, p in pieces:
            Lp = p["mask"].shape[1]
            for k, v in p.items():
                if k == "cats":
                    for dst, src in zip(full[k], v, strict=True):
                        dst[rows, :Lp] = src
                else:
                    full[k][rows, :Lp] = v
        return full


def take_fake(f: dict, rows, L: int | None = None) -> dict:
    """Rows of a fake batch, trimmed to L steps (default: the longest of those rows)."""
    if L is None:
        L = max(1, int((f["mask"][rows].detach() >= MASK_EPS).sum(1).max()))
    out = {}
    for k, v in f.items():
        if k == "cats":
            out[k] = [c[rows, :L] for c in v]
        elif k in ("ctx", "length", "start"):
            out[k] = v[rows]
        else:
            out[k] = v[rows, :L]
    return out


def real_inputs(b: Batch, codec: Binning) -> tuple[torch.Tensor, ...]:
    """Discriminator inputs of real journeys: (features [B,L,F], mask [B,L], ctx [B,Fc])."""
    mask = b.mask()
    cats = [
        F.one_hot((b.tokens[..., j] - 1).clamp(min=0), v).float()
        for j, v in enumerate(codec.event_vocab)
    ]
    ctx = [F.one_hot(b.ctx[:, j], v).float() for j, v in enumerate(codec.ctx_vocab)]
    edges = length_edges(codec.max_length)
    length = F.one_hot(length_class(b.lengths, edges), len(edges) - 1).float()
    return (
        _features(cats, b.w, b.g, b.abs_t, mask, codec),
        mask,
        torch.cat([*ctx, length, b.start_frac.unsqueeze(-1)], -1),
    )


def fake_inputs(f: dict[str, torch.Tensor], codec: Binning) -> tuple[torch.Tensor, ...]:
    return (
        _features(f["cats"], f["w"], f["g"], f["abs_t"], f["mask"], codec),
        f["mask"],
        torch.cat([f["ctx"], f["length"], f["start"].unsqueeze(-1)], -1),
    )


def _features(cats, w, g, abs_t, mask, codec: Binning) -> torch.Tensor:
    B, L = mask.shape
    pos = codec.pos_feature(L, B).to(mask.device)
    x = torch.cat([*cats, w, g.unsqueeze(-1), abs_t.unsqueeze(-1), pos.unsqueeze(-1)], -1)
    return x * mask.unsqueeze(-1)


class GANTask:
    """One discriminator step (DP under a plan) and, every d_steps, one generator step."""

    def __init__(
        self, net: GANNet, data: JourneyData, cfg: GANConfig, plan: DPPlan | None, optimizer=None
    ):
        self.net, self.data, self.cfg, self.plan = net, data, cfg, plan
        self.nets = nn.ModuleDict({"gan": net})
        self.make_optimizer = optimizer or (
            lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=(0.5, 0.9))
        )
        self.disc: nn.Module = net.disc
        self.gsm = None
        if plan is None:  # not private: the length classes of the training journeys
            k = length_class(data.lengths.long(), net.edges)
            counts = torch.bincount(k, minlength=len(net.edges) - 1).double()
            with torch.no_grad():
                net.length_probs.copy_(counts / counts.sum())
        self.n_steps = 0

    def setup(self, device: torch.device) -> None:
        self.device, cfg = device, self.cfg
        self.g_params = [p for n, p in self.net.named_parameters() if not n.startswith("disc.")]
        self.g_opt = self.make_optimizer(self.g_params, cfg.g_lr or cfg.lr)
        d_opt = self.make_optimizer(self.net.disc.parameters(), cfg.lr)
        if self.plan is not None:
            self.gsm, d_opt = make_private(
                self.net.disc,
                d_opt,
                plan=self.plan,
                noise_seed=cfg.seed + 1,
                device=device,
                world_size=distributed.world()[1],
            )
            self.disc = self.gsm
        self.d_opt = d_opt
        self.gen = torch.Generator().manual_seed(distributed.rank_seed(cfg.seed + 2))

    def _order(self) -> list[int]:
        return torch.randperm(len(self.data.codec.ctx_vocab), generator=self.gen).tolist()

    def pair_pieces(self, idx: torch.Tensor, logs: dict[str, float]):
        """Loss pieces (terms [b], rows [b]): row i = real customer idx[i] and fake i.

        Real and fake journeys are chunked by their own lengths; `dp_step` sums the
        real and the fake term of each row before clipping. Fake i goes with the
        i-th sampled customer whatever the data, so pairing leaks nothing.
        """
        codec, drift = self.data.codec, self.cfg.drift
        with torch.no_grad():
            fakes = self.net.fake(len(idx), self.gen, order=self._order(), device=self.device)
        for rows in self.data.chunks(idx, self.cfg.tokens_per_chunk):
            b = self.data.take(idx[rows]).to(self.device)
            d_real = self.disc(*self._noisy(real_inputs(b, codec)))
            self._log(logs, "d_real", d_real)
            # the length prior (module docstring); fitted with or without DP, so that one
            # DP step without noise or clipping is one plain step
            nll = self.net.disc.length_nll(length_class(b.lengths, self.net.edges))
            logs["length_nll"] = logs.get("length_nll", 0.0) + float(nll.detach().sum())
            yield F.softplus(-d_real) + drift * d_real.pow(2) + self.cfg.length_weight * nll, rows
        fake_len = (fakes["mask"] >= MASK_EPS).sum(1) + 1
        for rows in length_chunks(fake_len, self.cfg.tokens_per_chunk):
            d_fake = self.disc(
                *self._noisy(fake_inputs(take_fake(fakes, rows.to(self.device)), codec))
            )
            self._log(logs, "d_fake", d_fake)
            yield F.softplus(d_fake) + drift * d_fake.pow(2), rows

    def _noisy(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """Instance noise on the features (padding stays zero); independent of the data."""
        ev, mask, ctx = inputs
        sd = self.cfg.instance_noise
        if sd == 0:
            return inputs
        ev = ev + sd * torch.randn(ev.shape, generator=self.gen).to(ev.device) * mask.unsqueeze(-1)
        ctx = ctx + sd * torch.randn(ctx.shape, generator=self.gen).to(ctx.device)
        return ev, mask, ctx

    @staticmethod
    def _log(logs: dict[str, float], key: str, d: torch.Tensor) -> None:
        d = d.detach()
        logs[key] = logs.get(key, 0.0) + float(d.sum())
        term = F.softplus(-d) if key == "d_real" else F.softplus(d)
        logs["d_loss"] = logs.get("d_loss", 0.0) + float(term.sum())

    def d_step(self, idx: torch.Tensor, logs: dict[str, float]) -> int:
        n = len(idx)
        if self.plan is not None:
            return dp_step(self.d_opt, self.pair_pieces(idx, logs), batch_size=n)
        self.d_opt.zero_grad(set_to_none=True)
        total = distributed.global_count(n)  # the batch across processes (DDP)
        for loss, _ in self.pair_pieces(idx, logs):
            (loss.sum() / total).backward()
        distributed.sum_grads(self.net.disc.parameters())
        self.d_opt.step()
        return n

    def g_step(self) -> float:
        """Generator update against the (frozen) discriminator; touches no real data."""
        disc = self.net.disc
        disc.requires_grad_(False)
        if self.gsm is not None:
            self.gsm.disable_hooks()
        try:
            f = self.net.fake(
                self.cfg.batch_size, self.gen, order=self._order(), device=self.device, grad=True
            )
            loss = F.softplus(-disc(*self._noisy(fake_inputs(f, self.data.codec)))).mean()
            self.g_opt.zero_grad(set_to_none=True)
            loss.backward()
            distributed.sum_grads(self.g_params, average=True)  # each process: its own fakes
            self.g_opt.step()
        finally:
            disc.requires_grad_(True)
            if self.gsm is not None:
                self.gsm.enable_hooks()
        return float(loss.detach())

    def step(self, idx: torch.Tensor) -> dict[str, float]:
        self.net.train()
        logs: dict[str, float] = {}
        n = self.d_step(idx, logs)
        out = {k: v / n for k, v in logs.items()} if n else {}
        self.n_steps += 1
        if self.n_steps % self.cfg.d_steps == 0:
            out["g_loss"] = self.g_step()
        if "d_loss" in out:
            out["loss"] = out["d_loss"]
        return out

    def teardown(self) -> None:
        if self.gsm is not None:
            self.gsm.remove_hooks()


@register("gan")
class GANGenerator(NeuralGenerator):
    """Sequence GAN; `create("gan", {"epochs": 50})`. Config: `generators.config.GANConfig`."""

    # The GAN learns first-event times poorly (its journeys bunch in one part of the
    # window, so recency and churn labels come out wrong): they follow the profile.
    realign_starts = True

    config_cls = GANConfig
    private_modules = ["discriminator (with the length prior fakes are drawn from)"]

    def _build(self, codec: Binning) -> GANNet:
        return GANNet(codec, self.config)

    def _task(self, net: GANNet, data: JourneyData, plan: DPPlan | None) -> GANTask:
        return GANTask(net, data, self.config, plan)

    @torch.no_grad()
    def _generate(
        self,
        n: int,
        fixed: dict[int, int],
        gen: torch.Generator,
        force: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """`force` (target lengths) is not used: the GAN draws its own length classes."""
        c = self.codec
        T = len(c.ctx_vocab)
        order = [j for j in range(T) if j in fixed] + [j for j in range(T) if j not in fixed]
        f = self.net.fake(n, gen, order=order, fixed=fixed)
        mask = f["mask"] > 0.5
        mask &= torch.cumprod((f["abs_t"] < 1.0).long(), 1).bool()  # stop at the time range
        mask[:, 0] = True
        lengths = mask.sum(1)
        tokens = (
            torch.stack([x.argmax(-1) + 1 for x in f["cats"]], -1)
            if f["cats"]
            else torch.zeros(*mask.shape, 0, dtype=torch.long)
        )
        w = torch.where(f["w"] < 0.5 / c.numeric_bins, torch.zeros_like(f["w"]), f["w"])
        splits = torch.tensor(c.ctx_vocab).cumsum(0).tolist()
        ctx = [f["ctx"][:, a - v : a].argmax(-1) for a, v in zip(splits, c.ctx_vocab, strict=True)]
        return {
            "lengths": lengths,
            "tokens": tokens * mask.unsqueeze(-1),
            "numerics": Binning.u_of_w(w),
            "gaps": c.gap_of_g(f["g"].double()),
            "start": f["start"].double() * c.span,
            "ctx": torch.stack(ctx, 1) if ctx else torch.zeros(n, 0, dtype=torch.long),
        }
