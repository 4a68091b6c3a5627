"""MOSTLY AI's engine as a job of bench/bench_peers.py, from JourneyLab's side.

The engine lives in its own environment (.venv-mostly, `make peers`), so it is run
as a separate process: `run_mostly` writes the train events and context as
Parquet plus a JSON spec (`mostly_spec`), runs bench/peers/mostly_runner.py
with .venv-mostly's Python, and validates what comes back with
`EventLog.from_frame` against the dataset's schema.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from bench.common import parse_job
from journeylab.journeys.errors import ConfigError, DataError, InternalError

MOSTLY_PY = Path(".venv-mostly/bin/python")
RUNNER = Path(__file__).resolve().parent / "mostly_runner.py"


def mostly_spec(
    schema,
    *,
    n: int,
    minutes: float,
    epsilon: float | None,
    delta: float | None,
    seed: int,
    work: Path,
    context_mode: str,
    time_policy: str = "drop",
) -> dict:
    """The JSON spec of bench/peers/mostly_runner.py: files, roles, declared domains."""
    cats = {
        c.name: list(c.values)
        for c in schema.events
        if c.kind == "categorical" and c.values is not None
    }
    bounds = {
        c.name: [c.min, c.max]
        for c in schema.events
        if c.kind == "numeric" and c.min is not None and c.max is not None
    }
    tr = None if schema.time_start is None else [str(schema.time_start), str(schema.time_end)]
    return {
        "train_events": str(work / "train-events.parquet"),
        "train_context": str(work / "train-context.parquet"),
        "key": schema.sequence_key,
        "time": schema.sequence_index,
        "event_columns": schema.event_names(),
        "context_columns": schema.context_names(),
        "categories": cats,
        "bounds": bounds,
        "time_range": tr,
        "max_length": schema.max_length,
        "n_samples": n,
        "minutes": minutes,
        "epsilon": epsilon,
        "delta": delta,
        "seed": seed,
        "context_mode": context_mode,
        "time_policy": time_policy,
        "workspace": str(work / "workspace"),
        "out_events": str(work / "synthetic.parquet"),
        "out_json": str(work / "result.json"),
    }


def run_mostly(
    job: str, train, n: int, *, minutes: float, seed: int, context_mode: str, time_policy: str
) -> tuple:
    import pandas as pd

    from journeylab.journeys import EventLog
    from journeylab.privacy import PrivacyBudget

    if not MOSTLY_PY.exists():
        raise ConfigError(f"{MOSTLY_PY} is missing; run `make peers` to create it")
    _, eps = parse_job(job)
    delta = None if eps is None else PrivacyBudget(epsilon=eps).resolve_delta(train.n_customers)
    with tempfile.TemporaryDirectory(prefix="journeylab-mostly-") as tmp:
        work = Path(tmp)
        spec = mostly_spec(
            train.schema,
            n=n,
            minutes=minutes,
            epsilon=eps,
            delta=delta,
            seed=seed,
            work=work,
            context_mode=context_mode,
            time_policy=time_policy,
        )
        train.df.drop(columns=train.schema.context_names()).to_parquet(spec["train_events"])
        train.context().to_parquet(spec["train_context"])
        (work / "spec.json").write_text(json.dumps(spec, indent=1))
        with open(work / "runner.log", "w") as log:
            p = subprocess.run(
                [str(MOSTLY_PY), str(RUNNER), str(work / "spec.json")],
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=minutes * 180 + 3600,
            )
        if p.returncode != 0:
            tail = (work / "runner.log").read_text()[-3000:]
            raise InternalError(f"mostly_runner exited with {p.returncode}:\n{tail}")
        res = json.loads(Path(spec["out_json"]).read_text())
        try:
            synth = EventLog.from_frame(pd.read_parquet(spec["out_events"]), train.schema)
        except DataError as e:
            raise InternalError(
                f"MOSTLY's converted output does not validate ({e}); "
                f"conversion counts {res['conversion']}"
            ) from e
    res["epochs"] = res.pop("train_epochs")
    res["settings"] = (
        f"TabularARGN defaults, max_training_time {minutes:g} min in all "
        f"(context {res['context_mode']}), epochs {res['epochs']:.2f}, "
        f"stopped by {res['stop_reason']}"
        + ("" if eps is None else f", DP split {res['dp_split']}")
    )
    return synth, res
