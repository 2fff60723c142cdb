"""Exact percentiles of the statistics' durations per routed district or ward, from the
durations packed per month and area.

``complaint_area_duration_values`` (migration 0032) holds every duration once, packed as
``float8send`` writes it, per city month, measure (first action; resolution, with the status),
district and ward. A breakdown over a window of whole days reads the rows of its whole months
and, from the complaints, the durations of the days at its edges
(``analytics.rollups.month_split``: an edge longer than the rest of its month is read as the
whole month less the month's days outside the window). PostgreSQL joins each area's values
into one string of bytes (``string_agg``), so a year at 10 million complaints comes as a few
thousand rows, whatever the complaints; numpy reads them as they are and selects the ranks
``percentile_cont`` interpolates between (:func:`analytics.durations.positions`): the same
floats as PostgreSQL's sort of them.
"""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection

from analytics.durations import Measure, interpolate, positions
from analytics.rollups import edge_where, month_split, months_where, union_all, whole_days
from db.complaints import ComplaintFilter
from db.sql import Fragment, compose, fetch

# Each group's values of one measure, with +1 to count them or -1 to take them away: those of
# the whole months, and those of the edges' complaints.
GROUPED = """
    SELECT key, measure, sign, string_agg(hours, ''::bytea) AS hours
    FROM ({rows}) AS r GROUP BY 1, 2, 3"""
MONTHS = """
    SELECT {key} AS key, measure, 1 AS sign, hours
    FROM complaint_area_duration_values WHERE {months} AND ({counted})"""
EDGE = """
    SELECT key, measure, {sign} AS sign, float8send(hours) AS hours
    FROM (SELECT complaint.{key} AS key, k.measure, k.status,
                 CASE k.measure WHEN 'first_action' THEN complaint.hours_to_first_action
                                ELSE complaint.hours_to_resolution END AS hours
          FROM complaint CROSS JOIN LATERAL duration_keys(
              complaint.status, complaint.hours_to_first_action,
              complaint.hours_to_resolution) AS k
          WHERE {edge}) AS edge
    WHERE {counted}"""
PACKED = np.dtype(">f8")  # float8send: 8 bytes, big-endian


def statement(f: ComplaintFilter, key: str, measures: Sequence[Measure]) -> Fragment | None:
    """SQL rows ``(key, measure, sign, hours)``, the values packed, per group ``key`` (a column
    of both the complaints and the packed durations: ``district_id``, ``ward_id``), or None
    when the packed durations cannot answer ``f`` exactly: they have no category, and no
    whole month may fit the window."""
    days = whole_days(f)
    if days is None or days.categories:
        return None
    split = month_split(days) if not days.statuses else None
    if split is None:
        return None
    counted = " OR ".join(f"(measure = '{m.name}' AND {m.rolled})" for m in measures)
    parts = [compose(MONTHS, key=key, months=months_where(split), counted=counted)]
    parts += [compose(EDGE, key=key, sign=str(sign), edge=edge_where(split, n),
                      counted=counted)
              for n, (_, _, sign) in enumerate(split.edges)]
    return compose(GROUPED, rows=union_all(parts))


def percentiles(conn: Connection, f: ComplaintFilter, key: str, measures: Sequence[Measure]
                ) -> dict[Any, dict[str, list[float]]] | None:
    """{group key: {measure name: the percentiles}} of the complaints matching ``f``; None
    when the packed durations cannot answer ``f`` exactly (:func:`statement`)."""
    found = statement(f, key, measures)
    if found is None:
        return None
    signed: dict[tuple[Any, str], dict[int, np.ndarray]] = defaultdict(dict)
    for row in fetch(conn, found):
        signed[(row.key, row.measure)][row.sign] = np.frombuffer(row.hours, PACKED)
    result: dict[Any, dict[str, list[float]]] = defaultdict(dict)
    for (group, name), values in signed.items():
        kept = values.get(1, np.empty(0))
        if -1 in values:
            kept = without(kept, values[-1])
        if len(kept):
            result[group][name] = ranked_percentiles(kept)
    return result


def without(values: np.ndarray, taken: np.ndarray) -> np.ndarray:
    """``values`` less one occurrence of each of ``taken`` (a multiset's difference; every
    value taken is among them as often as it is taken: the edges are read in the same
    snapshot as the months)."""
    values, taken = np.sort(values), np.sort(taken)
    # The n-th repeat of a value taken is that value's n-th occurrence in ``values``.
    drop = np.searchsorted(values, taken) + np.arange(len(taken)) - np.searchsorted(taken, taken)
    if len(drop) and (drop[-1] >= len(values) or not np.array_equal(values[drop], taken)):
        raise ValueError("taking away durations that the months do not hold")
    return np.delete(values, drop)


def ranked_percentiles(values: np.ndarray) -> list[float]:
    """``percentile_cont`` of ``values`` at each of the statistics' percentiles."""
    wanted = positions(len(values))
    ranks = sorted({rank for first, second, _ in wanted for rank in (first, second)})
    chosen = np.partition(values, ranks)
    at = {rank: float(chosen[rank]) for rank in ranks}
    return [interpolate(at, first, second, fraction) for first, second, fraction in wanted]
