"""The context tree: a DP release of the customers' context columns that keeps their joint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SCHEMA

import journeylab.generators as generators
from journeylab.generators.calendar import cap_gaps, gauss_scale
from journeylab.generators.context_tree import (
    ContextTree,
    _mutual_information,
    _null_information,
    _silent,
    context_columns,
    customer_codes,
    pair_counts,
    sizes_of,
    table_pairs,
    use_pairs,
)
from journeylab.generators.profile import JourneyProfile
from journeylab.generators.values import LEVEL_CLASSES
from journeylab.journeys import EventLog, Schema
from journeylab.privacy.budget import PrivacyBudget

# Three context columns: a household's demographics known for a third of the customers
# (all three known or all unknown, as on Complete Journey), a size that fixes the kids.
DEMO = {
    **TINY_SCHEMA,
    "context": {
        "age": {"type": "categorical", "values": ["young", "old", "Unknown"]},
        "size": {"type": "categorical", "values": ["1", "2", "3", "Unknown"]},
        "kids": {"type": "categorical", "values": ["0", "1", "Unknown"]},
    },
}


def demo_log(n: int, seed: int = 0) -> EventLog:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        known = rng.random() < 0.35
        size = str(rng.integers(1, 4)) if known else "Unknown"
        ctx = {
            "age": ["young", "old"][int(rng.integers(2))] if known else "Unknown",
            "size": size,
            "kids": {"1": "0", "2": "0", "3": "1"}.get(size, "Unknown"),
        }
        rows += purchases(c, rng, most=3, days=3, amount=lambda: 20.0, **ctx)
    return EventLog.from_frame(pd.DataFrame(rows), Schema.from_dict(DEMO))


def purchases(c: int, rng, *, most: int, days: int, amount, **ctx) -> list[dict]:
    """1 to `most` store purchases of customer c, `days` apart from a random start."""
    t = pd.Timestamp("2024-01-02") + pd.Timedelta(hours=int(rng.integers(0, 2000)))
    return [
        {
            "customer_id": f"c{c:05d}",
            "timestamp": t + pd.Timedelta(days=days * k, minutes=int(rng.integers(600))),
            "channel": "store",
            "event_type": "purchase",
            "amount": amount(),
            **ctx,
        }
        for k in range(int(rng.integers(1, most + 1)))
    ]


def coupled(codes: np.ndarray) -> float:
    """Share of rows where age, size and kids are all known or all unknown (Unknown is
    the last class of each) and a household of 3 has a kid, others none."""
    unknown = codes == np.array([2, 3, 2])
    whole = unknown.all(1) | ~unknown.any(1)
    kids_ok = np.where(codes[:, 1] == 2, codes[:, 2] == 1, codes[:, 2] != 1) | unknown[:, 1]
    return float((whole & kids_ok).mean())


@pytest.fixture(scope="module")
def log() -> EventLog:
    return demo_log(3000)


def test_each_customer_adds_one_to_each_pair_table(log):
    names = context_columns(log.schema)
    counts = pair_counts(log, names)
    assert len(counts) == len(table_pairs(3)) == 3
    assert all(t.sum() == log.n_customers for t in counts)  # L2 sensitivity sqrt(3)
    # chunks add up: two halves of the customers give the whole's tables
    ids = log.customers
    halves = [log.subset(ids[: len(ids) // 2]), log.subset(ids[len(ids) // 2 :])]
    parts = [pair_counts(h, names) for h in halves]
    assert all(np.array_equal(a + b, w) for a, b, w in zip(*parts, counts, strict=True))


def test_exact_tree_keeps_a_deterministic_coupling_and_the_marginals(log):
    names = context_columns(log.schema)
    sizes = sizes_of(log.schema, names)
    tree = ContextTree.release(pair_counts(log, names), sizes, scale=None, rng=None)
    codes = tree.draw(5000, np.random.default_rng(1))
    assert coupled(codes) == 1.0
    real = customer_codes(log, names)
    for j, v in enumerate(sizes):
        a = np.bincount(real[:, j], minlength=v) / len(real)
        b = np.bincount(codes[:, j], minlength=v) / len(codes)
        assert 0.5 * np.abs(a - b).sum() < 0.03


def test_dp_tree_keeps_the_coupling_an_independent_draw_breaks(log):
    names = context_columns(log.schema)
    sizes = sizes_of(log.schema, names)
    counts = pair_counts(log, names)
    real = customer_codes(log, names)
    rho = 0.05  # a pair table's deviation sqrt(3 / 0.1) = 5.5 for 3,000 customers
    assert use_pairs(3, log.n_customers, rho)
    for seed in range(3):
        tree = ContextTree.release(
            counts, sizes, scale=gauss_scale(3, rho), rng=np.random.default_rng(seed)
        )
        codes = tree.draw(5000, np.random.default_rng(seed + 10))
        assert coupled(codes) > 0.95
        share_unknown = (codes[:, 0] == 2).mean()
        assert abs(share_unknown - (real[:, 0] == 2).mean()) < 0.05
    # the columns drawn independently (what `pairs=False` releases) break it
    alone = ContextTree.release(counts, sizes, scale=None, rng=None, pairs=False)
    assert coupled(alone.draw(5000, np.random.default_rng(0))) < 0.7


def test_little_signal_measures_columns_not_pairs_and_none_releases_nothing(log):
    assert not use_pairs(3, 300, 0.001)  # pair deviation 39 for 300 customers
    assert use_pairs(3, 300, None)  # exact
    names = context_columns(log.schema)
    counts = pair_counts(log.subset(log.customers[:20]), names)
    sizes = sizes_of(log.schema, names)
    assert (
        ContextTree.release(counts, sizes, scale=gauss_scale(3, 0.01), rng=np.random.default_rng(0))
        is None
    )


@pytest.mark.parametrize("name", ["vae", "gan"])
def test_a_dp_fit_draws_its_context_from_the_profile_tree(log, name):
    small = log.subset(log.customers[:600])
    cfg = {"d_model": 16, "n_layers": 2, "batch_size": 32, "epochs": 1, "seed": 0}
    gen = generators.create(name, cfg)
    gen.fit(small, privacy=PrivacyBudget(epsilon=8.0))
    prof = gen.profile
    assert prof.context is not None and prof.context["columns"] == ["age", "size", "kids"]
    parts = gen.privacy_record["profile"]["parts"]
    assert parts["context"]["rho"] > 0  # accounted in the profile's rho
    out = gen.sample(400, seed=3)
    codes = customer_codes(out, ["age", "size", "kids"])
    assert coupled(codes) > 0.9  # the 1-epoch model's own context head cannot do this
    # same seed, same journeys; conditions still fix a column for every journey
    assert out.df.equals(gen.sample(400, seed=3).df)
    fixed = gen.sample(50, seed=3, conditions={"age": "old"})
    assert set(fixed.df["age"]) == {"old"}
    # without DP the model's own context head is used (`context`: "auto")
    exact = generators.create(name, cfg).fit(small)
    assert exact.profile.context is None


def test_a_profile_too_noisy_for_pairs_leaves_the_context_to_the_model(log):
    parts = ("context",)
    loud = JourneyProfile.fit(log, rho=2.0, seed=0, parts=parts)
    assert loud.context is not None and "context" in loud.detail["rho_parts"]
    # 3,000 customers, pair deviation 122 at its tenth of this rho: its share goes elsewhere
    quiet = JourneyProfile.fit(log, rho=0.001, seed=0, parts=parts)
    assert quiet.context is None and "context" not in quiet.detail["rho_parts"]
    assert sum(quiet.detail["rho_parts"].values()) == pytest.approx(0.001)
    # a log without categorical context columns has no tree either
    plain = Schema.from_dict({**TINY_SCHEMA, "context": {}})
    df = log.df.drop(columns=["age", "size", "kids"])
    bare = JourneyProfile.fit(EventLog.from_frame(df, plain), rho=2.0, seed=0, parts=parts)
    assert bare.context is None


def test_a_profile_saved_without_a_context_tree_still_loads():
    d = JourneyProfile(shape=[1.0], calendar={}, constants=[]).to_dict()
    d.pop("context")
    prof = JourneyProfile.from_dict(d)
    assert prof.context is None
    assert prof.draw_context(5, np.random.default_rng(0), Schema.from_dict(DEMO)) is None


def test_cap_gaps_fits_a_day_under_its_budget_by_its_longest_gaps():
    rng = np.random.default_rng(0)
    gap = np.array([0.0, 60, 36_000, 120, 50_000, 30_000, 0, 10, 20])
    group = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1])
    out = cap_gaps(gap, group, np.full(9, 86_399.0), rng)
    assert out[:6].sum() <= 86_399.0
    assert list(out[[0, 1, 3]]) == [0.0, 60.0, 120.0]  # the short gaps stay
    assert (out[[2, 4, 5]] > 20_000).all()  # the long ones are capped, not crushed
    assert list(out[6:]) == [0.0, 10.0, 20.0]  # a group under its budget is untouched


def test_draw_given_keeps_what_is_known_and_draws_the_rest_from_it(log):
    names = context_columns(log.schema)
    sizes = sizes_of(log.schema, names)
    tree = ContextTree.release(pair_counts(log, names), sizes, scale=None, rng=None)
    rng = np.random.default_rng(0)
    full = tree.draw(4000, rng)
    # size known (any column of the tree: root, inner or leaf), the others drawn given it
    for j in range(3):
        known = np.full_like(full, -1)
        known[:, j] = full[:, j]
        got = tree.draw_given(known, np.random.default_rng(1))
        assert np.array_equal(got[:, j], full[:, j])
        assert coupled(got) == 1.0  # kids follow a known size, size a known kids, ...
    # nothing known: the same joint as `draw`
    free = tree.draw_given(np.full_like(full, -1), np.random.default_rng(2))
    for j, v in enumerate(sizes):
        a, b = (np.bincount(x[:, j], minlength=v) / len(x) for x in (full, free))
        assert 0.5 * np.abs(a - b).sum() < 0.03
    # known codes the tree calls impossible (a household of 3 without kids): kept, and the
    # unknown column still drawn from its parent's row
    bad = np.full_like(full[:5], -1)
    bad[:, 1], bad[:, 2] = 2, 0
    got = tree.draw_given(bad, np.random.default_rng(3))
    assert (got[:, 1] == 2).all() and (got[:, 2] == 0).all() and (got[:, 0] >= 0).all()


# A home store, constant within each journey, from its customer's region: two stores per
# region, never one of another region's.
STORES = {"north": ["s1", "s2"], "south": ["s3", "s4"], "east": ["s5", "s6"]}
HOME = {
    **TINY_SCHEMA,
    "events": {
        **TINY_SCHEMA["events"],
        "store": {"type": "categorical", "values": [s for v in STORES.values() for s in v]},
    },
    "context": {
        **TINY_SCHEMA["context"],
        "region": {"type": "categorical", "values": list(STORES)},
    },
}


def home_log(n: int, seed: int = 0) -> EventLog:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        region = list(STORES)[int(rng.integers(3))]
        store = STORES[region][int(rng.integers(2))]
        segment = ["budget", "premium"][int(rng.integers(2))]
        t = pd.Timestamp("2024-01-02") + pd.Timedelta(hours=int(rng.integers(0, 2000)))
        for k in range(int(rng.integers(1, 5))):
            rows.append(
                {
                    "customer_id": f"c{c:05d}",
                    "timestamp": t + pd.Timedelta(days=2 * k, minutes=int(rng.integers(600))),
                    "channel": ["store", "web"][k % 2],
                    "event_type": ["view", "purchase"][k % 2],
                    "amount": float(rng.integers(1, 90)),
                    "store": store,
                    "segment": segment,
                    "region": region,
                }
            )
    return EventLog.from_frame(pd.DataFrame(rows), Schema.from_dict(HOME))


def off_region(log: EventLog) -> float:
    """Share of journeys whose store is not one of their region's."""
    first = log.df.groupby(log.key, sort=False)[["region", "store"]].first()
    pairs = zip(first["region"], first["store"], strict=True)
    return float(np.mean([s not in STORES[r] for r, s in pairs]))


