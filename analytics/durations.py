"""Exact percentiles of the statistics' durations over long windows, from their histograms.

``percentile_cont(p)`` over n values sorted ascending, v_0 … v_(n−1), is at x = p·(n − 1)
``v_⌊x⌋ + (x − ⌊x⌋)·(v_⌈x⌉ − v_⌊x⌋)`` (PostgreSQL's orderedsetaggs.c; numpy's "linear"): two
values of known rank, not all of them. ``complaint_duration_rollup`` (migration 0025) counts
the durations per city month, category and bucket (``duration_bucket``: ranges of hours in the
values' order); summed over a window (:func:`analytics.rollups.duration_rows`) they give the
bucket holding each rank and how many durations lie below it. ``complaint_duration_fine_rollup``
(0038) counts them in buckets eight times finer; summed only within the large buckets that
hold a rank (:data:`REFINED_ABOVE`), it gives the fine bucket holding it and how many lie below
that. The two values are then read from that bucket's complaints alone (fine, or coarse when
small), in order, through the indexes on (category, bucket, reception time) of its size, each
bucket once for all the ranks it holds (a percentile's two neighbours lie in one bucket but for
the last of one), and interpolated here with percentile_cont's own arithmetic: the same floats
as the sort of every duration, at the cost of a bucket's complaints, not the window's. Summing
the fine histogram whole would cost eight times the coarse one; reading whole large buckets
grew with the complaints (docs/benchmarks.md, "Breakdowns at 10M, sixth pass"). Counts and
values are read by one statement, so that a write between them cannot shift a rank.
"""

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from analytics.query import complaint_where
from analytics.rollups import DurationRows, duration_rows, whole_days
from db.complaints import ComplaintFilter
from db.sql import Fragment, compose, fetch

PERCENTILES = (0.5, 0.9)  # the median and the 90th percentile
# A bucket holding a rank is read whole up to this many durations; above it, only the eighth
# of it (a fine bucket) that holds the rank. Summing a bucket's fine histogram costs some
# hundreds of rows a category (months × statuses × 8), in every monthly partition of the
# window: at 10M complaints, about what reading 16,000 complaints of a bucket costs. Of the
# thresholds measured (docs/benchmarks.md, "Breakdowns at 10M, sixth pass"), 16,384 was the
# fastest for a year and 4,096 for three years.
REFINED_ABOVE = 16384


@dataclass(frozen=True)
class Measure:
    """A duration: its name in the rollup, its column on ``complaint``, and which complaints
    it is taken over, as SQL over the complaints and over the rollup's rows (``status``)."""

    name: str
    column: str
    counted: str
    rolled: str


# In one statement, so that the counts and the complaints read are one snapshot: the
# durations of the measures asked at the window's edges, in fine buckets, read once; those of
# its whole months and its edges per category and bucket, counted once for every group that
# takes them ({keys}: all of them, under TOTAL_KEY, and/or their category), each group's
# durations per bucket (and the categories that have some there), the number below each
# bucket, the ranks percentile_cont needs, the buckets holding them (held), the fine buckets
# of each such bucket of more than :refined_above durations, counted over the group's
# categories in it (the fine histogram's months, and the edges; the number below a fine
# bucket is that below its coarse one plus its elder siblings'), the fine bucket (or, in a
# bucket not refined, the bucket) holding each rank, and the values of those ranks from its
# complaints, skipping those below them.
PERCENTILES_SQL = """
    WITH edges AS MATERIALIZED (
        SELECT category_code, measure, status, bucket, sum(complaints) AS complaints
        FROM ({edges}) AS e WHERE {counted} GROUP BY 1, 2, 3, 4),
    summed AS (
        SELECT category_code, measure, bucket, sum(complaints) AS n
        FROM ({months} UNION ALL
              SELECT category_code, measure, status, bucket >> 3, complaints FROM edges) AS r
        WHERE {counted} GROUP BY 1, 2, 3),
    counted AS (
        SELECT k.key, s.category_code, s.measure, s.bucket, s.n
        FROM summed AS s CROSS JOIN LATERAL (VALUES {keys}) AS k(key)),
    buckets AS (
        SELECT key, measure, bucket, array_agg(category_code) AS categories, sum(n) AS n
        FROM counted GROUP BY 1, 2, 3),
    placed AS (
        SELECT *, CAST(sum(n) OVER (PARTITION BY key, measure ORDER BY bucket) - n AS bigint)
                      AS below,
                  CAST(sum(n) OVER (PARTITION BY key, measure) AS bigint) AS total
        FROM buckets),
    ranks AS (
        SELECT DISTINCT t.key, t.measure, t.total, CAST(v.rank AS bigint) AS rank
        FROM (SELECT DISTINCT key, measure, total FROM placed) AS t
        CROSS JOIN unnest(CAST(:percentiles AS float8[])) AS p(fraction)
        CROSS JOIN LATERAL (VALUES (floor(p.fraction * (t.total - 1))),
                                   (ceil(p.fraction * (t.total - 1)))) AS v(rank)),
    held AS (
        SELECT r.key, r.measure, r.total, r.rank, b.bucket, b.categories, b.below, b.n
        FROM ranks r JOIN placed b ON (b.key, b.measure) = (r.key, r.measure)
                                  AND r.rank >= b.below AND r.rank < b.below + b.n),
    narrowed AS (
        SELECT DISTINCT key, measure, bucket, CAST(NULL AS integer) AS fine, categories, n,
                        below
        FROM held WHERE n <= :refined_above
        UNION ALL
        SELECT h.key, h.measure, h.bucket, f.bucket, f.categories, f.n,
               CAST(h.below + sum(f.n) OVER (PARTITION BY h.key, h.measure, h.bucket
                                             ORDER BY f.bucket) - f.n AS bigint)
        FROM (SELECT DISTINCT key, measure, bucket, categories, below FROM held
              WHERE n > :refined_above) AS h
        CROSS JOIN LATERAL (
            SELECT r.bucket, array_agg(DISTINCT r.category_code) AS categories,
                   sum(r.complaints) AS n
            FROM ({fine_months} UNION ALL SELECT * FROM edges) AS r
            WHERE r.measure = h.measure AND r.bucket BETWEEN h.bucket * 8 AND h.bucket * 8 + 7
              AND r.category_code = ANY(h.categories) AND {counted}
            GROUP BY r.bucket HAVING sum(r.complaints) <> 0) AS f),
    probes AS (
        SELECT h.key, h.measure, h.total, f.bucket, f.fine, f.categories, f.below,
               min(h.rank) AS first, max(h.rank) AS last
        FROM held h JOIN narrowed f ON (f.key, f.measure) = (h.key, h.measure)
                                 AND h.rank >= f.below AND h.rank < f.below + f.n
        GROUP BY h.key, h.measure, h.total, f.bucket, f.fine, f.categories, f.below)
    SELECT p.key, p.measure, p.total, p.first, CASE p.measure {values} END AS hours
    FROM probes p"""

