"""What-if runs: journey completion and scenarios as tracked MLflow runs.

    complete_run(prefix="journeys.parquet", out="done.parquet", model_dir="model",
                 horizon=30, source="real")
    scenario_run("scenario.yaml", model_dir="model", seed=0)
    log_scenario(sc, run_scenario(gen, sc), model=path, run_id=None, seed=0, text=yaml)

Like `journeylab.runs`, this is the one place the CLI (and the Python API) goes
through, so a completion or a scenario is recorded the same way from anywhere.
Both are runs of kind `sample` (completion) or `scenario`, tagged with the
model's lineage and with `prefix: real` or `prefix: synthetic`; a run with real
prefixes carries `prefix_note` (generators/complete.py) as a tag and an artefact,
because real prefixes are personal data that no DP guarantee covers.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

from journeylab.generators import base
from journeylab.generators.complete import PREFIX_SOURCES, complete_journeys, prefix_note
from journeylab.generators.scenario import Scenario
from journeylab.generators.scenario_run import LIMITS, ScenarioResult, run_scenario
from journeylab.journeys.effects import effects_markdown
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog, file_format
from journeylab.journeys.files import atomic_write
from journeylab.runs import SampleResult, lineage_of, resolve_model

COMPLETION_KEY = b"journeylab.completion"  # Parquet metadata: which events were given


def check_source(source: str) -> str:
    if source not in PREFIX_SOURCES:
        raise ConfigError(
            f"prefix source {source!r} must be one of {list(PREFIX_SOURCES)}; say 'real' "
            "unless every prefix was sampled from a model"
        )
    return source


def write_completion(done, path: str | Path, note: dict) -> Path:
    """The completed log as Parquet; its metadata (COMPLETION_KEY) holds `note` and the
    number of given (prefix) events of each customer: its first events in time order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(done.log.df, preserve_index=False)
    meta = {**note, "given_events": done.given_counts()}
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), COMPLETION_KEY: json.dumps(meta).encode()}
    )
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_completion_note(path: str | Path) -> dict:
    """The note `write_completion` left in a Parquet file ({} when there is none)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[COMPLETION_KEY]) if COMPLETION_KEY in meta else {}


def complete_run(
    *,
    prefix: str | Path,
    out: str | Path,
    model_dir: str | Path | None = None,
    run_id: str | None = None,
    seed: int = 0,
    horizon: float | None = None,
    until: str | None = None,
    source: str = "real",
) -> SampleResult:
    """Complete the journeys of the file `prefix` into Parquet `out`, as a `sample` run."""
    import mlflow

    from journeylab.journeys.tracking import start_run

    out = Path(out)
    if file_format(out) != "parquet":
        raise ConfigError(f"--out {out}: completions are written to Parquet; use a .parquet name")
    check_source(source)
    path = resolve_model(model_dir, run_id)
    gen, meta = base.load(path), base.read_meta(path)
    t0 = time.perf_counter()
    done = complete_journeys(
        gen, EventLog.read(prefix, gen.schema), seed=seed, horizon=horizon, until=until
    )
    secs = time.perf_counter() - t0
    note = prefix_note(source)
    limits = {"horizon_days": horizon, "until": until, "seed": seed}
    write_completion(done, out, {"prefix": source, "privacy_note": note, **limits})
    lineage = lineage_of(path, run_id)
    with start_run(
        "sample",
        dataset=meta.get("schema", {}).get("name", "unknown"),
        fingerprint=meta.get("dataset_fingerprint", ""),
        detail=f"{gen.name} completion",
        tags={**lineage, "prefix": source, "privacy_note": note},
    ) as run:
        mlflow.log_params({**limits, "prefix_file": str(prefix), "output": str(out)})
        given = int(done.given.sum())
        counts = {"customers": done.log.n_customers, "events": done.log.n_events}
        mlflow.log_metrics({"sample_seconds": secs, "given_events": given, **counts})
        mlflow.log_text(note + "\n", "privacy_note.md")
    return SampleResult(out, counts["customers"], counts["events"], secs, run.info.run_id, lineage)


# --- scenarios ---------------------------------------------------------------------------
@dataclass
class ScenarioRun:
    """A scenario's answer (generators/scenario_run.py) and its MLflow run."""

    result: ScenarioResult
    report: str
    run_id: str


