"""Values: the model decides which amount is larger, the profile's histogram how large."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SCHEMA
from test_profile import planted

from journeylab.generators.profile import JourneyProfile, profile_shares
from journeylab.generators.values import DROP_ROUNDS, Values, repeat_counts
from journeylab.journeys import EventLog, Schema


@pytest.fixture(scope="module")
def log() -> EventLog:
    return EventLog.from_frame(planted(600), Schema.from_dict(TINY_SCHEMA))


def inflated(log: EventLog) -> pd.DataFrame:
    """A model's amounts: the right order, too large."""
    df = log.df.copy()
    df["amount"] = (df["amount"] * 1.5 + 20).round(2)
    return df


@pytest.mark.parametrize("scale", [None, 1 / 1.0])
def test_apply_gives_real_sizes_in_the_models_order(log, scale):
    vals = Values.fit(log, scale=scale, rng=np.random.default_rng(0))
    model = inflated(log)
    out = vals.apply(model, log, np.random.default_rng(2))
    real = log.df["amount"]
    for q in (0.1, 0.5, 0.9):
        assert out["amount"].quantile(q) == pytest.approx(real.quantile(q), rel=0.3)
    assert model["amount"].median() > 1.4 * real.median()  # what it was before
    assert (out["amount"].rank(method="first").corr(model["amount"].rank(method="first"))) > 0.99
    assert (out["amount"] == out["amount"].round(2)).all()  # the schema's 2 decimals
    assert out["amount"].between(0, 500).all()


def test_zeros_are_left_to_the_calendar(log):
    df = log.df.copy()
    df.loc[df.index[::3], "amount"] = 0.0
    out = Values.fit(log, scale=None, rng=np.random.default_rng(0)).apply(
        df, log, np.random.default_rng(0)
    )
    assert ((out["amount"] == 0) == (df["amount"] == 0)).all()


def test_a_journey_constant_stays_constant_after_the_mapping(log):
    prof = JourneyProfile.fit(log, epsilon=None, seed=0, parts=("values",))
    assert "amount" in prof.constants and prof.values is not None
    syn = EventLog.from_frame(inflated(log), log.schema)
    out = prof.apply(syn, np.random.default_rng(3))
    assert (out.groupby("customer_id")["amount"].nunique() == 1).all()
    assert out["amount"].median() == pytest.approx(log.df["amount"].median(), rel=0.2)


def test_profile_shares_add_up():
    for parts in ((), ("rhythm",), ("values",), ("rhythm", "values")):
        shares = profile_shares(parts)
        assert sum(shares.values()) == pytest.approx(1.0)
        assert set(parts) <= set(shares)
    with pytest.raises(ValueError, match="unknown profile parts"):
        profile_shares(("tempo",))


def spenders(n: int, seed: int) -> pd.DataFrame:
    """Light and heavy spenders: each customer's baskets scatter around its own level."""
    rng = np.random.default_rng(seed)
    k = rng.integers(3, 12, n)
    ids = np.repeat([f"c{c:04d}" for c in range(n)], k)
    level = np.repeat(rng.normal(3, 1, n), k)
    day = np.concatenate([np.sort(rng.integers(0, 170, m)) for m in k])
    return pd.DataFrame(
        {
            "customer_id": ids,
            "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(day * 86_400 + 43_200, "s"),
            "channel": "store",
            "event_type": "purchase",
            "amount": np.exp(level + rng.normal(0, 0.4, len(ids))).clip(0.01, 500).round(2),
            "segment": "budget",
        }
    )


def mean_log_spread(df: pd.DataFrame) -> float:
    return float(np.log(df["amount"]).groupby(df["customer_id"]).mean().std())


