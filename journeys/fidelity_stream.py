"""The fidelity counts of journeys/fidelity.py in one streamed pass over every customer.

    counts = {role: FidelityCounts.of(log) for role, log in logs.items()}   # one pass each
    streamed_fidelity(counts["train"], counts["holdout"], counts["synthetic"])

For logs too large to hold (partitioned datasets, journeys/streamed.py), each log is
read once, chunk by chunk, into counts that add up over customers: n-gram counts (1-,
2-, 3-grams with START and END tokens, as `ngram_tvd`), a histogram of journey lengths,
and histograms of log1p gaps and log1p amounts in bins of width BIN. The n-gram TVDs
and the length W1 are then exactly those of the whole logs; the gap and amount W1 are
those of the binned values, within BIN of the exact ones (both sides binned alike).
Memory: the n-grams seen and the bins, whatever the number of customers.

`compare_at_scale` is `journeylab compare` on such logs: these counts over everyone,
detection AUC and order violations on a seeded subsample of customers of each log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.fidelity import (
    END,
    NGRAM_ORDERS,
    START,
    _event_tokens,
    _ngram_codes,
    _ratio,
    _wrapped,
    compare,
    fidelity_report,
    log_amounts,
    log_gaps,
)
from journeylab.journeys.streamed import StreamedLog, each_chunk, subsample_customers

BIN = 1e-3  # width of the log1p gap and amount bins: the W1 error bound
MAX_CUSTOMERS = 20_000  # default subsample per log (as `evaluate --max-customers`)
MIN_CUSTOMERS = 100  # the smallest subsample a detection AUC is worth reading
ALL_CUSTOMERS = (
    "tvd_*, *_w1, *_w1_ratio (one streamed pass each; gap and amount W1 on bins of "
    f"{BIN} log1p units)"
)


@dataclass
class FidelityCounts:
    customers: int = 0
    ngrams: dict[int, dict[str, int]] = field(default_factory=lambda: {n: {} for n in NGRAM_ORDERS})
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # [max + 1]
    gaps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # [bins]
    amounts: np.ndarray | None = None  # [bins]; None: no numeric `amount` column

    @classmethod
    def of(cls, log: EventLog | StreamedLog) -> FidelityCounts:
        """Counts of an EventLog or a StreamedLog (one pass over its chunks)."""
        counts = cls()
        for chunk in each_chunk(log):
            counts.add(chunk)
        return counts

    def add(self, log: EventLog) -> None:
        """Count a chunk of whole journeys."""
        lengths = log.lengths().to_numpy()
        self.customers += len(lengths)
        self.lengths = _added(self.lengths, np.bincount(lengths))
        codes, vocab = _factorize(_event_tokens(log))
        names = np.array([START, END, *vocab], dtype=object)
        tokens, journey = _wrapped(codes, lengths)
        for n in NGRAM_ORDERS:
            values, counts = np.unique(
                _ngram_codes(tokens, journey, n, len(names)), return_counts=True
            )
            parts = [names[(values // len(names) ** (n - 1 - k)) % len(names)] for k in range(n)]
            table = self.ngrams[n]
            for key, c in zip(map(" > ".join, zip(*parts, strict=True)), counts, strict=True):
                table[key] = table.get(key, 0) + int(c)
        self.gaps = _added(self.gaps, _binned(log_gaps(log)))
        amounts = log_amounts(log)
        if amounts is not None:
            self.amounts = _added(
                self.amounts if self.amounts is not None else np.zeros(0, np.int64),
                _binned(amounts),
            )


def streamed_compare(a: FidelityCounts, b: FidelityCounts) -> dict[str, float]:
    """fidelity.compare's count-based keys (tvd_*, length_w1, gap_w1, amount_w1), from counts."""
    out = {f"tvd_{n}gram": count_tvd(a.ngrams[n], b.ngrams[n]) for n in NGRAM_ORDERS}
    out["length_w1"] = hist_w1(a.lengths, b.lengths, width=1.0)
    out["gap_w1"] = hist_w1(a.gaps, b.gaps, width=BIN)
    if b.amounts is not None:
        out["amount_w1"] = hist_w1(a.amounts, b.amounts, width=BIN)
    return out


