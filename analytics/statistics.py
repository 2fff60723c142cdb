"""Getis–Ord Gi*, its p-values and confidence bins, and Benjamini–Hochberg FDR.

Gi* (Getis & Ord 1992; Ord & Getis 1995) with binary weights that include the unit itself:
for unit i with value x_i, ``W_i`` neighbours (itself included) and neighbour sum ``L_i``,

    z_i = (L_i − x̄·W_i) / (S · sqrt((n·W_i − W_i²) / (n − 1)))

where x̄ and S are the mean and the population standard deviation of all n values. This is
what ArcGIS's Hot Spot Analysis and PySAL's ``esda.G_Local(y, w, transform='B', star=True)``
compute. The neighbour sums come from SQL; this module only does the arithmetic.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# ArcGIS's Gi_Bin: ±3 at 99 % confidence, ±2 at 95 %, ±1 at 90 %, 0 not significant.
CONFIDENCE_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))


@dataclass(frozen=True)
class GiStar:
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
    z: list[float | None] = []
    for li, wi, si in zip(np.asarray(lag, dtype=float), w, spread, strict=True):
        z.append(None if s == 0 or si <= 0 else float((li - mean * wi) / (s * math.sqrt(si))))
    return z


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
    return [GiStar(z, p, confidence_bin(z, p, cutoffs)) for z, p in zip(zs, ps, strict=True)]


def confidence_bin(z: float | None, p: float | None, cutoffs: list[tuple[int, float]]) -> int:
    """±level of the first (strictest) confidence level whose cut-off p is below, else 0."""
    if z is None or p is None:
        return 0
    for level, cutoff in cutoffs:
        if p < cutoff:
            return level if z > 0 else -level
    return 0
