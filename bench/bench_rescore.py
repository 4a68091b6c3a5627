"""Saved synthetic samples scored again by the reviewer of the code at hand.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_rescore DIR [DIR ...] [--seed 0]

Each DIR is a `bench_peers` results folder: its samples, `peers/synthetic-<dataset>-<job>
.parquet`, are scored against the real holdout of `bench_peers`' split of that dataset at
`--seed` (the bench's own): detection AUC (journeys/detection.py) and the top three
single-feature give-aways, as `bench_peers` reports them. When the reviewer gains features
(or a fix), the figures of earlier runs are told again without training anything: the
samples are the models' own, only the reviewer differs. Printed as a markdown table;
`--json FILE` writes the rows too.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from journeylab.journeys.errors import ConfigError

SAMPLE = re.compile(r"synthetic-(?P<dataset>.+)-(?P<job>(vae|gan|par|mostly)[\w-]*)\.parquet")


def samples(folder: Path) -> list[tuple[str, str, Path]]:
    """(dataset, job, path) of each saved sample in a bench_peers results folder."""
    found = []
    for p in sorted((folder / "peers").glob("synthetic-*.parquet")):
        m = SAMPLE.fullmatch(p.name)
        if m:
            found.append((m["dataset"], m["job"], p))
    return found


def rescore(folder: Path, *, seed: int = 0) -> list[dict]:
    import pandas as pd

    from bench.bench_peers import load_split
    from journeylab.journeys.detection import detection_auc, giveaways
    from journeylab.journeys.eventlog import EventLog

    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder; give a bench_peers --results folder")
    found = samples(folder)
    if not found:
        raise ConfigError(f"{folder}: no peers/synthetic-<dataset>-<job>.parquet to score")
    rows, splits = [], {}
    for dataset, job, path in found:
        if dataset not in splits:
            splits[dataset] = load_split(dataset, seed)[1]
        hold = splits[dataset]
        synth = EventLog.from_frame(pd.read_parquet(path), hold.schema)
        top = giveaways(hold, synth, seed=seed)[:3]
        rows.append(
            {
                "folder": str(folder),
                "dataset": dataset,
                "job": job,
                "detection_auc": detection_auc(hold, synth, seed=seed),
                "giveaways": [f"{g['feature']} {g['auc']:.2f}" for g in top],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", type=Path, help="bench_peers --results folders")
    ap.add_argument("--seed", type=int, default=0, help="bench_peers' split seed (--seed)")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    a = ap.parse_args(argv)
    rows = [r for f in a.folders for r in rescore(f, seed=a.seed)]
    print("| folder | dataset | job | detection AUC | top give-aways |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {Path(r['folder']).name} | {r['dataset']} | {r['job']} | "
            f"{r['detection_auc']:.3f} | {', '.join(r['giveaways'])} |"
        )
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
