"""Journey completion: continue given journeys with a trained VAE.

    done = complete_journeys(gen, prefix_log, seed=0, horizon=30)   # 30 days past each
    done.log                      # every prefix event kept exactly, then the model's
    done.log.df[done.given]       # the prefix's own rows

How: the VAE's decoder is autoregressive (generators/vae.py). Each journey is
decoded step by step as in sampling, but for the first k steps (k = its prefix
length) the decoder is fed the prefix's encoded event instead of a sampled one
(teacher forcing), so the model's state after step k is its state "having seen"
the prefix. From step k on it samples, and stops at its own end flag, at the
data window's end, at `max_length`, or past the limit (`horizon` days after the
prefix's last event, or `until`).

What is kept exactly: every prefix row (all columns) and each customer's
context; the continuation's context is copied from the prefix, never sampled.
The latent z is drawn from the encoder's q(z | prefix), the prefix read as if it
were a whole journey (`latent="posterior"`, the default), or from the prior
(`latent="prior"`). The posterior carries what kind of customer the prefix shows:
on the simulator (bench/scenarios_model.py, 600 training customers) the
completed journeys' purchases per customer were 4.6 with it against 4.4 in truth,
and 7.1 with the prior, whose z says nothing about the customer (before the
prefixes were read as observed up to their cut; with that, 4.2 against 4.6).
What it carries is mostly the segment (bench/bench_latent.py): the simulator's
hidden per-customer propensity and engagement are read no better from it than
from two counts of the prefix. A scenario's intervened arm reads z from the
factual prefixes (`latent_from`), as its control arm does: removing the prefix's
emails changes the world the customer lives in, not who the customer is. The journey
profile (generators/profile.py) is not applied: it would redraw the prefix's
clock times.

Random numbers: batch b (customers in the prefix's order, `sample_batch_size`
at a time) looks its draws up by (seed, b, key), the key counting the events a
journey has drawn past its prefix, those of touched values (`touched`, removed,
delayed) apart (generators/continuation.py), so row i gets the same draws
whatever the other rows do, and two prefixes that differ by an inserted or
removed event still share the draws of their new events. Two prefix logs with
the same customers in the same order therefore get common random numbers (what
scenarios rely on).

Removing and delaying events (`remove`, `delays`) thin the continuation: a
generated event of a removed kind is dropped from the output and from the
history the model conditions on, and the step is drawn again after its time; a
delayed one is queued and fed to the model later (generators/continuation.py).

Privacy: a real prefix is real personal data. It passes through the output
unchanged and the continuation depends on it; the model's DP guarantee covers
neither. `prefix_note` says so; runs and files carry it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from journeylab.generators.continuation import (
    QUEUE,
    Delay,
    KeyedDraws,
    continue_batch,
    layout,
)
from journeylab.generators.data import Binning, JourneyData
from journeylab.journeys.encoding import EncodedJourneys
from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.eventlog import EventLog
from journeylab.privacy.caveats import PREFIX_CAVEAT

PREFIX_SOURCES = ("real", "synthetic")
LATENTS = ("prior", "posterior")


def prefix_note(source: str) -> str:
    """What a completion's output is, privacy-wise, for prefixes that are `source`."""
    head = f"prefix: {source}. Journeys start with the given prefix events, copied unchanged."
    if source == "synthetic":
        return head + " The prefixes are synthetic, so the output is too."
    return (
        f"{head} Not covered by the model's differential privacy guarantee: {PREFIX_CAVEAT}. "
        "Treat this output as personal data."
    )


@dataclass(frozen=True)
class Completion:
    """Completed journeys; `given[i]` is True when row i of `log.df` is a prefix event."""

    log: EventLog
    given: np.ndarray

    def given_counts(self) -> dict[str, int]:
        """Prefix events per customer (customers in the log's order)."""
        key = self.log.key
        counts = pd.Series(self.given, index=self.log.df.index).groupby(self.log.df[key]).sum()
        return {str(k): int(v) for k, v in counts.items()}


