"""The ledger's hash chain: an edited, cut or reordered line blocks new releases and
never lowers the total; legacy (unchained) ledgers stay readable."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeylab.journeys.errors import ConfigError, PrivacyBudgetError
from journeylab.privacy.ledger import Ledger
from journeylab.privacy.ledger_chain import checksum


def _ledger(tmp_path) -> Ledger:
    led = Ledger(tmp_path / "ledger.jsonl")
    led.set_cap("fp", 3.0)
    for i, eps in enumerate((1.0, 0.5, 0.25)):
        r = led.reserve("fp", epsilon=eps, delta=0.0, mechanism="m", run_id=f"r{i}")
        led.commit(r.id)
    return led


def _lines(led: Ledger) -> list[bytes]:
    return led.path.read_bytes().splitlines(keepends=True)


def _edit(line: bytes, *, resign: bool, **changes) -> bytes:
    rec = json.loads(line)
    rec.pop("sha")
    rec.update(changes)
    if resign:
        rec["sha"] = checksum(rec)
    return (json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _blocked(led: Ledger, line: int) -> None:
    with pytest.raises(PrivacyBudgetError, match=rf"line {line}.*--verify.*--acknowledge"):
        led.reserve("fp", epsilon=0.01, delta=0.0, mechanism="m", run_id="next")
    with pytest.raises(PrivacyBudgetError):  # on any dataset of the ledger
        led.reserve("other", epsilon=0.01, delta=0.0, mechanism="m", run_id="next")
    assert led.remaining("fp") == (0.0, 0.0)


def test_an_intact_ledger_verifies_and_counts(tmp_path):
    led = _ledger(tmp_path)
    assert led.problems() == [] and led.verify().legacy == 0
    assert led.spent("fp").epsilon == pytest.approx(1.75)


@pytest.mark.parametrize("resign", [False, True])
def test_an_edited_number_blocks_releases_and_never_lowers_the_total(tmp_path, resign):
    led = _ledger(tmp_path)
    lines = _lines(led)
    assert json.loads(lines[1])["type"] == "reserve"
    lines[1] = _edit(lines[1], resign=resign, epsilon=0.001)  # hand edit: 1.0 -> 0.001
    led.path.write_bytes(b"".join(lines))
    _blocked(led, 2 if not resign else 3)
    assert led.spent("fp").epsilon >= 0.75  # what still verifies; and nothing is left


def test_a_line_cut_in_the_middle_blocks_releases(tmp_path):
    led = _ledger(tmp_path)
    lines = _lines(led)
    assert json.loads(lines[4])["type"] == "status"
    lines[4] = lines[4][:40] + b"\n"
    led.path.write_bytes(b"".join(lines))
    _blocked(led, 5)
    assert led.spent("fp").epsilon >= 1.75 - 1e-9  # a cut commit: the reservation counts
    lines[3] = lines[3][:40] + b"\n"  # a cut reservation: the total shown is a lower bound
    led.path.write_bytes(b"".join(lines))
    assert led.spent("fp").unverified and led.remaining("fp") == (0.0, 0.0)


def test_reordered_or_removed_lines_block_releases(tmp_path):
    led = _ledger(tmp_path)
    lines = _lines(led)
    before = led.spent("fp").epsilon
    lines[3], lines[5] = lines[5], lines[3]
    led.path.write_bytes(b"".join(lines))
    _blocked(led, 4)
    assert led.spent("fp").epsilon == pytest.approx(before)
    led.path.write_bytes(b"".join(_lines(_ledger(tmp_path / "b"))[:3] + lines[4:]))
    assert led.problems() and led.remaining("fp") == (0.0, 0.0)


def test_acknowledging_a_damaged_line_charges_and_unblocks(tmp_path):
    led = _ledger(tmp_path)
    lines = _lines(led)
    lines[1] = b'{"garbage\n'
    led.path.write_bytes(b"".join(lines))
    with pytest.raises(ConfigError, match="no unacknowledged problem"):
        led.acknowledge(1)
    with pytest.raises(ConfigError, match="--dataset"):
        led.acknowledge(2, epsilon=1.0)
    assert led.acknowledge(2, dataset="fp", epsilon=1.0) == []
    assert led.spent("fp").epsilon == pytest.approx(1.75)  # 0.75 verified + 1.0 charged
    led.reserve("fp", epsilon=0.5, delta=0.0, mechanism="m", run_id="after")
    damaged = b"".join(_lines(led)).replace(b'{"garbage', b'{"garbagf')
    led.path.write_bytes(damaged)  # editing the acknowledged line again: a new problem
    _blocked(led, 2)


def test_a_legacy_ledger_without_a_chain_is_read_and_extended(tmp_path):
    path = tmp_path / "ledger.jsonl"
    legacy = []
    for i, eps in enumerate((1.0, 2.0)):
        rec = {"format": 1, "time": "2026-01-01T00:00:00", "type": "reserve", "id": f"id{i}"}
        rec |= {"dataset": "fp", "run_id": f"r{i}", "mechanism": "m", "epsilon": eps}
        rec |= {"delta": 0.0, "parts": {}, "note": ""}
        rec["sha"] = checksum(rec)
        legacy.append(json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n")
    path.write_text("".join(legacy))
    led = Ledger(path)
    assert led.problems() == [] and led.verify().legacy == 2
    assert led.spent("fp").epsilon == pytest.approx(3.0)
    led.reserve("fp", epsilon=0.5, delta=0.0, mechanism="m", run_id="new")
    assert led.problems() == [] and led.spent("fp").epsilon == pytest.approx(3.5)
    path.write_text(path.read_text() + legacy[0])  # an unchained line after chained ones
    assert "unchained" in led.problems()[0]


def test_a_forged_entry_with_a_valid_checksum_but_a_negative_amount_is_refused(tmp_path):
    from journeylab.privacy.ledger_chain import stamp, verify

    led = _ledger(tmp_path)
    forged = {"type": "reserve", "id": "x", "dataset": "fp", "run_id": "r", "mechanism": "m"}
    forged |= {"epsilon": -5.0, "delta": 0.0}
    head = verify(led.path.read_bytes()).head
    led.path.write_bytes(led.path.read_bytes() + stamp(forged, head))
    _blocked(led, 8)
    assert "not a number >= 0" in led.problems()[0]
    assert led.spent("fp").epsilon == pytest.approx(1.75)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.data())
def test_any_damage_short_of_dropping_the_newest_lines_blocks_and_never_lowers(data):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        led = _ledger(Path(tmp))
        lines = _lines(led)
        before = led.spent("fp").epsilon
        how = data.draw(st.sampled_from(["byte", "swap", "drop", "cut", "dup"]))
        i = data.draw(st.integers(0, len(lines) - 2))  # never only the newest line
        if how == "byte":
            pos = data.draw(st.integers(0, len(lines[i]) - 2))
            new = data.draw(st.integers(32, 126).filter(lambda b: b != lines[i][pos]))
            lines[i] = lines[i][:pos] + bytes([new]) + lines[i][pos + 1 :]
        elif how == "swap":
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        elif how == "drop":
            del lines[i]
        elif how == "cut":
            lines[i] = lines[i][: data.draw(st.integers(0, len(lines[i]) - 2))] + b"\n"
        else:
            lines.insert(i + 1, lines[i])
        led.path.write_bytes(b"".join(lines))
        assert led.problems()  # detected
        with pytest.raises(PrivacyBudgetError, match="fails to verify"):
            led.reserve("fp", epsilon=0.01, delta=0.0, mechanism="m", run_id="next")
        assert led.remaining("fp") == (0.0, 0.0)
        if how in ("swap", "dup"):  # every entry is still there: the total is whole
            assert led.spent("fp").epsilon >= before - 1e-12