# The values of ranks p.first to p.last of measure {name}, in order, from the complaints of
# p's bucket, or of its fine bucket when it has one: one read for all the ranks it holds (a
# percentile's two neighbours, most often), whatever offset they are at. Each through the
# bucket indexes of its size (an equality on the bucket, so that the window's reception times
# bound the scan); the CASE runs only the one chosen.
VALUE = """
    WHEN '{name}' THEN CASE WHEN p.fine IS NULL THEN {coarse} ELSE {fine} END"""
PROBE = """ARRAY(
        SELECT complaint.{column} FROM complaint
        WHERE {where} AND {counted} AND complaint.category_code = ANY(p.categories)
          AND complaint.{column} IS NOT NULL AND {bucket}
        ORDER BY 1 OFFSET p.first - p.below LIMIT p.last - p.first + 1)"""
BUCKETS = {"coarse": "duration_bucket(complaint.{column}) = p.bucket",
           "fine": "duration_fine_bucket(complaint.{column}) = p.fine"}


def positions(n: int) -> list[tuple[int, int, float]]:
    """percentile_cont's two ranks (from 0) and the fraction between them, per percentile of
    n values."""
    found = []
    for p in PERCENTILES:
        x = p * (n - 1)
        first = math.floor(x)
        found.append((first, math.ceil(x), x - first))
    return found


# The group of every duration (no category code is empty); 0 in what :func:`percentiles` gives.
TOTAL_KEY = "''"


def answered(f: ComplaintFilter) -> bool:
    """Whether the histograms answer ``f`` exactly (:func:`percentiles` is not None)."""
    return _rows(f) is not None


def _rows(f: ComplaintFilter) -> DurationRows | None:
    """The histograms' rows over ``f``'s whole days, or None (:func:`duration_rows`)."""
    days = whole_days(f)
    return duration_rows(days) if days is not None else None


def percentiles(conn: Connection, f: ComplaintFilter, measures: Sequence[Measure], *,
                in_total: bool, per_category: bool
                ) -> dict[Any, dict[str, list[float]]] | None:
    """{group key (0 for all the complaints, ``in_total``; each category, ``per_category``):
    {measure name: the percentiles}} of the complaints matching ``f``, both groupings from
    one read of the histograms; None when the rollup cannot answer the filter exactly."""
    rows = _rows(f)
    if rows is None:
        return None
    keys = [key for key, asked in ((TOTAL_KEY, in_total), ("s.category_code", per_category))
            if asked]
    values = {f"value{n}": _value(m, complaint_where(f, f"m{n}"))
              for n, m in enumerate(measures)}
    statement = rows.compose(
        PERCENTILES_SQL, keys=", ".join(f"({key})" for key in keys),
        counted="(" + " OR ".join(f"(measure = '{m.name}' AND {m.rolled})" for m in measures)
        + ")", values=compose(" ".join(f"{{{name}}}" for name in values), **values))
    found: dict[tuple[Any, str], tuple[int, dict[int, float]]] = {}
    for r in fetch(conn, statement.bind(percentiles=list(PERCENTILES),
                                        refined_above=REFINED_ABOVE)):
        ranked = found.setdefault((r.key, r.measure), (r.total, {}))[1]
        ranked.update(enumerate(r.hours, start=r.first))
    result: dict[Any, dict[str, list[float]]] = defaultdict(dict)
    for (key, name), (total, ranked) in found.items():
        group = 0 if key == "" else key  # TOTAL_KEY as it comes back
        result[group][name] = [interpolate(ranked, first, second, fraction)
                               for first, second, fraction in positions(total)]
    return result


def _value(m: Measure, where: Fragment) -> Fragment:
    """:data:`VALUE` of measure ``m`` over the complaints ``where`` selects: its two probes
    (:data:`BUCKETS`) share the filter, whose values are bound once."""
    probes = {size: compose(PROBE, column=m.column, counted=m.counted, where=where.text,
                            bucket=bucket.format(column=m.column))
              for size, bucket in BUCKETS.items()}
    return compose(VALUE, name=m.name, **probes).bind(**where.params)


def interpolate(values: dict[int, float], first: int, second: int, fraction: float) -> float:
    """percentile_cont's result (float8_lerp: the first value alone when the ranks agree)."""
    low = values[first]
    return low + fraction * (values[second] - low) if second > first else low
