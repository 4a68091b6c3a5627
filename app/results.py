"""What the pages compute from the runs table: pure functions, no Streamlit, no I/O.

- fidelity: `compare`/`evaluate`/`audit` runs carry the metrics of
  journeys.fidelity (`tvd_3gram`, `detection_auc`, ... and `ref_*`);
- utility: `predict` runs of `journeylab predict utility` carry metrics named
  `<task>.<model>.<TRTR|TSTR|augmented>[.<synthetic name>].<auc|auc_ratio|...>`
  (predictors/report.py); a synthetic name is matched to the sample run whose
  output file has that stem, then to its fit run (generator, epsilon);
- best runs: per dataset and epsilon, the lowest 3-gram TVD and the highest
  mean TSTR AUC ratio.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from journeylab.app import store
from journeylab.evaluation.verdict import Verdict, mean_tstr_ratio, scorecard

FIDELITY_KEYS = (
    "tvd_1gram",
    "tvd_2gram",
    "tvd_3gram",
    "length_w1",
    "gap_w1",
    "amount_w1",
    "detection_auc",
)
UTILITY_RE = re.compile(
    r"^metrics\.(?P<task>[^.]+)\.(?P<model>[^.]+)\."
    r"(?P<train>TRTR|TSTR|augmented)(?:\.(?P<synthetic>.+))?\."
    r"(?P<measure>auc|auc_ratio|pr_auc|brier|top_decile_lift)$"
)
EVAL_RE = re.compile(
    r"^metrics\.(?P<task>[^.]+)\.(?P<measure>auc|pr_auc|brier|"
    r"top_decile_lift|base_rate|n)$"
)


def fidelity_rows(run: pd.Series) -> pd.DataFrame:
    """metric | synthetic vs holdout | train vs holdout (fresh real data) | ratio."""
    rows = []
    for k in FIDELITY_KEYS:
        v = run.get(f"metrics.{k}", math.nan)
        if pd.isna(v):
            continue
        rows.append(
            {
                "metric": k,
                "value": float(v),
                "real reference": float(run.get(f"metrics.ref_{k}", math.nan)),
                "ratio": float(run.get(f"metrics.{k}_ratio", math.nan)),
            }
        )
    return pd.DataFrame(rows, columns=["metric", "value", "real reference", "ratio"])


def fidelity_runs(df: pd.DataFrame) -> pd.DataFrame:
    if df.empty or "metrics.tvd_1gram" not in df:
        return df.iloc[0:0]
    return df[(df.status == "FINISHED") & df["metrics.tvd_1gram"].notna()]


# --- utility ----------------------------------------------------------------------
def utility_long(df: pd.DataFrame, kinds: tuple[str, ...] = ("predict",)) -> pd.DataFrame:
    """One row per (run, task, model, train, synthetic, measure) from utility metrics of
    runs of `kinds` (`predict utility`; an `evaluate` report has them too)."""
    cols = ["run_id", "dataset", "task", "model", "train", "synthetic", "measure", "value"]
    parsed = {c: m for c in df.columns if (m := UTILITY_RE.match(c))}
    rows = []
    for _, r in df[(df.status == "FINISHED") & df.kind.isin(kinds)].iterrows():
        for c, m in parsed.items():
            if pd.notna(r[c]):
                rows.append(
                    {
                        "run_id": r.run_id,
                        "dataset": r.dataset,
                        **m.groupdict(),
                        "value": float(r[c]),
                    }
                )
    out = pd.DataFrame(rows, columns=cols)
    out["synthetic"] = out["synthetic"].fillna("")
    return out


def utility_table(long: pd.DataFrame, run_id: str, measure: str = "auc") -> pd.DataFrame:
    """task x model rows, a column per training set (TRTR, TSTR:name, augmented:name)."""
    t = long[(long.run_id == run_id) & (long.measure == measure)].copy()
    if t.empty:
        return pd.DataFrame()
    t["setting"] = t["train"] + np.where(t["synthetic"] != "", ":" + t["synthetic"], "")
    return t.pivot_table(index=["task", "model"], columns="setting", values="value", sort=False)


def synthetic_links(df: pd.DataFrame, uri: str) -> dict[str, str]:
    """Synthetic name (a sample output's file stem) -> its fit run id."""
    out: dict[str, str] = {}
    if df.empty or "params.output" not in df:
        return out
    for _, r in df[(df.kind == "sample") & df.fit_run_id.notna()].iterrows():
        out.setdefault(Path(str(r["params.output"])).stem, r.fit_run_id)
    return out


def tstr_by_generator(
    df: pd.DataFrame, uri: str, kinds: tuple[str, ...] = ("predict",)
) -> pd.DataFrame:
    """TSTR AUC ratios with the generator and epsilon of the synthetic log they used."""
    long = utility_long(df, kinds)
    t = long[(long.train == "TSTR") & (long.measure == "auc_ratio")].copy()
    links = synthetic_links(df, uri)
    fits = df[df.kind == "fit"].set_index("run_id") if not df.empty else df
    t["fit_run_id"] = t.synthetic.map(links)
    if not t.empty:  # else the run's own lineage tag (one synthetic log per run)
        t["fit_run_id"] = t.fit_run_id.fillna(t.run_id.map(df.set_index("run_id").fit_run_id))
    known = t.fit_run_id.isin(fits.index) if len(fits) else pd.Series(False, t.index)
    t["generator"] = t.synthetic
    t["epsilon"] = math.nan
    t.loc[known, "generator"] = t.loc[known, "fit_run_id"].map(fits["generator"])
    t.loc[known, "epsilon"] = t.loc[known, "fit_run_id"].map(fits["epsilon"])
    return t


def scores_by_fit(df: pd.DataFrame, uri: str) -> pd.DataFrame:
    """Per fit run: mean 3-gram TVD, detection AUC and length W1 ratio of the comparisons
    and reports of its samples, and mean TSTR AUC ratio of the utility runs and reports
    that used its samples."""
    cols = ["tvd_3gram", "detection_auc", "length_w1_ratio", "tstr_ratio"]
    fid = fidelity_runs(df)
    parts = []
    if not fid.empty and fid.fit_run_id.notna().any():
        keep = {k: store.metric_column(fid, k) for k in cols[:3]}
        frame = pd.DataFrame({k: fid[c] if c else math.nan for k, c in keep.items()})
        parts.append(frame.assign(fit_run_id=fid.fit_run_id).groupby("fit_run_id").mean())
    util = tstr_by_generator(df, uri, ("predict", "evaluate"))
    if not util.empty and util.fit_run_id.notna().any():
        parts.append(util.groupby("fit_run_id")["value"].mean().rename("tstr_ratio"))
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, axis=1).reindex(columns=cols)


