"""The `process` preset of the simulator: loan-application traces in the style of BPI 2017.

    log, truth = simulate_process(1000, seed=0)  # schema journeys/data/simulate_process.yaml

Mechanics (tables in docs/simulator.md). Time runs in whole seconds from the
window start.

- Cases: loan goal, application type (new credit or limit raise), requested
  amount (goal median x LogNormal(0, 0.6), halved for a limit raise, rounded
  to 500, in [500, 100000]; repeated on every event of the case), a credit risk
  N(0, 1) + 0.4 log-amount deviation - 0.5 for a limit raise, and the
  applicant's responsiveness N(0, 1).
- Submission: a day uniform in the first 92% of the window, an hour of day
  from an evening-heavy customer curve, a second uniform in the hour.
- Trace: a Markov chain over the 22 activities (`TRANSITIONS`); the row of the
  last activity gives the next, with case-specific entries (pre-screen and
  final decline rise with risk, the offer is returned more often by responsive
  applicants, lead handling only for new credit, at most 3 offers and 2
  incomplete-file rounds). Work items can repeat (suspended and resumed).
  The structure makes the orderings strict: A_Submitted first, A_PreAccepted
  before A_Accepted, O_Created before O_Sent before O_Returned, O_Returned
  before A_Validating; A_Pending (approved), A_Declined or A_Cancelled ends
  the case. A case still running at the window's end is open (censored).
- Clock: every transition has a LogNormal gap (median, sigma). Automatic
  steps and the applicant's actions run on real time, any hour; the gap of a
  human work item runs on office time (Mon-Fri 8:00-18:00), so it lands in
  office hours. Timeouts (an offer not returned) cancel after about 30 days.

Only `numpy.random.default_rng(seed)` is used: same arguments, same output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from journeylab.journeys.clock import office_clock, week_offset
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.schema import Schema
from journeylab.journeys.simulate import _check_count, _choose, _sigmoid

SCHEMA_PATH = Path(__file__).parent / "data" / "simulate_process.yaml"
ACTIVITIES = tuple(
    "A_Submitted A_PartlySubmitted A_PreAccepted A_Accepted A_Finalized A_Validating "
    "A_Incomplete A_Pending A_Declined A_Cancelled O_Created O_Sent O_Returned O_Accepted "
    "O_Declined O_Cancelled W_Handle_leads W_Complete_application W_Call_after_offers "
    "W_Validate_application W_Call_incomplete_files W_Assess_potential_fraud".split()
)
A = {name: i for i, name in enumerate(ACTIVITIES)}
END = len(ACTIVITIES)  # pseudo-activity: the case is over
TERMINAL = {"A_Pending": "approved", "A_Declined": "declined", "A_Cancelled": "cancelled"}
CHANNELS = ("application", "offer", "workflow")
CHANNEL_OF = np.array(["AOW".index(a[0]) for a in ACTIVITIES])
GOALS = (
    "Car",
    "Home improvement",
    "Existing loan takeover",
    "Remaining debt home",
    "Not specified",
    "Caravan / Camper",
    "Boat",
    "Other",
)
GOAL_SHARE = (0.30, 0.25, 0.15, 0.06, 0.12, 0.04, 0.02, 0.06)
GOAL_AMOUNT = (15000, 20000, 25000, 30000, 10000, 25000, 30000, 8000)
APP_TYPES = ("New credit", "Limit raise")
LIMIT_RAISE_SHARE = 0.12
SUBMIT_SHARE = 0.92  # submissions fall in the first 92% of the window
HOUR_WEIGHT = (1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 6, 6, 5, 4, 2)
DAY, HOUR = 86_400, 3_600
OFFICE_DAY = 10 * HOUR
NEVER = np.iinfo(np.int64).max

# Next-activity probabilities; "*" takes what the others leave. Case-specific entries in _probs.
TRANSITIONS = {
    "A_Submitted": {"A_PartlySubmitted": "*"},
    "A_PartlySubmitted": {"W_Handle_leads": 0.30, "A_Declined": 0.0, "A_PreAccepted": "*"},
    "W_Handle_leads": {"W_Handle_leads": 0.15, "A_Cancelled": 0.08, "A_PreAccepted": "*"},
    "A_PreAccepted": {"W_Complete_application": "*"},
    "W_Complete_application": {
        "W_Complete_application": 0.35,
        "A_Cancelled": 0.06,
        "A_Declined": 0.03,
        "A_Accepted": "*",
    },
    "A_Accepted": {"A_Finalized": "*"},
    "A_Finalized": {"O_Created": "*"},
    "O_Created": {"O_Sent": "*"},
    "O_Sent": {"W_Call_after_offers": "*"},
    "W_Call_after_offers": {
        "W_Call_after_offers": 0.25,
        "O_Created": 0.06,
        "O_Cancelled": 0.0,
        "O_Returned": "*",
    },
    "O_Returned": {"W_Validate_application": "*"},
    "W_Validate_application": {"W_Validate_application": 0.30, "A_Validating": "*"},
    "A_Validating": {
        "A_Incomplete": 0.30,
        "W_Assess_potential_fraud": 0.03,
        "O_Declined": 0.0,
        "O_Accepted": "*",
    },
    "A_Incomplete": {"W_Call_incomplete_files": "*"},
    "W_Call_incomplete_files": {
        "W_Call_incomplete_files": 0.20,
        "O_Cancelled": 0.10,
        "O_Returned": "*",
    },
    "W_Assess_potential_fraud": {"O_Declined": 0.70, "O_Accepted": "*"},
    "O_Accepted": {"A_Pending": "*"},
    "O_Declined": {"A_Declined": "*"},
    "O_Cancelled": {"A_Cancelled": "*"},
    **{t: {"END": "*"} for t in TERMINAL},
}

# Gap to an activity: (median seconds, sigma, human). Human gaps count office seconds only.
GAP_TO = {
    "A_PartlySubmitted": (5, 0.8, False),
    "A_PreAccepted": (30, 0.8, False),
    "A_Accepted": (20 * 60, 0.8, True),
    "A_Finalized": (2, 0.5, False),
    "A_Validating": (10, 0.8, False),
    "A_Incomplete": (2, 0.5, False),
    "A_Pending": (1, 0.3, False),
    "A_Declined": (1, 0.3, False),
    "A_Cancelled": (1, 0.3, False),
    "O_Created": (3, 0.5, False),
    "O_Sent": (2, 0.5, False),
    "O_Returned": (5 * DAY, 0.8, False),  # the applicant sends the signed offer back
    "O_Accepted": (2 * HOUR, 0.9, True),
    "O_Declined": (2 * HOUR, 0.9, True),
    "O_Cancelled": (30 * DAY, 0.05, False),  # timeout: the offer was not returned
    "W_Handle_leads": (2 * HOUR, 1.0, True),
    "W_Complete_application": (3 * HOUR, 1.0, True),
    "W_Call_after_offers": (4 * HOUR, 1.0, True),
    "W_Validate_application": (5 * HOUR, 1.0, True),
    "W_Call_incomplete_files": (4 * HOUR, 1.0, True),
    "W_Assess_potential_fraud": (OFFICE_DAY, 0.8, True),
}
GAP_PAIR = {  # (from, to) pairs that differ from GAP_TO
    ("A_PartlySubmitted", "A_Declined"): (40, 0.8, False),  # automatic pre-screen
    ("W_Handle_leads", "A_PreAccepted"): (10 * 60, 0.8, True),
    ("W_Handle_leads", "A_Cancelled"): (4 * DAY, 1.0, False),  # the applicant withdraws
    ("W_Complete_application", "A_Cancelled"): (4 * DAY, 1.0, False),
    ("W_Complete_application", "A_Declined"): (30 * 60, 0.8, True),
    ("W_Call_incomplete_files", "O_Returned"): (3 * DAY, 0.8, False),
    ("W_Call_incomplete_files", "O_Cancelled"): (30 * DAY, 0.05, False),
    **{(t, t): (OFFICE_DAY, 0.8, True) for t in ACTIVITIES if t.startswith("W_")},  # resumed
}


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Transition matrix, remainder column per row, and gap median/sigma/human per pair."""
    idx = {**A, "END": END}
    prob, rest = np.zeros((END, END + 1)), np.zeros(END, dtype=np.int64)
    for src, row in TRANSITIONS.items():
        for dst, p in row.items():
            if p == "*":
                rest[A[src]] = idx[dst]
            else:
                prob[A[src], idx[dst]] = p
    med, sig, human = np.ones((END, END)), np.full((END, END), 0.5), np.zeros((END, END), bool)
    for dst, (m, s, h) in GAP_TO.items():
        med[:, A[dst]], sig[:, A[dst]], human[:, A[dst]] = m, s, h
    for (src, dst), (m, s, h) in GAP_PAIR.items():
        med[A[src], A[dst]], sig[A[src], A[dst]], human[A[src], A[dst]] = m, s, h
    return prob, rest, med, sig, human


