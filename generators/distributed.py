"""Training on several processes (DDP): who this process is, its customers, gradient sums.

Under PyTorch Lightning's DDP (one process per device, on one or more nodes) every
process runs the same fit; each trains on its part of each batch and the gradients
are summed across processes before each update:

- DP-SGD: every process draws the same Poisson batch over all customers (every
  customer joins a step's batch independently with probability q, exactly as on one
  process), takes its part of it, split by the customers' events so that the
  processes' work is even (`training.balanced_part`), and clips its customers'
  gradients; Opacus' `DistributedDPOptimizer` sums them and adds the
  Gaussian noise once, on rank 0. The plan and the accounting do not change.
- not private: shuffled fixed-size batches, drawn alike on every process and split
  between them; the gradients of each batch are summed (`sum_grads`).

Only rank 0 writes (ledger, MLflow, model, checkpoints); `launched_rank_zero` tells
from the launcher's environment, before any process group exists, which process that
is. Nothing here imports Lightning.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import torch.distributed as dist

RANK_SEED_STRIDE = 1 << 40  # rank r's random streams: seed + r * stride (rank 0: the seed)


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def launched_rank_zero() -> bool:
    """Whether the launcher made this process global rank 0 (or launched none at all).

    torchrun and SLURM set RANK / SLURM_PROCID; Lightning's own launcher sets NODE_RANK
    and LOCAL_RANK (the process the user started on a node has LOCAL_RANK unset).
    """
    for var in ("RANK", "SLURM_PROCID"):
        if var in os.environ:
            return int(os.environ[var]) == 0
    return int(os.environ.get("NODE_RANK", 0)) == 0 and int(os.environ.get("LOCAL_RANK", 0)) == 0


def is_worker(devices: int, num_nodes: int) -> bool:
    """Whether this process is a DDP rank other than 0 of a fit on devices x num_nodes
    processes (a one-process fit never is, whatever the environment says)."""
    return devices * num_nodes > 1 and not launched_rank_zero()


def shard(n: int, rank: int, size: int) -> tuple[int, int]:
    """Customers [start, stop) of `rank` among `size` processes: contiguous, sizes within 1."""
    return rank * n // size, (rank + 1) * n // size


def rank_seed(seed: int) -> int:
    """This process's seed for per-rank randomness (latent noise, fakes): `seed` on rank 0."""
    return seed + world()[0] * RANK_SEED_STRIDE


def global_count(n: int) -> int:
    """The sum of `n` over all processes (a batch's size across its shards)."""
    if world()[1] == 1:
        return n
    t = torch.tensor([n], dtype=torch.long, device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return int(t.item())


def sum_grads(params: Iterable[torch.nn.Parameter], *, average: bool = False) -> None:
    """Sum (or average) `.grad` over all processes; a parameter without one counts as zero."""
    _, size = world()
    if size == 1:
        return
    for p in params:
        if not p.requires_grad:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        if average:
            p.grad /= size


def _device() -> torch.device:
    """Where collectives run: NCCL needs CUDA tensors, gloo takes CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def resolved_accelerator(accelerator: str) -> str:
    """What Lightning picks for `accelerator`: auto is the GPU where PyTorch sees one."""
    if accelerator != "auto":
        return accelerator
    return "gpu" if torch.cuda.is_available() else "cpu"
