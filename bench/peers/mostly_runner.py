"""MOSTLY AI's engine (TabularARGN) as a benchmark peer, run in its own environment.

    .venv-mostly/bin/python bench/peers/mostly_runner.py SPEC.json

It imports nothing of JourneyLab (whose environment it does not share): the
benchmark passes the train events and context as Parquet files and a JSON spec
(paths, column roles, the schema's domains, budget, seed); this script fits,
samples and writes back a Parquet in JourneyLab's event-log layout plus a JSON
of measurements. Keys of the spec:

    train_events, train_context   Parquet: events (key, time, event columns) and
                                  one context row per customer (key, context columns)
    key, time                     the customer id and timestamp columns
    event_columns, context_columns
    categories {col: [values]}    declared categorical domains
    bounds {col: [min, max]}      declared numeric bounds
    time_range [start, end)       declared time range, or null
    max_length                    longest journey kept, or null
    n_samples, minutes, seed
    epsilon, delta                total DP budget (null epsilon: no DP)
    context_mode                  "model" (a flat TabularARGN learns the context table)
                                  or "bootstrap" (train context rows resampled: NOT private)
    time_policy                   "drop" (default) or "clip" events outside the time range
    workspace, out_events, out_json

Budget split (total = the job's epsilon, delta): MOSTLY's `max_epsilon` caps a
model's total, its value protection (the DP analysis of value ranges) included,
and its progress log reports that total. The sequence model's cap is 85% of
epsilon, a quarter of epsilon going to value protection; the context model's
cap is 15%, 5% of epsilon going to value protection; each model gets half of
delta. Value protection splits its epsilon over every column
and the sequence length; below about 2 in all on Complete Journey its DP
quantiles of the sequence length fail and MOSTLY falls back to journeys of one
event (MOSTLY's default value_protection_epsilon is 1.0), hence the 25%.
MOSTLY checks the cap only at the end of an epoch, and a run that ends before
its first checkpoint saves its weights whatever they spent, so the spent
epsilon reported is the largest in the progress log, which may exceed the cap.

MOSTLY's output is converted by `to_event_frame`, which only ever drops or
clips what JourneyLab's validation would refuse, and counts every such repair
(`conversion` in the JSON): events are sorted by time within a journey (MOSTLY
does not order them), events outside the time range are dropped (or, with
time_policy "clip", moved to its nearest end), events with values outside a
categorical domain or with missing values are dropped, numbers outside their
bounds are clipped, exact duplicate events dropped, journeys longer than
max_length truncated to their first events.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

# model: (share of epsilon capping its total, share spent on value protection)
EPS_SHARES = {"seq": (0.85, 0.25), "ctx": (0.15, 0.05)}
MAX_EPOCHS = 100  # MOSTLY's default


# --- pure parts (tested in JourneyLab's environment) ------------------------------------
def to_event_frame(events: pd.DataFrame, context: pd.DataFrame, spec: dict) -> tuple:
    """MOSTLY's sampled events + the sampled context -> (event-log frame, counts).

    The frame has the key, time, event and context columns, plain dtypes, sorted
    by key and time; the counts say what was dropped, clipped or truncated.
    """
    key, t = spec["key"], spec["time"]
    ev = events[[key, t] + list(spec["event_columns"])].copy()
    ev[key] = ev[key].astype(str)
    counts = {"events_in": int(len(ev)), "journeys_requested": int(spec["n_samples"])}
    ev[t] = pd.to_datetime(ev[t], errors="coerce").astype("datetime64[ns]")
    ev, counts["events_missing_value"] = _drop(ev, ev.isna().any(axis=1))
    if spec.get("time_range"):
        ev, counts["events_out_of_time_range"] = _time_range(ev, t, spec)
    bad = pd.Series(False, index=ev.index)
    for col, values in (spec.get("categories") or {}).items():
        if col in spec["event_columns"]:
            ev[col] = ev[col].astype(str)
            bad |= ~ev[col].isin(values)
    ev, counts["events_out_of_domain"] = _drop(ev, bad)
    counts["values_clipped"] = 0
    for col, (lo, hi) in (spec.get("bounds") or {}).items():
        if col in spec["event_columns"]:
            x = ev[col].astype("float64")
            counts["values_clipped"] += int(((x < lo) | (x > hi)).sum())
            ev[col] = x.clip(lo, hi)
    ev = ev.sort_values([key, t] + list(spec["event_columns"]), kind="mergesort")
    ev, counts["events_duplicate"] = _drop(ev, ev.duplicated(keep="first"))
    ev, counts["journeys_truncated"], counts["events_truncated"] = _truncate(
        ev, key, spec.get("max_length")
    )
    ctx = context[[key] + list(spec["context_columns"])].copy()
    ctx[key] = ctx[key].astype(str)
    for col in spec["context_columns"]:
        ctx[col] = ctx[col].astype(str)
    out = ev.merge(ctx.drop_duplicates(key), on=key, how="inner", validate="many_to_one")
    counts["events_without_context"] = int(len(ev) - len(out))
    counts["journeys_out"] = int(out[key].nunique())
    counts["journeys_empty"] = counts["journeys_requested"] - counts["journeys_out"]
    counts["events_out"] = int(len(out))
    cols = [key, t] + list(spec["event_columns"]) + list(spec["context_columns"])
    return out[cols].reset_index(drop=True), counts


def _time_range(ev: pd.DataFrame, t: str, spec: dict) -> tuple[pd.DataFrame, int]:
    lo, hi = (pd.Timestamp(x) for x in spec["time_range"])
    out = (ev[t] < lo) | (ev[t] >= hi)
    policy = spec.get("time_policy", "drop")
    if policy == "drop":
        return _drop(ev, out)
    if policy != "clip":
        raise ValueError(f"time_policy {policy!r} is not 'drop' or 'clip'")
    ev = ev.assign(**{t: ev[t].clip(lo, hi - pd.Timedelta(seconds=1))})
    return ev, int(out.sum())


def _drop(df: pd.DataFrame, mask: pd.Series) -> tuple[pd.DataFrame, int]:
    mask = mask.to_numpy(dtype=bool)
    return df[~mask], int(mask.sum())


def _truncate(df: pd.DataFrame, key: str, max_length: int | None) -> tuple:
    if not max_length:
        return df, 0, 0
    over = (df.groupby(key, sort=False).cumcount() >= max_length).to_numpy()
    n_journeys = int(df.loc[over, key].nunique())
    return df[~over], n_journeys, int(over.sum())


def read_progress(path: str | Path) -> dict:
    """Training figures from MOSTLY's progress-messages.csv (one row per epoch or so)."""
    p = pd.read_csv(path)
    if p.empty:
        return {"epochs": 0.0, "steps": 0, "samples": 0, "train_seconds": 0.0}
    last = p.iloc[-1]
    out = {
        "epochs": float(last["epoch"]),
        "steps": int(last["steps"]),
        "samples": int(last["samples"]),
        "train_seconds": float(last["total_time"]),
        "val_loss": _last_valid(p, "val_loss"),
    }
    ckpt = p[p["is_checkpoint"] == 1]
    out["checkpoint_epoch"] = float(ckpt["epoch"].iloc[-1]) if len(ckpt) else None
    if "dp_eps" in p.columns:
        # The spent epsilon counts every step that touched the data, not only
        # those before the kept checkpoint.
        out["dp_epsilon"] = float(p["dp_eps"].max())
        out["dp_epsilon_checkpoint"] = float(ckpt["dp_eps"].iloc[-1]) if len(ckpt) else None
        out["dp_delta"] = float(last["dp_delta"])
    return out


