"""Training progress for people: a live bar on a terminal, a few plain lines in CI and logs.

    with fit_progress(err) as progress:
        fit_run(log, ..., train_options={"progress": progress})

`progress(row)` receives the row `generators.training.ProgressReport` sends after
every epoch (epoch, steps, loss, epsilon spent so far, seconds left).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

PLAIN_EVERY_S = 15.0  # at most one plain line per this many seconds (CI, logs)


def describe(row: dict[str, Any]) -> str:
    """'epoch 3/60, step 120/2400, loss 1.234, epsilon 2.01, about 4m left'."""
    parts = [f"epoch {row.get('epoch', '?')}/{row.get('epochs', '?')}"]
    parts.append(f"step {row.get('steps', '?')}/{row.get('total_steps', '?')}")
    if isinstance(row.get("loss"), float):
        parts.append(f"loss {row['loss']:.4g}")
    if "epsilon" in row:
        parts.append(f"epsilon spent {row['epsilon']:.3g}")
    parts.append(f"about {_duration(row.get('seconds_left', 0.0))} left")
    return ", ".join(parts)


def _duration(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


@contextlib.contextmanager
def fit_progress(console: Console) -> Iterator[Callable[[dict[str, Any]], None]]:
    if console.is_terminal:
        columns = (TextColumn("training"), BarColumn(), TextColumn("{task.description}"))
        with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("starting", total=None)

            def live(row: dict[str, Any]) -> None:
                bar.update(
                    task,
                    total=row.get("total_steps"),
                    completed=row.get("steps", 0),
                    description=describe(row),
                )

            yield live
        return
    last = [0.0]

    def plain(row: dict[str, Any]) -> None:
        now = time.monotonic()
        final = row.get("steps") == row.get("total_steps")
        if final or now - last[0] >= PLAIN_EVERY_S:
            last[0] = now
            console.print(f"training: {describe(row)}", markup=False, highlight=False)

    yield plain
