"""Hot spots (Getis–Ord Gi*) and emerging hot spots (Gi* per time step + Mann–Kendall).

The units are either the cells of a hexagon or square grid over the study area (empty cells
included: a hot spot is only hot against the cold around it), or the wards or districts of a
generation. PostGIS builds the units (with their centres in the projected CRS) and their
neighbour pairs by a spatial self-join, both as temporary tables so that the planner knows
their sizes; one more statement counts the filtered complaints per unit and time step (from
the rollups when the filter and the periods are whole days in the city, ``analytics/rollups.py``),
and numpy sums those counts over each unit's neighbours (a sum per pair and step: done in SQL,
a join and a grouping of a million rows for 1,400 cells over 37 months):

* distance band: every unit whose centre is within ``band_m`` metres (≤, with the tolerance
  :data:`BAND_TOLERANCE`), itself included; the join is an equi-join on band-sized buckets
  (the 3×3 around a unit) and then the distance test, so it stays linear in the number of
  units;
* k nearest: the unit itself and its ``k`` nearest other units (ties by unit id).

The Gi* arithmetic, the p-values, FDR and the trend test then run in Python (``statistics``,
``trend``) over these few thousand numbers.
"""

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy import Connection

from analytics.areas import placed
from analytics.cell_key import unit_id, unpacked
from analytics.grid import Grid, Shape, rolled_up
from analytics.periods import PERIOD_OF, Calendar
from analytics.query import analysis_srid, complaint_where, generation_id, study_area
from analytics.rollups import (
    Days,
    area_counts,
    day_steps,
    grid_counts,
    month_steps,
    whole_days,
)
from analytics.statistics import CONFIDENCE_LEVELS, GiStar, gi_star
from analytics.trend import Pattern, classify, mann_kendall_rows
from db.complaints import ComplaintFilter
from db.sql import Fragment, compose, execute, fetch, sql
from errors import ErrorCode, PhananhError

MAX_K = 100
MAX_BAND_CELLS = 50  # a band wider than this many cells would make every unit a neighbour
# A band's range: under a metre no two centres are neighbours (and the band buckets the plane,
# so a tiny one makes numbers too large for SQL); 1,000 km spans the country.
MIN_BAND_M, MAX_BAND_M = 1.0, 1_000_000.0
# Relative tolerance of "within the band". Centres are computed in projected metres (~10⁶ m
# from the CRS origin), so a distance carries rounding noise around 1e-9 m. On a regular grid
# whole rings of cells sit at exactly the same distance (hexagons of size s: √3·s, 3·s, …;
# squares: s, √2·s, 2·s, …); a band equal to one must take the whole ring for every cell, not
# whichever cells the noise favours. 1e-9 of the band (3 µm at 3 km) is far above that noise
# and far below any distance that matters.
BAND_TOLERANCE = 1e-9


class Unit(StrEnum):
    GRID = "GRID"
    WARD = "WARD"
    DISTRICT = "DISTRICT"


@dataclass(frozen=True)
class Weights:
    """Binary spatial weights including self: a distance band in metres, or k nearest."""

    band_m: float | None = None
    k: int | None = None

    def check(self) -> None:
        if (self.band_m is None) == (self.k is None):
            raise PhananhError(ErrorCode.BAD_INPUT, "Give exactly one of distanceBandM and k.")
        if self.band_m is not None and not (math.isfinite(self.band_m)
                                            and MIN_BAND_M <= self.band_m <= MAX_BAND_M):
            raise PhananhError(ErrorCode.BAD_INPUT, f"distanceBandM must be within "
                                                    f"{MIN_BAND_M:.0f} and {MAX_BAND_M:.0f} "
                                                    f"metres.")
        if self.k is not None and not 1 <= self.k <= MAX_K:
            raise PhananhError(ErrorCode.BAD_INPUT, f"k must be between 1 and {MAX_K}.")

    def pairs(self) -> Fragment:
        """SQL rows (focal, neighbour) over the table ``analysis_unit``, self included."""
        if self.k is not None:
            return sql("""
                SELECT a.uid AS focal, a.uid AS neighbour FROM analysis_unit a
                UNION ALL
                SELECT a.uid, nearest.uid FROM analysis_unit a
                CROSS JOIN LATERAL (
                    SELECT b.uid FROM analysis_unit b WHERE b.uid <> a.uid
                    ORDER BY b.centre <-> a.centre, b.uid LIMIT :k) AS nearest""", k=self.k)
        return sql("""
            SELECT a.uid AS focal, b.uid AS neighbour
            FROM analysis_unit a
            CROSS JOIN (VALUES (-1), (0), (1)) AS dx(d)
            CROSS JOIN (VALUES (-1), (0), (1)) AS dy(d)
            JOIN analysis_unit b ON b.bx = a.bx + dx.d AND b.by = a.by + dy.d
            WHERE (a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y)
                  <= CAST(:band AS float8) * CAST(:band AS float8)""", band=self.reach_m)

    @property
    def reach_m(self) -> float:
        """The distance band widened by :data:`BAND_TOLERANCE`: the distance test, and the
        bucket size of its join (any positive number will do for k nearest)."""
        return self.band_m * (1 + BAND_TOLERANCE) if self.band_m else 1.0


