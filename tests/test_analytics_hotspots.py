"""Gi* hot spots through the API against PySAL's esda on the same units and weights built
independently (shapely, pyproj, libpysal), and on synthetic fields with a known answer."""

import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import esda
import libpysal
import numpy as np
import pytest
import shapely
from scipy import sparse
from sqlalchemy import Engine, text

from tests.analytics_support import (
    CENTER_LAT,
    CENTER_LON,
    TO_UTM,
    UTM,
    blob,
    brute_force_hex,
    brute_force_square,
    hex_centre,
    hex_polygon,
    insert_complaints,
    project,
    scratch_database,
    unproject,
)
from tests.conftest import Demo, GraphQLClient, phananh

HOTSPOTS = """query($unit: HotspotUnit!, $size: Float, $band: Float, $k: Int, $fdr: Boolean!,
                    $filter: ComplaintFilter, $shape: GridShape! = HEXAGON) {
  hotspots(unit: $unit, cellSizeM: $size, distanceBandM: $band, k: $k, fdr: $fdr,
           filter: $filter, shape: $shape) {
    srid fdr features { id count neighbours z p bin geometry }
  }
}"""


def complaint_points(engine: Engine) -> tuple[np.ndarray, np.ndarray]:
    with engine.connect() as conn:
        rows = list(conn.execute(text("SELECT ST_X(location), ST_Y(location) FROM complaint")))
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])


def esda_bins(z: np.ndarray, p_two_sided: np.ndarray, fdr: bool) -> list[int]:
    """ArcGIS bins from esda's numbers: ±3/±2/±1 below 0.01/0.05/0.10 (or their FDR cut-offs
    by ``esda.fdr``)."""
    bins = []
    cutoffs = [(level, esda.fdr(p_two_sided, alpha) if fdr else alpha)
               for level, alpha in ((3, 0.01), (2, 0.05), (1, 0.10))]
    for zi, pi in zip(z, p_two_sided, strict=True):
        level = next((lv for lv, cutoff in cutoffs if pi < cutoff), 0)
        bins.append(int(np.sign(zi)) * level)
    return bins


def compare_with_esda(features: list[dict[str, Any]], y: np.ndarray,
                      w: libpysal.weights.W, fdr: bool) -> esda.G_Local:
    reference = esda.G_Local(y, w, transform="B", star=True, permutations=0)
    z = np.array([f["z"] for f in features], dtype=float)
    assert np.max(np.abs(z - reference.Zs)) < 1e-9
    p = 2 * reference.p_norm
    assert np.allclose([f["p"] for f in features], p, rtol=1e-9, atol=1e-15)
    assert [f["bin"] for f in features] == esda_bins(reference.Zs, p, fdr)
    cardinality = np.asarray(w.sparse.sum(axis=1)).ravel() + 1
    assert [f["neighbours"] for f in features] == cardinality.tolist()
    return reference


