"""DP-SGD at the level of a customer, wired with Opacus.

One sample = one customer's whole journey. Each step:
1. Poisson sampling: every customer joins the batch independently with
   probability q = expected_batch / N, so batch sizes vary (binomially) and
   may be empty; fixed-size batches would void the accounting.
2. One backward of the per-customer losses through a `GradSampleModule`
   gives one gradient per customer; `DPOptimizer` clips each to
   `max_grad_norm`, sums, adds N(0, (sigma * C)^2) noise and divides by the
   expected batch size.
3. The step is counted; training stops at the planned number of steps, for
   which sigma was calibrated to reach the target epsilon and no more.

    plan = plan_dpsgd(budget, n_customers=N, batch_size=64, epochs=10)
    gsm, opt = make_private(model, torch.optim.Adam(model.parameters()), plan=plan, noise_seed=0)
    spend = DPSpend(plan)
    for idx in poisson_batches(N, sample_rate=plan.sample_rate, steps=plan.steps, generator=g):
        losses = per_customer_loss(gsm, idx)  # [B]
        dp_step(opt, [(losses, torch.arange(len(idx)))], batch_size=len(idx)); spend.step()
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from journeylab.journeys.errors import ConfigError, InternalError, PrivacyBudgetError
from journeylab.privacy.accountant import cross_check, epsilon_from, noise_multiplier_for
from journeylab.privacy.budget import PrivacyBudget

if TYPE_CHECKING:  # Opacus takes ~2 s to import: only a DP fit needs it, not sampling
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer


@dataclass(frozen=True)
class DPPlan:
    """Everything that fixes the privacy guarantee of one DP-SGD run."""

    n_customers: int
    expected_batch_size: float
    sample_rate: float
    steps: int
    noise_multiplier: float
    max_grad_norm: float
    delta: float
    target_epsilon: float
    accountant: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_dpsgd(
    budget: PrivacyBudget,
    *,
    n_customers: int,
    batch_size: int,
    epochs: int,
    max_steps: int | None = None,
) -> DPPlan:
    """Sampling rate, steps and the noise that reaches `budget.epsilon` after exactly those steps.

    Refuses delta >= 1/N (via `budget.resolve_delta`) before any training.
    """
    delta = budget.resolve_delta(n_customers)
    q, steps = sampling(
        n_customers=n_customers, batch_size=batch_size, epochs=epochs, max_steps=max_steps
    )
    sigma = noise_multiplier_for(
        target_epsilon=budget.epsilon,
        delta=delta,
        sample_rate=q,
        steps=steps,
        accountant=budget.accountant,
    )
    return DPPlan(
        n_customers=n_customers,
        expected_batch_size=q * n_customers,
        sample_rate=q,
        steps=steps,
        noise_multiplier=sigma,
        max_grad_norm=budget.max_grad_norm,
        delta=delta,
        target_epsilon=float(budget.epsilon),
        accountant=budget.accountant,
    )


def sampling(
    *, n_customers: int, batch_size: int, epochs: int, max_steps: int | None = None
) -> tuple[float, int]:
    """(sampling rate q, steps) of DP-SGD: q = batch / N, so one epoch is 1/q steps."""
    if n_customers < 1:
        raise ConfigError(f"the number of customers must be >= 1, got {n_customers}")
    if batch_size < 1 or epochs < 1:
        raise ConfigError(f"batch_size ({batch_size}) and epochs ({epochs}) must be >= 1")
    q = min(1.0, batch_size / n_customers)
    steps = max(1, round(epochs / q))
    return q, steps if max_steps is None else min(steps, max_steps)


def poisson_batch(n: int, *, sample_rate: float, generator: torch.Generator) -> torch.Tensor:
    """Indices [B] of the customers drawn, each independently with probability q (B may be 0)."""
    return torch.nonzero(torch.rand(n, generator=generator) < sample_rate).flatten()


def poisson_batches(
    n: int, *, sample_rate: float, steps: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    for _ in range(steps):
        yield poisson_batch(n, sample_rate=sample_rate, generator=generator)


def make_private(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    plan: DPPlan,
    noise_seed: int,
    device: torch.device | str = "cpu",
    world_size: int = 1,
) -> tuple[GradSampleModule, DPOptimizer]:
    """Wrap `module` for per-sample gradients and `optimizer` for clipping and noise.

    The module's forward must return per-customer losses; call `dp_step` with their
    vector. Gradients of all its terms (e.g. real and fake for a discriminator) are
    summed per customer *before* clipping, so every term passes through clipping.

    world_size > 1 (a process group is up, each process taking its part of the Poisson
    batch): Opacus' `DistributedDPOptimizer` sums the clipped gradients of all
    processes and adds the noise once, on rank 0 (seeded with `noise_seed`, as on one
    process), so the update and its accounting are those of one process.
    """
    from opacus import GradSampleModule
    from opacus.optimizers import DistributedDPOptimizer, DPOptimizer

    gsm = GradSampleModule(module, batch_first=True, loss_reduction="sum", strict=True)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(noise_seed))
    # each process scales by its share of the expected batch; the sum over processes
    # is then divided by world_size: one division by the whole expected batch
    opt = (DistributedDPOptimizer if world_size > 1 else DPOptimizer)(
        optimizer,
        noise_multiplier=plan.noise_multiplier,
        max_grad_norm=plan.max_grad_norm,
        expected_batch_size=plan.expected_batch_size / world_size,
        loss_reduction="mean",
        generator=gen,
    )
    return gsm, opt


def dp_step(
    optimizer: DPOptimizer, pieces: Iterable[tuple[torch.Tensor, torch.Tensor]], *, batch_size: int
) -> int:
    """One DP-SGD update from per-customer loss terms, given piece by piece.

    Each piece is (loss [b], rows [b]): loss terms whose gradients belong to rows
    `rows` (0..batch_size-1) of the Poisson batch. A piece is backpropagated at once
    (only one piece's graph is alive); gradients of pieces that share a row are
    *summed per row before clipping*. So several terms of one customer (e.g. a
    discriminator's real term in one piece and the fake term paired with that
    customer in another) are clipped as one per-customer gradient, then noised.
    batch_size 0 (an empty Poisson batch) still takes a step: the update is pure
    noise, as the accounting assumes. Returns batch_size.
    """
    params = optimizer.params
    acc = [torch.zeros((batch_size, *p.shape), dtype=p.dtype, device=p.device) for p in params]
    for loss, rows in pieces:
        if loss.dim() != 1 or loss.shape != rows.shape:
            raise InternalError(
                f"dp_step needs per-row losses [b] and rows [b], got shapes "
                f"{tuple(loss.shape)} and {tuple(rows.shape)}"
            )
        with warnings.catch_warnings():
            # opacus' full backward hooks warn when no module input requires grad (harmless)
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            loss.sum().backward()
        for a, p in zip(acc, params, strict=True):
            gs = p.grad_sample
            if gs is None:  # a parameter this piece did not use
                continue
            gs = torch.cat(gs, 0) if isinstance(gs, list) else gs
            r = rows.to(a.device)  # distinct within a piece
            a[r] = a[r] + gs[: len(rows)]
            p.grad_sample = None
    for a, p in zip(acc, params, strict=True):
        p.grad_sample = a
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return batch_size


class DPSpend:
    """Counts DP steps against a plan; refuses a step beyond it; reports the record."""

    def __init__(self, plan: DPPlan):
        self.plan = plan
        self.steps = 0
        self.epsilon_over_steps: list[tuple[int, float]] = []

    @property
    def exhausted(self) -> bool:
        return self.steps >= self.plan.steps

    def step(self) -> None:
        if self.exhausted:
            raise PrivacyBudgetError(
                f"DP step {self.steps + 1} would exceed the planned {self.plan.steps} steps "
                f"(epsilon {self.plan.target_epsilon:g}); training must stop here"
            )
        self.steps += 1

    def epsilon(self) -> float:
        p = self.plan
        return epsilon_from(
            sample_rate=p.sample_rate,
            noise_multiplier=p.noise_multiplier,
            steps=self.steps,
            delta=p.delta,
            accountant=p.accountant,
        )

    def mark(self) -> float:
        """Record epsilon at the current step (e.g. at the end of an epoch)."""
        eps = self.epsilon()
        if not self.epsilon_over_steps or self.epsilon_over_steps[-1][0] != self.steps:
            self.epsilon_over_steps.append((self.steps, eps))
        return eps

    def record(self, *, epochs: float, private_modules: list[str]) -> dict[str, Any]:
        """The privacy record stored with the model (JSON-able)."""
        p = self.plan
        eps = self.mark()
        check = cross_check(
            sample_rate=p.sample_rate,
            noise_multiplier=p.noise_multiplier,
            steps=self.steps,
            delta=p.delta,
        )
        return {
            "dp": True,
            "unit": "customer",
            "epsilon": eps,
            "target_epsilon": p.target_epsilon,
            **check,
            "delta": p.delta,
            "noise_multiplier": p.noise_multiplier,
            "max_grad_norm": p.max_grad_norm,
            "sample_rate": p.sample_rate,
            "expected_batch_size": p.expected_batch_size,
            "steps": self.steps,
            "planned_steps": p.steps,
            "epochs": epochs,
            "n_customers": p.n_customers,
            "accountant": p.accountant,
            "sampling": "poisson",
            "private_modules": private_modules,
            "epsilon_over_steps": [[s, e] for s, e in self.epsilon_over_steps],
        }
