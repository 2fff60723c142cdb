"""Exact percentiles of the statistics' durations per routed district or ward, from the
durations packed per month and area, reading only the bands of values that hold the ranks.

``complaint_area_duration_values`` (migrations 0032, 0040) holds every duration once, packed
as ``float8send`` writes it, per city month, measure (first action; resolution, with the
status), district and ward; a row's values are grouped in sixteen bands of values
(``complaint_duration_bands``: a value's band is ``width_bucket(hours, edges)``), and its
``bands`` says where each band starts. A breakdown over a window of whole days reads the rows
of its whole months and, from the complaints, the durations of the days at its edges
(``analytics.rollups.month_split``: an edge longer than the rest of its month, or whose days
outside the window have not begun, is read as the whole month less those days). Whether a
month or an edge is counted, taken away, or a month they are taken from is known when a
statement is written, so each row evaluates only its own sign's aggregates (:data:`SIGNS`).

Two statements, in one snapshot (:func:`level_percentiles`):

1. **Where the values lie.** Per measure and sign, each row's routed (district, ward) pair,
   and either its band starts (a row of :data:`BANDED_FROM` values or more) or, smaller, its
   values themselves (its starts would cost about as much); the edges' values whole. numpy
   counts each pair's values per band, sums the pairs into each district and ward, and finds
   the band holding each rank ``percentile_cont`` interpolates between
   (:func:`analytics.durations.positions`) and how many values lie below it.
2. **The values of those bands.** Per pair, the runs of bands that its district's or its
   ward's ranks need, cut from its large rows (``substring`` between ``band_start``\\ s).

numpy then takes the edges' values away from the months they are taken from
(:func:`without_each`), and selects each rank within its band: the same floats as
PostgreSQL's sort of every value, reading a few bands of sixteen (docs/benchmarks.md,
"Breakdowns at 10M, eighth pass"). Everything is aggregated as it is read, with no sort:
a year at 10 million complaints is some 130,000 rows, which sorting by area spilled to disk.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection

from analytics.durations import PERCENTILES, Measure
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
from db.sql import Fragment, compose, copied, fetch, sql

BANDS = 16  # migration 0040
# A row of at least this many values is read by band: below it, its values cost less than
# its band starts and a second read.
BANDED_FROM = 24
# Each month's or edge's rows have one sign (1: to count; -1: to take away, the edges'
# values; 0: the months they are taken from, kept apart so that only their values are sorted
# to find those taken). Per measure and sign, strings of bytes over the same rows in the same
# order: each row's routed (district, ward) pair as one 64-bit integer (NO_AREA for none) and
# its number of values, as int8send and int4send write them (RECORD), and what is read of it.
RECORD_SQL = ("int8send((CAST(coalesce(district_id, {none}) AS bigint) << 32)"
              " | coalesce(ward_id, {none})) || int4send(octet_length(hours) / 8)")
AGGREGATE = "string_agg({what}, ''::bytea) FILTER (WHERE measure = '{measure}'{also})"
SIGNS = (1, 0, -1)
# Statement 1 per measure and sign: small rows' records and values, large rows' records and
# band starts.
LOCATED = ("small records", "small values", "large records", "large starts")
# Statement 2 per measure and sign of the months (1, 0): records and values of the bands read.
READ_SIGNS = (1, 0)
MONTHS = """
    SELECT {aggregates}, {version} FROM {rows}
    WHERE {months} AND ({counted})"""
EDGE = """
    SELECT {aggregates}, {version}
    FROM (SELECT complaint.district_id, complaint.ward_id, k.measure, k.status,
                 float8send(CASE k.measure WHEN 'first_action' THEN complaint.hours_to_first_action
                                           ELSE complaint.hours_to_resolution END) AS hours
          FROM complaint CROSS JOIN LATERAL duration_keys(
              complaint.status, complaint.hours_to_first_action,
              complaint.hours_to_resolution) AS k
          WHERE {edge}) AS edge
    WHERE {counted}"""
# The large rows' runs of bands asked (statement 2): each row once per run of its pair's.
BAND_RUNS = """(
    SELECT r.measure, r.status, r.month, r.district_id, r.ward_id,
           substring(r.hours FROM band_start(r.bands, r.hours, n.first_band) * 8 + 1
                     FOR (band_start(r.bands, r.hours, n.last_band + 1)
                          - band_start(r.bands, r.hours, n.first_band)) * 8) AS hours
    FROM complaint_area_duration_values r
    JOIN unnest(CAST(:run_measures AS text[]), CAST(:run_pairs AS bigint[]),
                CAST(:run_firsts AS integer[]), CAST(:run_lasts AS integer[]))
         AS n(run_measure, pair, first_band, last_band)
      ON n.run_measure = r.measure
     AND n.pair = (CAST(coalesce(r.district_id, {none}) AS bigint) << 32)
                  | coalesce(r.ward_id, {none})
    WHERE octet_length(r.hours) >= {large}) AS runs"""
# The complaints' data version (migration 0003), read by each statement.
VERSION = "(SELECT version FROM data_version WHERE table_name = 'complaint')"
EDGES = f"SELECT measure, edges, {VERSION} AS version FROM complaint_duration_bands"
PACKED = np.dtype(">f8")  # float8send: 8 bytes, big-endian
RECORD = np.dtype([("pair", ">i8"), ("values", ">i4")])
STARTS = np.dtype(">i4")  # int4send: where bands 1 to 15 of a row start
NO_AREA = 0  # a routed area's id where there is none (ids are serial, from 1)
LEVELS = {"district_id": 0, "ward_id": 1}  # a pair's member at each level
SHIFTS = {0: 32, 1: 0}  # where each member lies in a pair's integer

WHOLE = 1 << 40  # a size no row reaches: every row read whole (statement 1 alone)
Groups = dict[Any, list[float]]  # area id → its percentiles
Columns = Callable[[Measure], list[str]]  # a measure's aggregates in a row of one sign


def answered(f: ComplaintFilter) -> MonthSplit | None:
    """The window of ``f`` as the packed durations' months and edges, or None when they
    cannot answer ``f`` exactly: they have no category, the first action no status, and no
    whole month may fit the window."""
    days = whole_days(f)
    return None if days is None else monthly_split(days)


@dataclass(frozen=True)
class Packed:
    """Durations as read, flat: each one's routed pair (its place among a :class:`Plan`'s),
    value and band."""

    pairs: np.ndarray  # int64
    values: np.ndarray  # float64
    bands: np.ndarray  # int64

    @classmethod
    def read(cls, records: bytes | None, packed: bytes | None, pairs: np.ndarray,
             edges: np.ndarray) -> "Packed":
        """The values of one of the statements' pairs of strings (RECORD_SQL, values), their
        rows' pairs found among ``pairs`` (sorted), their bands by ``edges``."""
        rows = np.frombuffer(records or b"", RECORD)
        hours = np.frombuffer(packed or b"", PACKED).astype(np.float64)
        if int(rows["values"].sum()) != len(hours):
            raise ValueError("the rows' counts do not match their values")
        sent = rows["pair"].astype(np.int64)
        at = np.searchsorted(pairs, sent)
        if np.any(at >= len(pairs)) or not np.array_equal(pairs[at], sent):
            raise ValueError("values of a pair that the first read did not find")
        return cls(np.repeat(at, rows["values"]), hours, bands_of(edges, hours))

    @classmethod
    def joined(cls, parts: Sequence["Packed"]) -> "Packed":
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("pairs", "values", "bands")))

    def where(self, kept: np.ndarray) -> "Packed":
        return Packed(self.pairs[kept], self.values[kept], self.bands[kept])


