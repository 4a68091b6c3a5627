"""CLI commands of the `generators` package: `journeylab fit` and `journeylab sample`.

Both log to MLflow (journeys.tracking convention). A fit that fails ends its
run FAILED and saves no model; a DP fit records the spent budget as metrics,
in the model file and as the run's `privacy.json` artefact.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from generators import base
from journeys.cli import SchemaOpt, TruncOpt, err, out, read_log
from journeys.errors import ConfigError, PrivacyBudgetError
from privacy.ledger import Ledger
from privacy.release import private_release

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Generator: gan, vae or par.")]


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, str]:
    """['k=v', ...] -> {'k': 'v'}; a malformed pair names itself and the fix."""
    result = {}
    for p in pairs or []:
        if "=" not in p:
            raise ConfigError(f"{what} '{p}' is not KEY=VALUE; write e.g. {what} age=45-54")
        k, v = p.split("=", 1)
        result[k.strip()] = v.strip()
    return result


def _typed(v: str):
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def fit(
    data: Annotated[Path, typer.Option("--data", "-d", help="Real training log.")],
    model: ModelOpt = "vae",
    schema: SchemaOpt = None,
    truncate: TruncOpt = False,
    epsilon: Annotated[float | None, typer.Option(help="DP budget; omit for no DP.")] = None,
    delta: Annotated[float | None, typer.Option(help="DP delta (default < 1/N).")] = None,
    max_grad_norm: Annotated[float, typer.Option(help="Per-customer clipping bound.")] = 1.0,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    config: Annotated[
        list[str] | None,
        typer.Option("--config", "-c", help="Extra generator config KEY=VALUE (repeatable)."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Also save the model here (it is always logged to MLflow)."
        ),
    ] = None,
) -> None:
    """Train a journey generator on a real log (customer-level DP with --epsilon)."""
    import mlflow

    from journeys.tracking import start_run
    from privacy.budget import PrivacyBudget

    cfg = {k: _typed(v) for k, v in parse_pairs(config, "--config").items()}
    if epochs is not None:
        cfg["epochs"] = epochs
    gen = base.create(model, cfg)
    budget = None
    if epsilon is not None or delta is not None:
        if epsilon is None:
            raise ConfigError("--delta needs --epsilon; pass both, or neither for no DP")
        budget = PrivacyBudget(epsilon=epsilon, delta=delta, max_grad_norm=max_grad_norm)
        if not type(gen).supports_dp:
            dp = sorted(n for n, c in base.REGISTRY.items() if c.supports_dp)
            raise ConfigError(
                f"generator '{model}' has no differential privacy; drop --epsilon "
                f"for a non-private baseline, or use one of {dp}"
            )
    log = read_log(data, schema, truncate)
    if budget is not None:
        budget.resolve_delta(log.n_customers)  # refuse delta >= 1/N before any run is opened
    ledger = Ledger()
    _refuse_over_cap(ledger, log.fingerprint(), budget)
    detail = f"{model}-" + (f"eps{epsilon:g}" if budget else "nodp")
    tags = {
        "generator": model,
        "epsilon": epsilon if budget else "inf",
        "caveat": "per-epoch losses are computed on real data and are not covered by the "
        "DP guarantee; the model and its samples are",
    }
    with start_run(
        "fit", dataset=log.schema.name, fingerprint=log.fingerprint(), detail=detail, tags=tags
    ) as run:
        run_id = run.info.run_id
        mlflow.log_params(
            {
                "data": str(data),
                "customers": log.n_customers,
                "events": log.n_events,
                **_flat(gen_config(gen)),
            }
        )
        t0 = time.perf_counter()
        record = private_release(
            log,
            budget,
            fit=lambda lg, b: gen.fit(lg, privacy=b).privacy_record,
            mechanism=f"dp-sgd/{model}",
            run_id=run_id,
            ledger=ledger,
        )
        fit_s = time.perf_counter() - t0
        _log_history(gen, fit_s)
        _log_privacy(record, run_id)
        with tempfile.TemporaryDirectory() as tmp:
            gen.save(Path(tmp) / "model")
            (Path(tmp) / "model" / "release.json").write_text(json.dumps(record, indent=1))
            mlflow.log_artifacts(str(Path(tmp) / "model"), "model")
            if out_dir is not None:
                if out_dir.exists():
                    shutil.rmtree(out_dir)
                shutil.copytree(Path(tmp) / "model", out_dir)
    spent = (
        f", epsilon spent {record['epsilon']:.3g} (delta {record['delta']:.2g}) of {epsilon:g}"
        if record["dp"]
        else ", not private (ledger: epsilon = inf)"
    )
    out.print(
        f"fitted {model} in {fit_s:.1f}s{spent}; MLflow run {run_id}"
        + (f"; model in {out_dir}" if out_dir else "")
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


def _finite(d: dict) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in d.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _log_history(gen, fit_s: float) -> None:
    import mlflow

    for i, row in enumerate(getattr(gen, "history", []) or []):
        mlflow.log_metrics(_finite({k: v for k, v in row.items() if k != "epoch"}), step=i)
    mlflow.log_metric("fit_seconds", fit_s)


def _refuse_over_cap(ledger: Ledger, fingerprint: str, budget) -> None:
    """Refuse before any MLflow run is opened; private_release re-checks atomically."""
    left_eps, left_delta = ledger.remaining(fingerprint)
    want = budget.epsilon if budget is not None else math.inf
    if want > left_eps:
        raise PrivacyBudgetError(
            f"dataset {fingerprint} has epsilon {left_eps:g} left under its cap; this run "
            f"needs {want:g}. Lower --epsilon, or raise the cap with `journeylab privacy cap`"
        )


def _log_privacy(record: dict, run_id: str) -> None:
    import mlflow

    from privacy.card import PrivacyCard

    mlflow.log_dict(record, "privacy_record.json")
    if not record["dp"]:
        return
    train = record["training"] or {}
    mlflow.log_metrics(
        _finite(
            {
                "privacy.epsilon": record["epsilon"],
                "privacy.delta": record["delta"],
                **{
                    f"privacy.{k}": train.get(k)
                    for k in (
                        "noise_multiplier",
                        "sample_rate",
                        "steps",
                        "epsilon_prv",
                        "max_grad_norm",
                    )
                },
            }
        )
    )
    for step, eps in train.get("epsilon_over_steps", []) or []:
        mlflow.log_metric("privacy.epsilon_spent", float(eps), step=int(step))
    PrivacyCard.from_record(record).log_to_mlflow(run_id)


def _model_dir(model_dir: Path | None, run_id: str | None) -> Path:
    if (model_dir is None) == (run_id is None):
        raise ConfigError("pass exactly one of --model-dir DIR or --run-id RUN")
    if model_dir is not None:
        return model_dir
    import mlflow

    from journeys.tracking import open_store

    open_store()
    try:
        return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model"))
    except Exception as e:  # MLflow raises several types for a missing run/artifact
        raise ConfigError(
            f"no model found for MLflow run '{run_id}' ({type(e).__name__}); "
            "pass the run id printed by `journeylab fit`"
        ) from e


def sample(
    n: Annotated[int, typer.Option("-n", help="Number of journeys.")] = 1000,
    output: Annotated[Path, typer.Option("--out", "-o", help="Output .parquet")] = Path(
        "synthetic.parquet"
    ),
    model_dir: Annotated[Path | None, typer.Option(help="Saved model folder.")] = None,
    run_id: Annotated[str | None, typer.Option(help="MLflow run of `journeylab fit`.")] = None,
    condition: Annotated[
        list[str] | None, typer.Option(help="Fix a context value KEY=VALUE (repeatable).")
    ] = None,
    seed: int = 0,
    batch_size: Annotated[int, typer.Option(help="Journeys per batch.")] = 1000,
) -> None:
    """Sample synthetic journeys from a trained generator, streamed to Parquet.

    Sampling a DP generator costs no extra budget (post-processing)."""
    import mlflow
    from rich.progress import Progress

    from journeys.eventlog import file_format
    from journeys.tracking import start_run

    if file_format(output) != "parquet":
        raise ConfigError(f"--out {output}: samples are streamed to Parquet; use a .parquet name")
    conditions = parse_pairs(condition, "--condition") or None
    path = _model_dir(model_dir, run_id)
    gen = base.load(path)
    meta = base.read_meta(path)
    t0 = time.perf_counter()
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("sampling", total=n)
        counts = base.sample_to_parquet(
            gen,
            n,
            output,
            batch_size=batch_size,
            seed=seed,
            conditions=conditions,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    secs = time.perf_counter() - t0
    schema_name = meta.get("schema", {}).get("name", "unknown")
    with start_run(
        "sample",
        dataset=schema_name,
        fingerprint=meta.get("dataset_fingerprint", ""),
        detail=gen.name,
        tags={"generator": gen.name, "fit_run_id": run_id or ""},
    ):
        mlflow.log_params(
            {
                "n": n,
                "seed": seed,
                "batch_size": batch_size,
                "conditions": json.dumps(conditions or {}),
                "output": str(output),
            }
        )
        mlflow.log_metrics(
            {"sample_seconds": secs, "journeys_per_second": n / max(secs, 1e-9), **counts}
        )
    out.print(
        f"sampled {counts['customers']} journeys ({counts['events']} events) in "
        f"{secs:.1f}s -> {output}"
    )


def register(app: typer.Typer) -> None:
    app.command("fit")(fit)
    app.command("sample")(sample)
