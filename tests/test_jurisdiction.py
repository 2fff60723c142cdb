"""Jurisdiction lookup against shapely's answer on the same source polygons."""

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point
from sqlalchemy import Engine, event

from tests.conftest import Demo, GraphQLClient, StatementCounter

QUERY = """
query($points: [PointInput!]!, $at: DateTime) {
  jurisdictions(points: $points, at: $at) {
    lon lat
    ward { code level } district { code } city { code }
    responsibleArea { code }
  }
}"""

# (generation whose areas are in force, a date inside its validity)
GENERATIONS = [("demo-2019", "2024-01-01T00:00:00+00:00"), ("demo-2025", None)]


def expected(demo: Demo, generation: str, level: str, points: list[tuple[float, float]]) -> list:
    """Lowest code among the areas covering each point, computed with shapely alone."""
    areas = sorted(demo.areas(generation, level), key=lambda a: a.code)
    tree = shapely.STRtree([a.geometry for a in areas])
    answers = []
    for lon, lat in points:
        point = Point(lon, lat)
        hits = [areas[i].code for i in tree.query(point, predicate="covered_by")]
        answers.append(min(hits) if hits else None)
    return answers


def random_points(demo: Demo, n: int, seed: int) -> list[tuple[float, float]]:
    """Uniform over the city's bounding box widened by 10 %: some fall outside the city."""
    west, south, east, north = demo.outline.bounds
    dx, dy = (east - west) * 0.1, (north - south) * 0.1
    rng = np.random.default_rng(seed)
    lons = rng.uniform(west - dx, east + dx, n)
    lats = rng.uniform(south - dy, north + dy, n)
    return [(float(x), float(y)) for x, y in zip(lons, lats, strict=True)]


