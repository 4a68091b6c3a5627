"""Network building blocks of the sequence generators, chosen for fast DP-SGD.

Opacus computes per-sample gradients with fast hooks only for some layers, and
rejects `nn.GRU` (its `DPGRU` loops over time in Python, ~4.5x slower). So every
network here is built from `nn.Linear`, `nn.Embedding` and `nn.LayerNorm`
alone. Sequence mixing is a dilated 1-D convolution written as one `Linear`
over shifted copies of the sequence (`ShiftLinear`), stacked in residual blocks
with dilations 1, 2, 4, ...; a causal stack doubles as an autoregressive model
whose sampling runs one step at a time from a per-layer cache.

Every module input keeps the batch (customer) dimension first, which is what
makes the per-sample gradients per-customer. Shapes: B journeys, L steps,
d = d_model, C event categoricals, F per-step numeric features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def shift(x: torch.Tensor, offset: int) -> torch.Tensor:
    """y[:, t] = x[:, t - offset] for [B, L, d], zero outside (offset < 0 looks ahead)."""
    if offset == 0:
        return x
    L = x.shape[1]
    if offset > 0:
        return F.pad(x, (0, 0, offset, 0))[:, :L]
    return F.pad(x, (0, 0, 0, -offset))[:, -offset:]


class ShiftLinear(nn.Module):
    """A dilated convolution [B, L, d_in] -> [B, L, d_out] as a Linear over shifted copies."""

    def __init__(self, d_in: int, d_out: int, *, kernel: int, dilation: int, causal: bool):
        super().__init__()
        if causal:
            self.offsets = [j * dilation for j in range(kernel)]
        else:
            self.offsets = [(j - kernel // 2) * dilation for j in range(kernel)]
        self.lin = nn.Linear(kernel * d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(torch.cat([shift(x, o) for o in self.offsets], dim=-1))

    @property
    def span(self) -> int:
        """Cache slots a causal step needs: the largest look-back plus one."""
        return max(self.offsets) + 1

    def step(self, cache: torch.Tensor, t: int) -> torch.Tensor:
        """Output at step t from a ring buffer of past inputs [B, span, d_in] (causal only)."""
        zero = cache.new_zeros(cache.shape[0], cache.shape[2])
        R = cache.shape[1]
        parts = [cache[:, (t - o) % R] if t - o >= 0 else zero for o in self.offsets]
        return self.lin(torch.cat(parts, dim=-1))


class Block(nn.Module):
    """Pre-norm residual block: x + W2 gelu(conv(LN(x)))."""

    def __init__(self, d: int, *, kernel: int, dilation: int, causal: bool):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.conv = ShiftLinear(d, 2 * d, kernel=kernel, dilation=dilation, causal=causal)
        self.out = nn.Linear(2 * d, d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(x)
        if mask is not None:
            # zero padding before mixing, so real positions never see padding
            h = h * mask.unsqueeze(-1)
        return x + self.out(F.gelu(self.conv(h)))

    def step(self, x_t: torch.Tensor, cache: torch.Tensor, t: int) -> torch.Tensor:
        cache[:, t % cache.shape[1]] = self.norm(x_t)
        return x_t + self.out(F.gelu(self.conv.step(cache, t)))


class ConvStack(nn.Module):
    """Residual dilated-convolution blocks [B, L, d] -> [B, L, d]."""

    def __init__(self, d: int, *, n_layers: int, kernel: int, causal: bool):
        super().__init__()
        self.causal = causal
        self.blocks = nn.ModuleList(
            Block(d, kernel=kernel, dilation=2 ** (i % 8), causal=causal) for i in range(n_layers)
        )
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for b in self.blocks:
            x = b(x, mask)
        return self.norm(x)

    def new_cache(self, batch: int, *, device=None) -> list[torch.Tensor]:
        """Per block a ring buffer [B, span, d] of its recent (normalised) inputs."""
        d = self.norm.normalized_shape[0]
        return [torch.zeros(batch, b.conv.span, d, device=device) for b in self.blocks]

    def step(self, x_t: torch.Tensor, caches: list[torch.Tensor], t: int) -> torch.Tensor:
        """One autoregressive step [B, d] -> [B, d]; same result as forward() at position t."""
        for b, c in zip(self.blocks, caches, strict=True):
            x_t = b.step(x_t, c, t)
        return self.norm(x_t)


class Head(nn.Module):
    """LN -> Linear -> GELU -> Linear: [..., d] -> [..., n_out]."""

    def __init__(self, d: int, n_out: int):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.hidden = nn.Linear(d, d)
        self.out = nn.Linear(d, n_out)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.hidden(self.norm(h))))


class TokenEmbed(nn.Module):
    """Sum of one embedding per categorical column: tokens [B, ..., C] -> [B, ..., d]."""

    def __init__(self, vocab: list[int], d: int):
        super().__init__()
        self.d = d
        self.embs = nn.ModuleList(nn.Embedding(v, d) for v in vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out = tokens.new_zeros((*tokens.shape[:-1], self.d), dtype=torch.float32)
        for j, e in enumerate(self.embs):
            out = out + e(tokens[..., j])
        return out


class StepInput(nn.Module):
    """Per-step input: token embeddings + a projection of numeric features."""

    def __init__(self, vocab: list[int], n_feat: int, d: int):
        super().__init__()
        self.tokens = TokenEmbed(vocab, d)
        self.feats = nn.Linear(n_feat, d)

    def forward(self, tokens: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        return self.tokens(tokens) + self.feats(feats)


class ContextAR(nn.Module):
    """Order-agnostic autoregressive model over context columns (all categorical classes).

    Trained with a random column order per customer, so that any subset of columns
    can be fixed at sampling: fixed columns come first, the rest are drawn in turn,
    each from p(column | columns already set).
    """

    def __init__(self, vocab: list[int], d: int):
        super().__init__()
        self.vocab = vocab
        self.embs = nn.ModuleList(nn.Embedding(v, d) for v in vocab)
        self.query = nn.Embedding(len(vocab), d) if vocab else None
        self.heads = nn.ModuleList(Head(d, v) for v in vocab)

    def _hidden(self, E: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        # E [B, T, d] value embeddings; seen [B, T(target), T(source)] 0/1
        B, T = E.shape[:2]
        cols = torch.arange(T, device=E.device).expand(B, T)
        return torch.bmm(seen, E) + self.query(cols)

    def loss(self, ctx: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
        """Per-customer NLL [B] of ctx [B, T] under column order `rank` [B, T]."""
        B, T = ctx.shape
        if T == 0:
            return ctx.new_zeros(B, dtype=torch.float32)
        E = torch.stack([e(ctx[:, j]) for j, e in enumerate(self.embs)], dim=1)
        seen = (rank.unsqueeze(1) < rank.unsqueeze(2)).float()
        h = self._hidden(E, seen)
        nll = [
            F.cross_entropy(hd(h[:, j]), ctx[:, j], reduction="none")
            for j, hd in enumerate(self.heads)
        ]
        return torch.stack(nll, dim=1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, fixed: dict[int, int], gen: torch.Generator) -> torch.Tensor:
        """ctx [n, T]: columns in `fixed` set to their class, the others drawn in order."""
        T = len(self.vocab)
        ctx = torch.zeros(n, T, dtype=torch.long)
        if T == 0:
            return ctx
        seen = torch.zeros(n, T, T)
        E = torch.zeros(n, T, self.query.embedding_dim)  # [n, T, d]
        order = [j for j in range(T) if j in fixed] + [j for j in range(T) if j not in fixed]
        for j in order:
            if j in fixed:
                ctx[:, j] = fixed[j]
            else:
                h = self._hidden(E, seen)[:, j]
                ctx[:, j] = gumbel_argmax(self.heads[j](h), gen)
            E[:, j] = self.embs[j](ctx[:, j])
            seen[:, :, j] = 1.0
        return ctx


def gumbel_argmax(logits: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One draw from softmax(logits) per row, seeded by `gen` (Gumbel-max trick)."""
    u = torch.rand(logits.shape, generator=gen, device=logits.device).clamp_(1e-12, 1 - 1e-7)
    return (logits - torch.log(-torch.log(u))).argmax(-1)


