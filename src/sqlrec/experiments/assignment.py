"""Experiment assignment in Python: the same arms as the SQL macro `assign_variants` (macros/experiments.sql), for
notebooks and for checking the engines against each other, and the sample-ratio-mismatch check.

>>> from sqlrec.config import ExperimentSpec, Variant
>>> spec = ExperimentSpec(name="home", description="", control="A", salt="s1", holdout=0.1, holdout_gets="control",
...                       metric="ndcg", k=10, alpha=0.05, bootstrap=200, seed=7, rounds=1, truth=None,
...                       variants=(Variant("A", 1.0, "", {}), Variant("B", 1.0, "", {})))
>>> md5_unit("s1:home:42") == int(hashlib.md5(b"s1:home:42").hexdigest()[:8], 16) / 2**32
True
>>> assign(42, spec).arm in ("A", "B", "holdout")
True
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Mapping

from scipy import stats

from ..config import BUCKETS, ExperimentSpec

SRM_ALPHA = 0.001  # the usual threshold: a mismatch this unlikely means the assignment or the logging is broken


def md5_unit(text: str) -> float:
    """A number in [0, 1) from the first 32 bits of md5(text), as the SQL macro md5_unit computes it."""
    return int(hashlib.md5(text.encode("utf-8")).hexdigest()[:8], 16) / 2 ** 32


@dataclass(frozen=True)
class Assignment:
    bucket: int
    variant: str | None  # None when held out
    shown: str | None  # the variant whose list the user sees

    @property
    def arm(self) -> str:
        return self.variant or "holdout"


def assign(user_id, spec: ExperimentSpec) -> Assignment:
    """The arm of one user: the bucket of md5(salt:experiment:user_id), then a weighted race between variants."""
    key = f"{spec.salt}:{spec.name}:{user_id}"
    bucket = math.floor(md5_unit(key) * BUCKETS)
    if bucket < spec.holdout_buckets:
        return Assignment(bucket, None, spec.control if spec.holdout_gets == "control" else None)
    finish = {v.name: -math.log(md5_unit(f"{key}:{v.name}") + 0.5 / 2 ** 32) / v.traffic for v in spec.variants}
    winner = min(finish, key=lambda name: (finish[name], name))
    return Assignment(bucket, winner, winner)


@dataclass(frozen=True)
class SampleRatioCheck:
    observed: Mapping[str, int]
    expected: Mapping[str, float]  # expected counts
    chi2: float
    p_value: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_ALPHA


def sample_ratio_check(counts: Mapping[str, int], spec: ExperimentSpec) -> SampleRatioCheck:
    """Chi-square goodness of fit of the users per arm against the configured shares (arms with share 0 left out)."""
    shares = {arm: share for arm, share in spec.shares.items() if share > 0}
    total = sum(counts.get(arm, 0) for arm in shares)
    observed = {arm: int(counts.get(arm, 0)) for arm in shares}
    expected = {arm: total * share for arm, share in shares.items()}
    if total == 0:
        return SampleRatioCheck(observed, expected, 0.0, 1.0)
    result = stats.chisquare(list(observed.values()), list(expected.values()))
    return SampleRatioCheck(observed, expected, float(result.statistic), float(result.pvalue))
