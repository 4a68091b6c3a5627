"""Completion's thinning and keyed draws: removed events leave the output and the history,
delayed ones come back later, and both arms share their draws up to the change."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import TINY_SCHEMA, tiny_frame

from journeylab.generators import create
from journeylab.generators.complete import EventDelay, complete_journeys
from journeylab.generators.continuation import KeyedDraws
from journeylab.journeys import EventLog, Schema
from journeylab.journeys.errors import ConfigError

TINY_VAE = {"epochs": 1, "batch_size": 10, "d_model": 16, "n_layers": 2, "latent_dim": 4}
EMAIL = {"channel": ["email"]}

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def gen():
    log = EventLog.from_frame(tiny_frame(30, seed=1), Schema.from_dict(TINY_SCHEMA))
    return create("vae", TINY_VAE).fit(log)


@pytest.fixture(scope="module")
def prefix():
    """The first two events of 40 journeys, none of them on email."""
    df = tiny_frame(60, seed=5, max_events=6)
    df = df[df["channel"] != "email"]
    df = df[df.groupby("customer_id").cumcount() < 2]
    keep = df["customer_id"].unique()[:40]
    return EventLog.from_frame(df[df["customer_id"].isin(keep)], Schema.from_dict(TINY_SCHEMA))


def new_events(done) -> pd.DataFrame:
    return done.log.df[~done.given].reset_index(drop=True)


def first_email(df: pd.DataFrame) -> pd.Series:
    return df[df["channel"] == "email"].groupby("customer_id")["timestamp"].min()


def test_a_removed_value_leaves_the_output_and_the_history(gen, prefix, monkeypatch):
    assert (new_events(complete_journeys(gen, prefix, seed=0))["channel"] == "email").any()
    fed = []
    advance = gen.net.advance
    monkeypatch.setattr(
        gen.net, "advance", lambda st, tok, w, g: (fed.append(tok), advance(st, tok, w, g))[1]
    )
    done = complete_journeys(gen, prefix, seed=0, remove=EMAIL)
    email = 1 + list(gen.encoder.event_cat[0].values).index("email")  # 1-based token
    assert fed and all((tok[:, 0] != email).all() for tok in fed)  # never in the history
    assert not (done.log.df["channel"] == "email").any()


def test_arms_are_identical_until_the_first_removed_event_and_later_after_it(gen, prefix):
    base = new_events(complete_journeys(gen, prefix, seed=3))
    thin = new_events(complete_journeys(gen, prefix, seed=3, remove=EMAIL))
    cut = first_email(base)
    untouched = sorted(set(prefix.customers) - set(cut.index))
    assert len(cut) > 0 and len(untouched) > 0  # both kinds of journey are checked
    cols = list(base.columns)
    for cid in prefix.customers:
        a, b = base[base["customer_id"] == cid], thin[thin["customer_id"] == cid]
        if cid in cut.index:  # the same events before its first email, none earlier after
            a, later = a[a["timestamp"] < cut[cid]], b[b["timestamp"] >= cut[cid]]
            b = b[b["timestamp"] < cut[cid]]
            assert len(later) == 0 or later["timestamp"].min() >= cut[cid]
        pd.testing.assert_frame_equal(
            a[cols].reset_index(drop=True), b[cols].reset_index(drop=True)
        )


def test_a_delayed_event_comes_back_its_days_later(gen, prefix):
    base = new_events(complete_journeys(gen, prefix, seed=3))
    late = new_events(complete_journeys(gen, prefix, seed=3, delays=[EventDelay(EMAIL, 3)]))
    want, got = first_email(base), first_email(late)
    assert len(got) > 0 and set(got.index) <= set(want.index)
    lag = (got - want.reindex(got.index)).dt.total_seconds()
    assert (lag - 3 * 86_400).abs().max() < 120  # float32 times: a second or two
    zero = complete_journeys(gen, prefix, seed=3, delays=[EventDelay(EMAIL, 0)])
    pd.testing.assert_frame_equal(new_events(zero), base)


def test_a_delay_reaches_only_its_customers(gen, prefix):
    base = new_events(complete_journeys(gen, prefix, seed=3))
    some = list(first_email(base).index[:2])
    late = new_events(complete_journeys(gen, prefix, seed=3, delays=[EventDelay(EMAIL, 3, some)]))
    others = ~base["customer_id"].isin(some)
    pd.testing.assert_frame_equal(
        base[others].reset_index(drop=True),
        late[~late["customer_id"].isin(some)].reset_index(drop=True),
    )
    assert not late[late["customer_id"].isin(some)].equals(base[~others])


def test_a_rows_draws_depend_on_its_own_step_only():
    draws = KeyedDraws(seed=7, batch=0, n=4, width=5)
    one = draws.rows(torch.tensor([0, 1, 2, -1]), 0)
    other = KeyedDraws(seed=7, batch=0, n=4, width=5).rows(torch.tensor([0, 5, 2, 3]), 0)
    assert torch.equal(one[0], other[0]) and torch.equal(one[2], other[2])
    assert not torch.equal(one[1], other[1])
    assert not torch.equal(draws.rows(torch.zeros(4, dtype=torch.long), 1)[0], one[0])


def test_bad_removals_and_delays_name_the_fix(gen, prefix):
    with pytest.raises(ConfigError, match="'colour' is not an event categorical"):
        complete_journeys(gen, prefix, remove={"colour": ["red"]})
    with pytest.raises(ConfigError, match="removing every channel value"):
        complete_journeys(gen, prefix, remove={"channel": ["web", "app", "email", "store"]})
    with pytest.raises(ConfigError, match="delay days -1 must be a number of days >= 0"):
        complete_journeys(gen, prefix, delays=[EventDelay(EMAIL, -1)])


def test_a_prefix_observed_until_a_time_continues_after_it(gen, prefix):
    until = pd.Timestamp("2024-03-01")
    assert (new_events(complete_journeys(gen, prefix, seed=2))["timestamp"] < until).any()
    done = complete_journeys(gen, prefix, seed=2, observed_until=until)
    assert len(new_events(done)) > 0 and (new_events(done)["timestamp"] >= until).all()
    with pytest.raises(ConfigError, match="observed_until 'soon' is not a time"):
        complete_journeys(gen, prefix, observed_until="soon")


def test_an_event_given_for_later_is_fed_at_its_time_and_arms_agree_before(gen, prefix):
    until = pd.Timestamp("2024-03-01")
    first = prefix.df.groupby("customer_id").head(1)
    at = until + pd.Timedelta(days=2)
    extra = first.assign(timestamp=at, channel="email", event_type="view", amount=0.0)
    later = EventLog.from_frame(extra, prefix.schema)
    base = new_events(complete_journeys(gen, prefix, seed=4, observed_until=until))
    got = new_events(complete_journeys(gen, prefix, seed=4, observed_until=until, later=later))
    cols = list(base.columns)
    for cid in prefix.customers:
        a, b = base[base["customer_id"] == cid], got[got["customer_id"] == cid]
        pd.testing.assert_frame_equal(
            a.loc[a["timestamp"] < at, cols].reset_index(drop=True),
            b.loc[b["timestamp"] < at, cols].reset_index(drop=True),
        )
    fed = got[(got["timestamp"] - at).abs() < pd.Timedelta(minutes=2)]
    assert len(fed) > 0 and (fed["channel"] == "email").all()
    early = later.df.assign(timestamp=pd.Timestamp("2024-01-01 00:00:01"))
    with pytest.raises(ConfigError, match="has one before its prefix's last event"):
        complete_journeys(gen, prefix, later=EventLog.from_frame(early, prefix.schema))


def test_arms_that_drop_and_keep_an_email_share_their_draws_again_after_it(gen, prefix):
    """Keyed by the touched values (both arms), the arm that drops an email draws its
    next event with the key the other arm's event after the email has: the journeys'
    other events agree far more often than keyed by the count of new events."""

    def others(done) -> pd.Series:
        d = new_events(done)
        d = d[d["channel"] != "email"]
        return d.groupby("customer_id")["event_type"].apply(lambda s: tuple(s[:3]))

    same = {"keyed apart": [], "counted": []}
    for seed in range(3):
        removed = others(complete_journeys(gen, prefix, seed=seed, remove=EMAIL))
        arms = {
            "keyed apart": others(complete_journeys(gen, prefix, seed=seed, touched=EMAIL)),
            "counted": others(complete_journeys(gen, prefix, seed=seed)),
        }
        ids = removed.index.intersection(arms["keyed apart"].index)
        ids = ids.intersection(arms["counted"].index)
        for k, arm in arms.items():
            same[k] += list(removed[ids] == arm[ids])
    agree = {k: sum(v) / len(v) for k, v in same.items()}
    assert len(same["counted"]) >= 30
    assert agree["keyed apart"] >= 0.9 and agree["keyed apart"] > agree["counted"] + 0.1, agree


def test_z_is_read_from_the_factual_prefixes_when_given(gen, prefix):
    """An intervened copy of the prefixes with `latent_from` the originals draws z from the
    originals' posterior: with the prefixes unchanged, the same journeys as without it;
    latent_from of other customers is refused."""
    same = complete_journeys(gen, prefix, seed=2, latent_from=prefix)
    pd.testing.assert_frame_equal(same.log.df, complete_journeys(gen, prefix, seed=2).log.df)
    df = prefix.df.copy()
    df.loc[df.groupby("customer_id").cumcount() == 1, "event_type"] = "view"  # intervened
    changed = EventLog.from_frame(df, prefix.schema)
    own = new_events(complete_journeys(gen, changed, seed=2))
    factual = new_events(complete_journeys(gen, changed, seed=2, latent_from=prefix))
    assert not own.equals(factual)  # z now comes from the prefixes as they were
    ids = list(prefix.customers)
    with pytest.raises(ConfigError, match="prefix's customers in the prefix's order"):
        complete_journeys(gen, prefix, seed=2, latent_from=prefix.subset(ids[:-1]))
