"""The privacy ledger: crash safety (SIGKILL), concurrent writers, caps, composition."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from journeylab.journeys.errors import ConfigError, InternalError, PrivacyBudgetError
from journeylab.privacy.ledger import Ledger, default_path

ROOT = Path(__file__).resolve().parents[3]

# A writer process: reserves N releases, printing each id only once reserve() returned
# (the entry is fsynced: acknowledged). With HALF=k it writes k entries, then dies with
# SIGKILL in the middle of writing entry k+1 (half of its bytes on disk).
WRITER = """
import os, signal, sys
from journeylab.journeys.errors import PrivacyBudgetError
import journeylab.privacy.ledger as L
path, tag, n, eps, half = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), \
    int(sys.argv[5])
led = L.Ledger(path)
real_write = os.write
def half_write(fd, data):
    real_write(fd, data[: len(data) // 2])
    os.kill(os.getpid(), signal.SIGKILL)
for i in range(n):
    if i == half:
        L.os.write = half_write
    try:
        r = led.reserve("ds", epsilon=eps, delta=1e-9, mechanism="test", run_id=f"{tag}-{i}")
    except PrivacyBudgetError:
        print("refused", flush=True)
        continue
    print(r.id, flush=True)
"""


def _writer(path: Path, tag: str, n: int, *, eps: float = 0.001, half: int = -1):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), tag, str(n), str(eps), str(half)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _acked(proc) -> list[str]:
    out = proc.stdout.read()  # through the buffer: communicate() would skip what readline read
    proc.wait(timeout=60)
    return [line for line in out.split() if line != "refused"]


def test_sigkill_mid_write_keeps_every_acknowledged_entry_and_no_half_entry(tmp_path):
    path = tmp_path / "ledger.jsonl"
    proc = _writer(path, "a", 100, half=7)
    acked = _acked(proc)
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) == 7
    led = Ledger(path)
    assert path.read_bytes()[-1:] != b"\n"  # half an entry really is on disk
    assert [r.id for r in led.entries()] == acked
    assert len(led.problems()) == 1 and "incomplete" in led.problems()[0]
    # A cut line might have been a release: nothing new is accepted until it is accepted.
    with pytest.raises(PrivacyBudgetError, match="line 8.*--acknowledge 8.*Nothing was charged"):
        led.reserve("ds", epsilon=0.5, delta=0.0, mechanism="test", run_id="blocked")
    assert led.remaining("ds") == (0.0, 0.0)
    assert led.acknowledge(8) == []
    # The next writer ends the cut line first: its own entry stays whole.
    r = led.reserve("ds", epsilon=0.5, delta=0.0, mechanism="test", run_id="after")
    assert [e.id for e in led.entries()] == acked + [r.id]
    assert len(led.problems()) == 1 and "not a whole entry" in led.problems()[0]
    assert "acknowledged" in led.problems()[0]
    assert led.spent("ds").epsilon == pytest.approx(7 * 0.001 + 0.5)


def test_sigkill_at_random_moments_with_two_writers(tmp_path):
    path = tmp_path / "ledger.jsonl"
    acked: list[str] = []
    for round_, delay in enumerate((0.05, 0.3)):
        procs = [_writer(path, f"r{round_}w{w}", 100_000) for w in range(2)]
        first = [p.stdout.readline().strip() for p in procs]  # both are writing now
        time.sleep(delay)
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p, line in zip(procs, first, strict=True):
            acked += [line] + _acked(p)
    led = Ledger(path)
    ids = [r.id for r in led.entries()]
    assert len(acked) > 20
    assert set(acked) <= set(ids)  # nothing acknowledged is lost
    assert len(ids) == len(set(ids)) and len(ids) - len(acked) <= 4  # at most one unacked/kill
    assert all("incomplete" in p or "not a whole" in p for p in led.problems())


def test_two_concurrent_writers_write_every_entry(tmp_path):
    path = tmp_path / "ledger.jsonl"
    procs = [_writer(path, f"w{w}", 40) for w in range(2)]
    acked = [i for p in procs for i in _acked(p)]
    led = Ledger(path)
    assert len(acked) == 80 and len(led.entries("ds")) == 80
    assert {r.id for r in led.entries()} == set(acked)
    assert led.problems() == []
    assert led.spent("ds").epsilon == pytest.approx(80 * 0.001)


def test_concurrent_writers_never_exceed_the_cap(tmp_path):
    path = tmp_path / "ledger.jsonl"
    Ledger(path).set_cap("ds", 1.0)
    procs = [_writer(path, f"w{w}", 15, eps=0.1) for w in range(2)]
    acked = [i for p in procs for i in _acked(p)]
    assert len(acked) == 10
    assert Ledger(path).spent("ds").epsilon == pytest.approx(1.0)


def test_run_over_the_cap_is_refused_and_writes_nothing(tmp_path):
    led = Ledger(tmp_path / "ledger.jsonl")
    led.set_cap("fp1", 3.0, delta=1e-5)
    led.reserve("fp1", epsilon=2.0, delta=1e-6, mechanism="dp-sgd/vae", run_id="r1")
    before = led.path.read_bytes()
    with pytest.raises(PrivacyBudgetError, match=r"spent epsilon 2.*left: epsilon 1.*--epsilon 1"):
        led.reserve("fp1", epsilon=1.5, delta=1e-6, mechanism="dp-sgd/gan", run_id="r2")
    with pytest.raises(PrivacyBudgetError, match="delta"):
        led.reserve("fp1", epsilon=0.5, delta=2e-5, mechanism="dp-sgd/gan", run_id="r3")
    with pytest.raises(PrivacyBudgetError):  # a non-private run exhausts any cap
        led.reserve("fp1", epsilon=math.inf, delta=0.0, mechanism="none", run_id="r4")
    assert led.path.read_bytes() == before
    assert led.remaining("fp1") == pytest.approx((1.0, 1e-5 - 1e-6))
    led.reserve("fp1", epsilon=1.0, delta=0.0, mechanism="dp-sgd/gan", run_id="r5")  # fits
    assert led.remaining("fp1")[0] == pytest.approx(0.0)


def test_crash_keeps_budget_and_commit_records_what_was_spent(tmp_path):
    led = Ledger(tmp_path / "l.jsonl")
    with pytest.raises(RuntimeError):
        with led.reservation("fp", epsilon=1.0, delta=1e-6, mechanism="m", run_id="crash"):
            raise RuntimeError("killed mid-training")
    with led.reservation(
        "fp",
        epsilon=2.0,
        delta=1e-6,
        mechanism="m",
        run_id="ok",
        parts={
            "preprocessing": {"epsilon": 0.5, "delta": 0.0},
            "training": {"epsilon": 1.5, "delta": 1e-6},
        },
    ) as r:
        r.commit(epsilon=1.8)  # early stop: spent less than reserved
    led.reserve("fp", epsilon=0.25, delta=0.0, mechanism="m", run_id="killed")  # never ends
    by_run = {e.run_id: e for e in led.entries("fp")}
    assert by_run["crash"].status == "failed"
    assert "killed mid-training" in led.records()[0][1]["reason"]
    assert by_run["ok"].status == "committed" and by_run["ok"].parts["training"]["epsilon"] == 1.5
    assert by_run["killed"].status == "reserved"
    s = led.spent("fp")
    assert (s.epsilon, s.delta, s.releases) == pytest.approx((1.0 + 1.8 + 0.25, 2e-6, 3))
    with pytest.raises(ConfigError, match="already committed"):
        led.commit(by_run["ok"].id)
    over = led.reserve("fp", epsilon=1.0, delta=0.0, mechanism="m", run_id="over")
    with pytest.raises(InternalError, match="reserved only"):
        led.commit(over.id, epsilon=1.2)
    assert led.release(over.id).spent_epsilon == 1.2  # the truth is recorded


def test_validation_and_defaults(tmp_path, monkeypatch):
    led = Ledger(tmp_path / "x" / "l.jsonl")
    assert not (tmp_path / "x").exists()  # the constructor touches nothing
    assert led.entries() == [] and led.spent("fp").epsilon == 0
    with pytest.raises(ConfigError, match="parts sum"):
        led.reserve(
            "fp",
            epsilon=1.0,
            delta=0.0,
            mechanism="m",
            run_id="r",
            parts={"a": {"epsilon": 0.4, "delta": 0.0}},
        )
    with pytest.raises(ConfigError, match="epsilon -1"):
        led.reserve("fp", epsilon=-1, delta=0.0, mechanism="m", run_id="r")
    with pytest.raises(ConfigError, match="run_id"):
        led.reserve("fp", epsilon=1, delta=0.0, mechanism="m", run_id="")
    monkeypatch.setenv("JOURNEYLAB_LEDGER", str(tmp_path / "env.jsonl"))
    assert default_path() == tmp_path / "env.jsonl"
    monkeypatch.delenv("JOURNEYLAB_LEDGER")
    assert default_path() == Path.cwd() / "mlruns" / "privacy" / "ledger.jsonl"
    led.set_cap("fp", 1.0)
    led.set_cap("fp", None)  # removes the cap
    assert led.remaining("fp") == (math.inf, math.inf)
