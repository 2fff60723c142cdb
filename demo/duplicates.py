"""Planted duplicates and near misses in the demo history, for the duplicate scorer to learn.

A citizen who finds a problem already reported rarely finds the report: the same problem is
reported again nearby (tens of metres), hours or days later, reworded (the texts module
varies each text on its own: synonyms, typos, no diacritics). Every complaint the history
closes as DUPLICATE is such a report, pointing at the original (the officials' ``markDuplicate``
decision); a few more are still open, undecided. Near misses are the hard negatives: a
different complaint at the same place and time, which only its text and category tell apart.
"""

import math

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

UNDECIDED_SHARE = 0.05  # of the complaints no official has acted on: planted, not yet marked
NEAR_MISS_SHARE = 0.1  # of the others: moved next to an unrelated recent complaint
MIN_DELAY_S = 3_600
MAX_DELAY_S = 5 * 86_400
DUPLICATE_SIGMA_M = 40.0
NEAR_MISS_SIGMA_M = DUPLICATE_SIGMA_M  # the same corner, another problem
_METRES_PER_DEGREE = 111_320.0


def plant_duplicates(rng: np.random.Generator, outline: BaseGeometry, lon: np.ndarray,
                     lat: np.ndarray, category: np.ndarray, created: np.ndarray,
                     marked: np.ndarray, undecided: np.ndarray) -> np.ndarray:
    """Make the ``marked`` complaints (and a share of the ``undecided`` ones) repeat an
    earlier complaint 1 h – 5 days before, and a share of the rest land near one; moves
    points and copies categories in place. Returns each complaint's original (index into the
    time-ordered arrays, the root of a chain) or -1. ``created`` must be sorted."""
    n = len(created)
    earliest = np.searchsorted(created, created - MAX_DELAY_S, side="left")
    latest = np.searchsorted(created, created - MIN_DELAY_S, side="right")
    has_earlier = latest > earliest
    draws = rng.random((3, n))
    duplicate = has_earlier & (marked | (undecided & (draws[0] < UNDECIDED_SHARE)))
    near_miss = has_earlier & ~duplicate & ~marked & (draws[1] < NEAR_MISS_SHARE)
    picked = earliest + np.floor(draws[2] * (latest - earliest)).astype(np.int64)
    original = np.full(n, -1, dtype=np.int64)
    for i in np.flatnonzero(duplicate | near_miss):  # time order: earlier roots are known
        j = int(picked[i])
        if duplicate[i]:
            j = int(original[j]) if original[j] >= 0 else j
            original[i] = j
            category[i] = category[j]
        sigma = DUPLICATE_SIGMA_M if duplicate[i] else NEAR_MISS_SIGMA_M
        lon[i], lat[i] = _near(rng, outline, float(lon[j]), float(lat[j]), sigma)
    return original


def _near(rng: np.random.Generator, outline: BaseGeometry, lon: float, lat: float,
          sigma_m: float) -> tuple[float, float]:
    """A point about ``sigma_m`` from (lon, lat) inside the outline (else the point itself)."""
    dx, dy = rng.normal(0.0, sigma_m, size=(2, 8))
    xs = np.round(lon + dx / (_METRES_PER_DEGREE * math.cos(math.radians(lat))), 7)
    ys = np.round(lat + dy / _METRES_PER_DEGREE, 7)
    inside = np.flatnonzero(shapely.contains_xy(outline, xs, ys))
    return (float(xs[inside[0]]), float(ys[inside[0]])) if len(inside) else (lon, lat)
