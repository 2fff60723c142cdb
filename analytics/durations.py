"""Exact percentiles of the statistics' durations over long windows, from their histograms.

``percentile_cont(p)`` over n values sorted ascending, v_0 … v_(n−1), is at x = p·(n − 1)
``v_⌊x⌋ + (x − ⌊x⌋)·(v_⌈x⌉ − v_⌊x⌋)`` (PostgreSQL's orderedsetaggs.c; numpy's "linear"): two
values of known rank, not all of them. ``complaint_duration_rollup`` (migration 0025) counts
the durations per city month, category and bucket (``duration_bucket``: ranges of hours in
the values' order); summed over a window (:func:`analytics.rollups.duration_rows`) they give
the bucket holding each rank and how many durations lie below it. The two values are then read
from those buckets' complaints alone, in order, through the indexes on (category, bucket,
hours), and interpolated here with percentile_cont's own arithmetic: the same floats as the
sort of every duration, at the cost of a bucket's complaints, not the window's.
"""

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from analytics.query import complaint_where
from analytics.rollups import duration_rows, whole_days
from db.complaints import ComplaintFilter
from db.sql import compose, fetch

PERCENTILES = (0.5, 0.9)  # the median and the 90th percentile


@dataclass(frozen=True)
class Measure:
    """A duration: its name in the rollup, its column on ``complaint``, and which complaints
    it is taken over, as SQL over the complaints and over the rollup's rows (``status``)."""

    name: str
    column: str
    counted: str
    rolled: str


# Each group's count per category and bucket: {bucket: {category: durations}}.
Histogram = dict[int, dict[str, int]]

HISTOGRAM = """SELECT category_code, measure, bucket, sum(complaints) AS n FROM ({rows}) AS r
               WHERE {counted} GROUP BY 1, 2, 3"""

# The values of ranks skip … skip + take − 1 (from 0) within a bucket, for each probe.
PROBES = """
    SELECT p.probe, ARRAY(
        SELECT complaint.{column} FROM complaint
        WHERE {where} AND {counted} AND complaint.category_code = ANY(p.categories)
          AND complaint.{column} IS NOT NULL AND duration_bucket(complaint.{column}) = p.bucket
        ORDER BY 1 OFFSET p.skip LIMIT p.take) AS hours
    FROM jsonb_to_recordset(CAST(:probes AS jsonb))
         AS p(probe integer, categories text[], bucket integer, skip bigint, take integer)"""


def positions(n: int) -> list[tuple[int, int, float]]:
    """percentile_cont's two ranks (from 0) and the fraction between them, per percentile of
    n values."""
    found = []
    for p in PERCENTILES:
        x = p * (n - 1)
        first = math.floor(x)
        found.append((first, math.ceil(x), x - first))
    return found


def percentiles(conn: Connection, f: ComplaintFilter, by_category: bool,
                measures: Sequence[Measure]) -> dict[Any, dict[str, list[float]]] | None:
    """{group key (the category, or 0 for all): {measure name: the percentiles}} of the
    complaints matching ``f``; None when the rollup cannot answer the filter exactly."""
    days = whole_days(f)
    rows = duration_rows(days) if days is not None else None
    if rows is None:
        return None
    counted = " OR ".join(f"(measure = '{m.name}' AND {m.rolled})" for m in measures)
    groups: dict[str, dict[Any, Histogram]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(dict)))
    for r in fetch(conn, compose(HISTOGRAM, rows=rows, counted=f"({counted})")):
        groups[r.measure][r.category_code if by_category else 0][r.bucket][r.category_code] = r.n
    found: dict[Any, dict[str, list[float]]] = defaultdict(dict)
    for m in measures:
        for key, values in _values(conn, f, m, groups[m.name]).items():
            found[key][m.name] = values
    return found


def _values(conn: Connection, f: ComplaintFilter, m: Measure,
            groups: dict[Any, Histogram]) -> dict[Any, list[float]]:
    """The percentiles of ``m`` per group, from the groups' histograms and one statement
    reading the buckets that hold the ranks asked."""
    probes: list[dict[str, Any]] = []
    read: list[tuple[Any, list[tuple[int, int]]]] = []  # per probe: key, [(rank, index)]
    for key, histogram in groups.items():
        ranks = sorted({rank for first, second, _ in positions(_size(histogram))
                        for rank in (first, second)})
        for bucket, offsets in _locate(histogram, ranks).items():
            skip = min(offset for _, offset in offsets)
            probes.append({"probe": len(probes), "categories": sorted(histogram[bucket]),
                           "bucket": bucket, "skip": skip,
                           "take": max(offset for _, offset in offsets) - skip + 1})
            read.append((key, [(rank, offset - skip) for rank, offset in offsets]))
    if not probes:
        return {}
    statement = compose(PROBES, column=m.column, counted=m.counted, where=complaint_where(f))
    value_of: dict[Any, dict[int, float]] = defaultdict(dict)
    for row in fetch(conn, statement.bind(probes=json.dumps(probes))):
        key, wanted = read[row.probe]
        for rank, index in wanted:
            value_of[key][rank] = row.hours[index]
    return {key: [_interpolate(value_of[key], first, second, fraction)
                  for first, second, fraction in positions(_size(histogram))]
            for key, histogram in groups.items()}


def _size(histogram: Histogram) -> int:
    return sum(sum(counts.values()) for counts in histogram.values())


def _locate(histogram: Histogram, ranks: list[int]) -> dict[int, list[tuple[int, int]]]:
    """{bucket: [(rank, offset within the bucket)]} of ``ranks`` (ascending, from 0)."""
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    below, pending = 0, iter(ranks)
    rank = next(pending, None)
    for bucket in sorted(histogram):
        size = sum(histogram[bucket].values())
        while rank is not None and rank < below + size:
            found[bucket].append((rank, rank - below))
            rank = next(pending, None)
        below += size
    return found


def _interpolate(values: dict[int, float], first: int, second: int, fraction: float) -> float:
    """percentile_cont's result (float8_lerp: the first value alone when the ranks agree)."""
    low = values[first]
    return low + fraction * (values[second] - low) if second > first else low