def complete_journeys(
    gen,
    prefix: EventLog,
    *,
    seed: int = 0,
    horizon: float | None = None,
    until: str | pd.Timestamp | None = None,
    remove: dict[str, list[str]] | None = None,
    delays: Sequence[EventDelay] = (),
    later: EventLog | None = None,
    observed_until: str | pd.Timestamp | None = None,
    latent: str = "posterior",
    touched: dict[str, list[str]] | None = None,
    latent_from: EventLog | None = None,
) -> Completion:
    """Continue each journey of `prefix` with the VAE `gen` (see the module docstring).

    `horizon`: days after each journey's last prefix event; `until`: a time; at most
    one of them (neither: to the model's end or the window's). `remove`: event values
    thinned out of the continuations ({"channel": ["email"]}: a generated email event
    is dropped from the output and from the history the model conditions on);
    `delays`: generated events re-inserted later (generators/continuation.py).
    `later`: events (of the prefixes' customers, after their prefixes) that the world
    inserts into the continuations at their times, e.g. a promotion: the model
    continues from the prefix as in the other arm and is fed the event when its
    next event would come after it (a customer whose journey ended first gets none).
    `observed_until`: the prefixes are whole up to this time (a prefix cut at a day):
    no journey had an event between its last prefix event and it, so each first new
    event comes after it, and a journey's end is drawn knowing it was quiet till then.
    `latent`: z drawn from the encoder's q(z | prefix) ("posterior", the default), or
    from the prior (see the module docstring). `touched`: event values ({"channel":
    ["email"]}) whose events key the draws apart from the others, as removed and
    delayed ones always do (generators/continuation.py); give both arms of a
    comparison the same, so that an email dropped in one arm and kept in the other
    leaves the arms on the same draws after it. `latent_from`: the prefixes (the same
    customers in the same order) whose posterior gives z, where `prefix` is an
    intervened copy of them: who the customer is is read from what happened, and the
    intervention changes the world, not the customer (the abduction step of a
    counterfactual). A scenario gives its factual prefixes to both arms."""
    _check(gen, prefix, horizon, until)
    if latent not in LATENTS:
        raise ConfigError(f"latent {latent!r} must be one of {list(LATENTS)}")
    masks = value_masks(gen.encoder, remove, what="removed")
    touch = value_masks(gen.encoder, touched, what="touched")
    enc = gen.encoder.encode(prefix)
    factual = _factual(gen, latent_from, enc)
    delay = _delays(gen.encoder, delays, enc.customer_ids)
    queued = _later(gen, later, enc)
    quiet = _quiet(observed_until, prefix.schema.time_start, gen.encoder.time_span, len(enc))
    limit = _limits(enc, gen.encoder.time_span, horizon, until, prefix.schema.time_start)
    bs, data, parts = gen.config.sample_batch_size, JourneyData(enc, gen.codec), []
    width, _ = layout(gen.net.heads, gen.codec.n_numeric)
    for b, i in enumerate(range(0, len(enc), bs)):
        rows = torch.arange(i, min(i + bs, len(enc)))
        draws = KeyedDraws(seed, b, len(rows), width)
        edits = {"remove": masks, "delays": [replace(d, rows=d.rows[rows]) for d in delay]}
        edits["touch"] = touch
        edits["z_from"] = None if factual is None else factual.take(rows)
        edits["later"] = None if queued is None else tuple(x[rows] for x in queued)
        edits["quiet"] = None if quiet is None else quiet[rows]
        parts.append(continue_batch(gen.net, data.take(rows), limit[rows], draws, edits, latent))
    new = _new_events(gen, enc, _stack(parts))
    return _merge(prefix, new)


def _factual(gen, latent_from: EventLog | None, enc: EncodedJourneys) -> JourneyData | None:
    """`latent_from` encoded, its customers checked against the prefix's, row for row."""
    if latent_from is None:
        return None
    if latent_from.schema.fingerprint() != gen.schema.fingerprint():
        raise ConfigError(
            f"latent_from has schema '{latent_from.schema.name}', the model "
            f"'{gen.schema.name}'; read it with the model's schema"
        )
    other = gen.encoder.encode(latent_from)
    if list(map(str, other.customer_ids)) != list(map(str, enc.customer_ids)):
        raise ConfigError(
            "latent_from must hold the prefix's customers in the prefix's order "
            f"({len(enc.customer_ids)} prefixes, {len(other.customer_ids)} in latent_from)"
        )
    return JourneyData(other, gen.codec)


