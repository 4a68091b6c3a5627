"""Properties the networks must have for sampling and for DP to be right."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.generators.config import GANConfig, VAEConfig
from journeylab.generators.data import Binning, JourneyData, length_chunks
from journeylab.generators.gan import GANNet
from journeylab.generators.nets import ConvStack
from journeylab.generators.vae import VAENet
from journeylab.journeys import EventLog, JourneyEncoder, Schema


@pytest.fixture(scope="module")
def data() -> JourneyData:
    log = EventLog.from_frame(tiny_frame(20, seed=4), Schema.from_dict(TINY_SCHEMA))
    enc = JourneyEncoder(log.schema)
    return JourneyData(enc.encode(log), Binning.make(enc, VAEConfig(d_model=16, n_layers=3)))


def test_causal_stack_step_by_step_equals_the_whole_sequence():
    torch.manual_seed(0)
    stack = ConvStack(8, n_layers=4, kernel=3, causal=True).eval()
    x = torch.randn(3, 40, 8)
    full = stack(x)
    caches = stack.new_cache(3)
    steps = torch.stack([stack.step(x[:, t], caches, t) for t in range(40)], 1)
    torch.testing.assert_close(steps, full, rtol=1e-4, atol=1e-5)


def test_vae_sampling_step_sees_what_training_sees(data):
    """Replaying a real journey through the sampling step gives the training states."""
    torch.manual_seed(1)
    cfg = VAEConfig(d_model=16, n_layers=3)
    net = VAENet(data.codec, cfg).eval()
    idx = torch.tensor([0, 5, 9])
    b = data.take(idx)
    cond = net.dec_ctx(b.ctx) + net.dec_z(torch.randn(3, cfg.latent_dim))
    h_train = net.dec_stack(net._decoder_input(b, cond))  # [B, L+1, d]
    st = net.init_state(cond, b.start_frac.clone())
    C = b.tokens.shape[-1]
    for t in range(int(b.lengths.min())):
        h = net.step_hidden(st, t)
        torch.testing.assert_close(h, h_train[:, t], rtol=1e-4, atol=1e-5)
        net.advance(st, b.tokens[:, t, :C], b.w[:, t], b.g[:, t])


def test_per_customer_loss_does_not_depend_on_the_rest_of_the_batch(data):
    """DP needs each customer's gradient to be a function of that customer only:
    padding to another journey's length or another chunking must not change it."""
    torch.manual_seed(2)
    cfg = VAEConfig(d_model=16, n_layers=3)
    net = VAENet(data.codec, cfg)
    longest = int(torch.argmax(data.lengths))
    shortest = int(torch.argmin(data.lengths))
    eps = torch.randn(2, cfg.latent_dim)
    rank = torch.tensor([[0], [0]])
    alone, _ = net(data.take(torch.tensor([shortest])), eps[:1], rank[:1])
    padded, _ = net(data.take(torch.tensor([shortest, longest])), eps, rank)
    torch.testing.assert_close(alone[0], padded[0], rtol=1e-5, atol=1e-5)


def test_gan_discriminator_score_ignores_padding(data):
    torch.manual_seed(3)
    cfg = GANConfig(d_model=16, n_layers=3)
    net = GANNet(data.codec, cfg)
    from journeylab.generators.gan import real_inputs

    shortest, longest = int(torch.argmin(data.lengths)), int(torch.argmax(data.lengths))
    alone = net.disc(*real_inputs(data.take(torch.tensor([shortest])), data.codec))
    padded = net.disc(*real_inputs(data.take(torch.tensor([shortest, longest])), data.codec))
    torch.testing.assert_close(alone[0], padded[0], rtol=1e-5, atol=1e-5)


def test_gan_fakes_do_not_depend_on_how_far_they_are_computed(data):
    torch.manual_seed(4)
    net = GANNet(data.codec, GANConfig(d_model=16, n_layers=3)).eval()
    with torch.no_grad():
        lazy = net.fake(6, torch.Generator().manual_seed(0))
    full = net.fake(6, torch.Generator().manual_seed(0), grad=True)
    L = lazy["mask"].shape[1]
    assert full["mask"].shape[1] == L
    torch.testing.assert_close(lazy["mask"], full["mask"].detach())
    torch.testing.assert_close(
        lazy["w"] * lazy["mask"].unsqueeze(-1),
        full["w"].detach() * full["mask"].detach().unsqueeze(-1),
    )


