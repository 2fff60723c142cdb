"""Exact percentiles of the statistics' durations per routed district or ward, from the
durations packed per month and area.

``complaint_area_duration_values`` (migration 0032) holds every duration once, packed as
``float8send`` writes it, per city month, measure (first action; resolution, with the
status), district and ward. A breakdown over a window of whole days reads the rows of its
whole months and, from the complaints, the durations of the days at its edges
(``analytics.rollups.month_split``: an edge longer than the rest of its month, or whose days
outside the window have not begun, is read as the whole month less those days). PostgreSQL
strings them together as it reads them, a month (a partition, migration 0036) or an edge at
a time: per measure, all the rows' values as one string of bytes, and beside it each row's
(district, ward) and number of values (:data:`SIGNED`). Whether a month or an edge is
counted, taken away, or a month they are taken from is known when the statement is written,
so each row evaluates only its own sign's aggregates (twelve filtered aggregates a row cost
more than the bytes at 1M). No sort, and no grouping by area: a year at 10 million
complaints is some 130,000 rows of about 800 bytes, which sorting by area spilled to disk,
and which parsed one by one here cost more than the numbers themselves; and no string of a
whole archive either (joined in one aggregate, three years' strings took longer to build and
to send than the months' apart). numpy then orders the rows by their routed (district, ward)
pair (:func:`by_pair`); a pair's values serve both levels: a district's values are its
pairs', and so are a ward's (:func:`at_level`). It takes the edges' values away from their
months' for all pairs at once (:func:`without_each`), and selects the ranks
``percentile_cont`` interpolates between (:func:`analytics.durations.positions`): the same
floats as PostgreSQL's sort of them.
"""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Connection

from analytics.durations import Measure, interpolate, positions
from analytics.rollups import (
    MonthSplit,
    each_month,
    edge_where,
    monthly_split,
    months_where,
    union_all,
    whole_days,
)
from db.complaints import ComplaintFilter
from db.sql import Fragment, compose, copied, sql

# Each month's or edge's rows have one sign (1: to count; -1: to take away, the edges'
# values; 0: the months they are taken from, kept apart so that only their values are sorted
# to find those taken). Per measure, two strings of bytes over the same rows in the same
# order: each row's routed (district, ward) pair as one 64-bit integer (NO_AREA for none) and
# its number of values, as int8send and int4send write them (RECORD), and the values.
# Aggregated over the rows as they are read: no sort of them. The other signs' columns are
# NULL (:data:`SIGNS` orders the columns).
SIGNED = """
    string_agg(int8send((CAST(coalesce(district_id, {none}) AS bigint) << 32)
                        | coalesce(ward_id, {none})) || int4send(octet_length(hours) / 8),
               ''::bytea) FILTER (WHERE measure = '{measure}'),
    string_agg(hours, ''::bytea) FILTER (WHERE measure = '{measure}')"""
UNSIGNED = "NULL::bytea, NULL::bytea"
SIGNS = (1, 0, -1)
MONTHS = """
    SELECT {aggregates} FROM complaint_area_duration_values
    WHERE {months} AND ({counted})"""
EDGE = """
    SELECT {aggregates}
    FROM (SELECT complaint.district_id, complaint.ward_id, k.measure, k.status,
                 float8send(CASE k.measure WHEN 'first_action' THEN complaint.hours_to_first_action
                                           ELSE complaint.hours_to_resolution END) AS hours
          FROM complaint CROSS JOIN LATERAL duration_keys(
              complaint.status, complaint.hours_to_first_action,
              complaint.hours_to_resolution) AS k
          WHERE {edge}) AS edge
    WHERE {counted}"""
PACKED = np.dtype(">f8")  # float8send: 8 bytes, big-endian
RECORD = np.dtype([("pair", ">i8"), ("values", ">i4")])
NO_AREA = 0  # a routed area's id where there is none (ids are serial, from 1)
LEVELS = {"district_id": 0, "ward_id": 1}  # a pair's member at each level
K = TypeVar("K")

Values = dict[Any, dict[str, np.ndarray]]  # group key → measure name → the durations


def answered(f: ComplaintFilter) -> MonthSplit | None:
    """The window of ``f`` as the packed durations' months and edges, or None when they
    cannot answer ``f`` exactly: they have no category, the first action no status, and no
    whole month may fit the window."""
    days = whole_days(f)
    return None if days is None else monthly_split(days)


