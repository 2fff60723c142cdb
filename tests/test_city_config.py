"""A second city configured with no code change, exactly as the README's "Configure your city"
tells: a fresh database, its boundaries and its catalogue file through the real ``phananh``
command, then complaints submitted over GraphQL and routed through the file's rules."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import create_app
from db.engine import make_engine
from settings import Settings
from tests.conftest import GraphQLClient, fresh_database, phananh

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
CATALOGUE = EXAMPLES / "city-catalogue.yaml"
SUBMIT = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) {
    id ward { code } attributes createdAt dueAt
    routing { agency { code nameEn kind } rule { code } reason } } }"""


@pytest.fixture(scope="module")
def city_url() -> Iterator[str]:
    yield from fresh_database()


@pytest.fixture(scope="module")
def configured(city_url: str) -> str:
    for level, name in (("city", "city"), ("district", "districts"), ("ward", "wards")):
        done = phananh(city_url, "import-boundaries", str(EXAMPLES / f"portbury-{name}.geojson"),
                       "--level", level, "--generation", "portbury-2024",
                       "--valid-from", "2024-01-01",
                       *(() if level == "city" else ("--parent-field", "parent")))
        assert done.returncode == 0, done.stdout + done.stderr
    return city_url


@pytest.fixture(scope="module")
def applied(configured: str) -> dict[str, Any]:
    """The file applied with the real command: dry run, apply, then a second dry run."""
    return {step: phananh(configured, "catalogue", "apply", str(CATALOGUE), *extra)
            for step, extra in (("dry", ["--dry-run"]), ("apply", []),
                                ("again", ["--dry-run"]))}


@pytest.fixture(scope="module")
def city_engine(configured: str) -> Iterator[Engine]:
    engine = make_engine(configured)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def city_gql(configured: str, applied: dict[str, Any],
             city_engine: Engine) -> Iterator[GraphQLClient]:
    settings = Settings(database_url=configured, submissions_per_minute_per_client=10_000)
    with TestClient(create_app(settings, city_engine)) as client:
        yield GraphQLClient(client)


def ward_centre(code: str) -> tuple[float, float]:
    """The centre of a Portbury ward, read from the committed boundary file with shapely."""
    features = json.loads((EXAMPLES / "portbury-wards.geojson").read_text())["features"]
    found = next(f for f in features if f["properties"]["code"] == code)
    centre = shapely.geometry.shape(found["geometry"]).centroid
    return centre.x, centre.y


def test_apply_then_dry_run_says_nothing_to_change(applied: dict[str, Any]) -> None:
    assert all(done.returncode == 0 for done in applied.values()), applied
    assert "+ category streets.pothole" in applied["dry"].stdout
    assert "would change" in applied["dry"].stdout
    # the 15 categories of migration 0001 are not in Portbury's file: retired, not deleted
    assert "- category environment.waste retired" in applied["apply"].stdout
    assert "Nothing to change" in applied["again"].stdout, applied["again"].stdout


def test_complaints_are_routed_through_the_file(city_gql: GraphQLClient,
                                                city_engine: Engine) -> None:
    lon, lat = ward_centre("S2")
    pothole = city_gql.data(SUBMIT, {"i": {
        "categoryCode": "streets.pothole", "description": "Deep pothole outside no. 4",
        "lon": lon, "lat": lat, "attributes": {"size": "large", "depth_cm": "12"}}})[
        "submitComplaint"]
    assert pothole["ward"]["code"] == "S2"
    assert pothole["attributes"] == {"size": "large", "depth_cm": 12}
    assert pothole["routing"]["agency"] == {"code": "highways", "nameEn": "Highways Department",
                                            "kind": "CITY_DEPARTMENT"}
    assert pothole["routing"]["rule"] == {"code": "streets-city"}
    # parks in the south: no rule there, so the ward's office (the documented default)
    lon, lat = ward_centre("S1")
    park = city_gql.data(SUBMIT, {"i": {"categoryCode": "parks.damage", "description": "Bench",
                                        "lon": lon, "lat": lat}})["submitComplaint"]
    assert park["routing"]["agency"]["code"] == "office-s1" and park["routing"]["rule"] is None
    assert park["routing"]["reason"].startswith("default")
    lon, lat = ward_centre("N2")
    north = city_gql.data(SUBMIT, {"i": {"categoryCode": "parks.damage", "description": "Gate",
                                         "lon": lon, "lat": lat}})["submitComplaint"]
    assert north["routing"]["agency"]["code"] == "parks-north"
    with city_engine.connect() as conn:
        zone = conn.execute(text("SELECT time_zone FROM work_calendar")).scalar_one()
    assert zone == "Europe/London"


def test_a_retired_category_takes_no_complaints(city_gql: GraphQLClient) -> None:
    lon, lat = ward_centre("N1")
    code = city_gql.error_code(SUBMIT, {"i": {"categoryCode": "environment.waste",
                                              "description": "x", "lon": lon, "lat": lat}})
    assert code == "UNKNOWN_CATEGORY"
    listed = city_gql.data("{ categories { code } all: categories(includeRetired: true) "
                           "{ code retired } }")
    assert {c["code"] for c in listed["categories"]} == {
        "streets.pothole", "streets.light", "waste.missed_bin", "waste.fly_tipping",
        "parks.damage"}
    assert {"code": "environment.waste", "retired": True} in listed["all"]


def test_jurisdiction_names_the_agency(city_gql: GraphQLClient) -> None:
    lon, lat = ward_centre("N1")
    found = city_gql.data("""query($lon: Float!, $lat: Float!) {
        jurisdiction(lon: $lon, lat: $lat, category: "waste.missed_bin",
                     at: "2026-06-01T12:00:00Z") {
            ward { code } agency { code } routing { rule { code } } }
        before: jurisdiction(lon: $lon, lat: $lat, category: "waste.missed_bin",
                             at: "2025-06-01T12:00:00Z") { agency { code } } }""",
                          {"lon": lon, "lat": lat})
    assert found["jurisdiction"] == {"ward": {"code": "N1"}, "agency": {"code": "clearwaste"},
                                     "routing": {"rule": {"code": "waste-city"}}}
    # the waste rule is valid from 2026-01-01: before that, the ward's office
    assert found["before"] == {"agency": {"code": "office-n1"}}


def test_working_time_follows_the_city_calendar(city_gql: GraphQLClient,
                                                city_engine: Engine) -> None:
    """7 working hours from Thursday 24 December 2026, 16:00 London: 1 h on Thursday, then
    Friday 25 and Monday 28 are bank holidays, the weekend does not count: Tuesday 29th,
    09:00 + 6 h with the 13:30 lunch hour = 16:00."""
    start = datetime(2026, 12, 24, 16, 0, tzinfo=UTC)  # London is on UTC in December
    with city_engine.connect() as conn:
        due = conn.execute(text("SELECT working_due(:s, 7)"), {"s": start}).scalar_one()
    assert due == datetime(2026, 12, 29, 16, 0, tzinfo=UTC)