def _last_valid(p: pd.DataFrame, col: str) -> float | None:
    if col not in p.columns:
        return None
    v = p[col].dropna()
    return float(v.iloc[-1]) if len(v) else None


def budget_split(epsilon: float | None, delta: float) -> dict | None:
    """Per-model DP settings whose sum is (epsilon, delta); None without DP."""
    if epsilon is None:
        return None
    return {
        m: {
            "max_epsilon": cap * epsilon,
            "delta": delta / 2,
            "value_protection_epsilon": value * epsilon,
        }
        for m, (cap, value) in EPS_SHARES.items()
    }


def spent(progress: dict, dp: dict) -> float:
    """A model's epsilon: its logged total (value protection included), else the analysis'."""
    logged = progress.get("dp_epsilon")
    return float(logged) if logged is not None else float(dp["value_protection_epsilon"])


def context_ids(n: int) -> list[str]:
    return [f"mostly-{i:07d}" for i in range(n)]


# --- MOSTLY (its environment only) ------------------------------------------------------
class StopLog(logging.Handler):
    """Collects MOSTLY's 'early stopping: ...' lines: why a training ended before its time."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("early stopping:"):
            self.lines.append(msg)


def stop_reason(lines: list[str], epochs: float) -> str:
    if lines:
        return lines[-1].removeprefix("early stopping:").strip()
    return "max_epochs" if epochs >= MAX_EPOCHS else "max_training_time"


def _argn(spec: dict, dp: dict | None, minutes: float, workspace: Path, **kw):
    from mostlyai.engine import TabularARGN
    from mostlyai.engine.domain import DifferentialPrivacyConfig

    return TabularARGN(
        max_training_time=minutes,
        differential_privacy=None if dp is None else DifferentialPrivacyConfig(**dp),
        workspace_dir=str(workspace),
        random_state=int(spec["seed"]),
        max_epochs=MAX_EPOCHS,
        verbose=1,  # its INFO lines go to the log and say why training stopped
        **kw,
    )


def fit_context(spec: dict, ctx: pd.DataFrame, split: dict | None, minutes: float) -> tuple:
    """New context rows: from a flat model of the context table, or resampled."""
    n, key, seed = int(spec["n_samples"]), spec["key"], int(spec["seed"])
    t0 = time.perf_counter()
    if spec.get("context_mode", "model") == "bootstrap":
        rows = ctx.sample(n, replace=True, random_state=seed).reset_index(drop=True)
        return rows.assign(**{key: context_ids(n)}), {"fit_seconds": 0.0, "sample_seconds": 0.0}
    ws = Path(spec["workspace"]) / "ctx"
    model = _argn(spec, None if split is None else split["ctx"], minutes, ws)
    model.fit(ctx.drop(columns=[key]))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    rows = model.sample(n_samples=n, rare_category_replacement_method="SAMPLE")
    stats = {
        "fit_seconds": fit_s,
        "sample_seconds": time.perf_counter() - t0,
        **read_progress(ws / "ModelStore" / "model-data" / "progress-messages.csv"),
    }
    rows = rows.reset_index(drop=True).assign(**{key: context_ids(n)})
    return rows[[key] + list(spec["context_columns"])], stats


def run(spec: dict) -> dict:
    key = spec["key"]
    events = pd.read_parquet(spec["train_events"])
    ctx = pd.read_parquet(spec["train_context"])
    split = budget_split(spec.get("epsilon"), float(spec.get("delta") or 1e-5))
    minutes = float(spec["minutes"])
    ctx_minutes = 0.0 if spec.get("context_mode") == "bootstrap" else max(0.1 * minutes, 0.2)
    new_ctx, ctx_stats = fit_context(spec, ctx, split, ctx_minutes)
    ws = Path(spec["workspace"]) / "seq"
    t0 = time.perf_counter()
    model = _argn(
        spec,
        None if split is None else split["seq"],
        minutes - ctx_minutes,
        ws,
        tgt_context_key=key,
        ctx_primary_key=key,
        ctx_data=ctx,
    )
    stops = StopLog()
    logging.getLogger("mostlyai").addHandler(stops)
    model.fit(events)
    logging.getLogger("mostlyai").removeHandler(stops)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    synth = model.sample(ctx_data=new_ctx, rare_category_replacement_method="SAMPLE")
    sample_s = time.perf_counter() - t0
    frame, counts = to_event_frame(synth, new_ctx, spec)
    frame.to_parquet(spec["out_events"], index=False)
    prog = read_progress(ws / "ModelStore" / "model-data" / "progress-messages.csv")
    out = summary(spec, split, prog, ctx_stats, fit_s, sample_s, counts, n_train=len(ctx))
    reason = stop_reason(stops.lines, prog["epochs"])
    return out | {
        "seq_max_training_minutes": minutes - ctx_minutes,
        "stop_reason": reason,
        "time_capped": reason == "max_training_time",
    }


def summary(spec, split, prog, ctx_stats, fit_s, sample_s, counts, *, n_train) -> dict:
    n = int(spec["n_samples"])
    eps = None
    private_ctx = spec.get("context_mode", "model") == "model"
    if split is not None:
        eps = spent(prog, split["seq"])
        eps += spent(ctx_stats, split["ctx"]) if private_ctx else 0.0
    return {
        "fit_seconds": fit_s + ctx_stats["fit_seconds"],
        "seq_fit_seconds": fit_s,
        "train_seconds": prog["train_seconds"],
        "train_customers": prog["samples"],
        "train_epochs": prog["epochs"],
        "train_customers_per_second": prog["samples"] / max(prog["train_seconds"], 1e-9),
        "n_train_customers": n_train,
        "sample_seconds": sample_s + ctx_stats["sample_seconds"],
        "journeys_per_second": n / max(sample_s + ctx_stats["sample_seconds"], 1e-9),
        "peak_rss_mb": peak_rss_mb(),
        "epsilon_spent": eps,
        "delta": None if split is None else float(spec["delta"]),
        "dp_split": split,
        "progress": prog,
        "context": ctx_stats,
        "context_mode": spec.get("context_mode", "model"),
        "context_private": private_ctx,
        "conversion": counts,
        "time_policy": spec.get("time_policy", "drop"),
        "versions": versions(),
    }


def peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("mostlyai-engine", "torch", "opacus", "pandas")}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: mostly_runner.py SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    np.random.seed(int(spec["seed"]))  # a script, not a library: MOSTLY seeds globally anyway
    result = run(spec)
    Path(spec["out_json"]).write_text(json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
