"""A weekly clock for the simulators: time that runs faster in busy hours.

`WeeklyClock(weights, offset)` has one weight per hour of the week (Monday
00:00 first). Busy time advances at `weight` busy seconds per real second, so a
gap drawn in busy time lands more often in heavy hours; hours of weight 0 are
skipped. `office_clock` (Mon-Fri 8-18h weight 1, else 0) puts human work in
office hours; `diurnal_clock` gives customer activity a day and week rhythm.

    clock = office_clock(offset=4 * 86_400)    # origin on a Friday 00:00
    t_next = clock.after(t, gap)               # gap busy seconds after t
"""

from __future__ import annotations

import numpy as np

HOUR, DAY = 3_600, 86_400
WEEK = 7 * DAY
# Customer activity by hour of day (mean about 1): quiet nights, a lunch bump, busy evenings.
WEEKDAY_HOURS = (0.25, 0.12, 0.07, 0.05, 0.05, 0.1, 0.3, 0.7, 1.0, 1.1, 1.1, 1.2) + (
    1.45,
    1.35,
    1.2,
    1.2,
    1.25,
    1.4,
    1.6,
    1.85,
    2.0,
    1.8,
    1.25,
    0.6,
)
WEEKEND_HOURS = (0.4, 0.25, 0.12, 0.07, 0.05, 0.05, 0.12, 0.3, 0.6, 1.0, 1.3, 1.45) + (
    1.5,
    1.5,
    1.45,
    1.4,
    1.4,
    1.45,
    1.55,
    1.7,
    1.75,
    1.55,
    1.1,
    0.7,
)


def week_offset(t0) -> int:
    """Seconds from the Monday 00:00 on or before timestamp `t0` to `t0`."""
    return int(t0.dayofweek) * DAY + int((t0 - t0.floor("D")).total_seconds())


class WeeklyClock:
    """Busy time from hour-of-week weights; `offset` = seconds from a Monday 00:00 to t = 0."""

    def __init__(self, weights, *, offset: int = 0):
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (168,) or (w < 0).any() or not w.any():
            raise ValueError("weights must be 168 non-negative hourly values, not all zero")
        self.w, self.offset = w, int(offset)
        self.cum = np.concatenate([[0.0], np.cumsum(w * HOUR)])  # busy seconds at each hour start
        self.per_week = self.cum[-1]

    def busy(self, t: np.ndarray) -> np.ndarray:
        """Busy seconds elapsed from the Monday before t = 0 to t (seconds)."""
        week, r = np.divmod(np.asarray(t) + self.offset, WEEK)
        h = r // HOUR
        return week * self.per_week + self.cum[h] + self.w[h] * (r - h * HOUR)

    def real(self, b: np.ndarray) -> np.ndarray:
        """The first time (seconds, float) at which `b` busy seconds have elapsed."""
        week, r = np.divmod(np.asarray(b, dtype=np.float64), self.per_week)
        h = np.searchsorted(self.cum, r, side="right") - 1  # skips zero-weight hours
        u = week * WEEK + h * HOUR + (r - self.cum[h]) / self.w[h]
        return u - self.offset

    def after(self, t: np.ndarray, gap: np.ndarray) -> np.ndarray:
        """Whole-second time `gap` busy seconds after t, at least one second after t."""
        t = np.asarray(t, dtype=np.int64)
        return np.maximum(np.ceil(self.real(self.busy(t) + gap)).astype(np.int64), t + 1)


def office_clock(*, offset: int = 0) -> WeeklyClock:
    """Monday-Friday 8:00-18:00 at weight 1, other hours skipped."""
    day = np.r_[np.zeros(8), np.ones(10), np.zeros(6)]
    return WeeklyClock(np.r_[np.tile(day, 5), np.zeros(48)], offset=offset)


def diurnal_clock(*, offset: int = 0) -> WeeklyClock:
    """Customer activity by hour of the week, scaled to mean 1 (busy time ~ real time)."""
    w = np.r_[np.tile(WEEKDAY_HOURS, 5), np.tile(WEEKEND_HOURS, 2)]
    return WeeklyClock(w / w.mean(), offset=offset)
