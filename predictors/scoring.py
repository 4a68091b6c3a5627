"""Real-time scoring: each customer's scores update as their events arrive.

    scorer = Scorer.from_dir("models/cj-gbm")
    with scorer:                      # optional: one-thread BLAS/OpenMP, the fast path
        scores = scorer.update({"household_id": "42", "timestamp": "2017-10-02 10:00:00",
                                "channel": "store", "event_type": "purchase", "amount": 12.5})
    # {'churn': 0.03, 'purchase': 0.91, 'campaign_response': 0.05}

After an event at time t the scores are those of batch scoring the customer's
events up to and including t, as of t:
`bundle.predict(prefix_log, as_of=t, inclusive=True)` (tested). Feature models
keep Customer-360 sufficient statistics per customer (predictors/features.py,
same `derive`); the GRU keeps its hidden state and advances it one event at a
time. `scorer.score(customer, at=later)` re-scores without a new event (recency
and the recent windows move with time).

Events are dicts with the schema's key, timestamp (ISO string), event columns
and, optionally, context columns (remembered per customer; unknown until seen).
A bad event raises DataError naming every problem and leaves the state as it was.
`score_stream` turns JSON lines into score records and never stops on a bad line.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from journeylab.journeys.errors import DataError, UserError
from journeylab.journeys.schema import Schema
from journeylab.predictors.bundle import Bundle
from journeylab.predictors.features import DAY_NS, WINDOWS, FeatureLayout, Stats, derive
from journeylab.predictors.models import FeaturePredictor

KEEP_NS = max(WINDOWS) * DAY_NS  # events older than the longest window are forgotten


@dataclass
class Event:
    """One validated event: category indices (0-based) and numeric values per column."""

    customer: str
    t_ns: int
    cat: list[int]
    num: list[float]
    ctx_cat: dict[int, int]  # context categorical position -> index
    ctx_num: dict[int, float]
    is_conv: bool


class EventParser:
    """Validates event dicts against a schema, collecting every problem."""

    def __init__(self, schema: Schema, conversion: tuple[str, ...]):
        self.schema, self.conversion = schema, conversion
        self.cat = [schema.column(n) for n in schema.event_names("categorical")]
        self.num = [schema.column(n) for n in schema.event_names("numeric")]
        self.ctx_cat = [schema.column(n) for n in schema.context_names("categorical")]
        self.ctx_num = [schema.column(n) for n in schema.context_names("numeric")]
        self.index = {
            c.name: {v: i for i, v in enumerate(c.values or ())} for c in self.cat + self.ctx_cat
        }

    def parse(self, event: Any) -> Event:
        if not isinstance(event, Mapping):
            raise DataError(
                f"an event must be a JSON object, got {type(event).__name__}",
                fix="send one object per line with the schema's columns",
            )
        problems: list[str] = []
        key, tcol = self.schema.sequence_key, self.schema.sequence_index
        customer = event.get(key)
        if customer is None or (isinstance(customer, float) and math.isnan(customer)):
            problems.append(f"'{key}' (the customer id) is missing")
        t_ns = _time(event.get(tcol), tcol, problems)
        cat = [self._category(event, c, problems, required=True) for c in self.cat]
        num = [self._number(event, c, problems, required=True) for c in self.num]
        ctx_cat = {
            k: i
            for k, c in enumerate(self.ctx_cat)
            if (i := self._category(event, c, problems, required=False)) is not None
        }
        ctx_num = {
            k: x
            for k, c in enumerate(self.ctx_num)
            if (x := self._number(event, c, problems, required=False)) is not None
        }
        if problems:
            names = [key, tcol] + [c.name for c in self.cat + self.num]
            raise DataError(
                "bad event: " + "; ".join(problems),
                fix=f"send objects with keys {', '.join(names)} (context optional)",
            )
        is_conv = event["event_type"] in self.conversion
        return Event(str(customer), t_ns, cat, num, ctx_cat, ctx_num, is_conv)

    def _category(self, event, c, problems, *, required: bool) -> int | None:
        if c.name not in event or event[c.name] is None:
            if required:
                problems.append(f"'{c.name}' is missing")
            return None
        i = self.index[c.name].get(str(event[c.name]))
        if i is None:
            problems.append(f"'{c.name}' value {event[c.name]!r} is not one of {list(c.values)}")
        return i

    def _number(self, event, c, problems, *, required: bool) -> float | None:
        if c.name not in event or event[c.name] is None:
            if required:
                problems.append(f"'{c.name}' is missing")
            return None
        x = event[c.name]
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            problems.append(f"'{c.name}' value {x!r} is not a finite number")
            return None
        if (c.min is not None and x < c.min) or (c.max is not None and x > c.max):
            problems.append(f"'{c.name}' value {x} is outside [{c.min}, {c.max}]")
            return None
        return float(x)


def _time(value, name: str, problems: list[str]) -> int:
    if not isinstance(value, str):
        problems.append(f"'{name}' must be an ISO timestamp string, got {value!r}")
        return 0
    try:
        t = pd.Timestamp(value)
    except (TypeError, ValueError):
        problems.append(f"'{name}' value {value!r} is not a timestamp")
        return 0
    if t is pd.NaT or t.tzinfo is not None:
        problems.append(f"'{name}' value {value!r} must be a naive timestamp (no time zone)")
        return 0
    return int(t.value)


class FeatureState:
    """One customer's Customer-360 sufficient statistics, updated event by event."""

    def __init__(self, layout: FeatureLayout):
        m = len(layout.event_num)
        self.n = self.n_conv = 0
        self.first_ns = self.last_ns = self.last_conv_ns = 0
        self.num_sum, self.num_max = [0.0] * m, [-math.inf] * m
        self.cat = [np.zeros(len(v), np.int64) for v in layout.event_cat.values()]
        self.gap_sum = self.gap_sq = self.gap_max = self.gap_last = 0.0
        self.recent: deque[tuple[int, bool, list[float]]] = deque()
        self.ctx_cat = np.full(len(layout.ctx_cat), -1, np.int64)
        self.ctx_num = np.zeros(len(layout.ctx_num))

    def add(self, e: Event) -> None:
        if self.n == 0:
            self.first_ns = self.last_conv_ns = e.t_ns
        else:
            # numpy divides int64 by casting to float64 first; do the same, bit for bit
            g = float(e.t_ns - self.last_ns) / float(DAY_NS)
            self.gap_sum += g
            self.gap_sq += g * g
            self.gap_max = max(self.gap_max, g)
            self.gap_last = g
        self.n += 1
        self.last_ns = e.t_ns
        if e.is_conv:
            self.n_conv += 1
            self.last_conv_ns = e.t_ns
        for j, x in enumerate(e.num):
            self.num_sum[j] += x
            self.num_max[j] = max(self.num_max[j], x)
        for j, i in enumerate(e.cat):
            self.cat[j][i] += 1
        for k, i in e.ctx_cat.items():
            self.ctx_cat[k] = i
        for k, x in e.ctx_num.items():
            self.ctx_num[k] = x
        self.recent.append((e.t_ns, e.is_conv, e.num))
        while self.recent and e.t_ns - self.recent[0][0] >= KEEP_NS:
            self.recent.popleft()

    def stats(self, as_of_ns: int) -> Stats:
        m, w = len(self.num_sum), len(WINDOWS)
        win_n, win_conv = np.zeros((1, w), np.int64), np.zeros((1, w), np.int64)
        win_num = np.zeros((1, w, m))
        for i, days in enumerate(WINDOWS):
            sums = [0.0] * m
            for t, conv, num in self.recent:
                if as_of_ns - t < days * DAY_NS:
                    win_n[0, i] += 1
                    win_conv[0, i] += conv
                    for j, x in enumerate(num):
                        sums[j] += x
            win_num[0, i] = sums
        a = lambda x, dt=np.int64: np.array([x], dt)  # noqa: E731
        return Stats(
            n=a(self.n),
            first_ns=a(self.first_ns),
            last_ns=a(self.last_ns),
            n_conv=a(self.n_conv),
            last_conv_ns=a(self.last_conv_ns),
            num_sum=np.array([self.num_sum]),
            num_max=np.array([self.num_max]),
            cat=[c[None] for c in self.cat],
            gap_sum=a(self.gap_sum, float),
            gap_sq=a(self.gap_sq, float),
            gap_max=a(self.gap_max, float),
            gap_last=a(self.gap_last, float),
            win_n=win_n,
            win_conv=win_conv,
            win_num=win_num,
            ctx_cat=self.ctx_cat[None],
            ctx_num=self.ctx_num[None],
        )