def level_percentiles(conn: Connection, f: ComplaintFilter, measures: Sequence[Measure],
                      keys: Sequence[str], banded_from: int = BANDED_FROM
                      ) -> dict[str, dict[Any, dict[str, list[float]]]] | None:
    """{level (``district_id``, ``ward_id``): {area id (None: none routed): {measure name:
    the statistics' percentiles}}} of the complaints matching ``f``, for each level of
    ``keys``, by the two statements of this module's docstring; None when the packed
    durations cannot answer ``f`` exactly (:func:`answered`). ``banded_from``: the size from
    which a row is read by band (:data:`BANDED_FROM`).

    Both statements must see the same rows, the bands' counts placing the ranks, whatever the
    caller's isolation: each reads the complaints' data version (migration 0003, bumped by
    every transaction that writes them, and by ``fit_duration_bands()``). When a write came
    between them, they are read again, and then, if one came again, every value is read
    whole, in one statement."""
    split = answered(f)
    if split is None:
        return None
    for from_size in (banded_from, banded_from, WHOLE):
        found = _read_by_band(conn, split, measures, keys, from_size)
        if found is not None:
            return found
    raise AssertionError("a single statement sees a single version")


def _read_by_band(conn: Connection, split: MonthSplit, measures: Sequence[Measure],
                  keys: Sequence[str], banded_from: int
                  ) -> dict[str, dict[Any, dict[str, list[float]]]] | None:
    """:func:`level_percentiles`'s reads, once: None when the data changed between them."""
    edges, version = {}, set()
    for r in fetch(conn, sql(EDGES)):
        edges[r.measure] = np.array(r.edges, dtype=np.float64)
        version.add(r.version)
    located, seen = _columns(conn, _located_statement(split, measures, banded_from),
                             measures, SIGNS, LOCATED)
    plans = {m.name: _plan(located[m.name], edges[m.name], keys) for m in measures}
    runs = [(m.name, pair, first, last) for m in measures for pair, first, last in
            plans[m.name].runs()]
    read: dict[str, dict[int, dict[str, bytes | None]]] = {m.name: {} for m in measures}
    if runs:
        read, also_seen = _columns(conn, _bands_statement(split, measures, banded_from, runs),
                                   measures, READ_SIGNS, ("records", "values"))
        seen |= also_seen
    if len(seen | {int(v).to_bytes(8, "big") for v in version}) > 1:
        return None
    result: dict[str, dict[Any, dict[str, list[float]]]] = {key: {} for key in keys}
    for m in measures:
        plan = plans[m.name]
        found = plan.values(read[m.name])
        for key, level in plan.levels.items():
            for group, hours in level.percentiles(found).items():
                result[key].setdefault(group, {})[m.name] = hours
    return result


