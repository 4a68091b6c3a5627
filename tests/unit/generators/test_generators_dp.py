"""Customer-level DP-SGD of the gan and vae generators (tiny data, seconds each)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from conftest import TINY_SCHEMA, tiny_frame

import journeylab.generators as generators
from journeylab.generators.config import GANConfig, VAEConfig
from journeylab.generators.data import Binning, JourneyData
from journeylab.generators.gan import GANNet, GANTask
from journeylab.generators.vae import VAENet, VAETask
from journeylab.journeys import EventLog, JourneyEncoder, Schema
from journeylab.journeys.errors import ConfigError, PrivacyBudgetError
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.dpsgd import DPPlan, DPSpend, dp_step, make_private, poisson_batch

SMALL = {"d_model": 16, "n_layers": 2, "batch_size": 8}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def log() -> EventLog:
    return EventLog.from_frame(tiny_frame(30, seed=2), Schema.from_dict(TINY_SCHEMA))


def sgd(params, lr=1.0):
    return torch.optim.SGD(params, lr=lr)


def plan_for(n: int, batch: int, *, sigma: float = 0.0, clip: float = 1e6) -> DPPlan:
    return DPPlan(
        n_customers=n,
        expected_batch_size=float(batch),
        sample_rate=batch / n,
        steps=10,
        noise_multiplier=sigma,
        max_grad_norm=clip,
        delta=1e-5,
        target_epsilon=8.0,
        accountant="rdp",
    )


def build(kind: str, log: EventLog, plan: DPPlan | None, *, net=None):
    cfg = (VAEConfig if kind == "vae" else GANConfig)(**SMALL, seed=5)
    enc = JourneyEncoder(log.schema)
    codec = Binning.make(enc, cfg)
    data = JourneyData(enc.encode(log), codec)
    if net is None:
        torch.manual_seed(0)
        net = (VAENet if kind == "vae" else GANNet)(codec, cfg)
    if kind == "vae":
        task = VAETask(net, data, cfg, plan, optimizer=sgd)
    else:
        task = GANTask(net, data, cfg, plan, optimizer=lambda ps, lr: sgd(ps))
    task.setup(torch.device("cpu"))
    return task


def params(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.named_parameters()}


IDX = torch.tensor([0, 3, 4, 7, 9, 12, 20, 28])


# --- zero noise + huge clipping bound: one DP step == one plain step ------------------
def test_dp_vae_step_equals_plain_step_without_noise_and_clipping(log):
    plain = build("vae", log, None)
    private = build("vae", log, plan_for(30, len(IDX)), net=copy.deepcopy(plain.net))
    before = params(plain.net)
    plain.step(IDX)
    private.step(IDX)
    a, b = params(plain.net), params(private.net)
    moved = sum(float((a[k] - before[k]).abs().sum()) for k in a)
    assert moved > 1e-3  # the step did something
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6, msg=k)


def test_dp_gan_discriminator_step_equals_plain_step(log):
    plain = build("gan", log, None)
    private = build("gan", log, plan_for(30, len(IDX)), net=copy.deepcopy(plain.net))
    plain.d_step(IDX, {})
    private.d_step(IDX, {})
    a, b = params(plain.net.disc), params(private.net.disc)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6, msg=k)


# --- every term of the discriminator update passes per-sample clipping ------------------
def _pieces(task: GANTask, idx: torch.Tensor):
    """The loss pieces of one discriminator step, split into real and fake terms."""
    pieces = list(task.pair_pieces(idx, {}))
    n_real = len(task.data.chunks(idx, task.cfg.tokens_per_chunk))
    return pieces[:n_real], pieces[n_real:]


def _grads(loss: torch.Tensor, module: torch.nn.Module) -> torch.Tensor:
    ps = list(module.parameters())
    gs = torch.autograd.grad(loss, ps, retain_graph=True, allow_unused=True)
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(p)).flatten()
            for g, p in zip(gs, ps, strict=True)
        ]
    )


def test_dp_discriminator_update_contains_the_fake_term(log):
    plain = build("gan", log, None)
    private = build("gan", log, plan_for(30, len(IDX)), net=copy.deepcopy(plain.net))
    real, fake = _pieces(plain, IDX)  # same seeds -> the fakes the private step will draw
    B = len(IDX)
    g_real = _grads(sum(lo.sum() for lo, _ in real) / B, plain.net.disc)
    g_all = _grads(sum(lo.sum() for lo, _ in real + fake) / B, plain.net.disc)
    before = torch.cat([p.detach().flatten().clone() for p in private.net.disc.parameters()])
    private.d_step(IDX, {})
    after = torch.cat([p.detach().flatten() for p in private.net.disc.parameters()])
    update = before - after  # SGD, lr 1: the DP gradient
    torch.testing.assert_close(update, g_all, rtol=1e-4, atol=1e-6)
    assert (update - g_real).norm() > 0.1 * g_all.norm()  # the fake term matters


def test_each_pair_is_clipped_as_one_gradient(log):
    clip = 1e-3
    plain = build("gan", log, None)
    private = build("gan", log, plan_for(30, len(IDX), clip=clip), net=copy.deepcopy(plain.net))
    real, fake = _pieces(plain, IDX)
    # per pair i: gradient of (real term of customer i + fake term i), clipped to `clip`
    terms = torch.zeros(len(IDX), dtype=torch.long)
    expected = 0
    for i in range(len(IDX)):
        lo = sum(loss[(rows == i)].sum() for loss, rows in real + fake)
        g = _grads(lo, plain.net.disc)
        expected = expected + g * min(1.0, clip / (float(g.norm()) + 1e-6))
        terms[i] = sum(int((rows == i).sum()) for _, rows in real + fake)
    assert (terms == 2).all()  # each row: one real and one fake term
    expected = expected / len(IDX)
    before = torch.cat([p.detach().flatten().clone() for p in private.net.disc.parameters()])
    private.d_step(IDX, {})
    after = torch.cat([p.detach().flatten() for p in private.net.disc.parameters()])
    assert float((before - after - expected).norm()) < 1e-3 * float(expected.norm())
    assert float((before - after).norm()) <= clip * (1 + 1e-4)


def test_generator_step_leaves_discriminator_and_its_dp_state_alone(log):
    private = build("gan", log, plan_for(30, len(IDX)))
    before = params(private.net.disc)
    gen_before = params(private.net.events)
    private.g_step()
    after = params(private.net.disc)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(not torch.equal(gen_before[k], v) for k, v in params(private.net.events).items())
    assert all(getattr(p, "grad_sample", None) is None for p in private.net.disc.parameters())


def test_gan_lengths_come_from_the_data_only_without_dp(log):
    """Non-DP: the length classes of the training journeys. DP: the discriminator's length
    prior, which only the private update touches."""
    from journeylab.generators.gan import length_class

    plain = build("gan", log, None)
    k = length_class(torch.tensor(log.lengths().to_numpy()), plain.net.edges)
    want = torch.bincount(k, minlength=len(plain.net.edges) - 1).double() / len(k)
    torch.testing.assert_close(plain.net.length_probs, want)
    private = build("gan", log, plan_for(30, len(IDX)))
    assert float(private.net.length_probs.abs().sum()) == 0.0
    with torch.no_grad():
        private.net.disc.length_prior.bias.copy_(torch.log(want.float() + 1e-9))
        private.net.disc.length_prior.weight.zero_()
        f = private.net.fake(400, torch.Generator().manual_seed(0))
    drawn = torch.bincount(f["length"].argmax(-1), minlength=len(want)).double() / 400
    assert float((drawn - want).abs().sum()) < 0.2  # drawn from the prior


def test_dp_length_prior_moves_only_through_the_private_update(log):
    """The prior's gradient is per customer (clipped with the rest of its term); a DP step
    with a tiny clipping bound moves the whole discriminator by at most that bound."""
    clip = 1e-3
    private = build("gan", log, plan_for(30, len(IDX), clip=clip))
    before = private.net.disc.length_prior.bias.detach().clone()
    disc_before = torch.cat([p.detach().flatten() for p in private.net.disc.parameters()])
    private.d_step(IDX, {})
    disc_after = torch.cat([p.detach().flatten() for p in private.net.disc.parameters()])
    assert not torch.equal(before, private.net.disc.length_prior.bias.detach())
    assert float((disc_before - disc_after).norm()) <= clip * (1 + 1e-4)
    after = private.net.disc.length_prior.bias.detach().clone()
    private.g_step()  # the generator step leaves the prior alone
    assert torch.equal(after, private.net.disc.length_prior.bias.detach())


# --- Poisson sampling and the empty batch ----------------------------------------------
def test_poisson_batch_sizes_vary_as_a_binomial():
    n, q, draws = 200, 0.1, 4000
    g = torch.Generator().manual_seed(0)
    sizes = torch.tensor(
        [len(poisson_batch(n, sample_rate=q, generator=g)) for _ in range(draws)],
        dtype=torch.float64,
    )
    mean, var = n * q, n * q * (1 - q)
    assert abs(float(sizes.mean()) - mean) < 4 * math.sqrt(var / draws)
    assert abs(float(sizes.var()) / var - 1) < 0.1
    assert len(set(sizes.tolist())) > 10  # not a fixed batch size


def test_empty_poisson_batch_takes_a_pure_noise_step():
    lin = torch.nn.Linear(3, 2)
    plan = plan_for(100, 5, sigma=1.0, clip=0.5)
    gsm, opt = make_private(lin, sgd(lin.parameters()), plan=plan, noise_seed=0)
    before = params(lin)
    assert dp_step(opt, [], batch_size=0) == 0
    delta = torch.cat([(before[k] - v).flatten() for k, v in params(lin).items()])
    assert delta.abs().min() > 0  # noise on every coordinate
    assert 0.02 < float(delta.std()) < 0.3  # std sigma * C / expected batch = 0.1
    gsm.remove_hooks()


# --- the budget: planned, never exceeded, recorded -------------------------------------
@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_dp_fit_spends_the_budget_and_records_it(kind, log, tmp_path):
    gen = generators.create(kind, {**SMALL, "epochs": 2})
    gen.fit(log, privacy=PrivacyBudget(epsilon=4.0, max_grad_norm=0.5))
    rec = gen.privacy_record
    assert rec["steps"] == rec["planned_steps"] == round(2 / (8 / 30))
    # DP-SGD's noise is set for 75% of the training budget; the journey profile's
    # Gaussian tables, composed with it in one RDP accountant, add the rest
    assert 0.9 < rec["profile"]["epsilon"] < 1.2 and rec["profile"]["delta"] == 0.0
    assert rec["epsilon"] <= 3.0 and rec["epsilon"] > 2.9
    assert 3.99 < rec["epsilon"] + rec["profile"]["epsilon"] <= 4.0
    assert gen.release["epsilon"] == pytest.approx(rec["epsilon"] + rec["profile"]["epsilon"])
    assert rec["delta"] == pytest.approx(min(1e-5, 1 / 300))
    assert rec["max_grad_norm"] == 0.5 and rec["sample_rate"] == pytest.approx(8 / 30)
    assert rec["prv_status"] == "ok" and 0 < rec["epsilon_prv"] <= rec["epsilon_rdp"] * 1.05
    eps = [e for _, e in rec["epsilon_over_steps"]]
    assert eps == sorted(eps) and eps[-1] == rec["epsilon"]
    assert [h["epsilon"] for h in gen.history] == eps
    path = gen.save(tmp_path / "m")
    assert json.loads((path / "meta.json").read_text())["privacy"] == rec
    assert generators.load(path).privacy_record == rec


def test_no_step_beyond_the_plan():
    spend = DPSpend(plan_for(30, 8))
    for _ in range(10):
        spend.step()
    with pytest.raises(PrivacyBudgetError, match="exceed"):
        spend.step()


def test_delta_of_one_over_n_is_refused_before_training(log):
    gen = generators.create("vae", {**SMALL, "epochs": 1})
    with pytest.raises(ConfigError, match="1/N"):
        gen.fit(log, privacy=PrivacyBudget(epsilon=8.0, delta=1 / 30))
    with pytest.raises(ConfigError, match="not fitted"):
        gen.sample(3)  # nothing recorded as if the fit had succeeded


def test_epsilon_must_be_positive():
    with pytest.raises(ConfigError, match="epsilon must be a finite number > 0"):
        PrivacyBudget(epsilon=0)


# --- configs, training side effects ------------------------------------------------------
def test_config_is_validated_and_round_trips():
    cfg = VAEConfig(epochs=3, latent_dim=5)
    assert VAEConfig.from_dict(cfg.to_dict()) == cfg
    assert generators.create("gan", {"epochs": 2}).config.epochs == 2
    with pytest.raises(ConfigError, match="epochs must be a positive integer"):
        generators.create("vae", {"epochs": 0})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['epoch'\]"):
        generators.create("gan", {"epoch": 2})


def test_fit_writes_nothing_but_requested_checkpoints(log, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    gen = generators.create("vae", {**SMALL, "epochs": 2})
    gen.fit(log, checkpoint_dir=tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == [
        "epoch-0001.json",
        "epoch-0001.safetensors",
        "epoch-0002.json",
        "epoch-0002.safetensors",
    ]
    assert [h["epoch"] for h in gen.history] == [1, 2]
