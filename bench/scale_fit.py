"""One DP fit on a partitioned simulator build, in a child process, its phases timed.

Run by `python -m bench.bench_scale --fit-steps S` (bench_scale.py): the child opens the
partitioned dataset as `journeylab fit` does (StreamedLog: one validating pass, then
chunks), and fits the default VAE under customer-level DP with `max_steps = S`, so a
fit at a million customers takes minutes, not the hours of a whole epoch. The child
reports, from its own clock and its own peak resident memory:

- open: the validating pass (what `journeylab validate` does);
- encode: the journeys encoded chunk by chunk into the compact store;
- steps: S DP-SGD steps (Poisson batches of expected size `batch_size`), hence the
  seconds per step; a step's work follows the batch, not the number of customers;
- profile: the DP journey profile (streamed passes) and the VAE's calibration to it;
- the projected epoch: seconds per step x the planned steps of one whole epoch
  (N / batch_size). It is a projection from S measured steps, labelled as such.

Each phase has its wall seconds and its CPU seconds (time.process_time: on cores
shared with other users' jobs, wall time follows their load, CPU time much less).

The ledger is a temporary file; no MLflow run is made (that is `journeylab fit`'s only
addition: logging the run and the model).
"""

from __future__ import annotations

import math
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench.common import peak_rss_mb
from journeylab.generators.distributed import resolved_accelerator

FIT_CONFIG = {"epochs": 1, "seed": 0}  # the default VAE otherwise


def fit_once(
    events: Path,
    *,
    steps: int,
    epsilon: float,
    config: dict[str, Any],
    accelerator: str = "auto",
) -> dict:
    """The measured DP fit of the partitioned dataset at `events` (see the module), its
    DP-SGD steps on `accelerator` (Lightning's: cpu, gpu or auto)."""
    from journeylab.generators import create, neural
    from journeylab.journeys.datasets import resolve_schema
    from journeylab.journeys.streamed import StreamedLog
    from journeylab.privacy.budget import PrivacyBudget
    from journeylab.privacy.ledger import Ledger

    clock: dict[str, float] = {}
    _time(neural.JourneyData, "from_log", clock, "encode_seconds")
    _time(neural, "run_training", clock, "train_seconds")
    _time(neural.JourneyProfile, "fit", clock, "profile_seconds")
    _time(neural, "calibrate", clock, "calibrate_seconds")
    t0, c0 = time.perf_counter(), time.process_time()
    log = StreamedLog.open(events, resolve_schema(None, events))
    open_s, open_cpu = time.perf_counter() - t0, time.process_time() - c0
    gen = create("vae", {**FIT_CONFIG, **config, "max_steps": steps})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        budget, ledger = PrivacyBudget(epsilon=epsilon), Ledger(Path(tmp) / "l.jsonl")
        gen.fit(log, privacy=budget, ledger=ledger, accelerator=accelerator)
        fit_s = time.perf_counter() - t0
    train = gen.release["training"]
    per_step = clock["train_seconds"] / train["steps"]
    per_step_cpu = clock["train_cpu_seconds"] / train["steps"]
    epoch_steps = math.ceil(1 / train["sample_rate"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    encoded_mb = clock.pop("encoded_bytes") / 2**20
    return {
        "customers": log.n_customers,
        "events": log.n_events,
        "open_seconds": round(open_s, 1),
        "open_cpu_seconds": round(open_cpu, 1),
        **{k: round(v, 3) for k, v in clock.items()},  # a tiny fit encodes in ms
        "fit_seconds": round(fit_s, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "steps": train["steps"],
        "expected_batch_size": train["expected_batch_size"],
        "seconds_per_step": round(per_step, 3),
        "epoch_steps": epoch_steps,
        "projected_epoch_seconds": round(per_step * epoch_steps, 1),
        "cpu_seconds_per_step": round(per_step_cpu, 3),
        "projected_epoch_cpu_seconds": round(per_step_cpu * epoch_steps, 1),
        "encoded_mb": round(encoded_mb, 3),
        "training_epsilon": round(train["epsilon"], 3),
        "epsilon": round(gen.release["epsilon"], 3),
        "peak_rss_mb": round(peak_rss_mb()),
        "accelerator": resolved_accelerator(accelerator),
        "device": _device_name(resolved_accelerator(accelerator)),
        "threads": torch.get_num_threads(),
    }


def _device_name(accelerator: str) -> str:
    """What the steps ran on: the GPU's name, or the CPU's model."""
    if accelerator == "gpu" and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "cpu"
    names = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")]
    return f"{names[0]} ({len(names)} logical CPUs)" if names else "cpu"


def _time(owner: Any, name: str, clock: dict[str, float], key: str) -> None:
    """Wrap `owner.name` so that each call adds its wall seconds to clock[key] and its
    CPU seconds (this process's: what other users' load hardly changes) to the matching
    *_cpu_seconds (a bench child only: the library itself is not changed)."""
    inner = getattr(owner, name)

    cpu = key.replace("_seconds", "_cpu_seconds")

    def timed(*args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        out = inner(*args, **kwargs)
        clock[key] = clock.get(key, 0.0) + time.perf_counter() - t0
        clock[cpu] = clock.get(cpu, 0.0) + time.process_time() - c0
        if key == "encode_seconds":
            clock["encoded_bytes"] = float(out.nbytes())
        return out

    setattr(owner, name, timed)