def _check(gen, prefix: EventLog, horizon, until) -> None:
    """Every problem with the arguments, in one ConfigError."""
    if getattr(gen, "name", None) != "vae":
        raise ConfigError(
            f"journey completion needs the VAE (its decoder continues a journey step by "
            f"step); the {getattr(gen, 'name', type(gen).__name__)} generator cannot take "
            "a prefix. Fit with --model vae"
        )
    gen._require_fitted()
    problems = []
    if prefix.schema.fingerprint() != gen.schema.fingerprint():
        problems.append(
            f"the prefix log has schema '{prefix.schema.name}', the model "
            f"'{gen.schema.name}'; read the prefixes with the model's schema"
        )
    if until is not None:
        try:
            pd.Timestamp(until)
        except (TypeError, ValueError):
            problems.append(f"until {until!r} is not a time; write e.g. 2024-06-01")
    if horizon is not None and until is not None:
        problems.append("give --horizon or --until, not both")
    if horizon is not None and not (isinstance(horizon, (int, float)) and horizon > 0):
        problems.append(f"horizon {horizon!r} must be a positive number of days, e.g. 30")
    longest = int(prefix.lengths().max()) if prefix.n_events else 0
    if longest > gen.codec.max_length:
        problems.append(
            f"a prefix has {longest} events, more than the model's max_length "
            f"{gen.codec.max_length}; shorten the prefixes"
        )
    if problems:
        raise ConfigError("journey completion: " + "; ".join(problems))


def _limits(enc: EncodedJourneys, span: float, horizon, until, t0) -> torch.Tensor:
    """[n] the latest time a new event may have, as a fraction of the window."""
    last = enc.start + enc.gaps.sum(1)  # [n] seconds of each prefix's last event
    if horizon is not None:
        return ((last + float(horizon) * 86_400) / span).float()
    if until is not None:
        secs = (pd.Timestamp(until) - t0).total_seconds()
        return torch.full_like(last, secs / span).float()
    return torch.full_like(last, 1.0).float()


@dataclass(frozen=True)
class EventDelay:
    """Generated events with one of `values` ({event column: [values]}) come `days` later,
    for the journeys of `customers` (None: every journey)."""

    values: dict[str, list[str]]
    days: float
    customers: Collection[str] | None = None


def _delays(encoder, delays: Sequence[EventDelay], ids: list[str]) -> list[Delay]:
    """Each delay as masks over the heads' classes and a bool [n] over the prefixes."""
    out = []
    for d in delays:
        if not (isinstance(d.days, (int, float)) and d.days >= 0):
            raise ConfigError(f"delay days {d.days!r} must be a number of days >= 0, e.g. 14")
        who = set(map(str, d.customers)) if d.customers is not None else None
        rows = torch.tensor([who is None or str(i) in who for i in ids], dtype=torch.bool)
        masks = value_masks(encoder, d.values, what="delayed")
        if d.days > 0:  # a delay of 0 days changes nothing: no thinning at all
            out.append(Delay(masks, float(d.days), rows))
    return out


def _quiet(until, t0, span: float, n: int) -> torch.Tensor | None:
    """[n] `until` as a fraction of the window (None stays None)."""
    if until is None:
        return None
    try:
        secs = (pd.Timestamp(until) - t0).total_seconds()
    except (TypeError, ValueError) as e:
        raise ConfigError(f"observed_until {until!r} is not a time; write e.g. 2024-03-01") from e
    return torch.full((n,), secs / span, dtype=torch.float32)


