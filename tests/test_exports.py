"""Exports read back by GDAL (pyogrio) equal the database rows; nothing personal leaks anywhere.

The expected rows come from SQL written here (joins, the sensitive-address rule), not from the
layer code; every format is parsed by a real reader, and every export, OGC page and tile of the
seeded data is searched for the reporters' names, phones and e-mails.
"""

import csv
import io
import math
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import pyogrio.raw
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from tests.layers_support import generation_in_force, tile_of

FORMATS = ("geojson", "ndjson", "csv", "gpkg")
OPEN_OPTIONS = {"csv": {"X_POSSIBLE_NAMES": "lon", "Y_POSSIBLE_NAMES": "lat",
                        "EMPTY_STRING_AS_NULL": "YES"}}
TEXT_FIELDS = ("status", "category_code", "description", "address", "channel", "rating",
               "ward_code", "ward_name", "district_code", "district_name")
TIME_FIELDS = ("created_at", "due_at", "resolved_at", "rated_at")
EXPECTED = text("""
    SELECT c.public_id AS id, ST_X(c.location) AS lon, ST_Y(c.location) AS lat, c.status,
           c.category_code, c.public_description AS description,
           CASE WHEN k.sensitive THEN NULL ELSE c.public_address END
           AS address, c.channel, c.rating, w.code AS ward_code, w.name AS ward_name,
           d.code AS district_code, d.name AS district_name, c.created_at, c.due_at,
           c.resolved_at, c.rated_at
    FROM complaint c
    JOIN category k ON k.code = c.category_code
    LEFT JOIN admin_area w ON w.id = c.ward_id
    LEFT JOIN admin_area d ON d.id = c.district_id
    ORDER BY c.public_id""")


@pytest.fixture(scope="module")
def expected(engine: Engine, demo: Any) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(EXPECTED).mappings().all()
    assert any(r["address"] is None for r in rows)  # some categories are sensitive
    return {r["id"]: r for r in rows}


def download(client: TestClient, url: str, path: Path) -> Path:
    response = client.get(url)
    assert response.status_code == 200, response.text
    path.write_bytes(response.content)
    return path


def read_back(path: Path, export_format: str) -> tuple[list[str], np.ndarray, dict[str, Any]]:
    """(ids, lon/lat array, field → values) as GDAL reads the file."""
    meta, _, geometry, data = pyogrio.raw.read(path, datetime_as_string=True,
                                               **OPEN_OPTIONS.get(export_format, {}))
    fields = dict(zip(meta["fields"], data, strict=True))
    coordinates = shapely.get_coordinates(shapely.from_wkb(geometry))
    return [str(v) for v in fields["id"]], coordinates, fields


def same_time(got: Any, want: datetime | None) -> bool:
    """Equal to GDAL's resolution: its DateTime fields keep milliseconds."""
    if want is None:
        return got is None or (isinstance(got, float) and math.isnan(got))
    return abs(datetime.fromisoformat(str(got).replace(" ", "T")) - want) < timedelta(
        milliseconds=1)


@pytest.mark.parametrize("export_format", FORMATS)
def test_every_format_reads_back_as_the_database_rows(
        client: TestClient, tmp_path: Path, expected: dict[str, Any], export_format: str) -> None:
    path = download(client, f"/export/complaints.{export_format}",
                    tmp_path / f"complaints.{export_format}")
    ids, coordinates, fields = read_back(path, export_format)
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == set(expected)
    want = np.array([[expected[i]["lon"], expected[i]["lat"]] for i in ids])
    assert np.abs(coordinates - want).max() < 1e-7
    for index, public_id in enumerate(ids):
        row = expected[public_id]
        for name in TEXT_FIELDS:
            assert fields[name][index] == row[name], (export_format, name, public_id)
        for name in TIME_FIELDS:
            assert same_time(fields[name][index], row[name]), (export_format, name, public_id)
    assert not {name for name in fields if "reporter" in name}


def test_geojson_is_rfc_7946(client: TestClient, tmp_path: Path, demo: Any) -> None:
    document = client.get("/export/wards.geojson")
    assert document.headers["content-type"] == "application/geo+json"
    assert document.headers["content-disposition"] == 'attachment; filename="wards.geojson"'
    body = document.json()
    assert body["type"] == "FeatureCollection" and "crs" not in body
    wards = {a.code: a for a in generation_in_force(demo).areas if a.level == "ward"}
    assert {f["id"] for f in body["features"]} == set(wards)
    for feature in body["features"]:
        geometry = shapely.geometry.shape(feature["geometry"])
        for polygon in geometry.geoms:
            assert polygon.exterior.is_ccw
            assert not any(ring.is_ccw for ring in polygon.interiors)
        original = wards[feature["id"]].geometry
        assert geometry.symmetric_difference(original).area < 1e-12
        assert feature["properties"]["name"] == wards[feature["id"]].name