def _columns(conn: Connection, statement: Fragment, measures: Sequence[Measure],
             signs: Sequence[int], names: Sequence[str]
             ) -> tuple[dict[str, dict[int, dict[str, bytes | None]]], set[bytes]]:
    """{measure: {sign: {column name: its bytes over every row}}} of a statement whose
    columns are ``names`` per sign per measure, then the data version (:data:`VERSION`);
    and the versions its rows saw (one)."""
    rows = copied(conn, statement)
    columns = [b"".join(part for part in column if part is not None) or None
               for column in zip(*(row[:-1] for row in rows), strict=True)]
    at = iter(columns)
    return ({m.name: {sign: {name: next(at) for name in names} for sign in signs}
             for m in measures}, {row[-1] for row in rows if row[-1] is not None})


def _located_statement(split: MonthSplit, measures: Sequence[Measure], banded_from: int
                       ) -> Fragment:
    """Statement 1: :data:`LOCATED`'s columns per measure and sign."""
    large = f"octet_length(hours) >= {banded_from * 8}"

    def month_columns(m: Measure) -> list[str]:
        record = RECORD_SQL.format(none=NO_AREA)
        small = f" AND NOT {large}"
        return [AGGREGATE.format(what=record, measure=m.name, also=small),
                AGGREGATE.format(what="hours", measure=m.name, also=small),
                AGGREGATE.format(what=record, measure=m.name, also=f" AND {large}"),
                AGGREGATE.format(what="bands", measure=m.name, also=f" AND {large}")]

    def edge_columns(m: Measure) -> list[str]:
        return [AGGREGATE.format(what=RECORD_SQL.format(none=NO_AREA), measure=m.name,
                                 also=""),
                AGGREGATE.format(what="hours", measure=m.name, also=""),
                "NULL::bytea", "NULL::bytea"]

    return _statement(split, measures, SIGNS, len(LOCATED), month_columns, edge_columns,
                      rows="complaint_area_duration_values")