def straight_through(logits: torch.Tensor) -> torch.Tensor:
    """Hard one-hot of argmax in the forward pass, softmax gradient in the backward pass."""
    soft = logits.softmax(-1)
    hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return hard + soft - soft.detach()


class EventHeads(nn.Module):
    """Output distributions of one step, chained within an event.

    Fields in order: each event categorical, each numeric (bins), the gap (bins);
    field f is predicted from h + embeddings of fields < f (teacher-forced in
    training), so the columns of one event are sampled jointly, not independently.
    A separate head gives the probability that the journey ends at this step.
    """

    def __init__(self, d: int, sizes: list[int]):
        super().__init__()
        self.end = Head(d, 1)
        self.heads = nn.ModuleList(Head(d, s) for s in sizes)
        self.embs = nn.ModuleList(nn.Embedding(s, d) for s in sizes[:-1])

    def loss(
        self,
        h: torch.Tensor,
        targets: torch.Tensor,
        field_mask: torch.Tensor,
        end_target: torch.Tensor,
        end_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """h [B, S, d], targets [B, S, F] classes, field_mask [B, S, F], end_* [B, S].

        Returns per-journey NLL of the fields [B, F] and of the end flags [B].
        """
        B, S = h.shape[:2]
        x, nll = h, []
        for f, head in enumerate(self.heads):
            logits = head(x)  # [B, S, V_f]
            ce = F.cross_entropy(
                logits.flatten(0, 1), targets[..., f].flatten(), reduction="none"
            ).view(B, S)
            nll.append((ce * field_mask[..., f]).sum(1))
            if f < len(self.embs):
                x = x + self.embs[f](targets[..., f])
        end_logit = self.end(h).squeeze(-1)
        end = F.binary_cross_entropy_with_logits(end_logit, end_target, reduction="none")
        return torch.stack(nll, dim=1), (end * end_mask).sum(1)

    @torch.no_grad()
    def sample(self, h: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """h [B, d] -> (end probability [B], field classes [B, F])."""
        x, out = h, []
        for f, head in enumerate(self.heads):
            k = gumbel_argmax(head(x), gen)
            out.append(k)
            if f < len(self.embs):
                x = x + self.embs[f](k)
        return torch.sigmoid(self.end(h).squeeze(-1)), torch.stack(out, dim=1)
