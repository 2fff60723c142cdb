"""Grid counts against a brute-force count in Python (pyproj + shapely), edges included."""

import math
from collections import Counter
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, text

from analytics.cell_key import pack, unit_id
from analytics.grid import Grid, Shape
from analytics.rollups import Days, grid_counts
from tests.analytics_support import (
    CENTER_LAT,
    CENTER_LON,
    UTM,
    brute_force_hex,
    brute_force_square,
    hex_polygon,
    insert_complaints,
    project,
    scratch_database,
    square_polygon,
    unproject,
)
from tests.conftest import Demo, GraphQLClient

GRID = """query($shape: GridShape!, $size: Float!, $bbox: BBoxInput, $filter: ComplaintFilter) {
  grid(shape: $shape, cellSizeM: $size, bbox: $bbox, filter: $filter) {
    srid total cells { i j count geometry } featureCollection
  }
}"""

BRUTE_FORCE = {"HEXAGON": brute_force_hex, "SQUARE": brute_force_square}
POLYGON = {"HEXAGON": hex_polygon, "SQUARE": square_polygon}


def complaint_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT ST_X(location) AS lon, ST_Y(location) AS lat, category_code FROM complaint")))


def check_counts(cells: list[dict[str, Any]], expected: list[tuple[int, int]],
                 clear: np.ndarray, x: np.ndarray, y: np.ndarray, shape_name: str,
                 size: float) -> None:
    """The API's counts equal the brute force's, except that a point within a micrometre of a
    cell edge (projected by pyproj here, by PostGIS there) may be in either neighbour; every
    point is still counted exactly once."""
    got = {(c["i"], c["j"]): c["count"] for c in cells}
    assert sum(got.values()) == len(expected)
    assert all(n > 0 for n in got.values()), "only non-empty cells are returned"
    certain = Counter(cell for cell, ok in zip(expected, clear, strict=True) if ok)
    unsure = [k for k, ok in enumerate(clear) if not ok]
    for cell, n in got.items():
        polygon = POLYGON[shape_name](*cell, size)
        reachable = sum(polygon.distance(shapely.Point(x[k], y[k])) < 1e-6 for k in unsure)
        assert certain.get(cell, 0) <= n <= certain.get(cell, 0) + reachable, cell
    assert not set(certain) - set(got)


@pytest.mark.parametrize(("shape_name", "size"), [("HEXAGON", 700.0), ("SQUARE", 1_000.0),
                                                  ("HEXAGON", 2_500.0)])
def test_grid_counts_equal_brute_force(gql: GraphQLClient, demo: Demo, engine: Engine,
                                       shape_name: str, size: float) -> None:
    west, south, east, north = demo.outline.bounds
    bbox = {"west": west + 0.2 * (east - west), "south": south + 0.15 * (north - south),
            "east": east - 0.25 * (east - west), "north": north - 0.1 * (north - south)}
    categories = ["environment.waste", "construction.illegal", "traffic.road_damage",
                  "public.lighting", "other"]
    result = gql.data(GRID, {"shape": shape_name, "size": size, "bbox": bbox,
                             "filter": {"categories": categories}})["grid"]
    rows = [r for r in complaint_rows(engine)
            if bbox["west"] <= r.lon <= bbox["east"] and bbox["south"] <= r.lat <= bbox["north"]
            and r.category_code in categories]
    assert 300 < len(rows) < len(complaint_rows(engine)), "the filter must matter"
    assert result["srid"] == UTM
    assert result["total"] == len(rows)
    x, y = project([r.lon for r in rows], [r.lat for r in rows])
    expected, clear = BRUTE_FORCE[shape_name](x, y, size)
    check_counts(result["cells"], expected, clear, x, y, shape_name, size)
    # Each cell's polygon is PostGIS's cell (i, j), sized in metres, in lon/lat.
    for cell in result["cells"][:50]:
        polygon = POLYGON[shape_name](cell["i"], cell["j"], size)
        lon, lat = unproject(*np.asarray(polygon.exterior.coords).T)
        assert shape(cell["geometry"]).hausdorff_distance(
            shapely.Polygon(np.column_stack([lon, lat]))) < 2e-7
    features = result["featureCollection"]["features"]
    assert [f["properties"]["count"] for f in features] == [c["count"] for c in result["cells"]]


def test_grid_without_bbox_covers_every_filtered_complaint(gql: GraphQLClient, demo: Demo,
                                                           engine: Engine) -> None:
    result = gql.data(GRID, {"shape": "HEXAGON", "size": 1_500.0,
                             "filter": {"statuses": ["RESOLVED", "CLOSED"]}})["grid"]
    with engine.connect() as conn:
        expected = conn.execute(text("SELECT count(*) FROM complaint "
                                     "WHERE status IN ('RESOLVED', 'CLOSED')")).scalar_one()
    assert result["total"] == expected > 0


