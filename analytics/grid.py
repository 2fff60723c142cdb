"""Counting complaints per grid cell (hexagons or squares sized in metres), in PostGIS.

The cells are exactly PostGIS's ``ST_HexagonGrid`` / ``ST_SquareGrid`` cells (``ST_Hexagon`` /
``ST_Square`` with cell indices ``i, j`` and origin 0,0) laid out in the UTM zone of the data,
so sizes are true metres. A point is not matched against cell polygons (a point on an edge
would match two cells and be counted twice); it is *assigned* arithmetically to one cell, by
the SQL function ``grid_cell`` (migration 0017), which the grid rollup calls too:

* **Squares** are half-open, ``[i·s, (i+1)·s) × [j·s, (j+1)·s)``: a point on a shared edge or
  corner is counted in the cell to its north and/or east.
* **Hexagons** (flat-topped, edge = circumradius ``s``) are the cells of the nearest centre,
  which is exactly what a regular hexagon tiling is. The centres form two rectangular lattices
  (even columns at ``(3s·m, h·n)``, odd ones shifted by ``(1.5s, h/2)``, ``h = √3·s``); the
  nearest centre of each lattice is found by rounding, and the nearer of the two wins. With
  ``u, v`` the point in lattice units and ``a, b`` its offsets from the odd lattice's cell
  centre, the even centre is nearer iff ``3|a| + |b| ≥ 1``. A point exactly on a shared edge
  (equidistant) goes to the even column, and between two cells of one column to the north.

Either way every point is in exactly one cell, so the counts add up to the number of filtered
complaints. The same SQL serves the ``grid`` query, the hotspot analysis and the
``hotspot-grid`` map layer (see :func:`cell_counts`); over whole days a standard grid is read
from the grid rollup (``analytics/rollups.py``).
"""

import math
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection

from analytics.cell_key import unpacked
from analytics.query import analysis_srid, complaint_where, generation_id
from analytics.rollups import Days, grid_counts, grid_rolled_up, whole_days
from db.complaints import ComplaintFilter
from db.sql import Fragment, compose, fetch
from errors import ErrorCode, PhananhError

MIN_CELL_M = 10.0
SLIVER_SHARE = 0.01  # holes smaller than this share of a cell do not keep a cell out
MAX_CELL_M = 100_000.0


class Shape(StrEnum):
    HEXAGON = "HEXAGON"
    SQUARE = "SQUARE"


@dataclass(frozen=True)
class Grid:
    """A tiling of the plane of ``srid`` (a projected CRS in metres) into cells of ``size_m``:
    the edge length of a hexagon, or the side of a square."""

    shape: Shape
    size_m: float
    srid: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.size_m) and MIN_CELL_M <= self.size_m <= MAX_CELL_M):
            raise PhananhError(ErrorCode.BAD_INPUT,
                               f"cellSizeM must be between {MIN_CELL_M:.0f} and "
                               f"{MAX_CELL_M:.0f} metres; got {self.size_m}.")

    @property
    def cell_area_m2(self) -> float:
        if self.shape is Shape.HEXAGON:
            return 1.5 * math.sqrt(3) * self.size_m**2
        return self.size_m**2

    @property
    def params(self) -> dict[str, float | int | str]:
        """The parameters that :meth:`key` and :meth:`cell` use, which the statement embedding
        them binds once."""
        return {"grid_shape": self.shape.value, "grid_size": self.size_m, "grid_srid": self.srid}

    def key(self, utm_epsg: str, utm_x: str, utm_y: str, location: str) -> str:
        """SQL for the packed cell key of a point given as a complaint stores it (its UTM zone
        and coordinates there, and its location): the SQL function ``grid_cell`` (migration
        0017), which the grid rollup calls too, so both assign every point alike."""
        return (f"grid_cell(CAST(:grid_shape AS text), CAST(:grid_size AS float8), "
                f"CAST(:grid_srid AS integer), {utm_epsg}, {utm_x}, {utm_y}, {location})")

    @property
    def complaint_key(self) -> str:
        """SQL for the packed cell key of a row of ``complaint``."""
        return self.key("complaint.utm_epsg", "complaint.utm_x", "complaint.utm_y",
                        "complaint.location")

    def cell(self, i: str, j: str) -> str:
        """SQL for the polygon of cell (i, j), in ``srid``: the very cell of ST_*Grid."""
        function = "ST_Hexagon" if self.shape is Shape.HEXAGON else "ST_Square"
        return f"ST_SetSRID({function}(CAST(:grid_size AS float8), {i}, {j}), :grid_srid)"

    def cells_within(self, area: Fragment) -> Fragment:
        """SQL rows (i, j, cell) of every cell lying inside ``area`` (a geometry in srid; it may
        use the grid's parameters, which this binds).

        Only whole cells: a cell cut by the edge of the area would hold fewer complaints for
        want of ground, not of problems, and show up as a cold spot. Holes smaller than
        :data:`SLIVER_SHARE` of a cell do not count as edges: real boundary layers whose
        edges do not quite meet leave hairline holes all over their union (Boston's wards:
        34 holes, 399 m² in all, kept two cells in three out of the study area).
        """
        function = "ST_HexagonGrid" if self.shape is Shape.HEXAGON else "ST_SquareGrid"
        cells = compose("""WITH ground AS (SELECT {ground} AS g)
                           SELECT g.i, g.j, g.geom AS cell
                           FROM ground, {function}(CAST(:grid_size AS float8), ground.g) AS g
                           WHERE ST_CoveredBy(g.geom, ground.g)""",
                        ground=_without_small_holes(area), function=function)
        return cells.bind(**self.params, sliver_m2=SLIVER_SHARE * self.cell_area_m2)


