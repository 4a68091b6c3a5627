"""Predictors behind one interface, a registry and `create(name, config)`.

    model = create("gbm", {"n_estimators": 200})
    model.fit(examples, examples.y("churn"))
    p = model.predict_proba(scoring_examples)        # [n] probability of label 1
    model.save(folder); model = load(folder)

Feature models (`logreg`, `gbm`, `tree`) read `Examples.features`; the sequence
model (`gru`, predictors/sequence.py, imported on first use) reads the history
log. Every model saves as JSON plus skops (scikit-learn, allow-listed types) or
safetensors (torch): no pickle.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from journeylab.journeys.config import strict_from_dict
from journeylab.journeys.errors import ConfigError, DataError
from journeylab.predictors import io
from journeylab.predictors.data import Examples


class Config:
    """Mixin for frozen dataclass configs: dict round trip that rejects unknown keys."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None):
        return strict_from_dict(cls, d)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


class Predictor(ABC):
    """One binary predictor: fit on examples and 0/1 labels, predict P(label = 1)."""

    name: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, config: Any = None):
        if isinstance(config, self.config_class):
            self.config = config
        elif config is None or isinstance(config, dict):
            self.config = self.config_class.from_dict(config)
        else:
            raise ConfigError(
                f"config for '{self.name}' must be a dict or "
                f"{self.config_class.__name__}, got {type(config).__name__}"
            )
        self.fitted = False

    @abstractmethod
    def fit(self, data: Examples, y: np.ndarray) -> Predictor: ...

    @abstractmethod
    def predict_proba(self, data: Examples) -> np.ndarray: ...

    @abstractmethod
    def save(self, path: str | Path) -> Path: ...

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> Predictor: ...

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise ConfigError(f"the '{self.name}' model is not fitted; call fit() first")


def check_labels(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y).astype(np.int64).ravel()
    if len(y) != n:
        raise DataError(f"{len(y)} labels for {n} examples", fix="pass one label per example")
    if len(y) == 0 or y.min() == y.max():
        value = "none" if len(y) == 0 else int(y[0])
        raise DataError(
            f"every one of the {len(y)} labels is {value}: a classifier needs both classes",
            fix="choose another cutoff or horizon, or more customers",
        )
    return y


# --- feature models ----------------------------------------------------------


