"""DDP training: two CPU processes (gloo) on tiny data, against one process."""

from __future__ import annotations

import json
import socket

import pytest
import torch
import torch.multiprocessing as mp
from ddp_ranks import IDX, PLAN, N, dp_step_rank, fit_rank, linear, one_dp_step, vae_task
from safetensors.torch import load_file

import journeylab.generators as generators
from journeylab.generators import distributed
from journeylab.generators.training import IndexBatches, balanced_part
from journeylab.journeys.errors import ConfigError
from journeylab.runs import check_processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(fn, *args) -> None:
    """Run fn(rank, *args) in two spawned processes (gloo) and wait for both. A rank that
    dies by a signal or a native abort, not by a Python exception (once in a full suite on
    the shared two-core machine: "terminate called without an active exception" in a
    gloo rank, the test passing alone), is given one more try on a fresh port; an
    exception or a failed check inside a rank fails at once."""
    try:
        mp.start_processes(fn, args=args, nprocs=2, start_method="spawn", join=True)
    except mp.ProcessExitedException:
        port = free_port() if args and isinstance(args[0], int) else None
        again = (port, *args[1:]) if port is not None else args
        mp.start_processes(fn, args=again, nprocs=2, start_method="spawn", join=True)


def test_two_processes_take_the_one_process_dp_step(tmp_path):
    """Clipping, the sum and the noise (added once, by rank 0) are those of one process."""
    spawn(dp_step_rank, free_port(), str(tmp_path))
    one = one_dp_step(IDX, 1)
    start = linear().state_dict()
    for rank in (0, 1):
        two = load_file(tmp_path / f"rank{rank}.safetensors")
        for k in one:
            torch.testing.assert_close(two[k], one[k], rtol=1e-5, atol=1e-6, msg=k)
    # the step moved every weight by more than the clipped signal (<= C / B = 0.0625):
    # noise of sd sigma * C / B = 0.0625 was added, and not twice (that would not match)
    assert all(float((one[k] - start[k]).abs().max()) > 0 for k in one)


def test_ddp_fit_keeps_the_processes_in_step(tmp_path):
    """Each process sees other customers; the summed updates keep their weights equal."""
    spawn(fit_rank, free_port(), str(tmp_path))
    w0, w1 = (load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1))
    task, _ = vae_task(PLAN)
    init = task.net.state_dict()
    for k in w0:
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0, msg=k)
    assert any(not torch.equal(w0[k], init[k]) for k in w0)
    for r in (0, 1):  # the planned steps, on every process
        assert json.loads((tmp_path / f"rank{r}.json").read_text())["steps"] == PLAN.steps


# --- batches: each process its shard ----------------------------------------------------
def batches(rank: int, size: int, q: float | None) -> list[torch.Tensor]:
    b = IndexBatches(N, batch_size=8, sample_rate=q, steps_per_epoch=4, total=8, seed=3)
    b.shard(rank, size)
    return list(b) + list(b)


def test_plain_batches_are_split_between_processes():
    one = batches(0, 1, None)
    parts = [batches(r, 2, None) for r in (0, 1)]
    for s, whole in enumerate(one):
        union = torch.cat([parts[0][s], parts[1][s]])
        assert sorted(union.tolist()) == sorted(whole.tolist())


def test_poisson_batches_stay_in_the_shard_and_rank_zero_draws_as_one_process():
    for r in (0, 1):
        start, stop = distributed.shard(N, r, 2)
        drawn = torch.cat(batches(r, 2, 0.3))
        assert len(drawn) > 0 and bool(((drawn >= start) & (drawn < stop)).all())
    old = IndexBatches(N, batch_size=8, sample_rate=0.3, steps_per_epoch=4, total=8, seed=3)
    assert [b.tolist() for b in old] == [b.tolist() for b in batches(0, 1, 0.3)[:4]]
    assert [len(b) for b in batches(0, 1, 0.3)] != [len(b) for b in batches(1, 2, 0.3)]


