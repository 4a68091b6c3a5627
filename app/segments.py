"""The Journeys page's segment view: the real customers of one context segment (say
`segment = premium`) next to synthetic journeys generated conditioned on it.

    cols = segment_columns(real)                          # {"segment": ["budget", ...], ...}
    mine = real_segment(real, "segment", "premium")       # those customers' journeys
    syn = segment_sample(gen, "segment", "premium", n=len(mine.customers), seed=0)

`segment_sample` is `sample_log` with one condition: the very journeys
`journeylab sample --run-id R -n N --seed S --condition segment=premium` writes
(`sample_command`). Pure functions: no Streamlit; the page caches them.
"""

from __future__ import annotations

import shlex

import pandas as pd

from journeylab.generators.base import sample_log
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.eventlog import EventLog
from journeylab.store import resolve_path

MAX_SYNTHETIC = 500  # journeys generated for a segment: enough for its figures, quick to draw


def segment_columns(log: EventLog) -> dict[str, list[str]]:
    """Each categorical context column of the log -> the values its customers hold, in the
    schema's declared order (values nobody holds are left out: nothing to compare)."""
    ctx = log.context()
    out = {}
    for name in log.schema.context_names():
        column = log.schema.column(name)
        if column.kind != "categorical":
            continue
        held = set(ctx[name].dropna().astype(str))
        values = [str(v) for v in column.values or () if str(v) in held]
        if values:
            out[name] = values + sorted(held - set(values))
    return out


def real_segment(log: EventLog, column: str, value: str) -> EventLog:
    """The journeys of the customers whose `column` is `value`."""
    choices = segment_columns(log)
    if column not in choices:
        raise ConfigError(
            f"'{column}' is not a categorical context column of {log.schema.name}; "
            f"pick one of {sorted(choices) or 'none (this log has no categorical context)'}"
        )
    if str(value) not in choices[column]:
        raise ConfigError(
            f"no customer of {log.schema.name} has {column}={value!r}; "
            f"values held: {choices[column]}"
        )
    ctx = log.context()
    return log.subset(ctx.loc[ctx[column].astype(str) == str(value), log.key])


def synthetic_count(n_real: int, cap: int = MAX_SYNTHETIC) -> int:
    """As many synthetic journeys as the segment has real customers, at most `cap`."""
    return max(1, min(int(n_real), cap))


def segment_sample(gen, column: str, value: str, *, n: int, seed: int = 0) -> EventLog:
    """`n` journeys from a trained generator, every one with `column` fixed to `value`."""
    names = gen.schema.context_names()
    if column not in names:
        raise ConfigError(
            f"this {gen.name} generator was fitted on {gen.schema.name}, whose context "
            f"columns are {names or 'none'}: it cannot be conditioned on '{column}'; "
            "pick a generator fitted on this dataset"
        )
    return sample_log(gen, int(n), seed=int(seed), conditions={column: str(value)})


def sample_command(run_id: str, column: str, value: str, *, n: int, seed: int) -> str:
    """The CLI command that writes the same synthetic journeys to a file."""
    return shlex.join(
        [
            "journeylab",
            "sample",
            "--run-id",
            run_id,
            "-n",
            str(n),
            "--seed",
            str(seed),
            "--condition",
            f"{column}={value}",
            "--out",
            f"segment-{column}-{value}.parquet".replace(" ", "_"),
        ]
    )


def generator_fits(df: pd.DataFrame, uri: str, *, dataset: str, synthetic_path: str | None):
    """Finished fits that can generate this dataset's journeys: the fit whose sample is
    the synthetic log on the page first, then the others of the dataset, newest first
    (every fit when none names the dataset)."""
    fits = df[(df.kind == "fit") & (df.status == "FINISHED")] if not df.empty else df
    if fits.empty:
        return fits
    own = fits[fits.dataset == dataset]
    fits = own if not own.empty else fits
    first = fit_of_sample(df, uri, synthetic_path) if synthetic_path else None
    rank = (fits.run_id != first).astype(int)
    return fits.assign(_rank=rank).sort_values(["_rank", "start"], ascending=[True, False])


def fit_of_sample(df: pd.DataFrame, uri: str, path: str) -> str | None:
    """The fit run whose sample run wrote the file `path` (its lineage tag), if any."""
    if df.empty or "params.output" not in df:
        return None
    for _, r in df[(df.kind == "sample") & df.fit_run_id.notna()].iterrows():
        out = resolve_path(r["params.output"], uri)
        if out is not None and str(out) == str(path):
            return r.fit_run_id
    return None