def test_csv_carries_lon_lat_and_wkt(client: TestClient, expected: dict[str, Any]) -> None:
    # Read as CSV (RFC 4180): a quoted description may hold commas and line breaks.
    header, *rows = csv.reader(io.StringIO(client.get("/export/complaints.csv").text))
    assert header[0] == "id" and header[-3:] == ["lon", "lat", "wkt"]
    assert {row[0] for row in rows} == set(expected)
    for row in rows:
        lon, lat, wkt = float(row[-3]), float(row[-2]), row[-1]
        assert abs(lon - expected[row[0]]["lon"]) < 1e-7
        assert abs(lat - expected[row[0]]["lat"]) < 1e-7
        assert shapely.from_wkt(wkt).distance(shapely.Point(lon, lat)) < 1e-7
    header, *wards = csv.reader(io.StringIO(client.get("/export/wards.csv").text))
    assert header[-3:] == ["lon", "lat", "wkt"]
    for row in wards[:20]:
        lon, lat, wkt = float(row[-3]), float(row[-2]), row[-1]
        assert shapely.from_wkt(wkt).contains(shapely.Point(lon, lat))


def test_filtered_export_matches_numpy(client: TestClient, tmp_path: Path,
                                       expected: dict[str, Any]) -> None:
    rows = list(expected.values())
    lon = np.array([r["lon"] for r in rows])
    lat = np.array([r["lat"] for r in rows])
    status = np.array([r["status"] for r in rows])
    west, east = np.quantile(lon, [0.1, 0.6])
    south, north = np.quantile(lat, [0.2, 0.8])
    mask = ((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
            & np.isin(status, ["RESOLVED", "REJECTED"]))
    path = download(client, f"/export/complaints.gpkg?bbox={west},{south},{east},{north}"
                            f"&status=RESOLVED,REJECTED", tmp_path / "filtered.gpkg")
    ids, _, _ = read_back(path, "gpkg")
    assert set(ids) == {r["id"] for r, keep in zip(rows, mask, strict=True) if keep}
    empty = download(client, "/export/complaints.gpkg?bbox=0,0,1,1", tmp_path / "empty.gpkg")
    assert read_back(empty, "gpkg")[0] == []


@pytest.mark.parametrize(("url", "status", "code"), [
    ("/export/complaints.shp", 400, "UNSUPPORTED_FORMAT"),
    ("/export/complaints", 400, "UNSUPPORTED_FORMAT"),
    ("/export/nowhere.csv", 404, "NOT_FOUND"),
    ("/export/complaints.csv?reporter_name=x", 400, "UNKNOWN_PARAMETER"),
])
def test_bad_export_requests(client: TestClient, url: str, status: int, code: str) -> None:
    response = client.get(url)
    assert response.status_code == status and response.json()["code"] == code


def test_cli_export_writes_a_file(database_url: str, tmp_path: Path,
                                  expected: dict[str, Any]) -> None:
    cli = Path(sys.executable).with_name("phananh")
    env = {**os.environ, "DATABASE_URL": database_url}
    out = tmp_path / "resolved.gpkg"
    done = subprocess.run([str(cli), "export", "complaints", "--format", "gpkg", "--out",
                           str(out), "--filter", "status=RESOLVED"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ids, _, _ = read_back(out, "gpkg")
    assert set(ids) == {i for i, r in expected.items() if r["status"] == "RESOLVED"}
    bad = subprocess.run([str(cli), "export", "complaints", "--format", "shp", "--out",
                          str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "UNSUPPORTED_FORMAT" in bad.stdout
    assert "Traceback" not in bad.stdout + bad.stderr


def test_hotspot_grid_counts_match_shapely(client: TestClient,
                                           expected: dict[str, Any]) -> None:
    """Every resolved complaint lies in exactly one exported hexagon, whose count says so; the
    hexagons are regular, 500 m a side, in the city's UTM zone (48N for Hanoi)."""
    cells = client.get("/export/hotspot-grid.geojson?status=RESOLVED").json()["features"]
    polygons = [shapely.geometry.shape(f["geometry"]) for f in cells]
    resolved = [(r["lon"], r["lat"]) for r in expected.values() if r["status"] == "RESOLVED"]
    points = shapely.points(np.array(resolved))
    point_index, cell_index = shapely.STRtree(polygons).query(points, predicate="within")
    assert sorted(point_index) == list(range(len(resolved)))  # each point in exactly one cell
    found = np.bincount(cell_index, minlength=len(cells))
    assert list(found) == [f["properties"]["count"] for f in cells]
    assert sum(found) == len(resolved) and all(found > 0)
    utm = Transformer.from_crs(4326, 32648, always_xy=True)
    for polygon in polygons[:50]:
        ring = np.array(utm.transform(*np.array(polygon.exterior.coords).T)).T
        edges = np.hypot(*np.diff(ring, axis=0).T)
        assert edges == pytest.approx(500, abs=0.02)
        assert shapely.Polygon(ring).area == pytest.approx(1.5 * math.sqrt(3) * 500**2,
                                                           rel=1e-4)  # 1 cm vertices


# Privacy ---------------------------------------------------------------------------------

PHONE_LIKE = re.compile(r"\+?\d[\d .()-]{5,}\d")


def digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def leaks(blob: str, personal: dict[str, set[str]]) -> set[str]:
    """The personal values present in ``blob``: names as runs of words, phones by their digits
    whatever the separators, e-mails as written."""
    words = re.findall(r"\w+", blob)
    runs = {" ".join(words[i:i + n]) for n in {len(name.split()) for name in personal["names"]}
            for i in range(len(words) - n + 1)}
    phones = {digits(found) for found in PHONE_LIKE.findall(blob)}
    emails = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", blob))
    return ((personal["names"] & runs)
            | {phone for phone in personal["phones"] if digits(phone) in phones}
            | (personal["emails"] & emails))


@pytest.fixture(scope="module")
def personal(engine: Engine, demo: Any) -> dict[str, set[str]]:
    """Every reporter name, phone and e-mail in the database (other tests' reports included)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT reporter_name, reporter_phone, reporter_email FROM complaint")).all()
    names, phones, emails = (set(filter(None, column)) for column in zip(*rows, strict=True))
    return {"names": names, "phones": phones, "emails": emails}


def test_the_leak_detector_finds_personal_values(engine: Engine,
                                                 personal: dict[str, set[str]]) -> None:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT reporter_name, reporter_phone, reporter_email FROM complaint "
            "WHERE reporter_name IS NOT NULL AND reporter_phone IS NOT NULL "
            "AND reporter_email IS NOT NULL ORDER BY public_id LIMIT 40")).all()
    assert rows  # other tests' reports may lack a phone or an e-mail: the demo's have all
    dump = "\n".join(f'{{"n": "{n}", "p": "{p[:3]} {p[3:6]}-{p[6:]}", "e": "{e}"}}'
                     for n, p, e in rows)  # phones with separators must be found too
    assert leaks(dump, personal) == {value for row in rows for value in row}


def test_no_export_page_or_tile_contains_personal_data(
        client: TestClient, tmp_path: Path, personal: dict[str, set[str]],
        expected: dict[str, Any]) -> None:
    blobs: dict[str, str] = {}
    for layer in ("complaints", "wards", "districts", "hotspot-grid"):
        for export_format in FORMATS:
            body = client.get(f"/export/{layer}.{export_format}").content
            blobs[f"{layer}.{export_format}"] = body.decode("utf-8", "ignore")
        path = download(client, f"/export/{layer}.gpkg", tmp_path / f"{layer}.gpkg")
        _, _, fields = read_back(path, "gpkg")
        blobs[f"{layer}.gpkg fields"] = "\n".join(map(str, np.concatenate(list(fields.values()))))
    blobs["items"] = client.get("/ogc/collections/complaints/items?limit=10000").text
    blobs["item"] = client.get(f"/ogc/collections/complaints/items/{next(iter(expected))}").text
    blobs["collections"] = client.get("/ogc/collections").text
    blobs["tilejson"] = client.get("/tiles/complaints.json").text
    tiles = {tile_of(r["lon"], r["lat"], 13) for r in expected.values()}
    for z, x, y in tiles:
        for layer in ("complaints", "wards"):
            body = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt").content
            decoded = mapbox_vector_tile.decode(body) if body else {}
            blobs[f"tile {layer} {z}/{x}/{y}"] = body.decode("utf-8", "ignore") + repr(decoded)
    assert len(tiles) > 20
    found = {name: leaks(blob, personal) for name, blob in blobs.items()}
    assert not {name: values for name, values in found.items() if values}

