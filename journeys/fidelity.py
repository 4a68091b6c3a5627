"""Fidelity metrics: how close a synthetic event log is to real data.

Small pure functions on validated `EventLog`s, no I/O (design.md, "How quality
is measured"):

- n-gram TVD: total variation distance between the normalised 1-, 2- and
  3-gram frequencies of event tokens `f"{channel}|{event_type}"`, each journey
  wrapped in START and END tokens (so length and how journeys begin and end
  count too). 0 is identical, 1 is disjoint.
- Wasserstein-1 of journey length (events), log inter-event gap
  (`log1p` of seconds between consecutive events of a journey) and log amount
  (`log1p` of the `amount` event column over events with amount > 0).
- W1 ratios: W1(synth, holdout) / W1(train, holdout); 1.0 means the synthetic
  log is as close to the holdout as fresh real data is.
- Detection AUC (journeys/detection.py): 0.5 means a classifier cannot tell
  real journeys from synthetic ones.

Against a train/holdout split every synthetic metric is measured against the
*holdout* (customers the generator never saw), and `fidelity_report` adds the
same metric for train vs holdout under `ref_*` keys: what fresh real data
scores. These metrics read real data and are not covered by any DP guarantee.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

from journeylab.journeys.detection import check_comparable, detection_auc
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.orders import order_rules, order_violation_share

START, END = "<START>", "<END>"
NGRAM_ORDERS = (1, 2, 3)
AMOUNT = "amount"
# Floor for the reference W1 in ratios: a reference of exactly 0 (train and holdout
# identical in that respect) would otherwise divide by zero.
RATIO_EPS = 1e-6
_NS = 1_000_000_000

__all__ = [
    "AMOUNT",
    "END",
    "RATIO_EPS",
    "START",
    "amount_w1",
    "compare",
    "detection_auc",
    "fidelity_report",
    "gap_w1",
    "length_w1",
    "log_amounts",
    "log_gaps",
    "ngram_frequencies",
    "ngram_tvd",
    "w1_ratios",
]


# --- n-grams ---------------------------------------------------------------
def _event_tokens(log: EventLog) -> np.ndarray:
    df = log.df
    return (df["channel"].astype(str) + "|" + df["event_type"].astype(str)).to_numpy()


def _wrapped(codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Put START (0) and END (1) around each journey; event codes shift by 2.

    codes [E] in log order, lengths [N] -> tokens [E + 2N], journey index [E + 2N].
    """
    sizes = lengths + 2
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    ends = starts + lengths + 1
    tokens = np.empty(int(sizes.sum()), dtype=np.int64)
    is_event = np.ones(tokens.size, dtype=bool)
    is_event[starts] = is_event[ends] = False
    tokens[starts], tokens[ends] = 0, 1
    tokens[is_event] = codes + 2
    return tokens, np.repeat(np.arange(len(lengths)), sizes)


def _ngram_codes(tokens: np.ndarray, journey: np.ndarray, n: int, base: int) -> np.ndarray:
    """One int64 per n-gram that stays inside one journey: sum tokens[p+k] * base**(n-1-k)."""
    m = tokens.size - n + 1
    code = np.zeros(max(m, 0), dtype=np.int64)
    for k in range(n):
        code = code * base + tokens[k : k + m]
    return code[journey[:m] == journey[n - 1 :]]


