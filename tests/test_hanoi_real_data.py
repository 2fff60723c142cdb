"""Hanoi's real boundaries (from ../shared/data when present): import and lookup vs shapely."""

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point, shape
from starlette.testclient import TestClient

from app import create_app
from db.engine import make_engine
from settings import Settings
from tests.conftest import GraphQLClient, fresh_database, hanoi_data, phananh

LOOKUP = """query($points: [PointInput!]!, $at: DateTime) {
  jurisdictions(points: $points, at: $at) {
    ward { code name parent { code } } district { code name } city { code } } }"""


def features(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as file:
        return json.load(file)["features"]


@pytest.fixture(scope="module")
def hanoi() -> Iterator[tuple[GraphQLClient, list[dict[str, Any]], list[dict[str, Any]]]]:
    wards_path = hanoi_data("hanoi_wards_2025_126.geojson")
    districts_path = hanoi_data("hanoi_districts_30.geojson")
    city_path = hanoi_data("01_ha_noi_province.geojson")
    for url in fresh_database():
        imports = [
            (city_path, "--level", "city", "--generation", "hanoi-2025", "--valid-from",
             "2025-07-01"),
            (wards_path, "--level", "ward", "--generation", "hanoi-2025"),
            (districts_path, "--level", "district", "--generation", "hanoi-2008",
             "--valid-from", "2008-08-01", "--valid-to", "2025-07-01",
             "--code-field", "level2_id"),
        ]
        for args in imports:
            result = phananh(url, "import-boundaries", *args, timeout=300)
            assert result.returncode == 0, result.stdout + result.stderr
        engine = make_engine(Settings(database_url=url).sqlalchemy_url)
        with TestClient(create_app(Settings(database_url=url), engine)) as client:
            yield GraphQLClient(client), features(wards_path), features(districts_path)
        engine.dispose()


def lowest_code_covering(areas: list[dict[str, Any]], key: str,
                         points: list[tuple[float, float]]) -> list[str | None]:
    geometries = [shape(a["geometry"]) for a in areas]
    tree = shapely.STRtree(geometries)
    answers = []
    for lon, lat in points:
        hits = [areas[i]["properties"][key] for i in tree.query(Point(lon, lat),
                                                                 predicate="covered_by")]
        answers.append(min(hits) if hits else None)
    return answers


def test_sample_of_points_matches_shapely_in_both_generations(hanoi: tuple) -> None:
    gql, wards, districts = hanoi
    rng = np.random.default_rng(2025)
    points = [(float(x), float(y)) for x, y in zip(rng.uniform(105.28, 106.03, 1_500),
                                                   rng.uniform(20.55, 21.40, 1_500),
                                                   strict=True)]
    variables = {"points": [{"lon": x, "lat": y} for x, y in points]}
    now = gql.data(LOOKUP, variables)["jurisdictions"]
    assert [r["ward"]["code"] if r["ward"] else None for r in now] == \
        lowest_code_covering(wards, "code", points)
    assert all(r["ward"]["parent"]["code"] == "01" for r in now if r["ward"])
    before = gql.data(LOOKUP, {**variables, "at": "2024-06-01T00:00:00+07:00"})["jurisdictions"]
    assert [r["district"]["code"] if r["district"] else None for r in before] == \
        lowest_code_covering(districts, "level2_id", points)
    assert all(r["ward"] is None for r in before)  # the 126 wards start on 1 July 2025


@pytest.mark.parametrize(("lon", "lat", "ward"), [(105.8525, 21.0287, "Hoàn Kiếm"),
                                                  (105.8072, 21.2187, "Nội Bài")])
def test_landmarks(hanoi: tuple, lon: float, lat: float, ward: str) -> None:
    gql, _, _ = hanoi
    result = gql.data(LOOKUP, {"points": [{"lon": lon, "lat": lat}]})["jurisdictions"][0]
    assert result["ward"]["name"] == ward


def test_overlapping_wards_resolve_deterministically(hanoi: tuple) -> None:
    gql, wards, _ = hanoi
    geometries = [shape(w["geometry"]) for w in wards]
    tree = shapely.STRtree(geometries)
    left, right = tree.query(geometries, predicate="overlaps")
    pairs = [(i, j) for i, j in zip(left, right, strict=True) if i < j
             and geometries[i].intersection(geometries[j]).area > 0]
    assert pairs, "the known overlap sliver between two wards is missing"
    i, j = pairs[0]
    sliver = geometries[i].intersection(geometries[j])
    inside = sliver.representative_point()
    codes = sorted((wards[i]["properties"]["code"], wards[j]["properties"]["code"]))
    for _ in range(3):
        result = gql.data(LOOKUP, {"points": [{"lon": inside.x, "lat": inside.y}]})
        assert result["jurisdictions"][0]["ward"]["code"] == codes[0]


def test_stored_areas_are_geodesic(hanoi: tuple) -> None:
    gql, wards, _ = hanoi
    stored = {a["code"]: a["areaKm2"] for a in gql.data(
        '{ areas(level: WARD) { code areaKm2 } }')["areas"]}
    geod = Geod(ellps="WGS84")
    for ward in wards[:20]:
        area = abs(geod.geometry_area_perimeter(shape(ward["geometry"]))[0]) / 1e6
        assert stored[ward["properties"]["code"]] == pytest.approx(area, rel=1e-3)
    assert sum(stored.values()) == pytest.approx(3359.77, rel=2e-3)
