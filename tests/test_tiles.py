"""Vector tiles and TileJSON against an independent computation.

Tiles are decoded with ``mapbox_vector_tile``; which complaints and wards a tile must hold is
worked out here from z/x/y with the Web-Mercator formulas (numpy, shapely) over the same rows,
not by asking the code under test.
"""

from collections.abc import Iterator
from typing import Any

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import create_app
from db.engine import make_engine
from layers.registry import get_layer
from layers.tiles import Tile, render_tile
from settings import Settings
from tests.layers_support import (
    complaint_arrays,
    generation_in_force,
    mercator,
    tile_bounds,
    tile_of,
)
from tests.wire import WireCounter, wire_counter

EXTENT, BUFFER = 4096, 64  # what the tiles promise: 4096 units a side, 64 units of buffer
AMBIGUOUS_M = 0.01  # floating-point noise between these formulas and PostGIS's, in metres


def decode(body: bytes) -> dict[str, Any]:
    return mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})


@pytest.fixture(scope="module")
def points(engine: Engine, demo: Any) -> dict[str, np.ndarray]:
    found = complaint_arrays(engine, id="public_id", lon="ST_X(location)",
                             lat="ST_Y(location)", status="status", category="category_code",
                             created="created_at")
    found["mx"], found["my"] = mercator(found["lon"], found["lat"])
    return found


def expected_ids(points: dict[str, np.ndarray], z: int, x: int, y: int,
                 mask: np.ndarray | None = None) -> tuple[set[str], set[str]]:
    """(surely in the tile, possibly in it). Surely: inside the buffered square. Possibly: also
    up to half a tile unit outside it, which ST_AsMVTGeom keeps (it rounds to the grid
    first, so a point there lands on the square's edge); whether such a point reaches it
    depends on the float4-rounded boxes of the index search."""
    west, south, east, north = tile_bounds(z, x, y)
    unit = (east - west) / EXTENT
    margin = unit * BUFFER
    mx, my = points["mx"], points["my"]
    # How far inside the buffered square (negative: outside), the nearer side of each axis.
    depth = np.minimum.reduce([mx - (west - margin), (east + margin) - mx,
                               my - (south - margin), (north + margin) - my])
    keep = np.ones(len(mx), dtype=bool) if mask is None else mask
    sure = (depth > AMBIGUOUS_M) & keep
    possible = (depth >= -(unit / 2 + AMBIGUOUS_M)) & keep
    return set(points["id"][sure]), set(points["id"][possible])


