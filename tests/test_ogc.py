"""OGC API – Features: documents, paging and filters against the database, and GDAL reading it.

GDAL's OAPIF driver (``ogrinfo``, ``ogr2ogr``) is run against a real uvicorn server on a free
loopback port; what it reads is compared with the rows, not with the API's own output.
"""

import re
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import pytest
import shapely
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import create_app
from settings import Settings
from tests.layers_support import complaint_arrays
from tests.live_server import live_server

COMPLAINT_FIELDS = {"public_id", "category_code", "status", "description", "address",
                      "channel", "media_urls", "photos", "created_at", "updated_at",
                      "first_action_at", "due_at", "resolved_at", "rating", "rated_at",
                      "ward_code", "ward_name", "district_code", "district_name", "lon", "lat",
                      "agency_code"}


@pytest.fixture(scope="module")
def rows(engine: Engine, demo: Any) -> dict[str, np.ndarray]:
    return complaint_arrays(engine, id="public_id", lon="ST_X(location)", lat="ST_Y(location)",
                            status="status", created="created_at")


@pytest.fixture(scope="module")
def server(settings: Settings, engine: Engine, demo: Any) -> Iterator[str]:
    """The app on a free 127.0.0.1 port, served by uvicorn in a thread."""
    with live_server(create_app(settings, engine)) as url:
        yield url