def _bands_statement(split: MonthSplit, measures: Sequence[Measure], banded_from: int,
                     runs: list[tuple[str, int, int, int]]) -> Fragment:
    """Statement 2: the records and values of the ``runs`` (measure, pair, first band, last
    band) of the large rows, per measure and sign of the months."""
    def month_columns(m: Measure) -> list[str]:
        return [AGGREGATE.format(what=RECORD_SQL.format(none=NO_AREA), measure=m.name,
                                 also=""),
                AGGREGATE.format(what="hours", measure=m.name, also="")]

    measure, pair, first, last = (list(column) for column in zip(*runs, strict=True))
    return _statement(split, measures, READ_SIGNS, 2, month_columns, None,
                      rows=BAND_RUNS.format(none=NO_AREA, large=banded_from * 8)).bind(
        run_measures=measure, run_pairs=pair, run_firsts=first, run_lasts=last)


def _statement(split: MonthSplit, measures: Sequence[Measure], signs: Sequence[int],
               width: int, month_columns: Columns, edge_columns: Columns | None,
               rows: str) -> Fragment:
    """SQL: one row per whole month (a partition each, migration 0036; when the window is
    open, one for the months counted and one for those that edges take from) and, with
    ``edge_columns``, per edge, of ``width`` columns per measure and sign of ``signs``: the
    columns of the row's sign (``month_columns(m)``, ``edge_columns(m)``), NULL for the
    others."""
    counted = " OR ".join(f"(measure = '{m.name}' AND {m.rolled})" for m in measures)

    def aggregates(sign: int, columns: Columns) -> str:
        return ", ".join(column for m in measures for each in signs
                         for column in (columns(m) if each == sign
                                        else ["NULL::bytea"] * width))

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
    parts = [compose(MONTHS, aggregates=aggregates(sign, month_columns), months=where,
                     counted=counted, rows=rows, version=VERSION)
             for sign, where in chosen]
    if edge_columns is not None:
        parts += [compose(EDGE, aggregates=aggregates(sign, edge_columns),
                          edge=edge_where(split, n), counted=counted, version=VERSION)
                  for n, (_, _, sign) in enumerate(split.edges)]
    found = union_all(parts)
    return found if months is not None else found.bind(taken_from=sorted(taken_from))


