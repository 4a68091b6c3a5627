"""The ledger's hash chain: stamping a line, and verifying a whole file.

Every line written by this version (format 2) carries `prev`, the sha256 of the
raw bytes of the line before it (`GENESIS` for the first), and `sha`, a checksum
of its own content. `verify` reads a file and reports, per line, what does not
verify: a line that is not whole JSON or whose checksum fails (cut short,
edited), a line whose `prev` is not the hash of the line before it (a line
removed, inserted or moved), a format-1 line after chained ones. A problem is
`acknowledged` when a later, verified `ack` entry names that line and its
current hash (`journeylab privacy ledger --acknowledge`).

Format-1 lines (written before the chain existed) have a checksum but no `prev`:
at the start of a file they are read and counted, reported as unchained.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FORMAT = 2
GENESIS = "0" * 64
_NUM = (int, float)
# Fields every entry of a type must have, with their types; amounts must also be >= 0.
FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "reserve": {
        **{k: (str,) for k in ("id", "dataset", "run_id", "mechanism", "time")},
        "epsilon": _NUM,
        "delta": _NUM,
    },
    "status": {"ref": (str,), "dataset": (str,), "status": (str,)},
    "cap": {"dataset": (str,)},
    "ack": {"line": (int,), "line_sha": (str,), "dataset": (str,), "epsilon": _NUM, "delta": _NUM},
}
AMOUNTS = ("epsilon", "delta")


@dataclass(frozen=True)
class LineProblem:
    """One line of the ledger that does not verify."""

    line: int  # 1-based
    line_sha: str  # sha256 of the line's raw bytes as they are now
    message: str
    acknowledged: bool = False

    def __str__(self) -> str:
        ack = "; acknowledged by the data owner" if self.acknowledged else ""
        return f"line {self.line}: {self.message}{ack}"


@dataclass
class Verified:
    """What a ledger file holds: its verified entries and every line that failed."""

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    legacy: int = 0  # format-1 lines without a chain
    head: str = GENESIS  # hash of the last non-empty line: the next entry's `prev`

    @property
    def blocking(self) -> list[LineProblem]:
        return [p for p in self.problems if not p.acknowledged]


def line_sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def checksum(entry: dict[str, Any]) -> str:
    blob = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def stamp(entry: dict[str, Any], prev: str) -> bytes:
    """The line for `entry`, chained to the line whose hash is `prev`."""
    entry = {
        "format": FORMAT,
        "time": datetime.now(UTC).isoformat(timespec="microseconds"),
        "prev": prev,
        **entry,
    }
    entry["sha"] = checksum(entry)
    return (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode()


def verify(data: bytes) -> Verified:
    """Check every line's checksum and the chain; collect every problem."""
    out = Verified()
    lines = data.split(b"\n")
    chained, damaged = False, False
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        sha = line_sha(raw)
        # After a damaged line the link cannot be checked: that line's problem covers it.
        prev = None if damaged else out.head
        rec, message = _check_line(raw, last=i == len(lines) - 1, prev=prev, chained=chained)
        damaged = bool(message)
        if message:
            out.problems.append(LineProblem(i + 1, sha, message))
        if rec is not None:
            chained = chained or rec.get("format", 1) >= FORMAT
            out.legacy += rec.get("format", 1) < FORMAT
            out.records.append(rec)
        out.head = sha
    return _acknowledge(out)


def _check_line(
    raw: bytes, *, last: bool, prev: str | None, chained: bool
) -> tuple[dict[str, Any] | None, str]:
    """(the record if it verifies, else None; the problem, or '')."""
    if last:  # no newline after it: a writer died mid-line, or the file was cut
        return None, (
            f"incomplete last entry ({len(raw)} bytes): a writer was killed or the file was "
            "cut short"
        )
    try:
        rec = json.loads(raw)
        ok = isinstance(rec, dict) and rec.pop("sha", None) == checksum(rec)
    except (json.JSONDecodeError, UnicodeDecodeError):
        ok = False
    if not ok:
        return None, "not a whole entry: cut short or altered (its checksum fails)"
    shape = _shape_problem(rec)
    if shape:
        return None, f"not a valid entry: {shape}"
    # A whole entry out of place still counts when it spends (a reservation): never
    # less budget for a broken chain. Anything else out of place is ignored.
    spends = rec if rec.get("type") == "reserve" else None
    if rec.get("format", 1) >= FORMAT and prev is not None and rec.get("prev") != prev:
        return spends, (
            "the chain is broken: this entry does not follow the line before it "
            "(a line was removed, inserted, reordered or rewritten)"
        )
    if rec.get("format", 1) < FORMAT and chained:
        return spends, "an unchained (format 1) entry after chained ones: inserted by hand"
    return rec, ""


def _shape_problem(rec: dict[str, Any]) -> str:
    """'' for an entry of a known type with its fields; else what is wrong."""
    fields = FIELDS.get(rec.get("type"))
    if fields is None:
        return f"unknown type {rec.get('type')!r}"
    for name, types in fields.items():
        if not isinstance(rec.get(name), types) or isinstance(rec.get(name), bool):
            return f"field {name!r} is missing or of the wrong type"
    for name in AMOUNTS:  # a negative or NaN amount could lower a total
        v = rec.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, _NUM) or not v >= 0):
            return f"{name} {v!r} is not a number >= 0"
    return ""


def _acknowledge(v: Verified) -> Verified:
    acks = {(r["line"], r["line_sha"]) for r in v.records if r.get("type") == "ack"}
    v.problems = [
        LineProblem(p.line, p.line_sha, p.message, acknowledged=True)
        if (p.line, p.line_sha) in acks
        else p
        for p in v.problems
    ]
    return v
