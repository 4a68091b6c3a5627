"""Training progress: one row per epoch, of that epoch, and how the CLI words it."""

from __future__ import annotations

from conftest import TINY_SCHEMA, tiny_frame

from journeylab.app.progress import describe
from journeylab.generators import create
from journeylab.journeys import EventLog, Schema
from journeylab.privacy.budget import PrivacyBudget


def test_progress_reports_each_epoch_with_epsilon_and_time_left():
    log = EventLog.from_frame(tiny_frame(40), Schema.from_dict(TINY_SCHEMA))
    rows: list[dict] = []
    cfg = {"d_model": 16, "n_layers": 1, "epochs": 3, "batch_size": 16}
    gen = create("vae", cfg).fit(log, privacy=PrivacyBudget(epsilon=4.0), progress=rows.append)
    epochs = [r["epoch"] for r in rows]
    assert epochs == [h["epoch"] for h in gen.history] == list(range(1, len(rows) + 1))
    assert [r["epsilon"] for r in rows] == [h["epsilon"] for h in gen.history]
    assert rows[-1]["steps"] == rows[-1]["total_steps"] and rows[-1]["seconds_left"] == 0
    line = describe(rows[0])
    assert (
        line.startswith(f"epoch 1/{rows[0]['epochs']}, step ")
        and "epsilon spent" in line
        and "left" in line
    )