@pytest.mark.parametrize("shape_name", ["HEXAGON", "SQUARE"])
def test_points_on_cell_edges_and_bbox_edges_are_counted_once(shape_name: str) -> None:
    size = 400.0
    x0, y0 = project([CENTER_LON], [CENTER_LAT])
    across, up = (1.5 * size, math.sqrt(3) * size) if shape_name == "HEXAGON" else (size, size)
    i0, j0 = int(x0[0] // across), int(y0[0] // up)  # cells near the demo city's centre
    points = []
    for i in range(i0, i0 + 4):
        for j in range(j0, j0 + 4):
            polygon = POLYGON[shape_name](i, j, size)
            corners = np.asarray(polygon.exterior.coords)[:-1]
            points.extend(corners)  # every vertex: shared by 3 hexagons or 4 squares
            points.extend((corners + np.roll(corners, -1, axis=0)) / 2)  # edge midpoints
            points.append(np.asarray(polygon.centroid.coords)[0])
    x, y = np.asarray(points).T
    lons, lats = unproject(x, y)
    with scratch_database() as (engine, gql):
        insert_complaints(engine, lons, lats)
        # A bbox whose west and south edges pass exactly through stored points. (No other
        # point lies within ~10 m outside: the filter's `&&` compares float4-rounded boxes,
        # which admits points up to a metre outside; that is the filter's business, not the
        # grid's.)
        bbox = {"west": _edge_through(lons), "south": _edge_through(lats),
                "east": float(lons.max()), "north": float(lats.max())}
        inside = ((lons >= bbox["west"]) & (lons <= bbox["east"])
                  & (lats >= bbox["south"]) & (lats <= bbox["north"]))
        assert (lons == bbox["west"]).any() and (lats == bbox["south"]).any()
        result = gql.data(GRID, {"shape": shape_name, "size": size, "bbox": bbox})["grid"]
        assert result["total"] == inside.sum()
        expected, clear = BRUTE_FORCE[shape_name](x[inside], y[inside], size)
        check_counts(result["cells"], expected, clear, x[inside], y[inside], shape_name, size)


def _edge_through(values: np.ndarray) -> float:
    """A value of ``values`` in the lower half with a gap of > 1e-4° below it."""
    ordered = np.unique(values)
    gaps = np.flatnonzero(np.diff(ordered) > 1e-4) + 1
    return float(ordered[gaps[len(gaps) // 3]])


@pytest.mark.parametrize(("shape_name", "xy", "cell"), [
    ("SQUARE", (1_000.0, 1_500.0), (2, 3)),  # a corner of four squares: the north-east one
    ("SQUARE", (1_000.0, 1_700.0), (2, 3)),  # a vertical edge: the east one
    ("SQUARE", (1_100.0, 1_500.0), (2, 3)),  # a horizontal edge: the north one
    ("HEXAGON", (0.0, "h/2"), (0, 1)),  # the top edge of hexagon (0, 0): the north one
    ("HEXAGON", (3 * 500.0, "h/2"), (2, 1)),
])
def test_exact_ties_go_to_the_documented_cell(engine: Engine, shape_name: str,
                                              xy: tuple[float, Any], cell: tuple[int, int]) -> None:
    """Points exactly on an edge in the projected plane (impossible to plant through lon/lat)
    fed to the cell assignment itself: the README's rule decides."""
    size = 500.0
    grid = Grid(Shape(shape_name), size, UTM)
    x = xy[0]
    y = math.sqrt(3) * size / 2 if xy[1] == "h/2" else xy[1]
    assert POLYGON[shape_name](*cell, size).covers(shapely.Point(x, y))
    key = grid.key(str(UTM), f"CAST({x!r} AS float8)", f"CAST({y!r} AS float8)", "NULL")
    with engine.connect() as conn:
        found = conn.execute(text(f"SELECT key >> 32 AS i, (key & 4294967295) - 2147483648 AS j "
                                  f"FROM (SELECT {key} AS key) AS k"), grid.params).one()
    assert (found.i, found.j) == cell


def test_bad_cell_sizes_are_refused(gql: GraphQLClient) -> None:
    for size in (0.0, 5.0, -10.0, 1e9):
        assert gql.error_code(GRID, {"shape": "HEXAGON", "size": size}) == "BAD_INPUT"


def test_cells_are_counted_and_joined_by_what_postgresql_hashes_apart(engine: Engine) -> None:
    """PostgreSQL hashes a bigint by the XOR of its halves, so the packed keys of a city's
    cells (small i and j in the two halves) share a few hash values, and a hash aggregate or
    join over them crawls: the grid counts group by (i, j), and the hot spot analyses name a
    cell by ``unit_id``, whose hashes are as many as the cells. Both are one to one, the unit
    ids up to the largest index a UTM grid of 10 m cells can reach."""
    i, j = np.meshgrid(np.arange(0, 400, 3), np.arange(-60, 60) + 2_300_000 // 500)
    cells = [(int(a), int(b)) for a, b in zip(i.ravel(), j.ravel(), strict=True)]
    limit = 2**21 - 1
    cells += [(a, b) for a in (-1, 0, 1, 99_999) for b in (-limit, -1, 0, limit)]
    with engine.connect() as conn:
        packed, unit, hashes_packed, hashes_unit = conn.execute(text(f"""
            SELECT count(DISTINCT {pack('i', 'j')}), count(DISTINCT {unit_id('i', 'j')}),
                   count(DISTINCT hashint8({pack('i', 'j')})),
                   count(DISTINCT hashint8({unit_id('i', 'j')}))
            FROM unnest(CAST(:i AS int[]), CAST(:j AS int[])) AS c(i, j)"""),
            {"i": [c[0] for c in cells], "j": [c[1] for c in cells]}).one()
        plan = conn.execute(text("EXPLAIN (FORMAT JSON) " + grid_counts(
            Days(None, None, (), ()), "HEXAGON", 500.0).text), {
            "shape": "HEXAGON", "size_m": 500.0, "grid_srid": UTM}).scalar_one()
    assert packed == unit == len(set(cells))
    assert hashes_packed < len(cells) / 10  # why: the packed keys collide
    assert hashes_unit == len(cells)
    keys = [node["Group Key"] for node in _nodes(plan[0]["Plan"]) if "Group Key" in node]
    assert keys and all(len(key) == 2 and "cell >> 32" in key[0] for key in keys), keys


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(found for child in node.get("Plans", []) for found in _nodes(child))]
