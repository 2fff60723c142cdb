"""Complaints with line and polygon footprints (issue 14), against independent computations.

Shares are computed by shapely in the UTM plane (EPSG:32648): a ratio of lengths or areas there
equals the spheroid's to a few parts per million over a few hundred metres. The module has its
own database (the demo city's boundaries and a few hundred complaints), so its footprints never
surprise the point-based checks of the other modules.
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
import shapely
from playwright.sync_api import sync_playwright
from pyproj import Transformer
from shapely.geometry import LineString, Point, box, mapping, shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, event, text
from starlette.testclient import TestClient

from app import WEB_DIST, create_app
from auth import users
from auth.principal import Role
from auth.tokens import issue_token
from db.engine import make_engine
from demo.city import build_demo_city
from demo.complaints import generate_complaints
from demo.seed import seed_boundaries, seed_complaints
from settings import Settings
from tests.conftest import GraphQLClient, fresh_database, hanoi_data, phananh
from tests.layers_support import tile_of
from tests.live_server import live_server

ARTIFACTS = Path(__file__).parent / "artifacts"
TO_UTM = Transformer.from_crs(4326, 32648, always_xy=True)
FROM_UTM = Transformer.from_crs(32648, 4326, always_xy=True)
SHARE_TOLERANCE = 1e-4
FIELDS = """id lon lat footprint location ward { code } district { code }
    wards { share area { code } }
    wardRouting { rule withinM candidates { distanceM ward { code } }
              shares { share area { code } } }"""
SUBMIT = f"""mutation($i: SubmitComplaintInput!) {{ submitComplaint(input: $i) {{ {FIELDS} }} }}"""


def utm(geometry: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geometry, lambda xy: np.column_stack(
        TO_UTM.transform(xy[:, 0], xy[:, 1])))


def lonlat(geometry: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geometry, lambda xy: np.column_stack(
        FROM_UTM.transform(xy[:, 0], xy[:, 1])))


@dataclass(frozen=True)
class City:
    gql: GraphQLClient
    client: TestClient
    engine: Engine
    settings: Settings
    wards: dict[str, BaseGeometry]  # the wards in force (demo-2025), lon/lat
    started: datetime
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def city() -> Iterator[City]:
    for url in fresh_database():
        settings = Settings(database_url=url, submissions_per_minute_per_client=100_000)
        engine = make_engine(settings.sqlalchemy_url)
        generations = build_demo_city()
        seed_boundaries(engine, generations)
        outline = next(a.geometry for a in generations[-1].areas if a.level == "city")
        started = datetime.now(UTC)
        seed_complaints(engine, generate_complaints(300, outline, seed=3, now=started), 300)
        wards = {a.code: a.geometry for a in generations[-1].areas if a.level == "ward"}
        try:
            with TestClient(create_app(settings, engine)) as client:
                yield City(GraphQLClient(client), client, engine, settings, wards,
                           started, {})
        finally:
            engine.dispose()


def submit(city: City, geometry: BaseGeometry | dict[str, Any], category: str = "other",
           **extra: Any) -> dict[str, Any]:
    location = geometry if isinstance(geometry, dict) else mapping(geometry)
    return city.gql(SUBMIT, {"i": {"categoryCode": category, "description": "footprint",
                                   "location": location, **extra}})


def submitted(city: City, geometry: BaseGeometry, **extra: Any) -> dict[str, Any]:
    body = submit(city, geometry, **extra)
    assert "errors" not in body, body["errors"]
    return body["data"]["submitComplaint"]


def expected_shares(city: City, footprint: BaseGeometry) -> dict[str, float]:
    """Each ward's share of the footprint's length or area, by shapely in UTM."""
    projected = utm(footprint)
    measure = (lambda g: g.length) if footprint.geom_type.endswith("LineString") else \
        (lambda g: g.area)
    total = measure(projected)
    shares = {}
    for code, ward in city.wards.items():
        if ward.intersects(footprint):
            part = measure(projected.intersection(utm(ward)))
            if part > 0:
                shares[code] = part / total
    return shares


def largest(shares: dict[str, float]) -> str:
    best = max(shares.values())
    return min(code for code, share in shares.items() if abs(share - best) < 1e-9)


def triple_point(city: City) -> Point:
    """A point where three wards in force meet."""
    codes = sorted(city.wards)
    tree = shapely.STRtree([city.wards[c] for c in codes])
    for code in codes:
        a = city.wards[code]
        neighbours = [codes[i] for i in tree.query(a, predicate="touches")]
        for b in neighbours:
            for c in neighbours:
                if b < c and city.wards[b].touches(city.wards[c]):
                    meet = a.boundary.intersection(city.wards[b].boundary).intersection(
                        city.wards[c].boundary)
                    if not meet.is_empty:
                        return shapely.get_geometry(meet, 0) if meet.geom_type.startswith(
                            "Multi") or meet.geom_type == "GeometryCollection" else meet
    raise AssertionError("no three wards meet in the demo city")


def disc(centre: Point, radius_m: float) -> BaseGeometry:
    return lonlat(utm(centre).buffer(radius_m, quad_segs=16))


def shifted(centre: Point, dx: float, dy: float) -> Point:
    x, y = TO_UTM.transform(centre.x, centre.y)
    return Point(FROM_UTM.transform(x + dx, y + dy))


def segment(centre: Point, dx1: float, dy1: float, dx2: float, dy2: float) -> LineString:
    x, y = TO_UTM.transform(centre.x, centre.y)
    return lonlat(LineString([(x + dx1, y + dy1), (x + dx2, y + dy2)]))


# --- shares, the largest-share rule, the representative point ------------------------------

def test_shares_of_a_polygon_and_a_line_across_three_wards(city: City) -> None:
    meet = triple_point(city)
    for footprint in (disc(meet, 180), segment(meet, -400, -150, 350, 200),
                      shapely.MultiLineString([segment(meet, -300, 0, 300, 10),
                                               segment(meet, 0, -300, 10, 300)]),
                      shapely.MultiPolygon([disc(shifted(meet, dx, 0), 50) for dx in (-70, 70)])):
        expected = expected_shares(city, footprint)
        assert len(expected) >= 2
        complaint = submitted(city, footprint)
        got = {w["area"]["code"]: w["share"] for w in complaint["wards"]}
        assert got.keys() == expected.keys()
        for code, share in expected.items():
            assert got[code] == pytest.approx(share, abs=SHARE_TOLERANCE), code
        assert complaint["ward"]["code"] == largest(expected)
        assert complaint["wardRouting"]["rule"] == "largest_share"
        recorded = {s["area"]["code"]: s["share"] for s in complaint["wardRouting"]["shares"]}
        assert recorded == pytest.approx(got)
        assert shape(complaint["footprint"]).equals_exact(footprint, tolerance=1e-7)


def test_the_representative_point_lies_on_the_feature(city: City) -> None:
    meet = triple_point(city)
    centre = utm(meet)
    # A ring whose centroid is in its hole, and a U whose centroid is outside it.
    ring = lonlat(centre.buffer(150).difference(centre.buffer(120)))
    u_shape = lonlat(box(centre.x - 150, centre.y - 150, centre.x + 150, centre.y + 150)
                     .difference(box(centre.x - 100, centre.y - 100, centre.x + 100,
                                     centre.y + 160)))
    bent = lonlat(LineString([(centre.x - 200, centre.y), (centre.x, centre.y + 30),
                              (centre.x + 50, centre.y + 300)]))
    for footprint in (ring, u_shape, bent, shapely.MultiPoint([meet, bent.coords[0]])):
        assert not footprint.centroid.within(footprint) or footprint.geom_type != "Polygon"
        complaint = submitted(city, footprint)
        point = Point(complaint["lon"], complaint["lat"])
        assert shape(complaint["location"]).equals(point)
        if footprint.geom_type == "LineString":
            assert footprint.distance(point) < 1e-9
            halfway = footprint.interpolate(0.5, normalized=True)
            assert point.distance(halfway) < 1e-9
        else:
            assert footprint.covers(point)


def test_a_new_footprint_moves_the_point_and_its_placement(city: City) -> None:
    """Whatever writes the footprint (here plain SQL), the point follows it onto the new
    footprint, and so does the stored placement the choropleths read."""
    complaint = submitted(city, disc(triple_point(city), 40))
    elsewhere = next(iter(city.wards.values())).representative_point()
    moved = disc(elsewhere, 30)
    with city.engine.begin() as conn:
        conn.execute(text("UPDATE complaint SET footprint = ST_GeomFromText(:wkt, 4326) "
                          "WHERE public_id = :id"), {"wkt": moved.wkt, "id": complaint["id"]})
        point, placed = conn.execute(text("""
            SELECT ST_AsText(c.location), a.code FROM complaint c
            JOIN complaint_area ca ON ca.complaint_id = c.id AND ca.level = 'ward'
            JOIN admin_area a ON a.id = ca.area_id
            JOIN boundary_generation g ON g.id = a.generation_id AND g.name = 'demo-2025'
            WHERE c.public_id = :id"""), {"id": complaint["id"]}).one()
    point = shapely.from_wkt(point)
    assert moved.covers(point)
    assert placed == min(c for c, w in city.wards.items() if w.covers(point))


def test_ties_go_to_the_lowest_code(city: City) -> None:
    """Two square wards meeting along a meridian, in a generation that is not in force; a
    square centred on their edge has two equal shares, and the lowest code wins whatever the
    order the areas were stored in."""
    with city.engine.begin() as conn:
        generation = conn.execute(text("""
            INSERT INTO boundary_generation (name, active) VALUES ('tie-test', false)
            RETURNING id""")).scalar_one()
        for code, west in (("T-B", 105.0), ("T-A", 105.01)):  # "T-B" stored first
            conn.execute(text("""
                INSERT INTO admin_area (generation_id, level, code, name, geom, area_km2)
                VALUES (:g, 'ward', :code, :code,
                        ST_Multi(ST_MakeEnvelope(:w, 20.0, :w + 0.01, 20.01, 4326)), 1)"""),
                {"g": generation, "code": code, "w": west})
        conn.execute(text("""
            INSERT INTO admin_area_part (area_id, generation_id, level, code, geom)
            SELECT id, generation_id, level, code, ST_Subdivide(geom, 128)
            FROM admin_area WHERE generation_id = :g"""), {"g": generation})
    try:
        with city.engine.connect() as conn:
            def responsible(footprint: BaseGeometry) -> list[Any]:
                return list(conn.execute(text("""
                    SELECT a.code, r.share FROM responsible_areas(
                        ST_GeomFromText(:wkt, 4326), ARRAY['ward'], ARRAY[:g]) r
                    JOIN admin_area a ON a.id = r.area_id"""),
                    {"wkt": footprint.wkt, "g": generation}))

            even = box(105.008, 20.004, 105.012, 20.006)
            assert [(code, round(share, 6)) for code, share in responsible(even)] == \
                [("T-A", 0.5)]
            uneven = box(105.007, 20.004, 105.012, 20.006)  # 3/5 in T-B
            assert [code for code, _ in responsible(uneven)] == ["T-B"]
            along = LineString([(105.009, 20.005), (105.011, 20.005)])
            assert [code for code, _ in responsible(along)] == ["T-A"]
            shares = dict(conn.execute(text("""
                SELECT code, share FROM footprint_shares(ST_GeomFromText(:wkt, 4326),
                    ARRAY['ward'], ARRAY[:g])"""), {"wkt": uneven.wkt, "g": generation}).all())
            assert shares == pytest.approx({"T-B": 0.6, "T-A": 0.4}, abs=1e-6)
    finally:
        with city.engine.begin() as conn:
            conn.execute(text("DELETE FROM boundary_generation WHERE id = :g"),
                         {"g": generation})


# --- border candidates -----------------------------------------------------------------------

CANDIDATES = """query($lon: Float!, $lat: Float!, $m: Float) { jurisdiction(lon: $lon, lat: $lat)
    { ward { code } candidates(withinM: $m) { distanceM ward { code } } } }"""


def shapely_candidates(city: City, point: Point, within_m: float) -> dict[str, float]:
    here = utm(point)
    return {code: utm(ward).distance(here) for code, ward in city.wards.items()
            if utm(ward).distance(here) <= within_m + 1}


@pytest.mark.parametrize(("offset_m", "within_m"), [(12.0, None), (12.0, 5.0), (40.0, 100.0)])
def test_border_candidates_within_the_distance(city: City, offset_m: float,
                                               within_m: float | None) -> None:
    meet = utm(triple_point(city))
    ward = next(code for code, w in sorted(city.wards.items())
                if w.covers(lonlat(Point(meet.x + offset_m, meet.y + offset_m / 3))))
    point = lonlat(Point(meet.x + offset_m, meet.y + offset_m / 3))
    distance = 30.0 if within_m is None else within_m
    expected = shapely_candidates(city, point, distance)
    sure = {code for code, d in expected.items() if d <= distance - 0.1}
    data = city.gql.data(CANDIDATES, {"lon": point.x, "lat": point.y, "m": within_m})
    got = {c["ward"]["code"]: c["distanceM"] for c in data["jurisdiction"]["candidates"]}
    assert sure <= got.keys() <= expected.keys()
    for code, metres in got.items():
        assert metres == pytest.approx(expected[code], abs=0.05 + 1e-3 * expected[code])
    assert got[ward] == 0 and data["jurisdiction"]["ward"]["code"] == ward
    ordered = [c["distanceM"] for c in data["jurisdiction"]["candidates"]]
    assert ordered == sorted(ordered)
    assert len(sure) >= (2 if distance > offset_m else 1)


def test_submission_records_its_candidates(city: City) -> None:
    meet = utm(triple_point(city))
    point = lonlat(Point(meet.x + 8, meet.y + 3))
    complaint = submitted(city, point)
    routing = complaint["wardRouting"]
    assert routing["rule"] == "covers" and routing["withinM"] == 30
    expected = shapely_candidates(city, point, 30)
    got = {c["ward"]["code"]: c["distanceM"] for c in routing["candidates"]}
    assert {c for c, d in expected.items() if d < 29.9} <= got.keys() <= expected.keys()
    assert len(got) >= 2 and got[complaint["ward"]["code"]] == 0


# --- rerouting to a candidate ------------------------------------------------------------------

REROUTE = """mutation($id: ID!, $w: String!, $v: Int!) {
    rerouteToCandidate(id: $id, wardCode: $w, expectedVersion: $v, note: "bên kia đường") {
        status ward { code } wardRouting { rule } history { kind data } } }"""


def token(city: City, name: str, role: Role, areas: tuple[str, ...] = ()) -> dict[str, str]:
    if name not in city.tokens:
        with city.engine.begin() as conn:
            users.add_user(conn, name, role, areas)
            city.tokens[name] = issue_token(conn, name)
    return {"Authorization": f"Bearer {city.tokens[name]}"}


def test_an_official_reroutes_to_a_candidate(city: City) -> None:
    meet = triple_point(city)
    complaint = submitted(city, disc(meet, 120))
    home = complaint["ward"]["code"]
    other = next(w["area"]["code"] for w in complaint["wards"] if w["area"]["code"] != home)
    far = next(code for code in sorted(city.wards) if code not in
               {w["area"]["code"] for w in complaint["wards"]} | {
                   c["ward"]["code"] for c in complaint["wardRouting"]["candidates"]})
    variables = {"id": complaint["id"], "w": other, "v": 1}
    outsider = token(city, "fp-outsider", Role.WARD_OFFICER, (far,))
    refused = city.gql(REROUTE, variables, headers=outsider)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    officer = token(city, f"fp-officer-{home}", Role.WARD_OFFICER, (home,))
    wrong = city.gql(REROUTE, {**variables, "w": far}, headers=officer)
    assert wrong["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert other in wrong["errors"][0]["extensions"]["candidates"]
    done = city.gql(REROUTE, variables, headers=officer)["data"]["rerouteToCandidate"]
    assert done["ward"]["code"] == other and done["status"] == "RECEIVED"
    assert done["wardRouting"]["rule"] == "rerouted"
    assert done["history"][-1] == {"kind": "REROUTED",
                                   "data": {"fromWard": home, "toWard": other}}


# --- filters, tiles and exports test the footprint -------------------------------------------

LIST = """query($f: ComplaintFilter, $after: String) { complaints(filter: $f, first: 500,
    after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } } }"""


def listed(city: City, f: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    after = None
    while True:
        page = city.gql.data(LIST, {"f": f, "after": after})["complaints"]
        found |= {e["node"]["id"] for e in page["edges"]}
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def stored(city: City) -> dict[str, BaseGeometry]:
    with city.engine.connect() as conn:
        rows = conn.execute(text("SELECT public_id, ST_AsBinary(footprint) FROM complaint"))
        return {public_id: shapely.from_wkb(bytes(wkb)) for public_id, wkb in rows}


@pytest.fixture(scope="module")
def road(city: City) -> tuple[dict[str, Any], LineString]:
    """A 300 m street complaint (and a few more footprints around it)."""
    meet = triple_point(city)
    street = segment(meet, -150, -20, 150, 20)
    for dx in (-400, 0, 400):
        submitted(city, disc(shifted(meet, dx, 250), 60))
    return submitted(city, street), street


def test_bbox_within_and_near_test_the_footprint(city: City,
                                                  road: tuple[dict[str, Any], LineString]
                                                  ) -> None:
    complaint, street = road
    point = Point(complaint["lon"], complaint["lat"])
    west_end = utm(Point(street.coords[0]))
    corner = lonlat(box(west_end.x - 30, west_end.y - 30, west_end.x + 60, west_end.y + 60))
    assert not corner.covers(point) and corner.intersects(street)  # misses the point
    footprints = stored(city)
    west, south, east, north = corner.bounds
    by_bbox = listed(city, {"bbox": {"west": west, "south": south, "east": east,
                                     "north": north}})
    assert complaint["id"] in by_bbox
    assert by_bbox == {i for i, g in footprints.items() if box(*corner.bounds).intersects(g)}
    triangle = lonlat(shapely.Polygon([(west_end.x - 500, west_end.y - 40),
                                       (west_end.x + 100, west_end.y - 40),
                                       (west_end.x - 500, west_end.y + 400)]))
    assert not triangle.covers(point) and triangle.intersects(street)
    by_within = listed(city, {"within": mapping(triangle)})
    assert complaint["id"] in by_within
    assert by_within == {i for i, g in footprints.items() if triangle.intersects(g)}
    centre = lonlat(Point(west_end.x - 70, west_end.y))
    radius = 100.0
    by_near = listed(city, {"near": {"lon": centre.x, "lat": centre.y, "radiusM": radius}})
    distances = {i: utm(g).distance(utm(centre)) for i, g in footprints.items()}
    assert complaint["id"] in by_near and distances[complaint["id"]] < radius
    assert {i for i, d in distances.items() if d < radius * 0.998} <= by_near
    assert by_near <= {i for i, d in distances.items() if d <= radius * 1.002}


def test_tiles_carry_lines_and_polygons_in_their_own_layer(
        city: City, road: tuple[dict[str, Any], LineString]) -> None:
    complaint, street = road
    site = submitted(city, disc(Point(street.coords[-1]), 50))
    z, x, y = tile_of(complaint["lon"], complaint["lat"], 15)
    response = city.client.get(f"/tiles/complaints/{z}/{x}/{y}.mvt")
    assert response.status_code == 200
    layers = mapbox_vector_tile.decode(response.content,
                                       default_options={"y_coord_down": True})
    footprints = {f["properties"]["public_id"]: f["geometry"]["type"]
                  for f in layers["complaints-footprints"]["features"]}
    pins = {f["properties"]["public_id"]: f["geometry"]["type"]
            for f in layers["complaints"]["features"]}
    assert footprints[complaint["id"]] == "LineString"
    assert footprints[site["id"]] == "Polygon"
    assert pins[complaint["id"]] == "Point" and pins[site["id"]] == "Point"
    assert all(kind != "Point" for kind in footprints.values())  # points are pins only
    assert set(footprints) <= set(pins) | {site["id"]}


def test_exports_and_ogc_items_write_the_footprint_with_its_point(
        city: City, road: tuple[dict[str, Any], LineString], tmp_path: Path) -> None:
    complaint, street = road
    ours = {c["id"]: c for c in (complaint, submitted(city, disc(Point(street.coords[0]), 40)),
                                 submitted(city, shapely.MultiPoint(street.coords)))}
    gpkg = tmp_path / "complaints.gpkg"
    gpkg.write_bytes(city.client.get("/export/complaints.gpkg").content)
    table = pyogrio.read_dataframe(gpkg)
    table = table[table["id"].isin(list(ours))]
    assert len(table) == len(ours)
    for _, row in table.iterrows():
        want = ours[row["id"]]
        assert row.geometry.equals_exact(shape(want["footprint"]), tolerance=1e-7)
        assert (row["lon"], row["lat"]) == pytest.approx((want["lon"], want["lat"]), abs=1e-9)
    geojson = tmp_path / "complaints.geojson"
    geojson.write_bytes(city.client.get("/export/complaints.geojson").content)
    read_back = pyogrio.read_dataframe(geojson)
    read_back = read_back[read_back["id"].isin(list(ours))]
    assert len(read_back) == len(ours)
    for _, row in read_back.iterrows():  # RFC 7946 turns exterior rings counterclockwise
        assert shapely.normalize(row.geometry).equals_exact(
            shapely.normalize(shape(ours[row["id"]]["footprint"])), tolerance=1e-7)
        assert row.geometry.geom_type != "Polygon" or row.geometry.exterior.is_ccw
    item = city.client.get(f"/ogc/collections/complaints/items/{complaint['id']}").json()
    assert shape(item["geometry"]).equals_exact(street, tolerance=1e-7)
    assert (item["properties"]["lon"], item["properties"]["lat"]) == pytest.approx(
        (complaint["lon"], complaint["lat"]), abs=1e-7)
    csv_lines = city.client.get("/export/complaints.csv").text.splitlines()
    header = csv_lines[0].split(",")
    assert header.count("lon") == 1 and header[-1] == "wkt"


# --- refusals -------------------------------------------------------------------------------

def test_invalid_or_oversize_footprints_are_refused(city: City) -> None:
    meet = triple_point(city)
    x, y = TO_UTM.transform(meet.x, meet.y)
    bowtie = lonlat(shapely.Polygon([(x, y), (x + 100, y + 100), (x + 100, y), (x, y + 100)]))
    many = lonlat(Point(x, y).buffer(100, quad_segs=3000))
    huge = disc(meet, 700)  # 154 ha > 100 ha
    long_line = segment(meet, -3000, 0, 3000, 0)  # 6 km > 5 km
    refusals = {
        "INVALID_GEOMETRY": [mapping(bowtie),
                             {"type": "GeometryCollection", "geometries": [mapping(meet)]},
                             {"type": "LineString", "coordinates": [[x, y]]},
                             {"type": "LineString", "coordinates": [[meet.x, meet.y]] * 2}],
        "GEOMETRY_TOO_COMPLEX": [mapping(many)],
        "FOOTPRINT_TOO_LARGE": [mapping(huge), mapping(long_line)],
        "OUTSIDE_JURISDICTION": [mapping(LineString([(2.35, 48.85), (2.36, 48.86)]))],
        "BAD_COORDINATES": [{"type": "LineString", "coordinates": [[105.8, 21.0], [105.8, 95]]}],
    }
    with city.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM complaint")).scalar_one()
    for code, footprints in refusals.items():
        for footprint in footprints:
            body = submit(city, footprint)
            assert body["errors"][0]["extensions"]["code"] == code, (code, footprint["type"])
    body = submit(city, mapping(huge))
    assert body["errors"][0]["extensions"]["unit"] == "ha"
    assert body["errors"][0]["extensions"]["measure"] == pytest.approx(
        utm(huge).area / 10_000, rel=2e-3)
    # A category's own limit replaces the default.
    with city.engine.begin() as conn:
        conn.execute(text("UPDATE category SET max_footprint_m = 200 WHERE code = 'other'"))
    try:
        short = segment(meet, -150, 0, 150, 0)
        body = submit(city, mapping(short))
        assert body["errors"][0]["extensions"]["code"] == "FOOTPRINT_TOO_LARGE"
        assert body["errors"][0]["extensions"]["limit"] == 200
        assert "errors" not in submit(city, mapping(short), category="environment.waste")
    finally:
        with city.engine.begin() as conn:
            conn.execute(text("UPDATE category SET max_footprint_m = NULL WHERE code = 'other'"))
    with city.engine.connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM complaint")).scalar_one()
    assert after == before + 1


# --- analyses -------------------------------------------------------------------------------

AREA_STATS = """query($f: ComplaintFilter, $w: AreaWeight!) {
    areaStats(level: WARD, filter: $f, weight: $w) { areas { code count weight } } }"""


def test_area_share_splits_footprints_between_wards(city: City) -> None:
    meet = triple_point(city)
    submitted(city, disc(meet, 150))
    submitted(city, segment(meet, -250, 40, 250, -40))
    window = {"createdFrom": city.started.isoformat()}
    weighted = {a["code"]: a for a in city.gql.data(
        AREA_STATS, {"f": window, "w": "AREA_SHARE"})["areaStats"]["areas"]}
    counted = {a["code"]: a for a in city.gql.data(
        AREA_STATS, {"f": window, "w": "COUNT"})["areaStats"]["areas"]}
    with city.engine.connect() as conn:
        # Every complaint of the window was routed in the generation in force: it counts
        # where it was routed (README, "areaStats").
        rows = conn.execute(text("""
            SELECT ST_AsBinary(c.footprint), w.code FROM complaint c
            JOIN admin_area w ON w.id = c.ward_id
            WHERE c.created_at >= :t"""), {"t": city.started}).all()
    expected: dict[str, float] = dict.fromkeys(city.wards, 0.0)
    placed: dict[str, int] = dict.fromkeys(city.wards, 0)
    for footprint_wkb, routed in rows:
        footprint = shapely.from_wkb(bytes(footprint_wkb))
        placed[routed] += 1
        if footprint.geom_type == "Point":
            expected[routed] += 1
        elif footprint.geom_type == "MultiPoint":
            for member in footprint.geoms:
                expected[min(c for c, w in city.wards.items() if w.covers(member))] += \
                    1 / len(footprint.geoms)
        else:
            for code, share in expected_shares(city, footprint).items():
                expected[code] += share
    assert sum(placed.values()) == len(rows) > 10
    for code in city.wards:
        assert weighted[code]["weight"] == pytest.approx(expected[code], abs=1e-3), code
        assert counted[code]["weight"] == counted[code]["count"] == placed[code], code
    assert sum(a["weight"] for a in weighted.values()) == pytest.approx(len(rows), abs=1e-3)


def test_complaint_wards_are_loaded_in_one_statement(city: City) -> None:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(city.engine, "before_cursor_execute", record)
    try:
        data = city.gql.data("""{ complaints(first: 60) { edges { node {
            wards { share area { code } } footprint } } } }""")
    finally:
        event.remove(city.engine, "before_cursor_execute", record)
    nodes = [e["node"] for e in data["complaints"]["edges"]]
    assert len(nodes) == 60 and all(n["wards"] for n in nodes)
    assert sum("footprint_shares" in s for s in statements) == 1
    assert len(statements) <= 3  # the page, the shares, the areas


# --- Hanoi's real wards ---------------------------------------------------------------------

def test_shares_on_hanoi_real_wards() -> None:
    """The shares of a disc and a line where three of Hanoi's 126 wards (2025) meet, against
    shapely on the file's own polygons."""
    wards_path = hanoi_data("hanoi_wards_2025_126.geojson")
    with open(wards_path, encoding="utf-8") as file:
        features = json.load(file)["features"]
    for url in fresh_database():
        result = phananh(url, "import-boundaries", wards_path, "--level", "ward",
                         "--generation", "hanoi-2025", "--valid-from", "2025-07-01",
                         timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        engine = make_engine(Settings(database_url=url).sqlalchemy_url)
        try:
            with TestClient(create_app(Settings(database_url=url), engine)) as client:
                gql = GraphQLClient(client)
                wards = {f["properties"]["code"]: shapely.make_valid(shape(f["geometry"]))
                         for f in features}
                real = City(gql, client, engine, Settings(database_url=url), wards,
                            datetime.now(UTC), {})
                meet = triple_point(real)
                for footprint in (disc(meet, 250), segment(meet, -500, -100, 450, 120)):
                    expected = expected_shares(real, footprint)
                    assert len(expected) >= 2
                    complaint = submitted(real, footprint)
                    got = {w["area"]["code"]: w["share"] for w in complaint["wards"]}
                    assert got == pytest.approx(expected, abs=SHARE_TOLERANCE)
                    assert complaint["ward"]["code"] == largest(expected)
        finally:
            engine.dispose()


# --- the planner's map ------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
SETTLED = ("() => window.map && document.body.dataset.busy === '0' && window.map.loaded()"
           " && window.map.areTilesLoaded()")


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"no Chromium at {CHROMIUM}")
def test_the_map_draws_footprints(city: City, road: tuple[dict[str, Any], LineString]) -> None:
    """In headless Chromium: the road is drawn as a line and a site as an area (what MapLibre
    renders, read back with queryRenderedFeatures, against the submitted shapes), and clicking
    the area away from its pin opens that complaint."""
    assert (WEB_DIST / "index.html").is_file(), "the map page is not built: run `make web`"
    complaint, street = road
    site_shape = disc(shifted(Point(street.coords[-1]), 0, -120), 60)
    site = submitted(city, site_shape)
    problems: list[str] = []
    with live_server(create_app(city.settings, city.engine)) as url, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("pageerror", lambda error: problems.append(str(error)))
        centre = street.centroid
        page.goto(f"{url}/map?layers=complaints#view=16/{centre.y}/{centre.x}")
        page.wait_for_function(SETTLED, timeout=60_000)
        page.evaluate("() => new Promise((done) => { map.once('idle', done); "
                      "map.triggerRepaint(); })")
        drawn = page.evaluate("""() => Object.fromEntries(['complaint-footprint-fill',
            'complaint-footprint-line', 'complaint-circle'].map((layer) => [layer,
            map.queryRenderedFeatures({layers: [layer]}).map((f) => [f.properties.public_id,
                                                                     f.geometry])]))""")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "map-footprints.png"))

        def pieces(layer: str, public_id: str) -> BaseGeometry:
            return shapely.union_all([shape(g) for i, g in drawn[layer] if i == public_id])

        area = pieces("complaint-footprint-fill", site["id"])
        assert area.symmetric_difference(site_shape).area < 0.03 * site_shape.area
        line = pieces("complaint-footprint-line", complaint["id"])
        assert line.hausdorff_distance(street) < 2e-5  # about 2 m, the tile's precision
        assert {complaint["id"], site["id"]} <= {i for i, _ in drawn["complaint-circle"]}
        # Click inside the site, 40 m from its pin.
        pin = utm(Point(site["lon"], site["lat"]))
        target = next(p for p in (lonlat(Point(pin.x + dx, pin.y + dy))
                                  for dx, dy in ((40, 0), (-40, 0), (0, 40), (0, -40)))
                      if site_shape.contains(p.buffer(1e-4)))
        at = page.evaluate("""([lon, lat]) => { const box = map.getContainer()
            .getBoundingClientRect(); const p = map.project([lon, lat]);
            return {x: box.left + p.x, y: box.top + p.y}; }""", [target.x, target.y])
        page.mouse.click(at["x"], at["y"])
        popup = page.wait_for_selector(".maplibregl-popup .complaint")
        assert popup.get_attribute("data-id") == site["id"]
        browser.close()
    assert not problems, problems