PROB, REST, GAP_MEDIAN, GAP_SIGMA, GAP_HUMAN = _tables()


def process_schema() -> Schema:
    """The schema in journeys/data/simulate_process.yaml."""
    return Schema.read(SCHEMA_PATH)


def simulate_process(n_customers: int, *, seed: int = 0) -> tuple[EventLog, pd.DataFrame]:
    """Simulate `n_customers` loan-application cases over the schema's window.

    Returns the validated EventLog and the ground truth, one row per case in id
    order: case_id, loan_goal, application_type, requested_amount, risk,
    responsiveness, submitted_at, ended_at (NaT when open), outcome (approved,
    declined, cancelled, or open at the window's end), n_events, n_offers and
    capped.
    """
    _check_count("n_customers", n_customers, minimum=1, example=1000)
    _check_count("seed", seed, minimum=0, example=0)
    schema = process_schema()
    rng = np.random.default_rng(int(seed))
    horizon = int((schema.time_end - schema.time_start).total_seconds())
    cases = _draw_cases(rng, int(n_customers), horizon)
    run = _Run(rng, cases, horizon, week_offset(schema.time_start), schema.max_length)
    run.simulate()
    events, truth = _frames(run, cases, schema)
    return EventLog.from_frame(events, schema), truth


def _draw_cases(rng: np.random.Generator, n: int, horizon: int) -> dict[str, np.ndarray]:
    """Static attributes, latents and submission time of every case; arrays of length n."""
    goal = rng.choice(len(GOALS), size=n, p=GOAL_SHARE)
    raise_ = rng.random(n) < LIMIT_RAISE_SHARE
    dev = rng.normal(0.0, 0.6, n)
    amount = np.take(GOAL_AMOUNT, goal) * np.exp(dev) * np.where(raise_, 0.5, 1.0)
    amount = np.clip(np.round(amount / 500) * 500, 500, 100_000)
    hours = rng.choice(24, size=n, p=np.asarray(HOUR_WEIGHT) / np.sum(HOUR_WEIGHT))
    day = rng.integers(0, int(SUBMIT_SHARE * horizon) // DAY, n)
    return {
        "goal": goal,
        "limit_raise": raise_,
        "amount": amount,
        "risk": rng.normal(0.0, 1.0, n) + 0.4 * dev / 0.6 - 0.5 * raise_,
        "responsiveness": rng.normal(0.0, 1.0, n),
        "submitted": day * DAY + hours * HOUR + rng.integers(0, HOUR, n),
    }


class _Run:
    """Mutable state of one simulation: per-case arrays plus the events emitted so far."""

    def __init__(self, rng, cases: dict, horizon: int, offset: int, max_length: int):
        n = len(cases["goal"])
        self.rng, self.cases, self.horizon = rng, cases, horizon
        self.office = office_clock(offset=offset)
        self.max_length = max_length
        self.t = cases["submitted"].astype(np.int64)
        self.last = np.full(n, A["A_Submitted"])
        self.n_offers = np.zeros(n, dtype=np.int64)
        self.n_incomplete = np.zeros(n, dtype=np.int64)
        self.n_events = np.ones(n, dtype=np.int64)
        self.ended = np.full(n, -1, dtype=np.int64)  # time of the terminal event, -1 if open
        self.capped = np.zeros(n, dtype=bool)
        self.log = [(np.arange(n), self.t.copy(), self.last.copy())]  # (case, time, activity)

    def simulate(self) -> None:
        a = np.arange(len(self.t))
        while a.size:
            a = self._step(a)

    def _step(self, a: np.ndarray) -> np.ndarray:
        """The next activity of every open case `a`; returns the cases still open."""
        s = self.last[a]
        nxt = _choose(self._probs(a, s), self.rng.random(len(a)))
        done = nxt == END
        self.ended[a[done]] = self.t[a[done]]
        a, s, nxt = a[~done], s[~done], nxt[~done]
        when = self._when(a, s, nxt)
        go = when < self.horizon  # later events fall after the window: the case stays open
        a, nxt, when = a[go], nxt[go], when[go]
        self.t[a], self.last[a] = when, nxt
        self.n_offers[a] += nxt == A["O_Created"]
        self.n_incomplete[a] += nxt == A["A_Incomplete"]
        self.n_events[a] += 1
        self.log.append((a, when, nxt))
        full = self.n_events[a] >= self.max_length
        self.capped[a[full]] = True
        return a[~full]

    def _probs(self, a: np.ndarray, s: np.ndarray) -> np.ndarray:
        """[m, END + 1] next-activity probabilities: the table plus case-specific entries."""
        c, p = self.cases, PROB[s].copy()
        risk = c["risk"][a]
        new_credit = ~c["limit_raise"][a]
        at = lambda src, dst, value: _set(p, s == A[src], A[dst], value)  # noqa: E731
        at("A_PartlySubmitted", "W_Handle_leads", 0.30 * new_credit)
        at("A_PartlySubmitted", "A_Declined", 0.25 * _sigmoid(1.5 * risk - 1.5))
        at("A_Validating", "O_Declined", 0.35 * _sigmoid(1.5 * risk - 1.2))
        at("A_Validating", "A_Incomplete", 0.30 * (self.n_incomplete[a] < 2))
        at("W_Call_after_offers", "O_Created", 0.06 * (self.n_offers[a] < 3))
        resp = c["responsiveness"][a]
        at("W_Call_after_offers", "O_Cancelled", 0.45 * _sigmoid(-1.0 - 1.2 * resp))
        p[np.arange(len(s)), REST[s]] = 0.0
        p[np.arange(len(s)), REST[s]] = 1.0 - p.sum(axis=1)
        return p

    def _when(self, a: np.ndarray, s: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Time of the next activity: a LogNormal gap on real or on office time."""
        z = self.rng.standard_normal(len(a))
        gap = np.exp(np.log(GAP_MEDIAN[s, nxt]) + GAP_SIGMA[s, nxt] * z)
        gap = np.maximum(1, np.rint(gap)).astype(np.int64)
        t = self.t[a]
        return np.where(GAP_HUMAN[s, nxt], self.office.after(t, gap), t + gap)


def _set(p: np.ndarray, rows: np.ndarray, col: int, value: np.ndarray) -> None:
    p[rows, col] = value[rows]


def _frames(run: _Run, cases: dict, schema: Schema) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw event table and the ground truth, cases in id order."""
    who, when, act = (np.concatenate(x) for x in zip(*run.log, strict=True))
    order = np.lexsort((when, who))
    who, when, act = who[order], when[order], act[order]
    n = len(run.t)
    ids = np.array([f"case{i:0{max(5, len(str(n - 1)))}d}" for i in range(n)], dtype=object)
    ctx = {
        "loan_goal": np.asarray(GOALS, dtype=object)[cases["goal"]],
        "application_type": np.asarray(APP_TYPES, dtype=object)[cases["limit_raise"].astype(int)],
    }
    secs = lambda x: schema.time_start + pd.to_timedelta(x, unit="s")  # noqa: E731
    events = pd.DataFrame(
        {
            schema.sequence_key: ids[who],
            schema.sequence_index: secs(when),
            "channel": np.asarray(CHANNELS, dtype=object)[CHANNEL_OF[act]],
            "event_type": np.asarray(ACTIVITIES, dtype=object)[act],
            "requested_amount": cases["amount"][who].astype(np.float64),
            **{k: v[who] for k, v in ctx.items()},
        }
    )
    outcome = np.full(n, "open", dtype=object)
    closed = run.ended >= 0
    outcome[closed] = [TERMINAL[ACTIVITIES[x]] for x in run.last[closed]]
    truth = pd.DataFrame(
        {
            "case_id": ids.astype(str),
            **ctx,
            "requested_amount": cases["amount"],
            "risk": cases["risk"],
            "responsiveness": cases["responsiveness"],
            "submitted_at": secs(cases["submitted"]),
            "ended_at": pd.Series(secs(np.where(closed, run.ended, 0))).where(closed, pd.NaT),
            "outcome": outcome.astype(str),
            "n_events": run.n_events,
            "n_offers": run.n_offers,
            "capped": run.capped,
        }
    )
    return events, truth
