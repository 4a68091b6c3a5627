"""What each process of the DDP tests runs (a light module: spawned children import it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
from conftest import TINY_SCHEMA, tiny_frame
from safetensors.torch import save_file

from journeylab.generators import distributed
from journeylab.generators.config import VAEConfig
from journeylab.generators.data import Binning, JourneyData
from journeylab.generators.vae import VAENet, VAETask
from journeylab.journeys import EventLog, JourneyEncoder, Schema
from journeylab.privacy.dpsgd import DPPlan, dp_step, make_private

N = 30
IDX = torch.tensor([0, 3, 4, 7, 9, 12, 20, 28])  # 6 in rank 0's shard [0, 15), 2 in rank 1's
PLAN = DPPlan(
    n_customers=N,
    expected_batch_size=8.0,
    sample_rate=8 / N,
    steps=4,
    noise_multiplier=1.0,
    max_grad_norm=0.5,
    delta=1e-5,
    target_epsilon=8.0,
    accountant="rdp",
)


# --- one DP-SGD update: clipped per customer, summed over processes, noised once -------
def linear() -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def one_dp_step(idx: torch.Tensor, world_size: int) -> dict[str, torch.Tensor]:
    """One DP step of a linear model on customers idx (per-customer squared errors)."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(N, 3, generator=g), torch.randn(N, 2, generator=g) * 5
    lin = linear()
    opt = torch.optim.SGD(lin.parameters(), lr=1.0)
    gsm, opt = make_private(lin, opt, plan=PLAN, noise_seed=7, world_size=world_size)
    loss = (gsm(x[idx]) - y[idx]).pow(2).sum(1)  # [b]
    dp_step(opt, [(loss, torch.arange(len(idx)))], batch_size=len(idx))
    gsm.remove_hooks()
    return {k: v.detach().clone() for k, v in lin.state_dict().items()}


def dp_step_rank(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", rank=rank, world_size=2, init_method=f"tcp://127.0.0.1:{port}")
    try:
        start, stop = distributed.shard(N, rank, 2)
        own = IDX[(IDX >= start) & (IDX < stop)]
        save_file(one_dp_step(own, 2), f"{out}/rank{rank}.safetensors")
    finally:
        dist.destroy_process_group()


# --- a whole DP fit through Lightning's DDP ---------------------------------------------
def vae_task(plan: DPPlan | None) -> tuple[VAETask, VAEConfig]:
    log = EventLog.from_frame(tiny_frame(N, seed=2), Schema.from_dict(TINY_SCHEMA))
    cfg = VAEConfig(d_model=16, n_layers=2, batch_size=8, epochs=2, seed=5)
    enc = JourneyEncoder(log.schema)
    codec = Binning.make(enc, cfg)
    torch.manual_seed(0)
    return VAETask(VAENet(codec, cfg), JourneyData(enc.encode(log), codec), cfg, plan), cfg


def fit_rank(rank: int, port: int, out: str) -> None:
    os.environ.update(  # what Lightning's launcher or torchrun would set
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        NODE_RANK="0",
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
    )
    torch.set_num_threads(1)
    task, cfg = vae_task(PLAN)
    from journeylab.generators.training import run_training

    result = run_training(task, n=N, cfg=cfg, plan=PLAN, accelerator="cpu", devices=2)
    save_file(dict(task.net.state_dict()), f"{out}/rank{rank}.safetensors")
    Path(out, f"rank{rank}.json").write_text(json.dumps({"steps": result.steps}))