def _later(gen, later: EventLog | None, enc: EncodedJourneys) -> tuple | None:
    """`later`'s events per prefix row: times [n, q] as window fractions (inf: none),
    tokens [n, q, C] 1-based and log numerics [n, q, M]."""
    if later is None or later.n_events == 0:
        return None
    ids = {str(c): i for i, c in enumerate(enc.customer_ids)}
    extra = gen.encoder.encode(later)
    problems = [f"customer {c!r} has no prefix" for c in extra.customer_ids if str(c) not in ids]
    last = (enc.start + enc.gaps.sum(1)) / gen.encoder.time_span  # [n] prefix ends
    first = extra.start / gen.encoder.time_span
    early = [
        c
        for c, t in zip(extra.customer_ids, first.tolist(), strict=True)
        if str(c) in ids and t < float(last[ids[str(c)]])
    ]
    problems += [f"customer {c!r} has one before its prefix's last event" for c in early]
    q = int(extra.lengths.max())
    if q > QUEUE:
        problems.append(f"{q} events inserted for one customer; at most {QUEUE}")
    if problems:
        raise ConfigError("events inserted later: " + "; ".join(problems[:5]))
    n, C, M = len(enc), extra.tokens.shape[2], extra.numerics.shape[2]
    at, tok, w = (
        torch.full((n, q), float("inf")),
        torch.zeros(n, q, C, dtype=torch.long),
        torch.zeros(n, q, M),
    )
    rows = torch.tensor([ids[str(c)] for c in extra.customer_ids])
    times = (extra.start[:, None] + extra.gaps.cumsum(1)) / gen.encoder.time_span  # [k, L]
    ok = extra.mask()[:, :q]
    at[rows] = torch.where(ok, times[:, :q], torch.tensor(float("inf"))).float()
    tok[rows], w[rows] = extra.tokens[:, :q], Binning.w_of_u(extra.numerics[:, :q]).float()
    return at, tok, w


def value_masks(encoder, chosen: dict[str, list[str]] | None, *, what: str) -> dict:
    """{event column: values} -> {head field: bool mask [classes]} (True = the values)."""
    names = [c.name for c in encoder.event_cat]
    problems, masks = [], {}
    for col, values in (chosen or {}).items():
        if col not in names:
            problems.append(f"'{col}' is not an event categorical; choose one of {names}")
            continue
        c = encoder.event_cat[names.index(col)]
        bad = [v for v in values if v not in c.values]
        problems += [f"{col} value {v!r} is unknown; choose from {list(c.values)}" for v in bad]
        mask = torch.tensor([v in values for v in c.values])
        if mask.all() and what == "removed":
            problems.append(f"removing every {col} value leaves nothing to generate")
        masks[1 + names.index(col)] = mask
    if problems:
        raise ConfigError(f"{what} values: " + "; ".join(problems))
    return masks


def _stack(parts: list[dict]) -> dict:
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def _new_events(gen, enc: EncodedJourneys, out: dict) -> pd.DataFrame:
    """The continuations as rows of the schema (context copied later from the prefix)."""
    has = out["n_new"] > 0
    if not has.any():
        return pd.DataFrame(columns=gen.schema.all_names)
    codec, idx = gen.codec, has.nonzero().squeeze(1)
    gaps = codec.gap_of_g(out["g"][idx].double())  # [k, L] seconds since the previous
    last = (enc.start + enc.gaps.sum(1))[idx]  # the prefix's last event
    first_gap, gaps[:, 0] = gaps[:, 0].clone(), 0.0
    new = EncodedJourneys(
        customer_ids=[enc.customer_ids[i] for i in idx.tolist()],
        lengths=out["n_new"][idx],
        tokens=out["tok"][idx],
        numerics=Binning.u_of_w(out["w"][idx]).double(),
        gaps=gaps,
        start=last + first_gap,
        context_tokens=enc.context_tokens[idx],
        context_numerics=enc.context_numerics[idx],
    )
    return gen.encoder.decode(new).df


def _merge(prefix: EventLog, new: pd.DataFrame) -> Completion:
    """Prefix rows, unchanged, plus the new rows with their customer's prefix context."""
    schema, key = prefix.schema, prefix.key
    ctx = [c.name for c in schema.context]
    if len(new):
        own = prefix.df.groupby(key, sort=False)[ctx].first()
        new = new.assign(**{c: new[key].map(own[c]).to_numpy() for c in ctx})
    cols = schema.all_names
    parts = [prefix.df[cols]] + ([new[cols]] if len(new) else [])
    df = pd.concat(parts, ignore_index=True)
    df = df.drop_duplicates(subset=cols, keep="first")  # a new row equal to a given one
    log = EventLog.from_frame(df, schema)
    # validation sorts the rows; find the prefix's own rows again by their values
    marked = log.df[cols].merge(prefix.df[cols].assign(_given=True), on=cols, how="left")
    given = marked["_given"].notna().to_numpy()
    if len(log.df) != len(df) or int(given.sum()) != prefix.n_events:
        raise DataError(
            f"completion kept {int(given.sum())} of {prefix.n_events} prefix events and "
            f"{len(log.df)} of {len(df)} rows",
            fix="report this with the model and the prefix file",
        )
    return Completion(log, given)