@pytest.mark.parametrize("fdr", [False, True])
def test_grid_hotspots_equal_esda(gql: GraphQLClient, demo: Demo, engine: Engine,
                                  fdr: bool) -> None:
    size, band = 1_500.0, 3_200.0  # six neighbours at √3·1500 ≈ 2,598 m, the next at 4,500 m
    result = gql.data(HOTSPOTS, {"unit": "GRID", "size": size, "band": band, "fdr": fdr})
    hotspots = result["hotspots"]
    assert hotspots["srid"] == UTM and hotspots["fdr"] is fdr
    features = hotspots["features"]
    # The units: every hexagon lying inside the city, built here from the cell definition.
    city = shapely.transform(demo.outline, lambda xy: np.column_stack(
        TO_UTM.transform(xy[:, 0], xy[:, 1])))
    minx, miny, maxx, maxy = city.bounds
    candidates = [(i, j) for i in range(int(minx // (1.5 * size)) - 1,
                                        int(maxx // (1.5 * size)) + 2)
                  for j in range(int(miny // (math.sqrt(3) * size)) - 1,
                                 int(maxy // (math.sqrt(3) * size)) + 2)]
    cells = sorted(c for c in candidates if city.covers(hex_polygon(*c, size)))
    ids = [tuple(map(int, f["id"].split(","))) for f in features]
    assert sorted(ids) == cells
    # The values: complaints per cell by brute force.
    x, y = project(*complaint_points(engine))
    assigned, clear = brute_force_hex(x, y, size)
    assert clear.all()
    counts = Counter(assigned)
    values = np.array([counts.get(cell, 0) for cell in ids], dtype=float)
    assert [f["count"] for f in features] == values.astype(int).tolist()
    assert 0.8 * len(x) < values.sum() < len(x)  # complaints in cells cut by the border: out
    w = libpysal.weights.DistanceBand([hex_centre(*cell, size) for cell in ids],
                                      threshold=band, silence_warnings=True)
    reference = compare_with_esda(features, values, w, fdr)
    assert (np.abs(reference.Zs) > 2.576).any(), "the demo city has real hot spots"


SQRT3, SQRT2 = math.sqrt(3), math.sqrt(2)
TIE = 1e-9  # the documented tolerance: a unit within band·(1 + 1e-9) is a neighbour


def square_centre(i: int, j: int, size: float) -> tuple[float, float]:
    return (i + 0.5) * size, (j + 0.5) * size


@pytest.mark.parametrize(("shape", "band_cells", "ring"), [
    ("HEXAGON", SQRT3, 7),  # the six touching hexagons
    ("HEXAGON", 3.0, 13),  # and the six of the second ring at exactly 3 cell sizes
    ("SQUARE", 1.0, 5),  # the four sharing an edge
    ("SQUARE", SQRT2, 9),  # and the four diagonal ones
    ("SQUARE", 2.0, 13),  # and the four two cells away in a row or column
])
def test_a_band_equal_to_a_ring_distance_takes_the_whole_ring(
        gql: GraphQLClient, engine: Engine, shape: str, band_cells: float, ring: int) -> None:
    """A unit at distance ≤ band is a neighbour, however the centres' rounding falls: every
    interior cell has the same neighbourhood, counted here by hand, and z equals esda's with
    the same inclusive rule."""
    size = 1_000.0
    band = band_cells * size
    features = gql.data(HOTSPOTS, {"unit": "GRID", "size": size, "band": band, "fdr": False,
                                   "shape": shape})["hotspots"]["features"]
    ids = [tuple(map(int, f["id"].split(","))) for f in features]
    centre = hex_centre if shape == "HEXAGON" else square_centre
    centres = np.array([centre(i, j, size) for i, j in ids])
    x, y = project(*complaint_points(engine))
    assigned, clear = (brute_force_hex if shape == "HEXAGON" else brute_force_square)(x, y, size)
    assert clear.all()
    counts = Counter(assigned)
    values = np.array([counts.get(cell, 0) for cell in ids], dtype=float)
    w = libpysal.weights.DistanceBand(centres, threshold=band * (1 + TIE), silence_warnings=True)
    compare_with_esda(features, values, w, fdr=False)
    # Interior cells (every cell within the band of them is a unit too) all see the whole ring.
    units = set(ids)
    reach = int(band_cells) + 1
    interior = [f for f, (i, j) in zip(features, ids, strict=True)
                if all((i + di, j + dj) in units
                       for di in range(-reach, reach + 1) for dj in range(-reach, reach + 1)
                       if math.dist(centre(i, j, size), centre(i + di, j + dj, size))
                       <= band * (1 + TIE))]
    assert len(interior) > 20
    assert {f["neighbours"] for f in interior} == {ring}


@pytest.mark.parametrize(("unit", "k"), [("WARD", 5), ("DISTRICT", 3)])
def test_area_hotspots_with_k_nearest_equal_esda(gql: GraphQLClient, demo: Demo,
                                                 engine: Engine, unit: str, k: int) -> None:
    features = gql.data(HOTSPOTS, {"unit": unit, "k": k, "fdr": False})["hotspots"]["features"]
    areas = sorted(demo.areas("demo-2025", unit.lower()), key=lambda a: a.code)
    assert [f["id"] for f in features] == [a.code for a in areas]
    # Counts: each complaint in the lowest-code area covering it (the routing rule).
    lons, lats = complaint_points(engine)
    tree = shapely.STRtree([a.geometry for a in areas])
    owner: dict[int, int] = {}
    for point, area in zip(*tree.query(shapely.points(lons, lats), predicate="covered_by"),
                           strict=True):
        owner[int(point)] = min(owner.get(int(point), len(areas)), int(area))
    counts = Counter(owner.values())
    values = np.array([counts.get(a, 0) for a in range(len(areas))], dtype=float)
    assert [f["count"] for f in features] == values.astype(int).tolist()
    centres = [shapely.transform(a.geometry, lambda xy: np.column_stack(
        TO_UTM.transform(xy[:, 0], xy[:, 1]))).centroid for a in areas]
    w = libpysal.weights.KNN(np.array([(c.x, c.y) for c in centres]), k=k)
    compare_with_esda(features, values, w, fdr=False)


ORIGIN_X, ORIGIN_Y = (float(v[0]) for v in project([CENTER_LON], [CENTER_LAT]))
FIELD_M = 16_000.0


def field_filter(year: int) -> dict[str, Any]:
    """The synthetic field of one year: a square bbox and that year's time window."""
    lon, lat = unproject([ORIGIN_X, ORIGIN_X + FIELD_M], [ORIGIN_Y, ORIGIN_Y + FIELD_M])
    return {"bbox": {"west": lon[0], "south": lat[0], "east": lon[1], "north": lat[1]},
            "createdFrom": f"{year}-01-01T00:00:00Z", "createdTo": f"{year + 1}-01-01T00:00:00Z"}


def uniform_in_bbox(rng: np.random.Generator, n: int, year: int) -> tuple[np.ndarray, ...]:
    box = field_filter(year)["bbox"]
    return (rng.uniform(box["west"], box["east"], n), rng.uniform(box["south"], box["north"], n))


@pytest.fixture(scope="module")
def fields() -> Any:
    """2020: a uniform field with a planted hot spot; 2021: the uniform field alone; 2019: a
    year of months with an intensifying and a new consecutive hot spot. Yields the scratch
    database, its GraphQL client and every inserted point as (lon, lat, month) per year."""
    rng = np.random.default_rng(2024)
    points: dict[int, list[tuple[float, float, int]]] = {2019: [], 2020: [], 2021: []}

    def add(engine: Engine, year: int, month: int, lons: Any, lats: Any) -> None:
        insert_complaints(engine, lons, lats, [datetime(year, month, 10, tzinfo=UTC)] * len(lons))
        points[year].extend((lon, lat, month) for lon, lat in zip(lons, lats, strict=True))

    with scratch_database() as (engine, gql):
        for year in (2020, 2021):
            add(engine, year, 6, *uniform_in_bbox(rng, 4_000, year))
        add(engine, 2020, 6, *blob(rng, 250, *PLANTED, sigma_m=250))
        for month in range(1, 13):
            add(engine, 2019, month, *uniform_in_bbox(rng, 300, 2019))
            add(engine, 2019, month, *blob(rng, 20 + 12 * month, *PLANTED, sigma_m=250))
            if month >= 10:
                add(engine, 2019, month, *blob(rng, 120, *LATE, sigma_m=250))
        yield engine, gql, points


PLANTED = (ORIGIN_X + 5_000.0, ORIGIN_Y + 11_000.0)
LATE = (ORIGIN_X + 12_000.0, ORIGIN_Y + 4_000.0)


def cell_of(point: tuple[float, float], size: float) -> str:
    cell = brute_force_hex(np.array([point[0]]), np.array([point[1]]), size)[0][0]
    return f"{cell[0]},{cell[1]}"


def distance_m(feature_id: str, point: tuple[float, float], size: float) -> float:
    centre = hex_centre(*map(int, feature_id.split(",")), size)
    return math.dist(centre, point)


def test_planted_hotspot_is_found_at_99_percent(fields: Any) -> None:
    _, gql, _ = fields
    size, band = 500.0, 1_100.0
    for fdr in (False, True):
        features = gql.data(HOTSPOTS, {"unit": "GRID", "size": size, "band": band, "fdr": fdr,
                                       "filter": field_filter(2020)})["hotspots"]["features"]
        by_id = {f["id"]: f for f in features}
        assert by_id[cell_of(PLANTED, size)]["bin"] == 3
        hot = [f["id"] for f in features if f["bin"] == 3]
        assert all(distance_m(h, PLANTED, size) < 2_000 for h in hot)


def test_uniform_field_yields_almost_no_hotspots(fields: Any) -> None:
    _, gql, _ = fields
    features = gql.data(HOTSPOTS, {"unit": "GRID", "size": 500.0, "band": 1_100.0, "fdr": False,
                                   "filter": field_filter(2021)})["hotspots"]["features"]
    assert len(features) > 300
    # At 99 % confidence about 1 % of the cells of a field without structure are flagged by
    # chance; the Benjamini–Hochberg correction leaves (almost) none.
    assert sum(abs(f["bin"]) == 3 for f in features) <= 0.02 * len(features)
    corrected = gql.data(HOTSPOTS, {"unit": "GRID", "size": 500.0, "band": 1_100.0, "fdr": True,
                                    "filter": field_filter(2021)})["hotspots"]["features"]
    assert sum(abs(f["bin"]) == 3 for f in corrected) <= 1


EMERGING = """query($filter: ComplaintFilter) {
  emergingHotspots(period: MONTH, cellSizeM: 500, distanceBandM: 1100, confidence: 99,
                   timeZone: "UTC", filter: $filter) {
    steps features { id pattern trendZ trendP counts z bins }
  }
}"""


@pytest.mark.filterwarnings("ignore:The weights matrix is not fully connected")  # 12 months
def test_emerging_hotspots_name_the_planted_trends(fields: Any) -> None:
    _, gql, points = fields
    size, band = 500.0, 1_100.0
    result = gql.data(EMERGING, {"filter": field_filter(2019)})["emergingHotspots"]
    assert result["steps"] == [f"2019-{m:02d}-01T00:00:00+00:00" for m in range(1, 13)]
    features = result["features"]
    by_id = {f["id"]: f for f in features}
    growing = by_id[cell_of(PLANTED, size)]
    assert growing["pattern"] == "INTENSIFYING_HOT_SPOT"
    assert growing["trendZ"] > 0 and growing["trendP"] < 0.01
    late = by_id[cell_of(LATE, size)]
    assert late["pattern"] == "CONSECUTIVE_HOT_SPOT"
    assert late["bins"][-3:] == [1, 1, 1] and not any(late["bins"][:-3])
    patterns = Counter(f["pattern"] for f in features)
    assert patterns["NO_PATTERN"] > 0.9 * len(features)

    # Per-bin z-scores equal esda's Gi* on the space-time cube: each (cell, month) bin's
    # neighbours are its cell's neighbours in the same month (block-diagonal weights).
    lon, lat, month = np.array(points[2019]).T
    x, y = project(lon, lat)
    cells, clear = brute_force_hex(x, y, size)
    assert clear.all()
    counts = Counter(zip(cells, month.astype(int), strict=True))
    ids = [tuple(map(int, f["id"].split(","))) for f in features]
    cube = np.array([[counts.get((cell, m), 0) for m in range(1, 13)] for cell in ids])
    assert cube.tolist() == [f["counts"] for f in features]
    spatial = libpysal.weights.DistanceBand([hex_centre(*cell, size) for cell in ids],
                                            threshold=band, silence_warnings=True).sparse
    blocks = sparse.kron(spatial, sparse.identity(12), format="csr")  # bin = cell·12 + month
    w = libpysal.weights.WSP(blocks).to_W(silence_warnings=True)
    reference = esda.G_Local(cube.ravel().astype(float), w, transform="B", star=True,
                             permutations=0)
    z = np.array([f["z"] for f in features], dtype=float).ravel()
    assert np.max(np.abs(z - reference.Zs)) < 1e-9


def test_hotspot_arguments_are_checked(gql: GraphQLClient) -> None:
    both = {"unit": "GRID", "size": 1_000.0, "band": 2_000.0, "k": 4, "fdr": False}
    assert gql.error_code(HOTSPOTS, both) == "BAD_INPUT"
    assert gql.error_code(HOTSPOTS, {"unit": "GRID", "band": 2_000.0, "fdr": False}) == "BAD_INPUT"
    tiny = {"unit": "GRID", "size": 10.0, "band": 20.0, "fdr": False}
    assert gql.error_code(HOTSPOTS, tiny) == "ANALYSIS_TOO_LARGE"
    assert gql.error_code(HOTSPOTS, {"unit": "WARD", "k": 0, "fdr": False}) == "BAD_INPUT"
    # Found by hand: a huge band overflowed the cost estimate (an error with no code), a tiny
    # one the band's buckets in SQL (INTERNAL_ERROR).
    for unit, size in (("GRID", 500.0), ("WARD", None)):
        for band in (1e308, 1_000_000.5, 1e-300, 0.5, -5.0):
            body = gql(HOTSPOTS, {"unit": unit, "size": size, "band": band, "fdr": False})
            [error] = body["errors"]
            assert error["extensions"]["code"] == "BAD_INPUT", (unit, band, error)
            assert "distanceBandM must be within 1 and 1000000 metres" in error["message"]
    emerging = gql("""{ emergingHotspots(period: MONTH, cellSizeM: 1500, distanceBandM: 1e308)
                        { steps } }""")
    assert [e["extensions"]["code"] for e in emerging["errors"]] == ["BAD_INPUT"]


def test_empty_filter_gives_zero_counts_not_errors(gql: GraphQLClient) -> None:
    window = {"createdFrom": "2001-01-01T00:00:00Z", "createdTo": "2001-02-01T00:00:00Z"}
    features = gql.data(HOTSPOTS, {"unit": "WARD", "k": 4, "fdr": False,
                                   "filter": window})["hotspots"]["features"]
    assert features and all(f["count"] == 0 and f["z"] is None and f["bin"] == 0
                            for f in features)


def test_emerging_steps_follow_the_local_calendar(gql: GraphQLClient, demo: Demo) -> None:
    start = (demo.now - timedelta(days=70)).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = """query($filter: ComplaintFilter) { emergingHotspots(period: WEEK, unit: WARD,
        k: 4, filter: $filter) { steps features { counts } } }"""
    result = gql.data(query, {"filter": {"createdFrom": start}})["emergingHotspots"]
    steps = [datetime.fromisoformat(s) for s in result["steps"]]
    assert all(s.utcoffset() == timedelta(hours=7) and s.weekday() == 0 and s.hour == 0
               for s in steps)
    assert 10 <= len(steps) <= 12
    assert all(len(f["counts"]) == len(steps) for f in result["features"])


def grid_units_over(wards: list[shapely.Polygon], size: float, tmp_path: Any
                    ) -> list[tuple[int, int]]:
    """The hotspot cells (i, j) of a scratch city made of ``wards`` (lon/lat), imported with the
    real CLI."""
    features = [{"type": "Feature", "properties": {"code": f"W{n}", "name": f"Ward {n}"},
                 "geometry": shapely.geometry.mapping(ward)} for n, ward in enumerate(wards)]
    path = tmp_path / "wards.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with scratch_database() as (engine, gql):
        url = engine.url.render_as_string(hide_password=False)
        imported = phananh(url, "import-boundaries", str(path), "--level", "ward",
                           "--generation", "scratch")
        assert imported.returncode == 0, imported.stdout + imported.stderr
        lon, lat = shapely.get_coordinates(shapely.union_all(wards).representative_point())[0]
        insert_complaints(engine, [lon], [lat])
        found = gql.data(HOTSPOTS, {"unit": "GRID", "size": size, "band": 2.2 * size,
                                    "fdr": False})["hotspots"]["features"]
    return sorted(tuple(map(int, f["id"].split(","))) for f in found)


def covered_cells(area: shapely.Geometry, size: float) -> list[tuple[int, int]]:
    """The hexagons (i, j) that ``area`` (UTM) covers, from the cell definition."""
    minx, miny, maxx, maxy = area.bounds
    return sorted((i, j) for i in range(int(minx // (1.5 * size)) - 1,
                                        int(maxx // (1.5 * size)) + 2)
                  for j in range(int(miny // (math.sqrt(3) * size)) - 1,
                                 int(maxy // (math.sqrt(3) * size)) + 2)
                  if area.covers(hex_polygon(i, j, size)))


def test_hairline_holes_in_the_territory_keep_no_cell_out(tmp_path: Any) -> None:
    """Four wards tiling a 6 km square, each missing 1 m² at the shared corner (as layers whose
    edges do not quite meet): their union has a 4 m² hole, and the cell around it still counts
    as lying inside the city (holes under 1 % of a cell are not edges). The cells are those of
    the full square."""
    size = 500.0
    i, j = brute_force_hex(*project([CENTER_LON], [CENTER_LAT]), size)[0][0]
    cx, cy = hex_centre(i, j, size)  # the hole sits at a cell's centre
    quadrants = [shapely.box(cx + dx * 3_000, cy + dy * 3_000, cx, cy).difference(
        shapely.box(cx + dx, cy + dy, cx, cy)) for dx in (-1, 1) for dy in (-1, 1)]
    assert shapely.union_all(quadrants).interiors[0].length == pytest.approx(8.0)
    found = grid_units_over([shapely.transform(q, lambda xy: np.column_stack(
        unproject(xy[:, 0], xy[:, 1]))) for q in quadrants], size, tmp_path)
    square = shapely.box(cx - 3_000, cy - 3_000, cx + 3_000, cy + 3_000)
    assert (i, j) in found and found == covered_cells(square, size)


def test_a_ward_invalid_once_projected_is_analysed(tmp_path: Any) -> None:
    """A ward valid in lon/lat whose holes touch its shell at a point on an edge: projected, an
    edge bends and a hole crosses the shell (GEOS refused to test cells against it and the
    analysis failed). The cells are those the repaired projection covers."""
    ward = shapely.Polygon(
        [(105.80, 21.00), (105.90, 21.00), (105.90, 21.05), (105.80, 21.05)],
        [[(105.85, 21.00), (105.86, 21.01), (105.84, 21.01)],
         [(105.85, 21.05), (105.84, 21.04), (105.86, 21.04)]])
    projected = shapely.transform(ward, lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1])))
    assert ward.is_valid and not projected.is_valid
    found = grid_units_over([ward], 500.0, tmp_path)
    assert found and found == covered_cells(shapely.make_valid(projected), 500.0)
