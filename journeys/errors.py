"""One module for every error JourneyLab raises.

`UserError` and its subclasses are the user's to fix (bad data, bad parameter,
budget exhausted); their message names the value and the fix, and the CLI prints
it without a traceback. `InternalError` is ours: a bug, reported with context.
"""

from __future__ import annotations

from dataclasses import dataclass


class UserError(Exception):
    """A problem the user can fix; the message says how."""


class ConfigError(UserError):
    """A parameter or configuration value is invalid."""


class PrivacyBudgetError(UserError):
    """A run would spend more privacy budget than allowed."""


class InternalError(Exception):
    """A bug in JourneyLab, not in the user's input."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an event log: where it is and how to fix it."""

    column: str | None
    message: str
    fix: str
    rows: tuple[int, ...] = ()
    n_rows: int = 0

    def __str__(self) -> str:
        where = f"column '{self.column}'" if self.column else "log"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:5])
            more = f" (+{self.n_rows - 5} more)" if self.n_rows > 5 else ""
            where += f", rows {shown}{more}"
        return f"{where}: {self.message}. Fix: {self.fix}"


class DataError(UserError):
    """An event log failed validation. Holds every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem | str, *, fix: str = ""):
        if isinstance(problems, str):
            problems = [Problem(None, problems, fix or "correct the input and retry")]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        lines = [f"{len(self.problems)} problem(s) in the event log:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def rows_problem(column: str | None, mask, message: str, fix: str) -> Problem:
    """A Problem for the rows where a boolean mask (numpy or pandas) is true."""
    import numpy as np

    idx = np.flatnonzero(np.asarray(mask))
    return Problem(column, message, fix, rows=tuple(int(i) for i in idx[:5]), n_rows=len(idx))