@pytest.mark.parametrize("scale", [None, 2 / 4.0])
def test_customers_differ_as_much_as_the_real_ones(scale):
    real = EventLog.from_frame(spenders(600, 0), Schema.from_dict(TINY_SCHEMA))
    vals = Values.fit(real, scale=scale, rng=np.random.default_rng(0))
    # a model with the right baskets dealt out to the wrong customers: everyone alike
    flat = real.df.copy()
    flat["amount"] = np.random.default_rng(1).permutation(flat["amount"].to_numpy())
    # and one whose customers differ far too much, in the right order
    wide = real.df.copy()
    lvl = np.log(wide["amount"]).groupby(wide["customer_id"]).transform("mean")
    wide["amount"] = np.exp(np.log(wide["amount"]) + 2 * lvl)  # past the range: a model may
    want = mean_log_spread(real.df)
    assert mean_log_spread(flat) < 0.6 * want  # what a flat model gives
    for model in (flat, wide):
        out = vals.apply(model, real, np.random.default_rng(2))
        assert mean_log_spread(out) == pytest.approx(want, rel=0.2)
        assert out["amount"].median() == pytest.approx(real.df["amount"].median(), rel=0.25)
    # the model still decides who spends more
    out = vals.apply(wide, real, np.random.default_rng(2))
    who = [np.log(d["amount"]).groupby(d["customer_id"]).mean() for d in (wide, out)]
    assert who[0].corr(who[1], method="spearman") > 0.9


def test_one_noise_cell_far_out_does_not_set_the_spread():
    """The spread of customers' means is read robustly: a lone cell far in the tail (noise
    that survived) doubled the plain deviation; a histogram of fewer than 3 cells says
    nothing."""
    from journeylab.generators.spread import hist_sd

    points = np.arange(32) * 0.29
    w = np.zeros(32)
    w[10:15] = [100, 300, 400, 300, 100]
    clean = hist_sd(w, points, floor=10)
    w[30] = 60  # a noise cell
    assert hist_sd(w, points, floor=10) == pytest.approx(clean, rel=0.15)
    assert hist_sd(np.where(np.arange(32) == 12, 900.0, 0.0), points, floor=10) is None


def test_under_heavy_noise_neighbouring_cells_are_merged_not_dropped(log):
    """So much noise that few of the 32 cells survive alone: merged by twos, fours or
    eights they do, and the values still get real sizes instead of the model's."""
    from journeylab.generators.values import _coarsened

    vals = Values.fit(log, scale=12.0, rng=np.random.default_rng(0))
    raw = np.asarray(vals.hist["amount"])
    alone = (raw > max(2.0, np.log(32)) * vals.scale).sum()
    assert alone < 6 and (_coarsened(raw, vals.scale) > 0).sum() > alone
    out = vals.apply(inflated(log), log, np.random.default_rng(2))
    assert out["amount"].median() == pytest.approx(log.df["amount"].median(), rel=0.35)


def test_a_thin_tail_is_grown_back_and_a_tail_of_noise_is_not():
    """Cells each under the cut but together well above the noise (a basket tail) are
    kept, two at a time, until a pair is not; beyond the data, noise alone stops at its
    first pair nearly always."""
    from journeylab.generators.values import _cut, _tails

    scale = 5.0  # 12 cells: the cut's bar is 2.48 scales = 12.4, a pair's 20
    raw = np.array([0.0, 0.0, 40.0, 200.0, 100.0, 12.0, 12.0, 11.0, 11.0, 0.0, 0.0, 0.0])
    cut = _cut(raw, scale)
    assert list(np.flatnonzero(cut)) == [2, 3, 4]
    grown = _tails(cut, raw, scale)
    assert list(np.flatnonzero(grown)) == [2, 3, 4, 5, 6, 7, 8]
    assert grown[5:9] == pytest.approx([12.0, 12.0, 11.0, 11.0])
    rng = np.random.default_rng(0)
    passed = 0
    for _ in range(2000):
        noise = np.r_[200.0, rng.normal(0.0, np.sqrt(2.0) * scale, 7)]
        cut = _cut(noise, scale)
        passed += (_tails(cut, noise, scale) != cut).any()  # what the tails added
    assert passed / 2000 < 0.06


