"""Getis–Ord Gi*, its p-values and confidence bins, and Benjamini–Hochberg FDR.

Gi* (Getis & Ord 1992; Ord & Getis 1995) with binary weights that include the unit itself:
for unit i with value x_i, ``W_i`` neighbours (itself included) and neighbour sum ``L_i``,

    z_i = (L_i − x̄·W_i) / (S · sqrt((n·W_i − W_i²) / (n − 1)))

where x̄ and S are the mean and the population standard deviation of all n values. This is
what ArcGIS's Hot Spot Analysis and PySAL's ``esda.G_Local(y, w, transform='B', star=True)``
compute. The neighbour sums come from ``analytics/hotspots.py``; this module only does the
arithmetic of Gi*.
"""

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

# ArcGIS's Gi_Bin: ±3 at 99 % confidence, ±2 at 95 %, ±1 at 90 %, 0 not significant.
CONFIDENCE_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))


class GiStar(NamedTuple):  # a tuple: tens of thousands are made per space-time cube
    z: float | None  # None where undefined: all values equal, or every unit is a neighbour
    p: float | None  # two-sided, normal approximation
    bin: int


def gi_star_z(values: Sequence[float], lag: Sequence[float],
              cardinality: Sequence[float]) -> list[float | None]:
    """z-scores of Gi* from each unit's value, neighbour sum and neighbour count (self incl.)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2:
        return [None] * n
    mean = x.mean()
    s = math.sqrt(max(0.0, float((x * x).mean() - mean * mean)))
    w = np.asarray(cardinality, dtype=float)
    spread = (n * w - w * w) / (n - 1)
    defined = (spread > 0) & (s != 0)
    # Whole arrays at once (a space-time cube has tens of thousands of bins): the same
    # IEEE operations, in the same order, as one bin at a time.
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.asarray(lag, dtype=float) - mean * w) / (s * np.sqrt(spread))
    return [v if ok else None for v, ok in zip(z.tolist(), defined.tolist(), strict=True)]


def two_sided_p(z: float) -> float:
    """P(|Z| ≥ |z|) for a standard normal Z."""
    return math.erfc(abs(z) / math.sqrt(2))


def fdr_cutoff(pvalues: Sequence[float], alpha: float) -> float:
    """The Benjamini–Hochberg p-value cut-off at false discovery rate ``alpha``: p-values
    strictly below it are significant. As in ``esda.fdr``: with m tests sorted ascending, the
    largest k·alpha/m with p_(k) < k·alpha/m; alpha/m (Bonferroni) when there is none."""
    m = len(pvalues)
    if m == 0:
        return alpha
    ranked = np.sort(np.asarray(pvalues, dtype=float))
    thresholds = np.arange(1, m + 1) * alpha / m
    passing = np.flatnonzero(ranked < thresholds)
    return float(thresholds[passing[-1]]) if len(passing) else alpha / m


def gi_star(values: Sequence[float], lag: Sequence[float], cardinality: Sequence[float],
            fdr: bool = False) -> list[GiStar]:
    """Gi* for every unit, binned by confidence; with ``fdr`` each level's cut-off is the
    Benjamini–Hochberg one over all units instead of the level itself."""
    zs = gi_star_z(values, lag, cardinality)
    ps = [None if z is None else two_sided_p(z) for z in zs]
    defined = [p for p in ps if p is not None]
    cutoffs = [(b, fdr_cutoff(defined, alpha) if fdr else alpha) for b, alpha in CONFIDENCE_LEVELS]
    bins = confidence_bins(zs, ps, cutoffs)
    return [GiStar(z, p, b) for z, p, b in zip(zs, ps, bins, strict=True)]


def confidence_bins(zs: Sequence[float | None], ps: Sequence[float | None],
                    cutoffs: list[tuple[int, float]]) -> list[int]:
    """±level of the first (strictest) confidence level whose cut-off p is below, else 0 (and 0
    where z is undefined), for every unit at once: each level from the loosest to the strictest
    overwrites those below its cut-off, so the strictest one met stays."""
    z = np.array([np.nan if v is None else v for v in zs], dtype=float)
    p = np.array([np.nan if v is None else v for v in ps], dtype=float)
    bins = np.zeros(len(z), dtype=int)
    for level, cutoff in reversed(cutoffs):
        bins[p < cutoff] = level  # NaN (undefined) is never below
    return (bins * np.where(z > 0, 1, -1)).tolist()
