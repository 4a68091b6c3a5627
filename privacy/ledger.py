"""The privacy ledger: an append-only record of every release, per dataset.

    ledger = Ledger()                                   # mlruns/privacy/ledger.jsonl
    ledger.set_cap(fp, epsilon=10.0)
    with ledger.reservation(fp, epsilon=1.0, delta=1e-6, mechanism="dp-sgd/vae",
                            run_id=run_id) as r:        # refused here if over the cap
        train(...)                                      # killed here: the budget stays spent
        r.commit(epsilon=achieved_epsilon)

Each dataset is identified by its fingerprint (`EventLog.fingerprint()`). A run
reserves its whole budget *before* it reads the data; the reservation counts
as spent from then on, whatever happens to the run (a crash, a kill, an error
never gives budget back). A committed run may record the epsilon it actually
achieved (at most what it reserved, e.g. after early stopping); that value
then counts instead of the reservation.

Composition is basic: the total epsilon of a dataset is the sum of the
epsilons of its releases, and the total delta the sum of the deltas. This is
always valid whatever the mechanisms, and conservative: RDP or advanced
composition across releases would give a smaller total.

On disk: one JSON object per line, each written with a single `write()` on an
`O_APPEND` descriptor and fsynced before the call returns, under an exclusive
`flock` on `<ledger>.lock` (readers take a shared lock). The file is a hash
chain (privacy.ledger_chain): every line carries a checksum and the sha256 of
the line before it. A line that fails to verify (cut short, edited, removed,
reordered) never gives budget back: every new release in the ledger is refused
until the line is restored or the data owner acknowledges it
(`acknowledge`, CLI `journeylab privacy ledger --acknowledge LINE`), and the
datasets show no budget left. The next writer ends a line cut short with a
newline so no new entry is glued to it.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from journeylab.journeys.errors import ConfigError, InternalError, PrivacyBudgetError
from journeylab.privacy.ledger_chain import Verified, stamp, verify

ENV_VAR = "JOURNEYLAB_LEDGER"
DEFAULT_RELATIVE = Path("mlruns") / "privacy" / "ledger.jsonl"
STATUSES = ("reserved", "committed", "failed")
_REL_TOL = 1e-9  # float slack when comparing a total with the cap


def default_path() -> Path:
    """$JOURNEYLAB_LEDGER, else mlruns/privacy/ledger.jsonl under the working directory."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.cwd() / DEFAULT_RELATIVE


@dataclass(frozen=True)
class Release:
    """One reservation with its current status, as read back from the ledger."""

    id: str
    dataset: str
    run_id: str
    mechanism: str
    epsilon: float  # reserved
    delta: float  # reserved
    time: str
    status: str = "reserved"
    committed_epsilon: float | None = None
    committed_delta: float | None = None
    parts: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def spent_epsilon(self) -> float:
        """What counts: the committed value once committed, else the reservation."""
        return self.epsilon if self.committed_epsilon is None else self.committed_epsilon

    @property
    def spent_delta(self) -> float:
        return self.delta if self.committed_delta is None else self.committed_delta

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"spent_epsilon": self.spent_epsilon, "spent_delta": self.spent_delta}


@dataclass(frozen=True)
class Spent:
    """Totals for one dataset under basic composition, with its cap."""

    dataset: str
    epsilon: float
    delta: float
    releases: int
    cap_epsilon: float | None = None
    cap_delta: float | None = None
    unverified: int = 0  # ledger lines that fail to verify: the totals are a lower bound

    @property
    def left_epsilon(self) -> float:
        if self.unverified:
            return 0.0
        return math.inf if self.cap_epsilon is None else max(0.0, self.cap_epsilon - self.epsilon)

    @property
    def left_delta(self) -> float:
        if self.unverified:
            return 0.0
        return math.inf if self.cap_delta is None else max(0.0, self.cap_delta - self.delta)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"left_epsilon": self.left_epsilon, "left_delta": self.left_delta}


