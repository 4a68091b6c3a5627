"""The PAR baseline's state as plain data, and the frame work around it.

`generators.par` fits SDV's PARSynthesizer; this module turns an EventLog into
the coded frame SDV is given, pulls the fitted deepecho `PARModel` apart into
JSON plus a tensor dict (no pickle), rebuilds a `PARModel` from them, and turns
sampled sequences back into an event table inside the schema's domains. It
also holds the context sampler that stands in for SDV's GaussianCopula: a
Gaussian copula over the per-customer context (context columns plus the first
event time) kept as plain numbers (marginals and a correlation matrix).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtr, ndtri
from scipy.stats import rankdata

from journeylab.journeys.errors import ConfigError, InternalError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema

TOKEN = "<TOKEN>"
START = "__start__"  # the context sampler's name for the first event time


# --- EventLog -> SDV frame ---------------------------------------------------
def domains_of(log: EventLog) -> dict[str, Any]:
    """Domains used to code and to clip: the schema's where declared, else the data's."""
    s, df = log.schema, log.df
    cats, bounds = {}, {}
    for c in s.columns:
        if c.kind == "categorical":
            cats[c.name] = (
                list(c.values) if c.values is not None else sorted(df[c.name].unique().tolist())
            )
        else:
            bounds[c.name] = [
                float(df[c.name].min()) if c.min is None else c.min,
                float(df[c.name].max()) if c.max is None else c.max,
            ]
    t = df[s.sequence_index]
    origin = s.time_start if s.time_start is not None else t.min().floor("s")
    end = (s.time_end - pd.Timedelta(seconds=1)) if s.time_end is not None else t.max()
    return {
        "categories": cats,
        "bounds": bounds,
        "origin": str(origin),
        "time_bounds": [0.0, float((end - origin).total_seconds())],
        "max_length": int(s.max_length or log.lengths().max()),
    }


def to_sdv_frame(log: EventLog, domains: dict[str, Any]) -> pd.DataFrame:
    """Customer id as text, time as seconds since the origin, categories as int codes.

    Integer codes matter: deepecho numbers categories in `set()` order, which for
    strings changes with Python's hash seed and so from one process to the next.
    """
    s, df = log.schema, log.df
    out = pd.DataFrame({s.sequence_key: df[s.sequence_key].astype(str)})
    origin = pd.Timestamp(domains["origin"])
    out[s.sequence_index] = (df[s.sequence_index] - origin).dt.total_seconds().astype(float)
    for c in s.columns:
        if c.kind == "categorical":
            codes = pd.Categorical(df[c.name], categories=domains["categories"][c.name]).codes
            out[c.name] = codes.astype(np.int64)
        else:
            out[c.name] = df[c.name].astype(float)
    return out


# --- fitted SDV synthesizer <-> JSON + tensors -------------------------------
def extract(synth, schema: Schema) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """What sampling needs from a fitted PARSynthesizer, as JSON-able data and tensors."""
    try:
        par = synth._model
        gaps = synth.extended_columns[schema.sequence_index]
        state = {
            "data_map": _map_to_json(par._data_map),
            "ctx_map": _map_to_json(par._ctx_map),
            "data_dims": int(par._data_dims),
            "ctx_dims": int(par._ctx_dims),
            "min_length": int(par._min_length),
            "max_length": int(par._max_length),
            "data_columns": list(synth._data_columns),
            "context_columns": list(synth.context_columns) + list(synth._extra_context_columns),
            "start_column": f"{schema.sequence_index}.context",
            "gap_bounds": [float(gaps._min_value), float(gaps._max_value)],
            "history": [
                {"epoch": int(e), "loss": float(v)}
                for e, v in par.loss_values[["Epoch", "Loss"]].itertuples(index=False)
            ],
        }
        tensors = {k: v.detach().cpu().clone() for k, v in par._model.state_dict().items()}
    except (AttributeError, KeyError) as e:
        import sdv

        raise InternalError(
            f"the fitted SDV {sdv.__version__} PARSynthesizer lacks {e}; "
            "generators/par_state.py reads SDV 2.0 internals and needs "
            "updating for this version"
        ) from e
    if state["start_column"] not in state["context_columns"]:
        raise InternalError(
            f"SDV did not add '{state['start_column']}' to PAR's context "
            f"{state['context_columns']}; update generators/par_state.py"
        )
    return state, tensors


def _plain(v):
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if np.isnan(v) else float(v)
    return str(v)


def _map_to_json(m: dict) -> list[dict[str, Any]]:
    # deepecho keys columns by position (int) plus '<TOKEN>'; JSON keys must be text,
    # so the map is a list of entries. Category order is kept: it is the one-hot order.
    out = []
    for key, props in m.items():
        e = {"key": key if key == TOKEN else int(key), "type": props["type"]}
        if props["type"] in ("categorical", "ordinal"):
            e["indices"] = [[_plain(v), int(i)] for v, i in props["indices"].items()]
        else:
            e.update({k: float(props[k]) for k in ("mu", "std", "min", "range") if k in props})
            e["nulls"] = bool(props["nulls"])
            e["indices"] = [int(i) for i in props["indices"]]
        out.append(e)
    return out


def _map_from_json(entries: list[dict[str, Any]]) -> dict:
    m = {}
    for e in entries:
        props = {k: v for k, v in e.items() if k not in ("key", "indices")}
        if e["type"] in ("categorical", "ordinal"):
            props["indices"] = {v: int(i) for v, i in e["indices"]}
        else:
            props["indices"] = tuple(int(i) for i in e["indices"])
        m[e["key"]] = props
    return m


def build_par(state: dict[str, Any], tensors: dict[str, torch.Tensor], config):
    """A deepecho PARModel ready to `sample_sequence`, rebuilt from JSON state and weights."""
    from deepecho.models.par import PARModel, PARNet

    par = PARModel(
        epochs=config.epochs, sample_size=config.sample_size, cuda=config.cuda, verbose=False
    )
    par._data_map = _map_from_json(state["data_map"])
    par._ctx_map = _map_from_json(state["ctx_map"])
    par._data_dims, par._ctx_dims = int(state["data_dims"]), int(state["ctx_dims"])
    par._min_length, par._max_length = int(state["min_length"]), int(state["max_length"])
    par._fixed_length = par._min_length == par._max_length
    with torch.random.fork_rng(devices=[]):  # PARNet's random init must not move global RNG
        net = PARNet(par._data_dims, par._ctx_dims, hidden_size=tensors["down.weight"].shape[0])
    net.load_state_dict(tensors, strict=True)
    par._model = net.to(par.device).eval()
    return par


# --- conditions ----------------------------------------------------------------
def condition_code(col: str, value, state: dict[str, Any], schema: Schema) -> float:
    """The coded value of one condition; refuses values PAR cannot condition on."""
    c = schema.column(col)
    if c.kind == "categorical":
        cats = state["domains"]["categories"][col]
        if value is None or str(value) not in cats:
            raise ConfigError(
                f"condition {col}={value!r} is outside the domain of '{col}'; "
                f"allowed values: {cats}"
            )
        code = cats.index(str(value))
        pos = state["context_columns"].index(col)
        # SDV hands deepecho context rows as floats, so codes are stored as 0.0, 1.0, ...
        seen = {int(v) for e in state["ctx_map"] if e["key"] == pos for v, _ in e["indices"]}
        if code not in seen:
            usable = [cats[i] for i in sorted(seen)]
            raise ConfigError(
                f"condition {col}={value!r}: no training customer had this value, "
                f"so PAR cannot condition on it; usable values: {usable}"
            )
        return code
    lo, hi = state["domains"]["bounds"][col]
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if not lo <= x <= hi:
        raise ConfigError(
            f"condition {col}={value!r} is outside the domain of '{col}'; "
            f"allowed values: numbers in [{lo}, {hi}]"
        )
    return x


# --- sampled sequences -> event table ------------------------------------------
def to_events(
    seqs: list[list[list]],
    ctx: dict[str, np.ndarray],
    state: dict[str, Any],
    schema: Schema,
    *,
    prefix: str,
) -> pd.DataFrame:
    """deepecho sequences ([column][step]) + sampled contexts -> a valid event frame."""
    dom, cols = state["domains"], state["data_columns"]
    lengths = np.array([len(s[0]) for s in seqs])
    ids = np.array([f"{prefix}{i:06d}" for i in range(len(seqs))], dtype=object)
    out = {schema.sequence_key: np.repeat(ids, lengths)}
    j = cols.index(schema.sequence_index)
    secs = np.concatenate(
        [
            _times(s[j], start, state["gap_bounds"])
            for s, start in zip(seqs, ctx[START], strict=True)
        ]
    )
    lo, hi = dom["time_bounds"]
    secs = np.clip(np.round(secs), np.ceil(lo), np.floor(hi))
    out[schema.sequence_index] = pd.Timestamp(dom["origin"]) + pd.to_timedelta(
        secs.astype(np.int64), unit="s"
    )
    for c in schema.events:
        raw = np.concatenate([np.asarray(s[cols.index(c.name)], dtype=float) for s in seqs])
        out[c.name] = _decode(c, raw, dom)
    for c in schema.context:
        out[c.name] = _decode(c, np.repeat(np.asarray(ctx[c.name], dtype=float), lengths), dom)
    df = pd.DataFrame(out)[schema.all_names].drop_duplicates()
    df = df.sort_values([schema.sequence_key, schema.sequence_index], kind="stable")
    return df.groupby(schema.sequence_key, sort=False).head(dom["max_length"])


def _times(gaps: list, start: float, bounds: list[float]) -> np.ndarray:
    # As SDV does: gaps clipped to the training range, first event at the sampled start.
    g = np.clip(np.asarray(gaps, dtype=float), *bounds)
    return np.cumsum(g) - g[0] + start


def _decode(c, raw: np.ndarray, dom: dict[str, Any]) -> np.ndarray:
    if c.kind == "categorical":
        cats = np.asarray(dom["categories"][c.name], dtype=object)
        if np.isnan(raw).any() or ((raw < 0) | (raw >= len(cats))).any():
            raise InternalError(
                f"PAR produced a code outside the {len(cats)} categories of '{c.name}'"
            )
        return cats[raw.astype(np.int64)]
    x = np.clip(raw, *dom["bounds"][c.name])
    return x if c.decimals is None else np.round(x, c.decimals)


# --- the context sampler: a Gaussian copula kept as plain numbers ----------
def fit_context_model(
    contexts: pd.DataFrame, schema: Schema, domains: dict, *, quantiles: int
) -> dict[str, Any]:
    """Per-customer context (coded columns + first event time) -> marginals + correlation."""
    cols, latent = [], []
    grid = np.linspace(0.0, 1.0, quantiles)
    for c in schema.context:
        x = contexts[c.name].to_numpy()
        if c.kind == "categorical":
            size = len(domains["categories"][c.name])
            probs = np.bincount(x.astype(int), minlength=size) / len(x)
            cols.append({"name": c.name, "kind": "categorical", "probs": probs.tolist()})
            latent.append(_cat_u(probs, x.astype(int)))
        else:
            cols.append(_numeric_marginal(c.name, x, grid))
            latent.append(_rank_u(x))
    x = contexts[schema.sequence_index].to_numpy(dtype=float)
    cols.append(_numeric_marginal(START, x, grid))
    latent.append(_rank_u(x))
    z = ndtri(np.clip(np.stack(latent, axis=1), 1e-6, 1 - 1e-6))  # [N, d]
    return {"columns": cols, "corr": _correlation(z).tolist()}


def _numeric_marginal(name: str, x: np.ndarray, grid: np.ndarray) -> dict[str, Any]:
    return {"name": name, "kind": "numeric", "quantiles": np.quantile(x, grid).tolist()}


def _cat_u(probs: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """A category's latent uniform: the midpoint of its interval on [0, 1]."""
    cum = np.concatenate([[0.0], np.cumsum(probs)])
    return cum[codes] + probs[codes] / 2