class FeaturePredictor(Predictor):
    """A scikit-learn classifier on Customer-360 features."""

    trusted: ClassVar[list[str]] = []
    transform_log: ClassVar[bool] = False  # signed log1p before the estimator

    def __init__(self, config: Any = None):
        super().__init__(config)
        self.estimator = None
        self.feature_names: list[str] = []
        self._fast = None

    @abstractmethod
    def _make(self): ...

    def matrix(self, data: Examples) -> np.ndarray:
        """[n, F] features in the order the model was fitted on (absent ones are 0)."""
        X = data.features.reindex(columns=self.feature_names, fill_value=0.0)
        return X.to_numpy(np.float64)

    def _prep(self, X: np.ndarray) -> np.ndarray:
        return np.sign(X) * np.log1p(np.abs(X)) if self.transform_log else X

    def fit(self, data: Examples, y: np.ndarray) -> FeaturePredictor:
        y = check_labels(y, len(data))
        self.feature_names = list(data.features.columns)
        self.estimator = self._make().fit(self._prep(self.matrix(data)), y)
        self._fast = None
        self.fitted = True
        return self

    def predict_proba(self, data: Examples) -> np.ndarray:
        self._require_fitted()
        return self.predict_matrix(self.matrix(data))

    def predict_matrix(self, X: np.ndarray) -> np.ndarray:
        """P(label = 1) for rows of features already in `feature_names` order.

        Goes through predictors/fast.py (no per-call input checks): equal to the
        estimator's own predict_proba to float rounding, and one path for batch
        and streaming.
        """
        if self._fast is None:
            from journeylab.predictors.fast import compile_predict

            self._fast = compile_predict(self.estimator)
        return self._fast(self._prep(X))

    def save(self, path: str | Path) -> Path:
        self._require_fitted()
        path = Path(path)
        io.save_sklearn(self.estimator, path / "model.skops")
        io.write_json(
            path / "predictor.json",
            {
                "format_version": io.FORMAT_VERSION,
                "model": self.name,
                "config": self.config.to_dict(),
                "feature_names": self.feature_names,
                "versions": io.versions(),
            },
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> FeaturePredictor:
        path = Path(path)
        meta = io.read_json(path / "predictor.json")
        io.check_format(meta, path)
        model = cls(meta["config"])
        model.estimator = io.load_sklearn(path / "model.skops", trusted=cls.trusted)
        model.feature_names = list(meta["feature_names"])
        model.fitted = True
        return model


@dataclass(frozen=True)
class LogRegConfig(Config):
    """Logistic regression on standardised signed-log features."""

    C: float = 0.5  # inverse L2 strength
    max_iter: int = 2000
    balanced: bool = False  # class_weight='balanced' (hurts calibration; off by default)

    def __post_init__(self):
        _check(self.C > 0, f"logreg C {self.C} must be > 0, e.g. 0.5")
        _check(self.max_iter >= 10, f"logreg max_iter {self.max_iter} must be >= 10")


class LogRegPredictor(FeaturePredictor):
    name = "logreg"
    config_class = LogRegConfig
    transform_log = True

    def _make(self):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        c = self.config
        return make_pipeline(
            StandardScaler(),
            LogisticRegression(
                C=c.C, max_iter=c.max_iter, class_weight="balanced" if c.balanced else None
            ),
        )


@dataclass(frozen=True)
class GBMConfig(Config):
    """Gradient boosting (scikit-learn GradientBoostingClassifier: fast one-row predictions)."""

    n_estimators: int = 150
    learning_rate: float = 0.05
    max_depth: int = 3
    subsample: float = 0.8
    min_samples_leaf: int = 20
    seed: int = 0

    def __post_init__(self):
        _check(self.n_estimators >= 1, f"gbm n_estimators {self.n_estimators} must be >= 1")
        _check(0 < self.learning_rate <= 1, f"gbm learning_rate {self.learning_rate} not in (0, 1]")
        _check(self.max_depth >= 1, f"gbm max_depth {self.max_depth} must be >= 1")
        _check(0 < self.subsample <= 1, f"gbm subsample {self.subsample} not in (0, 1]")
        _check(self.min_samples_leaf >= 1, "gbm min_samples_leaf must be >= 1")


class GBMPredictor(FeaturePredictor):
    name = "gbm"
    config_class = GBMConfig
    trusted = ["sklearn.tree._tree.Tree"]

    def _make(self):
        from sklearn.ensemble import GradientBoostingClassifier

        c = self.config
        return GradientBoostingClassifier(
            n_estimators=c.n_estimators,
            learning_rate=c.learning_rate,
            max_depth=c.max_depth,
            subsample=c.subsample,
            min_samples_leaf=c.min_samples_leaf,
            random_state=c.seed,
        )


@dataclass(frozen=True)
class TreeConfig(Config):
    """A shallow decision tree: the explainable baseline (see `TreePredictor.rules`)."""

    max_depth: int = 4
    min_samples_leaf: int = 20
    seed: int = 0

    def __post_init__(self):
        _check(1 <= self.max_depth <= 12, f"tree max_depth {self.max_depth} not in 1..12")
        _check(self.min_samples_leaf >= 1, "tree min_samples_leaf must be >= 1")


class TreePredictor(FeaturePredictor):
    name = "tree"
    config_class = TreeConfig
    trusted = ["sklearn.tree._tree.Tree"]

    def _make(self):
        from sklearn.tree import DecisionTreeClassifier

        c = self.config
        return DecisionTreeClassifier(
            max_depth=c.max_depth, min_samples_leaf=c.min_samples_leaf, random_state=c.seed
        )

    def rules(self) -> str:
        """The fitted tree as readable if/else rules."""
        from sklearn.tree import export_text

        self._require_fitted()
        return export_text(self.estimator, feature_names=self.feature_names, decimals=2)


# --- registry ------------------------------------------------------------------

MODELS: dict[str, type[Predictor] | str] = {
    "logreg": LogRegPredictor,
    "gbm": GBMPredictor,
    "tree": TreePredictor,
    # imported on first use (torch, Lightning)
    "gru": "journeylab.predictors.sequence:GRUPredictor",
}
FEATURE_MODELS = ("logreg", "gbm", "tree")


def get_class(name: str) -> type[Predictor]:
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}'; choose one of {sorted(MODELS)}")
    cls = MODELS[name]
    if isinstance(cls, str):
        module, attr = cls.split(":")
        cls = MODELS[name] = getattr(importlib.import_module(module), attr)
    return cls


def create(name: str, config: Any = None) -> Predictor:
    """A new, unfitted predictor; unknown names list the valid ones."""
    return get_class(name)(config)


def load(path: str | Path) -> Predictor:
    """Load any saved predictor: its predictor.json names the class."""
    path = Path(path)
    meta = io.read_json(path / "predictor.json")
    return get_class(str(meta.get("model"))).load(path)
