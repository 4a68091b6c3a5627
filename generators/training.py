"""The training loop shared by the GAN and the VAE (their data: `generators.data`).

- `run_training`: a PyTorch Lightning Trainer (progress bar, safetensors
  checkpoints, early stopping, CPU or GPU) around a `Task` whose `step(idx)`
  makes one optimisation step on the customers `idx`: Poisson-sampled under DP,
  shuffled fixed-size batches otherwise.

Losses in `history` are computed on the training batch and are not covered by
the DP guarantee (only the trained weights are).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import DDPStrategy
from safetensors.torch import save_file
from torch.utils.data import DataLoader, IterableDataset

from journeylab.generators import distributed
from journeylab.generators.config import CommonConfig
from journeylab.generators.data import Task
from journeylab.journeys.files import atomic_write, atomic_write_text
from journeylab.journeys.quiet import quiet_lightning
from journeylab.privacy.dpsgd import DPPlan, DPSpend, poisson_batch


class IndexBatches(IterableDataset):
    """Customer index batches: Poisson (DP) or shuffled fixed-size, at most `total` in all.

    Under DDP (`shard(rank, size)`) each process yields only its customers: under DP,
    with `weights` (each customer's work: its events, [n]), its part of the Poisson
    batch that every process draws alike over all customers (the one a single process
    draws), the parts balanced by weight (`balanced_part`); without them, a Poisson draw
    over its own shard (its own random stream). Not private, its part (by weight, where
    given) of the batch every process draws alike. Every process yields the same number
    of batches.

    Either way each customer joins a step's batch independently with probability q. The
    shards' own draws left the processes' work unequal at every step (their batch sizes
    and journey lengths differ): at an expected batch of 256 on two cores, each process
    was busy 79% to 81% of the time and waited at the gradient sum for the rest.
    """

    def __init__(
        self,
        n: int,
        *,
        batch_size: int,
        sample_rate: float | None,
        steps_per_epoch: int,
        total: int,
        seed: int,
        weights: torch.Tensor | None = None,
    ):
        super().__init__()
        self.n, self.batch_size, self.q = n, batch_size, sample_rate
        self.weights = weights
        self.steps_per_epoch, self.total, self.seed = steps_per_epoch, total, seed
        self.yielded = 0
        self.epoch = 0
        self.rank, self.size = 0, 1

    def shard(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size

    def __len__(self) -> int:
        return max(0, min(self.steps_per_epoch, self.total - self.yielded))

    def __iter__(self) -> Iterator[torch.Tensor]:
        seed = self.seed * 1_000_003 + self.epoch
        gen = torch.Generator().manual_seed(seed)  # alike on every process
        own = gen  # rank 0 draws as a single process does; other ranks, their own stream
        if self.rank:
            own = torch.Generator().manual_seed(seed + self.rank * distributed.RANK_SEED_STRIDE)
        start, stop = distributed.shard(self.n, self.rank, self.size)
        self.epoch += 1
        perm = torch.randperm(self.n, generator=gen)
        for s in range(self.steps_per_epoch):
            if self.yielded >= self.total:
                return
            self.yielded += 1
            if self.q is not None and self.weights is not None:
                whole = poisson_batch(self.n, sample_rate=self.q, generator=gen)
                yield balanced_part(whole, self.weights, self.rank, self.size)
            elif self.q is not None:
                yield start + poisson_batch(stop - start, sample_rate=self.q, generator=own)
            else:
                batch = perm[s * self.batch_size : (s + 1) * self.batch_size]
                if self.weights is not None:
                    yield balanced_part(batch, self.weights, self.rank, self.size)
                else:
                    yield batch[self.rank :: self.size]


def balanced_part(idx: torch.Tensor, weights: torch.Tensor, rank: int, size: int) -> torch.Tensor:
    """`rank`'s part of the batch `idx` split between `size` processes so that their
    summed `weights` are as even as greedy allows: heaviest customer first, each to the
    process with the least so far (ties: the lower rank). Every process computes the
    same split; the parts are disjoint and cover `idx`. Returned in `idx`'s order."""
    if size == 1:
        return idx
    w = weights[idx].double()
    order = torch.argsort(-w, stable=True)
    load = [0.0] * size
    owner = torch.empty(len(idx), dtype=torch.long)
    for i, wi in zip(order.tolist(), w[order].tolist(), strict=True):
        r = min(range(size), key=load.__getitem__)
        owner[i] = r
        load[r] += wi
    return idx[owner == rank]


class _LitTask(pl.LightningModule):
    """Lightning face of a Task (manual optimisation: the task owns its optimisers)."""

    def __init__(self, task: Task, batches: IndexBatches, spend: DPSpend | None):
        super().__init__()
        self.automatic_optimization = False
        self.task, self.batches, self.spend = task, batches, spend
        self.nets = task.nets
        self.history: list[dict[str, Any]] = []
        self._sums: dict[str, float] = {}
        self._count = 0
        self.steps = 0

    def configure_optimizers(self):
        return None

    def on_fit_start(self) -> None:
        self.task.setup(self.device)

    def on_train_epoch_start(self) -> None:
        self._t0 = time.perf_counter()

    def train_dataloader(self) -> DataLoader:
        self.batches.shard(self.global_rank, self.trainer.world_size)
        return DataLoader(self.batches, batch_size=None, num_workers=0)

    def training_step(self, idx: torch.Tensor, batch_idx: int) -> None:
        if self.spend is not None and self.spend.exhausted:
            return None  # never step beyond the planned (budgeted) steps
        logs = self.task.step(idx.cpu())
        if self.spend is not None:
            self.spend.step()
        self.steps += 1
        for k, v in logs.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._count += 1
        if "loss" in logs:  # not after an empty batch (under DDP, a process's share may be)
            self.log(
                "loss", logs["loss"], on_step=False, on_epoch=True, prog_bar=True, batch_size=1
            )
        return None

    def on_train_epoch_end(self) -> None:
        self.close_epoch()

    def close_epoch(self) -> None:
        """Append the epoch's row to `history`, once. Lightning runs callbacks' epoch-end
        hooks before the module's, so callbacks that read the row call this first."""
        if self.history and self.history[-1]["epoch"] == self.current_epoch + 1:
            return
        row: dict[str, Any] = {
            "epoch": self.current_epoch + 1,
            "steps": self.steps,
            "epoch_seconds": time.perf_counter() - self._t0,
        }
        row.update({k: v / max(1, self._count) for k, v in self._sums.items()})
        if self.spend is not None:
            row["epsilon"] = self.spend.mark()
            self.log("epsilon", row["epsilon"], prog_bar=True, batch_size=1)
        self.history.append(row)
        self._sums, self._count = {}, 0


class SafetensorsCheckpoint(pl.Callback):
    """Saves the weights after every epoch as safetensors (Lightning's .ckpt is a pickle)."""

    def __init__(self, dirpath: str | Path):
        self.dirpath = Path(dirpath)

    def on_train_epoch_end(self, trainer: pl.Trainer, lit: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self.dirpath.mkdir(parents=True, exist_ok=True)
        epoch = trainer.current_epoch + 1
        state = {k: v.detach().cpu().contiguous() for k, v in lit.nets.state_dict().items()}
        atomic_write(self.dirpath / f"epoch-{epoch:04d}.safetensors", lambda f: save_file(state, f))
        if hasattr(lit, "close_epoch"):
            lit.close_epoch()
        row = lit.history[-1] if getattr(lit, "history", None) else {"epoch": epoch}
        atomic_write_text(self.dirpath / f"epoch-{epoch:04d}.json", json.dumps(row, default=float))


class ProgressReport(pl.Callback):
    """Calls `report(row)` after every epoch: epoch, epochs, steps, total_steps, loss,
    epsilon spent so far (DP), elapsed and estimated seconds left. The CLI shows it."""

    def __init__(self, report: Callable[[dict[str, Any]], None], *, total_steps: int):
        self.report, self.total = report, total_steps

    def on_train_start(self, trainer: pl.Trainer, lit: pl.LightningModule) -> None:
        self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, lit: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        lit.close_epoch()
        row = dict(lit.history[-1])
        elapsed = time.perf_counter() - self._t0
        done = max(1, lit.steps)
        self.report(
            {
                **row,
                "epochs": trainer.max_epochs,
                "total_steps": self.total,
                "elapsed_seconds": elapsed,
                "seconds_left": elapsed / done * max(0, self.total - lit.steps),
            }
        )


class DPDDPStrategy(DDPStrategy):
    """Lightning's DDP with Opacus' DPDDP wrapper instead of torch's DDP.

    DPDDP broadcasts rank 0's initial weights and leaves gradients alone; the tasks'
    optimisers sum them after clipping (`DistributedDPOptimizer`, noise added once) or
    with `distributed.sum_grads`. torch's DDP would all-reduce the unclipped gradients
    during backward, before Opacus has clipped them per customer.
    """

    def _setup_model(self, model: torch.nn.Module) -> torch.nn.Module:
        from opacus.distributed import DifferentiallyPrivateDistributedDataParallel

        return DifferentiallyPrivateDistributedDataParallel(model)

    def teardown(self) -> None:
        if self.lightning_module is not None:
            self.model = self.lightning_module  # unwrap, as DDPStrategy does for DDP
        super().teardown()


@dataclass
class TrainResult:
    history: list[dict[str, Any]]
    spend: DPSpend | None
    steps: int
    epochs: float


def run_training(
    task: Task,
    *,
    n: int,
    cfg: CommonConfig,
    plan: DPPlan | None,
    progress_bar: bool = False,
    checkpoint_dir: str | Path | None = None,
    callbacks: list[pl.Callback] | tuple = (),
    accelerator: str = "auto",
    early_stopping: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
    devices: int = 1,
    num_nodes: int = 1,
) -> TrainResult:
    """Train `task` on `n` customers with Lightning; under `plan`, DP with Poisson batches.

    devices x num_nodes > 1: DDP, one process per device (`distributed`); the processes
    are started by torchrun, SLURM or, when none did, by Lightning re-running the command.
    """
    if plan is not None:
        per_epoch = max(1, round(1 / plan.sample_rate))
        total = plan.steps
    else:
        per_epoch = math.ceil(n / cfg.batch_size)
        total = min(per_epoch * cfg.epochs, cfg.max_steps or math.inf)
    batches = IndexBatches(
        n,
        batch_size=cfg.batch_size,
        sample_rate=None if plan is None else plan.sample_rate,
        steps_per_epoch=per_epoch,
        total=int(total),
        seed=cfg.seed,
        weights=_work(task),
    )
    spend = DPSpend(plan) if plan is not None else None
    lit = _LitTask(task, batches, spend)
    cbs = list(callbacks)
    if checkpoint_dir is not None:
        cbs.append(SafetensorsCheckpoint(checkpoint_dir))
    if progress is not None:
        cbs.append(ProgressReport(progress, total_steps=int(total)))
    if plan is None and early_stopping and cfg.patience is not None:
        cbs.append(
            pl.callbacks.EarlyStopping(
                monitor="loss", patience=cfg.patience, check_on_train_epoch_end=True
            )
        )
    with tempfile.TemporaryDirectory(prefix="journeylab-fit-") as tmp, quiet_lightning():
        trainer = pl.Trainer(
            max_epochs=math.ceil(total / per_epoch),
            accelerator=accelerator,
            devices=devices,
            num_nodes=num_nodes,
            strategy=DPDDPStrategy() if devices * num_nodes > 1 else "auto",
            use_distributed_sampler=False,  # the batches are ours (Poisson under DP)
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=progress_bar,
            enable_model_summary=False,
            default_root_dir=tmp,
            callbacks=cbs,
            num_sanity_val_steps=0,
            limit_val_batches=0,
        )
        try:
            trainer.fit(lit)
        finally:
            task.teardown()
    return TrainResult(
        history=lit.history, spend=spend, steps=lit.steps, epochs=lit.steps / per_epoch
    )


def _work(task: Task) -> torch.Tensor | None:
    """Each customer's share of a step's work (its events and the end step), for
    balancing a DP batch between DDP processes; None for a task without encoded data."""
    data = getattr(task, "data", None)
    lengths = getattr(data, "lengths", None)
    return None if lengths is None else lengths.long() + 1