def test_a_constant_event_column_joins_the_tree_and_follows_the_context():
    log = home_log(2000)
    prof = JourneyProfile.fit(log, rho=0.5, seed=0, parts=("context",))
    assert prof.constants == ["store"]
    assert prof.context["columns"] == ["segment", "region"]
    assert prof.context["constants"] == ["store"]
    # the release pays for the three pair tables it holds (segment, region, store)
    assert len(prof.context["sizes"]) == 3
    # each journey's store is redrawn from its region's row, once per journey: the real
    # journeys with their stores shuffled among customers get their regions' stores back
    df = log.df.copy()
    first = df.groupby("customer_id", sort=False)["store"].first()
    moved = np.random.default_rng(0).permutation(first.to_numpy())
    shuffled = dict(zip(first.index, moved, strict=True))
    df["store"] = df["customer_id"].map(shuffled)
    mixed = EventLog.from_frame(df, log.schema)
    assert off_region(mixed) > 0.5
    out = EventLog.from_frame(prof.apply(mixed, np.random.default_rng(1)), log.schema)
    assert off_region(out) < 0.05
    assert (out.df.groupby("customer_id")["store"].nunique() == 1).all()
    # each region's stores in about their real shares
    share = out.df.groupby("customer_id")["store"].first().value_counts(normalize=True)
    assert share.reindex(["s1", "s2"]).sum() == pytest.approx(1 / 3, abs=0.05)
    # the context's own draw still gives only the context columns
    assert prof.draw_context(7, np.random.default_rng(0), log.schema).shape == (7, 2)
    # a profile saved before the tree held constants (no "constants" key) draws as before
    old = JourneyProfile.from_dict({**prof.to_dict(), "context": None})
    kept = EventLog.from_frame(old.apply(mixed, np.random.default_rng(1)), log.schema)
    assert off_region(kept) > 0.5