# Steps are numbered from 1: the period holding each complaint, or the one whole period.
WHOLE_PERIOD = "1"


def _step_of(starts: list[datetime]) -> str:
    """SQL for the step number of a row of ``complaint``."""
    return PERIOD_OF if starts else WHOLE_PERIOD


UNITS_TABLE = """
    CREATE TEMPORARY TABLE analysis_unit AS
    SELECT uid, label, shape, x, y, ST_MakePoint(x, y) AS centre,
           CAST(floor(x / CAST(:bucket AS float8)) AS bigint) AS bx,
           CAST(floor(y / CAST(:bucket AS float8)) AS bigint) AS by
    FROM ({units}) AS u
"""

PAIRS = "SELECT focal, neighbour FROM analysis_pair"

# GeoJSON as text, sent on as it is (``schema.scalars.written_geojson``).
UNITS = """
    SELECT u.uid, u.label, ST_AsGeoJSON(ST_Transform(u.shape, 4326), 7) AS geometry,
           c.n AS cardinality
    FROM analysis_unit u
    JOIN (SELECT focal, count(*) AS n FROM analysis_pair GROUP BY focal) AS c ON c.focal = u.uid
    ORDER BY u.label
"""


def _grid_units(conn: Connection, f: ComplaintFilter, grid: Grid, generation: int | None,
                starts: list[datetime], rollups: bool) -> tuple[Fragment, Fragment]:
    """Cells over the study area (labelled "i,j") and the filtered complaints per cell, from
    the grid rollup when it answers the filter and the periods (and ``rollups``)."""
    area = compose("(SELECT ST_Transform({study}, :grid_srid))",
                   study=study_area(f, generation))
    units = compose("""
        SELECT {uid} AS uid, i || ',' || j AS label,
               ST_X(ST_Centroid(cell)) AS x, ST_Y(ST_Centroid(cell)) AS y, cell AS shape
        FROM ({cells}) AS cells""", uid=unit_id("i", "j"), cells=grid.cells_within(area))
    days, step = _rolled(f, starts, rollups)
    if days is not None and step is not None and rolled_up(conn, f, grid) is not None:
        counted = grid_counts(days, grid.shape.value, grid.size_m, step,
                              months=month_steps(starts))
    else:
        counted = compose("""
            SELECT {unpacked}, step, n
            FROM (SELECT {key} AS key, {step} AS step, count(*) AS n FROM complaint
                  WHERE {where} GROUP BY 1, 2) AS keyed""", unpacked=unpacked("key"),
                          key=grid.complaint_key, step=_step_of(starts),
                          where=complaint_where(f))
    counts = compose("SELECT {uid} AS uid, step, n FROM ({counted}) AS counted",
                     uid=unit_id("i", "j"), counted=counted)
    return units, counts.bind(**grid.params, period_starts=starts)


