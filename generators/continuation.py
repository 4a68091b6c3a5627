"""The step loop of journey completion (generators/complete.py): keyed draws and thinning.

Common random numbers. Every random draw of a continuation is looked up by
(seed, batch, key) in `KeyedDraws`, not by the decoder's step, so two arms whose
prefixes differ by an inserted or a removed event still take the same draws for
their new events. The key counts what a journey has drawn past its prefix in two
parts: the events of values no intervention touches, and the events of touched
values (`edits["touch"]`, the removed and delayed ones, and those the scenario
names for both arms) drawn since the last untouched one, kept or dropped alike.
Events fed from the queue draw nothing and move no key. So when one arm drops
an email that the other keeps, both draw their next event with the same key: the
arms part at the email only, not for the rest of the journey (keyed by the count
of new events, an email dropped in one arm put every later draw of the two arms
apart). Row i of a batch always reads row i of a draw, whatever the other rows do.

Removing events (thinning). A removed event must vanish from the output and from
the history the model conditions on, so the events it would have led to vanish
too. The model samples as usual; when it samples an event with a removed value
at time tau, that event is dropped and the same step is sampled again from the
same state (the history without it), on the condition that nothing happened
before tau: the gap's distribution truncated at the dropped event's gap (classes
below its bin get probability zero, and inside its bin the value lies above it),
and the end flag drawn again with P(end | no event before tau) = p / (p + (1 - p)
P(gap >= tau)) (a step's other outcome is the journey's end: keeping the first
"no end" would take chances to end away with every removed event). This repeats
until a kept event, the journey's end, or the window's end. Masking
the removed values instead would hand their probability to the others (email
time becomes web and app time), which is not what removing a channel means.

Delaying events. A generated event of a delayed type is dropped the same way and
queued to be re-inserted `days` later: when the model's next event would come
after the queued time, the queued event is fed to the model at its time instead
(teacher forcing, as a prefix event) and the model samples on from there. A
journey that ends (its end flag) before a queued event never gets it: the world
does not write to a customer who has left. At most QUEUE events wait per journey.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from journeylab.generators.data import Batch, Binning
from journeylab.generators.io import derive_seed

MAX_TRIES = 64  # resamples of one step; a journey still drawing removed events then ends
QUEUE = 8  # delayed events waiting per journey
Z_STEP = 2**31  # the key of the latent's draws (no step gets that far)
TOUCHED = 2**20  # key = untouched events + TOUCHED x touched ones since (max_length < 2**20)
MAX_TOUCHED = 2**10  # touched events in a row counted in the key, at most


@dataclass(frozen=True)
class Delay:
    """Generated events with one of `values` ({column index: bool mask [classes]}) are
    re-inserted `days` later, for the journeys where `rows` [n] is True."""

    masks: dict[int, torch.Tensor]
    days: float
    rows: torch.Tensor


class KeyedDraws:
    """Uniforms [n, width] for (continuation step s, attempt r) of one batch, each from
    its own generator seeded by (seed, batch, s, r); made once, kept for the batch."""

    def __init__(self, seed: int, batch: int, n: int, width: int):
        self.seed, self.batch, self.n, self.width = seed, batch, n, width
        self.cache: dict[tuple[int, int], torch.Tensor] = {}

    def get(self, s: int, r: int, width: int | None = None) -> torch.Tensor:
        if (s, r) not in self.cache:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, self.batch, s, r))
            self.cache[(s, r)] = torch.rand(self.n, width or self.width, generator=gen)
        return self.cache[(s, r)]

    def rows(self, s: torch.Tensor, r: int) -> torch.Tensor:
        """[n, width]: row i's draws for its step s[i] (rows with s < 0: 0.5, unused)."""
        out = torch.full((self.n, self.width), 0.5)
        for v in s.unique().tolist():
            if v >= 0:
                rows = s == v
                out[rows] = self.get(int(v), r)[rows]
        return out


def layout(heads, n_numeric: int) -> tuple[int, list[int]]:
    """Width of one step's draws and the heads' class counts: the end flag, the gap's
    place in its bin, the numerics' places, then one uniform per class per field."""
    sizes = [h.out.out_features for h in heads.heads]
    return 2 + n_numeric + sum(sizes), sizes


