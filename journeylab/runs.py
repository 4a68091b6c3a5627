"""Runs: a fit, a sample or an evaluation as one tracked, accounted unit of work.

    fit = fit_run(train, model="vae", epsilon=8, config={"epochs": 3}, data_path="train.parquet")
    fit.run_id, fit.record["epsilon"], fit.generator.sample(100, seed=0)
    sample_run(run_id=fit.run_id, n=1000, out="synthetic.parquet")
    model_dir_of(fit.run_id)          # the fit run's saved model, as a local folder

One module does this; the `journeylab` CLI, the app and the Python API
(`journeylab.fit_run`) all call it, so a DP fit from Python is in the privacy
ledger and in MLflow exactly like one from the command line:
1. the budget is checked against the dataset's cap before any MLflow run opens;
2. an MLflow run of kind `fit` is opened (a failure ends it FAILED, no model);
3. the generator's `fit` reserves the budget in the ledger, estimates undeclared
   domains under DP, trains, and commits what it spent (privacy.release);
4. losses, epsilon over steps, the privacy record, the privacy card and the model
   (tensors + JSON) are logged; `out_dir` gets a copy of the model.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journeylab.generators import base, distributed
from journeylab.generators.sample_workers import check_workers, sample_in_workers
from journeylab.journeys.errors import ConfigError, PrivacyBudgetError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.files import atomic_write_folder
from journeylab.privacy.budget import PrivacyBudget
from journeylab.privacy.ledger import Ledger
from journeylab.privacy.release import training_budget
from journeylab.store import lineage_tags

# what a model folder written by fit holds; any other file in it is the user's
MODEL_FILES = {"model.safetensors", "config.json", "meta.json", "release.json", "state.json"}
FIT_CAVEAT = (
    "per-epoch losses are computed on real data and are not covered by the DP guarantee; "
    "the model and its samples are"
)


@dataclass
class FitResult:
    """What a fit run produced: the trained generator, its whole privacy record, the run."""

    generator: base.SequenceGenerator
    record: dict[str, Any]
    run_id: str
    fit_seconds: float
    model_dir: Path | None = None


@dataclass
class SampleResult:
    path: Path
    customers: int
    events: int
    seconds: float
    run_id: str
    lineage: dict[str, str] = field(default_factory=dict)


# --- fit ---------------------------------------------------------------------------------
def fit_run(
    log: EventLog,
    *,
    model: str = "vae",
    epsilon: float | None = None,
    delta: float | None = None,
    max_grad_norm: float = 1.0,
    config: dict[str, Any] | None = None,
    out_dir: str | Path | None = None,
    data_path: str | Path | None = None,
    ledger: Ledger | None = None,
    train_options: dict[str, Any] | None = None,
) -> FitResult:
    """Train generator `model` on `log` as a tracked run (see the module docstring).

    epsilon/delta: the total DP budget (preprocessing plus training); None: no DP.
    config: generator settings (e.g. {"epochs": 3}); out_dir: also save the model here
    (a new folder, or one holding an earlier JourneyLab model; anything else is refused).
    train_options: passed to the generator's training (e.g. {"progress": callback}).
    """
    import mlflow

    from journeylab.journeys.tracking import start_run

    gen = base.create(model, config)
    base.check_streams(gen, log)  # before any run opens
    budget = _budget(gen, epsilon, delta, max_grad_norm, log.n_customers)
    target = check_model_out(out_dir)
    train_options = train_options or {}
    train_options = check_processes(gen, train_options)
    if distributed.is_worker(train_options.get("devices", 1), train_options.get("num_nodes", 1)):
        return _worker_fit(gen, log, budget, train_options)
    ledger = ledger or Ledger()
    refuse_over_cap(ledger, log.fingerprint(), budget)
    if budget is not None:
        _refuse_unreachable(gen, log, budget)
    detail = f"{model}-" + (f"eps{epsilon:g}" if budget else "nodp")
    tags = {"generator": model, "epsilon": epsilon if budget else "inf", "caveat": FIT_CAVEAT}
    if budget is not None:
        tags["delta"] = budget.resolve_delta(log.n_customers)
    with start_run(
        "fit", dataset=log.schema.name, fingerprint=log.fingerprint(), detail=detail, tags=tags
    ) as run:
        run_id = run.info.run_id
        params = {"customers": log.n_customers, "events": log.n_events, **_flat(gen_config(gen))}
        params["processes"] = train_options.get("devices", 1) * train_options.get("num_nodes", 1)
        params["accelerator"] = distributed.resolved_accelerator(
            train_options.get("accelerator", "cpu")
        )
        if data_path is not None:
            params["data"] = str(data_path)
        mlflow.log_params(params)
        t0 = time.perf_counter()
        _fit_refusal_says_what_was_recorded(
            lambda: gen.fit(log, privacy=budget, ledger=ledger, run_id=run_id, **train_options),
            run_id,
            ledger,
        )
        fit_s = time.perf_counter() - t0
        record = gen.release
        _log_fit_scale(gen.fit_scale)
        _log_history(gen, fit_s)
        log_privacy(record, run_id)
        _save_model(gen, record, target)
    return FitResult(gen, record, run_id, fit_s, target)


def check_processes(gen, train_options: dict[str, Any]) -> dict[str, Any]:
    """Refuse DDP (devices x num_nodes > 1) for a generator that cannot train that way;
    the options that generator's fit takes (one process needs no process counts)."""
    devices, nodes = train_options.get("devices", 1), train_options.get("num_nodes", 1)
    if not isinstance(devices, int) or not isinstance(nodes, int) or devices < 1 or nodes < 1:
        raise ConfigError(
            f"devices ({devices!r}) and num_nodes ({nodes!r}) must be integers >= 1; "
            "e.g. --devices 2 for two processes on this machine"
        )
    if devices * nodes > 1 and not gen.supports_ddp:
        ddp = sorted(n for n, c in base.registry().items() if c.supports_ddp)
        raise ConfigError(
            f"generator '{gen.name}' trains in one process only; fit it with --devices 1 "
            f"--num-nodes 1, or use one of {ddp} for distributed training"
        )
    accelerator = check_accelerator(gen, train_options.get("accelerator", "auto"))
    if gen.supports_ddp:
        return {**train_options, "accelerator": accelerator}
    drop = ("devices", "num_nodes", "accelerator")  # trained on the CPU, in this process
    return {k: v for k, v in train_options.items() if k not in drop}