def _area_units(conn: Connection, f: ComplaintFilter, level: str, generation: int, srid: int,
                starts: list[datetime], rollups: bool) -> tuple[Fragment, Fragment]:
    """The areas of a level (labelled by code, centred on their centroid) and their counts,
    from the daily rollup when it answers the filter and the periods (and ``rollups``)."""
    units = sql("""
        SELECT id AS uid, code AS label, ST_X(centre) AS x, ST_Y(centre) AS y, geom AS shape
        FROM admin_area, ST_Centroid(ST_Transform(geom, :srid)) AS centre
        WHERE generation_id = :generation_id AND level = :level""",
                srid=srid, generation_id=generation, level=level)
    days, step = _rolled(f, starts, rollups)
    if days is not None and step is not None:
        counts = compose("SELECT area_id AS uid, step, n FROM ({rolled}) AS rolled",
                         rolled=area_counts(days, generation, level, step,
                                            months=month_steps(starts)))
    else:
        counts = compose("""
            SELECT area_id AS uid, step, count(*) AS n FROM ({placed}) AS placed
            WHERE area_id IS NOT NULL
            GROUP BY 1, 2""", placed=placed(conn, f, level, generation, _step_of(starts)))
    return units, counts.bind(period_starts=starts)


def _rolled(f: ComplaintFilter, starts: list[datetime],
            rollups: bool) -> tuple[Days | None, str | None]:
    """The filter in the rollups' terms and the step of a rollup row, when the rollups can
    answer (whole days, periods starting at midnight in the city); else Nones."""
    days = whole_days(f) if rollups else None
    return (days, day_steps(starts)) if days is not None else (None, None)


@dataclass(frozen=True)
class UnitSeries:
    """One unit: its label ("i,j" for a cell, the code for an area), shape and, per step, its
    complaint count, the neighbours' sum and Gi*."""

    label: str
    geometry: str  # GeoJSON, as PostGIS writes it
    counts: list[int]
    cardinality: int
    gi: list[GiStar]


@dataclass(frozen=True)
class SpaceTime:
    units: list[UnitSeries]
    steps: list[datetime | None]
    srid: int | None


def space_time(conn: Connection, f: ComplaintFilter, unit: Unit, weights: Weights,
               calendar: Calendar | None, fdr: bool, shape: Shape = Shape.HEXAGON,
               cell_size_m: float | None = None, generation: str | None = None,
               max_units: int = 20_000, rollups: bool = True) -> SpaceTime:
    """Counts, neighbour sums and Gi* of every unit in every step; counted from the rollups
    when they answer the filter and the periods (and ``rollups``)."""
    weights.check()
    starts = calendar.starts(conn) if calendar else []
    level = "district" if unit is Unit.DISTRICT else "ward"
    gen = generation_id(conn, generation, level)
    srid = analysis_srid(conn, f, gen)
    if srid is None or (unit is not Unit.GRID and gen is None):
        return SpaceTime([], [], srid)
    if unit is Unit.GRID:
        if cell_size_m is None:
            raise PhananhError(ErrorCode.BAD_INPUT, "A GRID analysis needs cellSizeM.")
        grid = Grid(shape, cell_size_m, srid)
        if weights.band_m is not None and weights.band_m > MAX_BAND_CELLS * cell_size_m:
            raise PhananhError(ErrorCode.BAD_INPUT, f"distanceBandM may be at most "
                               f"{MAX_BAND_CELLS} cell sizes.")
        _check_grid_size(conn, f, gen, grid, max_units)
        units, counts = _grid_units(conn, f, grid, gen, starts, rollups)
    else:
        units, counts = _area_units(conn, f, level, gen, srid, starts, rollups)
    # The temporary tables live in a savepoint rolled back at the end, error or not: they
    # never outlive the analysis, and a failed statement leaves the connection usable.
    scratch = conn.begin_nested()
    try:
        execute(conn, compose(UNITS_TABLE, units=units).bind(bucket=weights.reach_m))
        execute(conn, sql("ANALYZE analysis_unit"))
        if weights.k is not None:
            execute(conn, sql("CREATE INDEX ON analysis_unit USING gist (centre)"))
        execute(conn, compose("CREATE TEMPORARY TABLE analysis_pair AS {pairs}",
                              pairs=weights.pairs()))
        execute(conn, sql("ANALYZE analysis_pair"))
        counted = fetch(conn, counts)
        pairs = fetch(conn, sql(PAIRS))
        rows = fetch(conn, sql(UNITS))
    finally:
        scratch.rollback()
    return _gi_per_step(rows, counted, pairs, starts or [None], fdr, srid)