def sample_fields(heads, h, u, sizes, floor=None) -> tuple[torch.Tensor, ...]:
    """`EventHeads.sample` from given uniforms u [n, width] (Gumbel-max per field, each
    field given the embeddings of the ones before, as trained). floor (class [n], place
    [n]) or None: the gap (field 0) no smaller than that bin and place.
    Returns (end probability [n], classes [n, F], P(gap >= floor) [n])."""
    x, out, at = h, [], u.shape[1] - sum(sizes)
    surv = torch.ones(h.shape[0])
    for f, head in enumerate(heads.heads):
        logits = head(x)  # [n, classes]
        if f == 0 and floor is not None:
            surv = survival(logits, *floor)
            below = torch.arange(sizes[0])[None, :] < floor[0][:, None]
            logits = logits.masked_fill(below, float("-inf"))
        g = u[:, at : at + sizes[f]].clamp(1e-12, 1 - 1e-7)
        k = (logits - torch.log(-torch.log(g))).argmax(-1)
        out.append(k)
        at += sizes[f]
        if f < len(heads.embs):
            x = x + heads.embs[f](k)
    return torch.sigmoid(heads.end(h).squeeze(-1)), torch.stack(out, dim=1), surv


def survival(logits: torch.Tensor, k: torch.Tensor, place: torch.Tensor) -> torch.Tensor:
    """[n] P(gap >= the value at `place` in bin k) under logits [n, classes] (values
    uniform inside a bin; class 0, the zero gap, counts as reached)."""
    p = logits.softmax(-1)
    above = torch.arange(p.shape[1])[None, :] > k[:, None]
    part = p.gather(1, k[:, None]).squeeze(1) * torch.where(k > 0, 1 - place, 1.0)
    return (p * above).sum(1) + part


def silence_floor(c, b: Batch, quiet_until: torch.Tensor | None):
    """The gap floor (class [n], place [n]) of each journey's first new event: no event
    between its prefix's last and `quiet_until` [n] (window fractions), or None."""
    if quiet_until is None:
        return None
    last = b.abs_t.gather(1, (b.lengths - 1).clamp(min=0)[:, None]).squeeze(1)  # [n]
    g = c.g_of_gap(((quiet_until - last) * c.span).clamp(min=0))  # [n] log gap
    k = Binning.to_bin(g, c.gap_bins)
    return k, torch.where(k > 0, (g * c.gap_bins - (k - 1)).clamp(0, 1), 0.0)


def hits(k: torch.Tensor, masks: dict[int, torch.Tensor]) -> torch.Tensor:
    """bool [n]: the rows whose classes k [n, F] take a value of `masks`."""
    out = torch.zeros(k.shape[0], dtype=torch.bool)
    for f, mask in masks.items():
        out |= mask[k[:, f]]
    return out


def in_bin(k: torch.Tensor, u: torch.Tensor, bins: int, floor=None) -> torch.Tensor:
    """A value inside bin k (0 for class 0) at place u; in the floor's bin, above it."""
    if floor is not None:
        same = k == floor[0]
        u = torch.where(same, floor[1] + (1 - floor[1]) * u, u)
    return torch.where(k == 0, torch.zeros_like(u), (k - 1 + u) / bins)