def test_landing_conformance_and_collections(client: TestClient,
                                             rows: dict[str, np.ndarray]) -> None:
    landing = client.get("/ogc")
    assert landing.headers["content-type"] == "application/json"
    rels = {link["rel"]: link for link in landing.json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["data"]["href"] == "http://testserver/ogc/collections"
    conformance = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conformance
    api = client.get("/ogc/api")
    assert api.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert "/collections/{collectionId}/items" in api.json()["paths"]

    collections = {c["id"]: c for c in client.get("/ogc/collections").json()["collections"]}
    assert {"complaints", "wards", "districts"} <= set(collections)
    complaints = client.get("/ogc/collections/complaints").json()
    assert complaints == collections["complaints"]
    assert complaints["extent"]["spatial"]["bbox"][0] == pytest.approx(
        [rows["lon"].min(), rows["lat"].min(), rows["lon"].max(), rows["lat"].max()], abs=1e-9)
    start, end = complaints["extent"]["temporal"]["interval"][0]
    assert datetime.fromisoformat(start) == rows["created"].min()
    assert datetime.fromisoformat(end) == rows["created"].max()
    links = {link["rel"]: link for link in complaints["links"]}
    assert links["items"]["type"] == "application/geo+json"


def test_queryables(client: TestClient) -> None:
    response = client.get("/ogc/collections/complaints/queryables")
    assert response.headers["content-type"] == "application/schema+json"
    properties = response.json()["properties"]
    assert set(properties) == {"geometry", "category_code", "status", "ward_code",
                               "district_code", "agency_code"}
    assert "RESOLVED" in properties["status"]["enum"]


def test_items_page_through_every_feature_once(client: TestClient,
                                               rows: dict[str, np.ndarray]) -> None:
    url, seen, pages = "/ogc/collections/complaints/items?limit=700", [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/geo+json"
        page = response.json()
        assert page["type"] == "FeatureCollection"
        assert page["numberMatched"] == len(rows["id"])
        assert page["numberReturned"] == len(page["features"]) <= 700
        seen += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        pages += 1
    assert pages == -(-len(rows["id"]) // 700)
    assert len(seen) == len(set(seen)) == len(rows["id"])
    assert set(seen) == set(rows["id"])


def test_one_page_of_ten_thousand(client: TestClient, rows: dict[str, np.ndarray]) -> None:
    page = client.get("/ogc/collections/complaints/items?limit=10000").json()
    assert page["numberReturned"] == len(rows["id"])
    assert not [link for link in page["links"] if link["rel"] == "next"]
    index = {public_id: i for i, public_id in enumerate(rows["id"])}
    for feature in page["features"]:
        i = index[feature["id"]]
        assert feature["geometry"]["coordinates"] == pytest.approx(
            [rows["lon"][i], rows["lat"][i]], abs=1e-7)
        assert set(feature["properties"]) == COMPLAINT_FIELDS


def test_filters_match_numpy(client: TestClient, rows: dict[str, np.ndarray]) -> None:
    lon, lat, created = rows["lon"], rows["lat"], rows["created"]
    west, east = np.quantile(lon, [0.2, 0.7])
    south, north = np.quantile(lat, [0.3, 0.9])
    start, end = sorted(created)[500], sorted(created)[2000]
    mask = ((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
            & (created >= start) & (created <= end) & (rows["status"] == "RESOLVED"))
    params = {"bbox": f"{west},{south},{east},{north}", "status": "RESOLVED",
              "datetime": f"{start.isoformat()}/{end.isoformat()}", "limit": "10000"}
    page = client.get("/ogc/collections/complaints/items", params=params).json()
    assert page["numberMatched"] == int(mask.sum()) > 10
    assert {f["id"] for f in page["features"]} == set(rows["id"][mask])
    instant = client.get("/ogc/collections/complaints/items",
                         params={"datetime": start.isoformat()}).json()
    assert {f["id"] for f in instant["features"]} == set(rows["id"][created == start])
    open_end = client.get("/ogc/collections/complaints/items",
                          params={"datetime": f"{end.isoformat()}/..", "limit": "1"}).json()
    assert open_end["numberMatched"] == int((created >= end).sum())


@pytest.mark.parametrize(("query", "code"), [
    ("limit=10001", "PAGE_TOO_LARGE"),
    ("limit=0", "BAD_INPUT"),
    ("limit=ten", "BAD_INPUT"),
    ("sortby=status", "UNKNOWN_PARAMETER"),
    ("datetime=2025-13-01T00:00:00Z", "BAD_INPUT"),
    ("datetime=2025-02-01T00:00:00Z/2025-01-01T00:00:00Z", "BAD_INPUT"),
    ("bbox=106,21,105,22", "BAD_COORDINATES"),
    ("status=resolved", "BAD_INPUT"),
    ("f=html", "UNSUPPORTED_FORMAT"),
])
def test_bad_item_queries_get_a_coded_400(client: TestClient, query: str, code: str) -> None:
    response = client.get(f"/ogc/collections/complaints/items?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_single_feature(client: TestClient, rows: dict[str, np.ndarray]) -> None:
    public_id = str(rows["id"][7])
    response = client.get(f"/ogc/collections/complaints/items/{public_id}")
    assert response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == public_id
    assert feature["geometry"]["coordinates"] == pytest.approx(
        [rows["lon"][7], rows["lat"][7]], abs=1e-7)
    assert {link["rel"] for link in feature["links"]} == {"self", "collection"}
    missing = client.get("/ogc/collections/complaints/items/PA-NOPE")
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    assert client.get("/ogc/collections/nope/items").json()["code"] == "NOT_FOUND"


def test_gdal_reads_the_collections(server: str, tmp_path: Path, engine: Engine,
                                    rows: dict[str, np.ndarray]) -> None:
    info = subprocess.run(["ogrinfo", "-so", f"OAPIF:{server}/ogc", "complaints"],
                          capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"Feature Count: {len(rows['id'])}" in info
    fields = set(re.findall(r"^(\w+): (?:String|DateTime|Integer|Real)", info, re.MULTILINE))
    assert fields == COMPLAINT_FIELDS | {"id"}

    out = tmp_path / "complaints.gpkg"
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{server}/ogc", "complaints",
                    "-oo", "PAGE_SIZE=1000"], capture_output=True, text=True, timeout=300,
                   check=True)
    _, _, geometry, field_data = pyogrio.raw.read(out, columns=["id"])
    assert len(geometry) == len(rows["id"])
    order = np.argsort(rows["id"])
    got = np.argsort(field_data[0].astype(str))
    assert (field_data[0][got].astype(str) == rows["id"][order]).all()
    points = shapely.get_coordinates(shapely.from_wkb(geometry[got]))
    assert np.abs(points - np.column_stack([rows["lon"][order], rows["lat"][order]])).max() < 1e-7

    with engine.connect() as conn:
        wards = conn.execute(text(
            "SELECT count(*) FROM admin_area a "
            "JOIN boundary_generation g ON g.id = a.generation_id "
            "WHERE a.level = 'ward' AND g.active "
            "AND (g.valid_from IS NULL OR g.valid_from <= current_date) "
            "AND (g.valid_to IS NULL OR current_date < g.valid_to)")).scalar_one()
    wards_info = subprocess.run(["ogrinfo", "-so", f"OAPIF:{server}/ogc", "wards"],
                                capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"Feature Count: {wards}" in wards_info and "Geometry: Multi Polygon" in wards_info