def _rank_u(x: np.ndarray) -> np.ndarray:
    return (rankdata(x) - 0.5) / len(x)


def _correlation(z: np.ndarray, shrink: float = 0.01) -> np.ndarray:
    d = z.shape[1]
    if d == 1 or len(z) < 3:
        return np.eye(d)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.nan_to_num(np.corrcoef(z, rowvar=False))
    np.fill_diagonal(r, 1.0)
    return (1 - shrink) * r + shrink * np.eye(d)  # keeps it positive definite


def sample_context(
    model: dict[str, Any], n: int, *, fixed: dict[str, float], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Draw `n` contexts; columns in `fixed` take the given code/value, the rest follow."""
    cols = model["columns"]
    r = np.asarray(model["corr"], dtype=float)
    idx = [i for i, c in enumerate(cols) if c["name"] in fixed]
    z_fixed = np.array(
        [ndtri(np.clip(_to_u(cols[i], fixed[cols[i]["name"]]), 1e-6, 1 - 1e-6)) for i in idx]
    )
    z = _conditional_normal(r, idx, z_fixed, n, rng)  # [n, d]
    out = {}
    for i, c in enumerate(cols):
        if c["name"] in fixed:
            out[c["name"]] = np.full(n, fixed[c["name"]])
        else:
            out[c["name"]] = _from_u(c, ndtr(z[:, i]))
    return out


def _conditional_normal(
    r: np.ndarray, idx: list[int], z_fixed: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    d = len(r)
    free = [i for i in range(d) if i not in idx]
    z = np.zeros((n, d))
    z[:, idx] = z_fixed
    mean, cov = np.zeros(len(free)), r[np.ix_(free, free)]
    if idx:
        a = np.linalg.solve(r[np.ix_(idx, idx)], r[np.ix_(idx, free)]).T  # [free, fixed]
        mean, cov = a @ z_fixed, cov - a @ r[np.ix_(idx, free)]
    chol = np.linalg.cholesky(cov + 1e-9 * np.eye(len(free)))
    z[:, free] = mean + rng.standard_normal((n, len(free))) @ chol.T
    return z


def _to_u(col: dict[str, Any], value: float) -> float:
    if col["kind"] == "categorical":
        return float(_cat_u(np.asarray(col["probs"]), np.array([int(value)]))[0])
    q = np.asarray(col["quantiles"])
    return float(np.interp(value, q, np.linspace(0, 1, len(q))))


def _from_u(col: dict[str, Any], u: np.ndarray) -> np.ndarray:
    if col["kind"] == "categorical":
        cum = np.cumsum(col["probs"])
        return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1).astype(np.int64)
    q = np.asarray(col["quantiles"])
    return np.interp(u, np.linspace(0, 1, len(q)), q)