@dataclass
class Level:
    """The districts or the wards of a measure's pairs: each group's values per band, the
    ranks of its percentiles, the band holding each and how many values lie below it."""

    group_of_pair: np.ndarray  # each pair's group
    groups: np.ndarray  # each group's area id (NO_AREA: none)
    counts: np.ndarray  # (groups, BANDS)
    ranks: np.ndarray  # (groups, 2 × percentiles): first, second of each percentile
    fractions: np.ndarray  # (groups, percentiles)
    bands: np.ndarray  # (groups, ranks): the band holding each rank
    below: np.ndarray  # (groups, ranks): the values in lower bands

    @classmethod
    def of(cls, member: int, pairs: np.ndarray, counts: np.ndarray) -> "Level":
        """The groups of ``pairs`` by their ``member`` (:data:`LEVELS`), from the pairs'
        ``counts`` per band."""
        groups, group_of_pair = np.unique((pairs >> SHIFTS[member]) & 0xFFFFFFFF,
                                          return_inverse=True)
        group_of_pair = group_of_pair.ravel()
        summed = np.zeros((len(groups), BANDS), dtype=np.int64)
        np.add.at(summed, group_of_pair, counts)
        totals = summed.sum(axis=1)
        exact = np.outer(np.maximum(totals - 1, 0), PERCENTILES)
        first, second = np.floor(exact).astype(np.int64), np.ceil(exact).astype(np.int64)
        ranks = np.column_stack([first, second])
        ends = np.cumsum(summed, axis=1)  # the values up to the end of each band
        bands = (ends[:, None, :] <= ranks[:, :, None]).sum(axis=2)
        below = np.where(bands > 0, np.take_along_axis(
            ends, np.maximum(bands - 1, 0), axis=1), 0)
        return cls(group_of_pair, groups, summed, ranks, exact - first, bands, below)

    def needed(self) -> np.ndarray:
        """(groups, BANDS): whether a rank of the group lies in the band."""
        needed = np.zeros(self.counts.shape, dtype=bool)
        held = self.counts.sum(axis=1) > 0
        for column in self.bands.T:
            needed[np.flatnonzero(held), column[held]] = True
        return needed

    def percentiles(self, found: Packed) -> Groups:
        """{area id: the percentiles} of each group that holds values, from ``found`` (every
        value of the bands its ranks need, and maybe others): those values ordered by group,
        band and value, each rank found at its band's start plus its place in the band."""
        group = self.group_of_pair[found.pairs]
        kept = self.needed()[group, found.bands]
        keys, values = group[kept] * BANDS + found.bands[kept], found.values[kept]
        by_value = np.argsort(values)
        # Then by band of group, stably: a radix sort when the keys fit in 16 bits.
        narrow = keys.astype(np.uint16) if len(self.groups) * BANDS <= 1 << 16 else keys
        order = by_value[np.argsort(narrow[by_value], kind="stable")]
        sizes = np.bincount(keys, minlength=len(self.groups) * BANDS)
        held = np.flatnonzero(self.counts.sum(axis=1) > 0)
        segments = held[:, None] * BANDS + self.bands[held]
        if not np.array_equal(sizes[segments], self.counts[held[:, None], self.bands[held]]):
            raise ValueError("the bands' counts do not match their values")
        at = values[order][(np.cumsum(sizes) - sizes)[segments]
                           + self.ranks[held] - self.below[held]]
        half = self.ranks.shape[1] // 2
        low, high = at[:, :half], at[:, half:]
        # percentile_cont's arithmetic (analytics.durations.interpolate), on every group
        found = np.where(self.ranks[held, half:] > self.ranks[held, :half],
                         low + self.fractions[held] * (high - low), low)
        return dict(zip((_area(g) for g in self.groups[held].tolist()), found.tolist(),
                        strict=True))


def _area(sent: int) -> int | None:
    return None if sent == NO_AREA else sent


@dataclass
class Plan:
    """What statement 1 found of a measure: the values read whole (per sign), each pair's
    count per band, each level's ranks and bands, and the bands to read of each pair."""

    edges: np.ndarray  # the measure's (complaint_duration_bands)
    pairs: np.ndarray  # every pair's integer (district << 32 | ward), sorted
    small: dict[int, Packed]  # per sign: the values of small rows and edges
    levels: dict[str, Level]
    needed: np.ndarray  # (pairs, BANDS): the bands that some level's ranks need
    banded: np.ndarray  # (pairs,): whether the pair has rows read by band

    def runs(self) -> list[tuple[int, int, int]]:
        """(pair, first band, last band) of each run of needed bands of a pair with rows
        read by band."""
        padded = np.zeros((len(self.pairs), BANDS + 2), dtype=np.int8)
        padded[:, 1:-1] = self.needed & self.banded[:, None]
        steps = np.diff(padded, axis=1)
        starts, ends = np.nonzero(steps == 1), np.nonzero(steps == -1)
        return list(zip(self.pairs[starts[0]].tolist(), starts[1].tolist(),
                        (ends[1] - 1).tolist(), strict=True))

    def values(self, read: dict[int, dict[str, bytes | None]]) -> Packed:
        """The values of every needed band of every pair: the small rows' and the bands read
        (statement 2's ``read``), the edges' taken away from their months'."""
        by_sign = {sign: [found.where(self.needed[found.pairs, found.bands])]
                   for sign, found in self.small.items()}
        for sign, columns in read.items():
            by_sign[sign].append(Packed.read(columns["records"], columns["values"],
                                             self.pairs, self.edges))
        return Packed.joined([*by_sign[1], without_each(
            Packed.joined(by_sign[0]), Packed.joined(by_sign[-1]))])