# --- the privacy-utility trade-off ------------------------------------------------------
TRADEOFF = {  # measure -> what real data scores (the ideal)
    "detection_auc": 0.5,
    "length_w1_ratio": 1.0,
    "tstr_ratio": 1.0,
}
TRADEOFF_COLUMNS = ["fit_run_id", "name", "dataset", "fingerprint", "generator", "epsilon"]


def tradeoff(df: pd.DataFrame, uri: str) -> pd.DataFrame:
    """One row per finished fit of known epsilon (inf: no DP) whose samples were measured
    (compared, reported on or used to train predictors): its lineage and the mean of each
    TRADEOFF measure over those runs (NaN: not measured). Sorted by dataset, generator, ε."""
    cols = TRADEOFF_COLUMNS + list(TRADEOFF)
    fits = df[(df.kind == "fit") & (df.status == "FINISHED")] if not df.empty else df
    fits = fits[fits.epsilon.notna()] if not fits.empty else fits
    scores = scores_by_fit(df, uri).reindex(columns=list(TRADEOFF)).dropna(how="all")
    if fits.empty or scores.empty:
        return pd.DataFrame(columns=cols)
    fits = fits.drop(columns="fit_run_id").rename(columns={"run_id": "fit_run_id"})
    out = fits.set_index("fit_run_id").join(scores, how="inner").reset_index()
    out = out[cols].astype({"epsilon": float})
    return out.sort_values(["dataset", "generator", "epsilon"], ignore_index=True)


def tradeoff_reference(frame: pd.DataFrame, *, fingerprint: str, generator: str):
    """The no-DP reference of a trade-off: (label, mean of each measure) over the
    non-private fits of `generator` on the data `fingerprint`, else of every generator
    fitted without DP on it; ("", empty Series) when there is none."""
    nodp = frame[(frame.fingerprint == fingerprint) & np.isinf(frame.epsilon.astype(float))]
    same = nodp[nodp.generator == generator]
    use = same if not same.empty else nodp
    if use.empty:
        return "", pd.Series(dtype=float)
    label = "no DP (" + ", ".join(sorted(use.generator.dropna().astype(str).unique())) + ")"
    return label, use[list(TRADEOFF)].astype(float).mean()


