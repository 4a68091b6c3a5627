"""Pieces shared by the benchmarks: job names, one fit + sample measured, child processes.

A job name is `<model>-nodp`, `<model>-eps<E>` or a bare model name (`par`):

    parse_job("vae-eps8") == ("vae", 8.0);  parse_job("par") == ("par", None)

Each job runs in a child process of the benchmark (`run_child`), which prints
one line `RESULT <json>`; its peak memory is then the child's own.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import time
from collections.abc import Iterable
from typing import Any

from journeylab.journeys.errors import ConfigError


def parse_job(job: str) -> tuple[str, float | None]:
    """'vae-eps8' -> ('vae', 8.0); 'gan-nodp' and 'par' -> (model, None)."""
    model, _, dp = job.partition("-")
    if dp in ("", "nodp"):
        return model, None
    try:
        eps = float(dp.removeprefix("eps"))
    except ValueError:
        eps = math.nan
    if not dp.startswith("eps") or not eps > 0:
        raise ConfigError(
            f"job '{job}': write <model>-nodp or <model>-eps<E> with E > 0, e.g. vae-eps8"
        )
    return model, eps


def parse_config(text: str, option: str, models: Iterable[str] = ()) -> dict:
    """A JSON object of config settings given on the command line (`option` names it),
    checked against the config of each of `models` before any job starts."""
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{option}: not JSON ({e}); write e.g. '{{\"d_model\": 48}}'") from e
    if not isinstance(cfg, dict):
        raise ConfigError(f"{option}: give a JSON object of config settings, got {text!r}")
    if cfg:
        from journeylab.generators import create

        for model in dict.fromkeys(models):
            try:
                create(model, cfg)
            except ConfigError as e:
                raise ConfigError(f"{option} for {model}: {e}") from e
    return cfg


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit_and_sample(
    model: str,
    eps: float | None,
    train,
    n: int,
    *,
    cfg: dict[str, Any],
    seed: int,
    fit_kwargs: dict[str, Any] | None = None,
) -> tuple:
    """Create `model` with `cfg`, fit on `train` (DP at `eps` if given), sample `n` journeys.

    Returns (generator, synthetic EventLog, measures); the peak memory is taken
    right after sampling, before any evaluation.
    """
    from journeylab.generators import create
    from journeylab.privacy import PrivacyBudget

    gen = create(model, cfg)
    budget = PrivacyBudget(epsilon=eps) if eps is not None else None
    t0 = time.perf_counter()
    gen.fit(train, privacy=budget, **(fit_kwargs or {}))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    synth = gen.sample(n, seed=seed)
    sample_s = time.perf_counter() - t0
    return (
        gen,
        synth,
        {
            "fit_seconds": fit_s,
            "sample_seconds": sample_s,
            "sampled": n,
            "journeys_per_second": n / sample_s,
            "peak_rss_mb": peak_rss_mb(),
        },
    )


def child_env() -> dict[str, str]:
    """This environment, with the repository root on PYTHONPATH: a child started as
    `python -m bench.X` finds bench/ whatever its working folder. It comes after the
    PYTHONPATH given (bench/gpu_epoch.sh puts journeylab's import root there first)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([path, root]) if path else root}


def run_child(
    cmd: list[str], *, timeout: float | None = None, env: dict[str, str] | None = None
) -> tuple[dict | None, str]:
    """Run a benchmark child; returns (its RESULT dict or None, the tail of its stderr)."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        return None, f"timed out after {timeout:.0f} s\n{(err or '')[-3000:]}"
    res = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not res:
        return None, f"exit code {p.returncode}\n{p.stderr[-3000:]}"
    return json.loads(res[-1].removeprefix("RESULT ")), p.stderr[-3000:]
