"""Real-time scoring: streaming equals batch on every prefix; bad input never stops a stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import DataError
from journeylab.predictors.bundle import train_bundle
from journeylab.predictors.scoring import Scorer, score_stream

CUT = "2024-02-10"


@pytest.fixture(scope="module")
def log():
    return EventLog.from_frame(tiny_frame(60, seed=1, max_events=12), Schema.from_dict(TINY_SCHEMA))


@pytest.fixture(scope="module")
def bundles(log):
    return {
        m: train_bundle(
            log,
            model=m,
            cutoff=CUT,
            horizon=30,
            config={"epochs": 1, "hidden": 8} if m == "gru" else None,
        )
        for m in ("logreg", "gbm", "tree", "gru")
    }


def _events(df: pd.DataFrame) -> list[dict]:
    rows = df.assign(timestamp=df["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    return rows.to_dict("records")


@pytest.mark.parametrize("name, tol", [("logreg", 0), ("gbm", 0), ("tree", 0), ("gru", 1e-5)])
def test_streaming_equals_batch_on_every_prefix(log, bundles, name, tol):
    bundle = bundles[name]
    scorer = Scorer(bundle)
    # interleave customers in time order, as a live stream would
    stream = log.df.sort_values(["timestamp", "customer_id"], kind="stable")
    stream = stream[stream["customer_id"].isin(log.customers[:8])]
    worst = 0.0
    for ev, row in zip(_events(stream), stream.itertuples(), strict=True):
        live = scorer.update(ev)
        prefix = log.df[
            (log.df["customer_id"] == row.customer_id) & (log.df["timestamp"] <= row.timestamp)
        ]
        batch = bundle.predict(
            EventLog.from_frame(prefix, log.schema), as_of=row.timestamp, inclusive=True
        ).loc[row.customer_id]
        worst = max(worst, max(abs(live[t] - batch[t]) for t in bundle.tasks))
    assert worst <= tol
    # later, without a new event: recency and the windows move on
    cid = log.customers[0]
    later = log.df.loc[log.df["customer_id"] == cid, "timestamp"].max() + pd.Timedelta(days=20)
    whole = EventLog.from_frame(log.df[log.df["customer_id"] == cid], log.schema)
    batch = bundle.predict(whole, as_of=later, inclusive=True).loc[cid]
    live = scorer.score(cid, at=later)
    assert max(abs(live[t] - batch[t]) for t in bundle.tasks) <= tol


def test_bad_events_raise_and_leave_the_state_alone(log, bundles):
    scorer = Scorer(bundles["gbm"])
    ev = _events(log.df.head(2))
    first = scorer.update(ev[0])
    bad = dict(ev[1], channel="fax", amount="12", timestamp="noon")
    with pytest.raises(DataError) as e:
        scorer.update(bad)
    msg = str(e.value)
    assert "'channel' value 'fax' is not one of" in msg and "not a finite number" in msg
    assert "'timestamp' value 'noon' is not a timestamp" in msg
    with pytest.raises(DataError, match="is older than its last event"):
        scorer.update(dict(ev[0], timestamp="2023-12-31 00:00:00"))
    with pytest.raises(DataError, match="'customer_id' \\(the customer id\\) is missing"):
        scorer.update({k: v for k, v in ev[0].items() if k != "customer_id"})
    assert scorer.events_of(ev[0]["customer_id"]) == 1
    assert scorer.score(ev[0]["customer_id"]) == first
    with pytest.raises(DataError, match="has sent no event yet"):
        scorer.score("nobody")


def test_stream_gives_one_record_per_line_and_goes_on(log, bundles):
    good = [json.dumps(e) for e in _events(log.df.head(3))]
    lines = [
        good[0],
        "{not json",
        "",
        "[1, 2]",
        good[1],
        json.dumps({"customer_id": "x", "timestamp": "2024-01-02"}),
        good[2],
    ]
    with Scorer(bundles["logreg"]) as scorer:
        out = list(score_stream(scorer, lines))
    assert [r["line"] for r in out] == [1, 2, 4, 5, 6, 7]  # the blank line is skipped
    assert ["error" in r for r in out] == [False, True, True, False, True, False]
    assert out[1]["error"].startswith("not valid JSON")
    assert "'channel' is missing" in out[4]["error"] and out[4]["fix"]
    assert out[3]["n_events"] == 2 and set(out[3]["scores"]) == {"churn", "purchase"}


def test_score_command_reads_stdin_and_writes_json_lines(log, bundles, tmp_path):
    bundles["tree"].save(tmp_path / "m")
    lines = [json.dumps(e) for e in _events(log.df.head(4))]
    stdin = "\n".join(lines[:2] + ["garbage"] + lines[2:]) + "\n"
    env = {**os.environ, "COLUMNS": "200"}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "journeylab.app.cli",
            "predict",
            "score",
            "--model-dir",
            str(tmp_path / "m"),
        ],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    out = [json.loads(x) for x in p.stdout.splitlines()]
    assert len(out) == 5 and "error" in out[2] and "scores" in out[4]
    assert "1 bad line(s)" in p.stderr
    batch = Scorer(bundles["tree"])
    expected = [batch.update(e) for e in _events(log.df.head(4))]
    assert [r["scores"] for r in out if "scores" in r] == expected


def test_score_command_user_error_is_one_message(tmp_path, capsys):
    from journeylab.app.cli import main

    with pytest.raises(SystemExit) as e:
        main(["predict", "score", "--model-dir", str(tmp_path)])
    err = " ".join(capsys.readouterr().err.split())
    assert e.value.code == 2 and "not a model folder" in err and "Traceback" not in err


def test_scores_are_probabilities_and_move_with_events(log, bundles):
    scorer = Scorer(bundles["gbm"])
    cid = log.customers[3]
    evs = _events(log.df[log.df["customer_id"] == cid])
    scores = [scorer.update(e)["churn"] for e in evs]
    assert all(0 <= s <= 1 for s in scores) and len(set(np.round(scores, 12))) > 1
