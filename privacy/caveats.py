"""What empirical privacy numbers do not promise: one wording for the audits, the
privacy card and the app. A light module (no numpy, no scikit-learn) so that the
card and the pages can say it without importing the audits."""

AUDIT_CAVEAT = (
    "Computed on real data (train and holdout customers): these empirical results are "
    "not covered by the differential-privacy guarantee and are not themselves private. "
    "An attack can show a leak; a failed attack does not prove there is none."
)

PREFIX_CAVEAT = (
    "journeys completed from real prefixes (`journeylab sample --prefix`, scenarios on a "
    "real log): the prefixes are real personal data, copied into the output unchanged, and "
    "the continuations depend on them; the DP guarantee covers neither"
)
