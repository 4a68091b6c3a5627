"""The clock's time classes, model-free: how often events fall on a whole minute, at midnight.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_clock \\
        [--datasets omnichannel-2000,process-2000,completejourney] [--epsilons none,8] \\
        [--releases 3]

For each dataset (bench_peers' split, seed 0) and epsilon, the calendar
(generators/calendar.py) is fitted on the real train log as a DP fit's profile fits
it (at epsilon E, the calendar's part of the profile's share of E: `VAEConfig
.profile_share` x `profile_shares(("rhythm", "values", "mix"))["calendar"]`), and
the real holdout is put through it (`Calendar.apply`): only the clock is redrawn,
so what differs from the holdout is the calendar's doing. Printed: the shares of the
holdout's events on a whole minute (not midnight) and at midnight, real and through
each of `--releases` releases (seeds 0, 1, ...), and each release's closed weekdays
(`Calendar.closed_days`: token, then Monday..Sunday, 1 = closed).
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.bench_peers import load_split
from journeylab.journeys.errors import ConfigError


def on_minute(t) -> float:
    """Share of times on a whole minute that are not midnight."""
    return float(((t.dt.second == 0) & (t.dt.microsecond == 0) & (t != t.dt.normalize())).mean())


def at_midnight(t) -> float:
    return float((t == t.dt.normalize()).mean())


def calendar_epsilon(epsilon: float) -> float:
    from journeylab.generators.config import VAEConfig
    from journeylab.generators.profile import profile_shares

    share = profile_shares(("rhythm", "values", "mix"))["calendar"]
    return epsilon * VAEConfig().profile_share * share


def measure(dataset: str, epsilon: float | None, releases: int) -> dict:
    from journeylab.generators.calendar import Calendar, n_tables

    train, hold = load_split(dataset, 0)
    scale = None if epsilon is None else n_tables(train) / calendar_epsilon(epsilon)
    out, closed = [], []
    for seed in range(releases):
        cal = Calendar.fit(train, scale=scale, rng=np.random.default_rng(seed))
        df = cal.apply(hold.df.copy(), hold, np.random.default_rng(seed + 10))
        out.append((on_minute(df[hold.time]), at_midnight(df[hold.time])))
        closed.append(closed_days(cal))
    real = (on_minute(hold.df[hold.time]), at_midnight(hold.df[hold.time]))
    return {"real": real, "through the calendar": out, "closed days": closed}


def closed_days(cal) -> dict[str, str]:
    """token -> its closed weekdays (`Calendar.closed_days`), e.g. "Tue-Sun" as "0111111"."""
    rows = cal.closed_days(np.arange(len(cal.tokens)))
    return {
        t: "".join("1" if c else "0" for c in r)
        for t, r in zip(cal.tokens, rows, strict=True)
        if r.any()
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--datasets", default="omnichannel-2000,process-2000,retail-2000,completejourney"
    )
    ap.add_argument("--epsilons", default="none,8")
    ap.add_argument("--releases", type=int, default=3)
    a = ap.parse_args(argv)
    try:
        epsilons = [None if e == "none" else float(e) for e in a.epsilons.split(",") if e]
    except ValueError as e:
        raise ConfigError(f"--epsilons {a.epsilons!r}: write e.g. none,8") from e
    if a.releases < 1 or any(e is not None and e <= 0 for e in epsilons):
        raise ConfigError("--releases must be >= 1 and each epsilon > 0, e.g. none,8")
    print(
        "| dataset | epsilon | whole minute / midnight: real | through the calendar | closed days |"
    )
    print("|---|---|---|---|---|")
    for d in a.datasets.split(","):
        for eps in epsilons:
            r = measure(d, eps, a.releases)
            shares = ", ".join(f"{m:.4f} / {n:.4f}" for m, n in r["through the calendar"])
            real = "{:.4f} / {:.4f}".format(*r["real"])
            closed = "; ".join(
                ", ".join(f"{t} {days}" for t, days in c.items()) or "none"
                for c in r["closed days"]
            )
            print(
                f"| {d} | {'none' if eps is None else f'{eps:g}'} | {real} | {shares} | {closed} |"
            )


if __name__ == "__main__":
    main()