def statement(f: ComplaintFilter, measures: Sequence[Measure]) -> Fragment | None:
    """SQL: rows of two columns per measure and sign (:data:`SIGNED`, in the order of
    ``measures``, then of :data:`SIGNS`), one row per whole month (a partition each,
    migration 0036; when the window is open, one for the months counted and one for those
    that edges take from) and per edge, or None when the packed durations cannot answer
    ``f`` exactly (:func:`answered`). A row's sign is known here: only its columns are
    aggregated, the others are NULL."""
    split = answered(f)
    if split is None:
        return None
    counted = " OR ".join(f"(measure = '{m.name}' AND {m.rolled})" for m in measures)

    def aggregates(sign: int) -> str:
        return ", ".join(SIGNED.format(none=NO_AREA, measure=m.name) if each == sign
                         else UNSIGNED for m in measures for each in SIGNS)

    taken_from = set(split.taken_from)
    months = each_month(split)
    if months is None:  # open: the months to count, and those that edges take from
        chosen = [(1, compose("{months} AND month <> ALL(CAST(:taken_from AS date[]))",
                              months=months_where(split)))]
        if taken_from:
            chosen.append((0, sql("month = ANY(CAST(:taken_from AS date[]))")))
    else:
        chosen = [(0 if month in taken_from else 1, sql(f"month = :month{n}",
                                                         **{f"month{n}": month}))
                  for n, month in enumerate(months)]
    rows = [compose(MONTHS, aggregates=aggregates(sign), months=where, counted=counted)
            for sign, where in chosen]
    rows += [compose(EDGE, aggregates=aggregates(sign), edge=edge_where(split, n),
                     counted=counted)
             for n, (_, _, sign) in enumerate(split.edges)]
    found = union_all(rows)
    return found if months is not None else found.bind(taken_from=sorted(taken_from))


def values(conn: Connection, f: ComplaintFilter, measures: Sequence[Measure]
           ) -> Values | None:
    """{(district id, ward id): {measure name: its durations}} of the complaints matching
    ``f``, per routed pair; None when the packed durations cannot answer ``f`` exactly
    (:func:`statement`)."""
    found = statement(f, measures)
    if found is None:
        return None
    columns = [b"".join(part or b"" for part in column)  # bytes as they are, joined
               for column in zip(*copied(conn, found), strict=True)]
    signed = (by_pair(columns[n], columns[n + 1]) for n in range(0, len(columns), 2))
    result: Values = defaultdict(dict)
    for m in measures:
        by_sign = {sign: next(signed) for sign in SIGNS}
        counted = by_sign[1]
        for pair, rest in without_each(by_sign[0], by_sign[-1]).items():
            counted[pair] = np.concatenate([counted[pair], rest]) if pair in counted else rest
        for pair, hours in counted.items():
            if len(hours):
                result[pair][m.name] = hours
    return result


def by_pair(records: bytes, packed: bytes) -> dict[tuple[int | None, int | None], np.ndarray]:
    """The values of :data:`SIGNED`'s two strings, per routed (district, ward) pair: the rows
    ordered by pair (a stable sort of row numbers, not of values), their values gathered in
    that order, and cut where each pair ends."""
    rows = np.frombuffer(records, RECORD)
    hours = np.frombuffer(packed, PACKED)
    if int(rows["values"].sum()) != len(hours):
        raise ValueError("the rows' counts do not match their values")
    keys, pair_of_row = np.unique(rows["pair"], return_inverse=True)
    order = np.argsort(pair_of_row, kind="stable")
    sizes = rows["values"][order].astype(np.int64)
    starts = (np.cumsum(rows["values"], dtype=np.int64) - rows["values"])[order]
    # Value i of the reordered rows comes from its row's start plus its place in the row.
    taken_at = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes) + np.arange(sizes.sum())
    ordered = hours[taken_at].astype(np.float64)
    ends = np.cumsum(np.bincount(pair_of_row, weights=rows["values"], minlength=len(keys))
                     ).astype(np.int64).tolist()
    return {(_area(key >> 32), _area(key & 0xFFFFFFFF)): ordered[start:end]
            for key, start, end in zip(keys.tolist(), [0, *ends][:-1], ends, strict=True)}


def _area(sent: int) -> int | None:
    return None if sent == NO_AREA else sent