class Scorer:
    """Scores per customer, updated one event at a time (see the module docstring)."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.schema = bundle.schema
        self.layout = FeatureLayout(self.schema, bundle.spec.conversion)
        self.parser = EventParser(self.schema, bundle.spec.conversion)
        self.feature_models = {
            t: m for t, m in bundle.predictors.items() if isinstance(m, FeaturePredictor)
        }
        self.sequence_models = {
            t: m for t, m in bundle.predictors.items() if t not in self.feature_models
        }
        self._features: dict[str, FeatureState] = {}
        self._hidden: dict[tuple[str, str], Any] = {}
        self._contexts = []

    @classmethod
    def from_dir(cls, path: str | Path) -> Scorer:
        return cls(Bundle.load(path))

    @property
    def n_customers(self) -> int:
        return len(self._features)

    def events_of(self, customer) -> int:
        """Events seen so far for a customer (0 if unknown)."""
        state = self._features.get(str(customer))
        return 0 if state is None else state.n

    def __enter__(self) -> Scorer:
        """One thread for OpenMP/BLAS: one-row predictions are faster without a pool."""
        import sklearn
        from threadpoolctl import threadpool_limits

        self._contexts = [threadpool_limits(1), sklearn.config_context(assume_finite=True)]
        for c in self._contexts:
            c.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        while self._contexts:
            self._contexts.pop().__exit__(*exc)

    def update(self, event: Mapping) -> dict[str, float]:
        """Add one event; return the customer's new scores, task -> probability."""
        e = self.parser.parse(event)
        state = self._features.get(e.customer)
        if state is not None and e.t_ns < state.last_ns:
            raise DataError(
                f"event of customer '{e.customer}' at {pd.Timestamp(e.t_ns)} is "
                f"older than its last event ({pd.Timestamp(state.last_ns)})",
                fix="send each customer's events in time order",
            )
        if state is None:
            state = self._features[e.customer] = FeatureState(self.layout)
        prev_ns = state.last_ns if state.n else None
        state.add(e)
        for task, model in self.sequence_models.items():
            h = self._hidden.get((task, e.customer))
            h = model.init_state() if h is None else h
            gap_s = 0.0 if prev_ns is None else (e.t_ns - prev_ns) / 1e9
            self._hidden[(task, e.customer)] = model.step(h, *self._encoded(e), gap_s)
        return self._scores(e.customer, e.t_ns)

    def score(self, customer, *, at=None) -> dict[str, float]:
        """Scores of a known customer as of `at` (default: its last event), no new event."""
        state = self._features.get(str(customer))
        if state is None:
            raise DataError(
                f"customer '{customer}' has sent no event yet",
                fix="update() with an event of this customer first",
            )
        t_ns = state.last_ns if at is None else pd.Timestamp(at).value
        if t_ns < state.last_ns:
            raise DataError(
                f"time {at} is before customer '{customer}''s last event",
                fix="score at or after the last event",
            )
        return self._scores(str(customer), t_ns)

    def _scores(self, customer: str, as_of_ns: int) -> dict[str, float]:
        state = self._features[customer]
        out: dict[str, float] = {}
        if self.feature_models:
            feats = derive(state.stats(as_of_ns), as_of_ns, self.layout)
            for task, model in self.feature_models.items():
                x = np.array([[feats[n][0] for n in model.feature_names]])
                out[task] = float(model.predict_matrix(x)[0])
        for task, model in self.sequence_models.items():
            ctx_tok = np.where(
                state.ctx_cat < 0,
                np.array([len(v) for v in self.layout.ctx_cat.values()], np.int64),
                state.ctx_cat,
            )
            out[task] = model.score_state(
                self._hidden[(task, customer)],
                ctx_tok,
                self._ctx_scaled(state),
                as_of_ns - state.last_ns,
                state.n,
            )
        return {t: out[t] for t in self.bundle.tasks}

    def _encoded(self, e: Event) -> tuple[np.ndarray, np.ndarray]:
        """The event as JourneyEncoder codes it: tokens = index + 1, numerics scaled to [0, 1]."""
        tokens = np.array([i + 1 for i in e.cat], np.int64)
        nums = np.array([_scale(x, c) for x, c in zip(e.num, self.parser.num, strict=True)])
        return tokens, nums

    def _ctx_scaled(self, state: FeatureState) -> np.ndarray:
        return np.array(
            [_scale(x, c) for x, c in zip(state.ctx_num, self.parser.ctx_num, strict=True)]
        )


def _scale(x: float, c) -> float:
    span = c.max - c.min
    return (x - c.min) / span if span > 0 else 0.0


def score_stream(scorer: Scorer, lines: Iterable[str]) -> Iterator[dict]:
    """JSON lines in, one record out per non-blank input line; a bad line gives an error record.

    Out: {"line": i, "customer": id, "timestamp": t, "n_events": k, "scores": {task: p}}
    or   {"line": i, "error": "what was wrong", "fix": "how to fix it"}.
    """
    key, tcol = scorer.schema.sequence_key, scorer.schema.sequence_index
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            scores = scorer.update(event)
        except json.JSONDecodeError as e:
            yield {"line": i, "error": f"not valid JSON: {e}"}
            continue
        except DataError as e:
            yield {
                "line": i,
                "error": "; ".join(p.message for p in e.problems),
                "fix": e.problems[0].fix if e.problems else "",
            }
            continue
        except UserError as e:
            yield {"line": i, "error": str(e)}
            continue
        customer = str(event[key])
        yield {
            "line": i,
            "customer": customer,
            "timestamp": event[tcol],
            "n_events": scorer.events_of(customer),
            "scores": scores,
        }