def _gi_per_step(rows: list[Any], counted: list[Any], pairs: list[Any],
                 starts: list[datetime | None], fdr: bool, srid: int) -> SpaceTime:
    """Dense (unit × step) counts from the sparse SQL rows ``(uid, step, n)``, each unit's
    neighbour sums (itself included) over the ``(focal, neighbour)`` pairs, then Gi*."""
    unit_index = {r.uid: u for u, r in enumerate(rows)}
    counts = np.zeros((len(rows), len(starts)))
    # Set all at once: one (unit, step) a row, tens of thousands of rows. A unit outside the
    # study area (a cell it does not hold whole) has counts but no place in the analysis.
    found = [(unit_index[uid], step - 1, n) for uid, step, n in counted
             if uid in unit_index and 1 <= step <= len(starts)]
    if found:
        units, steps, n = np.array(found, dtype=np.int64).T
        counts[units, steps] = n
    focal, neighbour = np.array([(unit_index[f], unit_index[n]) for f, n in pairs],
                                dtype=np.int64).reshape(-1, 2).T
    lags = np.zeros_like(counts)
    np.add.at(lags, focal, counts[neighbour])  # integers: exact in float64 below 2^53
    # Gi* over the space-time cube: every (unit, step) bin is an observation whose neighbours
    # are the unit's neighbours in the same step, and the mean and variance are those of all
    # bins (as ArcGIS's space-time cube does), so a spot that grows gets growing z-scores.
    steps = len(starts)
    cardinality = np.repeat([r.cardinality for r in rows], steps)
    cube = gi_star(counts.ravel(), lags.ravel(), cardinality, fdr)
    per_unit = counts.astype(int).tolist()
    return SpaceTime(
        units=[UnitSeries(r.label, r.geometry, per_unit[u], r.cardinality,
                          cube[u * steps:(u + 1) * steps])
               for u, r in enumerate(rows)],
        steps=starts,
        srid=srid,
    )


GRID_EXTENT = """
    SELECT ST_Area(ST_Envelope(ST_Transform({study}, :grid_srid))) AS area
"""


def _check_grid_size(conn: Connection, f: ComplaintFilter, generation: int | None, grid: Grid,
                     max_units: int) -> None:
    """Refuse grids with too many cells before building them (the study area's envelope /
    the cell area bounds their number), and grids with no study area at all."""
    extent = compose(GRID_EXTENT, study=study_area(f, generation)).bind(**grid.params)
    area = fetch(conn, extent)[0].area
    if area is None:
        raise PhananhError(ErrorCode.BAD_INPUT, "A GRID analysis needs an area to cover: load "
                           "boundaries, or filter by bbox, within or near.")
    if area / grid.cell_area_m2 > max_units:
        raise PhananhError(ErrorCode.ANALYSIS_TOO_LARGE,
                           f"About {area / grid.cell_area_m2:,.0f} cells; at most {max_units}: "
                           f"use larger cells or a smaller area.", maxCells=max_units)


@dataclass(frozen=True)
class Emerging:
    label: str
    geometry: str  # GeoJSON, as PostGIS writes it
    pattern: Pattern
    trend_z: float
    trend_p: float
    bins: list[int]


def emerging(result: SpaceTime, min_bin: int) -> list[Emerging]:
    """The emerging hot spot pattern of every unit from the trend of its z-scores over the steps
    and the steps where it was significant: |Gi* bin| ≥ ``min_bin`` (1: 90 %, 2: 95 %, 3: 99 %,
    FDR-corrected when the bins are)."""
    alpha = dict(CONFIDENCE_LEVELS)[min_bin]
    z = np.array([[g.z or 0.0 for g in u.gi] for u in result.units], dtype=float)
    trends = mann_kendall_rows(z) if len(result.units) else []
    found = []
    for unit, trend in zip(result.units, trends, strict=True):
        bins = [(g.bin > 0) - (g.bin < 0) if abs(g.bin) >= min_bin else 0 for g in unit.gi]
        found.append(Emerging(unit.label, unit.geometry, classify(bins, trend, alpha), trend.z,
                              trend.p, bins))
    return found
