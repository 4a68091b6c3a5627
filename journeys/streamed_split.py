"""Split a partitioned dataset into train and holdout in one streamed pass, never whole.

    train, hold = split_streamed(StreamedLog.open(path, schema), "data/split", holdout=0.5)

The split is `split_by_customer`'s: a customer is held out when a seeded hash of its id
alone falls below `holdout`, so the same seed puts the same customers on each side as
the split of the same log read from one file. Both sides are written as partitioned
datasets (`train.parquet/`, `holdout.parquet/`, as many parts as the source), chunk by
chunk in customer order; they appear together when the pass ends, or not at all.
"""

from __future__ import annotations

from pathlib import Path

from journeylab.journeys.errors import DataError
from journeylab.journeys.eventlog import check_holdout, in_holdout
from journeylab.journeys.files import atomic_write_folder
from journeylab.journeys.partitioned import PartitionedWriter, read_manifest
from journeylab.journeys.streamed import CHUNK, StreamedLog


def split_streamed(
    log: StreamedLog, out_dir: str | Path, *, holdout: float = 0.5, seed: int = 0
) -> tuple[dict, dict]:
    """Write out_dir/train.parquet and out_dir/holdout.parquet (partitioned folders) and
    out_dir/schema.yaml; returns their manifests (customers, events, fingerprint)."""
    check_holdout(holdout)
    out_dir = Path(out_dir)
    parts = int(read_manifest(log.path)["parts"])
    manifests: list[dict] = []

    def write_both(train_dir: Path, hold_dir: Path) -> None:
        sides = [PartitionedWriter(d, log.schema, parts=parts) for d in (train_dir, hold_dir)]
        for chunk in log.iter_chunks(CHUNK):
            ids = chunk.df[log.key]
            held = in_holdout(ids.unique(), holdout=holdout, seed=seed)
            mask = ids.isin(set(ids.unique()[held]))
            sides[0].add(chunk.df[~mask.to_numpy()].reset_index(drop=True))
            sides[1].add(chunk.df[mask.to_numpy()].reset_index(drop=True))
        manifests.extend(w.close() for w in sides)
        if not manifests[0]["customers"] or not manifests[1]["customers"]:
            raise DataError(
                f"split of {log.n_customers} customer(s) left one side empty; nothing was written",
                fix="use a log with more customers or another holdout fraction",
            )

    atomic_write_folder(
        out_dir / "train.parquet",
        lambda train: atomic_write_folder(
            out_dir / "holdout.parquet", lambda hold: write_both(train, hold)
        ),
    )
    log.schema.write(out_dir / "schema.yaml")
    return manifests[0], manifests[1]