def _shares(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, counts = np.unique(codes, return_counts=True)
    return values, counts / max(counts.sum(), 1)


def _check_order(n: int) -> None:
    if n not in NGRAM_ORDERS:
        raise ConfigError(f"n-gram order n={n!r} is not supported; use one of {NGRAM_ORDERS}")


def ngram_tvd(real: EventLog, synth: EventLog, *, n: int) -> float:
    """Total variation distance (0.5 * L1) of the n-gram distributions, n in 1..3."""
    _check_order(n)
    check_comparable(real, synth)
    tok_a, tok_b = _event_tokens(real), _event_tokens(synth)
    codes, vocab = pd.factorize(np.concatenate([tok_a, tok_b]))
    base = len(vocab) + 2
    grams = []
    for log, c in ((real, codes[: tok_a.size]), (synth, codes[tok_a.size :])):
        tokens, journey = _wrapped(c.astype(np.int64), log.lengths().to_numpy())
        grams.append(_shares(_ngram_codes(tokens, journey, n, base)))
    (va, pa), (vb, pb) = grams
    union = np.union1d(va, vb)
    diff = np.zeros(union.size)
    diff[np.searchsorted(union, va)] += pa
    diff[np.searchsorted(union, vb)] -= pb
    return float(0.5 * np.abs(diff).sum())


def ngram_frequencies(log: EventLog, *, n: int) -> pd.Series:
    """Share of each n-gram, largest first; index like '<START> > web|visit > app|cart'.

    For display (which n-grams differ most); `ngram_tvd` does not build strings.
    """
    _check_order(n)
    codes, vocab = pd.factorize(_event_tokens(log))
    names = np.array([START, END, *vocab], dtype=object)
    base = len(names)
    tokens, journey = _wrapped(codes.astype(np.int64), log.lengths().to_numpy())
    values, shares = _shares(_ngram_codes(tokens, journey, n, base))
    parts = [names[(values // base ** (n - 1 - k)) % base] for k in range(n)]
    index = [" > ".join(p) for p in zip(*parts, strict=True)]
    return pd.Series(shares, index=index, name=f"{n}gram_share").sort_values(ascending=False)


# --- Wasserstein-1 of per-journey and per-event quantities -----------------
def log_gaps(log: EventLog) -> np.ndarray:
    """log1p(seconds) between consecutive events within each journey, [E - N]."""
    key = log.df[log.key].to_numpy()
    t = log.df[log.time].to_numpy().astype("datetime64[ns]").astype(np.int64)
    same = key[1:] == key[:-1]
    return np.log1p(np.diff(t)[same] / _NS)


def log_amounts(log: EventLog, *, column: str = AMOUNT) -> np.ndarray | None:
    """log1p of `column` over events where it is > 0; None if the schema has no such numeric."""
    if column not in log.schema.event_names("numeric"):
        return None
    x = log.df[column].to_numpy(dtype=float)
    return np.log1p(x[x > 0])


def _w1(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None or a.size == 0 or b.size == 0:
        return math.nan
    return float(wasserstein_distance(a, b))


def length_w1(a: EventLog, b: EventLog) -> float:
    """W1 between the journey-length distributions, in events."""
    check_comparable(a, b)
    return _w1(a.lengths().to_numpy(float), b.lengths().to_numpy(float))


def gap_w1(a: EventLog, b: EventLog) -> float:
    """W1 between log1p inter-event gaps (log seconds); NaN if a side has no 2-event journey."""
    check_comparable(a, b)
    return _w1(log_gaps(a), log_gaps(b))


def amount_w1(a: EventLog, b: EventLog, *, column: str = AMOUNT) -> float:
    """W1 between log1p amounts of events with amount > 0.

    NaN when the schema has no numeric event column `column` (the report then
    leaves out the `amount_*` keys) or when a side has no positive amount.
    """
    check_comparable(a, b)
    return _w1(log_amounts(a, column=column), log_amounts(b, column=column))


def _has_amount(log: EventLog) -> bool:
    return AMOUNT in log.schema.event_names("numeric")


def _w1_metrics(a: EventLog, b: EventLog) -> dict[str, float]:
    out = {"length_w1": length_w1(a, b), "gap_w1": gap_w1(a, b)}
    if _has_amount(a):
        out["amount_w1"] = amount_w1(a, b)
    return out


def _ratio(num: float, ref: float) -> float:
    if math.isnan(num) or math.isnan(ref):
        return math.nan
    return num / max(ref, RATIO_EPS)


def w1_ratios(train: EventLog, holdout: EventLog, synth: EventLog) -> dict[str, float]:
    """W1(synth, holdout) / W1(train, holdout) for length, gap and amount.

    1.0: the synthetic log is as close to the holdout as the real training data
    is; below 1 is closer, above 1 further. The denominator is floored at
    RATIO_EPS (1e-6, in the metric's units: events, log seconds, log amount) so
    a zero reference gives a large but finite ratio, or 0 if synth matches too.
    NaN where either W1 is undefined. Keys: length_w1_ratio, gap_w1_ratio and,
    if the schema has a numeric `amount`, amount_w1_ratio.
    """
    check_comparable(train, holdout)
    check_comparable(synth, holdout)
    syn, ref = _w1_metrics(synth, holdout), _w1_metrics(train, holdout)
    return {f"{k}_ratio": _ratio(syn[k], ref[k]) for k in syn}


# --- reports -----------------------------------------------------------------
def compare(a: EventLog, b: EventLog, *, seed: int = 0) -> dict[str, float]:
    """Every fidelity metric of log `a` against log `b`, with no reference.

    Keys: tvd_1gram, tvd_2gram, tvd_3gram, length_w1, gap_w1, amount_w1 (only if
    the schema has a numeric `amount`), detection_auc. Flat floats.
    """
    check_comparable(a, b)
    out = {f"tvd_{n}gram": ngram_tvd(a, b, n=n) for n in NGRAM_ORDERS}
    out.update(_w1_metrics(a, b))
    out["detection_auc"] = detection_auc(a, b, seed=seed)
    return out


def fidelity_report(
    train: EventLog, holdout: EventLog, synth: EventLog, *, seed: int = 0
) -> dict[str, float]:
    """Fidelity of `synth` against the real `holdout`, next to what `train` scores.

    Keys (flat floats, ready for MLflow `log_metrics`):
      tvd_{1,2,3}gram, length_w1, gap_w1, amount_w1, detection_auc  synth vs holdout
      ref_<same keys>                                                train vs holdout
      length_w1_ratio, gap_w1_ratio, amount_w1_ratio                 synth / ref
      order_violations, ref_order_violations   share of synth / holdout journeys that
                                               break an order train never breaks
    The amount keys appear only if the schema has a numeric `amount` event
    column. A value is NaN only where a distance is undefined (e.g. no positive
    amounts on one side). Computed on real data: not covered by the DP guarantee.
    """
    check_comparable(train, holdout)
    check_comparable(synth, holdout)
    syn = compare(synth, holdout, seed=seed)
    ref = compare(train, holdout, seed=seed)
    out = dict(syn)
    out.update({f"ref_{k}": v for k, v in ref.items()})
    for k in ("length_w1", "gap_w1", "amount_w1"):
        if k in syn:
            out[f"{k}_ratio"] = _ratio(syn[k], ref[k])
    rules = order_rules(train)
    out["order_violations"] = order_violation_share(rules, synth)
    out["ref_order_violations"] = order_violation_share(rules, holdout)
    return {k: float(v) for k, v in out.items()}