class Ledger:
    """Append-only JSON-lines ledger at `path` (default: `default_path()`).

    The constructor touches nothing; the file and its folder appear on the first write.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_path()
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    # --- writing ---------------------------------------------------------
    def reserve(
        self,
        dataset: str,
        *,
        epsilon: float,
        delta: float,
        mechanism: str,
        run_id: str,
        parts: dict[str, dict[str, Any]] | None = None,
        note: str = "",
    ) -> Release:
        """Reserve (epsilon, delta) on `dataset` for `run_id`, before the run reads the data.

        Refused with PrivacyBudgetError, writing nothing, when the dataset's cap would be
        exceeded. A non-private run reserves epsilon=math.inf: honest, and refused by any
        cap. `parts` optionally splits the reservation (e.g. {"preprocessing": {...},
        "training": {...}}, each with epsilon, delta, mechanism); their sums must match.
        """
        _check_amounts(epsilon, delta)
        _check_parts(parts or {}, epsilon, delta)
        _check_text(dataset=dataset, mechanism=mechanism, run_id=run_id)
        entry = {
            "type": "reserve",
            "id": uuid.uuid4().hex,
            "dataset": dataset,
            "run_id": run_id,
            "mechanism": mechanism,
            "epsilon": float(epsilon),
            "delta": float(delta),
            "parts": parts or {},
            "note": note,
        }
        with self._locked(exclusive=True) as fd:
            v = verify(_read_all(fd))
            _refuse_unverified(self.path, v, run_id)
            _refuse_over_cap(_spent(dataset, v), epsilon, delta, run_id)
            _append(fd, stamp(entry, v.head))
        return self.release(entry["id"])

    def commit(
        self, release_id: str, *, epsilon: float | None = None, delta: float | None = None
    ) -> Release:
        """Mark a reservation committed, optionally with the epsilon/delta actually spent.

        A value above the reservation is still recorded (it is the truth), then raised as
        an InternalError: the run spent more than it reserved.
        """
        r = self.release(release_id)
        if r.status != "reserved":
            raise ConfigError(
                f"release {release_id} is already {r.status}; it cannot be committed again"
            )
        eps = r.epsilon if epsilon is None else float(epsilon)
        dlt = r.delta if delta is None else float(delta)
        _check_amounts(eps, dlt)
        self._append_status(r, "committed", epsilon=eps, delta=dlt)
        if eps > r.epsilon * (1 + _REL_TOL) or dlt > r.delta * (1 + _REL_TOL):
            raise InternalError(
                f"run {r.run_id} spent epsilon {eps:g}, delta {dlt:g} but "
                f"reserved only {r.epsilon:g}, {r.delta:g}; the ledger "
                "records what was spent"
            )
        return self.release(release_id)

    def fail(self, release_id: str, reason: str = "") -> Release:
        """Mark a reservation failed. Its budget stays spent: the run may have read the data."""
        r = self.release(release_id)
        if r.status == "reserved":
            self._append_status(r, "failed", reason=reason[:2000])
        return self.release(release_id)

    @contextlib.contextmanager
    def reservation(self, dataset: str, **kwargs) -> Iterator[_Handle]:
        """`reserve` on entry; on an exception the release is marked failed (still spent)."""
        handle = _Handle(self, self.reserve(dataset, **kwargs))
        try:
            yield handle
        except BaseException as e:
            self.fail(handle.id, f"{type(e).__name__}: {e}")
            raise

    def set_cap(self, dataset: str, epsilon: float | None, delta: float | None = None) -> Spent:
        """Cap the total (epsilon, delta) of `dataset`; epsilon None removes the cap.

        A cap below what is already spent is allowed: it freezes the dataset.
        """
        if epsilon is not None and not (epsilon >= 0 and math.isfinite(epsilon)):
            raise ConfigError(f"cap epsilon {epsilon!r} must be a finite number >= 0")
        if delta is not None and not 0 <= delta < 1:
            raise ConfigError(f"cap delta {delta!r} must be in [0, 1)")
        _check_text(dataset=dataset)
        entry = {
            "type": "cap",
            "dataset": dataset,
            "epsilon": None if epsilon is None else float(epsilon),
            "delta": None if delta is None or epsilon is None else float(delta),
        }
        self._write(entry)
        return self.spent(dataset)

    def acknowledge(
        self, line: int, *, dataset: str | None = None, epsilon: float = 0.0, delta: float = 0.0
    ) -> list[str]:
        """The data owner accepts damaged line `line` as it is now, charging (epsilon, delta)
        to `dataset` for whatever the line may have spent. Appended, never rewritten; an
        edit of the line after this is a new problem. Returns the problems left."""
        _check_amounts(epsilon, delta)
        if (epsilon or delta) and dataset is None:
            raise ConfigError("--epsilon/--delta charge a dataset: pass --dataset FINGERPRINT too")
        with self._locked(exclusive=True) as fd:
            v = verify(_read_all(fd))
            found = [p for p in v.problems if p.line == line and not p.acknowledged]
            if not found:
                raise ConfigError(
                    f"line {line} of {self.path} has no unacknowledged problem; "
                    "`journeylab privacy ledger --verify` lists those that do"
                )
            entry = {
                "type": "ack",
                "line": line,
                "line_sha": found[0].line_sha,
                "problem": found[0].message,
                "dataset": dataset or "",
                "epsilon": float(epsilon),
                "delta": float(delta),
            }
            _append(fd, stamp(entry, v.head))
        return [str(p) for p in self.verify().blocking]

    def _append_status(self, r: Release, status: str, **extra) -> None:
        self._write(
            {"type": "status", "ref": r.id, "dataset": r.dataset, "status": status, **extra}
        )

    def _write(self, entry: dict[str, Any]) -> None:
        with self._locked(exclusive=True) as fd:
            _append(fd, stamp(entry, verify(_read_all(fd)).head))

    # --- reading ---------------------------------------------------------
    def verify(self) -> Verified:
        """Every verified entry, every line that fails to verify, and the chain head."""
        if not self.path.exists():
            return Verified()
        with self._locked(exclusive=False) as fd:
            return verify(_read_all(fd))

    def check_verified(self, run_id: str) -> None:
        """PrivacyBudgetError naming the damaged lines when the ledger fails to verify."""
        _refuse_unverified(self.path, self.verify(), run_id)

    def records(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Every entry that counts, as a dict, and a description of every problem."""
        v = self.verify()
        return v.records, [str(p) for p in v.problems]

    def problems(self) -> list[str]:
        """Lines that fail to verify (acknowledged ones say so)."""
        return self.records()[1]

    def entries(self, dataset: str | None = None) -> list[Release]:
        """Every reservation (with its status), oldest first; optionally for one dataset."""
        return [
            r
            for r in _releases(self.records()[0]).values()
            if dataset is None or r.dataset == dataset
        ]

    def release(self, release_id: str) -> Release:
        found = _releases(self.records()[0]).get(release_id)
        if found is None:
            raise ConfigError(f"no release with id '{release_id}' in ledger {self.path}")
        return found

    def spent(self, dataset: str) -> Spent:
        return _spent(dataset, self.verify())

    def remaining(self, dataset: str) -> tuple[float, float]:
        """(epsilon, delta) left under the cap; infinite without a cap."""
        s = self.spent(dataset)
        return s.left_epsilon, s.left_delta

    def datasets(self) -> list[str]:
        return sorted({r["dataset"] for r in self.records()[0] if r.get("dataset")})

    # --- files -----------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[int]:
        blocker = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
        if self.path.is_dir() or blocker is not None:
            what = "is a folder" if blocker is None else f"lies under the file {blocker}"
            raise ConfigError(
                f"ledger {self.path} {what}; pass the ledger file, e.g. "
                "--ledger mlruns/privacy/ledger.jsonl"
            )
        if exclusive:
            _make_dir(self.path.parent)
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND if exclusive else os.O_RDONLY
        lock_fd = None  # a reader of a ledger nobody has locked yet needs no lock file
        if exclusive:
            lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        elif self.lock_path.exists():
            lock_fd = os.open(self.lock_path, os.O_RDONLY)  # works on a read-only copy too
        try:
            if lock_fd is not None:
                fcntl.flock(lock_fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            new = not self.path.exists()
            fd = os.open(self.path, flags, 0o644)
            try:
                if new and exclusive:
                    _fsync_dir(self.path.parent)
                yield fd
            finally:
                os.close(fd)
        finally:
            if lock_fd is not None:
                os.close(lock_fd)  # closing releases the flock


class _Handle:
    """What `Ledger.reservation` yields: the release id and `commit`."""

    def __init__(self, ledger: Ledger, release: Release):
        self.ledger, self.id, self.reserved = ledger, release.id, release

    def commit(self, *, epsilon: float | None = None, delta: float | None = None) -> Release:
        return self.ledger.commit(self.id, epsilon=epsilon, delta=delta)


# --- pure helpers -----------------------------------------------------------
def _releases(records: list[dict[str, Any]]) -> dict[str, Release]:
    out: dict[str, Release] = {}
    for rec in records:
        if rec["type"] == "reserve":
            out[rec["id"]] = Release(
                id=rec["id"],
                dataset=rec["dataset"],
                run_id=rec["run_id"],
                mechanism=rec["mechanism"],
                epsilon=rec["epsilon"],
                delta=rec["delta"],
                time=rec["time"],
                parts=rec.get("parts", {}),
                note=rec.get("note", ""),
            )
        elif rec["type"] == "status" and rec["ref"] in out:
            r = out[rec["ref"]]
            if r.status != "reserved":
                continue  # the first status change wins
            out[rec["ref"]] = Release(
                **{
                    **asdict(r),
                    "status": rec["status"],
                    "committed_epsilon": rec.get("epsilon"),
                    "committed_delta": rec.get("delta"),
                }
            )
    return out


def _spent(dataset: str, v: Verified) -> Spent:
    records = v.records
    rel = [r for r in _releases(records).values() if r.dataset == dataset]
    caps = [r for r in records if r["type"] == "cap" and r["dataset"] == dataset]
    acks = [r for r in records if r["type"] == "ack" and r["dataset"] == dataset]
    cap = caps[-1] if caps else {"epsilon": None, "delta": None}
    return Spent(
        dataset=dataset,
        epsilon=math.fsum([r.spent_epsilon for r in rel] + [a["epsilon"] for a in acks]),
        delta=math.fsum([r.spent_delta for r in rel] + [a["delta"] for a in acks]),
        releases=len(rel),
        cap_epsilon=cap["epsilon"],
        cap_delta=cap["delta"],
        unverified=len(v.blocking),
    )


def _refuse_unverified(path: Path, v: Verified, run_id: str) -> None:
    """A ledger that fails to verify might under-count: refuse every new release."""
    if not v.blocking:
        return
    lines = "; ".join(str(p) for p in v.blocking[:5])
    first = v.blocking[0].line
    raise PrivacyBudgetError(
        f"run '{run_id}' is refused: the privacy ledger {path} fails to verify ({lines}). "
        "A damaged entry could hide budget already spent, so no new release is accepted "
        "on any dataset of this ledger until it is repaired. Fix: restore the line from a "
        f"backup or undo the edit, then check with `journeylab privacy ledger --verify"
        f" --ledger {path}`; if the entry is lost, the data owner can accept it with "
        f"`journeylab privacy ledger --acknowledge {first} --dataset FINGERPRINT --epsilon E`,"
        " charging what it may have spent. Nothing was charged to the ledger for this run."
    )


def _refuse_over_cap(s: Spent, epsilon: float, delta: float, run_id: str) -> None:
    over_eps = s.cap_epsilon is not None and s.epsilon + epsilon > s.cap_epsilon * (1 + _REL_TOL)
    over_dlt = s.cap_delta is not None and s.delta + delta > s.cap_delta * (1 + _REL_TOL)
    if not (over_eps or over_dlt):
        return
    cap = f"epsilon {s.cap_epsilon:g}" + (f", delta {s.cap_delta:g}" if s.cap_delta else "")
    raise PrivacyBudgetError(
        f"run '{run_id}' asks for epsilon {epsilon:g}, delta {delta:g} on dataset {s.dataset}, "
        f"which has spent epsilon {s.epsilon:g}, delta {s.delta:g} in {s.releases} release(s) "
        f"of its cap ({cap}); left: epsilon {s.left_epsilon:g}"
        + (f", delta {s.left_delta:g}" if s.cap_delta is not None else "")
        + f". Fix: run with --epsilon {s.left_epsilon:g} or less, or have the data owner raise "
        f"the cap (journeylab privacy cap --dataset {s.dataset} --epsilon E). Nothing was "
        "charged to the ledger for this run."
    )


def _check_amounts(epsilon: float, delta: float) -> None:
    # epsilon = inf records a non-private release: it exhausts the dataset, truthfully.
    p = []
    if not isinstance(epsilon, (int, float)) or not epsilon >= 0:
        p.append(f"epsilon {epsilon!r} must be a number >= 0 (inf for a non-private run)")
    if not isinstance(delta, (int, float)) or not 0 <= delta < 1:
        p.append(f"delta {delta!r} must be in [0, 1)")
    if p:
        raise ConfigError("; ".join(p))


def _check_parts(parts: dict[str, dict[str, Any]], epsilon: float, delta: float) -> None:
    if not parts:
        return
    for name, part in parts.items():
        if not isinstance(part, dict) or "epsilon" not in part:
            raise ConfigError(f"part '{name}' must be a dict with epsilon and delta, got {part!r}")
        _check_amounts(part["epsilon"], part.get("delta", 0.0))
    eps = math.fsum(p["epsilon"] for p in parts.values())
    dlt = math.fsum(p.get("delta", 0.0) for p in parts.values())
    if not (
        math.isclose(eps, epsilon, rel_tol=1e-9, abs_tol=1e-12)
        and math.isclose(dlt, delta, rel_tol=1e-9, abs_tol=1e-15)
    ):
        raise ConfigError(
            f"parts sum to epsilon {eps:g}, delta {dlt:g} but the reservation is "
            f"epsilon {epsilon:g}, delta {delta:g}; make them equal"
        )


def _check_text(**values: str) -> None:
    for name, v in values.items():
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{name} must be a non-empty string, got {v!r}")


def _read_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _append(fd: int, line: bytes) -> None:
    """One write() on an O_APPEND descriptor, then fsync: the entry is whole or absent."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        line = b"\n" + line  # end a line cut short by a killed writer
    written = os.write(fd, line)
    if written != len(line):
        raise OSError(f"short write to the ledger ({written} of {len(line)} bytes); disk full?")
    os.fsync(fd)


def _make_dir(path: Path) -> None:
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