# --- best runs ----------------------------------------------------------------------
def best_runs(df: pd.DataFrame, uri: str) -> pd.DataFrame:
    """Per dataset and epsilon: best generator by fidelity and by utility."""
    cols = ["dataset", "epsilon", "by", "generator", "value", "measure", "run_id"]
    rows = []
    fid = fidelity_runs(df)
    fid = fid[fid.generator.notna()] if not fid.empty else fid
    if not fid.empty:
        fid = fid.assign(score=store.fidelity_score(fid)).dropna(subset=["score"])
        for (ds, eps), g in fid.groupby(["dataset", "epsilon"], dropna=False):
            b = g.loc[g.score.idxmin()]
            rows.append(
                [
                    ds,
                    eps,
                    "fidelity",
                    b.generator,
                    b.score,
                    "3-gram TVD (lower is better)",
                    b.run_id,
                ]
            )
    util = tstr_by_generator(df, uri)
    if not util.empty:
        mean = (
            util.groupby(["dataset", "epsilon", "generator", "run_id"], dropna=False)["value"]
            .mean()
            .reset_index()
        )
        for (ds, eps), g in mean.groupby(["dataset", "epsilon"], dropna=False):
            b = g.loc[g.value.idxmax()]
            rows.append(
                [
                    ds,
                    eps,
                    "utility",
                    b.generator,
                    b.value,
                    "TSTR AUC / TRTR AUC (higher is better)",
                    b.run_id,
                ]
            )
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["dataset", "epsilon", "by"], na_position="last", ignore_index=True)


# --- evaluations and curves ------------------------------------------------------------
def evaluation_metrics(run: pd.Series) -> pd.DataFrame:
    """task x measure of a `predict evaluate` run."""
    rows = [
        {**m.groupdict(), "value": float(v)}
        for c, v in run.items()
        if (m := EVAL_RE.match(str(c))) and pd.notna(v)
    ]
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).pivot_table(index="task", columns="measure", values="value")


def curve_tables(files: list[str]) -> dict[str, dict[str, str]]:
    """task -> {'lift': path, 'calibration': path, 'roc': png path} from artefact names."""
    out: dict[str, dict[str, str]] = {}
    for f in files:
        m = re.match(r"^(?:tables/(lift|calibration)_(.+)\.csv|plots/(roc_pr)_(.+)\.png)$", f)
        if m:
            kind, task = (m.group(1), m.group(2)) if m.group(1) else ("roc", m.group(4))
            out.setdefault(task, {})[kind] = f
    return out


def privacy_record(
    run: pd.Series, record: dict | None, audits: dict | None, spent: dict | None
) -> dict:
    """The composite record privacy.card expects, from a run's artefacts and tags."""
    rec = dict(record or {"dp": False})
    if audits:
        rec["audits"] = audits
    rec.setdefault("run_id", run.run_id)
    rec.setdefault("dataset", run.dataset)
    rec.setdefault("generator", run.generator)
    rec.setdefault("dataset_fingerprint", run.fingerprint)
    if spent:
        rec.setdefault("ledger", spent)
    return rec


def readable_card(markdown: str) -> str:
    """A privacy card's Markdown to read inside a page: headings below the page's own
    (the card's title, a 32-character run id, goes: the page names the run), without the
    plot placeholder (the page draws the curve) and the machine-readable numbers block
    (it stays in the downloads, where a reviewer recomputes epsilon from it)."""
    lines = markdown.split("\n")
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    text = "\n".join(lines)
    text = re.sub(r"## Epsilon over steps\s*!\[[^]]*\]\([^)]*\)\s*", "", text)
    text = re.sub(r"## Numbers to recompute epsilon.*\Z", "", text, flags=re.S)
    return re.sub(r"^## ", "##### ", text, flags=re.M).strip() + "\n"


# --- scorecard -------------------------------------------------------------------------
def run_metrics(run: pd.Series) -> dict[str, float]:
    """A run's logged metrics under their MLflow names (no `metrics.` prefix, no NaN)."""
    return {
        str(k).removeprefix("metrics."): float(v)
        for k, v in run.items()
        if str(k).startswith("metrics.") and pd.notna(v)
    }


def _number(x) -> float:
    return float(x) if x is not None and pd.notna(x) else math.nan


def run_scorecard(df: pd.DataFrame, run: pd.Series) -> list[Verdict]:
    """The verdicts of one fidelity run (a comparison or a report). What it did not
    measure (utility, for a comparison) comes from the newest other run of the same fit;
    privacy from its lineage (epsilon NaN: unknown origin, inf: no DP)."""
    metrics = run_metrics(run)
    tstr = mean_tstr_ratio(metrics)
    fit = run.get("fit_run_id")
    if tstr is None and isinstance(fit, str) and fit:
        same_fit = df[(df.fit_run_id == fit) & (df.status == "FINISHED")]
        ratios = (mean_tstr_ratio(run_metrics(r)) for _, r in same_fit.iterrows())
        tstr = next((t for t in ratios if t is not None), None)
    return scorecard(
        detection_auc=metrics.get("detection_auc"),
        ref_detection_auc=metrics.get("ref_detection_auc"),
        tstr_ratio=tstr,
        epsilon=_number(run.get("epsilon")),
        delta=_number(run.get("delta")),
    )


def validity_figures(run: pd.Series) -> dict[str, float]:
    """The validity figures an evaluate run logged (`validity.<key>`), by key."""
    return {
        k.removeprefix("validity."): v
        for k, v in run_metrics(run).items()
        if k.startswith("validity.")
    }