def scenario_run(
    scenario: str | Path,
    *,
    model_dir: str | Path | None = None,
    run_id: str | None = None,
    seed: int = 0,
    truth: bool = False,
) -> ScenarioRun:
    """Run the scenario file `scenario` with a saved VAE as an MLflow run of kind
    `scenario`; `truth` also runs the simulator (as `truth: true` in the file)."""
    path = Path(scenario)
    sc = Scenario.load(path)
    if truth and not sc.truth:
        sc = replace(sc, truth=True)  # checked again: truth needs a simulated population
    model = resolve_model(model_dir, run_id)
    result = run_scenario(base.load(model), sc, seed=seed, base_dir=path.parent)
    return log_scenario(sc, result, model=model, run_id=run_id, seed=seed, text=path.read_text())


def log_scenario(
    sc: Scenario, result: ScenarioResult, *, model: Path, run_id: str | None, seed: int, text: str
) -> ScenarioRun:
    """Log a scenario's answer as an MLflow run of kind `scenario` (the CLI and the app's
    What-if page both come here): metrics, `text` (the scenario as YAML), both effect
    tables, the report, and the model's lineage with the prefixes' privacy note."""
    import mlflow

    from journeylab.journeys.tracking import start_run

    meta = base.read_meta(model)
    report = render_report(sc, result, seed=seed)
    note = prefix_note(result.prefix_source)
    with start_run(
        "scenario",
        dataset=meta.get("schema", {}).get("name", "unknown"),
        fingerprint=meta.get("dataset_fingerprint", ""),
        detail=sc.name,
        tags={**lineage_of(model, run_id), "prefix": result.prefix_source, "privacy_note": note},
    ) as run:
        mlflow.log_params({"scenario": sc.name, "seed": seed, "paired": sc.paired})
        mlflow.log_metrics(_metrics(result))
        mlflow.log_text(text, "scenario.yaml")
        mlflow.log_text(result.effects.to_csv(), "effects.csv")
        if result.truth is not None:
            mlflow.log_text(result.truth.to_csv(), "truth.csv")
        mlflow.log_text(report, "report.md")
    return ScenarioRun(result, report, run.info.run_id)


def _metrics(result: ScenarioResult) -> dict[str, float]:
    out = {"customers": result.customers, "left_out": result.left_out}
    tables = {"model": result.effects, "truth": result.truth}
    for name, table in tables.items():
        for outcome, row in ({} if table is None else table.to_dict("index")).items():
            for col in ("baseline", "intervened", "effect", "ci_low", "ci_high"):
                out[f"{name}.{outcome}.{col}"] = float(row[col])
    out.update({f"pattern_share.{k.replace(':', '.')}": v for k, v in result.pattern_share.items()})
    return {k: v for k, v in out.items() if math.isfinite(v)}


def render_report(sc: Scenario, result: ScenarioResult, *, seed: int) -> str:
    """The scenario's answer as Markdown: effects, truth, what it rests on, its limits."""
    o = sc.outcomes
    lines = [
        f"# Scenario {sc.name} (seed {seed})",
        "",
        f"{result.customers} customers in both arms ({result.left_out} of the population "
        f"left out: no prefix before day {sc.population.before_day}); "
        f"{'paired arms (common random numbers)' if sc.paired else 'independent arms'}; "
        f"{int(o.level * 100)}% intervals; purchase_within: days {o.since_day} to "
        f"{o.since_day + o.within_days}.",
        "",
        "Model estimate:",
        "",
        effects_markdown(result.effects),
    ]
    if result.truth is not None:
        lines += ["", "Simulator truth (same customers):", "", effects_markdown(result.truth)]
    shares = ", ".join(f"{k} {v:.0%}" for k, v in result.pattern_share.items())
    lines += [
        "",
        f"Share of the population whose journeys already show each intervention's "
        f"pattern: {shares}.",
        "",
        f"Limits: {LIMITS}",
        "",
        f"Privacy: {prefix_note(result.prefix_source)}",
    ]
    return "\n".join(lines) + "\n"