@pytest.mark.parametrize("max_length", [1, 3, 40, 1024])
def test_gan_length_classes_cover_every_length_once(max_length):
    from journeylab.generators.gan import length_class, length_edges, length_in_class

    edges = length_edges(max_length)
    assert edges[0] == 1 and edges[-1] == max_length + 1 and (edges.diff() > 0).all()
    lengths = torch.arange(1, max_length + 1)
    k = length_class(lengths, edges)
    assert k.min() == 0 and k.max() == len(edges) - 2 and (k.diff() >= 0).all()
    # drawing inside a class gives back a length of that class, the whole class reachable
    u = torch.linspace(0, 0.999999, 50)
    for c in k.unique():
        drawn = length_in_class(c.repeat(50), u, edges)
        assert (length_class(drawn, edges) == c).all()
        assert int(drawn.min()) == int(edges[c]) and int(drawn.max()) == int(edges[c + 1]) - 1


def test_gan_fakes_have_the_length_of_their_class(data):
    from journeylab.generators.gan import length_class

    torch.manual_seed(5)
    net = GANNet(data.codec, GANConfig(d_model=16, n_layers=3)).eval()
    with torch.no_grad():
        f = net.fake(40, torch.Generator().manual_seed(0))
    n_events = f["mask"].sum(1).long()
    assert (n_events >= 1).all()
    assert (length_class(n_events, net.edges) == f["length"].argmax(-1)).all()


def test_length_chunks_cover_every_row_once():
    lengths = torch.tensor([5, 50, 3, 20, 20, 1, 70])
    chunks = length_chunks(lengths, 100)
    rows = torch.cat(chunks).sort().values
    assert rows.tolist() == list(range(7))
    for c in chunks:
        assert len(c) == 1 or len(c) * int(lengths[c].max()) <= 100
    assert length_chunks(torch.tensor([], dtype=torch.long), 10) == []


def test_crossing_weights_match_the_draws_of_from_bin():
    """P(gap past the remaining time) from the weights = the share of from_bin draws past it."""
    import torch

    from journeylab.generators.data import Binning
    from journeylab.generators.nets import crossing_weights

    bins, gen = 8, torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(bins + 1, generator=gen), -1)
    for r in (0.0, 0.1, 0.37, 0.5, 0.99):
        w = crossing_weights(torch.tensor([r]), bins + 1)[0]
        k = torch.multinomial(probs, 200_000, replacement=True, generator=gen)
        g = Binning.from_bin(k, bins, gen)
        crossed = (g >= r) & ~((k == 0) & (r > 0))
        assert float((probs * w).sum()) == pytest.approx(float(crossed.float().mean()), abs=5e-3)


def test_censored_end_reduces_to_the_plain_end_flag_when_no_gap_can_cross():
    import torch
    import torch.nn.functional as F

    from journeylab.generators.nets import censored_end_nll

    end_logit = torch.tensor([[0.3, -1.2, 2.0]])
    target = torch.tensor([[0.0, 0.0, 1.0]])
    gap_logits = torch.zeros(1, 3, 5)
    gap_logits[..., 1] = 50.0  # all mass on the first bin: below remaining 0.9
    nll = censored_end_nll(end_logit, target, gap_logits, torch.tensor([0.9]))
    plain = F.binary_cross_entropy_with_logits(end_logit, target, reduction="none")
    assert torch.allclose(nll, plain, atol=1e-5)
    gap_logits[..., 4] = 100.0  # all mass on the last bin: past the window, an end is certain
    nll = censored_end_nll(end_logit, target, gap_logits, torch.tensor([0.5]))
    assert float(nll[0, 2]) == pytest.approx(0.0, abs=1e-5)


