"""A model folder: one predictor per task, with the schema and label spec they were trained on.

    bundle = train_bundle(train_log, model="gbm", task=["churn", "purchase"])
    bundle.save("models/cj-gbm")
    scores = Bundle.load("models/cj-gbm").predict(log, as_of="2017-10-01")  # customer x task

Layout of the folder:
    bundle.json        format version, model name, tasks, label spec, training summary
    schema.yaml        the schema of the training log (scoring input must match it)
    <task>/            predictor.json + model.skops (scikit-learn) or model.safetensors (torch)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema
from journeylab.predictors import io
from journeylab.predictors.data import Examples, build_examples
from journeylab.predictors.labels import LabelSpec, label_spec
from journeylab.predictors.models import Predictor, create, get_class


@dataclass
class Bundle:
    """Fitted predictors per task, plus what is needed to score new journeys."""

    schema: Schema
    spec: LabelSpec
    model: str
    predictors: dict[str, Predictor]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.predictors)

    def examples(self, log: EventLog, *, as_of=None, inclusive: bool = False) -> Examples:
        """Scoring examples of `log` as of `as_of` (default: the label cutoff)."""
        check_schema(log, self.schema)
        at = self.spec.cutoff if as_of is None else as_of
        return build_examples(log, as_of=at, inclusive=inclusive, conversion=self.spec.conversion)

    def predict(self, log: EventLog, *, as_of=None, inclusive: bool = False) -> pd.DataFrame:
        """P(label = 1) per customer with history before `as_of`, one column per task."""
        return self.predict_examples(self.examples(log, as_of=as_of, inclusive=inclusive))

    def predict_examples(self, data: Examples) -> pd.DataFrame:
        return pd.DataFrame(
            {t: m.predict_proba(data) for t, m in self.predictors.items()}, index=data.customers
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        for task, model in self.predictors.items():
            model.save(path / task)
        self.schema.write(path / "schema.yaml")
        io.write_json(
            path / "bundle.json",
            {
                "format_version": io.FORMAT_VERSION,
                "model": self.model,
                "tasks": list(self.tasks),
                "label_spec": self.spec.to_dict(),
                "info": self.info,
                "versions": io.versions(),
            },
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        path = Path(path)
        if not (path / "bundle.json").exists():
            raise ConfigError(
                f"{path} is not a model folder (no bundle.json); pass the --out "
                "folder of `journeylab predict train`"
            )
        meta = io.read_json(path / "bundle.json")
        io.check_format(meta, path)
        model_cls = get_class(meta["model"])
        return cls(
            schema=Schema.read(path / "schema.yaml"),
            spec=LabelSpec.from_dict(meta["label_spec"]),
            model=meta["model"],
            predictors={t: model_cls.load(path / t) for t in meta["tasks"]},
            info=meta.get("info", {}),
        )


def train_bundle(
    log: EventLog,
    *,
    model: str = "gbm",
    task: str | Sequence[str] | None = None,
    config: Any = None,
    cutoff=None,
    horizon=None,
    conversion=None,
    spec: LabelSpec | None = None,
    progress: Callable[[str], None] | None = None,
) -> Bundle:
    """Label `log` at the cutoff, fit one `model` per task, return the bundle."""
    say = progress or (lambda _m: None)
    if spec is None:
        spec = label_spec(
            log.schema, task=task, cutoff=cutoff, horizon=horizon, conversion=conversion, log=log
        )
    data = build_examples(log, spec=spec)
    return fit_bundle(
        data,
        spec=spec,
        model=model,
        config=config,
        schema=log.schema,
        info={"dataset_fingerprint": log.fingerprint()},
        progress=say,
    )


def fit_bundle(
    data: Examples,
    *,
    spec: LabelSpec,
    model: str,
    config: Any = None,
    schema: Schema,
    info: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> Bundle:
    """Fit one predictor per task of `spec` on prepared examples."""
    say = progress or (lambda _m: None)
    predictors = {}
    summary = dict(info or {}, customers=len(data))
    for task in spec.tasks:
        say(f"fitting {model} for {task} on {len(data)} customers")
        y = data.y(task)
        predictors[task] = create(model, config).fit(data, y)
        summary[f"positives_{task}"] = int(np.sum(y))
    return Bundle(schema=schema, spec=spec, model=model, predictors=predictors, info=summary)


def check_schema(log: EventLog, schema: Schema) -> None:
    if log.schema.fingerprint() != schema.fingerprint():
        raise DataError(
            f"the log has schema '{log.schema.name}' but the model was trained on "
            f"schema '{schema.name}' (or another version of it)",
            fix="score logs that follow the model's schema.yaml",
        )