def spend_log(n: int, seed: int = 0) -> EventLog:
    """Premium customers' baskets ten times the budget ones' (TINY_SCHEMA's segment)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        segment = ["budget", "premium"][int(rng.integers(2))]
        level = 8.0 if segment == "budget" else 80.0

        def amount(level=level) -> float:
            return round(level * float(rng.lognormal(0.0, 0.3)), 2)

        rows += purchases(c, rng, most=4, days=2, amount=amount, segment=segment)
    return EventLog.from_frame(pd.DataFrame(rows), Schema.from_dict(TINY_SCHEMA))


def premium_ratio(log: EventLog) -> float:
    """Premium customers' median mean basket over the budget ones'."""
    g = log.df.groupby("customer_id").agg(seg=("segment", "first"), amt=("amount", "mean"))
    med = g.groupby("seg")["amt"].median()
    return float(med["premium"] / med["budget"])


def test_a_customers_level_of_spend_joins_the_tree_and_follows_the_context():
    log = spend_log(2000)
    assert premium_ratio(log) == pytest.approx(10.0, rel=0.2)
    prof = JourneyProfile.fit(log, rho=0.5, seed=0, parts=("context", "values"))
    assert prof.context["levels"] == ["level:amount"]
    assert prof.context["sizes"][-1] == LEVEL_CLASSES  # paid for among the tree's tables
    # the journeys with their baskets shuffled among customers (a model that did not learn
    # who spends more) get their segments' levels back
    df = log.df.copy()
    df["amount"] = np.random.default_rng(0).permutation(df["amount"].to_numpy())
    mixed = EventLog.from_frame(df, log.schema)
    assert premium_ratio(mixed) == pytest.approx(1.0, abs=0.3)
    out = EventLog.from_frame(prof.apply(mixed, np.random.default_rng(1)), log.schema)
    assert premium_ratio(out) > 5.0
    # without the tree the values part keeps the model's own levels
    old = JourneyProfile.from_dict({**prof.to_dict(), "context": None})
    kept = EventLog.from_frame(old.apply(mixed, np.random.default_rng(1)), log.schema)
    assert premium_ratio(kept) < 2.0


def test_a_pair_table_that_shows_no_more_than_its_noise_is_drawn_apart():
    # a store (24 classes) independent of a level (16) and a segment (3) that shifts the
    # level, 1,000 customers, at a deviation of 7.7: the store by level table's noise
    # cells that pass the cut show much information, but no more than noise alone
    rng = np.random.default_rng(0)
    sd, n = 7.7, 1000
    store, seg = rng.integers(0, 24, n), rng.integers(0, 3, n)
    level = 3 + 3 * seg + rng.integers(0, 3, n)
    codes = np.stack([store, level, seg], 1)
    sizes = [24, 16, 3]
    counts = []
    for a, b in table_pairs(3):
        t = np.zeros((sizes[a], sizes[b]))
        np.add.at(t, (codes[:, a], codes[:, b]), 1.0)
        counts.append(t)
    noisy = counts[0] + np.random.default_rng(2).normal(0.0, sd, counts[0].shape)
    cut = np.where(noisy > 1.5 * sd, noisy, 0.0)
    assert _mutual_information(cut) > 0.5  # what the noise shows (exactly: about 0.1)
    null = _null_information([noisy], [(0, 1)], [np.full(24, 1 / 24), np.full(16, 1 / 16)], sd)
    assert abs(_mutual_information(cut) - null[(0, 1)]) < 0.3  # ... as noise alone does
    assert _silent(noisy, sd)
    assert not _silent(counts[2] + np.random.default_rng(3).normal(0.0, sd, (16, 3)), sd)
    for seed in range(3):
        tree = ContextTree.release(
            counts, sizes, scale=sd / np.sqrt(2.0), rng=np.random.default_rng(seed)
        )
        # the level and the segment hang together, and the one that hangs from the store
        # (the root) is drawn apart from it: its rows are all alike
        assert tree.parent[1] == 2 or tree.parent[2] == 1
        child = [c for c in (1, 2) if tree.parent[c] == 0]
        assert len(child) == 1
        rows = np.asarray(tree.cond[str(child[0])])
        assert np.allclose(rows, rows[0])


def test_a_level_the_tree_draws_apart_from_the_context_leaves_the_models_own():
    # spend that no context column shapes: the level joins the tree, but its edge says no
    # more than noise, so the values part keeps the model's own levels
    log = spend_log(2000)
    df = log.df.copy()
    first = df.groupby("customer_id", sort=False)["segment"].first()
    moved = np.random.default_rng(5).permutation(first.to_numpy())
    df["segment"] = df["customer_id"].map(dict(zip(first.index, moved, strict=True)))
    flat = EventLog.from_frame(df, log.schema)
    prof = JourneyProfile.fit(flat, rho=0.5, seed=0, parts=("context", "values"))
    tree = prof._context_tree(flat.schema)
    assert len(tree.sizes) - 1 in tree.apart
    _, levels = prof.draw_given_context(flat, np.random.default_rng(0))
    assert levels == {}


def test_soft_evidence_pulls_an_unknown_columns_draw_towards_it(log):
    names = context_columns(log.schema)
    tree = ContextTree.release(
        pair_counts(log, names), sizes_of(log.schema, names), scale=None, rng=None
    )
    n = 4000
    known = np.full((n, 3), -1)
    free = tree.draw_given(known, np.random.default_rng(0))
    # evidence that the size is "2" (likelihood 9 to 1): drawn far more often, and the
    # columns coupled to it follow (kids "0", age known)
    soft = {1: np.tile(np.array([1.0, 9.0, 1.0, 1.0]), (n, 1))}
    got = tree.draw_given(known, np.random.default_rng(0), soft=soft)
    assert (got[:, 1] == 1).mean() > 2 * (free[:, 1] == 1).mean()
    assert coupled(got) == 1.0
    # flat evidence changes nothing
    flat = tree.draw_given(known, np.random.default_rng(0), soft={1: np.ones((n, 4))})
    assert np.array_equal(flat, free)


def test_no_levels_where_a_column_of_the_schema_carries_their_prefix():
    from journeylab.generators.context_tree import level_columns

    assert level_columns(Schema.from_dict(TINY_SCHEMA)) == ["level:amount"]
    named = {
        **TINY_SCHEMA,
        "context": {"level:gold": {"type": "categorical", "values": ["a", "b"]}},
    }
    assert level_columns(Schema.from_dict(named)) == []
