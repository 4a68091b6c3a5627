"""Customer-360 features from the events before a cutoff, one row per customer.

    X = customer_features(log, cutoff="2017-10-01")          # events with time < cutoff
    X = customer_features(log, cutoff=t, inclusive=True)     # events with time <= t (scoring)

Columns (every one a number; names from `FeatureLayout(schema).names`):
- volume and value: n_events, n_conversions, has_conversion, events_per_30d,
  conversions_per_30d; per event numeric m: m_sum, m_max, m_per_conversion;
- time: tenure_days (since the first event), recency_days (since the last),
  recency_conversion_days (since the last conversion; tenure when none);
- mix: per event categorical c and value v, the count `c=v` and share `c=v_share`
  (channels, event types, ...);
- recent windows (7, 30, 90 days before the as-of time): events, conversions,
  sum of each numeric;
- rhythm: mean, std, max and last gap between consecutive events (days);
- context: one-hot `ctx_c=v` per context categorical, raw value per context numeric.

The work is split in two so that streaming and batch give the same numbers:
`raw_stats` reduces a log to per-customer sufficient statistics (counts, sums,
first/last times, window counts) and `derive` turns statistics into features.
The streaming scorer keeps the same statistics incrementally and calls the same
`derive`; sums are accumulated in event order on both sides, so the features
are equal to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema

DAY_NS = 86_400 * 10**9
WINDOWS = (7, 30, 90)  # days


class FeatureLayout:
    """Feature names and the category indices a schema implies."""

    def __init__(self, schema: Schema, conversion: Sequence[str] = ("purchase",)):
        self.schema = schema
        self.conversion = tuple(conversion)
        self.event_cat = {
            n: list(schema.column(n).values or ()) for n in schema.event_names("categorical")
        }
        self.event_num = schema.event_names("numeric")
        self.ctx_cat = {
            n: list(schema.column(n).values or ()) for n in schema.context_names("categorical")
        }
        self.ctx_num = schema.context_names("numeric")
        self.index = {
            c: {v: i for i, v in enumerate(vals)}
            for c, vals in {**self.event_cat, **self.ctx_cat}.items()
        }
        self.names = list(derive(_empty_stats(self), 0, self))


@dataclass
class Stats:
    """Per-customer sufficient statistics; arrays of length n (customers)."""

    n: np.ndarray  # int64 events
    first_ns: np.ndarray  # int64 time of the first event
    last_ns: np.ndarray  # int64 time of the last event
    n_conv: np.ndarray  # int64 conversions
    last_conv_ns: np.ndarray  # int64 time of the last conversion (first_ns when none)
    num_sum: np.ndarray  # [n, M] float64
    num_max: np.ndarray  # [n, M] float64
    cat: list[np.ndarray]  # per event categorical: [n, V] int64 counts
    gap_sum: np.ndarray  # float64 days
    gap_sq: np.ndarray  # float64 days^2
    gap_max: np.ndarray  # float64 days
    gap_last: np.ndarray  # float64 days
    win_n: np.ndarray  # [n, W] int64 events in each window
    win_conv: np.ndarray  # [n, W] int64 conversions in each window
    win_num: np.ndarray  # [n, W, M] float64 numeric sums in each window
    ctx_cat: np.ndarray  # [n, K] int64 category index, -1 unknown
    ctx_num: np.ndarray  # [n, J] float64


def derive(s: Stats, as_of_ns: int | np.ndarray, layout: FeatureLayout) -> dict[str, np.ndarray]:
    """Features from statistics as of a time (ns since the epoch); name -> [n] float64."""
    f: dict[str, np.ndarray] = {}
    n = s.n.astype(np.float64)
    tenure = (as_of_ns - s.first_ns) / DAY_NS
    f["n_events"] = n
    f["n_conversions"] = s.n_conv.astype(np.float64)
    f["has_conversion"] = (s.n_conv > 0).astype(np.float64)
    f["tenure_days"] = tenure
    f["recency_days"] = (as_of_ns - s.last_ns) / DAY_NS
    f["recency_conversion_days"] = (as_of_ns - s.last_conv_ns) / DAY_NS
    f["events_per_30d"] = n / np.maximum(tenure, 1.0) * 30.0
    f["conversions_per_30d"] = f["n_conversions"] / np.maximum(tenure, 1.0) * 30.0
    for j, m in enumerate(layout.event_num):
        f[f"{m}_sum"] = s.num_sum[:, j]
        f[f"{m}_max"] = s.num_max[:, j]
        f[f"{m}_per_conversion"] = s.num_sum[:, j] / np.maximum(f["n_conversions"], 1.0)
    safe_n = np.maximum(n, 1.0)
    for counts, (c, values) in zip(s.cat, layout.event_cat.items(), strict=True):
        for i, v in enumerate(values):
            f[f"{c}={v}"] = counts[:, i].astype(np.float64)
            f[f"{c}={v}_share"] = counts[:, i] / safe_n
    n_gaps = np.maximum(n - 1.0, 1.0)
    mean = s.gap_sum / n_gaps
    f["gap_mean_days"] = mean
    f["gap_std_days"] = np.sqrt(np.maximum(s.gap_sq / n_gaps - mean * mean, 0.0))
    f["gap_max_days"] = s.gap_max
    f["gap_last_days"] = s.gap_last
    for w_i, w in enumerate(WINDOWS):
        f[f"n_events_{w}d"] = s.win_n[:, w_i].astype(np.float64)
        f[f"n_conversions_{w}d"] = s.win_conv[:, w_i].astype(np.float64)
        for j, m in enumerate(layout.event_num):
            f[f"{m}_sum_{w}d"] = s.win_num[:, w_i, j]
    for k, (c, values) in enumerate(layout.ctx_cat.items()):
        for i, v in enumerate(values):
            f[f"ctx_{c}={v}"] = (s.ctx_cat[:, k] == i).astype(np.float64)
    for j, c in enumerate(layout.ctx_num):
        f[f"ctx_{c}"] = s.ctx_num[:, j]
    return f


def customer_features(
    log: EventLog,
    *,
    cutoff,
    inclusive: bool = False,
    conversion: Sequence[str] = ("purchase",),
    layout: FeatureLayout | None = None,
) -> pd.DataFrame:
    """Features as of `cutoff` from events before it (or at it, when inclusive).

    One row per customer with at least one such event, indexed by customer id
    in log order; customers without history are absent.
    """
    layout = layout or FeatureLayout(log.schema, conversion)
    at = pd.Timestamp(cutoff)
    t = log.df[log.time]
    df = log.df.loc[(t <= at) if inclusive else (t < at)]
    ids, stats = raw_stats(df, layout, as_of_ns=at.value)
    feats = derive(stats, at.value, layout)
    return pd.DataFrame(feats, index=pd.Index(ids, name=log.key))[layout.names]


def raw_stats(df: pd.DataFrame, layout: FeatureLayout, *, as_of_ns: int) -> tuple[list, Stats]:
    """Per-customer statistics of a table sorted by customer and time (vectorised)."""
    schema = layout.schema
    codes, ids = pd.factorize(df[schema.sequence_key], sort=False)
    nc = len(ids)
    t_ns = df[schema.sequence_index].to_numpy().astype("datetime64[ns]").astype(np.int64)
    first_row = np.r_[True, codes[1:] != codes[:-1]] if len(codes) else np.zeros(0, bool)
    last_row = np.r_[codes[1:] != codes[:-1], True] if len(codes) else np.zeros(0, bool)
    conv = df["event_type"].isin(layout.conversion).to_numpy()
    nums = df[layout.event_num].to_numpy(np.float64) if layout.event_num else np.zeros((len(df), 0))
    first_ns, last_ns = t_ns[first_row], t_ns[last_row]
    last_conv_ns = first_ns.copy()
    np.maximum.at(last_conv_ns, codes[conv], t_ns[conv])
    gaps = np.where(first_row, 0.0, np.diff(t_ns, prepend=t_ns[:1]) / DAY_NS)
    has_gap = ~first_row
    gap_max = np.zeros(nc)
    np.maximum.at(gap_max, codes[has_gap], gaps[has_gap])
    num_max = np.zeros((nc, nums.shape[1]))
    for j in range(nums.shape[1]):
        num_max[:, j] = _group_max(codes, nums[:, j], nc)
    win_n, win_conv, win_num = _windows(codes, t_ns, conv, nums, nc, as_of_ns)
    return list(ids), Stats(
        n=np.bincount(codes, minlength=nc).astype(np.int64),
        first_ns=first_ns,
        last_ns=last_ns,
        n_conv=np.bincount(codes[conv], minlength=nc).astype(np.int64),
        last_conv_ns=last_conv_ns,
        num_sum=np.stack([_sum(codes, nums[:, j], nc) for j in range(nums.shape[1])], 1)
        if nums.shape[1]
        else np.zeros((nc, 0)),
        num_max=num_max,
        cat=[_counts(codes, df[c], layout.index[c], nc) for c in layout.event_cat],
        gap_sum=_sum(codes[has_gap], gaps[has_gap], nc),
        gap_sq=_sum(codes[has_gap], gaps[has_gap] * gaps[has_gap], nc),
        gap_max=gap_max,
        gap_last=np.where(last_row & has_gap, gaps, 0.0)[last_row],
        win_n=win_n,
        win_conv=win_conv,
        win_num=win_num,
        ctx_cat=_context_codes(df.loc[first_row], layout),
        ctx_num=df.loc[first_row, layout.ctx_num].to_numpy(np.float64)
        if layout.ctx_num
        else np.zeros((nc, 0)),
    )


def _sum(codes: np.ndarray, w: np.ndarray, nc: int) -> np.ndarray:
    # bincount adds the weights one by one in row (= event) order, like the streaming state.
    return np.bincount(codes, weights=w, minlength=nc).astype(np.float64)


def _group_max(codes: np.ndarray, x: np.ndarray, nc: int) -> np.ndarray:
    out = np.full(nc, -np.inf)
    np.maximum.at(out, codes, x)
    return out


def _counts(codes: np.ndarray, col: pd.Series, index: dict, nc: int) -> np.ndarray:
    v = len(index)
    cat = col.map(index).to_numpy(np.int64)
    return np.bincount(codes * v + cat, minlength=nc * v).reshape(nc, v).astype(np.int64)


def _windows(codes, t_ns, conv, nums, nc, as_of_ns):
    w_n = np.zeros((nc, len(WINDOWS)), np.int64)
    w_conv = np.zeros((nc, len(WINDOWS)), np.int64)
    w_num = np.zeros((nc, len(WINDOWS), nums.shape[1]))
    age = as_of_ns - t_ns
    for i, w in enumerate(WINDOWS):
        inside = age < w * DAY_NS
        w_n[:, i] = np.bincount(codes[inside], minlength=nc)
        w_conv[:, i] = np.bincount(codes[inside & conv], minlength=nc)
        for j in range(nums.shape[1]):
            w_num[:, i, j] = _sum(codes[inside], nums[inside, j], nc)
    return w_n, w_conv, w_num


def _context_codes(first: pd.DataFrame, layout: FeatureLayout) -> np.ndarray:
    cols = [first[c].map(layout.index[c]).fillna(-1).to_numpy(np.int64) for c in layout.ctx_cat]
    return np.stack(cols, 1) if cols else np.zeros((len(first), 0), np.int64)


def _empty_stats(layout: FeatureLayout) -> Stats:
    """Statistics of one customer with no events: used to list the feature names."""
    z = np.zeros(1, np.int64)
    m, w = len(layout.event_num), len(WINDOWS)
    return Stats(
        n=z,
        first_ns=z,
        last_ns=z,
        n_conv=z,
        last_conv_ns=z,
        num_sum=np.zeros((1, m)),
        num_max=np.zeros((1, m)),
        cat=[np.zeros((1, len(v)), np.int64) for v in layout.event_cat.values()],
        gap_sum=np.zeros(1),
        gap_sq=np.zeros(1),
        gap_max=np.zeros(1),
        gap_last=np.zeros(1),
        win_n=np.zeros((1, w), np.int64),
        win_conv=np.zeros((1, w), np.int64),
        win_num=np.zeros((1, w, m)),
        ctx_cat=np.full((1, len(layout.ctx_cat)), -1, np.int64),
        ctx_num=np.zeros((1, len(layout.ctx_num))),
    )
