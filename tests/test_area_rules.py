"""One rule for "the area covering a point" and one for "the generation in force".

A complaint's routed ward (``submitComplaint``), its stored placement (``complaint_area``, what
choropleths count by) and the choropleth itself must name the same ward, the lowest code among
the wards covering the point, computed here with shapely, exactly where the rule decides:
on shared edges and shared vertices of the demo wards, and inside the overlap sliver of two
wards of a test generation. The generation in force is checked by hand from the dates, and
``phananh boundaries activate``/``deactivate`` through the real command.
"""

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, box, mapping
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import create_app
from db.engine import make_engine
from demo.seed import seed_boundaries
from geo.boundaries import BoundaryFile, import_boundaries
from settings import Settings
from tests.conftest import Demo, GraphQLClient, fresh_database, phananh

SUBMIT = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) {
  id ward { code generation { name } } } }"""
AREA_COUNTS = """query($generation: String) {
  areaStats(level: WARD, generation: $generation) { areas { code count } } }"""
GENERATIONS = "{ generations { name active inForce } }"

# Two overlapping test wards; the higher code is imported first (lower id), so "lowest code"
# and "first imported" disagree in the sliver. (lon, lat) of the south-west corner.
WEST, SOUTH = 105.80, 21.00
SLIVER_WARDS = (("S2", box(WEST, SOUTH, WEST + 0.010, SOUTH + 0.010)),
                ("S1", box(WEST + 0.008, SOUTH, WEST + 0.018, SOUTH + 0.010)))
SLIVER_GENERATION = "sliver-test"


@pytest.fixture(scope="module")
def city(demo: Demo) -> Iterator[tuple[Engine, GraphQLClient, str]]:
    """A database of its own (this module adds a generation in force): the demo boundaries,
    no complaints, and submissions unthrottled."""
    for url in fresh_database():
        settings = Settings(database_url=url, submissions_per_minute_per_client=100_000)
        engine = make_engine(settings.sqlalchemy_url)
        seed_boundaries(engine, demo.generations)
        try:
            with TestClient(create_app(settings, engine)) as client:
                yield engine, GraphQLClient(client), url
        finally:
            engine.dispose()


def lowest_code(areas: list[tuple[str, Any]], lon: float, lat: float) -> str | None:
    """The independent rule: the lowest code among the areas that cover the point."""
    codes = [code for code, geometry in areas if geometry.covers(Point(lon, lat))]
    return min(codes) if codes else None


def wards(demo: Demo, generation: str) -> list[tuple[str, Any]]:
    return [(w.code, w.geometry) for w in demo.areas(generation, "ward")]


def rings(geometry: Any) -> list[list[tuple[float, float]]]:
    return [list(polygon.exterior.coords) for polygon in shapely.get_parts(geometry)]


def shared_points(demo: Demo, generation: str) -> dict[str, list[tuple[float, float]]]:
    """Points covered by several wards, from the coordinates alone: vertices of exactly two
    wards (on a shared edge), of three or more (corners), and midpoints of shared segments
    that are exactly representable (checked in rational arithmetic), hence exactly on both
    wards' boundaries without being vertices."""
    vertex_wards: dict[tuple[float, float], set[str]] = {}
    segment_wards: dict[frozenset, set[str]] = {}
    for code, geometry in wards(demo, generation):
        for ring in rings(geometry):
            for a, b in pairwise(ring):
                vertex_wards.setdefault(a, set()).add(code)
                segment_wards.setdefault(frozenset((a, b)), set()).add(code)
    edge = [v for v, codes in vertex_wards.items() if len(codes) == 2]
    corner = [v for v, codes in vertex_wards.items() if len(codes) >= 3]
    middle = []
    for segment, codes in segment_wards.items():
        (ax, ay), (bx, by) = sorted(segment)
        mx, my = (ax + bx) / 2, (ay + by) / 2
        exact = Fraction(mx) == (Fraction(ax) + Fraction(bx)) / 2 and \
            Fraction(my) == (Fraction(ay) + Fraction(by)) / 2
        if len(codes) == 2 and exact and (mx, my) not in vertex_wards:
            middle.append((mx, my))
    return {"edge": sorted(edge)[::10][:30], "corner": sorted(corner)[::10][:20],
            "middle": sorted(middle)[::5][:30]}


def submit(gql: GraphQLClient, points: list[tuple[float, float]]) -> list[dict[str, Any]]:
    return [gql.data(SUBMIT, {"i": {"categoryCode": "other", "description": "Ranh giới",
                                    "lon": lon, "lat": lat}})["submitComplaint"]
            for lon, lat in points]


def placed(engine: Engine, generation: str, public_ids: list[str]) -> list[str | None]:
    """Each complaint's stored ward in ``generation`` (None: in no ward of it)."""
    with engine.connect() as conn:
        found = dict(conn.execute(text("""
            SELECT c.public_id, a.code FROM complaint c
            JOIN complaint_area ca ON ca.complaint_id = c.id AND ca.level = 'ward'
            JOIN boundary_generation g ON g.id = ca.generation_id AND g.name = :generation
            JOIN admin_area a ON a.id = ca.area_id
            WHERE c.public_id = ANY(:ids)"""), {"generation": generation, "ids": public_ids}).all())
    return [found.get(public_id) for public_id in public_ids]


def area_counts(gql: GraphQLClient, generation: str | None) -> Counter:
    areas = gql.data(AREA_COUNTS, {"generation": generation})["areaStats"]["areas"]
    return Counter({a["code"]: a["count"] for a in areas if a["count"]})


def in_force(gql: GraphQLClient) -> dict[str, list[str]]:
    return {g["name"]: g["inForce"] for g in gql.data(GENERATIONS)["generations"]}