def test_dp_batches_are_the_one_process_batch_split_by_work():
    """With the customers' work given, every process draws the one-process Poisson
    batch and takes its part: disjoint parts that cover it, their work within the
    heaviest customer's of each other; not private, the same for the fixed-size batch."""
    weights = torch.randint(1, 60, (N,), generator=torch.Generator().manual_seed(0))
    for q in (0.3, None):

        def parts(rank: int, size: int, q=q) -> list[torch.Tensor]:
            b = IndexBatches(
                N,
                batch_size=8,
                sample_rate=q,
                steps_per_epoch=4,
                total=8,
                seed=3,
                weights=weights,
            )
            b.shard(rank, size)
            return list(b) + list(b)

        one = parts(0, 1)
        for size in (2, 3):
            split = [parts(r, size) for r in range(size)]
            for s, whole in enumerate(one):
                got = [split[r][s] for r in range(size)]
                union = torch.cat(got).tolist()
                assert sorted(union) == sorted(whole.tolist()) and len(set(union)) == len(union)
                load = [int(weights[g].sum()) for g in got]
                assert max(load) - min(load) <= int(weights[whole].max())
    assert sum(len(b) for b in one) > 0


def test_balanced_part_is_as_even_as_greedy_allows():
    idx = torch.tensor([4, 1, 7, 2, 9])
    w = torch.zeros(10, dtype=torch.long)
    w[idx] = torch.tensor([5, 4, 3, 3, 3])
    got = [balanced_part(idx, w, r, 2).tolist() for r in (0, 1)]
    assert got == [[4, 2], [1, 7, 9]]  # 5 + 3 against 4 + 3 + 3 (greedy, heaviest first)
    assert balanced_part(idx, w, 0, 1).tolist() == idx.tolist()


def test_shards_cover_every_customer_once():
    for n, size in [(30, 2), (7, 3), (2, 4)]:
        spans = [distributed.shard(n, r, size) for r in range(size)]
        assert [i for a, b in spans for i in range(a, b)] == list(range(n))


# --- who writes, and who may train this way ---------------------------------------------
@pytest.mark.parametrize(
    "env, zero",
    [
        ({}, True),
        ({"RANK": "0", "LOCAL_RANK": "0"}, True),
        ({"RANK": "3", "LOCAL_RANK": "1"}, False),
        ({"LOCAL_RANK": "1"}, False),
        ({"NODE_RANK": "1"}, False),  # the process started on node 1 is not rank 0
        ({"SLURM_PROCID": "2"}, False),
    ],
)
def test_only_rank_zero_records(monkeypatch, env, zero):
    for var in ("RANK", "SLURM_PROCID", "NODE_RANK", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert distributed.launched_rank_zero() is zero
    assert distributed.is_worker(2, 1) is (not zero)
    assert not distributed.is_worker(1, 1)  # a one-process fit records, whatever the env


def test_ddp_is_refused_for_a_one_process_generator_and_bad_counts():
    with pytest.raises(ConfigError, match="trains in one process only.*'gan', 'vae'"):
        check_processes(generators.create("par"), {"devices": 2})
    with pytest.raises(ConfigError, match=r"num_nodes \(0\) must be integers >= 1"):
        check_processes(generators.create("vae"), {"num_nodes": 0})
    vae = {"devices": 2, "num_nodes": 2, "progress": None}
    assert check_processes(generators.create("vae"), vae) == {**vae, "accelerator": "auto"}
    one = {"devices": 1, "num_nodes": 1, "progress": None}  # what `journeylab fit` passes
    assert check_processes(generators.create("par"), one) == {"progress": None}


def test_the_accelerator_is_checked_before_any_training():
    vae, par = generators.create("vae"), generators.create("par")
    with pytest.raises(ConfigError, match="'tpu' is not one of"):
        check_processes(vae, {"accelerator": "tpu"})
    with pytest.raises(ConfigError, match="'par' trains on the CPU only"):
        check_processes(par, {"accelerator": "gpu"})
    assert check_processes(par, {"accelerator": "cpu", "progress": None}) == {"progress": None}
    assert check_processes(vae, {"accelerator": "cpu"}) == {"accelerator": "cpu"}
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="sees no CUDA GPU.*--accelerator cpu or auto"):
            check_processes(vae, {"accelerator": "gpu"})
