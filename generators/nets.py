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

    Fields in order (the caller's `sizes`): field f is predicted from h + embeddings
    of fields < f (teacher-forced in training), so the columns of one event are
    sampled jointly, not independently. A separate head gives the probability that
    the journey ends at this step (a true end, e.g. churn).

    Censoring: a journey also ends when its next event would fall after the end of the
    data window. With `censor` (the gap field's index and, per journey, the position in
    [0, 1] of the remaining time on the gap field's binned scale), the observed end of
    a journey has likelihood p_end + (1 - p_end) P(gap >= remaining) instead of p_end:
    the generative process of `sample` (end flag, else a gap; past the window = end).
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
        censor: tuple[int, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """h [B, S, d], targets [B, S, F] classes, field_mask [B, S, F], end_* [B, S];
        censor = (gap field index, remaining [B] on the gap's [0, 1] scale) or None.

        Returns per-journey NLL of the fields [B, F] and of the end flags [B].
        """
        B, S = h.shape[:2]
        x, nll, gap_logits = h, [], None
        for f, head in enumerate(self.heads):
            logits = head(x)  # [B, S, V_f]
            if censor is not None and f == censor[0]:
                gap_logits = logits
            ce = F.cross_entropy(
                logits.flatten(0, 1), targets[..., f].flatten(), reduction="none"
            ).view(B, S)
            nll.append((ce * field_mask[..., f]).sum(1))
            if f < len(self.embs):
                x = x + self.embs[f](targets[..., f])
        end_logit = self.end(h).squeeze(-1)
        if gap_logits is None:
            end = F.binary_cross_entropy_with_logits(end_logit, end_target, reduction="none")
        else:
            end = censored_end_nll(end_logit, end_target, gap_logits, censor[1])
        return torch.stack(nll, dim=1), (end * end_mask).sum(1)

    @torch.no_grad()
    def sample(
        self,
        h: torch.Tensor,
        gen: torch.Generator,
        *,
        fixed: dict[int, torch.Tensor] | None = None,
        bias: dict[int, torch.Tensor] | None = None,
        joint: tuple[int, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """h [B, d] -> (end probability [B], field classes [B, F]); `fixed` sets fields,
        `bias` is added to a field's logits (generators/calibrate.py). `joint` = (f, G
        [B, V_f, V_f+1]): fields f and f + 1 are drawn together, from the model's joint
        distribution of the two times exp(G) (a bias on each pair of classes, per row:
        the transition calibration); `bias` is then not applied to them."""
        if joint is not None and fixed and (joint[0] in fixed or joint[0] + 1 in fixed):
            joint = None
        x, out = h, []
        f = 0
        while f < len(self.heads):
            if joint is not None and f == joint[0]:
                ka, kb = self._joint(x, f, joint[1], gen)
                out += [ka, kb]
                x = x + self.embs[f](ka)
                if f + 1 < len(self.embs):
                    x = x + self.embs[f + 1](kb)
                f += 2
                continue
            head = self.heads[f]
            logits = head(x) if not bias or f not in bias else head(x) + bias[f]
            k = fixed[f] if fixed and f in fixed else gumbel_argmax(logits, gen)
            out.append(k)
            if f < len(self.embs):
                x = x + self.embs[f](k)
            f += 1
        return torch.sigmoid(self.end(h).squeeze(-1)), torch.stack(out, dim=1)

    def _joint(
        self, x: torch.Tensor, f: int, grid: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One draw of (field f, field f + 1) per row from p(a) p(b | a) exp(grid[a, b])."""
        B, Va, Vb = grid.shape
        log_a = self.heads[f](x).log_softmax(-1)  # [B, Va]
        xa = x.unsqueeze(1) + self.embs[f].weight[:Va].unsqueeze(0)  # [B, Va, d]
        log_b = self.heads[f + 1](xa).log_softmax(-1)  # [B, Va, Vb]
        k = gumbel_argmax((log_a.unsqueeze(-1) + log_b + grid).reshape(B, Va * Vb), gen)
        return k // Vb, k % Vb


def crossing_weights(remaining: torch.Tensor, n_classes: int) -> torch.Tensor:
    """[B] positions r in [0, 1] -> [B, n_classes] share of each gap class at or past r.

    Class 0 is an exact zero gap (never past r > 0); class k >= 1 is uniform on
    [(k - 1) / bins, k / bins) with bins = n_classes - 1 (as `Binning.from_bin` draws)."""
    bins = n_classes - 1
    lo = torch.arange(bins, device=remaining.device, dtype=remaining.dtype) / bins  # [bins]
    frac = ((lo + 1 / bins - remaining.unsqueeze(-1)) * bins).clamp(0, 1)  # [B, bins]
    zero = (remaining <= 0).to(remaining.dtype).unsqueeze(-1)
    return torch.cat([zero, frac], dim=-1)


def censored_end_nll(
    end_logit: torch.Tensor,
    end_target: torch.Tensor,
    gap_logits: torch.Tensor,
    remaining: torch.Tensor,
) -> torch.Tensor:
    """[B, S] NLL: -log(1 - p_end) where no end, -log(p_end + (1 - p_end) P(crossing)) at
    the end, P(crossing) from the gap distribution of that step and the remaining time."""
    w = crossing_weights(remaining, gap_logits.shape[-1]).unsqueeze(1)  # [B, 1, V]
    p_cross = (gap_logits.softmax(-1) * w).sum(-1).clamp(1e-12, 1.0)  # [B, S]
    log_end = torch.logaddexp(F.logsigmoid(end_logit), F.logsigmoid(-end_logit) + p_cross.log())
    return -(end_target * log_end + (1 - end_target) * F.logsigmoid(-end_logit))