def features(client: TestClient, url: str, layer: str = "complaints",
             params: list[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    response = client.get(url, params=params)
    assert response.status_code in (200, 204), response.text
    if response.status_code == 204:
        return []
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return decode(response.content)[layer]["features"]


def test_tiles_hold_exactly_the_complaints_in_their_buffered_envelope(
        client: TestClient, points: dict[str, np.ndarray]) -> None:
    centre = (float(np.median(points["lon"])), float(np.median(points["lat"])))
    corner = (float(points["lon"].min()), float(points["lat"].min()))
    checked = 0
    for lon, lat in (centre, corner):
        for z in (10, 12, 13, 14, 15, 16):
            z, x, y = tile_of(lon, lat, z)
            sure, possible = expected_ids(points, z, x, y)
            found = features(client, f"/tiles/complaints/{z}/{x}/{y}.mvt")
            got = {f["properties"]["public_id"] for f in found}
            assert len(got) == len(found), "a complaint appears twice in one tile"
            assert sure <= got <= possible, (z, x, y, len(sure), len(got))
            west, south, east, north = tile_bounds(z, x, y)
            index = {public_id: i for i, public_id in enumerate(points["id"])}
            for feature in found:
                i = index[feature["properties"]["public_id"]]
                assert set(feature["properties"]) == {"public_id", "category_code", "status"}
                assert feature["properties"]["status"] == points["status"][i]
                assert feature["properties"]["category_code"] == points["category"][i]
                px, py = feature["geometry"]["coordinates"]
                assert px == pytest.approx((points["mx"][i] - west) / (east - west) * EXTENT,
                                           abs=1)
                assert py == pytest.approx((north - points["my"][i]) / (north - south) * EXTENT,
                                           abs=1)
            checked += len(sure)
    assert checked > 1_000  # a real sample, not a handful of points


def test_tile_filters_match_numpy(client: TestClient, points: dict[str, np.ndarray]) -> None:
    z, x, y = tile_of(float(np.median(points["lon"])), float(np.median(points["lat"])), 11)
    created = points["created"]
    start, end = sorted(created)[len(created) // 4], sorted(created)[len(created) // 2]
    mask = (np.isin(points["status"], ["RESOLVED", "CLOSED"])
            & (points["category"] != "other") & (created >= start) & (created <= end))
    params = [("status", "RESOLVED"), ("status", "CLOSED"),
              ("category_code", ",".join(sorted(set(points["category"]) - {"other"}))),
              ("datetime", f"{start.isoformat()}/{end.isoformat()}")]
    sure, possible = expected_ids(points, z, x, y, mask)
    found = features(client, f"/tiles/complaints/{z}/{x}/{y}.mvt", params=params)
    got = {f["properties"]["public_id"] for f in found}
    assert sure and sure <= got <= possible


def test_feature_cap_limits_a_dense_tile(settings: Settings, engine: Engine,
                                         points: dict[str, np.ndarray]) -> None:
    capped = Settings(**{**settings.model_dump(), "tile_feature_cap": 25})
    z, x, y = tile_of(float(np.median(points["lon"])), float(np.median(points["lat"])), 10)
    _, possible = expected_ids(points, z, x, y)
    with TestClient(create_app(capped, engine)) as client:
        found = features(client, f"/tiles/complaints/{z}/{x}/{y}.mvt")
    assert len(possible) > 25
    assert len(found) == 25
    assert {f["properties"]["public_id"] for f in found} <= possible


def test_capped_tiles_are_the_same_bytes_whatever_the_plan(engine: Engine,
                                                           points: dict[str, np.ndarray]) -> None:
    """A strong ETag promises identical bytes from every worker: the capped rows must not
    depend on the order a scan happens to return them in."""
    layer = get_layer("complaints")
    z, x, y = tile_of(float(np.median(points["lon"])), float(np.median(points["lat"])), 10)
    tiles = []
    for scans in ("", "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off"):
        with engine.begin() as conn:
            if scans:
                conn.exec_driver_sql(scans)
            tiles.append(render_tile(conn, layer, Tile(z, x, y), layer.parse([]), 25)[1])
    assert tiles[0] == tiles[1] and tiles[0]


def test_ward_tiles_hold_the_wards_in_force_that_cross_them(client: TestClient, demo: Any) -> None:
    wards = [a for a in generation_in_force(demo).areas if a.level == "ward"]
    centre = demo.outline.representative_point()
    for z in (11, 13):
        z, x, y = tile_of(centre.x, centre.y, z)
        west, south, east, north = tile_bounds(z, x, y)
        margin = (east - west) * BUFFER / EXTENT
        pixel = (east - west) / EXTENT
        tile_box = shapely.box(west - margin, south - margin, east + margin, north + margin)
        sure, possible = set(), set()
        for ward in wards:
            projected = shapely.transform(ward.geometry, lambda c: np.column_stack(
                mercator(c[:, 0], c[:, 1])))
            overlap = projected.intersection(tile_box).area / pixel**2
            if overlap > 4:  # more than a few pixels: cannot vanish when snapped to the grid
                sure.add(ward.code)
            if projected.intersects(tile_box.buffer(pixel)):
                possible.add(ward.code)
        found = features(client, f"/tiles/wards/{z}/{x}/{y}.mvt", layer="wards")
        got = {f["properties"]["code"] for f in found}
        assert sure and sure <= got <= possible
        assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in found)
        names = {a.code: a.name for a in wards}
        assert all(f["properties"]["name"] == names[f["properties"]["code"]] for f in found)


@pytest.mark.parametrize(("path", "code", "status"), [
    ("/tiles/complaints/25/0/0.mvt", "BAD_TILE", 400),
    ("/tiles/complaints/3/8/0.mvt", "BAD_TILE", 400),
    ("/tiles/complaints/3/0/8.mvt", "BAD_TILE", 400),
    ("/tiles/complaints/-1/0/0.mvt", "BAD_TILE", 400),
    ("/tiles/complaints/a/0/0.mvt", "BAD_TILE", 400),
    ("/tiles/complaints/3/1.5/0.mvt", "BAD_TILE", 400),
    ("/tiles/complaints/99999999999/0/0.mvt", "BAD_TILE", 400),
    ("/tiles/nowhere/3/0/0.mvt", "NOT_FOUND", 404),
    ("/tiles/complaints/3/0/0.mvt?colour=red", "UNKNOWN_PARAMETER", 400),
    ("/tiles/complaints/3/0/0.mvt?status=LOST", "BAD_INPUT", 400),
    ("/tiles/complaints/3/0/0.mvt?bbox=1,2,3", "BAD_INPUT", 400),
    ("/tiles/complaints/3/0/0.mvt?bbox=0,0,200,10", "BAD_COORDINATES", 400),
    ("/tiles/complaints/3/0/0.mvt?datetime=yesterday", "BAD_INPUT", 400),
    ("/tiles/wards/3/0/0.mvt?datetime=2025-01-01T00:00:00Z", "BAD_INPUT", 400),
    ("/tiles/nowhere.json", "NOT_FOUND", 404),
])
def test_bad_tile_requests_get_a_coded_json_error(client: TestClient, path: str, code: str,
                                                  status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == code
    assert response.json()["description"]


def test_empty_tile_is_204(client: TestClient) -> None:
    response = client.get("/tiles/complaints/10/512/512.mvt")  # the Gulf of Guinea
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["etag"]


def test_etag_answers_304_and_changes_with_the_data(
        client: TestClient, engine: Engine, points: dict[str, np.ndarray]) -> None:
    public_id = str(points["id"][0])
    z, x, y = tile_of(float(points["lon"][0]), float(points["lat"][0]), 15)
    url = f"/tiles/complaints/{z}/{x}/{y}.mvt"
    first = client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age" in first.headers["cache-control"]
    again = client.get(url)
    assert again.content == first.content and again.headers["etag"] == etag
    unchanged = client.get(url, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    status = str(points["status"][0])
    new_status = "REOPENED" if status != "REOPENED" else "RECEIVED"
    with engine.begin() as conn:
        conn.execute(text("UPDATE complaint SET status = :s WHERE public_id = :id"),
                     {"s": new_status, "id": public_id})
    try:
        changed = client.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        statuses = {f["properties"]["public_id"]: f["properties"]["status"]
                    for f in decode(changed.content)["complaints"]["features"]}
        assert statuses[public_id] == new_status
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE complaint SET status = :s WHERE public_id = :id"),
                         {"s": status, "id": public_id})
    restored = client.get(url)
    assert restored.headers["etag"] not in (etag, changed.headers["etag"])


def test_tilejson_describes_the_source_for_maplibre(client: TestClient,
                                                   points: dict[str, np.ndarray]) -> None:
    response = client.get("/tiles/complaints.json?status=RESOLVED")
    assert response.status_code == 200 and response.headers["etag"]
    document = response.json()
    assert document["tilejson"] == "3.0.0"
    assert document["tiles"] == [
        "http://testserver/tiles/complaints/{z}/{x}/{y}.mvt?status=RESOLVED"]
    assert document["bounds"] == pytest.approx(
        [points["lon"].min(), points["lat"].min(), points["lon"].max(), points["lat"].max()],
        abs=1e-9)
    west, south, east, north = document["bounds"]
    assert west <= document["center"][0] <= east and south <= document["center"][1] <= north
    assert document["minzoom"] <= document["center"][2] <= document["maxzoom"]
    points_layer, footprints_layer = document["vector_layers"]
    assert [points_layer["id"], footprints_layer["id"]] == ["complaints", "complaints-footprints"]
    for layer in (points_layer, footprints_layer):
        assert layer["fields"] == {"public_id": "String", "category_code": "String",
                                   "status": "String"}
    again = client.get("/tiles/complaints.json?status=RESOLVED",
                       headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


def test_hotspot_grid_tiles_carry_whole_cells(client: TestClient) -> None:
    """A tile's hexagons have the counts of the whole-city grid, even where they cross its edge,
    and they are the cells that reach into the (buffered) tile."""
    everything = client.get("/export/hotspot-grid.geojson").json()["features"]
    counts = {(f["properties"]["i"], f["properties"]["j"]): f["properties"]["count"]
              for f in everything}
    shapes = {(f["properties"]["i"], f["properties"]["j"]): shapely.transform(
        shapely.geometry.shape(f["geometry"]),
        lambda c: np.column_stack(mercator(c[:, 0], c[:, 1]))) for f in everything}
    busiest = max(everything, key=lambda f: f["properties"]["count"])
    lon, lat = shapely.geometry.shape(busiest["geometry"]).centroid.coords[0]
    for z in (11, 13, 15):
        z, x, y = tile_of(lon, lat, z)
        west, south, east, north = tile_bounds(z, x, y)
        margin = (east - west) * BUFFER / EXTENT
        pixel = (east - west) / EXTENT
        box = shapely.box(west - margin, south - margin, east + margin, north + margin)
        sure = {key for key, cell in shapes.items() if cell.intersection(box).area > 4 * pixel**2}
        possible = {key for key, cell in shapes.items() if cell.intersects(box.buffer(pixel))}
        found = features(client, f"/tiles/hotspot-grid/{z}/{x}/{y}.mvt", layer="hotspot-grid")
        got = {(f["properties"]["i"], f["properties"]["j"]) for f in found}
        assert sure and sure <= got <= possible
        assert all(f["properties"]["count"] == counts[(f["properties"]["i"],
                                                       f["properties"]["j"])] for f in found)


def test_unexpected_errors_are_masked(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError('relation "complaint" leaked SELECT reporter_phone')

    monkeypatch.setattr("layers.routes.render_tile", broken)
    # The application's handler answers, then Starlette raises the error again for the server
    # to log (no lifespan: the session's engine stays open).
    masked = TestClient(client.app, raise_server_exceptions=False)
    response = masked.get("/tiles/complaints/0/0/0.mvt?status=CLOSED")
    assert response.status_code == 500
    assert response.json() == {"code": "INTERNAL_ERROR", "description": "Unexpected error."}


@pytest.fixture
def wire(settings: Settings) -> Iterator[WireCounter]:
    with wire_counter(settings.sqlalchemy_url) as counter:
        yield counter


@pytest.fixture
def relayed(settings: Settings, demo: Any, wire: WireCounter) -> Iterator[TestClient]:
    """The app talking to the database through the wire counter."""
    url = wire.url(settings.sqlalchemy_url).render_as_string(hide_password=False)
    through = Settings(**{**settings.model_dump(), "database_url": url})
    engine = make_engine(through.sqlalchemy_url)
    try:
        with TestClient(create_app(through, engine)) as client:
            yield client
    finally:
        engine.dispose()


def busy_tile(points: dict[str, np.ndarray]) -> str:
    z, x, y = tile_of(float(np.median(points["lon"])), float(np.median(points["lat"])), 11)
    return f"/tiles/complaints/{z}/{x}/{y}.mvt"


def test_a_tile_costs_one_round_trip(relayed: TestClient, wire: WireCounter,
                                     points: dict[str, np.ndarray]) -> None:
    """Rendered, from the cache or not modified: one message to PostgreSQL per tile, counted
    on the wire (no liveness ping, no SET and RESET around it, no separate version probe)."""
    path = busy_tile(points)
    relayed.get(path + "?status=RECEIVED")  # a first connection runs the driver's set-up
    wire.reset()
    first = relayed.get(path)
    assert first.status_code == 200 and len(first.content) > 1000
    assert wire.round_trips == 1, wire.queries
    wire.reset()
    cached = relayed.get(path)
    assert cached.content == first.content and cached.headers["etag"] == first.headers["etag"]
    assert wire.round_trips == 1, wire.queries
    assert wire.received < len(first.content) / 4  # the server did not send the tile again
    wire.reset()
    unchanged = relayed.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert unchanged.status_code == 304
    assert wire.round_trips == 1, wire.queries
    assert wire.received < len(first.content) / 4


def test_a_tile_is_served_after_its_connection_died(relayed: TestClient, wire: WireCounter,
                                                    points: dict[str, np.ndarray]) -> None:
    """Tiles do not ping a connection before using it: one found dead is replaced and the
    statement run again."""
    path = busy_tile(points)
    first = relayed.get(path)
    for headers in ({}, {"If-None-Match": first.headers["etag"]}):
        wire.drop_connections()
        again = relayed.get(path + "?status=RECEIVED,CLOSED,RESOLVED", headers=headers)
        assert again.status_code in (200, 204), again.text
        wire.drop_connections()
        again = relayed.get(path, headers=headers)
        assert again.status_code == (304 if headers else 200), again.text