def test_ragged_chunked_data_gives_the_batches_of_the_padded_encoding():
    """Stored ragged and encoded a few customers at a time, a batch is exactly the rows of
    the padded encoding of the whole log (padding included), whatever the chunking."""
    log = EventLog.from_frame(tiny_frame(20, seed=4), Schema.from_dict(TINY_SCHEMA))
    encoder = JourneyEncoder(log.schema)
    enc = encoder.encode(log)
    codec = Binning.make(encoder, VAEConfig(d_model=16, n_layers=3))
    gaps, start = enc.gaps.double(), enc.start.double()
    w = Binning.w_of_u(enc.numerics.float())
    g = codec.g_of_gap(gaps).float()
    padded = {
        "tokens": enc.tokens.long(),
        "w": w,
        "w_bin": Binning.to_bin(w, codec.numeric_bins),
        "g": g,
        "g_bin": Binning.to_bin(g, codec.gap_bins),
        "abs_t": ((start[:, None] + gaps.cumsum(1)) / codec.span).float(),
    }
    chunked = JourneyData.from_log(log, encoder, codec, customers_per_chunk=3)
    whole = JourneyData(enc, codec)
    assert chunked.n == whole.n == log.n_customers
    gen = torch.Generator().manual_seed(0)
    for idx in (torch.arange(20), torch.tensor([7]), torch.randperm(20, generator=gen)[:6]):
        L = int(enc.lengths[idx].max())
        for data in (chunked, whole):
            b = data.take(idx)
            assert torch.equal(b.lengths, enc.lengths[idx].long())
            for k, ref in padded.items():
                torch.testing.assert_close(getattr(b, k), ref[idx, :L], rtol=0, atol=0)
            torch.testing.assert_close(b.ctx, codec.ctx_classes(enc)[idx], rtol=0, atol=0)
    assert whole.take(torch.tensor([], dtype=torch.long)).tokens.shape[0] == 0


def test_a_told_length_is_kept_when_gaps_may_shrink_as_far_as_needed(data):
    """An untrained net's gaps run far past the window: with max_shrink 0 (the profile's
    rhythm redraws gaps) every journey keeps its told length; with the default cap some
    are cut at the window's end."""
    torch.manual_seed(2)
    net = VAENet(data.codec, VAEConfig(d_model=16, n_layers=3)).eval()
    n, L = 64, data.codec.max_length
    ctx = net.context.sample(n, {}, torch.Generator().manual_seed(0))
    z = torch.randn(n, net.cfg.latent_dim)
    force = torch.full((n,), L)
    kept = net.generate(ctx, z, torch.Generator().manual_seed(1), force=force, max_shrink=0.0)
    assert (kept["lengths"] == L).all()
    room = (data.codec.span - kept["start"]).clamp(min=0)
    assert (kept["gaps"].sum(1) <= room + 1).all()  # inside the window
    cut = net.generate(ctx, z, torch.Generator().manual_seed(1), force=force)
    assert (cut["lengths"] < L).any()


def test_recency_features_count_each_value_and_time_since_its_last_event(data):
    """After each event: per value of the event categoricals, how many events had it
    and how long ago the last one was (1 at that very event, 0 for a value not seen)."""
    from journeylab.generators.vae import journey_recency, recency_columns

    codec = data.codec
    cols = recency_columns(codec.event_vocab)
    assert cols and sum(v for _, v in cols) == sum(codec.event_vocab)
    b = data.take(torch.tensor([0, 3]))
    rec = journey_recency(b, codec, cols)  # [B, L, 2R]
    R = rec.shape[-1] // 2
    for i in range(2):
        for e in range(int(b.lengths[i])):
            r = 0
            for j, v in cols:
                for val in range(1, v + 1):
                    times = [float(b.abs_t[i, k]) for k in range(e + 1) if b.tokens[i, k, j] == val]
                    scale = math.log1p(codec.max_length)
                    got_n = math.expm1(float(rec[i, e, R + r]) * scale)
                    assert got_n == pytest.approx(len(times), abs=1e-3)
                    if not times:
                        assert float(rec[i, e, r]) == 0.0
                    else:
                        gap = (float(b.abs_t[i, e]) - times[-1]) * codec.span
                        want = 1 - float(codec.g_of_gap(torch.tensor(gap)))
                        assert float(rec[i, e, r]) == pytest.approx(want, abs=1e-3)
                        if times[-1] == float(b.abs_t[i, e]):
                            assert float(rec[i, e, r]) == pytest.approx(1.0)
                    r += 1


def test_recency_columns_skip_large_vocabularies():
    from journeylab.generators.vae import RECENCY_MAX, RECENCY_VOCAB, recency_columns

    assert recency_columns((4, RECENCY_VOCAB + 1, 3)) == ((0, 4), (2, 3))
    cols = recency_columns((60, 30, 10))
    assert cols == ((0, 60), (1, 30)) and sum(v for _, v in cols) <= RECENCY_MAX


def test_vae_without_recency_has_no_recency_inputs(data):
    on = VAENet(data.codec, VAEConfig(d_model=16, n_layers=3))
    off = VAENet(data.codec, VAEConfig(d_model=16, n_layers=3, recency=False))
    R = sum(data.codec.event_vocab)
    assert on.dec_in.feats.in_features == off.dec_in.feats.in_features + 2 * R
    assert on.enc_in.feats.in_features == off.enc_in.feats.in_features + 2 * R