def streamed_fidelity(
    train: FidelityCounts, holdout: FidelityCounts, synth: FidelityCounts
) -> dict[str, float]:
    """fidelity_report's count-based keys (tvd_*, *_w1, ref_*, *_w1_ratio), from counts."""
    out: dict[str, float] = {}
    for prefix, a in (("", synth), ("ref_", train)):
        out.update({f"{prefix}{k}": v for k, v in streamed_compare(a, holdout).items()})
    for k in ("length_w1", "gap_w1", "amount_w1"):
        if k in out:
            out[f"{k}_ratio"] = _ratio(out[k], out[f"ref_{k}"])
    return out


def compare_at_scale(
    a: EventLog | StreamedLog,
    b: EventLog | StreamedLog,
    *,
    reference: EventLog | StreamedLog | None = None,
    max_customers: int = MAX_CUSTOMERS,
    seed: int = 0,
) -> tuple[dict[str, float], dict]:
    """(metrics, scale): `fidelity.compare(a, b)` (with `reference`: `fidelity_report(
    reference, a, b)`) where the counts cover every customer (one streamed pass per log)
    and the rest (detection AUC, order violations) the `max_customers` customers of each
    log with the smallest sha256(seed:id). `scale` says which figure used how many."""
    check_max_customers(max_customers)
    logs = {"a": a, "b": b} | ({} if reference is None else {"reference": reference})
    subs = {r: subsample_customers(g, max_customers, seed=seed) for r, g in logs.items()}
    counts = {r: FidelityCounts.of(g) for r, g in logs.items()}
    if reference is None:
        metrics = compare(subs["a"], subs["b"], seed=seed)
        metrics.update(streamed_compare(counts["a"], counts["b"]))
    else:
        metrics = fidelity_report(subs["reference"], subs["a"], subs["b"], seed=seed)
        metrics.update(streamed_fidelity(counts["reference"], counts["a"], counts["b"]))
    subsampled = [k for k in metrics if "detection" in k or "order_violations" in k]
    scale = {
        "customers": {r: c.customers for r, c in counts.items()},
        "subsample_customers": {r: g.n_customers for r, g in subs.items()},
        "subsample_seed": seed,
        "max_customers": max_customers,
        "all_customers": ALL_CUSTOMERS,
        "subsampled": ", ".join(subsampled),
    }
    return {k: float(v) for k, v in metrics.items()}, scale


def check_max_customers(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < MIN_CUSTOMERS:
        raise ConfigError(
            f"max_customers must be an integer >= {MIN_CUSTOMERS}, got {k!r}; e.g. "
            f"--max-customers {MAX_CUSTOMERS}"
        )


def count_tvd(a: dict[str, int], b: dict[str, int]) -> float:
    """0.5 * L1 between the normalised counts."""
    ta, tb = max(sum(a.values()), 1), max(sum(b.values()), 1)
    return float(0.5 * sum(abs(a.get(k, 0) / ta - b.get(k, 0) / tb) for k in set(a) | set(b)))


def hist_w1(a: np.ndarray | None, b: np.ndarray | None, *, width: float) -> float:
    """W1 of two histograms on the same bins (value = bin start): width * sum |CDF_a - CDF_b|."""
    if a is None or b is None or a.sum() == 0 or b.sum() == 0:
        return math.nan
    size = max(len(a), len(b))
    fa = np.cumsum(np.pad(a, (0, size - len(a)))) / a.sum()
    fb = np.cumsum(np.pad(b, (0, size - len(b)))) / b.sum()
    return float(width * np.abs(fa - fb).sum())


def _factorize(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vocab, codes = np.unique(tokens.astype(str), return_inverse=True)
    return codes.astype(np.int64), vocab


def _binned(x: np.ndarray) -> np.ndarray:
    return np.bincount(np.floor(np.maximum(x, 0) / BIN).astype(np.int64))


def _added(total: np.ndarray, part: np.ndarray) -> np.ndarray:
    size = max(len(total), len(part))
    return np.pad(total, (0, size - len(total))) + np.pad(part, (0, size - len(part)))
