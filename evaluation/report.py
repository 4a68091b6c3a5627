"""One evaluation report per synthetic dataset: fidelity, utility, privacy and cost.

    from journeylab.evaluation.report import evaluate, write_report
    report = evaluate(train, holdout, synthetic, privacy_record=gen.privacy_record)
    report["fidelity"]["metrics"]["detection_auc"]     # journeys.fidelity.fidelity_report
    report["utility"]["rows"]                           # TRTR / TSTR per task and model
    report["privacy"]["audits"]["metrics"]              # privacy.audits.run_audits
    report["validity"]["unseen_pair_share"]             # evaluation.validity (vs train)
    write_report(report, "reports/vae-eps8")            # report.json + report.html, atomically

The report is a plain JSON-able dict (NaN and infinity written as null and the
string "inf"); `journeylab.evaluation.html.render(report)` draws the HTML from it alone.
Every figure computed on real data says so: none is covered by the DP guarantee.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from journeylab.journeys.config import strict_from_dict
from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.files import atomic_write_files
from journeylab.journeys.streamed import StreamedLog, shared_customers

FORMAT = 1
FIDELITY_CAVEAT = (
    "Fidelity metrics compare the synthetic journeys with real train and holdout "
    "customers: they are computed on real data and are not covered by the DP "
    "guarantee."
)
TASKS = ("churn", "purchase", "campaign_response")


@dataclass(frozen=True)
class EvaluateConfig:
    """What `evaluate` computes; written to report.json under `config`.

    models: predictor models for TRTR/TSTR (predictors.models.MODELS names).
    tasks: label tasks (churn, purchase, campaign_response if the schema has coupons).
    seed: seed of the detection classifier, the audits' samples and SDMetrics' subsample.
    max_targets: customers per side in the membership-inference audits.
    max_customers: with a partitioned (streamed) input, customers of each log in every
        figure but the streamed counts (evaluation/at_scale.py): a seeded subsample.
    sdmetrics: also run SDMetrics' QualityReport (a second opinion on fidelity).
    sdmetrics_max_rows: events per log given to SDMetrics (whole journeys, seeded sample).
    sankey_steps: first events of each journey in the channel Sankey (2..8).
    bins: bins of the histograms.
    """

    models: tuple[str, ...] = ("logreg", "gbm")
    tasks: tuple[str, ...] = ("churn", "purchase")
    seed: int = 0
    max_targets: int = 2000
    max_customers: int = 20_000
    sdmetrics: bool = True
    sdmetrics_max_rows: int = 50_000
    sankey_steps: int = 4
    bins: int = 40

    def __post_init__(self) -> None:
        from journeylab.predictors.models import MODELS

        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        p = [f"model '{m}' is not one of {sorted(MODELS)}" for m in self.models if m not in MODELS]
        p += [f"task '{t}' is not one of {list(TASKS)}" for t in self.tasks if t not in TASKS]
        if not self.models or not self.tasks:
            p.append("give at least one model and one task, e.g. --models logreg --task churn")
        if self.max_targets < 4:
            p.append(f"max_targets must be >= 4, got {self.max_targets}")
        if self.max_customers < 100:
            p.append(f"max_customers must be >= 100, got {self.max_customers}")
        if self.sdmetrics_max_rows < 1 or self.bins < 2:
            p.append("sdmetrics_max_rows must be >= 1 and bins >= 2")
        if not 2 <= self.sankey_steps <= 8:
            p.append(f"sankey_steps must be between 2 and 8, got {self.sankey_steps}")
        if p:
            raise ConfigError("; ".join(p))

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> EvaluateConfig:
        return strict_from_dict(cls, d, what="evaluate settings")


# --- the report -------------------------------------------------------------------------
def evaluate(
    train: EventLog,
    holdout: EventLog,
    synthetic: EventLog,
    *,
    privacy_record: dict | None = None,
    cost: dict[str, float] | None = None,
    source: dict[str, Any] | None = None,
    config: EvaluateConfig | dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The whole report as a JSON-able dict (see the module docstring).

    privacy_record: what the generator's DP training spent (a fit run's
        privacy_record.json, or `generator.privacy_record`); None when the
        synthetic log has no known DP origin (then: no formal guarantee).
    cost: known costs in seconds, e.g. {"fit_seconds": ..., "sample_seconds": ...}.
    source: where the inputs came from (paths, run ids); copied into the report.
    """
    from journeylab.evaluation.parts import privacy_section, sdmetrics_section, utility_section
    from journeylab.evaluation.plots import plot_data
    from journeylab.evaluation.validity import validity
    from journeylab.journeys.detection import giveaways
    from journeylab.journeys.fidelity import fidelity_report
    from journeylab.privacy.audits import run_audits

    cfg = config if isinstance(config, EvaluateConfig) else EvaluateConfig.from_dict(config)
    if any(isinstance(g, StreamedLog) for g in (train, holdout, synthetic)):
        return _at_scale(train, holdout, synthetic, cfg, privacy_record, cost, source, progress)
    check_inputs(train, holdout, synthetic)
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    say("fidelity: n-grams, Wasserstein-1, detection AUC")
    fidelity = {
        "metrics": fidelity_report(train, holdout, synthetic, seed=cfg.seed),
        "giveaways": giveaways(holdout, synthetic, seed=cfg.seed),
        "caveat": FIDELITY_CAVEAT,
    }
    if cfg.sdmetrics:
        say("fidelity: SDMetrics quality report")
        fidelity["sdmetrics"] = sdmetrics_section(
            train, holdout, synthetic, max_rows=cfg.sdmetrics_max_rows, seed=cfg.seed
        )
    utility = utility_section(
        train, holdout, synthetic, tasks=cfg.tasks, models=cfg.models, progress=say
    )
    say("privacy: membership inference, DCR, exact copies")
    audits = run_audits(
        train, holdout, synthetic, seed=cfg.seed, max_targets=cfg.max_targets
    ).to_dict()
    src = dict(source or {})
    privacy = privacy_section(privacy_record, audits, source=src.get("synthetic", "external"))
    say("plots")
    plots = plot_data(holdout, synthetic, bins=cfg.bins, steps=cfg.sankey_steps)
    costs = {**(cost or {}), "evaluate_seconds": time.perf_counter() - t0}
    report = {
        "format": FORMAT,
        "kind": "journeylab.evaluate",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": train.schema.name,
        "schema_fingerprint": train.schema.fingerprint(),
        "inputs": {
            k: _describe(g)
            for k, g in (("train", train), ("holdout", holdout), ("synthetic", synthetic))
        },
        "source": src,
        "config": cfg.to_dict(),
        "fidelity": fidelity,
        "validity": validity(train, synthetic),
        "utility": utility,
        "privacy": privacy,
        "cost": costs,
        "plots": plots,
    }
    report = json_safe(report)
    report["scorecard"] = [asdict(v) for v in report_scorecard(report)]
    return json_safe(report)


