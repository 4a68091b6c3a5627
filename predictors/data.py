"""What a predictor sees: features and history of the same customers, as of one time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from journeylab.journeys.errors import DataError
from journeylab.journeys.eventlog import EventLog
from journeylab.predictors.features import FeatureLayout, customer_features
from journeylab.predictors.labels import LabelSpec, make_labels


@dataclass
class Examples:
    """Customers with history before `as_of`: their features, history log and labels.

    `features` rows, `labels` rows (when present) and `customers` share one order.
    `history` holds the events before `as_of` (at it too, when `inclusive`), the
    input of sequence models.
    """

    customers: pd.Index
    as_of: pd.Timestamp
    inclusive: bool
    features: pd.DataFrame
    history: EventLog
    labels: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.customers)

    def y(self, task: str) -> np.ndarray:
        if self.labels is None or task not in self.labels:
            raise DataError(
                f"these examples have no labels for task '{task}'",
                fix="build them with a label spec that includes the task",
            )
        return self.labels[task].to_numpy(np.int64)


def build_examples(
    log: EventLog,
    *,
    spec: LabelSpec | None = None,
    as_of=None,
    inclusive: bool = False,
    conversion=("purchase",),
) -> Examples:
    """Examples for training (with `spec`: labels at its cutoff) or scoring (at `as_of`)."""
    if spec is not None:
        as_of, conversion, inclusive = spec.cutoff, spec.conversion, False
        labels = make_labels(log, spec=spec)
    else:
        if as_of is None:
            raise DataError(
                "build_examples needs a label spec or an as_of time",
                fix="pass spec=label_spec(...) or as_of=TIMESTAMP",
            )
        labels = None
    at = pd.Timestamp(as_of)
    layout = FeatureLayout(log.schema, conversion)
    features = customer_features(log, cutoff=at, inclusive=inclusive, layout=layout)
    if labels is not None:
        features = features.loc[labels.index]
    t = log.df[log.time]
    hist = log.df.loc[(t <= at) if inclusive else (t < at)]
    # Filtering rows by time keeps a valid log valid (still sorted, same domains).
    history = log._derive(hist)
    return Examples(
        customers=features.index,
        as_of=at,
        inclusive=inclusive,
        features=features,
        history=history,
        labels=labels,
    )
