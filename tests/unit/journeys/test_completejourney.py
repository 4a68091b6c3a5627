"""Complete Journey builds to its documented counts, identically twice, and round-trips."""

import hashlib

import pandas as pd
import pytest

from journeylab.journeys import JourneyEncoder, datasets
from journeylab.journeys.completejourney import build_completejourney

# Documented in README.md (section Datasets).
COUNTS = {
    "customers": 2469,
    "events": 163544,
    "events_by_channel": {
        "direct_mail_a": 3647,
        "direct_mail_b": 2368,
        "direct_mail_c": 574,
        "store": 156955,
    },
    "events_by_event_type": {
        "campaign_received": 6589,
        "coupon_redemption": 1107,
        "purchase": 155848,
    },
    "length_max": 787,
}


@pytest.fixture(scope="module")
def cj():
    return build_completejourney()


def test_documented_counts(cj):
    d = cj.describe()
    for k, v in COUNTS.items():
        assert d[k] == v, k
    assert cj.schema.is_public  # every domain declared: costs no privacy budget


def test_context_unknown_is_its_own_category(cj):
    ctx = cj.context()
    assert len(ctx) == 2469
    assert (ctx["age"] == "Unknown").sum() == 2469 - 801


def test_build_twice_gives_identical_files(tmp_path):
    digests = []
    for sub in ("a", "b"):
        target = datasets.build("completejourney", tmp_path / sub)
        digests.append(
            {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(target.iterdir())}
        )
    assert digests[0] == digests[1] and set(digests[0]) == {"events.parquet", "schema.yaml"}


def test_encoding_round_trip_exact(cj):
    enc = JourneyEncoder(cj.schema)
    for chunk in cj.iter_chunks(900):  # chunked, as a large log would be
        back = enc.decode(enc.encode(chunk))
        pd.testing.assert_frame_equal(back.df, chunk.df)
