"""The weekly clock: busy time skips quiet hours; the simulator's diurnal option uses it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from journeylab.journeys.clock import DAY, HOUR, diurnal_clock, office_clock, week_offset
from journeylab.journeys.errors import ConfigError
from journeylab.journeys.simulate import simulate


def test_office_clock_lands_in_office_hours_and_round_trips():
    clock = office_clock()  # t = 0 is a Monday 00:00
    assert clock.busy(np.array([8 * HOUR + 30])) == 30
    # Friday 17:00 plus two office hours is Monday 9:00
    friday_5pm = 4 * DAY + 17 * HOUR
    assert clock.after(np.array([friday_5pm]), np.array([2 * HOUR]))[0] == 7 * DAY + 9 * HOUR
    t = np.random.default_rng(0).integers(0, 30 * DAY, 500)
    when = clock.after(t, np.full(500, 1800))
    hour, weekday = (when % DAY) // HOUR, (when // DAY) % 7
    assert (when > t).all() and (weekday < 5).all() and ((hour >= 8) & (hour < 18)).all()


def test_diurnal_clock_is_mean_one_and_monotone():
    clock = diurnal_clock(offset=week_offset(pd.Timestamp("2024-01-03 06:00")))
    assert clock.per_week == pytest.approx(7 * DAY)
    t = np.arange(0, 14 * DAY, 977)
    assert (np.diff(clock.busy(t)) > 0).all()
    assert np.allclose(clock.real(clock.busy(t)), t)


def test_simulate_diurnal_clock_is_an_option_with_quiet_nights():
    default, _ = simulate(150, seed=2)
    assert default.fingerprint() == simulate(150, seed=2, clock="uniform")[0].fingerprint()
    log, _ = simulate(150, seed=2, clock="diurnal")
    night = lambda lg: (lg.df["timestamp"].dt.hour < 6).mean()  # noqa: E731
    assert night(log) < 0.5 * night(default)
    with pytest.raises(ConfigError, match="unknown clock 'lunar'; choose one of"):
        simulate(10, clock="lunar")
