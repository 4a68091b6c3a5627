"""Empirical privacy audits of a synthetic log against real train and holdout logs.

    report = run_audits(train, holdout, synthetic, seed=0)
    report.metrics["mia_distance_auc"]   # 0.5: the attack cannot tell members apart
    report.caveat                        # computed on real data, not covered by DP

Audits (registry `AUDITS`, each a function of the prepared `AuditData`):
- `mia_distance`: membership inference from the synthetic data only. A target
  customer's score is minus the distance from its journey embedding to the
  closest synthetic journey; AUC of train (members) vs holdout (non-members)
  targets of equal size. 0.5 is ideal, 1.0 a total leak.
- `mia_density_ratio`: a stronger attack in the spirit of DOMIAS (van Breugel
  et al. 2023): the k-NN density of the synthetic data at a target divided by
  the k-NN density of a reference sample of the population (holdout customers
  that are not targets). It discounts targets that are merely typical or
  merely isolated, and flags those the generator over-represents.
- `dcr_share`: share of synthetic journeys whose closest real journey is in
  the train sample rather than an equal-size holdout sample (ties count a
  half). 0.5 is ideal, 1.0 means every synthetic journey sits on a train one.
- `exact_copy_share`: share of synthetic journeys identical to a train
  journey (timestamps, events and context; ids ignored), next to the same
  share for holdout journeys (what chance gives).

A partitioned (streamed) input is never held whole: the audits run on the `max_targets`
customers of each log with the smallest sha256(seed:id) (journeys/streamed.py), and
exact copies are counted against every train and holdout customer in one streamed
pass; the report's `scale` says which figure used how many customers.

Every result carries `CAVEAT`: these numbers are computed on real data, are
not themselves private, and are not covered by the DP guarantee.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.neighbors import NearestNeighbors

from journeylab.journeys.errors import ConfigError, DataError
from journeylab.journeys.eventlog import EventLog
from journeylab.journeys.streamed import (
    StreamedLog,
    each_chunk,
    shared_customers,
    subsample_customers,
)
from journeylab.privacy.caveats import AUDIT_CAVEAT
from journeylab.privacy.embedding import embed, journey_hashes

CAVEAT = AUDIT_CAVEAT
ROLES = ("train", "holdout", "synthetic")


@dataclass
class AuditData:
    """Journey embeddings in one feature space, standardised on train + holdout + synthetic.

    Membership targets: `members` (train) and `nonmembers` (holdout), equal in size;
    `reference`: the other holdout customers (a sample of the population). DCR uses
    equal-size samples `dcr_train` and `dcr_holdout`.
    """

    members: np.ndarray  # [m, D]
    nonmembers: np.ndarray  # [m, D]
    reference: np.ndarray  # [r, D], may be empty
    synthetic: np.ndarray  # [s, D]
    dcr_train: np.ndarray  # [h, D]
    dcr_holdout: np.ndarray  # [h, D]
    logs: dict[str, EventLog] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditReport:
    metrics: dict[str, float]
    sizes: dict[str, int]
    caveat: str = CAVEAT
    scale: dict[str, Any] = field(default_factory=dict)  # a streamed input: customers used

    def to_dict(self) -> dict[str, Any]:
        d = {"metrics": dict(self.metrics), "sizes": dict(self.sizes), "caveat": self.caveat}
        return d | ({"scale": dict(self.scale)} if self.scale else {})


# --- small pure functions -----------------------------------------------------------
def nearest_distances(x: np.ndarray, ref: np.ndarray, *, k: int = 1) -> np.ndarray:
    """Euclidean distance from each row of x [n, D] to its k-th nearest row of ref [r, D]."""
    nn = NearestNeighbors(n_neighbors=min(k, len(ref)), algorithm="brute").fit(ref)
    return nn.kneighbors(x)[0][:, -1]


def membership_auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    return float(roc_auc_score(y, np.r_[member_scores, nonmember_scores]))


def tpr_at_fpr(member_scores: np.ndarray, nonmember_scores: np.ndarray, fpr: float) -> float:
    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    f, t, _ = roc_curve(y, np.r_[member_scores, nonmember_scores])
    return float(t[np.searchsorted(f, fpr, side="right") - 1])


def _attack_metrics(name: str, members: np.ndarray, nonmembers: np.ndarray) -> dict[str, float]:
    return {
        f"{name}_auc": membership_auc(members, nonmembers),
        f"{name}_tpr_at_fpr_0.1": tpr_at_fpr(members, nonmembers, 0.1),
    }


# --- audits -------------------------------------------------------------------------
def mia_distance(d: AuditData, *, seed: int = 0) -> dict[str, float]:
    """Score = -(distance to the closest synthetic journey)."""
    return _attack_metrics(
        "mia_distance",
        -nearest_distances(d.members, d.synthetic),
        -nearest_distances(d.nonmembers, d.synthetic),
    )


def mia_density_ratio(d: AuditData, *, seed: int = 0, k: int = 1) -> dict[str, float]:
    """Score = log d_ref,k(x) - log d_syn,k(x): the log k-NN density ratio up to a constant
    factor and offset (both equal for every target, so the AUC is unchanged)."""
    if len(d.reference) < k:
        return {}
    floor = 1e-9

    def score(x):
        return np.log(nearest_distances(x, d.reference, k=k) + floor) - np.log(
            nearest_distances(x, d.synthetic, k=k) + floor
        )

    return _attack_metrics("mia_density_ratio", score(d.members), score(d.nonmembers))


def dcr_share(d: AuditData, *, seed: int = 0) -> dict[str, float]:
    d_tr = nearest_distances(d.synthetic, d.dcr_train)
    d_ho = nearest_distances(d.synthetic, d.dcr_holdout)
    return {"dcr_share": float(np.mean(d_tr < d_ho) + 0.5 * np.mean(d_tr == d_ho))}


def exact_copy_share(d: AuditData, *, seed: int = 0) -> dict[str, float]:
    syn = journey_hashes(d.logs["synthetic"])
    train, hold = set(journey_hashes(d.logs["train"])), set(journey_hashes(d.logs["holdout"]))
    return {
        "exact_copy_share": float(np.mean([h in train for h in syn])),
        "exact_copy_share_holdout": float(np.mean([h in hold for h in syn])),
    }


AUDITS: dict[str, Callable[..., dict[str, float]]] = {
    "mia_distance": mia_distance,
    "mia_density_ratio": mia_density_ratio,
    "dcr_share": dcr_share,
    "exact_copy_share": exact_copy_share,
}


# --- running them -------------------------------------------------------------------
def prepare(
    train: EventLog,
    holdout: EventLog,
    synthetic: EventLog,
    *,
    seed: int = 0,
    max_targets: int = 2000,
    reference_share: float = 0.5,
) -> AuditData:
    """Draw the samples (seeded) and embed them."""
    _check_logs(train, holdout, synthetic)
    rng = np.random.default_rng(seed)
    h = min(train.n_customers, holdout.n_customers, max_targets)
    if h < 4:
        raise DataError(
            f"audits need at least 4 train and 4 holdout customers; got "
            f"{train.n_customers} and {holdout.n_customers}",
            fix="audit larger logs",
        )
    tr = train.subset(rng.choice(train.customers, h, replace=False))
    ho = holdout.subset(rng.choice(holdout.customers, h, replace=False))
    syn = synthetic.subset(rng.permutation(synthetic.customers)[:max_targets])
    e_tr, e_ho, e_syn = embed([tr, ho, syn])
    hold_rows = rng.permutation(h)
    n_ref = int(h * reference_share)
    targets = hold_rows[n_ref:]
    members = rng.choice(h, len(targets), replace=False)
    return AuditData(
        members=e_tr[members],
        nonmembers=e_ho[targets],
        reference=e_ho[hold_rows[:n_ref]],
        synthetic=e_syn,
        dcr_train=e_tr,
        dcr_holdout=e_ho,
        logs={"train": train, "holdout": holdout, "synthetic": syn},
    )


def run_audits(
    train: EventLog,
    holdout: EventLog,
    synthetic: EventLog,
    *,
    audits: Sequence[str] | None = None,
    seed: int = 0,
    max_targets: int = 2000,
    progress: Callable[[str], None] | None = None,
) -> AuditReport:
    """Run the named audits (default: all of AUDITS); `progress` hears each step. Any
    input a StreamedLog: on seeded subsamples, never whole (`audits_at_scale`)."""
    names = list(audits or AUDITS)
    unknown = [a for a in names if a not in AUDITS]
    if unknown:
        raise ConfigError(f"unknown audit(s) {unknown}; choose from {sorted(AUDITS)}")
    if isinstance(max_targets, bool) or not isinstance(max_targets, int) or max_targets < 4:
        raise ConfigError(
            f"max_targets must be an integer >= 4, got {max_targets!r}; e.g. --max-targets 2000"
        )
    say = progress or (lambda _: None)
    logs = dict(zip(ROLES, (train, holdout, synthetic), strict=True))
    if any(isinstance(g, StreamedLog) for g in logs.values()):
        return audits_at_scale(logs, audits=names, seed=seed, max_targets=max_targets, say=say)
    say("sampling and embedding journeys")
    d = prepare(train, holdout, synthetic, seed=seed, max_targets=max_targets)
    metrics: dict[str, float] = {}
    for name in names:
        say(f"audit: {name.replace('_', ' ')}")
        metrics.update(AUDITS[name](d, seed=seed))
    sizes = {
        "targets_per_side": len(d.members),
        "reference": len(d.reference),
        "synthetic": len(d.synthetic),
        "dcr_per_side": len(d.dcr_train),
    }
    return AuditReport(metrics=metrics, sizes=sizes)


def audits_at_scale(
    logs: dict[str, EventLog | StreamedLog],
    *,
    audits: Sequence[str],
    seed: int,
    max_targets: int,
    say: Callable[[str], None],
) -> AuditReport:
    """The audits on the `max_targets` customers of each log with the smallest
    sha256(seed:id), never a whole log: exactly `run_audits` of those subsamples, but
    for exact copies, counted against every train and holdout customer."""
    _check_logs(*logs.values(), overlap=False)
    say("checking that no customer is in both train and holdout (streamed)")
    _refuse_overlap(shared_customers(logs["train"], logs["holdout"]))
    say(f"subsampling {max_targets} customers per log (seed {seed})")
    subs = {r: subsample_customers(g, max_targets, seed=seed) for r, g in logs.items()}
    report = run_audits(
        *subs.values(), audits=audits, seed=seed, max_targets=max_targets, progress=say
    )
    metrics, everyone = dict(report.metrics), ""
    if "exact_copy_share" in audits:
        say("exact copies: one streamed pass over train and holdout")
        syn = journey_hashes(subs["synthetic"])  # the journeys `prepare` checks: all of them
        for role, key in (("train", ""), ("holdout", "_holdout")):
            metrics[f"exact_copy_share{key}"] = streamed_copy_share(syn, logs[role])
        everyone = "exact_copy_share, exact_copy_share_holdout (against every customer)"
    scale = {
        "customers": {r: g.n_customers for r, g in logs.items()},
        "subsample_customers": {r: g.n_customers for r, g in subs.items()},
        "subsample_seed": seed,
        "all_customers": everyone,
        "subsampled": ", ".join(k for k in metrics if not k.startswith("exact_copy")),
    }
    return AuditReport(metrics=metrics, sizes=report.sizes, scale=scale)


def streamed_copy_share(hashes: np.ndarray, real: EventLog | StreamedLog) -> float:
    """Share of `hashes` (synthetic journeys) equal to a journey of `real`, read a chunk at
    a time; memory: the hashes found."""
    wanted, found = set(hashes), set()
    for chunk in each_chunk(real):
        found.update(wanted.intersection(journey_hashes(chunk)))
    return float(np.mean([h in found for h in hashes]))


def _check_logs(*logs: EventLog, overlap: bool = True) -> None:
    names = [g.schema.all_names for g in logs]
    if any(n != names[0] for n in names):
        raise ConfigError(
            "train, holdout and synthetic logs have different columns "
            f"({names}); audit logs that share one schema"
        )
    if overlap:
        _refuse_overlap(set(logs[0].customers) & set(logs[1].customers))


def _refuse_overlap(overlap: set) -> None:
    if overlap:
        raise DataError(
            f"{len(overlap)} customer(s) are in both train and holdout, e.g. {sorted(overlap)[:3]}",
            fix="split with journeylab split",
        )
