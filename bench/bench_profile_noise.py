"""The DP profile's noise per table: Laplace tables beside DP-SGD against Gaussian tables
composed with it in one RDP accountant, at the same total epsilon.

    .venv/bin/python -m bench.bench_profile_noise [--customers 1204] [--epochs 25] \\
        [--epsilons 1,8] [--numerics 1]

No data is read: a DP fit of the VAE plans its DP-SGD steps from the number of customers,
the batch size and the epochs (`plan_dpsgd`), its noise for `1 - profile_share` of epsilon;
then
- before (to 2026-12-05): the profile spent `profile_share` of epsilon in pure epsilon,
  each part its share, each of a part's m tables (L1 sensitivity 1) Laplace noise of scale
  m / epsilon_part (basic composition), the mix in five tables;
- now: the profile's tables get the rho the planned steps leave (`gaussian_room`), each
  part its share of rho, each of its m tables Gaussian noise of deviation
  sqrt(2) * sqrt(m / rho_part) / 2 (`calendar.gauss_scale`), the mix in six tables.
Printed: each part's noise deviation on one table before and now, and their ratio.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import replace

from journeylab.journeys.errors import ConfigError


def tables(numerics: int, *, mix: int) -> dict[str, float]:
    """Tables per part, as `JourneyProfile.fit` counts them (one numeric column each for
    values; `n_tables` for the calendar, with its dates table (released where a
    declared time window and enough customers per noise deviation allow: `dates_table`);
    the start part's joint table, where it is released, is not counted)."""
    from journeylab.generators import values
    from journeylab.generators.rhythm import TABLES

    cal = 2 * (3 + numerics) + 3 + 2 * numerics + 4  # calendar.n_tables, with a window
    return {
        "shape": 1,
        "start": 1,
        "ends": 1,
        "calendar": cal,
        "constants": 1,
        "rhythm": TABLES,
        "values": max(numerics, 1),
        "mix": mix + numerics - 1,
        "_values_gauss": max(numerics, 1) * values.tables(),
    }


def rows(customers: int, epochs: int, epsilon: float, numerics: int) -> list[dict]:
    from journeylab.generators.calendar import gauss_scale
    from journeylab.generators.config import VAEConfig
    from journeylab.generators.neural import profile_rho
    from journeylab.generators.profile import profile_shares
    from journeylab.privacy.budget import PrivacyBudget
    from journeylab.privacy.dpsgd import plan_dpsgd

    cfg = VAEConfig()
    parts = ("rhythm", "values", "mix")
    shares = profile_shares(parts)
    plan = plan_dpsgd(
        replace(PrivacyBudget(epsilon=epsilon), epsilon=epsilon * (1 - cfg.profile_share)),
        n_customers=customers,
        batch_size=cfg.batch_size,
        epochs=epochs,
    )
    rho = profile_rho(plan, epsilon)
    old_eps = epsilon * cfg.profile_share
    old, new = tables(numerics, mix=5), tables(numerics, mix=6)
    out = []
    for part, share in shares.items():
        m_old = old[part]
        lap = math.sqrt(2.0) * m_old / (old_eps * share)
        if part == "values":  # the values' histogram's own scale: scale / HIST_SHARE
            from journeylab.generators.values import HIST_SHARE

            lap /= HIST_SHARE
            gauss = math.sqrt(2.0) * gauss_scale(new["_values_gauss"], rho * share) / HIST_SHARE
        else:
            gauss = math.sqrt(2.0) * gauss_scale(new[part], rho * share)
        out.append(
            {
                "part": part,
                "laplace_sd": lap,
                "gauss_sd": gauss,
                "ratio": lap / gauss,
                "rho": rho,
                "sgd_sigma": plan.noise_multiplier,
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--customers", type=int, default=1204)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--epsilons", default="1,8")
    ap.add_argument("--numerics", type=int, default=1, help="numeric event columns")
    a = ap.parse_args(argv)
    if a.customers < 2 or a.epochs < 1 or a.numerics < 0:
        raise ConfigError("--customers must be at least 2, --epochs at least 1, --numerics >= 0")
    for eps in [float(e) for e in a.epsilons.split(",") if e.strip()]:
        r = rows(a.customers, a.epochs, eps, a.numerics)
        print(
            f"\nepsilon {eps:g}, {a.customers} customers, {a.epochs} epochs: DP-SGD noise "
            f"multiplier {r[0]['sgd_sigma']:.3f}, the profile's rho {r[0]['rho']:.4f}\n"
        )
        print("| part | Laplace deviation (before) | Gaussian deviation (now) | ratio |")
        print("|---|---|---|---|")
        for x in r:
            print(
                f"| {x['part']} | {x['laplace_sd']:.2f} | {x['gauss_sd']:.2f} | {x['ratio']:.1f} |"
            )


if __name__ == "__main__":
    main()