def at_level(pairs: Values, key: str) -> Values:
    """The values per routed pair joined per group of a level (``key``: ``district_id`` or
    ``ward_id``)."""
    joined: dict[Any, dict[str, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    member = LEVELS[key]
    for pair, measures in pairs.items():
        for name, hours in measures.items():
            joined[pair[member]][name].append(hours)
    return {group: {name: np.concatenate(parts) if len(parts) > 1 else parts[0]
                    for name, parts in measures.items()}
            for group, measures in joined.items()}


def percentiles(groups: Values) -> dict[Any, dict[str, list[float]]]:
    """{group key: {measure name: the statistics' percentiles of its values}}."""
    return {group: {name: ranked_percentiles(hours) for name, hours in measures.items()}
            for group, measures in groups.items()}


def without_each(held: dict[K, np.ndarray], taken: dict[K, np.ndarray]) -> dict[K, np.ndarray]:
    """Each group of ``held`` less one occurrence of each of its values ``taken`` (multiset
    differences; every value taken is held as often as it is taken: the edges are read in the
    same snapshot as the months). All groups at once: one sort of them all, instead of two a
    group (thousands of wards). Only the values held that may equal a value taken
    (:func:`_may_equal`) are sorted with those taken: a month holds about five times the values
    of the week at its edge, and sorting them all cost a year's breakdown at 10 million
    complaints 45 ms a duration (docs/benchmarks.md, "seventh pass")."""
    if taken.keys() - held.keys():
        raise ValueError("taking away durations that the months do not hold")
    if not held:
        return {}
    keys = list(held)
    group_of = np.arange(len(keys))
    values = np.concatenate([held[k] for k in keys])
    held_groups = np.repeat(group_of, [len(held[k]) for k in keys])
    gone = [taken.get(k, np.empty(0)) for k in keys]
    gone_values = np.concatenate(gone)
    may_go = _may_equal(values, gone_values)
    # A value's rank among those that may go and those taken makes (group, value) one integer
    # to sort.
    ranks = np.unique(np.concatenate([values[may_go], gone_values]),
                      return_inverse=True)[1].ravel()
    width = int(ranks.max()) + 1 if len(ranks) else 1
    held_keys = held_groups[may_go] * width + ranks[:len(may_go)]
    gone_keys = np.sort(np.repeat(group_of, [len(g) for g in gone]) * width
                        + ranks[len(may_go):])
    order = np.argsort(held_keys, kind="stable")
    ordered = held_keys[order]
    # The n-th repeat of a value taken is that value's n-th occurrence among those held.
    drop = (np.searchsorted(ordered, gone_keys) + np.arange(len(gone_keys))
            - np.searchsorted(gone_keys, gone_keys))
    if np.any(drop >= len(ordered)) or not np.array_equal(ordered[drop], gone_keys):
        raise ValueError("taking away durations that the months do not hold")
    kept = np.ones(len(values), dtype=bool)
    kept[may_go[order[drop]]] = False
    counts = np.bincount(held_groups[kept], minlength=len(keys))
    return dict(zip(keys, np.split(values[kept], np.cumsum(counts)[:-1]), strict=True))


def _may_equal(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """The positions in ``values`` of those that may equal one of ``among``: all that do, and
    about one in eight of the others. A table of bits marks the hashes of ``among``; a value
    whose hash is not marked equals none of them. (Searching a sorted copy of ``among`` for
    each value took as long as sorting them all.)"""
    if not len(among):
        return np.empty(0, dtype=np.int64)
    bits = max(10, int(len(among) * 8 - 1).bit_length())
    marked = np.zeros(1 << bits, dtype=bool)
    marked[_hashed(among, bits)] = True
    return np.flatnonzero(marked[_hashed(values, bits)])


def _hashed(values: np.ndarray, bits: int) -> np.ndarray:
    """``bits`` bits of a hash of each value (Fibonacci hashing of its IEEE bits), equal for
    equal values: 0.0 + 0.0 and -0.0 + 0.0 are both 0.0, as ``==`` takes them to be."""
    ieee = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)
    return (ieee * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)


def ranked_percentiles(values: np.ndarray) -> list[float]:
    """``percentile_cont`` of ``values`` at each of the statistics' percentiles."""
    wanted = positions(len(values))
    ranks = sorted({rank for first, second, _ in wanted for rank in (first, second)})
    chosen = np.partition(values, ranks)
    at = {rank: float(chosen[rank]) for rank in ranks}
    return [interpolate(at, first, second, fraction) for first, second, fraction in wanted]
