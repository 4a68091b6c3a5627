"""Strict orderings: rules a real log never breaks, and how often a synthetic log does.

    rules = order_rules(train)               # learnt from real journeys
    order_violation_share(rules, synthetic)  # share of journeys that break any rule
    order_violation_share(rules, holdout)    # the reference: fresh real data

Tokens are `channel|event_type` (as the n-grams). Four kinds of rule, each kept
only with `min_support` journeys of evidence and no exception in the real log:
- `precedes`: B never occurs without an A before it (an offer is sent after it
  was created; an application is accepted only after it was pre-accepted);
- `never_first`: a journey never starts with B;
- `terminal`: nothing follows T (a declined or cancelled case is over);
- `after`: B comes straight after A every time (a cart is abandoned right after
  it was filled, with nothing between).
Computed on real data: not covered by the DP guarantee.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from journeylab.journeys.eventlog import EventLog

MIN_SUPPORT = 20
MAX_TOKENS = 200  # pairwise rules are skipped beyond this many distinct tokens


def _tokens(log: EventLog) -> pd.DataFrame:
    """Per event: journey index, position, token."""
    df = log.df
    key = df[log.key].to_numpy()
    tok = (df["channel"].astype(str) + "|" + df["event_type"].astype(str)).to_numpy()
    journey = pd.factorize(key, sort=False)[0]
    pos = pd.Series(journey).groupby(journey).cumcount().to_numpy()
    return pd.DataFrame({"j": journey, "pos": pos, "tok": tok})


def _previous(t: pd.DataFrame) -> np.ndarray:
    """Per event (`_tokens`): the token straight before it in its journey, "" at a start."""
    return np.where(t.pos.to_numpy() == 0, "", np.r_[[""], t.tok.to_numpy()[:-1]])


def _first_positions(t: pd.DataFrame) -> pd.DataFrame:
    """Journey x token -> position of the token's first occurrence (NaN: absent)."""
    return t.groupby(["j", "tok"]).pos.min().unstack()


def order_rules(log: EventLog, *, min_support: int = MIN_SUPPORT) -> dict[str, list]:
    """Rules the log never breaks, each backed by >= min_support journeys."""
    evidence = OrderEvidence()
    evidence.add(log)
    return evidence.rules(min_support=min_support)


class OrderEvidence:
    """What `order_rules` reads off a log, gathered over chunks of whole journeys: each
    token's support, the tokens that start a journey, the tokens not always once at the
    end, and per token B the tokens A before it in every journey with B so far."""

    def __init__(self) -> None:
        self.support: dict[str, int] = {}
        self.starts: set[str] = set()
        self.not_terminal: set[str] = set()
        self.before: dict[str, set[str]] | None = {}  # None: too many tokens to pair
        self.prev: dict[str, set[str]] = {}  # the tokens straight before each ("": start)

    def add(self, log: EventLog) -> None:
        t = _tokens(log)
        first = _first_positions(t)  # [N, T] of this chunk
        for b, n in first.notna().sum().items():
            self.support[b] = self.support.get(b, 0) + int(n)
        self.starts |= set(t.loc[t.pos == 0, "tok"])
        for b, seen in pd.Series(_previous(t)).groupby(t.tok.to_numpy()).unique().items():
            self.prev[b] = self.prev.get(b, set()) | set(seen)
        lengths = t.groupby("j").pos.max() + 1
        for b in first.columns:
            last_b = t.loc[t.tok == b].groupby("j").pos.max()
            firsts_b = first[b].dropna()
            once_at_end = (last_b == lengths.loc[last_b.index] - 1).all() and (
                firsts_b == last_b.loc[firsts_b.index]
            ).all()
            if not once_at_end:
                self.not_terminal.add(b)
        if self.before is None or len(self.support) > MAX_TOKENS:
            self.before = None
            return
        fb = first.to_numpy()  # [N, T]
        has = ~np.isnan(fb)
        for jb, b in enumerate(first.columns):
            rows = has[:, jb]
            ahead = has[rows] & (fb[rows] < fb[rows, jb : jb + 1])  # [n_b, T]
            found = {str(first.columns[ja]) for ja in np.flatnonzero(ahead.all(0)) if ja != jb}
            self.before[b] = self.before[b] & found if b in self.before else found

    def rules(self, *, min_support: int = MIN_SUPPORT) -> dict[str, list]:
        rules: dict[str, list] = {"precedes": [], "never_first": [], "terminal": [], "after": []}
        tokens = sorted(self.support)  # the column order of `_first_positions`
        for b in tokens:
            if self.support[b] < min_support:
                continue
            if b not in self.starts:
                rules["never_first"].append(b)
            if b not in self.not_terminal:
                rules["terminal"].append(b)  # occurs once, at the very end
            before = self.prev.get(b, set())
            if len(before) == 1 and "" not in before and b not in before:
                rules["after"].append([next(iter(before)), b])
        if self.before is not None:
            for b in tokens:
                if self.support[b] >= min_support:
                    ahead = self.before.get(b, set())
                    rules["precedes"] += [[a, str(b)] for a in tokens if a in ahead]
        return rules


def order_violation_share(rules: dict[str, list], log: EventLog) -> float:
    """Share of journeys that break at least one rule (0: none)."""
    if log.n_customers == 0:
        return 0.0
    return float(breaks_order(rules, log).mean())


def breaks_order(rules: dict[str, list], log: EventLog) -> np.ndarray:
    """[customers, in log order]: True where the journey breaks at least one rule."""
    if not any(rules.values()) or log.n_customers == 0:
        return np.zeros(log.n_customers, dtype=bool)
    t = _tokens(log)
    first = _first_positions(t)
    bad = np.zeros(len(first), dtype=bool)
    starts = t.loc[t.pos == 0].set_index("j").tok.reindex(first.index)
    bad |= starts.isin(rules["never_first"]).to_numpy()
    lengths = (t.groupby("j").pos.max() + 1).reindex(first.index)
    for term in rules["terminal"]:
        if term in first:
            bad |= (first[term].notna() & (first[term] < lengths - 1)).to_numpy()
    for a, b in rules["precedes"]:
        if b not in first:
            continue
        fa = first[a] if a in first else pd.Series(np.nan, index=first.index)
        bad |= (first[b].notna() & ~(fa < first[b])).to_numpy()
    after = rules.get("after") or []  # (rules saved before this kind have none)
    if after:
        tok, prev = t.tok.to_numpy(), _previous(t)
        wrong = np.zeros(len(t), dtype=bool)
        for a, b in after:
            wrong |= (tok == b) & (prev != a)
        off = pd.Series(wrong).groupby(t.j.to_numpy()).any()
        bad |= off.reindex(first.index, fill_value=False).to_numpy()
    return bad
