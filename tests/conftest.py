"""Shared fixtures: a tiny declared schema and a seeded tiny log builder."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from journeylab.journeys import EventLog, Schema

TINY_SCHEMA = {
    "name": "tiny",
    "sequence_key": "customer_id",
    "sequence_index": "timestamp",
    "max_length": 20,
    "time_range": ["2024-01-01 00:00:00", "2024-07-01 00:00:00"],
    "events": {
        "channel": {"type": "categorical", "values": ["web", "app", "email", "store"]},
        "event_type": {"type": "categorical", "values": ["view", "cart", "purchase"]},
        "amount": {"type": "numeric", "min": 0.0, "max": 500.0, "decimals": 2},
    },
    "context": {"segment": {"type": "categorical", "values": ["budget", "premium"]}},
}


def web_view(customer: int, ts: pd.Timestamp) -> dict:
    """One TINY_SCHEMA event row: a web view of customer `customer` at `ts`."""
    return {
        "customer_id": f"c{customer:04d}",
        "timestamp": ts,
        "channel": "web",
        "event_type": "view",
        "amount": 0.0,
        "segment": "budget",
    }


def tiny_frame(n_customers: int = 30, *, seed: int = 0, max_events: int = 8) -> pd.DataFrame:
    """A random valid event table: whole seconds, amounts only on purchases."""
    rng = np.random.default_rng(seed)
    rows = []
    t0 = pd.Timestamp("2024-01-01")
    for c in range(n_customers):
        seg = ["budget", "premium"][int(rng.integers(2))]
        t = int(rng.integers(0, 86_400 * 30))
        for _ in range(int(rng.integers(1, max_events + 1))):
            t += int(rng.integers(60, 86_400 * 5))
            et = ["view", "cart", "purchase"][int(rng.integers(3))]
            amount = round(float(rng.uniform(1, 300)), 2) if et == "purchase" else 0.0
            rows.append(
                {
                    "customer_id": f"c{c:04d}",
                    "timestamp": t0 + pd.Timedelta(seconds=t),
                    "channel": ["web", "app", "email", "store"][int(rng.integers(4))],
                    "event_type": et,
                    "amount": amount,
                    "segment": seg,
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def tiny_schema() -> Schema:
    return Schema.from_dict(TINY_SCHEMA)


@pytest.fixture
def tiny_log(tiny_schema) -> EventLog:
    return EventLog.from_frame(tiny_frame(), tiny_schema)


@pytest.fixture
def small_chunks(monkeypatch):
    """Partitioned logs read in chunks of 7 customers, and never whole."""

    def refuse(*a, **k):
        raise AssertionError("a partitioned dataset was read whole")

    monkeypatch.setattr("journeylab.journeys.streamed.CHUNK", 7)
    monkeypatch.setattr("journeylab.journeys.eventlog.read_partitioned", refuse)


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny tensors: one thread is faster, and robust on a loaded shared machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session", autouse=True)
def _session_ledger(tmp_path_factory):
    """Module- and session-scoped fixtures fit generators too, before any function-scoped
    fixture runs: they record in a session ledger, never in the repository's mlruns/."""
    global _SESSION_LEDGER
    _SESSION_LEDGER = str(tmp_path_factory.mktemp("session") / "ledger.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JOURNEYLAB_LEDGER", _SESSION_LEDGER)
        yield


_SESSION_LEDGER = None


@pytest.fixture(autouse=True)
def _own_ledger(tmp_path_factory, monkeypatch):
    """Every fit records in a privacy ledger (generators.base); each test gets its own,
    never the repository's mlruns/privacy/ledger.jsonl. A fixture that set its own store
    (e.g. the app tests' `inside(root)`) keeps it."""
    if os.environ.get("JOURNEYLAB_LEDGER") != _SESSION_LEDGER:
        return
    monkeypatch.setenv("JOURNEYLAB_LEDGER", str(tmp_path_factory.mktemp("ledger") / "ledger.jsonl"))


def cli_io(args: list, cwd) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `journeylab ARGS` run in-process in `cwd`."""
    import contextlib
    import io
    from pathlib import Path

    from journeylab.app.cli import main

    out, err, old = io.StringIO(), io.StringIO(), Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def cli(args: list, cwd) -> tuple[int, str]:
    """(exit status, stderr) of `journeylab ARGS` run in-process in `cwd`."""
    code, _, err = cli_io(args, cwd)
    return code, err


# --- partitioned logs for the at-scale tests --------------------------------------------
def simulated_split(copies: int = 0) -> dict:
    """A 160-customer simulated split and a 'synthetic' log of 70 other journeys (ids
    prefixed ext-), plus `copies` train journeys copied under new ids (copy-)."""
    from journeylab.journeys import EventLog, split_by_customer
    from journeylab.journeys.simulate import simulate

    log, _ = simulate(160, seed=0)
    train, holdout = split_by_customer(log, holdout=0.5, seed=0)
    other, _ = simulate(70, seed=5)
    parts = [other.df.assign(customer_id=lambda d: "ext-" + d["customer_id"].astype(str))]
    if copies:
        copied = train.head_customers(copies).df
        parts.insert(0, copied.assign(customer_id=lambda d: "copy-" + d["customer_id"].astype(str)))
    synthetic = EventLog.from_frame(pd.concat(parts), log.schema)
    return {"train": train, "holdout": holdout, "synthetic": synthetic}


def as_folders(whole: dict, root) -> dict:
    """Each log written as a 3-part partitioned folder under `root`, opened streamed."""
    from journeylab.journeys.partitioned import write_partitioned
    from journeylab.journeys.streamed import StreamedLog

    out = {}
    for role, g in whole.items():
        write_partitioned(g, root / role, parts=3)
        out[role] = StreamedLog.open(root / role, g.schema)
    return out