class Queue:
    """Delayed events waiting per journey: times [n, QUEUE] (inf: free), tokens, numerics."""

    def __init__(self, n: int, C: int, M: int):
        self.t = torch.full((n, QUEUE), float("inf"))
        self.tok = torch.zeros(n, QUEUE, C, dtype=torch.long)
        self.w = torch.zeros(n, QUEUE, M)
        self.overflow = 0  # delayed events dropped because the queue was full

    def push(self, rows: torch.Tensor, at: torch.Tensor, tok: torch.Tensor, w: torch.Tensor):
        free = torch.isinf(self.t)
        full = rows & ~free.any(1)
        self.overflow += int(full.sum())
        r = (rows & ~full).nonzero().squeeze(1)
        slot = free[r].float().argmax(1)
        self.t[r, slot], self.tok[r, slot], self.w[r, slot] = at[r], tok[r], w[r]

    def preload(self, at: torch.Tensor, tok: torch.Tensor, w: torch.Tensor) -> None:
        """Events inserted from the start: times [n, q] (inf: none), tokens, numerics."""
        q = at.shape[1]
        self.t[:, :q], self.tok[:, :q], self.w[:, :q] = at, tok, w

    def due(self) -> tuple[torch.Tensor, torch.Tensor]:
        """([n] the earliest waiting time, inf when none; [n] its slot)."""
        return self.t.min(1)

    def pop(self, rows: torch.Tensor, slot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r = rows.nonzero().squeeze(1)
        tok, w = self.tok[r, slot[r]], self.w[r, slot[r]]
        self.t[r, slot[r]] = float("inf")
        return tok, w


@dataclass
class Step:
    """What one continuation step draws: classes k [n, F], the gap's and numerics'
    places in their bins, the end flag, and the gap's floor (class, place) [n]."""

    k: torch.Tensor
    place: torch.Tensor
    num_place: torch.Tensor
    ends: torch.Tensor
    floor: tuple[torch.Tensor, torch.Tensor]
    key: torch.Tensor  # [n] the draw key of the event drawn (module docstring)


def draw_step(
    net, h, key, first, draws: KeyedDraws, active, st, edits, queue: Queue, quiet=None
) -> Step:
    """One step's event for the `active` rows, thinned (see the module docstring):
    events with a removed value, or a delayed one (queued here), are drawn again
    with the next gap floored at theirs and the next key, unless a queued event
    comes first. key [n]: each row's draw key (< 0: no draw); first [n]: the row's
    first new event. `quiet` (class [n], place [n]) or None: the floor of the first
    new event's gap, the time the journey is known to have been quiet; its end flag
    is drawn given that quiet. The step's `key` is the one its event was drawn with."""
    c, M = net.codec, net.codec.n_numeric
    _, sizes = layout(net.heads, M)
    u = draws.rows(key, 0)
    zero = torch.zeros(len(key))
    floor = (zero.long(), zero)
    if quiet is not None:
        floor = (torch.where(first, quiet[0], 0), torch.where(first, quiet[1], 0.0))
    end_p, k, surv = sample_fields(net.heads, h, u, sizes, floor=floor)
    end_p = end_p / (end_p + (1 - end_p) * surv).clamp(min=1e-12)  # given no event below
    step = Step(k, u[:, 1], u[:, 2 : 2 + M], u[:, 0] < end_p, floor, key)
    for _ in range(MAX_TRIES):
        gap = in_bin(step.k[:, 0], step.place, c.gap_bins, step.floor)
        when = st["abs_t"] + c.gap_of_g(gap) / c.span  # [n] the drawn event's time
        removed = hits(step.k, edits["remove"])
        delayed = [hits(step.k, d.masks) & d.rows & ~removed for d in edits["delays"]]
        drop = removed.clone()
        for hit in delayed:
            drop |= hit
        drop &= active & ~step.ends
        drop &= when < queue.due()[0]  # a queued event that comes first wins
        if not drop.any():
            return step
        tok = step.k[:, 1 : 1 + len(c.event_vocab)] + 1
        w = in_bin(step.k[:, 1 + tok.shape[1] :], step.num_place, c.numeric_bins)
        for d, hit in zip(edits["delays"], delayed, strict=True):
            queue.push(drop & hit, when + d.days * 86_400 / c.span, tok, w)
        _redraw(net, h, draws, step, drop, sizes)
    step.ends = step.ends | drop  # still drawing removed events after MAX_TRIES: it ends
    return step


def next_key(key: torch.Tensor, touched: torch.Tensor) -> torch.Tensor:
    """The draw key after an event drawn with `key`: one more touched event in a row
    where `touched`, else one more untouched event and none touched since."""
    plain, since = key % TOUCHED, key // TOUCHED
    return torch.where(touched, plain + TOUCHED * (since + 1).clamp(max=MAX_TOUCHED), plain + 1)


def _redraw(net, h, draws: KeyedDraws, step: Step, drop, sizes) -> None:
    """Draw the `drop` rows' event again with their next key (the dropped event was a
    touched one), their gap at least the dropped one's."""
    fk, fu = step.floor
    place = torch.where(step.k[:, 0] == fk, fu + (1 - fu) * step.place, step.place)
    fk, fu = torch.where(drop, step.k[:, 0], fk), torch.where(drop, place, fu)
    step.key = torch.where(drop, next_key(step.key, torch.ones_like(drop)), step.key)
    u = draws.rows(step.key, 0)
    end_p, k, surv = sample_fields(net.heads, h[drop], u[drop], sizes, floor=(fk[drop], fu[drop]))
    end_p = end_p / (end_p + (1 - end_p) * surv).clamp(min=1e-12)  # quiet since the last event
    step.k, step.ends = step.k.clone(), step.ends.clone()
    step.k[drop], step.ends[drop] = k, u[drop, 0] < end_p
    step.place = torch.where(drop, u[:, 1], step.place)
    M = step.num_place.shape[1]
    step.num_place = torch.where(drop[:, None], u[:, 2 : 2 + M], step.num_place)
    step.floor = (fk, fu)


@torch.no_grad()
def continue_batch(net, b: Batch, limit, draws: KeyedDraws, edits: dict, latent: str) -> dict:
    """Teacher-force each prefix through the decoder, then sample its continuation,
    thinned by `edits` ({"remove": {field: mask}, "delays": [Delay], "later": None or
    (times [n, q], tokens [n, q, C], numerics [n, q, M]): events queued from the start,
    "quiet": None or [n] the time up to which each prefix is known to be complete,
    "z_from": None or the Batch whose posterior gives z, e.g. the prefixes before an
    intervention changed them}).

    Returns new tokens [n, L, C] (1-based), log numerics w [n, L, M], log gaps g [n, L]
    and n_new [n], the continuation's events only."""
    c, n, L_b = net.codec, len(b.lengths), b.tokens.shape[1]
    C, M, L = len(c.event_vocab), c.n_numeric, c.max_length
    u = draws.get(Z_STEP, 0, net.cfg.latent_dim).clamp(1e-7, 1 - 1e-7)
    z = torch.special.ndtri(u)  # [n, latent], N(0, 1)
    if latent == "posterior":  # read from the factual prefixes where given (abduction)
        factual = edits.get("z_from")
        mu, logvar = net.encode(b if factual is None else factual)  # [n, latent] each
        z = mu + z * torch.exp(0.5 * logvar)
    st = net.init_state(net._ctx(net.dec_ctx, b.ctx, net.cfg.d_model) + net.dec_z(z), b.start_frac)
    out = {"tok": torch.zeros(n, L, C, dtype=torch.long), "w": torch.zeros(n, L, M)}
    out.update(g=torch.zeros(n, L), n_new=torch.zeros(n, dtype=torch.long))
    alive, queue = torch.ones(n, dtype=torch.bool), Queue(n, C, M)
    if edits.get("later") is not None:
        queue.preload(*edits["later"])
    quiet = silence_floor(c, b, edits.get("quiet"))
    key = torch.zeros(n, dtype=torch.long)  # the next new event's draw key
    for t in range(L):
        given = t < b.lengths  # [n] this step is a prefix event
        h = net.step_hidden(st, t)  # [n, d]
        first = out["n_new"] == 0
        step = draw_step(
            net,
            h,
            torch.where(given, -1, key),
            first,
            draws,
            alive & ~given,
            st,
            edits,
            queue,
            quiet,
        )
        tok, w, g, due = _event(c, step, st, queue, alive & ~given)
        drew = ~given & ~torch.isfinite(due)  # a queued event draws nothing: no key moves
        key = torch.where(given, key, step.key)  # past the events dropped in this step
        key = torch.where(drew, next_key(key, touched(step.k, edits)), key)
        tok = torch.where((~alive | step.ends)[:, None], 0, tok)  # ended: padding, never read
        e = min(t, L_b - 1)
        net.advance(
            st,
            torch.where(given[:, None], b.tokens[:, e], tok),
            torch.where(given[:, None], b.w[:, e], w),
            torch.where(given, b.g[:, e], g),
        )
        st["abs_t"] = torch.where(given, b.abs_t[:, e], st["abs_t"])  # exact prefix times
        st["abs_t"] = torch.where(torch.isfinite(due), due, st["abs_t"])  # exact queued times
        inside = (st["abs_t"] < 1.0) & (st["abs_t"] <= limit)
        alive &= given | (~step.ends & inside)
        new = alive & ~given
        r, slot = new.nonzero().squeeze(1), out["n_new"][new]
        out["tok"][r, slot], out["w"][r, slot], out["g"][r, slot] = tok[new], w[new], g[new]
        out["n_new"] += new.long()
        if not alive.any():
            break
    return out


def touched(k: torch.Tensor, edits: dict) -> torch.Tensor:
    """bool [n]: the rows whose classes k [n, F] take a touched value: one of
    `edits["touch"]` (what both arms of a scenario name) or a removed one, or a
    delayed one in a row its delay applies to."""
    out = hits(k, edits.get("touch") or {}) | hits(k, edits["remove"])
    for d in edits["delays"]:
        out |= hits(k, d.masks) & d.rows
    return out


def _event(c, step: Step, st: dict, queue: Queue, active) -> tuple[torch.Tensor, ...]:
    """The step's event: tokens [n, C] 1-based, log numerics [n, M], log gap [n]; a
    queued event instead where it comes before the drawn one (due [n]: its time, else inf)."""
    C = len(c.event_vocab)
    tok = step.k[:, 1 : 1 + C] + 1
    w = in_bin(step.k[:, 1 + C :], step.num_place, c.numeric_bins)
    g = in_bin(step.k[:, 0], step.place, c.gap_bins, step.floor)
    due, slot = queue.due()
    queued = active & ~step.ends & (due <= st["abs_t"] + c.gap_of_g(g) / c.span)
    if not queued.any():
        return tok, w, g, torch.full_like(due, float("inf"))
    tok, w = tok.clone(), w.clone()
    tok[queued], w[queued] = queue.pop(queued, slot)
    gap = (due - st["abs_t"]).clamp(min=0) * c.span  # seconds since the previous event
    g = torch.where(queued, c.g_of_gap(torch.where(queued, gap, 0.0)), g)
    return tok, w, g, torch.where(queued, due, float("inf"))
