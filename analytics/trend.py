"""Space-time patterns: the Mann–Kendall trend test and the emerging hot spot categories.

A location's Gi* z-scores over consecutive time steps form a series. Mann–Kendall says whether
it rises or falls monotonically beyond chance; together with which steps were significant hot
or cold spots, that places the location in one of ArcGIS's Emerging Hot Spot Analysis patterns
(ArcGIS Pro, "How Emerging Hot Spot Analysis works"):

* new: significant hot in the final step only, never before;
* consecutive: a single run of ≥ 2 significant hot steps ending at the final step, never hot
  before the run, and hot in < 90 % of the steps;
* intensifying / persistent / diminishing: hot in ≥ 90 % of the steps including the final
  one, with a significant upward / no significant / a significant downward trend;
* sporadic: hot in the final step, hot on and off before (< 90 %), never significant cold;
* oscillating: hot in the final step, < 90 % hot, and significant cold in some earlier step;
* historical: not hot in the final step but hot in ≥ 90 % of the steps;

and the same for cold spots (with "cold" and a downward trend meaning intensifying), else no
pattern. The checks go in that order: the first that matches names the location.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from analytics.statistics import two_sided_p

MOSTLY = 0.9


@dataclass(frozen=True)
class Trend:
    s: int  # Kendall's S: concordant minus discordant pairs of (time, value)
    variance: float  # Var(S) under no trend, corrected for tied values
    z: float  # continuity-corrected: (S − sign S) / sqrt(Var S)
    p: float  # two-sided


def mann_kendall(series: Sequence[float]) -> Trend:
    """The Mann–Kendall test for a monotonic trend in ``series`` (in time order)."""
    return mann_kendall_rows(np.asarray([series], dtype=float))[0]


def mann_kendall_rows(series: np.ndarray) -> list[Trend]:
    """Mann–Kendall for each row of a (locations × time steps) array, vectorised over rows."""
    rows, n = series.shape
    s = np.zeros(rows, dtype=np.int64)
    for i in range(n - 1):
        s += np.sign(series[:, i + 1:] - series[:, i:i + 1]).astype(np.int64).sum(axis=1)
    trends = []
    for row, s_row in zip(series, s.tolist(), strict=True):
        _, ties = np.unique(row, return_counts=True)
        variance = float(n * (n - 1) * (2 * n + 5)
                         - (ties * (ties - 1) * (2 * ties + 5)).sum()) / 18
        if variance <= 0 or s_row == 0:
            trends.append(Trend(s_row, variance, 0.0, 1.0))
            continue
        z = (s_row - _sign(s_row)) / math.sqrt(variance)
        trends.append(Trend(s_row, variance, z, two_sided_p(z)))
    return trends


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


class Pattern(StrEnum):
    NO_PATTERN = "NO_PATTERN"
    NEW_HOT_SPOT = "NEW_HOT_SPOT"
    CONSECUTIVE_HOT_SPOT = "CONSECUTIVE_HOT_SPOT"
    INTENSIFYING_HOT_SPOT = "INTENSIFYING_HOT_SPOT"
    PERSISTENT_HOT_SPOT = "PERSISTENT_HOT_SPOT"
    DIMINISHING_HOT_SPOT = "DIMINISHING_HOT_SPOT"
    SPORADIC_HOT_SPOT = "SPORADIC_HOT_SPOT"
    OSCILLATING_HOT_SPOT = "OSCILLATING_HOT_SPOT"
    HISTORICAL_HOT_SPOT = "HISTORICAL_HOT_SPOT"
    NEW_COLD_SPOT = "NEW_COLD_SPOT"
    CONSECUTIVE_COLD_SPOT = "CONSECUTIVE_COLD_SPOT"
    INTENSIFYING_COLD_SPOT = "INTENSIFYING_COLD_SPOT"
    PERSISTENT_COLD_SPOT = "PERSISTENT_COLD_SPOT"
    DIMINISHING_COLD_SPOT = "DIMINISHING_COLD_SPOT"
    SPORADIC_COLD_SPOT = "SPORADIC_COLD_SPOT"
    OSCILLATING_COLD_SPOT = "OSCILLATING_COLD_SPOT"
    HISTORICAL_COLD_SPOT = "HISTORICAL_COLD_SPOT"


def classify(bins: Sequence[int], trend: Trend, alpha: float) -> Pattern:
    """The pattern of one location from its per-step Gi* bins (> 0 significant hot, < 0
    significant cold, 0 neither) and the Mann–Kendall trend of its z-scores."""
    for kind, sign in (("HOT", 1), ("COLD", -1)):
        name = _classify_one([b * sign > 0 for b in bins], [b * sign < 0 for b in bins],
                             trend.z * sign, trend.p < alpha)
        if name is not None:
            return Pattern(f"{name}_{kind}_SPOT")
    return Pattern.NO_PATTERN


def _classify_one(spot: list[bool], opposite: list[bool], rising: float,
                  significant_trend: bool) -> str | None:
    """The pattern name for hot spots (or for cold ones, with flags and trend mirrored)."""
    n = len(spot)
    if n == 0:
        return None
    mostly = sum(spot) >= MOSTLY * n
    if not spot[-1]:
        return "HISTORICAL" if mostly else None
    if mostly:
        if significant_trend:
            return "INTENSIFYING" if rising > 0 else "DIMINISHING"
        return "PERSISTENT"
    run = next((k for k in range(n) if not spot[n - 1 - k]), n)  # length of the final run
    earlier = spot[: n - run]
    if run == 1 and not any(earlier):
        return "NEW"
    if run >= 2 and not any(earlier):
        return "CONSECUTIVE"
    if any(opposite):
        return "OSCILLATING"
    return "SPORADIC"