def test_a_lone_noise_cell_past_the_data_is_dropped_and_a_loud_one_kept():
    """A cell whose neighbours are both cut must stand 4 deviations high: a noise cell at
    2.7 deviations far past the largest basket gave 0.1% of synthetic baskets a price
    no real one had; a real isolated cluster of heavy values stays."""
    from journeylab.generators.values import _cut

    scale = 2.0  # deviation 2.83; 32 cells: the cut's bar is 3.47 scales = 6.9
    body = np.r_[np.zeros(10), [40.0, 120.0, 200.0, 120.0, 40.0], np.zeros(17)]
    noise = body.copy()
    noise[31] = 7.9  # 2.8 deviations: over the cut's bar, under 4 deviations
    assert (_cut(noise, scale) > 0).sum() == 5 and _cut(noise, scale)[31] == 0
    loud = body.copy()
    loud[28] = 30.0  # 10 deviations: a real isolated cluster
    assert _cut(loud, scale)[28] == 30.0
    rng = np.random.default_rng(0)
    empty = [(_cut(rng.normal(0, np.sqrt(2) * scale, 32), scale) > 0).any() for _ in range(500)]
    assert np.mean(empty) < 0.01  # a histogram of noise alone keeps nothing, nearly always


def big_baskets(n: int, seed: int, *, big: bool = True) -> pd.DataFrame:
    """Fifteen small baskets per customer and (`big`) one large one each: the large ones
    are a sixteenth of the values but every customer's largest."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        amounts = list(np.exp(rng.normal(2.5, 0.3, 15)))
        amounts.append(float(np.exp(rng.normal(5.0, 0.3))) if big else amounts[0] * 1.1)
        for d, a in enumerate(rng.permutation(amounts)):
            rows.append(
                {
                    "customer_id": f"c{c:04d}",
                    "timestamp": pd.Timestamp("2024-01-01") + pd.Timedelta(days=d, hours=12),
                    "channel": "store",
                    "event_type": "purchase",
                    "amount": round(float(a), 2),
                    "segment": "budget",
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("scale", [None, 1.0, 4.0])
def test_each_customers_largest_value_comes_from_its_own_histogram(scale):
    log = EventLog.from_frame(big_baskets(600, 0), Schema.from_dict(TINY_SCHEMA))
    vals = Values.fit(log, scale=scale, rng=np.random.default_rng(0))
    model = big_baskets(600, 1, big=False)  # the model never makes the large basket
    out = vals.apply(model, log, np.random.default_rng(1))
    real_top = log.df.groupby("customer_id")["amount"].max()
    top = out.groupby("customer_id")["amount"].max()
    for q in (0.1, 0.5, 0.9):
        assert top.quantile(q) == pytest.approx(real_top.quantile(q), rel=0.25)
    if scale == 4.0:  # without the largest values' histogram, the values' histogram's
        # tail (a sixteenth of its mass) is cut by the noise: no large baskets are left
        vals.top = None
        alone = vals.apply(model, log, np.random.default_rng(1)).groupby("customer_id")
        assert alone["amount"].max().quantile(0.5) < 0.5 * real_top.quantile(0.5)
    # only each customer's largest value moved; the rest keep their order and sizes
    second = out.groupby("customer_id")["amount"].apply(lambda s: s.nlargest(2).iloc[-1])
    assert (second <= top).all()


def regulars(n: int, seed: int) -> pd.DataFrame:
    """`spenders` of whom a third buy the same basket again: each of their baskets after
    the first repeats one of their earlier ones with probability 0.4."""
    df = spenders(n, seed)
    rng = np.random.default_rng(seed + 1)
    x = df["amount"].to_numpy().copy()
    keys = df["customer_id"].to_numpy()
    regular = {k for k in np.unique(keys) if rng.random() < 1 / 3}
    for i in range(1, len(x)):
        if keys[i] == keys[i - 1] and keys[i] in regular and rng.random() < 0.4:
            x[i] = x[i - int(rng.integers(1, 3)) if keys[i - 2] == keys[i] else i - 1]
    df["amount"] = x
    return df


def repeat_shares(df: pd.DataFrame) -> pd.Series:
    """Each customer's share of baskets repeating an earlier one of theirs."""
    return df.duplicated(["customer_id", "amount"]).groupby(df["customer_id"]).mean()


