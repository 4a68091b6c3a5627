"""The inputs of `journeylab evaluate`: from files, or from a JourneyLab run in MLflow.

From files: train, holdout and synthetic logs read with one schema (--schema,
else the `schema.yaml` beside the files that have one; different schema files are an error).
A synthetic file written by a `sample` run brings its lineage (generator, epsilon, delta,
fit run) and its fit run's privacy record, so its report states the guarantee it has.

From a run id (`resolve_run`): a `fit` run names its training data (param
`data`) and holds its model, privacy record (`privacy_record.json`) and fit
time; a `sample` run names its output file and its fit run (tag
`journeylab.fit_run_id`). The holdout is `holdout.parquet|csv` beside the
training file (as `journeylab split` writes them) unless --holdout is given.
The synthetic log is the newest finished sample run's output that still exists;
if there is none, the fit run's model is sampled here with seed 0, as many
journeys as holdout customers. Every problem is a UserError naming the fix,
raised before anything is computed or written.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.partitioned import is_partitioned
from journeylab.journeys.schema import Schema
from journeylab.journeys.streamed import StreamedLog
from journeylab.store import (
    LINEAGE_KEYS,
    get_run,
    lineage_of_file,
    lineage_tags,
    resolve_path,
)

TAG = "journeylab."
SAMPLE_SEED = 0


@dataclass
class Inputs:
    """Validated logs plus what is known about where they came from."""

    train: EventLog
    holdout: EventLog
    synthetic: EventLog
    paths: dict[str, str]
    source: dict[str, Any] = field(default_factory=dict)
    privacy_record: dict | None = None
    cost: dict[str, float] = field(default_factory=dict)
    fit_run_id: str = ""
    sampled: bool = False  # synthetic sampled here (written beside the report)
    lineage: dict[str, str] = field(default_factory=dict)  # journeylab.store.LINEAGE_KEYS


# --- files ---------------------------------------------------------------------------------
def read(path: Path, schema: Schema, role: str) -> EventLog:
    if not Path(path).exists():
        raise DataError(
            f"the {role} file {path} does not exist", fix=f"check the path given to --{role}"
        )
    if is_partitioned(path):  # read in chunks by `evaluate` (evaluation/at_scale.py)
        return StreamedLog.open(path, schema)
    return EventLog.read(path, schema)


def schema_for(paths: dict[str, Path], schema: str | None) -> Schema:
    """--schema for every file, else the schema.yaml beside the files (all the same)."""
    from journeylab.journeys.datasets import resolve_schema

    if schema is not None:
        return resolve_schema(schema)
    found = {}
    for role, p in paths.items():
        beside = Path(p).parent / "schema.yaml"
        if beside.exists():
            found[role] = Schema.read(beside)
    if not found:
        raise ConfigError(
            "no --schema given and no schema.yaml next to the train, holdout or synthetic "
            "log; pass --schema FILE.yaml (the schema the logs follow)"
        )
    fps = {r: s.fingerprint() for r, s in found.items()}
    if len(set(fps.values())) > 1:
        names = ", ".join(
            f"{r}: {paths[r].parent / 'schema.yaml'} ('{found[r].name}')" for r in found
        )
        raise ConfigError(
            f"train, holdout and synthetic logs come with different schemas "
            f"({names}); evaluate logs of one schema, or pass --schema to read "
            "all three with the same one"
        )
    return next(iter(found.values()))


def from_files(train: Path, holdout: Path, synthetic: Path, schema: str | None) -> Inputs:
    paths = {"train": Path(train), "holdout": Path(holdout), "synthetic": Path(synthetic)}
    for role, p in paths.items():
        if not p.exists():
            raise DataError(
                f"the {role} file {p} does not exist", fix=f"check the path given to --{role}"
            )
    sch = schema_for(paths, schema)
    logs = {role: read(p, sch, role) for role, p in paths.items()}
    lineage = lineage_of_file(paths["synthetic"], dataset=sch.name)
    fit_id = lineage.get("fit_run_id", "")
    source = {k: f"file {p}" for k, p in paths.items()}
    record = _artifact_dict(fit_id, "privacy_record.json") if fit_id else None
    if record is not None:  # the file's guarantee is its fit's: the lineage names the fit
        source["privacy_record"] = f"fit run {fit_id} (its sample run wrote the synthetic file)"
    return Inputs(
        **logs,
        paths={k: str(p.resolve()) for k, p in paths.items()},
        source=source,
        privacy_record=record,
        fit_run_id=fit_id,
        lineage=lineage,
    )


# --- MLflow runs ---------------------------------------------------------------------------
def newest_sample(client, fit_run) -> Any | None:
    """The newest finished sample run of `fit_run` whose output file still exists."""
    runs = client.search_runs(
        [fit_run.info.experiment_id],
        f"tags.`{TAG}fit_run_id` = '{fit_run.info.run_id}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    uri = client.tracking_uri
    return next(
        (
            r
            for r in runs
            if r.data.tags.get(f"{TAG}kind") == "sample"
            and resolve_path(r.data.params.get("output"), uri)
        ),
        None,
    )


def runs_of(client, run_id: str) -> tuple[Any | None, Any | None]:
    """(fit run, sample run) for a fit or a sample run id."""
    run = get_run(client, run_id)
    kind = run.data.tags.get(f"{TAG}kind")
    if kind == "fit":
        return run, newest_sample(client, run)
    if kind == "sample":
        fit_id = run.data.tags.get(f"{TAG}fit_run_id") or ""
        return (get_run(client, fit_id) if fit_id else None), run
    raise ConfigError(
        f"run '{run_id}' is a '{kind}' run; pass the id of a `journeylab fit` or "
        "`journeylab sample` run"
    )


def _artifact_dict(run_id: str, path: str) -> dict | None:
    import mlflow

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{path}")
    except Exception:  # MLflow raises several types for a missing artefact
        return None


def _train_path(fit, train: Path | None, uri: str) -> Path:
    if train is not None:
        return Path(train)
    if fit is None:
        raise ConfigError(
            "the sample run names no fit run, so its training data is unknown; "
            "pass --train and --holdout"
        )
    p = resolve_path(fit.data.params.get("data"), uri)
    if p is None:
        raise DataError(
            f"fit run {fit.info.run_id} trained on "
            f"'{fit.data.params.get('data')}', which no longer exists here",
            fix="pass --train (and --holdout) with the real split it used",
        )
    return p


def _holdout_path(train: Path, holdout: Path | None) -> Path:
    if holdout is not None:
        return Path(holdout)
    for name in ("holdout.parquet", "holdout.csv"):
        if (train.parent / name).exists():
            return train.parent / name
    raise DataError(
        f"no holdout found beside the training data {train}",
        fix="pass --holdout with the real customers the generator never saw "
        "(the other half of `journeylab split`)",
    )


def _schema(fit, train: Path, schema: str | None) -> Schema:
    from journeylab.journeys.datasets import resolve_schema

    if schema is not None or (train.parent / "schema.yaml").exists():
        return resolve_schema(schema, train)
    meta = _artifact_dict(fit.info.run_id, "model/meta.json") if fit is not None else None
    if meta and "schema" in meta:
        return Schema.from_dict(meta["schema"])
    raise ConfigError(
        f"no schema for {train}: none beside it and none in the run's model; "
        "pass --schema FILE.yaml"
    )


def resolve_run(
    run_id: str,
    *,
    train: Path | None = None,
    holdout: Path | None = None,
    synthetic: Path | None = None,
    schema: str | None = None,
) -> Inputs:
    """Inputs from a fit or sample run id; explicit paths override what the runs name."""
    from journeylab.journeys.tracking import open_store

    client = open_store()
    fit, sample = runs_of(client, run_id)
    uri = client.tracking_uri
    train_p = _train_path(fit, train, uri)
    hold_p = _holdout_path(train_p, holdout)
    sch = _schema(fit, train_p, schema)
    tr, ho = read(train_p, sch, "train"), read(hold_p, sch, "holdout")
    cost = (
        {"fit_seconds": fit.data.metrics["fit_seconds"]}
        if (fit is not None and "fit_seconds" in fit.data.metrics)
        else {}
    )
    source = {
        "train": f"file {train_p}",
        "holdout": f"file {hold_p}",
        "run_id": run_id,
        "fit_run_id": fit.info.run_id if fit is not None else "",
    }
    syn, syn_p, sampled = _synthetic(fit, sample, synthetic, sch, ho.n_customers, source, cost)
    record = None
    if fit is not None:
        record = _artifact_dict(fit.info.run_id, "privacy_record.json")
        if fit.data.tags.get(f"{TAG}dataset_fingerprint") not in (None, tr.fingerprint()):
            source["note"] = (
                f"the training file {train_p} is not the data fit run "
                f"{fit.info.run_id} recorded (fingerprints differ)"
            )
    paths = {
        "train": str(train_p.resolve()),
        "holdout": str(hold_p.resolve()),
        "synthetic": str(syn_p.resolve()) if syn_p is not None else "",
    }
    return Inputs(
        train=tr,
        holdout=ho,
        synthetic=syn,
        paths=paths,
        source=source,
        privacy_record=record,
        cost=cost,
        fit_run_id=fit.info.run_id if fit is not None else "",
        sampled=sampled,
        lineage=_lineage(fit, sample, synthetic, record, sch.name),
    )


def _lineage(fit, sample, synthetic: Path | None, record: dict | None, dataset: str) -> dict:
    """Where the evaluated log came from: the file's own sample run when one was passed,
    else the sample run's tags, else the fit run's generator and privacy record."""
    if synthetic is not None:
        return lineage_of_file(synthetic, dataset=dataset)
    if sample is not None and sample.data.tags.get(f"{TAG}generator"):
        tags = sample.data.tags
        return {k: tags[TAG + k] for k in LINEAGE_KEYS if tags.get(TAG + k)}
    if fit is None:
        return {}
    generator = fit.data.tags.get(f"{TAG}generator", "unknown")
    return lineage_tags(generator, record or {"dp": False}, fit.info.run_id)


def _synthetic(
    fit, sample, synthetic: Path | None, sch: Schema, n: int, source: dict, cost: dict
) -> tuple[EventLog, Path | None, bool]:
    """(log, its file or None, sampled here?); fills source["synthetic"] and the sample cost."""
    uri = _uri()
    own = synthetic is None and sample is not None
    path = (
        Path(synthetic)
        if synthetic is not None
        else (resolve_path(sample.data.params.get("output"), uri) if sample is not None else None)
    )
    if path is not None:
        source["synthetic"] = f"file {path}" + (
            f" (sample run {sample.info.run_id})" if own else ""
        )
        if own and "sample_seconds" in sample.data.metrics:
            cost["sample_seconds"] = sample.data.metrics["sample_seconds"]
        return read(path, sch, "synthetic"), path, False
    if fit is None:
        raise ConfigError(
            f"sample run {sample.info.run_id} has no output file and no fit run; pass --synthetic"
        )
    log, cost["sample_seconds"] = sample_model(fit.info.run_id, n)
    source["synthetic"] = (
        f"sampled from the model of fit run {fit.info.run_id} (n={n}, seed={SAMPLE_SEED})"
    )
    return log, None, True


def _uri() -> str:
    from journeylab.journeys.tracking import tracking_uri

    return tracking_uri()


def sample_model(fit_run_id: str, n: int) -> tuple[EventLog, float]:
    """Sample n journeys from a fit run's model (seed SAMPLE_SEED); (log, seconds)."""
    from journeylab.generators import base
    from journeylab.runs import model_dir_of

    with tempfile.TemporaryDirectory() as tmp:
        gen = base.load(model_dir_of(fit_run_id, tmp))
        t0 = time.perf_counter()
        log = gen.sample(n, seed=SAMPLE_SEED)
        return log, time.perf_counter() - t0


def read_record(path: Path) -> dict:
    """A privacy record from a file: a fit run's privacy_record.json, a model folder's
    release.json, or its meta.json (the record under "privacy"). Checked here, up front."""
    import json

    from journeylab.privacy.card import normalise_record

    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"privacy record {path} does not exist; pass the privacy_record.json "
            "of the fit run (or release.json / meta.json of its model folder)"
        )
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"privacy record {path} is not valid JSON ({e}); pass the "
            "privacy_record.json of the fit run"
        ) from e
    if isinstance(record, dict) and "generator" in record and "privacy" in record:
        record = record["privacy"] or {"dp": False}
    normalise_record(record)  # raises ConfigError naming what a DP record lacks
    return record