def _at_scale(train, holdout, synthetic, cfg, privacy_record, cost, source, progress):
    """A partitioned input: streamed counts over everyone, the rest on seeded subsamples."""
    from journeylab.evaluation.at_scale import evaluate_at_scale

    t0 = time.perf_counter()
    (progress or (lambda _m: None))(f"subsampling {cfg.max_customers} customers per log")

    def run(tr: EventLog, ho: EventLog, sy: EventLog) -> dict[str, Any]:
        return evaluate(
            tr,
            ho,
            sy,
            privacy_record=privacy_record,
            cost=cost,
            source=source,
            config=cfg,
            progress=progress,
        )

    logs = {"train": train, "holdout": holdout, "synthetic": synthetic}
    report = evaluate_at_scale(logs, max_customers=cfg.max_customers, seed=cfg.seed, run=run)
    report["cost"]["evaluate_seconds"] = time.perf_counter() - t0
    report["scorecard"] = [asdict(v) for v in report_scorecard(json_safe(report))]
    return json_safe(report)


def evaluate_generator(
    generator, train: EventLog, holdout: EventLog, *, n: int | None = None, seed: int = 0, **kw
) -> dict[str, Any]:
    """Sample `n` journeys (default: as many as holdout customers) with `seed`, then evaluate
    them with the generator's privacy record and the sampling time as cost."""
    n = n or holdout.n_customers
    t0 = time.perf_counter()
    synthetic = generator.sample(n, seed=seed)
    cost = {**kw.pop("cost", {}), "sample_seconds": time.perf_counter() - t0}
    source = {
        "synthetic": f"sampled in memory from a '{generator.name}' generator (n={n}, seed={seed})",
        "generator": generator.name,
        **kw.pop("source", {}),
    }
    return evaluate(
        train,
        holdout,
        synthetic,
        privacy_record=generator.privacy_record,
        cost=cost,
        source=source,
        **kw,
    )