def test_routing_and_placement_agree_on_shared_edges(city: tuple, demo: Demo) -> None:
    engine, gql, _ = city
    kinds = shared_points(demo, "demo-2025")
    assert {kind: len(points) >= 15 for kind, points in kinds.items()} == \
        {"edge": True, "corner": True, "middle": True}
    points = [p for kind in ("edge", "corner", "middle") for p in kinds[kind]]
    now = wards(demo, "demo-2025")
    # The rule decides each of them: every point is covered by two wards at least.
    assert all(sum(g.covers(Point(p)) for _, g in now) >= 2 for p in points)
    complaints = submit(gql, points)
    ids = [c["id"] for c in complaints]

    expected = [lowest_code(now, *p) for p in points]
    assert [c["ward"]["code"] for c in complaints] == expected  # routed
    assert {c["ward"]["generation"]["name"] for c in complaints} == {"demo-2025"}
    assert placed(engine, "demo-2025", ids) == expected  # stored placement
    assert area_counts(gql, None) == Counter(expected)  # the choropleth in force
    # In the older generation, where nothing was routed, the choropleth counts by placement.
    before = [lowest_code(wards(demo, "demo-2019"), *p) for p in points]
    assert placed(engine, "demo-2019", ids) == before
    assert area_counts(gql, "demo-2019") == Counter(before)

    seed_boundaries(engine, demo.generations)  # a re-import places every complaint again
    assert placed(engine, "demo-2025", ids) == expected
    assert placed(engine, "demo-2019", ids) == before


def sliver_points() -> list[tuple[float, float]]:
    """Inside the sliver, on its four sides, at its corners, and inside one ward only."""
    left, right = WEST + 0.008, WEST + 0.010  # the sliver spans [left, right] × [SOUTH, top]
    top, middle = SOUTH + 0.010, SOUTH + 0.005
    centre = (left + right) / 2
    return [(centre, middle), (centre, SOUTH + 0.001), (centre, top - 0.001),
            (left, middle), (right, middle), (centre, SOUTH), (centre, top),
            (left, SOUTH), (right, SOUTH), (left, top), (right, top),
            (WEST + 0.004, middle), (WEST + 0.014, middle), (WEST, middle),
            (WEST + 0.018, SOUTH)]


def import_sliver_generation(engine: Engine, folder: Path) -> None:
    path = folder / "sliver.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": mapping(geometry),
         "properties": {"code": code, "name": f"Phường {code}"}}
        for code, geometry in SLIVER_WARDS]}), encoding="utf-8")
    import_boundaries(engine, BoundaryFile(path, "ward"), SLIVER_GENERATION,
                      valid_from=date(2025, 8, 1))


def test_routing_and_placement_agree_in_an_overlap_sliver(city: tuple, demo: Demo,
                                                         tmp_path: Path) -> None:
    engine, gql, _ = city
    import_sliver_generation(engine, tmp_path)
    # Wards: the test generation (newest valid_from); districts and the city: demo-2025.
    assert in_force(gql) == {SLIVER_GENERATION: ["WARD"], "demo-2025": ["CITY", "DISTRICT"],
                             "demo-2019": []}
    points = sliver_points()
    sliver = SLIVER_WARDS[0][1].intersection(SLIVER_WARDS[1][1])
    assert sum(sliver.covers(Point(p)) for p in points) == 11
    complaints = submit(gql, points)
    expected = [lowest_code(list(SLIVER_WARDS), *p) for p in points]
    assert expected.count("S1") == 13 and expected.count("S2") == 2
    assert [c["ward"]["code"] for c in complaints] == expected
    assert placed(engine, SLIVER_GENERATION, [c["id"] for c in complaints]) == expected
    assert area_counts(gql, None) == Counter(expected)


def test_boundaries_activate_and_deactivate(city: tuple, demo: Demo, tmp_path: Path) -> None:
    engine, gql, url = city
    if SLIVER_GENERATION not in in_force(gql):
        import_sliver_generation(engine, tmp_path)
    inside = (WEST + 0.009, SOUTH + 0.005)
    query = """query($lon: Float!, $lat: Float!) { jurisdiction(lon: $lon, lat: $lat) {
        ward { code generation { name } } } }"""

    result = phananh(url, "boundaries", "deactivate", SLIVER_GENERATION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert in_force(gql)["demo-2025"] == ["CITY", "DISTRICT", "WARD"]
    assert in_force(gql)[SLIVER_GENERATION] == []
    ward = gql.data(query, {"lon": inside[0], "lat": inside[1]})["jurisdiction"]["ward"]
    assert ward == {"code": lowest_code(wards(demo, "demo-2025"), *inside),
                    "generation": {"name": "demo-2025"}}

    result = phananh(url, "boundaries", "activate", SLIVER_GENERATION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {g["name"]: g["active"] for g in gql.data(GENERATIONS)["generations"]} == \
        {SLIVER_GENERATION: True, "demo-2025": True, "demo-2019": True}
    ward = gql.data(query, {"lon": inside[0], "lat": inside[1]})["jurisdiction"]["ward"]
    assert ward == {"code": "S1", "generation": {"name": SLIVER_GENERATION}}

    unknown = phananh(url, "boundaries", "deactivate", "no-such-generation")
    assert unknown.returncode == 1
    assert "No boundary generation 'no-such-generation'" in unknown.stdout
    assert "Traceback" not in unknown.stdout + unknown.stderr
    usage = phananh(url, "boundaries", "--help")
    assert usage.returncode == 0 and "activate" in usage.stdout and "deactivate" in usage.stdout
