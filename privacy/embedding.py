"""Journey embeddings for the privacy audits: one fixed-length vector per customer.

    vectors = embed([train, holdout, synthetic])   # one shared feature space
    vectors[0].shape                               # [train customers, features]

Feature groups (each standardised with the mean and standard deviation of the
union of all logs passed, then scaled by 1/sqrt(group width) so that every
group weighs about the same in a Euclidean distance):
- tokens: share and log1p count of each `channel|event_type` token;
- bigrams: share of each consecutive token pair;
- time: log1p length, mean/min/max log1p gap, start day, log1p duration;
- numerics: per numeric event column, signed log1p of the sum, mean and max;
- context: one-hot context categories, signed log1p context numerics.

Also `journey_hashes`: one hash per journey over every column but the id
(timestamps, event and context values), for exact-copy checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog

_DAY = 86_400.0


def _slog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def _codes(log: EventLog) -> tuple[np.ndarray, int]:
    """Customer index of every event [E] (logs are sorted by customer) and the count N."""
    codes, uniq = pd.factorize(log.df[log.key], sort=False)
    return codes, len(uniq)


def _tokens(log: EventLog) -> np.ndarray:
    df = log.df
    return (df["channel"].astype(str) + "|" + df["event_type"].astype(str)).to_numpy()


def _per_customer(codes: np.ndarray, n: int, cols: np.ndarray, width: int) -> np.ndarray:
    """Counts [N, width] of column index `cols` [E] per customer."""
    return np.bincount(codes * width + cols, minlength=n * width).reshape(n, width).astype(float)


def _token_block(codes, n, tok: np.ndarray, vocab: dict[str, int]) -> np.ndarray:
    idx = np.array([vocab[t] for t in tok], dtype=np.int64)
    counts = _per_customer(codes, n, idx, len(vocab))  # [N, V]
    length = counts.sum(1, keepdims=True)
    return np.hstack([counts / length, np.log1p(counts)])


def _bigram_ids(codes: np.ndarray, tok_idx: np.ndarray, v: int) -> tuple[np.ndarray, np.ndarray]:
    same = codes[1:] == codes[:-1]
    return codes[1:][same], tok_idx[:-1][same] * v + tok_idx[1:][same]


def _bigram_block(codes, n, tok, vocab, bigrams: dict[int, int]) -> np.ndarray:
    tok_idx = np.array([vocab[t] for t in tok], dtype=np.int64)
    who, ids = _bigram_ids(codes, tok_idx, len(vocab))
    cols = np.array([bigrams[i] for i in ids], dtype=np.int64)
    counts = _per_customer(who, n, cols, max(len(bigrams), 1))  # [N, B]
    return counts / np.maximum(counts.sum(1, keepdims=True), 1.0)


def _time_block(log: EventLog, codes, n, t_ref: np.int64) -> np.ndarray:
    t = log.df[log.time].to_numpy().astype(np.int64) // 10**9  # seconds
    first, last = np.full(n, np.iinfo(np.int64).max), np.zeros(n, dtype=np.int64)
    np.minimum.at(first, codes, t)
    np.maximum.at(last, codes, t)
    length = np.bincount(codes, minlength=n).astype(float)
    same = codes[1:] == codes[:-1]
    gaps = np.log1p(np.diff(t)[same].astype(float))
    who = codes[1:][same]
    g_mean = np.bincount(who, weights=gaps, minlength=n) / np.maximum(length - 1, 1)
    g_min, g_max = np.full(n, np.inf), np.zeros(n)
    np.minimum.at(g_min, who, gaps)
    np.maximum.at(g_max, who, gaps)
    g_min[np.isinf(g_min)] = 0.0
    start = (first - t_ref // 10**9) / _DAY
    return np.column_stack(
        [np.log1p(length), g_mean, g_min, g_max, start, np.log1p((last - first).astype(float))]
    )


def _numeric_block(log: EventLog, codes, n) -> np.ndarray:
    out = []
    for name in log.schema.event_names("numeric"):
        x = log.df[name].to_numpy(dtype=float)
        s = np.bincount(codes, weights=x, minlength=n)
        mean = np.bincount(codes, weights=_slog(x), minlength=n) / np.bincount(codes, minlength=n)
        mx = np.full(n, -np.inf)
        np.maximum.at(mx, codes, x)
        out += [_slog(s), mean, _slog(mx)]
    return np.column_stack(out) if out else np.zeros((n, 0))


def _context_block(log: EventLog, values: dict[str, list[str]]) -> np.ndarray:
    ctx = log.context()
    out = []
    for name in log.schema.context_names("categorical"):
        out.append(
            (ctx[name].astype(str).to_numpy()[:, None] == np.array(values[name])[None]).astype(
                float
            )
        )
    for name in log.schema.context_names("numeric"):
        out.append(_slog(ctx[name].to_numpy(dtype=float))[:, None])
    return np.hstack(out) if out else np.zeros((len(ctx), 0))


def _vocabularies(logs: Sequence[EventLog]):
    vocab = {t: i for i, t in enumerate(sorted(set().union(*(set(_tokens(g)) for g in logs))))}
    ids: set[int] = set()
    for g in logs:
        codes, _ = _codes(g)
        ids |= set(
            _bigram_ids(codes, np.array([vocab[t] for t in _tokens(g)]), len(vocab))[1].tolist()
        )
    bigrams = {b: i for i, b in enumerate(sorted(ids))}
    ctx_values = {
        c: sorted(set().union(*(set(g.df[c].astype(str)) for g in logs)))
        for c in logs[0].schema.context_names("categorical")
    }
    return vocab, bigrams, ctx_values


def embed(logs: Sequence[EventLog]) -> list[np.ndarray]:
    """Embed each log's journeys [N_i, D] in one feature space, standardised on the union."""
    if not logs or any(g.schema.all_names != logs[0].schema.all_names for g in logs):
        raise ConfigError(
            "embed needs one or more logs with the same columns; check that "
            "train, holdout and synthetic logs share one schema"
        )
    vocab, bigrams, ctx_values = _vocabularies(logs)
    t_ref = min(g.df[g.time].min() for g in logs).value
    blocks = []  # per log: list of group matrices
    for g in logs:
        codes, n = _codes(g)
        tok = _tokens(g)
        blocks.append(
            [
                _token_block(codes, n, tok, vocab),
                _bigram_block(codes, n, tok, vocab, bigrams),
                _time_block(g, codes, n, np.int64(t_ref)),
                _numeric_block(g, codes, n),
                _context_block(g, ctx_values),
            ]
        )
    return _standardise(blocks)


def _standardise(blocks: list[list[np.ndarray]]) -> list[np.ndarray]:
    out = [[] for _ in blocks]
    for j in range(len(blocks[0])):
        union = np.vstack([b[j] for b in blocks])
        if union.shape[1] == 0:
            continue
        mean, std = union.mean(0), union.std(0)
        std[std < 1e-12] = 1.0
        weight = 1.0 / np.sqrt(union.shape[1])
        for i, b in enumerate(blocks):
            out[i].append((b[j] - mean) / std * weight)
    return [np.hstack(parts) for parts in out]


def journey_hashes(log: EventLog) -> np.ndarray:
    """One hex digest per journey (log order) over every column but the customer id."""
    cols = [c for c in log.schema.all_names if c != log.key]
    rows = pd.util.hash_pandas_object(log.df[cols], index=False).to_numpy()
    codes, n = _codes(log)
    bounds = np.flatnonzero(np.diff(codes)) + 1
    return np.array([hashlib.sha256(part.tobytes()).hexdigest() for part in np.split(rows, bounds)])