def check_inputs(train: EventLog, holdout: EventLog, synthetic: EventLog) -> None:
    """One schema for all three logs, no customer in both train and holdout, none empty."""
    from journeylab.journeys.detection import check_comparable

    for name, log in (("train", train), ("holdout", holdout), ("synthetic", synthetic)):
        if not isinstance(log, EventLog | StreamedLog):
            raise DataError(
                f"the {name} log is a {type(log).__name__}, not an EventLog",
                fix="read it with EventLog.read(path, schema) (a partitioned dataset: "
                "StreamedLog.open)",
            )
    fps = {
        n: g.schema.fingerprint()
        for n, g in (("train", train), ("holdout", holdout), ("synthetic", synthetic))
    }
    if len(set(fps.values())) > 1:
        raise DataError(
            f"train, holdout and synthetic logs use different schemas "
            f"({_schema_names(train, holdout, synthetic)}; fingerprints {fps})",
            fix="read all three logs with the same schema file (--schema), e.g. the one "
            "the generator was fitted with",
        )
    check_comparable(train, holdout)
    check_comparable(holdout, synthetic)
    overlap = shared_customers(train, holdout)
    if overlap:
        raise DataError(
            f"{len(overlap)} customer(s) are in both train and holdout, e.g. "
            f"{sorted(map(str, overlap))[:3]}",
            fix="split the real log with `journeylab split` and pass both halves",
        )


def _schema_names(*logs: EventLog) -> str:
    return ", ".join(f"'{g.schema.name}'" for g in logs)


def _describe(log: EventLog) -> dict[str, Any]:
    lengths = log.lengths()
    return {
        "customers": log.n_customers,
        "events": log.n_events,
        "fingerprint": log.fingerprint(),
        "length_mean": float(lengths.mean()),
        "length_max": int(lengths.max()),
    }


def json_safe(x: Any) -> Any:
    """NaN -> None, +-inf -> "inf"/"-inf", numpy scalars -> Python, tuples -> lists."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float):
        if math.isnan(x):
            return None
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
    return x


# --- flat metrics (MLflow) and files --------------------------------------------------------
def flat_metrics(report: dict[str, Any]) -> dict[str, float]:
    """Every headline number under an MLflow metric name; fidelity keys as in fidelity_report,
    utility as `<task>.<model>.<TRTR|TSTR>.<measure>`, audits as in run_audits."""
    out: dict[str, Any] = dict(report["fidelity"]["metrics"])
    for table, sdm in (report["fidelity"].get("sdmetrics") or {}).items():
        if isinstance(sdm, dict) and "score" in sdm:
            out[f"sdmetrics.{table}.score"] = sdm["score"]
            out[f"sdmetrics.{table}.ref_score"] = sdm["ref_score"]
            out.update({f"sdmetrics.{table}.{k}": v for k, v in sdm["properties"].items()})
    out.update(utility_metrics(report["utility"]["rows"]))
    out.update({f"validity.{k}": v for k, v in (report.get("validity") or {}).items()})
    out.update(report["privacy"]["audits"]["metrics"])
    if report["privacy"]["dp"]:
        out["privacy.epsilon"] = report["privacy"]["epsilon"]
        out["privacy.delta"] = report["privacy"]["delta"]
    out.update({f"cost.{k}": v for k, v in report["cost"].items()})
    return {
        k.replace(" ", "_"): float(v)
        for k, v in out.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def report_scorecard(report: dict[str, Any]) -> list:
    """The report's verdicts in words (evaluation.verdict): fidelity against the
    real-vs-real reference, mean TSTR/TRTR ratio, the release's epsilon."""
    from journeylab.evaluation.verdict import scorecard_of_metrics

    p = report["privacy"]
    return scorecard_of_metrics(
        flat_metrics(report),
        epsilon=p.get("epsilon") if p.get("dp") else None,
        delta=p.get("delta") if p.get("dp") else None,
    )


def utility_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Utility rows under their metric names, `<task>.<model>.<TRTR|TSTR>.<measure>`
    (the names of the report, MLflow and BENCHMARKS.md)."""
    return {
        f"{r['task']}.{r['model']}.{r['train']}.{k}": r[k]
        for r in rows
        for k in ("auc", "auc_ratio", "pr_auc", "brier", "top_decile_lift", "base_rate")
        if k in r
    }


def report_files(report: dict[str, Any]) -> dict[str, str]:
    """The contents of report.json and report.html, built in memory (nothing written)."""
    from journeylab.evaluation.html import render

    return {
        "report.json": json.dumps(report, indent=1, allow_nan=False),
        "report.html": render(report),
    }


def write_report(
    report: dict[str, Any],
    out_dir: str | Path,
    *,
    files: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write report.json and report.html (and `extra` tables: name -> DataFrame) into out_dir.

    All or nothing (`journeys.files.atomic_write_files`): a failure leaves no report
    file (and no folder that this call created)."""
    from journeylab.journeys.eventlog import write_table

    files = files or report_files(report)
    writers: dict[str, Callable[[str], Any]] = {
        name: (lambda p, text=text: Path(p).write_text(text)) for name, text in files.items()
    }
    writers.update(
        {name: (lambda p, df=df: write_table(df, p)) for name, df in (extra or {}).items()}
    )
    return atomic_write_files(out_dir, writers)