ACCELERATORS = ("auto", "cpu", "gpu")


def check_accelerator(gen, accelerator: str) -> str:
    """Where `gen` trains: refused, before any budget is reserved or run opened, when the
    choice is unknown, when a GPU is asked for and none is visible, or when `gen` cannot
    use one."""
    if accelerator not in ACCELERATORS:
        raise ConfigError(
            f"accelerator {accelerator!r} is not one of {list(ACCELERATORS)}; "
            "e.g. --accelerator auto (the GPU where one is present, else the CPU)"
        )
    if accelerator != "gpu":
        return accelerator
    if not gen.supports_ddp:
        raise ConfigError(
            f"generator '{gen.name}' trains on the CPU only; fit it with --accelerator cpu "
            "(or auto), or use a neural generator (vae, gan) on the GPU"
        )
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            "--accelerator gpu: PyTorch sees no CUDA GPU on this machine (torch "
            f"{torch.__version__}); use --accelerator cpu or auto, or install a CUDA build "
            "of torch where a GPU and its driver are present"
        )
    return accelerator


def _worker_fit(gen, log: EventLog, budget, train_options: dict[str, Any]) -> FitResult:
    """A DDP process other than rank 0: it trains its shard of the customers and records
    nothing. Rank 0 reserves and commits the budget in the ledger, logs the MLflow run
    and saves the model; the throwaway ledger here only lets this process run the same
    (seeded) DP preprocessing as rank 0, so that both train on the same encoding. The
    generator returned holds the trained weights but no journey profile."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="journeylab-rank-") as tmp:
        ledger = Ledger(Path(tmp) / "ledger.jsonl")
        gen.fit(log, privacy=budget, ledger=ledger, run_id="ddp-worker", **train_options)
    return FitResult(gen, gen.release, run_id="", fit_seconds=time.perf_counter() - t0)


def _budget(gen, epsilon, delta, max_grad_norm, n_customers) -> PrivacyBudget | None:
    if epsilon is None and delta is None:
        return None
    if epsilon is None:
        raise ConfigError("--delta needs --epsilon; pass both, or neither for no DP")
    if not type(gen).supports_dp:
        dp = sorted(n for n, c in base.registry().items() if c.supports_dp)
        raise ConfigError(
            f"generator '{gen.name}' has no differential privacy; drop --epsilon "
            f"for a non-private baseline, or use one of {dp}"
        )
    budget = PrivacyBudget(epsilon=epsilon, delta=delta, max_grad_norm=max_grad_norm)
    budget.resolve_delta(n_customers)  # refuse delta >= 1/N before any run is opened
    return budget


def check_model_out(out_dir: str | Path | None) -> Path | None:
    """A folder `fit` may write its model to: new, empty, or an earlier model of ours.

    Anything else (the training data's folder, the project root with mlruns/) is
    refused before training: a model is never written over other files."""
    if out_dir is None:
        return None
    target = Path(out_dir)
    if target.exists() and not target.is_dir():
        raise ConfigError(f"--out {target} is a file; pass a folder name for the model")
    if target.is_dir() and any(target.iterdir()) and not (target / "meta.json").is_file():
        raise ConfigError(
            f"--out {target} is a folder holding other files (not a JourneyLab model); "
            "pass a new folder name, e.g. --out models/my-model. Nothing was changed"
        )
    other = sorted(p.name for p in target.iterdir()) if target.is_dir() else []
    other = [name for name in other if name not in MODEL_FILES]
    if other:
        raise ConfigError(
            f"--out {target} holds a model and other files {other[:5]}, which replacing the "
            "model would delete; move them, or pass a new folder name. Nothing was changed"
        )
    return target


def _save_model(gen, record: dict, target: Path | None) -> None:
    """Log the model to the run; copy it to `target`, replacing only an earlier model."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model"
        gen.save(model)
        (model / "release.json").write_text(json.dumps(record, indent=1))
        for name, sha in (base.read_meta(model).get("tensor_sha256") or {}).items():
            mlflow.set_tag(f"journeylab.sha256.{name}", sha)  # binds the run to its weights
        mlflow.log_artifacts(str(model), "model")
        if target is not None:  # replaces only an earlier model of ours (check_model_out)
            atomic_write_folder(
                target, lambda staged: shutil.copytree(model, staged, dirs_exist_ok=True)
            )


def _refuse_unreachable(gen, log: EventLog, budget: PrivacyBudget) -> None:
    """A budget no noise multiplier reaches is refused before any run opens or any charge."""
    try:
        gen.check_budget(log.n_customers, training_budget(log, budget))
    except PrivacyBudgetError as e:
        raise PrivacyBudgetError(
            f"{e}. Nothing was recorded: no ledger entry, no MLflow run"
        ) from e


def _fit_refusal_says_what_was_recorded(
    fit: Callable[[], Any], run_id: str, ledger: Ledger
) -> None:
    """A refusal at reserve time (another run got there first) comes inside the MLflow
    run, which ends FAILED: say what was recorded instead of 'nothing was recorded'."""
    try:
        fit()
    except PrivacyBudgetError as e:
        charged = [r for r in ledger.entries() if r.run_id == run_id]
        ledger_says = (
            f"the ledger charges it epsilon {charged[0].spent_epsilon:g} (status "
            f"{charged[0].status})"
            if charged
            else "the privacy ledger has no entry for it"
        )
        raise PrivacyBudgetError(
            f"{e} Recorded: MLflow run {run_id}, ended FAILED with this message; {ledger_says}."
        ) from e


def refuse_over_cap(ledger: Ledger, fingerprint: str, budget: PrivacyBudget | None) -> None:
    """Refuse before any MLflow run is opened; the ledger re-checks atomically at reserve."""
    ledger.check_verified("this run")
    left_eps, _ = ledger.remaining(fingerprint)
    want = budget.epsilon if budget is not None else math.inf
    if want > left_eps:
        raise PrivacyBudgetError(
            f"dataset {fingerprint} has epsilon {left_eps:g} left under its cap; this run "
            f"needs {want:g}. Lower --epsilon, or raise the cap with `journeylab privacy cap`. "
            "Nothing was recorded: no ledger entry, no MLflow run"
        )


def gen_config(gen) -> dict:
    cfg = getattr(gen, "config", None)
    return cfg.to_dict() if hasattr(cfg, "to_dict") else {}


def _flat(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flat(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def finite(d: dict) -> dict[str, float]:
    """The finite numbers of a dict, as floats (MLflow refuses the rest)."""
    return {
        k: float(v)
        for k, v in d.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _log_fit_scale(scale: dict | None) -> None:
    """A fit on a subsample of a partitioned log: how many customers it used, and why."""
    import mlflow

    if scale is None:
        return
    mlflow.log_params({k: scale[k] for k in ("fit_customers", "subsample_seed")})
    mlflow.set_tag("journeylab.note", scale["note"])
    mlflow.log_dict(scale, "fit_scale.json")


def _log_history(gen, fit_s: float) -> None:
    import mlflow

    for i, row in enumerate(getattr(gen, "history", []) or []):
        mlflow.log_metrics(finite({k: v for k, v in row.items() if k != "epoch"}), step=i)
    mlflow.log_metric("fit_seconds", fit_s)


def log_privacy(record: dict, run_id: str) -> None:
    """The privacy record, its headline figures, epsilon over steps and the privacy card."""
    import mlflow

    from journeylab.privacy.card import PrivacyCard

    mlflow.log_dict(record, "privacy_record.json")
    if not record["dp"]:
        return
    train = record["training"] or {}
    keys = ("noise_multiplier", "sample_rate", "steps", "epsilon_prv", "max_grad_norm")
    figures = {"privacy.epsilon": record["epsilon"], "privacy.delta": record["delta"]}
    figures.update({f"privacy.{k}": train.get(k) for k in keys})
    mlflow.log_metrics(finite(figures))
    for step, eps in train.get("epsilon_over_steps", []) or []:
        mlflow.log_metric("privacy.epsilon_spent", float(eps), step=int(step))
    PrivacyCard.from_record(record).log_to_mlflow(run_id)


# --- models of runs ----------------------------------------------------------------------
def model_dir_of(run_id: str, dst: str | Path | None = None, *, uri: str | None = None) -> Path:
    """The `model` artefact of fit run `run_id` as a local folder (the one helper for it).

    `uri`: the tracking store (default: `journeys.tracking`'s, which this opens). With
    `dst` None a local artefact store's folder is returned in place, not copied."""
    import mlflow

    from journeylab.journeys.tracking import open_store

    if uri is None:
        open_store()
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path="model",
            dst_path=None if dst is None else str(dst),
            tracking_uri=uri,
        )
    except Exception as e:  # MLflow raises several types for a missing run/artifact
        raise ConfigError(
            f"no model found for MLflow run '{run_id}' ({type(e).__name__}); "
            "pass the run id printed by `journeylab fit` (the run may have failed "
            "before saving its model, or its files were moved or deleted)"
        ) from e
    return Path(path)


def resolve_model(model_dir: str | Path | None, run_id: str | None) -> Path:
    if (model_dir is None) == (run_id is None):
        raise ConfigError("pass exactly one of --model-dir DIR or --run-id RUN")
    return Path(model_dir) if model_dir is not None else model_dir_of(run_id)


# --- sample ------------------------------------------------------------------------------
def sample_run(
    *,
    n: int,
    out: str | Path,
    model_dir: str | Path | None = None,
    run_id: str | None = None,
    seed: int = 0,
    batch_size: int = 1000,
    conditions: dict[str, Any] | None = None,
    context=None,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
    partitioned: bool = False,
) -> SampleResult:
    """Sample `n` journeys of a saved model (or a fit run's) into Parquet, as a `sample`
    run tagged with its lineage (generator, epsilon, delta, fit run). Sampling a DP
    model costs no budget (post-processing). `context`: a DataFrame, one row per
    journey, fixing each journey's context values (generators/context.py). `workers` > 1
    samples in that many processes (generators/sample_workers.py): the same file as with
    one. `partitioned` writes a partitioned dataset folder instead of one file
    (journeys/partitioned.py)."""
    import mlflow

    from journeylab.journeys.eventlog import file_format
    from journeylab.journeys.tracking import start_run

    out = Path(out)
    check_workers(workers)
    if file_format(out) != "parquet":
        raise ConfigError(f"--out {out}: samples are streamed to Parquet; use a .parquet name")
    path = resolve_model(model_dir, run_id)
    gen = base.load(path)
    meta = base.read_meta(path)
    t0 = time.perf_counter()
    batches = {
        "batch_size": batch_size,
        "seed": seed,
        "conditions": conditions,
        "partitioned": partitioned,
    }
    if workers > 1 and context is not None:
        raise ConfigError(
            "--workers and --context do not go together yet; sample a context table "
            "with one worker (drop --workers)"
        )
    if workers > 1:
        counts = sample_in_workers(path, n, out, workers=workers, progress=progress, **batches)
    else:
        counts = base.sample_to_parquet(gen, n, out, progress=progress, context=context, **batches)
    secs = time.perf_counter() - t0
    lineage = lineage_of(path, run_id)
    with start_run(
        "sample",
        dataset=meta.get("schema", {}).get("name", "unknown"),
        fingerprint=meta.get("dataset_fingerprint", ""),
        detail=gen.name,
        tags=lineage,
    ) as run:
        mlflow.log_params(
            {
                "n": n,
                "seed": seed,
                "batch_size": batch_size,
                "workers": workers,
                "partitioned": partitioned,
                "conditions": json.dumps(conditions or {}),
                "context_rows": 0 if context is None else len(context),
                "output": str(out),
            }
        )
        mlflow.log_metrics(
            {"sample_seconds": secs, "journeys_per_second": n / max(secs, 1e-9), **counts}
        )
    return SampleResult(out, counts["customers"], counts["events"], secs, run.info.run_id, lineage)


def lineage_of(model_dir: Path, fit_run_id: str | None) -> dict[str, str]:
    """Tags every run derived from a model carries: generator, epsilon, delta, fit run.

    The budget is the whole release's (release.json: preprocessing plus training),
    else the training record saved in meta.json."""
    meta = base.read_meta(model_dir)
    release = Path(model_dir) / "release.json"
    record = json.loads(release.read_text()) if release.is_file() else meta.get("privacy")
    return lineage_tags(str(meta.get("generator", "unknown")), record, fit_run_id or "")


# --- evaluate ----------------------------------------------------------------------------
def evaluate_run(
    inputs, config, target: Path, *, status: Callable[[str], None] | None = None
) -> tuple[dict, str]:
    """Compute, log and write one report inside an MLflow run of kind `evaluate`:
    any failure ends it FAILED and leaves no report file. (report, run id)."""
    import mlflow

    from journeylab.evaluation.report import (
        evaluate,
        flat_metrics,
        report_files,
        write_report,
    )
    from journeylab.journeys.tracking import start_run

    tags = {
        "fit_run_id": inputs.fit_run_id,
        **inputs.lineage,  # generator, epsilon, delta and fit run of the synthetic log
        "evaluated_run_id": inputs.source.get("run_id", ""),
        "synthetic_fingerprint": inputs.synthetic.fingerprint(),
        "caveat": "fidelity, utility and audits are computed on real data and are not "
        "covered by the DP guarantee",
    }
    with start_run(
        "evaluate",
        dataset=inputs.train.schema.name,
        fingerprint=inputs.train.fingerprint(),
        detail=_detail(inputs),
        tags=tags,
    ) as run:
        params = {k: ",".join(v) if isinstance(v, list) else v for k, v in config.to_dict().items()}
        mlflow.log_params({**inputs.paths, "out": str(target), **params})
        report = evaluate(
            inputs.train,
            inputs.holdout,
            inputs.synthetic,
            privacy_record=inputs.privacy_record,
            cost=inputs.cost,
            source={**inputs.source, "evaluate_run_id": run.info.run_id},
            config=config,
            progress=status,
        )
        files = report_files(report)
        mlflow.log_metrics(flat_metrics(report))
        for name, text in files.items():
            mlflow.log_text(text, f"report/{name}")
        extra = {"synthetic.parquet": inputs.synthetic.df} if inputs.sampled else None
        write_report(report, target, files=files, extra=extra)
        return report, run.info.run_id


def _detail(inputs) -> str:
    path = inputs.paths.get("synthetic")
    return Path(path).stem if path else f"sampled-{inputs.fit_run_id[:8]}"