def shared_vertices(demo: Demo, generation: str, limit: int) -> list[tuple[float, float]]:
    """Vertices lying on the common edge of two adjacent wards: covered by both."""
    wards = demo.areas(generation, "ward")
    tree = shapely.STRtree([w.geometry for w in wards])
    points: list[tuple[float, float]] = []
    for i, ward in enumerate(wards):
        for j in tree.query(ward.geometry, predicate="touches"):
            if j <= i:
                continue
            edge = ward.geometry.boundary.intersection(wards[j].geometry.boundary)
            coords = shapely.get_coordinates(edge)
            if len(coords):
                points.append(tuple(map(float, coords[len(coords) // 2])))
            if len(points) >= limit:
                return points
    return points


@pytest.mark.parametrize(("generation", "at"), GENERATIONS)
def test_batch_lookup_matches_shapely(gql: GraphQLClient, demo: Demo, generation: str,
                                      at: str | None) -> None:
    points = random_points(demo, 2_000, seed=11)
    result = gql.data(QUERY, {"points": [{"lon": x, "lat": y} for x, y in points], "at": at})
    rows = result["jurisdictions"]
    assert [(r["lon"], r["lat"]) for r in rows] == points  # same order as asked
    for level in ("ward", "district", "city"):
        got = [r[level]["code"] if r[level] else None for r in rows]
        assert got == expected(demo, generation, level, points), level
    outside = sum(r["city"] is None for r in rows)
    assert 100 < outside < 1_500, "the sample must include points outside the city"
    responsible = [r["responsibleArea"]["code"] if r["responsibleArea"] else None for r in rows]
    assert responsible == [r["ward"]["code"] if r["ward"] else None for r in rows]


@pytest.mark.parametrize(("generation", "at"), GENERATIONS)
def test_points_on_shared_edges_resolve_to_lowest_code(gql: GraphQLClient, demo: Demo,
                                                      generation: str, at: str | None) -> None:
    points = shared_vertices(demo, generation, limit=150)
    assert len(points) >= 100
    want = expected(demo, generation, "ward", points)
    # Each is covered by at least two wards, so the rule is what decides.
    wards = [w.geometry for w in demo.areas(generation, "ward")]
    assert all(sum(g.covers(Point(p)) for g in wards) >= 2 for p in points[:20])
    result = gql.data(QUERY, {"points": [{"lon": x, "lat": y} for x, y in points], "at": at})
    assert [r["ward"]["code"] for r in result["jurisdictions"]] == want


def test_single_lookup_and_generations_differ(gql: GraphQLClient, demo: Demo) -> None:
    ward = demo.areas("demo-2025", "ward")[0]
    inside = ward.geometry.representative_point()
    query = """query($lon: Float!, $lat: Float!, $at: DateTime) {
      jurisdiction(lon: $lon, lat: $lat, at: $at) {
        ward { code name level generation { name validFrom validTo } parent { code level } }
      }}"""
    now = gql.data(query, {"lon": inside.x, "lat": inside.y})["jurisdiction"]["ward"]
    assert now["code"] == ward.code and now["level"] == "WARD"
    assert now["generation"] == {"name": "demo-2025", "validFrom": "2025-07-01", "validTo": None}
    assert now["parent"] == {"code": ward.parent_code, "level": "DISTRICT"}
    before = gql.data(query, {"lon": inside.x, "lat": inside.y,
                              "at": "2020-05-01T00:00:00Z"})["jurisdiction"]["ward"]
    assert before["generation"]["name"] == "demo-2019"
    assert before["code"] == expected(demo, "demo-2019", "ward", [(inside.x, inside.y)])[0]


def test_a_lookup_and_its_areas_take_one_connection(gql: GraphQLClient, demo: Demo,
                                                    engine: Engine,
                                                    count_statements: StatementCounter) -> None:
    """The lookup's ward and district come with it, on the same pooled connection (one thread
    hop): the lookup, then the areas' rows, and no third statement for fields that follow."""
    ward = demo.areas("demo-2025", "ward")[3]
    inside = ward.geometry.representative_point()
    query = """query($lon: Float!, $lat: Float!) { jurisdiction(lon: $lon, lat: $lat) {
      ward { code name } district { code name } responsibleArea { code } } }"""
    checkouts: list[object] = []
    listener = lambda *_: checkouts.append(1)  # noqa: E731
    event.listen(engine, "checkout", listener)
    try:
        gql.data(query, {"lon": inside.x, "lat": inside.y})  # the statements are prepared
        checkouts.clear()
        count_statements.statements.clear()
        found = gql.data(query, {"lon": inside.x, "lat": inside.y})["jurisdiction"]
    finally:
        event.remove(engine, "checkout", listener)
    assert found["ward"]["code"] == ward.code == found["responsibleArea"]["code"]
    assert found["district"]["code"] == ward.parent_code
    assert len(checkouts) == 1
    assert len(count_statements.statements) == 2, count_statements.statements


def test_point_outside_every_area_gives_nulls(gql: GraphQLClient) -> None:
    result = gql.data("{ jurisdiction(lon: 2.35, lat: 48.85) { ward { code } district { code }"
                      " city { code } responsibleArea { code } } }")
    assert result["jurisdiction"] == {"ward": None, "district": None, "city": None,
                                      "responsibleArea": None}


def test_no_generation_in_force_gives_nulls(gql: GraphQLClient, demo: Demo) -> None:
    inside = demo.outline.representative_point()
    result = gql.data("query($lon: Float!, $lat: Float!) { jurisdiction(lon: $lon, lat: $lat,"
                      " at: \"2010-01-01T00:00:00Z\") { ward { code } } }",
                      {"lon": inside.x, "lat": inside.y})
    assert result["jurisdiction"]["ward"] is None  # 2010: before the first demo generation


def test_area_geometry_and_simplify(gql: GraphQLClient, demo: Demo) -> None:
    ward = max(demo.areas("demo-2025", "ward"), key=lambda a: len(shapely.get_coordinates(
        a.geometry)))
    query = """query($code: String!) { area(code: $code) { code areaKm2
        full: geometry simple: geometry(simplify: 200) } }"""
    area = gql.data(query, {"code": ward.code})["area"]
    full = shapely.geometry.shape(area["full"])
    simple = shapely.geometry.shape(area["simple"])
    assert full.symmetric_difference(ward.geometry).area < 1e-9
    assert shapely.get_num_coordinates(simple) < shapely.get_num_coordinates(full)
    # A 200 m tolerance moves the boundary by at most ~200 m (~0.002° here).
    assert simple.hausdorff_distance(full) < 0.0025
    assert area["areaKm2"] == pytest.approx(_geodesic_km2(ward.geometry), rel=1e-3)


@pytest.mark.parametrize("simplify", [-1.0, -2.0370845388731864e16, 10_000.5, 1e300])
def test_a_tolerance_outside_its_range_is_bad_input(gql: GraphQLClient, demo: Demo,
                                                    simplify: float) -> None:
    """Hypothesis found GEOS refusing a negative tolerance as an INTERNAL_ERROR (CI, 5 Dec)."""
    ward = demo.areas("demo-2025", "ward")[0]
    for query in (f'query($s: Float!) {{ area(code: "{ward.code}") {{ geometry(simplify: $s) }} }}',
                  "query($s: Float!) { areaStats(level: WARD) { "
                  "featureCollection(simplify: $s) } }"):
        body = gql(query, {"s": simplify})
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_INPUT", error
        assert "simplify must be within 0 and 10000 metres" in error["message"]


def test_areas_by_level_parent_and_generation(gql: GraphQLClient, demo: Demo) -> None:
    district = demo.areas("demo-2025", "district")[0]
    query = """query($parent: String, $gen: String) {
      areas(level: WARD, parentCode: $parent, generation: $gen) { code } }"""
    for generation in ("demo-2019", "demo-2025"):
        got = {a["code"] for a in gql.data(query, {"parent": district.code,
                                                   "gen": generation})["areas"]}
        want = {a.code for a in demo.areas(generation, "ward")
                if a.parent_code == district.code}
        assert got == want and got
    in_force = {a["code"] for a in gql.data(query, {})["areas"]}
    assert in_force == {a.code for a in demo.areas("demo-2025", "ward")}


def _geodesic_km2(geometry: shapely.Geometry) -> float:
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(geometry)[0]) / 1e6


def test_levels_selected_through_fragments_are_looked_up(gql: GraphQLClient,
                                                         demo: Demo) -> None:
    inside = [w.geometry.representative_point() for w in demo.areas("demo-2025", "ward")[:40]]
    points = [{"lon": p.x, "lat": p.y} for p in inside] + [{"lon": 2.35, "lat": 48.85}]
    plain = gql.data("query($p: [PointInput!]!) { jurisdictions(points: $p) "
                     "{ ward { code } district { code } } }", {"p": points})
    fragments = gql.data("""query($p: [PointInput!]!) { jurisdictions(points: $p) {
        ...W ... on Jurisdiction { district { code } } } }
        fragment W on Jurisdiction { ward { code } }""", {"p": points})
    assert fragments == plain
    assert sum(r["ward"] is not None for r in plain["jurisdictions"]) == 40
