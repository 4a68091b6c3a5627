"""Calendar time of the journey profile: what a clock and a weekday give away.

    cal = Calendar.fit(log, scale=None, rng=rng)     # scale: noise scale under DP
    df = cal.apply(df, log, rng)                     # generated events, re-timed

Per event token (`channel|event_type`) four small tables:
- time class: at midnight exactly (date-only data, campaign drops), at a whole
  minute, or at any second;
- hour of day of the events that are not at midnight;
- weekday (Monday..Sunday);
- numerics: per numeric column the shares of the token's events at exactly 0 (a
  campaign event never has an amount), at another whole number (prices of 1, 10, 20),
  and fractional;
and, per numeric column over all tokens, its units: non-zero values by decade and the
coarsest unit of the 1-2-5 ladder they are a multiple of (`unit_counts`; a requested
loan of 15,500 is a multiple of 500, a price of 2.99 of 0.01).
`apply` (1) shifts each journey by a few whole days (all its gaps kept) towards the
weekdays its events favour, (2) redraws the time of day of each day's first clock-timed
event and keeps the generated offsets of that day's later events (compressed into the
token's hours when needed), (3) sets structural zeros and rounds fractional values to
whole numbers as often as the token's data has whole numbers, then rounds values to
coarser units where the data's are rounder (`rounded_units`).

Customers keep habits: on Complete Journey the mean hour of a household's purchases
varies from one household to the next with a deviation of 2.8 hours, and with hours drawn
event by event it was 1.6 (so a DP model's customers all shopped at the same average hour).
So one more table holds each customer's mean hour (`habit`), and the hours are drawn through
a customer-level Gaussian copula: each event's quantile in its token's hour row is
Phi(rho * z_customer + sqrt(1 - rho^2) * z_event), which keeps every token's hours as they
are, with rho chosen (bisection) so that the customers' mean hours spread as the table says.
A first-hour table (customers by the hour of their journey's first timed event, one cell
each) gives that event its hour where its token has no hour row of its own (too thin for the
noise): a process's cases, opened by customers in the evening, had the clerks' office hours.

Under DP (`capped=True`) each customer's events are subsampled to CAP, each of weight
1 / (events kept), so one customer moves each table by at most 1 in L1 (a customer with
three events counts as much as one with a hundred: weighting by 1 / CAP instead left a
log of short journeys with a tenth of its mass under the same noise); the caller picks
the noise scale (`gauss_scale`: Gaussian noise, the tables' costs add up in
zero-concentrated DP). The token names come from the schema's
declared (or DP-estimated) categories, never from the data.

A token whose row holds too little mass to survive the noise (most of them, on a few
thousand customers under DP) uses the pooled row: every token together. The pooled rows
are released on their own, with their own noise, rather than summed from the noisy token
rows (a sum over T rows carries sqrt(T) times the noise: on 1,500 customers at the
calendar's share of epsilon 8 that sum put the mean hour at 6 instead of 12 and zeroed
every amount). A structural zero is forced only where the token's own row says so, never
from the pooled row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from journeylab.generators.dates import (
    add_counts,
    busy_end,
    closed_dates,
    closed_released,
    date_counts,
    snap_dates,
    snap_days,
)
from journeylab.generators.spread import hist_sd, robust_sd, solve_increasing
from journeylab.generators.waves import (
    MAX_CELLS,
    WAVE_AT,
    WAVE_WEIGHT,
    apply_waves,
    release_waves,
    wave_counts,
    window_days,
)
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.streamed import StreamedLog, each_chunk

CAP = 32  # events per customer in the tables under DP
MAX_TOKENS = 4096
SHIFTS = np.arange(-3, 4)  # whole days a journey may move towards its weekdays
WEEKDAY_SHIFTS = (0, 1, -1, 2, -2, 3, -3, 4, 5, 6)  # onto an open weekday: nearest first
CLOSED_MIN = 50  # events a token needs (exact) before a weekday it never has is closed
# the units table of a numeric column: its non-zero values by decade (of |value|: 10^-4
# and less .. 10^9 and more) and the coarsest unit of the 1-2-5 ladder they
# are a multiple of, in steps down from the decade (7 decades, then finer)
UNIT_DECADES = np.arange(-4, 10)
STEPS = 22
UNIT_ROW_DEVS = 4.0  # noise deviations a row of the units table must stand to be used
CLOSED_PEAK = 8.0  # ... under DP: its row's busiest day, in noise scales
CLOSED_SHARE = 0.1  # ... and a day's cell under this share of that day and under 2
CLOSED_FLOOR = 0.02  # noise scales, or this share of that day (a noise cell of a big row)
INFORMATIVE = 5.0  # noise deviations of the token masses' sum before they remap tokens
EXCESS = 3.0  # deviations beyond its release a token's share and presence must both be
STAY = 0.5  # prior probability of no shift
SMOOTH_HALF_WIDTHS = (0, 1, 2, 3)  # hours either side in the hour rows' smoothing
NOISE_SHARE = 0.3  # smoothed noise deviation allowed, as a share of a row's mean hour
FLAT_SPREAD = 2.0  # a smoothed hour row spread under this many times its noise's is flat
RHO_MAX = 0.95  # the habit copula's largest correlation within a customer
# a customer's hours' deviation (over its clock-timed events, with 2 or more of them)
REGULAR_EDGES = np.array([0.0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 5, 6, 7, 8, 9, 10, 12])
REGULAR_COUNTS = np.array([2, 3, 5, 10])  # ... by their number of timed events, in classes
REGULAR_MIN = 10.0  # noise scales of mass a regularity row needs to be used
KEEP_MIN = 0.05  # the smallest weight of an event's own draw (a customer at one hour)
BISECTIONS = 8
# the whole-number habit: customers with WHOLE_MIN or more non-zero values of a numeric
# column by the square root of their share of whole numbers, in WHOLE_BINS equal bins
WHOLE_MIN = 5
WHOLE_BINS = 20
WHOLE_RHOS = 9  # copula correlations tried (0 to RHO_MAX), the closest to the table kept
# the weekend habit: customers with WEEKEND_MIN or more active days by their share of
# them on a Saturday or a Sunday, in WEEKEND_BINS equal bins
WEEKEND_MIN = 5
WEEKEND_BINS = 20
WEEKEND_TILTS = np.linspace(0.0, 3.0, 9)  # deviations of the customers' tilt tried
ZERO_SHARE = 0.98  # a token's numeric is forced to 0 when at least this share is 0
OWN_NOISE = 3.0  # deviations under which a token's own valued cells are noise (`_by_event_type`)
_DAY_NS = 86_400 * 1_000_000_000


TOKEN_COLUMNS = ("channel", "event_type")  # the required event columns: what an event is


def token_columns(log: EventLog) -> list[str]:
    """The event columns a token is made of (`token_keys`: their values joined by |)."""
    # Not every categorical: a per-customer one (a home store) would split the tables into
    # rows too sparse to survive the noise.
    cats = log.schema.event_names("categorical")
    return [c for c in TOKEN_COLUMNS if c in cats]


def token_keys(df: pd.DataFrame, log: EventLog) -> pd.Series:
    cols = token_columns(log)
    if not cols:
        return pd.Series("", index=df.index)
    key = df[cols[0]].astype(str)
    for c in cols[1:]:  # vectorised: a row-wise join is slow on millions of events
        key = key + "|" + df[c].astype(str)
    return key


def declared_tokens(log: EventLog) -> list[str] | None:
    cols = token_columns(log)
    values = [log.schema.column(c).values for c in cols]
    if any(v is None for v in values):
        return None
    out = [""]
    for vs in values:
        out = [f"{a}|{v}" if a else str(v) for a in out for v in vs]
    return out if len(out) <= MAX_TOKENS else None


def n_tables(log: EventLog, rho: float | None = None) -> int:
    """Tables one customer contributes to: class, hour, weekday, one per numeric; each
    as token rows and as its pooled row; its mean hour (the habit table), the spread of
    its hours (the regularity table) and per numeric its values' units (`unit_counts`)
    and its customers' shares of whole numbers (`whole_counts`); their shares of days on
    a weekend (`weekend_counts`); the hour of their first day's first timed event
    (`first_hour_counts`); and where `dates_table(log, rho)` (the calendar's rho
    says it can tell a broadcast's dates), its tokens' events by date
    (`waves.wave_counts`), counted WAVE_WEIGHT times (its noise deviation
    1 / sqrt(WAVE_WEIGHT) of the others')."""
    return _base_tables(log) + WAVE_WEIGHT * dates_table(log, rho)


def _base_tables(log: EventLog) -> int:
    """`n_tables` without the dates table."""
    numerics = len(log.schema.event_names("numeric"))
    return 2 * (3 + numerics) + 4 + 2 * numerics


def dates_table(log: EventLog, rho: float | None) -> bool:
    """Whether a DP calendar at zCDP `rho` releases the dates table: the schema declares
    a time window and a cell's noise deviation leaves WAVE_AT customers per deviation
    (Complete Journey at epsilon 8: 190; at epsilon 1 and on small test logs, not: there
    its share would only have added noise to every other table). Reads the number of
    customers and rho only. `rho` None (not private): False, as `n_tables` then counts
    for a noise scale chosen by the caller."""
    if rho is None or window_days(log) is None:
        return False
    sd = np.sqrt(2.0) * gauss_scale(_base_tables(log) + WAVE_WEIGHT, rho) / np.sqrt(WAVE_WEIGHT)
    return log.n_customers / sd >= WAVE_AT


@dataclass
class Calendar:
    tokens: list[str]  # named tokens; row len(tokens) pools the rest
    time_class: list[list[float]]  # [T+1][3] midnight, minute, second
    hour: list[list[float]]  # [T+1][24]
    weekday: list[list[float]]  # [T+1][7] Monday first
    zeros: dict[str, list[list[float]]]  # numeric -> [T+1][3] (zero, whole, fractional)
    scale: float = 0.0  # noise scale of the (raw, noisy) counts (`noisy_counts`); 0: exact
    pooled: dict[str, list[float]] | None = None  # table (or numeric) -> its pooled row
    habit: list[float] | None = None  # [24] customers by the (floored) mean hour of their events
    regular: list[float] | None = None  # [REGULAR_COUNTS, REGULAR_EDGES bins] customers
    units: dict[str, list[float]] | None = None  # numeric -> [UNIT_DECADES x STEPS]
    # numeric -> [WHOLE_BINS] customers by their share of whole numbers (None: a model
    # saved before it)
    whole_habit: dict[str, list[float]] | None = None
    # [WEEKEND_BINS] customers by their share of active days on a weekend (None: a model
    # saved before it)
    weekend: list[float] | None = None
    # token -> {"dates": days from the window's first, "weights", "rest"}: the dates its
    # events are sent on, for the tokens the release shows are broadcasts
    # (generators/waves.py; None: none, no window, or a model saved before it)
    waves: dict[str, dict] | None = None
    # (generators/dates.py) the dates (days since 1970-01-01) a busy log has no event on:
    # exact, or under DP as the dates table shows them (`closed_released`; None where no
    # dates table is released, or a model saved before them); and, exact fits only, its
    # last event's time (ns) where it is busy to its end
    closed_dates: list[int] | None = None
    last_time: int | None = None
    # [24] customers by the hour of their journey's first clock-timed event on its first
    # day (one cell each; None: a model saved before it)
    first_hour: list[float] | None = None

    @classmethod
    def fit(
        cls, log: EventLog | StreamedLog, *, scale: float | None, rng, dates: bool | None = None
    ) -> Calendar:
        """The calendar of `log`, its tables at noise `scale` (None: exact); `dates`:
        whether the dates table (the waves) is released, by default only when exact (under
        DP its cost must be in the scale: `n_tables(log, rho)`, `dates_table`)."""
        names = declared_tokens(log)
        if names is None:
            seen = (set(token_keys(c.df, c)) for c in each_chunk(log)) if scale is None else ()
            names = sorted(set().union(*seen))
        numerics = log.schema.event_names("numeric")
        tables = {"time_class": 0.0, "hour": 0.0, "weekday": 0.0}
        zeros, habit, regular = dict.fromkeys(numerics, 0.0), 0, 0
        units = dict.fromkeys(numerics, 0.0)
        wholes, weekend, week_pool = dict.fromkeys(numerics, 0.0), 0.0, 0.0
        first_hour = np.zeros(24)
        days = window_days(log) if (scale is None if dates is None else dates) else None
        wave_scale = None if scale is None else scale / np.sqrt(WAVE_WEIGHT)
        if days is not None and (len(names) + 1) * days > MAX_CELLS:
            days = None
        dates = 0.0
        by_date: dict[int, int] = {}  # exact only: events by date (`closed_dates`)
        last_time = None  # exact only: the log's last event
        for chunk in each_chunk(log):  # customer-complete: each count adds up over chunks
            if scale is None and len(chunk.df):
                by_date = add_counts(by_date, date_counts(chunk))
                t_max = int(chunk.df[chunk.time].max().value)
                last_time = t_max if last_time is None else max(last_time, t_max)
            part, part_zeros, part_habit, part_pool = _chunk_tables(
                chunk, names, scale is not None, rng
            )
            week_pool = week_pool + part_pool
            first_hour = first_hour + first_hour_counts(chunk)
            tables = {k: v + part[k] for k, v in tables.items()}
            zeros = {k: v + part_zeros[k] for k, v in zeros.items()}
            habit = habit + part_habit
            regular = regular + regularity_counts(chunk)
            units = {
                k: v + unit_counts(chunk, k, capped=scale is not None) for k, v in units.items()
            }
            wholes = {k: v + whole_counts(chunk, k) for k, v in wholes.items()}
            weekend = weekend + weekend_counts(chunk)
            if days is not None:
                tok = pd.Categorical(token_keys(chunk.df, chunk), categories=names).codes
                tok = np.where(tok >= 0, tok, len(names)).astype(np.int64)
                dates = dates + wave_counts(
                    chunk, tok, len(names) + 1, days, private=scale is not None
                )
        # the hour's and the numerics' pooled rows are kept as drawn: `rows` smooths the
        # hours (thresholded cell by cell, only the noise peaks of a flat day were left:
        # see `_smooth_rows`); whole-number shares are read off cells as drawn
        # the weekday's pooled row is counted on its own (each customer's L2 norm 1)
        pools = {**tables, "weekday": np.zeros((1, 7)) + week_pool}
        pooled = {k: _pooled(v, scale, rng, raw=k == "hour") for k, v in pools.items()}
        pooled.update({f"zeros:{k}": _pooled(v, scale, rng, raw=True) for k, v in zeros.items()})
        zeros = {k: noisy_counts(v, scale, rng, raw=True).tolist() for k, v in zeros.items()}
        noisy = {k: noisy_counts(v, scale, rng, raw=True).tolist() for k, v in tables.items()}
        # drawn in this order, each after the ones before it, so a table added last leaves
        # the other tables' draws those of a calendar without it
        habit_t = _pooled(habit.astype(float), scale, rng)  # one customer: one cell
        regular_t = noisy_counts(np.asarray(regular, float), scale, rng, raw=True).tolist()
        units_t = {
            k: noisy_counts(np.asarray(v, float), scale, rng, raw=True).tolist()
            for k, v in units.items()
        }
        wholes_t = {
            k: noisy_counts(np.asarray(v, float), scale, rng, raw=True).tolist()
            for k, v in wholes.items()
        }
        weekend_t = noisy_counts(np.zeros(WEEKEND_BINS) + weekend, scale, rng, raw=True).tolist()
        by_token_date = None
        if days is not None:
            by_token_date = noisy_counts(
                np.zeros((len(names) + 1, days)) + dates, wave_scale, rng, raw=True
            )
        first_hour_t = noisy_counts(first_hour, scale, rng, raw=True).tolist()  # one cell each
        if scale is None:
            closed = _closed_in_window(by_date, log)
        elif by_token_date is not None:  # post-processing of the dates table
            sd = np.sqrt(2.0 * len(by_token_date)) * wave_scale
            closed = closed_released(
                by_token_date.sum(0), sd, log.schema.time_start.value // _DAY_NS
            )
        else:
            closed = None
        return cls(
            tokens=names,
            zeros=zeros,
            scale=scale or 0.0,
            pooled=pooled,
            habit=habit_t,
            regular=regular_t,
            units=units_t,
            whole_habit=wholes_t,
            weekend=weekend_t,
            # only the wave tokens' dates are kept
            waves=None
            if by_token_date is None
            else release_waves(by_token_date, names, wave_scale or 0.0),
            closed_dates=closed,
            last_time=last_time if busy_end(by_date) else None,
            first_hour=first_hour_t,
            **noisy,
        )

    @classmethod
    def from_dict(cls, d: dict) -> Calendar:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    # --- applying it ------------------------------------------------------------------
    def rows(self, table: str, tok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[E, K] distribution of each event's token, and [E] whether it is the token's
        own row: a token with less than 10 noise scales of mass uses the pooled row."""
        m = getattr(self, table) if table in self.__dataclass_fields__ else None
        m = np.asarray(self.zeros[table.removeprefix("zeros:")] if m is None else m, float)
        pooled = None if self.pooled is None else self.pooled.get(table)
        if table == "weekday" and self.scale:  # toward flat, by what the noise explains
            m = _shrink_rows(m, self.scale)
            pooled = (
                None if pooled is None else _shrink_rows(np.asarray(pooled)[None], self.scale)[0]
            )
        if table == "time_class" and self.scale and pooled is not None:
            pooled = _clear_class(np.asarray(pooled, float), self.scale)
            m = _as_pooled_unless(m, pooled, self.scale)  # a token's own resolution, or noise
        if table != "hour" or not self.scale:
            return _rows(m, tok, self.scale, pooled)
        m, enough = _smooth_rows(m, self.scale)
        m[~enough] = 0.0  # too thin to say which hours: the pooled row speaks for it
        if pooled is not None:
            pooled = _smooth_rows(np.asarray(pooled, float)[None], self.scale)[0][0]
        return _rows(m, tok, self.scale, pooled, floor=0.0)

    def closed_days(self, tok: np.ndarray) -> np.ndarray:
        """[E, 7] bool: the weekdays on which each event's token never occurs in the data
        (campaigns sent on Mondays only, a process worked Monday to Friday). Exact: no
        event on that day in a row of at least CLOSED_MIN events. Under DP: a cell under
        CLOSED_SHARE of the row's busiest day and under 2 noise scales (or CLOSED_FLOOR of
        that day, which a noise cell of a heavy row also stays under), in a row whose other
        (open) days stand at least CLOSED_PEAK scales high on average, and no lower than
        noise puts any cell of the table one time in ten (ln(10 R 7) scales). By the
        busiest day alone, an empty token's noise cell at 8.2 scales closed a process
        step's other six days, and a Friday whose noise fell 4.5 scales closed Complete
        Journey's store purchases on Fridays. At the 50,000-customer simulator and epsilon
        8 the promo emails' Monday stands at 33 scales, its other days within 2. A token
        too thin for that takes the pooled row's."""
        m = np.asarray(self.weekday, float)
        pooled = self.pooled.get("weekday") if self.pooled else None
        pooled_of = 1.0 if pooled is not None else float(len(m))  # rows its noise sums
        pooled = np.maximum(m.sum(0) if pooled is None else np.asarray(pooled, float), 0.0)

        def closed(rows: np.ndarray, rows_of: float) -> tuple[np.ndarray, np.ndarray]:
            mass = np.maximum(rows, 0.0).sum(1)
            if not self.scale:
                sure = mass >= CLOSED_MIN
                return sure, sure[:, None] & (rows <= 0)
            sd = self.scale * np.sqrt(rows_of)
            peak = rows.max(1, keepdims=True)
            low = (rows <= np.maximum(2 * sd, CLOSED_FLOOR * peak)) & (rows <= CLOSED_SHARE * peak)
            open_mean = np.where(low, 0.0, rows).sum(1) / np.maximum((~low).sum(1), 1)
            # the open days as high as noise puts any of the table's cells one time in
            # ten, or higher
            sure = open_mean >= max(CLOSED_PEAK, np.log(10.0 * m.size)) * sd
            return sure, sure[:, None] & low

        own_sure, own = closed(m, 1.0)
        pool_sure, pool = closed(pooled[None, :], pooled_of)
        out = np.where(own_sure[:, None], own, pool[0][None, :] & pool_sure[0])
        out[out.all(1)] = False  # never every day
        return out[np.where(tok >= 0, tok, len(m) - 1)]

    def _whole_share(self, col: str, tok: np.ndarray) -> np.ndarray:
        """[E, 3] rows whose whole / (whole + fractional) is each event's share of whole
        numbers, from cells as drawn, not cut at 2 noise scales and not clipped at 0 (cut,
        a 7.6% share of whole-number baskets on Complete Journey came out 0 or 8% by the
        noise's whim; clipped, small shares came out twice too large)."""
        m = np.asarray(self.zeros[col], float)
        pooled = (self.pooled or {}).get(f"zeros:{col}")
        pooled = m.sum(0) if pooled is None else np.asarray(pooled, float)
        ok = (m.sum(1) >= max(10 * self.scale, 1e-12))[np.maximum(tok, 0)] & (tok >= 0)
        rows = np.where(ok[:, None], m[np.maximum(tok, 0)], pooled)
        share = np.clip(rows[:, 1] / np.maximum(rows[:, 1] + rows[:, 2], 1e-9), 0.0, 1.0)
        return np.stack([np.zeros(len(tok)), share, 1.0 - share], axis=1)

    def whole_rates(self, col: str) -> np.ndarray | None:
        """[len(UNIT_DECADES)] the data's share of whole numbers among the non-zero values
        of `col` in each decade, from the units table, NaN for a decade whose row is not
        usable (as `rounded_units` reads it); None without a units table. Under DP the
        row's whole and all cells are summed as drawn (cut at ln(cells) noise scales, the
        whole ones were cut to 0) and the share is shrunk towards all usable rows' by the
        noise deviation of its whole cells, in units of that share."""
        if not self.units or col not in self.units:
            return None
        raw = np.asarray(self.units[col], float).reshape(-1, STEPS)
        usable = raw.sum(1) >= max(UNIT_ROW_DEVS * np.sqrt(2.0 * STEPS) * self.scale, 1e-12)
        if not usable.any():
            return None
        decade = np.repeat(UNIT_DECADES, STEPS).reshape(raw.shape)
        step = np.tile(np.arange(STEPS), len(UNIT_DECADES)).reshape(raw.shape)
        whole = (_ladder(decade, step) >= 1.0 - 1e-9) & (step < STEPS - 1)
        w, m = (raw * whole).sum(1), raw.sum(1)
        pooled = np.clip(w[usable].sum() / m[usable].sum(), 1e-3, 1.0)
        k = np.sqrt(2.0 * whole.sum(1)) * self.scale / pooled  # 0 without noise
        rate = np.clip((w + k * pooled) / np.maximum(m + k, 1e-12), 0.0, 1.0)
        return np.where(usable, rate, np.nan)

    def whole_dist(self, col: str) -> np.ndarray | None:
        """[WHOLE_BINS] the whole-number habit table of `col` as a distribution
        (`_habit_dist`); None where there is none or it is noise."""
        if not self.whole_habit or col not in self.whole_habit:
            return None
        return _habit_dist(self.whole_habit[col], self.scale)

    def weekend_dist(self) -> np.ndarray | None:
        """[WEEKEND_BINS] the weekend habit table as a distribution (`_habit_dist`); None
        where there is none or it is noise."""
        return None if self.weekend is None else _habit_dist(self.weekend, self.scale)

    def first_hour_dist(self) -> np.ndarray | None:
        """[24] the first-hour table as a distribution, smoothed around the clock under DP
        as the token rows are (`_smooth_rows`); None where there is none, or too little
        survived the noise (under 10 noise scales of mass, or noise beyond NOISE_SHARE)."""
        if self.first_hour is None:
            return None
        m = np.asarray(self.first_hour, float)[None]
        if self.scale:
            m, enough = _smooth_rows(m, self.scale)
            if not enough[0] or m.sum() < 10 * self.scale:
                return None
        m = np.maximum(m[0], 0.0)
        return m / m.sum() if m.sum() > 0 else None

    def habit_sd(self) -> float | None:
        """How far customers' mean hours spread (sd in hours, from the habit table); None
        where there is no table or too little survived the noise."""
        return hist_sd(self.habit, np.arange(24) + 0.5, floor=10 * self.scale)

    def regular_dist(self) -> np.ndarray | None:
        """[count classes, bins] the regularity table's rows as distributions (cells under
        2 noise scales as 0); a row with under REGULAR_MIN noise scales of mass is NaN (its
        customers keep the habit's copula). None where no row is usable."""
        if self.regular is None:
            return None
        m = np.asarray(self.regular, float).reshape(len(REGULAR_COUNTS), -1)
        if self.scale:
            m = np.where(m > 2 * self.scale, m, 0.0)
        total = m.sum(1, keepdims=True)
        ok = total > max(REGULAR_MIN * self.scale, 1e-12)
        if not ok.any():
            return None
        return np.where(ok, m / np.maximum(total, 1e-12), np.nan)

    def token_mass(self) -> np.ndarray:
        """[T] each named token's (noisy) weight in the data: its time-class row sum."""
        return np.asarray(self.time_class, float)[: len(self.tokens)].sum(1)

    def tokens_informative(self) -> bool:
        """Whether the token masses say more than their noise: their sum (about the number
        of customers) at least INFORMATIVE deviations of a sum of every row's noise. Exact:
        always. On Complete Journey at epsilon 1 (1,265 customers, a noise scale of 257 per
        cell) one noise token passed `valid_tokens` alone, and every synthetic event was
        remapped to it (a direct-mail campaign)."""
        if not self.scale:
            return True
        mass = self.token_mass()
        k = np.asarray(self.time_class, float).shape[1]
        sd = np.sqrt(2.0 * k * max(len(mass), 1)) * self.scale
        return bool(mass.sum() >= INFORMATIVE * sd)

    def valid_tokens(self) -> np.ndarray:
        """[T] bool: tokens the data has. Exact: any weight. Under DP: a weight above one
        noise standard deviation of a row sum. About 1 in 6 tokens the data never has
        passes on noise alone (on Complete Journey at epsilon 8, direct-mail coupon
        redemptions), and a rare real token may fail (its events then move to a token
        that passed). At two deviations fewer pass by noise, but on the omnichannel
        simulator so many real tokens failed that its 2-gram TVD went from 0.38 to 0.62
        (BENCHMARKS.md), so one it is."""
        mass = self.token_mass()
        k = np.asarray(self.time_class, float).shape[1]
        return mass > (np.sqrt(2.0 * k) * self.scale if self.scale else 0.0)

    def _by_event_type(self, col: str, tok, kinds, own, log: EventLog):
        """Events of a token too thin for its own row of `zeros:col` take the row of its
        event type (the sum of that type's token rows, over every channel) when that sum
        holds 10 noise scales of mass times sqrt(rows summed) (a token's own row needs 10
        scales; a sum of k rows carries sqrt(k) times the noise): on 1,000 customers under
        DP a page view
        on the web is too rare to say its amount is always 0, page views together are not.
        So does a token with a row of its own whose type's row is structural zeros, when
        its own valued cells stand within OWN_NOISE deviations (noise): one such cell two
        scales high made a view's own row 90% zeros, and its amounts were kept."""
        if len(token_columns(log)) != 2 or not self.tokens:
            return kinds, own
        if own.all() and not self.scale:
            return kinds, own
        m = np.asarray(self.zeros[col], float)[: len(self.tokens)]
        types = pd.Series([t.split("|", 1)[1] for t in self.tokens])
        group = types.factorize()[0]  # [T] event type of each named token
        sums = np.zeros((group.max() + 1, m.shape[1]))
        np.add.at(sums, group, m)
        size = np.bincount(group)
        # mass: the cells above 0 (the raw sum of a type's views, 1,085 customers' weight,
        # fell under its bar of 900 in 2 of 10 releases with the noise of its empty cells)
        mass = np.maximum(sums, 0.0).sum(1)
        ok_type = mass >= np.maximum(10 * self.scale * np.sqrt(size), 1e-12)
        # cells under OWN_NOISE deviations of a sum of rows are noise (at 2 scales, one
        # empty cell in twelve passed and the views' amounts were kept)
        floor = OWN_NOISE * np.sqrt(2.0) * self.scale * np.sqrt(size)[:, None]
        rows = np.where(sums > floor, sums, 0.0) + 1e-9
        rows = rows / rows.sum(1, keepdims=True)
        g = np.where(tok >= 0, group[np.maximum(tok, 0)], -1)
        gi = np.maximum(g, 0)
        noise = (m[:, 1:] < OWN_NOISE * np.sqrt(2.0) * self.scale).all(1)  # [T] values: noise
        zeros = noise[np.maximum(tok, 0)] & (rows[gi, 0] >= ZERO_SHARE) & (self.scale > 0)
        use = (~own | zeros) & (g >= 0) & ok_type[gi]
        kinds, own = kinds.copy(), own.copy()
        kinds[use] = rows[g[use]]
        own[use] = True
        return kinds, own

    def apply(
        self,
        df: pd.DataFrame,
        log: EventLog,
        rng,
        *,
        valid=None,
        zero_types=None,
        whole_types=None,
        start_floor=None,
    ) -> pd.DataFrame:
        """`valid`: (weights, known, sd) per token from a finer release than the token
        rows (the profile's mix: `mix_valid`), used to remap impossible channel/event-type
        pairs;
        `zero_types`: numeric column -> event types whose values are always 0 (the mix);
        `whole_types`: numeric column -> {event type: share of whole numbers} (the mix),
        in place of the token rows' shares;
        `start_floor`: customer -> the earliest time (ns) the weekday shift may move its
        journey's first event back to (`JourneyProfile.start_floors`)."""
        if not len(df):
            return df
        df = _remap_invalid(df, log, self, rng, valid=valid)
        tok = pd.Categorical(token_keys(df, log), categories=self.tokens).codes.astype(np.int64)
        floor = None
        if start_floor is not None:
            floor = df[log.key].map(start_floor).to_numpy(dtype=float)
        df = _shift_weekdays(df, log, self.rows("weekday", tok)[0], rng, floor=floor)
        weekend = self.weekend_dist()
        if weekend is not None:
            df = _weekend_habit(df, log, weekend, rng)
        df = _snap_weekdays(df, log, self.closed_days(tok))
        end = None if self.last_time is None else self.last_time + 1_000_000_000
        if self.closed_dates:  # exact fits: off the dates the log is shut on
            df = snap_dates(df, log, self.closed_dates, end=end)
        if self.waves:  # broadcasts onto their dates (their weekdays are the data's)
            df = apply_waves(df, log, self.waves, tok, self.tokens, rng)
            # each journey's events in time order again: the clock reads a day's offsets
            # from its first row (left where they were, a moved promo's day had offsets of
            # 0 and ties: 353 synthetic gaps of 2 s or less on the omnichannel simulator
            # against 22 before and 11 real)
            j = pd.factorize(df[log.key], sort=False)[0]
            order = np.lexsort((df[log.time].to_numpy(), j))
            df, tok = df.iloc[order], tok[order]
        cls_p, (hour_p, hour_own) = self.rows("time_class", tok)[0], self.rows("hour", tok)
        cls_p = _declared_classes(df, log, _by_resolution(cls_p))
        before = df[log.time].to_numpy()  # breaks ties: two events on one whole minute
        df = _redraw_clock(
            df,
            log,
            cls_p,
            hour_p,
            rng,
            habit=self.habit_sd(),
            regular=self.regular_dist(),
            end=end,
            first_hour=self.first_hour_dist(),
            own_hours=hour_own,
        )
        who = pd.factorize(df[log.key], sort=False)[0]
        for col in self.zeros:
            kinds, own = self.rows(f"zeros:{col}", tok)
            kinds, own = self._by_event_type(col, tok, kinds, own, log)
            whole = self._whole_share(col, tok)
            if whole_types and whole_types.get(col):
                share = df["event_type"].astype(str).map(whole_types[col]).to_numpy(float)
                hit = ~np.isnan(share)
                whole[hit] = np.stack([0.0 * share[hit], share[hit], 1.0 - share[hit]], axis=1)
            if zero_types and col in zero_types:  # structural zeros the mix knows
                own, kinds = own.copy(), kinds.copy()
                forced = df["event_type"].astype(str).isin(zero_types[col]).to_numpy()
                own[forced], kinds[forced, 0] = True, 1.0
            x = _numeric_kinds(
                df[col].to_numpy(float),
                kinds,
                own,
                rng,
                whole=whole,
                rates=self.whole_rates(col),
                habit=(who, self.whole_dist(col)),
            )
            if self.units and col in self.units:
                x = rounded_units(x, np.asarray(self.units[col], float), self.scale, rng)
            c = log.schema.column(col)
            df[col] = np.clip(
                x, -np.inf if c.min is None else c.min, np.inf if c.max is None else c.max
            )
        order = np.lexsort((before, df[log.time].to_numpy(), pd.factorize(df[log.key])[0]))
        return df.iloc[order]


def unit_steps(x: np.ndarray) -> np.ndarray:
    """[n] the coarsest unit each value is a whole multiple of, as steps down the 1-2-5
    ladder from its decade (10^d <= |x| < 10^(d+1)): step 0 a unit of 5 x 10^d, 1 of
    2 x 10^d, 2 of 10^d, 3 of 5 x 10^(d-1) and so on; STEPS - 1 for none of them (15,500:
    a multiple of 500, step 6; 16,000: of 2,000, step 4; 2.99: of 0.01, step 8)."""
    a = np.abs(np.where(np.isfinite(x), x, 0.0))
    out = np.full(len(a), STEPS - 1)
    decade = _decade(a)  # once: the loop below runs over every value STEPS - 1 times
    for k in range(STEPS - 2, -1, -1):  # the coarsest unit that gives the value back
        unit = _ladder(decade, np.full(len(a), k))
        ok = (a > 0) & (np.abs(np.round(a / unit) * unit - a) <= 1e-9 * np.maximum(a, 1.0))
        out = np.where(ok, k, out)
    return out


def _decade(x: np.ndarray) -> np.ndarray:
    """[n] floor(log10 |x|) (0 for 0)."""
    a = np.abs(x)
    return np.floor(np.log10(np.where(a > 0, a, 1.0))).astype(np.int64)


def _ladder(decade: np.ndarray, step: np.ndarray) -> np.ndarray:
    return np.array([5.0, 2.0, 1.0])[step % 3] * 10.0 ** (decade - step // 3).astype(float)


def unit_of(x: np.ndarray, step: np.ndarray) -> np.ndarray:
    """[n] the unit `step` steps down the 1-2-5 ladder from each value's decade."""
    return _ladder(_decade(x), step)


def to_unit(x: np.ndarray, step: np.ndarray) -> np.ndarray:
    """x moved to the nearest multiple of the unit `step` steps down the ladder from its
    decade (`unit_of`) that is not a multiple of a coarser one (rounded to 500, half the
    values would land on multiples of 1,000), or the nearest multiple where none is
    within 3 units (or in the same decade)."""
    unit = unit_of(x, step)
    exp = np.floor(np.log10(unit))
    up = np.where(exp < 0, 10.0 ** np.maximum(-exp, 0), 1.0)  # units under 1: x * 10^k,
    # rounded to the mantissa, back by an exact power of 10 (0.3 stays 0.3)
    scaled = x * up / (unit * up)
    n = np.round(scaled)
    # on the 1-2-5 ladder a multiple of a unit is one of a coarser unit exactly when it
    # is one of the next one or two coarser (100 n: of 200 or of 500 when n is even or
    # a multiple of 5; 1,000 and coarser follow)
    coarser = [unit_of(x, np.maximum(step - d, 0)) / unit for d in (1, 2)]
    out = n * (unit * up) / up
    found = np.zeros(len(x), dtype=bool)
    for d in (0, -1, 1, -2, 2, -3, 3):  # nearest first (ties: the lower)
        k = n - np.where(scaled >= n, d, -d)  # d = -1: a unit towards x
        exact = np.ones(len(x), dtype=bool)
        for i, r in enumerate(coarser):
            exact &= (step <= i) | (np.abs(k / r - np.round(k / r)) > 1e-9)
        v = k * (unit * up) / up
        hit = ~found & (k != 0) & exact & (_unit_rows(v) == _unit_rows(x))
        out = np.where(hit, v, out)
        found |= hit
    return out


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """[n] each non-zero value's row of the units table: its decade."""
    return np.clip(_decade(x) - UNIT_DECADES[0], 0, len(UNIT_DECADES) - 1)


def unit_counts(log: EventLog, col: str, *, capped: bool = True) -> np.ndarray:
    """[UNIT_DECADES x STEPS] the non-zero values of `col` by their decade and the coarsest
    unit they are a multiple of (`unit_steps`), each
    customer's values weighing 1 / their number (L1 and L2 sensitivity 1; `capped`
    False: 1 each). Real amounts are round (a loan's requested 15,500, a price of 2.99), a
    model's are not: a loan process's requested amounts were multiples of 500, a DP
    model's had 4 or 5 significant digits, and the amount alone told its cases apart
    (AUC 0.85)."""
    out = np.zeros(len(UNIT_DECADES) * STEPS)
    x = log.df[col].to_numpy(float)
    nz = (x != 0) & np.isfinite(x)
    if not nz.any():
        return out
    keys = log.df[log.key].to_numpy()[nz]
    w = 1.0 / pd.Series(keys).groupby(keys, sort=False).transform("size").to_numpy()
    cell = _unit_rows(x[nz]) * STEPS + unit_steps(x[nz])
    return np.bincount(cell, weights=w if capped else None, minlength=len(out)).astype(float)


def rounded_units(x: np.ndarray, table: np.ndarray, scale: float, rng) -> np.ndarray:
    """x with its non-zero values rounded to coarser units where the units table
    (`unit_counts`, noisy at `scale`) says the data has them. Within each row (a decade)
    whose mass stands UNIT_ROW_DEVS deviations above 0 (cells under ln(cells) noise
    scales as 0), the row's values are shared out over the units as its cells say,
    coarsest first: a unit's share goes to the values already at it or rounder, then to those of
    finer units that move least to reach it, in units (16,608 sooner to 16,500 than
    17,200 to 17,000); a value keeps its own unit where none is left for it (rounding never adds
    digits). Units of 1 and coarser take whole values only (the calendar holds the share
    of whole numbers). A model whose values are as round as the data's is left alone."""
    raw = table.reshape(-1, STEPS)
    m = np.maximum(raw, 0.0)
    if scale:  # most of the table's 308 cells are empty: at 2 scales 8% of them passed,
        # a third of a row's mass on Complete Journey at epsilon 8 (rounding its baskets
        # to 0.5 and 5 at random); at ln(cells) scales about one in 10^5 does
        m = np.where(raw > max(2.0, np.log(raw.size)) * scale, raw, 0.0)
    usable = (m.sum(1) > 0) & (raw.sum(1) >= UNIT_ROW_DEVS * np.sqrt(2.0 * STEPS) * scale)
    nz = np.flatnonzero((x != 0) & np.isfinite(x))
    if not usable.any() or not len(nz):
        return x
    v = x[nz]
    row = _unit_rows(v)
    own = unit_steps(v)
    whole = np.round(v) == v
    want = own.copy()
    tie = rng.random(len(v)) * 1e-12
    for r in np.flatnonzero(usable):
        at = np.flatnonzero(row == r)
        if not len(at):
            continue
        q = (np.arange(len(at)) + 0.5) / len(at)
        need = np.bincount(
            np.searchsorted(np.cumsum(m[r]) / m[r].sum(), q, side="left"), minlength=STEPS
        )[:STEPS]
        free = np.ones(len(at), dtype=bool)
        for k in np.flatnonzero(need):
            # values as round or rounder (in a cell the noise cut) are taken first
            here = np.flatnonzero(free & (own[at] <= k))[: need[k]]
            free[here] = False
            more = need[k] - len(here)
            # whole units take whole values only: the calendar holds the share of whole
            # numbers (rounded to 1 and coarser, Complete Journey's baskets without DP came
            # out 10.9% whole, 8.1% before and 7.6% real)
            fits = whole[at] | (unit_of(v[at], np.full(len(at), k)) < 1)
            finer = np.flatnonzero(free & (own[at] > k) & fits)
            if more <= 0 or not len(finer):
                continue
            vals = v[at[finer]]
            # how far its nearest multiple is, in units (one unit in the row: as far in
            # dollars): measured against the value, 29 went to 30 before 11 to 10, and
            # a VAE's whole baskets on Complete Journey piled on 30 and 20 at the top of
            # the decades, where the data's are 1, 10, 20, 2 and 5 dollars
            unit = unit_of(vals, np.full(len(finer), k))
            cost = np.abs(np.round(vals / unit) * unit - vals) / unit
            pick = finer[np.argsort(cost + tie[at[finer]], kind="stable")[:more]]
            want[at[pick]] = k
            free[pick] = False
    go = want < own
    out = x.copy()
    out[nz[go]] = to_unit(v[go], want[go])
    return out


def regularity_counts(log: EventLog) -> np.ndarray:
    """[len(REGULAR_COUNTS), len(REGULAR_EDGES) - 1] customers with 2 or more clock-timed
    events by their number of them (in classes) and the standard deviation of their
    hours (the last bin open); each customer in one cell."""
    t = log.df[log.time]
    sec = (t - t.dt.normalize()).dt.total_seconds().to_numpy()
    timed = sec > 0
    g = pd.Series(sec[timed] / 3600.0).groupby(log.df[log.key].to_numpy()[timed])
    size = g.size().to_numpy()
    sd = g.std(ddof=0).to_numpy()[size >= 2]
    out = np.zeros((len(REGULAR_COUNTS), len(REGULAR_EDGES) - 1))
    np.add.at(out, (_count_class(size[size >= 2]), _bin_of(sd, REGULAR_EDGES)), 1.0)
    return out


def _count_class(size: np.ndarray) -> np.ndarray:
    return np.searchsorted(REGULAR_COUNTS, size, side="right") - 1


def _bin_of(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)


def _chunk_tables(log: EventLog, names: list[str], capped: bool, rng):
    """One chunk of whole journeys: its token tables [T, K], zero tables and habit [1, 24]."""
    keys = token_keys(log.df, log)
    tok = pd.Categorical(keys, categories=names).codes.astype(np.int64)
    T = len(names) + 1
    tok = np.where(tok >= 0, tok, T - 1)
    w = _weights(log, capped=capped, rng=rng)
    t = log.df[log.time]
    sec = (t - t.dt.normalize()).dt.total_seconds().to_numpy()
    klass = np.where(sec == 0, 0, np.where(sec % 60 == 0, 1, 2))
    timed = klass > 0
    weekday = t.dt.weekday.to_numpy()
    tables = {
        "time_class": _table(tok, klass, w, T, 3),
        "hour": _table(tok[timed], (sec[timed] // 3600).astype(int), w[timed], T, 24),
        "weekday": _table(tok, weekday, w, T, 7),
    }
    week_pool = tables["weekday"].sum(0)
    if capped:  # each token row a customer has weighs alike (see `row_l2_table`)
        who = pd.factorize(log.df[log.key], sort=False)[0]
        tables["weekday"] = row_l2_table(tok, weekday, who, T, 7)
        week_pool = row_l2_table(np.zeros(len(tok), np.int64), weekday, who, 1, 7)[0]
    zeros = {}
    for col in log.schema.event_names("numeric"):
        x = log.df[col].to_numpy(float)
        kind = np.where(x == 0, 0, np.where(np.round(x) == x, 1, 2))
        zeros[col] = _table(tok, kind, w, T, 3)
    hours = pd.Series(sec[timed] / 3600).groupby(log.df[log.key].to_numpy()[timed]).mean()
    habit = np.bincount(np.minimum(hours.to_numpy().astype(int), 23), minlength=24)[None]
    return tables, zeros, habit, week_pool


def row_l2_table(
    rows: np.ndarray, value: np.ndarray, who: np.ndarray, n_rows: int, K: int, *, sparse=False
):
    """[n_rows, K] counts of (row, value), each customer's counts in each row it has
    scaled to an L2 norm of 1 / sqrt(the rows it has): its contribution has L2 norm 1
    (the Gaussian mechanism's sensitivity), and a row of few of its events weighs as much
    as its busiest. `sparse`: each row's norm squared in proportion to 1 / (its events in
    the row) instead, the squares still summing to 1 (`waves.wave_counts`). (The weekday
    rows were counted with the capped weights, 1 / events
    kept: a household's 5 campaigns beside 60 baskets weighed a twelfth of them, and at
    epsilon 8 Complete Journey's campaign rows, Monday to Wednesday only, stood within
    the noise: the campaigns fell on any day, 45% on Thursday to Sunday where the data
    has 3%.)"""
    size = n_rows * K
    if not len(rows):
        return np.zeros((n_rows, K))
    pair, inv = np.unique(who.astype(np.int64) * size + rows * K + value, return_inverse=True)
    n = np.bincount(inv).astype(float)
    cust, cell = pair // size, pair % size
    row_id, row_of = np.unique(cust * n_rows + cell // K, return_inverse=True)
    norm = np.sqrt(np.bincount(row_of, weights=n**2))  # each row's own L2 norm
    # each row's norm squared, before the customer's rows are scaled to sum to 1
    share = 1.0 / np.bincount(row_of, weights=n) if sparse else np.ones(len(row_id))
    total = np.bincount(row_id // n_rows, weights=share)  # per customer
    w = n / norm[row_of] * np.sqrt(share[row_of] / total[cust])
    return np.bincount(cell, weights=w, minlength=size).reshape(n_rows, K)


def first_hour_counts(log: EventLog) -> np.ndarray:
    """[24] customers by the hour of their journey's first clock-timed event (not at
    midnight) on its first day; none for a customer whose first day has none. One cell
    each: sensitivity 1."""
    if not len(log.df):
        return np.zeros(24)
    t = log.df[log.time]
    day = t.dt.normalize()
    sec = (t - day).dt.total_seconds().to_numpy()
    key = log.df[log.key].to_numpy()
    on = (day == day.groupby(key).transform("min")).to_numpy() & (sec > 0)
    first = pd.Series(sec[on]).groupby(key[on]).min().to_numpy()
    return np.bincount((first // 3600).astype(np.int64), minlength=24).astype(float)


def _declared_classes(df: pd.DataFrame, log: EventLog, cls_p: np.ndarray) -> np.ndarray:
    """Time-class rows replaced where the schema declares a `time_resolution` (public:
    exact at any epsilon): by `channel|event_type`, else event type, else `default`."""
    res = log.schema.extra.get("time_resolution")
    if not res:
        return cls_p
    klass = {"date": 0, "minute": 1, "second": 2}
    by = token_keys(df, log).map(res)
    if "event_type" in df:
        by = by.where(by.notna(), df["event_type"].astype(str).map(res))
    if "default" in res:
        by = by.where(by.notna(), res["default"])
    k = by.map(klass).to_numpy(dtype=float, na_value=np.nan)
    hit = ~np.isnan(k)
    if hit.any():
        cls_p = cls_p.copy()
        cls_p[hit] = np.eye(3)[k[hit].astype(int)]
    return cls_p


def _remap_invalid(df: pd.DataFrame, log: EventLog, cal: Calendar, rng, *, valid=None):
    """Events of a (channel, event type) the data lacks (a direct-mail purchase) get a
    channel where their event type does occur, drawn by weight among the tokens the data
    has; without DP an event type that occurs nowhere keeps its channel and gets one of
    that channel's event types (under DP it stays: a rare real activity whose release
    fell under the noise became another activity of its channel in 12% of real process
    cases put through a profile at epsilon 2, breaking the process's orders). Under DP a
    token the release does not show is only thinned to what the release allows: its
    released share of a customer's events and its presence, each plus EXCESS deviations,
    against the same in `df` (one measure alone: plus any noise; `_allowed`). Moved
    whole, a rare real token under the bar was moved in 70% of real omnichannel journeys
    (39% then broke an order real journeys keep), while a token a DP model invents
    beyond the noise is moved (at epsilon 1 on the 10k simulator, 16% of synthetic
    events were store cart abandonments). `valid` (weights, known, sd of a weight
    [, presence]: the mix's) overrides the calendar's own (token masses,
    `valid_tokens`), used only where it is `tokens_informative`."""
    cols = token_columns(log)
    if len(cols) != 2 or not cal.tokens:
        return df
    if valid is None and not cal.tokens_informative():
        return df  # the calendar's own validity is noise: the model's tokens stand
    has = None
    if valid is None:
        k = np.asarray(cal.time_class, float).shape[1]
        mass, ok, sd = cal.token_mass(), cal.valid_tokens(), np.sqrt(2.0 * k) * cal.scale
    else:
        mass, ok, sd, *rest = valid
        has = rest[0] if rest else None
    if not ok.any():
        return df
    keys = token_keys(df, log)
    tok = pd.Categorical(keys, categories=cal.tokens).codes
    # each token's share of a customer's events, averaged: in df, and as released
    who = pd.factorize(df[log.key])[0]
    n_of = np.bincount(who)
    mine = np.bincount(np.maximum(tok, 0), weights=1.0 / n_of[who], minlength=len(ok))
    allowed = _allowed(mass, sd, len(n_of), mine, bar=None if has is not None else len(ok))
    if has is not None:  # and its presence: thinned only as far as both allow
        from journeylab.generators.profile_counts import presence_sums_by_value

        sample = EventLog(df, log.schema, _validated=True)
        held = presence_sums_by_value(sample, pd.Series(keys, index=df.index))["has"]
        # the sample's presence over its own total, as the release's over its total (each
        # customer adds sqrt(its distinct tokens) in all, weighed for its L2 norm: over the
        # number of customers, Complete Journey's presence shares came out 3 times too high
        # against the release's, and at epsilon 1 the remap thinned tokens the data has)
        total = float(held.sum())
        held = held.reindex(cal.tokens, fill_value=0.0).to_numpy(float)
        allowed = np.maximum(allowed, _allowed(np.asarray(has, float), sd, total, held))
    thin = np.where(ok, 0.0, np.clip(1.0 - allowed, 0.0, 1.0))
    if not cal.scale:
        thin = np.where(ok, 0.0, 1.0)  # exact: a token the data lacks is never right
    bad = np.flatnonzero((tok < 0) | (rng.random(len(tok)) < thin[np.maximum(tok, 0)]))
    if not len(bad):
        return df
    pairs = [t.split("|", 1) for t in cal.tokens]
    w = np.where(ok, np.maximum(mass, 1e-9), 0.0)
    df = df.copy()
    new_ch, new_ev = df[cols[0]].to_numpy(object).copy(), df[cols[1]].to_numpy(object).copy()
    for (ch, ev), rows in pd.Series(bad).groupby([new_ch[bad], new_ev[bad]]):
        same_ev = np.array([p[1] == str(ev) for p in pairs]) & ok
        same_ch = np.array([p[0] == str(ch) for p in pairs]) & ok
        if not same_ev.any() and cal.scale:
            continue  # under DP an event type is never changed (see the docstring)
        pool = same_ev if same_ev.any() else same_ch if same_ch.any() else ok
        p = np.where(pool, w, 0.0)
        pick = rng.choice(len(pairs), size=len(rows), p=p / p.sum())
        new_ch[rows.to_numpy()] = [pairs[i][0] for i in pick]
        new_ev[rows.to_numpy()] = [pairs[i][1] for i in pick]
    for c, v in zip(cols, (new_ch, new_ev), strict=True):
        domain = {str(x): x for x in (log.schema.column(c).values or [])}
        df[c] = pd.Series([domain.get(x, x) for x in v], index=df.index).astype(df[c].dtype)
    return df


def _allowed(released, sd: float, n: float, sums, *, bar: int | None = None) -> np.ndarray:
    """[T] the share of each token's weight in a sample (`sums` over a total weight n: its
    customers, each adding 1 in all, or the presence's own total) that a release
    (`released`, noise deviation `sd`, weighed alike) allows: its released share plus
    EXCESS deviations, or, with `bar` (T tokens: no second measure to confirm), ln(10 T)
    noise scales, beyond any noise (at 2 deviations alone a real token, a tenth of the
    omnichannel simulator's events, was thinned by a fifth in one release: its Laplace
    noise came out at -3)."""
    released = np.asarray(released, float)
    # the customers behind the release: the sum of its cells as drawn (unbiased; the
    # sum of those above 0 adds the noise of every empty cell: 1,085 for 800 customers)
    total = max(float(released.sum()), 1.0)
    slack = EXCESS * sd if bar is None else np.log(10.0 * bar) * sd / np.sqrt(2.0)
    share = np.asarray(sums, float) / max(n, 1)
    return (np.maximum(released, 0.0) + slack) / total / np.maximum(share, 1e-12)


def _rows(m: np.ndarray, tok: np.ndarray, scale: float, pooled=None, *, floor=None):
    """[E, K]: each event's token row of table m [T+1, K] as a distribution, and [E]
    whether that is the token's own row. Rows with less than 10 noise scales of mass use
    the pooled row (released on its own; a model saved before that sums the raw rows);
    noisy cells under `floor` (default 2 scales) count as 0."""
    if pooled is not None:
        pooled = np.maximum(np.asarray(pooled, float), 0.0)
    else:
        pooled = np.maximum(m.sum(0), 0.0)
        if scale:
            pooled = np.where(pooled > 2 * scale * np.sqrt(len(m)), pooled, 0.0)
    if scale:
        m = np.where(m > (2 * scale if floor is None else floor), m, 0.0)
    pooled = pooled + 1e-9
    ok = (m.sum(1) >= max(10 * scale, 1e-12))[np.maximum(tok, 0)] & (tok >= 0)
    out = np.where(ok[:, None], m[np.maximum(tok, 0)], pooled)
    return out / out.sum(1, keepdims=True), ok


def _shrink_rows(m: np.ndarray, scale: float) -> np.ndarray:
    """Noisy rows [R, K] pulled toward their flat level (each cell the row's mean) by the
    share of their spread about it that the noise explains (James-Stein: what is left
    of the spread beyond (K - 1) noise variances). On Complete Journey at epsilon 8 the
    purchases' weekday row, nearly flat (13% to 16% a day), came out with Fridays at
    18% from noise alone, and Friday's share told synthetic customers apart (AUC 0.72);
    a real weekly rhythm (a process worked Monday to Friday) stands far above it."""
    m = np.asarray(m, float)
    level = m.mean(1, keepdims=True)
    d = m - level
    spread = (d**2).sum(1, keepdims=True)
    noise = (m.shape[1] - 1) * 2.0 * scale**2
    keep = np.clip(1.0 - noise / np.maximum(spread, 1e-12), 0.0, 1.0)
    return level + keep * d


def _clear_class(pooled: np.ndarray, scale: float) -> np.ndarray:
    """The pooled time classes with cells under ln(10 K) noise scales at 0 (the largest
    kept): a class the data lacks survives one time in 30 at most, not one in 7 at the
    two scales of `_pooled`. At two, one of three releases on the retail simulator (1,000
    customers, epsilon 1, every real event at midnight) put 46% of its events on whole
    minutes, and one of three on the omnichannel simulator (epsilon 8) 6% where the data
    has 1.7%."""
    bar = np.log(10.0 * len(pooled)) * scale
    keep = (pooled > bar) | (np.arange(len(pooled)) == pooled.argmax())
    return np.where(keep, pooled, 0.0)


def _as_pooled_unless(m: np.ndarray, pooled, scale: float) -> np.ndarray:
    """Noisy rows [R, K], each at its own mass but in the shares of `pooled` [K], except
    cells that stand further from that than the noise would put any of the R x K cells
    but one time in ten (Laplace: ln(10 R K) scales). For the time classes: a token whose
    resolution differs from the rest (campaign events at midnight) stands far out; noise
    does not. Thresholded cell by cell at two scales, a thin row kept a noise cell of two or
    three: 5% to 18% of its events on whole minutes where the data has 1.7% (the
    omnichannel simulator at epsilon 8 and 10,000 customers: 4.9% of synthetic events
    against 1.7%, the reviewer's first give-away at AUC 0.77). Shrunk toward the pooled
    row by the share of the spread the noise explains (as the weekdays are), three cells
    of noise still kept one in a few releases."""
    m = np.asarray(m, float)
    share = np.maximum(np.asarray(pooled, float), 0.0)
    share = share / max(share.sum(), 1e-12)
    level = np.maximum(m.sum(1, keepdims=True), 0.0) * share[None, :]
    d = m - level
    return level + np.where(np.abs(d) > np.log(10.0 * m.size) * scale, d, 0.0)


def _smooth_rows(m: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Noisy hour rows [R, 24] smoothed around the clock (a triangular kernel, as wide as
    the row's noise needs, up to 7 hours), cells under one smoothed noise deviation as 0;
    and [R] whether the smoothing brought the noise under NOISE_SHARE of the row's mean
    cell. Thresholding cells one by one keeps only noise peaks of a flat row: on the
    omnichannel simulator (hours uniform, about 40 customers' weight per hour, noise
    deviation 28) 60% of synthetic events fell in 4 of the 24 hours. A smoothed row whose
    spread about its mean is under FLAT_SPREAD times what its noise alone gives is taken
    as flat: smoothed alone, the omnichannel simulator's flat day kept a hump of noise six
    hours wide and the cells under it were cut, so 2% of the synthetic events fell between
    noon and 6 pm (25% real). (Shrunk toward flat by the share of the spread the noise
    explains, as the weekdays are, Complete Journey's shaped day lost half its shape:
    over 6 releases the hours' total variation from real rose from 0.14 to 0.17; this
    way it stays 0.14, and omnichannel's falls from 0.17 to 0.03.)"""
    sd = np.sqrt(2.0) * scale
    out, enough = np.zeros_like(m), np.zeros(len(m), dtype=bool)
    for i, row in enumerate(m):
        level = max(row.sum(), 0.0) / len(row)
        for hw in SMOOTH_HALF_WIDTHS:
            k = np.concatenate([np.arange(1, hw + 2), np.arange(hw, 0, -1)]).astype(float)
            k /= k.sum()
            noise = sd * np.sqrt((k**2).sum())
            if noise <= NOISE_SHARE * level:
                break
        smooth = sum(w * np.roll(row, j - hw) for j, w in enumerate(k))
        # a row whose smoothed spread the noise alone would give is flat
        level_s = smooth.mean()
        if ((smooth - level_s) ** 2).sum() < FLAT_SPREAD * (len(smooth) - 1) * noise**2:
            smooth = np.full_like(smooth, level_s)
        out[i] = np.where(smooth > noise, smooth, 0.0)
        enough[i] = noise <= NOISE_SHARE * level
    return out, enough


def _pooled(m: np.ndarray, scale: float | None, rng, *, raw: bool = False) -> list[float]:
    """The pooled row of table m [T+1, K] released on its own. Under DP cells below
    max(2, ln K) noise scales count as 0 (unless `raw`): about half a cell of K made of
    noise alone survives (at 2 scales, one of 24 empty hours did, as heavy as a real one)."""
    noisy = noisy_counts(m.sum(0), scale, rng, raw=True)
    if scale is None or raw:
        return noisy.tolist()
    return np.where(noisy > max(2.0, np.log(m.shape[1])) * scale, noisy, 0.0).tolist()


def _numeric_kinds(
    x: np.ndarray, rows: np.ndarray, own: np.ndarray, rng, *, whole=None, rates=None, habit=None
):
    """Structural zeros forced (only from a token's own row: the pooled row speaks for
    every token, and would zero a rare token's amounts); fractional values rounded to
    whole numbers with the probability that makes the token's share of whole numbers
    (among non-zero) right. rows [E, 3]: each event's distribution of (zero, whole,
    fractional); own [E]: whether that is the token's own row; whole [E, 3]: the rows
    that give the whole-number share (default `rows`); rates [len(UNIT_DECADES)]: the
    data's share of whole numbers in each decade of values (`Calendar.whole_rates`, NaN
    where unknown): each fraction's chance of being rounded is in proportion to its
    decade's, so the token's share is met where the data has its whole numbers. (With
    one chance for all, Complete Journey's baskets were whole 8% of the time at every
    size, where the data's are whole 32% of the time at a dollar or under, 6% at 20 to
    50 dollars and 1% over 100: customers with large baskets came out with too many
    whole ones.) habit (who [E], the habit table as a distribution or None): each
    fraction is rounded when its uniform, drawn through a customer-level Gaussian copula
    (as the hours' habit is), is under its chance, the copula's rho (of WHOLE_RHOS tried)
    the one whose customers' shares of whole numbers come closest to the table's (W1 on
    its square-root scale): on Complete Journey 26% of households with 5 or more baskets
    have no whole-dollar one, where drawn value by value it was 12%. (A robust deviation
    matched instead sent half of them to none at epsilon 8: its quartile sits on the 26%
    at 0, and a little noise in it moved the copula far.)"""
    zero = own & (rows[:, 0] >= ZERO_SHARE)
    w = rows if whole is None else whole
    whole = w[:, 1] / np.maximum(w[:, 1] + w[:, 2], 1e-9)
    frac = (x != 0) & (np.round(x) != x)
    # among non-zero synthetic values, the whole ones already there count towards the
    # share: events with one target share (a token's row, or the pooled row) are rounded
    # with the probability that lifts their whole share from what they have to it (each
    # fraction rounded with the target's probability, a model whose values are whole a
    # quarter of the time by themselves came out 28% over)
    r = np.round(x)
    valued = (x != 0) & np.isfinite(x)
    group = np.unique(whole, return_inverse=True)[1].reshape(-1)
    n = np.bincount(group, weights=valued.astype(float))
    had = np.bincount(group, weights=(valued & ~frac).astype(float)) / np.maximum(n, 1.0)
    p = np.clip((whole - had[group]) / np.maximum(1.0 - had[group], 1e-9), 0.0, 1.0)
    can = frac & (r != 0)
    if rates is not None and np.isfinite(rates).any():
        # by the decade the whole number lands in: a fraction 0.5 to 1 rounds to 1, in
        # the decade of ones, and its own (no whole number is under 1) gave it no chance:
        # Complete Journey's commonest whole basket, a dollar, came out a third as often
        p = _by_decade(p, np.where(can, r, x), can, group, rates)
    who, target = habit if habit is not None else (None, None)
    if target is None or not can.any():
        out = np.where(can & (rng.random(len(x)) < p), r, x)
        return np.where(zero, 0.0, out)
    z_c = rng.standard_normal(who.max() + 1)[who]
    z_e = rng.standard_normal(len(x))

    def rounded(rho: float) -> np.ndarray:
        u = ndtr(rho * z_c + np.sqrt(1.0 - rho**2) * z_e)
        return np.where(can & (u < p), r, x)

    def distance(rho: float) -> float:
        return _w1(_whole_shares(rounded(rho), who), target)

    rho = min(np.linspace(0.0, RHO_MAX, WHOLE_RHOS), key=distance)
    return np.where(zero, 0.0, rounded(rho))


def _habit_dist(raw, scale: float) -> np.ndarray | None:
    """A habit table (customers by a share, one cell each) as a distribution, cells under
    2 noise scales as 0; None where its mass as drawn stands under UNIT_ROW_DEVS noise
    deviations (a table of noise alone) or nothing is left."""
    raw = np.asarray(raw, float)
    m = np.where(raw > 2 * scale, raw, 0.0) if scale else np.maximum(raw, 0.0)
    bar = UNIT_ROW_DEVS * np.sqrt(2.0 * len(raw)) * scale
    if raw.sum() < max(bar, 1e-12) or m.sum() <= 0:
        return None
    return m / m.sum()


def _w1(hist: np.ndarray, target: np.ndarray) -> float:
    """W1 (in bins) between a histogram and a distribution over the same bins."""
    return float(np.abs(np.cumsum(hist / max(hist.sum(), 1e-12)) - np.cumsum(target)).sum())


def _share_hist(share: np.ndarray, bins: int) -> np.ndarray:
    cell = np.minimum((np.asarray(share, float) * bins).astype(np.int64), bins - 1)
    return np.bincount(cell, minlength=bins).astype(float)


def _journey_days(t: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each journey's active days in order: (journey [A], day number [A], and for each
    event its active day's index [E])."""
    day = t // _DAY_NS
    order = np.lexsort((day, j))
    jj, dd = j[order], day[order]
    new = np.r_[True, (jj[1:] != jj[:-1]) | (dd[1:] != dd[:-1])] if len(jj) else np.zeros(0, bool)
    of_event = np.empty(len(t), dtype=np.int64)
    of_event[order] = np.cumsum(new) - 1
    return jj[new], dd[new], of_event


def _weekend_hist(journey: np.ndarray, day: np.ndarray) -> np.ndarray:
    """[WEEKEND_BINS] journeys with WEEKEND_MIN or more active days by their share of them
    on a Saturday or a Sunday (1970-01-01 was a Thursday)."""
    if not len(day):
        return np.zeros(WEEKEND_BINS)
    n = np.bincount(journey)
    k = np.bincount(journey, weights=((day + 3) % 7 >= 5).astype(float))
    return _share_hist((k / np.maximum(n, 1))[n >= WEEKEND_MIN], WEEKEND_BINS)


def weekend_counts(log: EventLog) -> np.ndarray:
    """[WEEKEND_BINS] the weekend habit table: customers with WEEKEND_MIN or more active
    days by their share of them on a weekend; one customer, one cell."""
    t = log.df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
    journey, day, _ = _journey_days(t, pd.factorize(log.df[log.key], sort=False)[0])
    return _weekend_hist(journey, day)


def _weekend_habit(df: pd.DataFrame, log: EventLog, target: np.ndarray, rng) -> pd.DataFrame:
    """Each customer's days nudged by one day onto or off weekends by a habit of its own,
    so that customers' shares of days on a weekend spread as the weekend table
    (`target`, a distribution) says. On Complete Journey the households' shares of
    weekend events spread from 0.15 to 0.50 (10th to 90th percentile), a model's from
    0.19 to 0.40: one household shops on Saturdays, another never does (the share alone
    told them apart, AUC 0.61). Each customer draws a tilt (z times the tilt's deviation);
    a Friday or a Monday moves to the Saturday or Sunday next to it with chance 1 - exp(-
    tilt), a Saturday or a Sunday to the Friday or Monday next to it with chance 1 - exp(
    tilt), each only into a day without an event of the journey and inside the window, so
    days never swap and no two land on one; the flows onto and off weekends are scaled to
    be equal (the weekend's share of all days is kept). The tilt's deviation is the one
    of WEEKEND_TILTS (0: no move) whose customers come closest to the table (W1). All
    events of a day move together, their times of day kept."""
    if not len(df):
        return df
    t = df[log.time].to_numpy("datetime64[ns]").astype(np.int64)
    j = pd.factorize(df[log.key], sort=False)[0]
    journey, day, of_event = _journey_days(t, j)
    first = np.r_[True, journey[1:] != journey[:-1]]
    last = np.r_[journey[1:] != journey[:-1], True]
    prev = np.where(first, np.iinfo(np.int64).min // 2, np.r_[0, day[:-1]])
    nxt = np.where(last, np.iinfo(np.int64).max // 2, np.r_[day[1:], 0])
    s = log.schema
    lo = -(10**9) if s.time_start is None else s.time_start.value // _DAY_NS
    hi = 10**9 if s.time_end is None else (s.time_end.value - 1) // _DAY_NS
    wd = (day + 3) % 7  # Monday 0
    up_step = np.where(wd == 4, 1, -1)  # Friday to Saturday, Monday to Sunday
    down_step = np.where(wd == 5, -1, 1)  # Saturday to Friday, Sunday to Monday

    def free(step: np.ndarray) -> np.ndarray:
        to = day + step
        return (to > prev) & (to < nxt) & (to >= lo) & (to <= hi)

    up = ((wd == 4) | (wd == 0)) & free(up_step)
    down = ((wd == 5) | (wd == 6)) & free(down_step)
    z = rng.standard_normal(journey.max() + 1)[journey]
    u = rng.random(len(day))

    def moved(dev: float) -> np.ndarray:
        tilt = dev * z
        p_up = np.where(up, -np.expm1(-np.maximum(tilt, 0.0)), 0.0)
        p_down = np.where(down, -np.expm1(-np.maximum(-tilt, 0.0)), 0.0)
        f_up, f_down = p_up.sum(), p_down.sum()
        if f_up > f_down:
            p_up = p_up * f_down / f_up
        elif f_down > 0:
            p_down = p_down * f_up / f_down
        step = np.where(u < p_up, up_step, np.where(u < p_down, down_step, 0))
        return day + step

    dev = min(WEEKEND_TILTS, key=lambda d: _w1(_weekend_hist(journey, moved(d)), target))
    shift = (moved(dev) - day)[of_event]
    if not shift.any():
        return df
    df = df.copy()
    df[log.time] = pd.to_datetime(t + shift * _DAY_NS)
    return df


def _whole_shares(x: np.ndarray, who: np.ndarray) -> np.ndarray:
    """[WHOLE_BINS] customers with WHOLE_MIN or more non-zero values in x by the square
    root of their share of whole numbers (each customer in one cell)."""
    valued = (x != 0) & np.isfinite(x)
    if not valued.any():
        return np.zeros(WHOLE_BINS)
    n = np.bincount(who[valued])
    k = np.bincount(who[valued], weights=(np.round(x[valued]) == x[valued]).astype(float))
    share = (k / np.maximum(n, 1))[n >= WHOLE_MIN]
    # on a square-root scale: shares are small (Complete Journey's median 0.05) and a
    # quarter of its households have none, which equal bins of 0.05 did not tell apart
    return _share_hist(np.sqrt(share), WHOLE_BINS)


def whole_counts(log: EventLog, col: str) -> np.ndarray:
    """[WHOLE_BINS] the whole-number habit table of `col`: customers with WHOLE_MIN or
    more non-zero values by their share of whole numbers; one customer, one cell."""
    who = pd.factorize(log.df[log.key], sort=False)[0]
    return _whole_shares(log.df[col].to_numpy(float), who)


def _by_decade(p: np.ndarray, x: np.ndarray, can: np.ndarray, group, rates) -> np.ndarray:
    """[E] each group's rounding chances p (one per group) spread over its fractions in
    proportion to their decade's whole-number share `rates`, keeping the group's expected
    number of rounded values (the fractions that cannot round, under 0.5, keep none);
    chances over 1 are capped and the rest shared again. Decades without a rate take the
    known decades' mean."""
    rate = np.asarray(rates, float)
    rate = np.where(np.isfinite(rate), rate, np.nanmean(rate))
    weight = rate[_unit_rows(x)]
    out = np.where(can, p, 0.0)
    for g in np.unique(group[can]):
        at = np.flatnonzero(can & (group == g))
        need = p[at[0]] * len(at)
        if need <= 0 or weight[at].sum() <= 0:
            continue
        q = np.zeros(len(at))
        free = np.ones(len(at), dtype=bool)
        for _ in range(len(at)):  # water-filling: scale, cap at 1, share the rest again
            c = (need - q[~free].sum()) / max(weight[at][free].sum(), 1e-12)
            q[free] = c * weight[at][free]
            over = free & (q > 1.0)
            if not over.any():
                break
            q[over], free[over] = 1.0, False
        out[at] = np.clip(q, 0.0, 1.0)
    return out


def _weights(log: EventLog, *, capped: bool, rng) -> np.ndarray:
    if not capped:
        return np.ones(log.n_events)
    return capped_weights(log.df[log.key].to_numpy(), rng)


def capped_weights(keys: np.ndarray, rng) -> np.ndarray:
    """Per row: each customer's rows subsampled to CAP, each of weight 1 / (rows kept),
    so one customer adds at most 1 in L1 to any table counted with these weights."""
    if not len(keys):
        return np.zeros(0)
    rank = pd.Series(rng.random(len(keys))).groupby(keys, sort=False).rank(method="first")
    kept = np.minimum(pd.Series(keys).groupby(keys, sort=False).transform("size"), CAP)
    return np.where(rank.to_numpy() <= CAP, 1.0 / kept.to_numpy(), 0.0)


def _table(tok: np.ndarray, value: np.ndarray, w: np.ndarray, T: int, K: int) -> np.ndarray:
    return np.bincount(tok * K + value, weights=w, minlength=T * K).reshape(T, K)


def gauss_scale(tables: float, rho: float | None) -> float | None:
    """The noise scale b (deviation sqrt(2) b) at which `tables` tables, each of L2
    sensitivity at most 1, spend `rho` together (each 1 / (2 (sqrt(2) b)^2) = 1 / (4 b^2));
    None without a budget (exact)."""
    if rho is None:
        return None
    if not rho > 0:
        raise ValueError(f"rho must be > 0, got {rho!r}")
    return float(np.sqrt(tables / rho) / 2.0)


def noisy_counts(counts: np.ndarray, scale: float | None, rng, *, raw: bool = False):
    """Gaussian noise of deviation sqrt(2) * scale (the deviation a Laplace of that scale
    has, so bars written in scales keep their meaning; scale None: exact), zeroed below 2
    noise scales (raw: as drawn, so sums over rows stay unbiased). A table of L2
    sensitivity 1 drawn so costs rho = 1 / (4 scale^2) (`gauss_scale`)."""
    if scale is None:
        return counts.astype(float)
    noisy = counts + rng.normal(0.0, np.sqrt(2.0) * scale, size=counts.shape)
    return noisy if raw else np.where(noisy > 2 * scale, noisy, 0.0)


def cap_gaps(gap: np.ndarray, group: np.ndarray, budget: np.ndarray, rng) -> np.ndarray:
    """`gap` with each group's gaps fitted under its `budget` (per row: its group's) when
    they add up to more, by capping the longest: every gap over a level L becomes L
    (times a jitter in [0.85, 1], so no two come out equal), those under it stay, and L
    is where the capped gaps add up to the budget. Squeezed in proportion instead, a
    Complete Journey day with two baskets hours apart and a few a minute apart had the
    minute gaps cut to seconds: 1.6% of synthetic gaps at epsilon 8 were 10 to 60 s,
    0.09% of real ones (the shortest gap gave journeys away at AUC 0.71)."""
    gap = np.asarray(gap, dtype=float)
    if not len(gap):
        return gap
    g = pd.factorize(group)[0]
    total = np.bincount(g, weights=gap)
    cap = np.bincount(g, weights=budget) / np.maximum(np.bincount(g), 1)  # the group's budget
    over = total > cap
    if not over.any():
        return gap
    rows = np.flatnonzero(over[g])
    order = rows[np.lexsort((-gap[rows], g[rows]))]  # each group's gaps, longest first
    go, x = g[order], gap[order]
    first = np.r_[True, go[1:] != go[:-1]]
    start = np.flatnonzero(first)
    i = np.arange(len(x)) - np.repeat(start, np.diff(np.r_[start, len(x)])) + 1  # 1-based
    c = np.cumsum(x)
    s_i = c - np.repeat(c[start] - x[start], np.diff(np.r_[start, len(x)]))  # top-i sums
    level = (cap[go] - total[go] + s_i) / i  # L if the i longest are capped
    nxt = np.r_[x[1:], 0.0]
    nxt[np.r_[start[1:] - 1, len(x) - 1]] = 0.0  # the next gap within the group
    ok = level >= nxt
    # the first i (longest first) at which the level clears the next gap: its level
    key = np.where(ok, i, np.iinfo(np.int64).max)
    best = np.full(go.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(best, go, key)
    pick = ok & (i == best[go])
    lv = np.zeros(go.max() + 1)
    lv[go[pick]] = np.maximum(level[pick], 0.0)
    capped = x > lv[go]
    out = gap.copy()
    out[order] = np.where(capped, lv[go] * rng.uniform(0.85, 1.0, len(x)), x)
    return out


def _shift_weekdays(
    df: pd.DataFrame, log: EventLog, wd: np.ndarray, rng, *, floor: np.ndarray | None = None
) -> pd.DataFrame:
    """Move each journey by s in SHIFTS whole days, drawn with probability proportional to
    the prior (STAY on 0) times the likelihood of its days' weekdays after the move;
    shifts that would leave the time window are not drawn. Gaps are unchanged.
    A day of the journey counts once, each of its events by its mean log-likelihood: the
    events of one day share their weekday, they are not drawn apart. Counted event by
    event, a burst of ten workflow steps on one day made the busiest weekday ten times
    over as likely: the process simulator's cases were moved to begin on Mondays (a
    quarter of them, the data's 13%). `floor` [E] (ns, NaN: none): no backward shift
    takes a journey's first event before its rows' floor."""
    t = df[log.time]
    j = pd.factorize(df[log.key], sort=False)[0]
    n = j.max() + 1
    base = t.dt.weekday.to_numpy()
    day = pd.factorize(pd.MultiIndex.from_arrays([j, t.dt.normalize().to_numpy()]))[0]
    share = 1.0 / np.bincount(day)[day]  # each event's weight: 1 / events on its day
    loglik = np.empty((n, len(SHIFTS)))
    for i, s in enumerate(SHIFTS):
        p = wd[np.arange(len(df)), (base + s) % 7]
        loglik[:, i] = np.bincount(j, weights=share * np.log(p + 1e-6), minlength=n)
    prior = np.where(SHIFTS == 0, STAY, (1 - STAY) / (len(SHIFTS) - 1))
    first = pd.Series(t.to_numpy()).groupby(j).min().to_numpy()
    last = pd.Series(t.to_numpy()).groupby(j).max().to_numpy()
    s_ns = SHIFTS * _DAY_NS
    ok = np.ones((n, len(SHIFTS)), dtype=bool)
    if log.schema.time_end is not None:
        ok &= first.astype(np.int64)[:, None] + s_ns >= log.schema.time_start.value
        ok &= last.astype(np.int64)[:, None] + s_ns < log.schema.time_end.value
    if floor is not None:
        lowest = pd.Series(floor).groupby(j).min().to_numpy()  # NaN: none
        low = first.astype(np.int64)[:, None] + s_ns < np.nan_to_num(lowest, nan=-np.inf)[:, None]
        ok &= ~(low & (SHIFTS < 0)[None, :])
    ok[:, SHIFTS == 0] = True
    logp = np.where(ok, loglik + np.log(prior), -np.inf)
    p = np.exp(logp - logp.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    pick = (p.cumsum(1) > rng.random((n, 1))).argmax(1)  # [n]
    df[log.time] = t + pd.to_timedelta(SHIFTS[pick][j], unit="D")
    return df


def _snap_weekdays(df: pd.DataFrame, log: EventLog, closed: np.ndarray) -> pd.DataFrame:
    """Each event on a weekday its token never has (`closed` [E, 7]) moves to the nearest
    open day (3 days either way, else up to 6 forward), and the rest of its journey moves
    with it, so the order of the events and the gaps after it are kept: backward only to
    the day after the previous event's; a shift that would leave the time window is not
    made. Journey by journey, first offending event first, until none is left (a
    whole-journey shift alone cannot put every weekly campaign on its Monday)."""
    if not closed.any():
        return df
    # 1970-01-01 was a Thursday (3)
    return snap_days(df, log, lambda rows, day: closed[rows, (day + 3) % 7], WEEKDAY_SHIFTS)


def _closed_in_window(by_date: dict[int, int], log: EventLog | StreamedLog) -> list[int]:
    """`dates.closed_dates` of an exact fit's counts, within the declared window."""
    s = log.schema
    if s.time_start is None or s.time_end is None:
        return closed_dates(by_date)
    first = s.time_start.value // _DAY_NS
    return closed_dates(by_date, first, (s.time_end.value - 1) // _DAY_NS)


def _redraw_clock(
    df: pd.DataFrame,
    log: EventLog,
    cls_p,
    hour_p,
    rng,
    *,
    habit: float | None = None,
    regular: np.ndarray | None = None,
    end: int | None = None,
    first_hour: np.ndarray | None = None,
    own_hours: np.ndarray | None = None,
) -> pd.DataFrame:
    """Each event gets its token's time class; each (journey, day)'s timed events keep
    their generated offsets from the day's first (compressed into the day's hours, from
    the first's token's earliest to the latest of its tokens', if the burst is longer)
    and are moved together: one of them, drawn at random, gets a time of day from its
    token's hours, among those that leave the whole burst inside the day. (Anchored on
    the first event and clipped to fit, the bursts piled up late: on the omnichannel
    simulator 7% of synthetic events fell before 6 am, 26% real, and the mean hour was
    14.6 against 11.7.) With `habit` (sd in hours of the customers' mean hours) the hours
    are drawn through a customer-level copula whose rho makes that spread. `end` (ns):
    the log's last time (an exact fit's), before the window's end: a day it falls in has
    its bursts fitted before it (Complete Journey's last basket is at 04:01 on the
    window's last day, and 13% of a model's households had one after it). `first_hour`
    [24]: the hours of the journeys' first timed events (`Calendar.first_hour_dist`); a
    journey's first day whose first timed event's token has no hours of its own
    (`own_hours` [E] False: its row too thin for the noise) is then anchored on that
    event, drawn from them (a
    process's cases are opened by customers at any hour, 6 pm to 10 pm most, and worked
    by clerks in office hours: drawn from its token's row, or the pooled row that the
    clerks' steps fill, the first event's hour told the process simulator's cases apart,
    AUC 0.70 at epsilon 8; where the token has its own row, anchoring every first day
    on its first event put the process simulator's first days without DP at 0.694 against
    0.675, three samples each)."""
    m = len(df)
    u = rng.random((m, 1))
    cls = (cls_p.cumsum(1) > u).argmax(1)
    who = pd.factorize(df[log.key])[0]
    z_customer, z_event = (
        rng.standard_normal(who.max() + 1 if m else 0)[who],
        rng.standard_normal(m),
    )
    pick = rng.random(m)  # which timed event of its day is drawn from its token's hours
    t = df[log.time]
    day = t.dt.normalize()
    orig = (t - day).dt.total_seconds().to_numpy()
    group = pd.factorize(pd.MultiIndex.from_arrays([df[log.key].to_numpy(), day.to_numpy()]))[0]
    timed = pd.Series(np.where(cls > 0, np.arange(m), m))
    first = np.minimum(timed.groupby(group).transform("min").to_numpy(), m - 1)
    lead = np.zeros(m, dtype=bool)  # rows of a journey's first day with a timed event
    if first_hour is not None and m:
        lead = (day == day.groupby(df[log.key].to_numpy()).transform("min")).to_numpy()
        lead &= cls[first] > 0
        if own_hours is not None:  # a token with hours of its own keeps them
            lead &= ~own_hours[first]
        hour_p = hour_p.copy()
        hour_p[first[lead]] = first_hour  # that day's first timed event: the journeys' own
    mass = hour_p > 1e-6
    lo = mass.argmax(1) * 3600.0
    hi = (23 - mass[:, ::-1].argmax(1)) * 3600.0 + 3599.0
    offset = np.where(cls > 0, np.maximum(orig - orig[first], 0.0), 0.0)
    span = pd.Series(offset).groupby(group).transform("max").to_numpy()
    # the day's hours run from its first timed event's earliest to the latest of any of
    # its timed events' tokens: fitted into the first one's alone, a day that a moved
    # promo email (sent from midnight to noon) now began had its sessions squeezed into
    # the morning (on the omnichannel simulator at epsilon 8, 466 gaps of 2 s or less
    # against 11 real)
    last = pd.Series(np.where(cls > 0, hi, -1.0)).groupby(group).transform("max").to_numpy()
    hi_day = np.maximum(hi[first], last)
    lo_first, hi_first = lo[first], hi[first]
    if end is not None:  # the day the log ends in: before its last time
        cut = ((end - day.to_numpy("datetime64[ns]").astype(np.int64)) // 1_000_000_000) - 1.0
        hi_day = np.where(cut < hi_day, np.maximum(cut, 0.0), hi_day)
        lo_first = np.minimum(lo_first, hi_day)
        hi_first = np.minimum(hi_first, hi_day)
    room = hi_day - lo_first
    # a burst longer than its hours is fitted into a random 60% to 100% of them, its
    # longest gaps capped (`cap_gaps`): filling them exactly put its first event on the
    # hours' first second and its last on their last (00:00:00 and 23:59:59 for a token
    # active all day: 0.2% and 0.6% of synthetic events on the omnichannel simulator,
    # never in the real log)
    fill = (0.6 + 0.4 * rng.random(group.max() + 1 if m else 0))[group]
    timed_at = np.flatnonzero(cls > 0)  # each group's timed events, in order
    if len(timed_at):
        steps = np.diff(offset[timed_at], prepend=0.0)
        steps[np.r_[True, group[timed_at][1:] != group[timed_at][:-1]]] = 0.0
        steps = cap_gaps(steps, group[timed_at], (fill * room)[timed_at], rng)
        offset = offset.copy()
        offset[timed_at] = pd.Series(steps).groupby(group[timed_at]).cumsum().to_numpy()
        span = pd.Series(offset).groupby(group).transform("max").to_numpy()
    # the first's latest: within its own hours, the burst within the day's
    top = np.maximum(lo_first, np.minimum(hi_first, hi_day - np.minimum(span, room)))
    key = pd.Series(np.where(cls > 0, pick, -1.0))
    anchor = np.where(
        (cls[first] > 0) & ~lead, key.groupby(group).transform("idxmax").to_numpy(), first
    ).astype(np.int64)
    a_off = offset[anchor]
    # the anchor's hours, cut to where the burst fits: [lo + its offset, top + its offset]
    a_lo, a_hi = lo_first + a_off, top + a_off
    rows = hour_p[anchor]
    cdf = np.concatenate([np.zeros((m, 1)), rows.cumsum(1)], axis=1)  # [m, 25]
    f_lo, f_hi = _hour_cdf(cdf, a_lo), _hour_cdf(cdf, a_hi + 1.0)
    fits = f_hi - f_lo > 1e-9  # else the row has no mass there: its nearest edge

    def seconds(rho, keep=None) -> np.ndarray:  # keep: z_event's weight, per event
        own = np.sqrt(1 - rho**2) if keep is None else keep
        q = ndtr(rho * z_customer + own * z_event)[anchor]
        at = np.where(
            fits,
            _hour_quantile(cdf, f_lo + q * (f_hi - f_lo)),
            np.clip(_hour_quantile(cdf, q), a_lo, a_hi),
        )
        base = np.clip(at - a_off, lo_first, top)  # the first event's time
        secs = np.clip(base + offset, 0, 86_399)
        return np.where(cls == 2, np.round(secs), np.where(cls == 1, _on_minute(secs), 0.0))

    if regular is not None and (cls > 0).any():
        keep, target = _regular_keep(seconds, who, cls > 0, regular, rng)
        rho = _habit_rho(lambda r: seconds(r, keep), who, cls > 0, habit) if habit else 0.0
        # corrected once where the customers' own draws put them (the hours' density
        # differs from one hour to the next)
        keep = _kept(keep, target, _sd_by_customer(seconds(rho, keep), who, cls > 0), who)
        secs = seconds(rho, keep)
    else:
        secs = seconds(_habit_rho(seconds, who, cls > 0, habit) if habit else 0.0)
    secs = _in_order(secs, group, orig, cls > 0)
    new = day + pd.to_timedelta(secs, unit="s")
    start, stop = log.schema.time_start, log.schema.time_end
    if end is not None:
        stop = pd.Timestamp(end) if stop is None else min(stop, pd.Timestamp(end))
    if stop is not None:  # the window may end, or start, inside a day
        new = new.where(new < stop, stop - pd.Timedelta(seconds=1))
        if start is not None:
            new = new.where(new >= start, start)
    df[log.time] = new.to_numpy()
    return df


def _in_order(secs: np.ndarray, group: np.ndarray, old: np.ndarray, timed: np.ndarray):
    """`secs` with each (journey, day) group's timed events given the group's new clock
    times in their old order (`old`: their times of day before), so that a redrawn day
    never swaps two events. Rounded to a whole minute, a later event could land before
    an earlier one a few seconds away: put through the profile at epsilon 1, 53% of real
    omnichannel journeys came out in another order. Each is a second after the one
    before at least. (An untimed event, at midnight, still goes first in its day.)"""
    idx = np.flatnonzero(timed)
    if not len(idx):
        return secs
    g = group[idx]
    by_old = idx[np.lexsort((idx, old[idx], g))]  # both orders start with the group, so
    by_new = idx[np.lexsort((idx, secs[idx], g))]  # each group's block is in one place
    w = np.array(secs[by_new], dtype=float)  # new times, in the old order of their events
    # Equal times are put in a canonical order by the event columns when a log is
    # validated (two events rounded onto one minute swapped): a time that does not come
    # after the one before moves past it, by a minute if it is on a whole minute (so the
    # resolution is kept), else by a second; a few passes settle a run of them.
    go = group[by_old]
    same = np.append(False, go[1:] == go[:-1])
    step = np.where(w % 60 == 0, 60.0, 1.0)
    for _ in range(64):
        late = same & (w <= np.append(-np.inf, w[:-1]))
        if not late.any():
            break
        prev = np.append(-np.inf, w[:-1])[late]
        w[late] = np.where(step[late] == 60.0, (prev // 60 + 1) * 60, prev + 1)
    out = np.array(secs, dtype=float)
    out[by_old] = np.minimum(w, 86_399.0 - (86_399 % 60) * (step == 60.0))
    return out


def _by_resolution(cls_p: np.ndarray) -> np.ndarray:
    """Rows of counted time classes [midnight, whole minute, other] as resolutions
    [date, minute, second]. A time at second resolution falls on a whole minute one
    time in 60, where the counts (`_counts`) put it in the minute class; drawn at any
    second, the second class lands there again. So the minute class keeps only what
    stands above 1/59 of the second class: without it the omnichannel simulator's
    synthetic events were at whole minutes twice as often as real ones (3.3% against
    1.6%; the reviewer's top give-away at 50,000 customers, AUC 0.70)."""
    p = np.asarray(cls_p, float)
    minute = np.clip(p[:, 1] - p[:, 2] / 59.0, 0.0, None)
    return np.stack([p[:, 0], minute, p[:, 2] + p[:, 1] - minute], axis=1)


def _on_minute(secs: np.ndarray) -> np.ndarray:
    """Whole minutes, never midnight (the date class)."""
    m = secs // 60 * 60
    return np.where(m == 0, 60.0, m)


def _hour_cdf(cdf: np.ndarray, secs: np.ndarray) -> np.ndarray:
    """[m] each row's share of the day before `secs` (hour rows, uniform within an hour;
    `cdf` [m, 25] the rows' cumulative sums from 0)."""
    h = np.clip(secs / 3600.0, 0.0, 24.0)
    k = np.minimum(h.astype(np.int64), 23)
    i = np.arange(len(h))
    return cdf[i, k] + (cdf[i, k + 1] - cdf[i, k]) * (h - k)


def _hour_quantile(cdf: np.ndarray, q: np.ndarray) -> np.ndarray:
    """[m] seconds into the day at which each row's share reaches q (`_hour_cdf`'s inverse)."""
    q = np.clip(q, 0.0, cdf[:, -1] * (1 - 1e-12))
    k = np.clip((cdf[:, 1:] <= q[:, None]).sum(1), 0, 23)
    i = np.arange(len(q))
    width = np.maximum(cdf[i, k + 1] - cdf[i, k], 1e-12)
    return (k + np.clip((q - cdf[i, k]) / width, 0.0, 1.0)) * 3600.0


def _regular_keep(seconds, who: np.ndarray, timed: np.ndarray, regular: np.ndarray, rng):
    """([events] the weight of each event's own draw in the copula, [customers] the
    deviation of hours drawn for it): each customer's timed events' hours are to deviate
    as drawn from its row of `regular` (by its number of timed events); the drawn
    deviations are handed out by rank of each customer's deviation with its events drawn
    alone (the customer whose events' hours differ most keeps the largest), and the weight
    is their ratio, corrected once by the deviation it gave (`_kept`). Customers with
    fewer than 2 timed events or an unusable row: weight 1, deviation NaN. The customers'
    own draw's weight (the habit) is solved after it (`_habit_rho`)."""
    n = who.max() + 1
    size = np.bincount(who[timed], minlength=n)
    base = _sd_by_customer(seconds(0.0), who, timed)
    target = np.full(n, np.nan)
    cls = _count_class(np.maximum(size, 2))
    for k, row in enumerate(regular):
        many = np.flatnonzero((size >= 2) & (cls == k) & (base > 0))
        if np.isnan(row).any() or not len(many):
            continue
        b = (np.cumsum(row) > rng.random((len(many), 1))).argmax(1)
        lo, hi = REGULAR_EDGES[b], REGULAR_EDGES[b + 1]
        drawn = np.sort(lo + (hi - lo) * rng.random(len(many)))
        target[many[np.argsort(base[many], kind="stable")]] = drawn
    keep = np.ones(n)
    many = ~np.isnan(target)
    keep[many] = np.clip(target[many] / base[many], KEEP_MIN, 1.0)
    keep = _kept(keep[who], target, _sd_by_customer(seconds(0.0, keep[who]), who, timed), who)
    return keep, target


def _sd_by_customer(secs: np.ndarray, who: np.ndarray, timed: np.ndarray) -> np.ndarray:
    """[customers] the deviation of each customer's timed events' hours (NaN: none)."""
    g = pd.Series(secs[timed] / 3600.0).groupby(who[timed]).std(ddof=0)
    out = np.full(who.max() + 1, np.nan)
    out[g.index.to_numpy()] = g.to_numpy()
    return out


def _kept(keep: np.ndarray, target: np.ndarray, got: np.ndarray, who: np.ndarray) -> np.ndarray:
    """[events] `keep` scaled per customer by its target deviation over the one it got."""
    fix = np.where((got > 0) & ~np.isnan(target), target / np.maximum(got, 1e-9), 1.0)
    return np.clip(keep * fix[who], KEEP_MIN, 1.0)


def _habit_rho(seconds, who: np.ndarray, timed: np.ndarray, target: float) -> float:
    """The copula's rho in [0, RHO_MAX] whose customers' mean hours (over their timed
    events) spread by `target` hours."""
    if not timed.any():
        return 0.0

    def spread(rho: float) -> float:
        return robust_sd(pd.Series(seconds(rho)[timed] / 3600).groupby(who[timed]).mean())

    return solve_increasing(spread, target, 0.0, RHO_MAX, steps=BISECTIONS)
