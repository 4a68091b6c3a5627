"""`vae`: a sequence VAE over whole journeys, DP-SGD on the whole model.

- Context: an order-agnostic autoregressive model p(context) (so any subset of
  context columns can be fixed when sampling).
- Encoder q(z | journey, context): a non-causal dilated-conv stack over the
  events, masked mean and max pooling -> mu, log-variance.
- Decoder p(journey | z, context): first-event time from the context alone, then a
  causal dilated-conv stack over the previous events, emitting per step the end
  flag and the event's columns (categoricals, binned log numerics, binned log
  gap), chained within the event.

Both encoder and decoder see real journeys, so under DP the whole model is
private. Per-customer loss = (NLL of the events + once_weight (NLL of the context and
first-event time) + beta KL) / 64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from journeylab.generators import distributed
from journeylab.generators.base import register
from journeylab.generators.calendar import Calendar
from journeylab.generators.config import VAEConfig
from journeylab.generators.data import Batch, Binning, JourneyData
from journeylab.generators.nets import (
    ContextAR,
    ConvStack,
    EventHeads,
    Head,
    StepInput,
    TokenEmbed,
    gumbel_argmax,
)
from journeylab.generators.neural import NeuralGenerator
from journeylab.privacy.dpsgd import DPPlan, dp_step, make_private

LOSS_NORM = 64.0  # per-customer losses are divided by this constant (not by data)
MAX_SHRINK = 0.5  # a told-length journey's gaps shrink at most to half to fit the window


N_RBF = 16  # radial basis features of the absolute time: lets hazards depend sharply on date


# logits off a terminal token before a told length's last event: in effect never (at 8,
# the transition bias could outweigh it, and 12% of the process simulator's synthetic
# cases at epsilon 8 went on after an approval, none real; orders broken 0.51 -> 0.41)
TERMINAL_BIAS = 30.0
PRECEDE_BIAS = 30.0  # logits off a pair before the pairs it never comes without (in effect never)
# logits off the other tokens at the last event of a journey told its length that closes on
# a terminal one: half the transition calibration's "never" (calibrate.CLIP, 8), so an
# outcome the released transitions push down after the journey's last step is not drawn
# (at 15, and at TERMINAL_BIAS, 37% of the process simulator's cases at epsilon 8 broke an
# order the data keeps, 28% before: pending without an accepted offer)
CLOSE_BIAS = 4.0


# Recency features (`VAEConfig.recency`): per value of the event categoricals with at most
# RECENCY_VOCAB values (at most RECENCY_MAX values in all), the time since the journey's
# last event with it and how many it has had.
RECENCY_VOCAB = 64
RECENCY_MAX = 96


def n_features(M: int, R: int = 0) -> int:
    return 2 * M + 5 + N_RBF + 2 * R


def recency_columns(vocab: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """(column, number of values) of the event categoricals that get recency features."""
    out, total = [], 0
    for j, v in enumerate(vocab):
        if v <= RECENCY_VOCAB and total + v <= RECENCY_MAX:
            out.append((j, v))
            total += v
    return tuple(out)


def value_hits(tokens: torch.Tensor, cols: tuple[tuple[int, int], ...]) -> torch.Tensor:
    """tokens [..., C] (1-based, 0 = padding) -> [..., R] 0/1: the event has value r."""
    parts = [F.one_hot(tokens[..., j].clamp(0, v), v + 1)[..., 1:] for j, v in cols]
    return torch.cat(parts, dim=-1).float()


def recency_features(
    count: torch.Tensor, last: torch.Tensor, now: torch.Tensor, codec: Binning
) -> torch.Tensor:
    """[..., 2R]: per value, 1 - the log-scaled time since the journey's last event with
    it (1: this very event; 0: never) and the log count of its events so far. count,
    last [..., R] (last: that event's time / span), now [...] the current time / span."""
    elapsed = (now.unsqueeze(-1) - last).clamp(min=0) * codec.span
    rec = torch.where(count > 0, 1.0 - codec.g_of_gap(elapsed), torch.zeros_like(last))
    return torch.cat([rec, torch.log1p(count) / math.log1p(codec.max_length)], dim=-1)


def journey_recency(b: Batch, codec: Binning, cols) -> torch.Tensor:
    """[B, L, 2R] recency features after each event of the batch (event e included)."""
    hits = value_hits(b.tokens, cols)  # [B, L, R]
    count = hits.cumsum(1)
    last = torch.where(hits > 0, b.abs_t.unsqueeze(-1), torch.full_like(hits, -1.0))
    return recency_features(count, last.cummax(1).values, b.abs_t, codec)


def step_features(
    w: torch.Tensor,
    g: torch.Tensor,
    abs_t: torch.Tensor,
    mean_w: torch.Tensor,
    mean_g: torch.Tensor,
    pos: torch.Tensor,
    first: torch.Tensor,
    recency: torch.Tensor | None = None,
) -> torch.Tensor:
    """[..., 2M + 5 + N_RBF (+ 2R)]: an event's log numerics and log gap, its time (raw and
    as RBFs), the running means of log numerics and log gaps up to it, the log position, a
    first-step flag and the recency features, if any. Everything is a function of the
    journey's prefix only."""
    centres = torch.linspace(0, 1, N_RBF, device=abs_t.device)
    rbf = torch.exp(-0.5 * ((abs_t.unsqueeze(-1) - centres) * N_RBF) ** 2)
    return torch.cat(
        [
            w,
            g.unsqueeze(-1),
            abs_t.unsqueeze(-1),
            rbf,
            mean_w,
            mean_g.unsqueeze(-1),
            pos.unsqueeze(-1),
            first.unsqueeze(-1),
            *([] if recency is None else [recency]),
        ],
        dim=-1,
    )


def running_means(b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean log numerics over events 0..e [B, L, M] and mean log gap over events 1..e [B, L]."""
    L = b.tokens.shape[1]
    e = torch.arange(L, device=b.w.device, dtype=torch.float32)
    mean_w = b.w.cumsum(1) / (e + 1).view(1, L, 1)
    mean_g = b.g.cumsum(1) / e.clamp(min=1).view(1, L)
    return mean_w, mean_g


class VAENet(nn.Module):
    def __init__(self, codec: Binning, cfg: VAEConfig):
        super().__init__()
        d, M = cfg.d_model, codec.n_numeric
        self.codec, self.cfg = codec, cfg
        tok_vocab = [v + 1 for v in codec.event_vocab]
        ctx = list(codec.ctx_vocab)
        self.context = ContextAR(ctx, d) if ctx else None
        self.enc_ctx = TokenEmbed(ctx, d) if ctx else None
        self.dec_ctx = TokenEmbed(ctx, d) if ctx else None
        # the event's date, binned like the first-event time, is one more token: hazards
        # and gaps can then change sharply with the date (e.g. at the end of a data window)
        tok_vocab = tok_vocab + [codec.start_bins]
        # the time since the journey's last event of each value and their counts: an effect
        # that lasts a while after an event (a promotion's weeks of extra purchases) is then
        # a function of the input, not a sum of gaps the network would have to learn
        self.recency = recency_columns(codec.event_vocab) if cfg.recency else ()
        self.n_recency = R = sum(v for _, v in self.recency)  # values with recency inputs
        self.enc_in = StepInput(tok_vocab, n_features(M, R), d)
        self.enc_stack = ConvStack(
            d, n_layers=max(2, cfg.n_layers // 2), kernel=cfg.kernel_size, causal=False
        )
        self.enc_out = nn.Linear(2 * d + 1, 2 * cfg.latent_dim)
        self.dec_z = nn.Linear(cfg.latent_dim, d)
        self.dec_in = StepInput(tok_vocab, n_features(M, R), d)
        self.dec_stack = ConvStack(d, n_layers=cfg.n_layers, kernel=cfg.kernel_size, causal=True)
        self.start = Head(d, codec.start_bins)
        # the gap comes first: its distribution at a journey's last step gives the chance
        # that the next event falls past the data window (the censored end of the journey)
        sizes = [codec.gap_bins + 1] + list(codec.event_vocab) + [codec.numeric_bins + 1] * M
        self.heads = EventHeads(d, sizes)

    def _ctx(self, emb: TokenEmbed | None, ctx: torch.Tensor, d: int) -> torch.Tensor:
        return emb(ctx) if emb is not None else ctx.new_zeros(ctx.shape[0], d, dtype=torch.float)

    def start_logits(self, ctx: torch.Tensor) -> torch.Tensor:
        """First-event time bins given the context only. Not given z: a z drawn from the
        prior falls where no journey's posterior was (the prior hole), and a start time
        read from z there was off the data (10% of CJ journeys started in November 2016)."""
        return self.start(self._ctx(self.dec_ctx, ctx, self.cfg.d_model))

    def recency_of(self, b: Batch) -> torch.Tensor | None:
        """The batch's recency features after each event [B, L, 2R], None when off."""
        return journey_recency(b, self.codec, self.recency) if self.recency else None

    def encode(
        self, b: Batch, rec: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | journey): (mu, log-variance); `rec`: `recency_of(b)` if already computed."""
        B, L = b.tokens.shape[:2]
        mask = b.mask()  # [B, L]
        pos = self.codec.pos_feature(L, B).to(mask.device)
        first = torch.zeros_like(mask)
        first[:, 0] = 1.0
        if rec is None:
            rec = self.recency_of(b)
        feats = step_features(b.w, b.g, b.abs_t, *running_means(b), pos, first, rec)
        x = self.enc_in(self._with_date(b.tokens, b.abs_t), feats)
        x = x + self._ctx(self.enc_ctx, b.ctx, x.shape[-1]).unsqueeze(1)
        h = self.enc_stack(x, mask)  # [B, L, d]
        m = mask.unsqueeze(-1)
        mean = (h * m).sum(1) / b.lengths.clamp(min=1).unsqueeze(-1)
        mx = (h * m - 1e4 * (1 - m)).max(1).values
        length = (torch.log1p(b.lengths.float()) / math.log1p(self.codec.max_length)).unsqueeze(-1)
        mu, logvar = self.enc_out(torch.cat([mean, mx, length], -1)).chunk(2, dim=-1)
        return mu, logvar.clamp(-10, 10)

    def forward(
        self, b: Batch, eps: torch.Tensor, rank: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-customer loss [B] and its parts [B] (eps [B, latent], rank [B, T] are the noise)."""
        rec = self.recency_of(b)  # shared by the encoder and the decoder
        mu, logvar = self.encode(b, rec)
        z = mu + eps * torch.exp(0.5 * logvar)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar)  # [B, latent]
        kl = kl.clamp(min=self.cfg.free_bits).sum(1)
        cond = self._ctx(self.dec_ctx, b.ctx, self.cfg.d_model) + self.dec_z(z)
        start_nll = F.cross_entropy(self.start_logits(b.ctx), b.start_bin, reduction="none")
        ctx_nll = (
            self.context.loss(b.ctx, rank) if self.context is not None else torch.zeros_like(kl)
        )
        h = self.dec_stack(self._decoder_input(b, cond, rec))  # [B, L+1, d]
        field_nll, end_nll = self.heads.loss(h, *self._targets(b), censor=(0, self._remaining(b)))
        parts = {
            "nll_events": field_nll[:, 1:].sum(1),
            "nll_gap": field_nll[:, 0],
            "nll_end": end_nll,
            "nll_start": start_nll,
            "nll_context": ctx_nll,
            "kl": kl,
        }
        once = self.cfg.once_weight * (start_nll + ctx_nll)
        total = field_nll.sum(1) + end_nll + once + self.cfg.beta * kl
        return total / LOSS_NORM, parts

    def _decoder_input(
        self, b: Batch, cond: torch.Tensor, rec: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Step t sees event t-1 (step 0 a start token carrying the first-event time);
        `rec`: `recency_of(b)` if already computed."""
        B, L, C = b.tokens.shape
        mean_w, mean_g = running_means(b)
        tok = F.pad(b.tokens, (0, 0, 1, 0))  # [B, L+1, C]
        w, mean_w = F.pad(b.w, (0, 0, 1, 0)), F.pad(mean_w, (0, 0, 1, 0))
        g, mean_g = F.pad(b.g, (1, 0)), F.pad(mean_g, (1, 0))
        abs_t = torch.cat([b.start_frac.unsqueeze(1), b.abs_t], dim=1)
        pos = self.codec.pos_feature(L + 1, B).to(w.device)
        first = torch.zeros_like(g)
        first[:, 0] = 1.0
        if self.recency and rec is None:
            rec = self.recency_of(b)
        if rec is not None:  # step t sees the recency after event t-1 (none at step 0)
            rec = F.pad(rec, (0, 0, 1, 0))
        feats = step_features(w, g, abs_t, mean_w, mean_g, pos, first, rec)
        return self.dec_in(self._with_date(tok, abs_t), feats) + cond.unsqueeze(1)

    def _with_date(self, tokens: torch.Tensor, abs_t: torch.Tensor) -> torch.Tensor:
        """tokens [..., C] + the date bin of abs_t [...] -> [..., C + 1]."""
        return torch.cat([tokens, self.codec.start_bin(abs_t).unsqueeze(-1)], dim=-1)

    def _targets(self, b: Batch) -> tuple[torch.Tensor, ...]:
        B, L, C = b.tokens.shape
        t = torch.arange(L + 1, device=b.tokens.device).expand(B, L + 1)
        n = b.lengths.unsqueeze(1)
        ev = (t < n).float()
        cats = F.pad((b.tokens - 1).clamp(min=0), (0, 0, 0, 1))
        nums = F.pad(b.w_bin, (0, 0, 0, 1))
        gap = F.pad(b.g_bin, (0, 1)).unsqueeze(-1)
        targets = torch.cat([gap, cats, nums], dim=-1)  # [B, L+1, F]
        gap_mask = ((t >= 1) & (t < n)).float().unsqueeze(-1)
        field_mask = torch.cat(
            [gap_mask, ev.unsqueeze(-1).expand(B, L + 1, targets.shape[-1] - 1)], dim=-1
        )
        end_target = (t == n).float()
        end_mask = ((t >= 1) & (t <= n)).float()
        return targets, field_mask, end_target, end_mask

    def _remaining(self, b: Batch) -> torch.Tensor:
        """[B] time from each journey's last event to the end of the window, on the
        binned gap scale [0, 1]."""
        last = b.abs_t.gather(1, (b.lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        left = (1.0 - last.double()).clamp(min=0) * self.codec.span
        return self.codec.g_of_gap(left).float()

    @torch.no_grad()
    def generate(
        self,
        ctx: torch.Tensor,
        z: torch.Tensor,
        gen: torch.Generator,
        force: torch.Tensor | None = None,
        max_shrink: float = MAX_SHRINK,
        bias: dict[int, torch.Tensor] | None = None,
        trans: tuple[int, torch.Tensor] | None = None,
        repeat: torch.Tensor | None = None,
        terminal: torch.Tensor | None = None,
        precede: torch.Tensor | None = None,
        end_terminal: float | None = None,
    ) -> dict[str, torch.Tensor]:
        """Batched autoregressive sampling: all journeys step in parallel; journeys that
        ended are dropped from the working batch, so the cost follows their lengths.
        force [n]: a journey with force > 0 ends after exactly that many events (or at
        the end of the time window) instead of by its end flag. max_shrink: how far its
        gaps may shrink to fit the window (0: as far as needed, when the profile's
        rhythm redraws the gaps anyway).
        trans = (f, G [1 + Va * Vb, Va, Vb]): fields f and f + 1 (two event categoricals)
        are drawn jointly with the bias G[row] on their pairs, row 0 at a journey's first
        event, else 1 + the previous event's pair (a * Vb + b): the transition
        calibration (generators/calibrate.py). repeat [Va, Vb] (with trans): a bias on a
        pair the journey has had already (the repeat calibration). terminal [Va, Vb] bool
        (with trans): pairs after which a journey not told its length ends (a process's
        outcome: the profile's `terminal`), and which a journey told its length does not
        draw before its last event (TERMINAL_BIAS lower). precede [Va * Vb, Va * Vb] bool
        (with trans): precede[b, a], pair b never comes before pair a has (the profile's
        `precedes`): PRECEDE_BIAS lower until it has. end_terminal (with terminal): the
        share of journeys told their length whose last event is a terminal token
        (CLOSE_BIAS lower on the others; the profile's `end_terminal`)."""
        c, n, M = self.codec, ctx.shape[0], self.codec.n_numeric
        C, L = len(c.event_vocab), c.max_length
        cond = self._ctx(self.dec_ctx, ctx, self.cfg.d_model) + self.dec_z(z)  # [n, d]
        start = c.start_from_bin(gumbel_argmax(self.start_logits(ctx), gen), gen)  # [n]
        out_tok = torch.zeros(n, L, C, dtype=torch.long)
        out_w, out_g = torch.zeros(n, L, M), torch.zeros(n, L)
        lengths = torch.zeros(n, dtype=torch.long)
        rows = torch.arange(n)  # working row -> journey
        st = self.init_state(cond, start)
        if trans is not None and (repeat is not None or precede is not None):
            st["seen"] = torch.zeros(n, trans[1].shape[1] * trans[1].shape[2])  # pairs had
        if trans is not None and terminal is not None:
            st["over"] = torch.zeros(n, dtype=torch.bool)  # its last event was terminal
        closes = None  # journeys told their length whose last event is terminal
        if "over" in st and force is not None and end_terminal:
            closes = torch.rand(n, generator=gen) < end_terminal
        needs = None if precede is None else precede.float().T  # [a, b]
        for t in range(L):  # a journey that reaches max_length L ends there
            m = len(rows)
            # the first event has no gap: class 0 (exactly zero), as in training
            first = {0: torch.zeros(m, dtype=torch.long)} if t == 0 else None
            joint = None
            if trans is not None:
                fa, grid = trans
                prev = st["tok"][:, fa - 1 : fa + 1] - 1  # field 1 + j: event categorical j
                row = 1 + prev[:, 0] * grid.shape[2] + prev[:, 1] if t else torch.zeros_like(rows)
                extra = grid[row]
                if "seen" in st and repeat is not None:
                    extra = extra + (st["seen"] * repeat.reshape(1, -1)).view_as(extra)
                if needs is not None:  # a pair whose predecessors the journey lacks
                    lack = ((1.0 - st["seen"]) @ needs > 0).float()  # [m, pairs]
                    extra = extra - PRECEDE_BIAS * lack.view_as(extra)
                if "over" in st and force is not None:  # a journey told its length meets
                    # no terminal token before its last event
                    f = force[rows.clamp(min=0)]
                    early = ((f > 0) & (t < f - 1)).float()[:, None, None]
                    extra = extra - TERMINAL_BIAS * early * terminal[None].float()
                    if closes is not None:  # ... and some of them close on one
                        last = ((f > 0) & (t == f - 1) & closes[rows.clamp(min=0)]).float()
                        extra = extra - CLOSE_BIAS * last[:, None, None] * (~terminal)[None]
                joint = (fa, extra)
            end_p, k = self.heads.sample(
                self.step_hidden(st, t), gen, fixed=first, bias=bias, joint=joint
            )
            if "seen" in st or "over" in st:
                pair = k[:, trans[0]] * trans[1].shape[2] + k[:, trans[0] + 1]
            if "seen" in st:
                st["seen"][torch.arange(m), pair] = 1.0
            g = Binning.from_bin(k[:, 0], c.gap_bins, gen) if t else torch.zeros(m)
            nums = Binning.from_bin(k[:, 1 + C : 1 + C + M], c.numeric_bins, gen)
            self.advance(st, k[:, 1 : 1 + C] + 1, nums, g)
            keep = rows >= 0  # -1: a finished journey still in the working batch
            if t > 0:  # a journey has >= 1 event; it ends by its end flag, time or length
                ends = torch.rand(m, generator=gen) < end_p
                if "over" in st:
                    ends |= st["over"]
                inside = st["abs_t"] < 1.0
                if force is not None:  # a told length is kept; its gaps are fitted later
                    f = force[rows.clamp(min=0)]
                    ends = torch.where(f > 0, f <= t, ends)
                    inside |= f > 0
                keep &= ~ends & inside
            if "over" in st:
                st["over"] = terminal.reshape(-1)[pair]
            r = rows[keep]
            out_tok[r, t], out_w[r, t] = st["tok"][keep], st["w"][keep]
            out_g[r, t] = st["g"][keep]
            lengths[r] += 1
            if not keep.any():
                break
            rows = torch.where(keep, rows, torch.full_like(rows, -1))
            if int(keep.sum()) < 0.75 * m:  # compact the working batch
                rows = rows[keep]
                st = {
                    k: ([x[keep] for x in v] if k == "caches" else v[keep]) for k, v in st.items()
                }
        Lmax = int(lengths.max())
        gaps = c.gap_of_g(out_g[:, :Lmax].double())  # [n, Lmax] seconds
        if force is not None:  # a told-length journey past the window: gaps shrunk to fit,
            # by at most MAX_SHRINK (more would make its gaps a giveaway); what still falls
            # past the window is cut, as the window cuts real journeys
            room = (1.0 - start.double()).clamp(min=0) * c.span * 0.999
            total = gaps.sum(1)
            shrink = torch.where((force > 0) & (total > room), room / total.clamp(min=1e-9), 1.0)
            gaps = gaps * shrink.clamp(min=max_shrink).unsqueeze(1)
            inside = (gaps.cumsum(1) <= room.unsqueeze(1) * (1 + 1e-9)).sum(1)  # float sums
            lengths = torch.where(force > 0, torch.minimum(lengths, inside.clamp(min=1)), lengths)
        return {
            "lengths": lengths,
            "tokens": out_tok[:, :Lmax],
            "numerics": Binning.u_of_w(out_w[:, :Lmax]),
            "gaps": gaps,
            "start": start.double() * c.span,
            "ctx": ctx,
        }

    # --- one autoregressive step (shared by sampling and the consistency test) ---------
    def init_state(self, cond: torch.Tensor, start: torch.Tensor) -> dict:
        n, C, M = cond.shape[0], len(self.codec.event_vocab), self.codec.n_numeric
        return {
            "caches": self.dec_stack.new_cache(n, device=cond.device),
            "cond": cond,
            "tok": torch.zeros(n, C, dtype=torch.long),
            "w": torch.zeros(n, M),
            "g": torch.zeros(n),
            "abs_t": start.clone(),
            "sum_w": torch.zeros(n, M),
            "sum_g": torch.zeros(n),
            # recency: events of each value so far, and the last one's time (-1: none)
            "count": torch.zeros(n, self.n_recency),
            "last": torch.full((n, self.n_recency), -1.0),
        }

    def step_hidden(self, st: dict, t: int) -> torch.Tensor:
        """Decoder state [n, d] at step t, given event t-1 in `st` (as the training pass).
        Called once per step: it counts event t-1 into the recency state, at its time as
        `st` holds it now (a continuation may have set the exact time after `advance`)."""
        m = st["cond"].shape[0]
        rec = None
        if self.recency:
            if t > 0:
                hits = value_hits(st["tok"], self.recency)
                st["count"] = st["count"] + hits
                st["last"] = torch.where(hits > 0, st["abs_t"].unsqueeze(-1), st["last"])
            rec = recency_features(st["count"], st["last"], st["abs_t"], self.codec)
        feats = step_features(
            st["w"],
            st["g"],
            st["abs_t"],
            st["sum_w"] / max(t, 1),
            st["sum_g"] / max(t - 1, 1),
            self.codec.pos_feature(1, m, offset=t)[:, 0],
            torch.full((m,), float(t == 0)),
            rec,
        )
        tok = self._with_date(st["tok"], st["abs_t"])
        x = self.dec_in(tok.unsqueeze(1), feats.unsqueeze(1))[:, 0] + st["cond"]
        return self.dec_stack.step(x, st["caches"], t)

    def advance(self, st: dict, tok: torch.Tensor, w: torch.Tensor, g: torch.Tensor) -> None:
        """Record event t (tokens 1-based, log numerics, log gap) as the next step's input."""
        st["tok"], st["w"], st["g"] = tok, w, g
        st["abs_t"] = st["abs_t"] + self.codec.gap_of_g(g) / self.codec.span
        st["sum_w"], st["sum_g"] = st["sum_w"] + w, st["sum_g"] + g


class VAETask:
    """One (DP-)SGD step of the VAE on a batch of customers."""

    def __init__(
        self, net: VAENet, data: JourneyData, cfg: VAEConfig, plan: DPPlan | None, optimizer=None
    ):
        self.net, self.data, self.cfg, self.plan = net, data, cfg, plan
        self.nets = nn.ModuleDict({"vae": net})
        self.make_optimizer = optimizer or (lambda ps: torch.optim.Adam(ps, lr=cfg.lr))
        self.model: nn.Module = net
        self.gsm = None

    def setup(self, device: torch.device) -> None:
        self.device = device
        opt = self.make_optimizer(self.net.parameters())
        if self.plan is not None:
            self.gsm, opt = make_private(
                self.net,
                opt,
                plan=self.plan,
                noise_seed=self.cfg.seed + 1,
                device=device,
                world_size=distributed.world()[1],
            )
            self.model = self.gsm
        self.opt = opt
        self.gen = torch.Generator().manual_seed(distributed.rank_seed(self.cfg.seed + 2))

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
            total = distributed.global_count(n)  # the batch across processes (DDP)
            for loss, _ in self._pieces(idx, logs):
                (loss.sum() / total).backward()
            distributed.sum_grads(self.net.parameters())
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
    saved_defaults = {"recency": False}
    calibrated = True
    transitions = True

    def _build(self, codec: Binning) -> VAENet:
        return VAENet(codec, self.config)

    def _task(self, net: VAENet, data: JourneyData, plan: DPPlan | None) -> VAETask:
        return VAETask(net, data, self.config, plan)

    def _generate(
        self,
        n: int,
        fixed: dict[int, int],
        gen: torch.Generator,
        force: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        net = self.net
        ctx = (
            net.context.sample(n, fixed, gen)
            if net.context is not None
            else torch.zeros(n, 0, dtype=torch.long)
        )
        z = torch.randn(n, self.config.latent_dim, generator=gen)
        # Under the profile's rhythm every gap is redrawn: a told length need not be cut
        # at the window's end (on Complete Journey at epsilon 8, long journeys all were).
        rhythm = self.profile is not None and self.profile.rhythm is not None
        shrink = 0.0 if rhythm else MAX_SHRINK
        return net.generate(
            ctx,
            z,
            gen,
            force=force,
            max_shrink=shrink,
            bias=self._head_bias(),
            trans=self._trans_grid(),
            repeat=self._repeat_grid(),
            terminal=self._terminal_grid(),
            precede=self._precede_grid(),
            end_terminal=None if self.profile is None else self.profile.end_terminal,
        )

    def _head_bias(self) -> dict[int, torch.Tensor] | None:
        """The profile's calibrated logit bias per head field (field 1 + j: the j-th event
        categorical)."""
        given = None if self.profile is None else self.profile.logit_bias
        if not given:
            return None
        names = [c.name for c in self.encoder.event_cat]
        return {1 + names.index(c): torch.tensor(b, dtype=torch.float) for c, b in given.items()}

    def _trans_grid(self) -> tuple[int, torch.Tensor] | None:
        """The profile's transition bias (token rows, token columns: channel-major, as
        the calendar's tokens) as `generate`'s (field, grid) over the channel and event
        type heads; None without one, or when the two are not adjacent fields."""
        given = None if self.profile is None else self.profile.trans_bias
        if not given:
            return None
        fields = token_fields(self.encoder)
        if fields is None:
            return None
        fa, perm, shape = fields
        B = torch.tensor(given, dtype=torch.float)  # [1 + T, T]
        if B.shape != (1 + len(perm), len(perm)):
            return None
        rows = torch.cat([torch.zeros(1, dtype=torch.long), 1 + perm])
        return fa, B[rows][:, perm].reshape(len(rows), *shape)

    def _terminal_grid(self) -> torch.Tensor | None:
        """The profile's terminal tokens (as the calendar's tokens) as `generate`'s [Va, Vb]
        over the channel and event type heads; None without any."""
        given = None if self.profile is None else self.profile.terminal()
        fields = token_fields(self.encoder) if given is not None and given.any() else None
        if fields is None:
            return None
        _, perm, shape = fields
        T = torch.as_tensor(given, dtype=torch.bool)
        return T[perm].reshape(shape) if T.shape == (len(perm),) else None

    def _precede_grid(self) -> torch.Tensor | None:
        """The profile's precedence rules (`JourneyProfile.precedes`) as `generate`'s
        [Va * Vb, Va * Vb] bool over the channel and event type heads' pairs; None
        without any (or without the transition bias the pairs are drawn jointly by)."""
        joint = self.profile is not None and self.profile.trans_bias
        rules = self.profile.precedes() if joint else []
        fields = token_fields(self.encoder) if rules else None
        if fields is None:
            return None
        _, perm, _ = fields
        tokens = Calendar.from_dict(self.profile.calendar).tokens
        where = {int(t): i for i, t in enumerate(perm.tolist())}  # token -> pair
        out = torch.zeros(len(perm), len(perm), dtype=torch.bool)
        for a, b in rules:
            if a in tokens and b in tokens:
                out[where[tokens.index(b)], where[tokens.index(a)]] = True
        return out if out.any() else None

    def _repeat_grid(self) -> torch.Tensor | None:
        """The profile's repeat bias (per token, as the calendar's tokens) as `generate`'s
        [Va, Vb] over the channel and event type heads; None without one."""
        given = None if self.profile is None else self.profile.repeat_bias
        fields = token_fields(self.encoder) if given else None
        if fields is None:
            return None
        _, perm, shape = fields
        R = torch.tensor(given, dtype=torch.float)
        return R[perm].reshape(shape) if R.shape == (len(perm),) else None


def token_fields(encoder) -> tuple[int, torch.Tensor, tuple[int, int]] | None:
    """Where the tokens (channel|event_type, channel-major) sit among the heads' fields:
    (f, perm, (Va, Vb)) with fields f and f + 1 the two columns in the heads' order and
    perm[a * Vb + b] the token of classes (a, b); None when the two are not adjacent."""
    names = [c.name for c in encoder.event_cat]
    if "channel" not in names or "event_type" not in names:
        return None
    ic, ie = names.index("channel"), names.index("event_type")
    if abs(ic - ie) != 1:
        return None
    nc, ne = len(encoder.event_cat[ic].values), len(encoder.event_cat[ie].values)
    c, e = torch.meshgrid(torch.arange(nc), torch.arange(ne), indexing="ij")
    tok = c * ne + e  # [nc, ne]: the calendar's channel-major token index
    if ic > ie:
        tok = tok.T
    return 1 + min(ic, ie), tok.reshape(-1), tuple(tok.shape)