def _without_small_holes(area: Fragment) -> Fragment:
    """SQL: ``area`` made valid (a polygon valid in lon/lat can come out of a projection with
    a hairline self-intersection) and without its holes smaller than ``:sliver_m2``."""
    return compose("""(SELECT ST_Union(ST_MakePolygon(ST_ExteriorRing(part.geom), ARRAY(
                           SELECT ST_ExteriorRing(ring.geom) FROM ST_DumpRings(part.geom) AS ring
                           WHERE ring.path[1] > 0 AND ST_Area(ring.geom) >= :sliver_m2)))
                       FROM ST_Dump(ST_CollectionExtract(ST_MakeValid({area}), 3)) AS part)""",
                   area=area)


@dataclass(frozen=True)
class GridCell:
    i: int
    j: int
    count: int
    geometry: str  # GeoJSON polygon in lon/lat, as PostGIS writes it


@dataclass(frozen=True)
class GridResult:
    grid: Grid
    cells: list[GridCell]

    @property
    def total(self) -> int:
        return sum(c.count for c in self.cells)


def count_cells(conn: Connection, f: ComplaintFilter, shape: Shape, size_m: float,
                generation: str | None, max_cells: int, rollups: bool = True) -> GridResult | None:
    """The non-empty cells of a grid over the filtered complaints; None when there is nothing
    to place a grid on (no boundaries and no complaints). Counted from the grid rollup when it
    answers the filter (and ``rollups``)."""
    srid = analysis_srid(conn, f, generation_id(conn, generation, "ward"))
    if srid is None:
        return None
    grid = Grid(shape, size_m, srid)
    days = rolled_up(conn, f, grid) if rollups else None
    # GeoJSON as text, sent on as it is (``schema.scalars.written_geojson``).
    # Put in order here, not by SQL: ordered by (i, j), PostgreSQL would count the cells by
    # sorting the complaints on disk to serve both, instead of hashing them.
    rows = fetch(conn, compose("""
        SELECT i, j, n, ST_AsGeoJSON(ST_Transform(cell, 4326), 7) AS geometry
        FROM ({counts}) AS cells LIMIT :max_cells + 1""",
                               counts=cell_counts(f, grid, days)).bind(max_cells=max_cells))
    if len(rows) > max_cells:
        raise PhananhError(ErrorCode.ANALYSIS_TOO_LARGE,
                           f"More than {max_cells} non-empty cells: use larger cells or a "
                           f"smaller area.", maxCells=max_cells)
    return GridResult(grid, [GridCell(r.i, r.j, r.n, r.geometry)
                             for r in sorted(rows, key=lambda r: (r.i, r.j))])


def rolled_up(conn: Connection, f: ComplaintFilter, grid: Grid) -> Days | None:
    """The filter in the grid rollup's terms when the rollup answers it exactly for ``grid``
    (whole days, categories and statuses only; a standard grid), else None."""
    days = whole_days(f)
    if days is None or not grid_rolled_up(conn, grid.shape.value, grid.size_m, grid.srid):
        return None
    return days


def cell_counts(f: ComplaintFilter, grid: Grid, days: Days | None = None) -> Fragment:
    """SQL rows ``(i, j, n, cell)``: each non-empty cell, its number of filtered complaints and
    its polygon in the grid's CRS (transform it for display: 4326 for GeoJSON, 3857 for tiles).

    Only complaints matching ``f`` are counted; a cell crossing the edge of ``f.bbox`` counts
    only its points inside the box, so a map layer that wants whole cells at a tile edge should
    widen its bbox by one cell size and clip afterwards. With ``days`` (:func:`rolled_up`),
    the counts are read from the grid rollup.
    """
    # The key goes through ``unnest(ARRAY[…])``, one row in and one out, because PostgreSQL
    # cannot see through it: it then estimates a modest number of cells, as there are, and
    # counts them in each parallel worker before gathering. Seeing the key's formula, it would
    # expect one cell per distinct coordinate, a cell per complaint, and send every complaint
    # to one process to be counted (the city's grid took 0.84 s instead of 0.56 s so). The
    # hotspot analyses, which count per cell and time step, are faster without the detour:
    # their plan sorts in the workers either way.
    if days is not None:
        counted = grid_counts(days, grid.shape.value, grid.size_m)
    else:
        counted = compose("""SELECT {unpacked}, n
                             FROM (SELECT key, count(*) AS n
                                   FROM (SELECT unnest(ARRAY[{key}]) AS key FROM complaint
                                         WHERE {where}) AS keyed
                                   GROUP BY key) AS counted""",
                          unpacked=unpacked("key"), key=grid.complaint_key,
                          where=complaint_where(f))
    counts = compose("SELECT i, j, n, {cell} AS cell FROM ({counted}) AS counted",
                     cell=grid.cell("i", "j"), counted=counted)
    return counts.bind(**grid.params)