@pytest.mark.parametrize("scale", [None, 2 / 4.0])
def test_customers_repeat_their_own_values_as_often_as_the_real_ones(scale):
    schema = Schema.from_dict(TINY_SCHEMA)
    real = EventLog.from_frame(regulars(900, 0), schema)
    want = repeat_shares(real.df)
    assert 0.1 < want.mean() < 0.2 and (want == 0).mean() > 0.5
    table = repeat_counts(real, "amount")
    assert table.sum() == real.n_customers  # each customer with 2+ values in one cell
    vals = Values.fit(real, scale=scale, rng=np.random.default_rng(0))
    # a model without repeats: the real baskets, each repeat moved off by a few cents
    model = real.df.copy()
    again = model.duplicated(["customer_id", "amount"])
    pos = model.groupby("customer_id").cumcount().to_numpy()
    model["amount"] = (model["amount"] + 0.01 * pos * again).round(2)
    assert repeat_shares(model).mean() < 0.01
    out = vals.repeats(model, real, np.random.default_rng(1))
    got = repeat_shares(out)
    assert got.mean() == pytest.approx(want.mean(), rel=0.25)
    assert (got == 0).mean() == pytest.approx((want == 0).mean(), abs=0.1)
    # a new repeat is one of the customer's own values (the few of the model's own repeats
    # a customer should not have move by cents)
    own = model.groupby("customer_id")["amount"].agg(set)
    foreign = [a not in own[k] for k, a in zip(out["customer_id"], out["amount"], strict=True)]
    assert np.mean(foreign) < 0.01
    changed = out["amount"].to_numpy() != model["amount"].to_numpy()
    assert changed.sum() == pytest.approx(got.mean() * len(got) * 10, rel=0.6)


def test_too_many_repeats_are_moved_off_and_a_silent_table_leaves_them():
    schema = Schema.from_dict(TINY_SCHEMA)
    real = EventLog.from_frame(regulars(900, 0), schema)
    want = repeat_shares(real.df).mean()
    vals = Values.fit(real, scale=2 / 4.0, rng=np.random.default_rng(0))
    # a model whose every customer repeats (the real baskets, each after the first
    # repeating the one before with probability 0.6)
    rng = np.random.default_rng(3)
    model = real.df.copy()
    x = model["amount"].to_numpy().copy()
    same = np.r_[False, model["customer_id"].to_numpy()[1:] == model["customer_id"].to_numpy()[:-1]]
    for i in np.flatnonzero(same & (rng.random(len(x)) < 0.6)):
        x[i] = x[i - 1]
    model["amount"] = x
    assert repeat_shares(model).mean() > 3 * want
    out = vals.repeats(model, real, np.random.default_rng(1))
    assert repeat_shares(out).mean() == pytest.approx(want, rel=0.3)
    moved = (out["amount"] - model["amount"]).abs()
    again = model.duplicated(["customer_id", "amount"])  # (others may take a neighbour)
    assert moved[again].max() <= 0.03 * sum(range(1, DROP_ROUNDS + 1)) + 1e-9  # a few cents
    assert (moved[again] > 0.03 + 1e-9).mean() < 0.15  # most by the first move
    whole = model["amount"] == model["amount"].round()
    assert (moved[again & whole] == 0).all()  # whole numbers stay whole
    # a log without repeats: its table says nothing of them (the noise hides whether a
    # share bin holds anyone), so a model's repeats are left as they are
    df = spenders(900, 0)
    pos = df.groupby("customer_id").cumcount()  # every value of a customer distinct
    df["amount"] = (df["amount"].clip(upper=400) + 0.001 * pos).round(3)
    plain = EventLog.from_frame(df, schema)
    for seed in range(3):  # and the noise alone never makes a customer repeat
        vals = Values.fit(plain, scale=2 / 4.0, rng=np.random.default_rng(seed))
        out = vals.repeats(model, plain, np.random.default_rng(seed))
        assert out["amount"].equals(model["amount"])