def bands_of(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value's band, as ``width_bucket(hours, edges)`` gives it: the number of edges at
    or below it."""
    return np.searchsorted(edges, values, side="right")


def _plan(located: dict[int, dict[str, bytes | None]], edges: np.ndarray,
          keys: Sequence[str]) -> Plan:
    """Statement 1's columns of a measure made into its :class:`Plan`."""
    large = {sign: (np.frombuffer(c["large records"] or b"", RECORD),
                    np.frombuffer(c["large starts"] or b"", STARTS).reshape(-1, BANDS - 1))
             for sign, c in located.items()}
    pairs = np.unique(np.concatenate(
        [np.frombuffer(c["small records"] or b"", RECORD)["pair"].astype(np.int64)
         for c in located.values()]
        + [rows["pair"].astype(np.int64) for rows, _ in large.values()]))
    small = {sign: Packed.read(c["small records"], c["small values"], pairs, edges)
             for sign, c in located.items()}
    plan = Plan(edges, pairs, small, {}, np.zeros((len(pairs), BANDS), dtype=bool),
                np.zeros(len(pairs), dtype=bool))
    counts = np.zeros((len(pairs), BANDS), dtype=np.int64)
    for sign in SIGNS:
        found = small[sign]
        step = -1 if sign < 0 else 1
        counts += step * np.bincount(found.pairs * BANDS + found.bands,
                                     minlength=len(pairs) * BANDS).reshape(-1, BANDS)
        rows, starts = large[sign]
        if len(rows):
            bounds = np.column_stack([np.zeros(len(rows), dtype=np.int64), starts,
                                      rows["values"].astype(np.int64)])
            at = np.searchsorted(pairs, rows["pair"].astype(np.int64))
            np.add.at(counts, at, step * np.diff(bounds, axis=1))
            plan.banded[at] = True
    if np.any(counts < 0):
        raise ValueError("taking away durations that the months do not hold")
    for key in keys:
        level = Level.of(LEVELS[key], pairs, counts)
        plan.levels[key] = level
        plan.needed |= level.needed()[level.group_of_pair]
    return plan


def without_each(held: Packed, taken: Packed) -> Packed:
    """``held`` less one occurrence of each value ``taken`` of the same pair (multiset
    differences; every value taken is held as often as it is taken: the edges are read in the
    same snapshot as the months). All pairs at once: one sort of them all, instead of two a
    pair (thousands of wards). Only the values held that may equal a value taken
    (:func:`_may_equal`) are sorted with those taken: a month holds about five times the values
    of the week at its edge, and sorting them all cost a year's breakdown at 10 million
    complaints 45 ms a duration (docs/benchmarks.md, "seventh pass")."""
    if not len(taken.values):
        return held
    may_go = _may_equal(held.values, taken.values)
    groups = np.unique(np.concatenate([held.pairs[may_go], taken.pairs]),
                       return_inverse=True)[1].ravel()
    # A value's rank among those that may go and those taken makes (pair, value) one integer
    # to sort.
    ranks = np.unique(np.concatenate([held.values[may_go], taken.values]),
                      return_inverse=True)[1].ravel()
    width = int(ranks.max()) + 1
    keys = groups * width + ranks
    held_keys, gone_keys = keys[:len(may_go)], np.sort(keys[len(may_go):])
    order = np.argsort(held_keys, kind="stable")
    ordered = held_keys[order]
    # The n-th repeat of a value taken is that value's n-th occurrence among those held.
    drop = (np.searchsorted(ordered, gone_keys) + np.arange(len(gone_keys))
            - np.searchsorted(gone_keys, gone_keys))
    if np.any(drop >= len(ordered)) or not np.array_equal(ordered[drop], gone_keys):
        raise ValueError("taking away durations that the months do not hold")
    kept = np.ones(len(held.values), dtype=bool)
    kept[may_go[order[drop]]] = False
    return held.where(kept)


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