@pytest.mark.parametrize("scale", [None, 1 / 1.0])
def test_whole_values_stay_whole_and_fractions_do_not_land_on_whole_numbers(log, scale):
    """The histogram's quantiles are drawn within their cells: whole amounts (prices of
    1, 10 or 20 dollars) came out with cents, and 1% of 2-decimal ones landed on whole
    dollars. Each whole value now keeps its unit (10 a multiple of 10, 3 of 1), near
    where the mapping puts it; the others never become whole."""
    from journeylab.generators.values import kept_whole

    vals = Values.fit(log, scale=scale, rng=np.random.default_rng(0))
    df = log.df.copy()
    rng = np.random.default_rng(1)
    whole = rng.random(len(df)) < 0.2
    df.loc[whole, "amount"] = rng.choice([1.0, 2.0, 5.0, 10.0, 20.0, 15.0], whole.sum())
    out = vals.apply(df, log, np.random.default_rng(2))["amount"].to_numpy()
    assert (np.round(out[whole]) == out[whole]).all()
    x = df["amount"].to_numpy()
    frac = (x != 0) & (np.round(x) != x)
    assert frac.sum() > 100 and (np.round(out[frac]) != out[frac]).all()
    tens = whole & (df["amount"].to_numpy() % 10 == 0)
    assert (out[tens] % 10 == 0).all()
    # a whole value under its unit goes to the nearest whole number, never 0
    got = kept_whole(np.array([10.0, 20.0, 3.0, 2.5]), np.array([4.2, 0.3, 7.6, 9.0]))
    assert got.tolist() == [4.0, 1.0, 8.0, 9.0]


def count_spenders(
    n: int, *, light_spend: float, heavy_spend: float, seed: int = 0
) -> pd.DataFrame:
    """Purchases only: a third of the customers buy 1-3 times, a third 5-12 times, a third
    16-20 times; a light customer's baskets scatter around `light_spend`, a heavy one's
    around `heavy_spend` (the middle third in between, on the log scale)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        kind = c % 3
        k = int(rng.integers(*[(1, 4), (5, 13), (16, 21)][kind]))
        centre = np.exp(np.log([light_spend, heavy_spend]).mean()) if kind == 1 else None
        centre = centre or (light_spend if kind == 0 else heavy_spend)
        level = centre * np.exp(rng.normal(0.0, 0.3))
        for i in range(k):
            rows.append(
                {
                    "customer_id": f"c{c:04d}",
                    "timestamp": pd.Timestamp("2024-01-01") + pd.Timedelta(days=3 * i + c % 7),
                    "channel": "store",
                    "event_type": "purchase",
                    "amount": round(float(min(level * np.exp(rng.normal(0.0, 0.4)), 499.0)), 2),
                    "segment": "budget",
                }
            )
    return pd.DataFrame(rows)


def _median_mean_log(df: pd.DataFrame, light: bool) -> float:
    g = df.groupby("customer_id")["amount"]
    means = g.apply(lambda v: np.log(v).mean())
    n = g.size()
    return float(means[n <= 3].median() if light else means[n >= 16].median())


@pytest.mark.parametrize("scale", [None, 0.25])
def test_levels_follow_each_count_group_not_the_models(scale):
    """Real heavy customers spend ten times what light ones do per basket; the model's the
    other way round. With the levels by count, each group's levels come out as the real
    ones; without them the model's relation stays."""
    schema = Schema.from_dict(TINY_SCHEMA)
    real = EventLog.from_frame(count_spenders(600, light_spend=10, heavy_spend=100), schema)
    model = count_spenders(600, light_spend=100, heavy_spend=10, seed=1)
    gap = _median_mean_log(real.df, False) - _median_mean_log(real.df, True)
    assert gap > 2.0  # log 10 = 2.3
    with_table = Values.fit(real, scale=scale, rng=np.random.default_rng(0), by_count=True)
    assert with_table.level_by is not None
    without = Values.fit(real, scale=scale, rng=np.random.default_rng(0))
    syn = EventLog.from_frame(model, schema)
    for vals, near in ((with_table, True), (without, False)):
        out = vals.apply(model, syn, np.random.default_rng(1))
        got = _median_mean_log(out, False) - _median_mean_log(out, True)
        if near:
            assert got == pytest.approx(gap, abs=0.5)
        else:
            assert got < 0.0  # the model's order of levels, heavy below light


def test_levels_by_count_are_released_only_above_the_noise():
    from journeylab.generators.values import level_by_count, tables

    assert level_by_count(50, 1, None)  # exact: always
    assert tables(True) > tables(False)
    assert level_by_count(100_000, 1, 0.05)  # many customers, a modest budget
    assert not level_by_count(1_000, 1, 0.001)  # a thousand at a small one: noise
