"""Custom attributes (Open311 service definitions) on the demo's categories: every datatype's
answers accepted and refused with a BAD_INPUT per attribute, by the service itself (any
channel) and over GraphQL; private answers kept from the public, exports, OGC and tiles."""

import math
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from errors import PhananhError
from settings import Settings
from tests.conftest import Accounts, Demo, GraphQLClient
from workflow.submission import FootprintRules, Submission, submit

SUBMIT = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) {
    id attributes ward { code } } }"""
SECRET = "Ông Tư Bí Mật, nhà số 99"

# category: (valid answers, what is stored, {bad answers: the attribute blamed})
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], list[tuple[dict[str, Any], str]]]] = {
    "construction.illegal": (  # number; singlevaluelist, required
        {"floors": "7", "permit_sign": "no"}, {"floors": 7, "permit_sign": "no"},
        [({"permit_sign": "maybe"}, "permit_sign"), ({}, "permit_sign"),
         ({"permit_sign": "yes", "floors": "seven"}, "floors"),
         ({"permit_sign": "yes", "floors": True}, "floors"),
         ({"permit_sign": ["yes"]}, "permit_sign"),
         ({"permit_sign": "yes", "colour": "red"}, "colour")]),
    "environment.pollution": (  # multivaluelist, required; datetime
        {"sources": ["dust", "noise"], "observed_at": "2026-11-30T22:15:00+07:00"},
        {"sources": ["dust", "noise"], "observed_at": "2026-11-30T15:15:00+00:00"},
        [({"sources": "dust"}, "sources"), ({"sources": ["dust", "dust"]}, "sources"),
         ({"sources": ["ash"]}, "sources"), ({"sources": []}, "sources"),
         ({"sources": ["dust"], "observed_at": "2026-11-30 22:15"}, "observed_at"),
         ({"sources": ["dust"], "observed_at": "yesterday"}, "observed_at")]),
    "land.dispute": (  # string; text, private
        {"parcel": "  Thửa 12, tờ 4 ", "neighbour": SECRET},
        {"parcel": "Thửa 12, tờ 4"},
        [({"parcel": "x" * 501}, "parcel"), ({"parcel": 12}, "parcel"),
         ({"neighbour": "y" * 5001}, "neighbour")]),
}

RULES = FootprintRules.of(Settings())


def inside(demo: Demo, accounts: Accounts) -> tuple[float, float]:
    ward = next(w for w in demo.areas("demo-2025", "ward") if w.code == accounts.ward)
    point = ward.geometry.representative_point()
    return point.x, point.y


@pytest.mark.parametrize("category", sorted(CASES))
def test_answers_are_checked_against_the_definition(gql: GraphQLClient, demo: Demo,
                                                    accounts: Accounts, category: str) -> None:
    lon, lat = inside(demo, accounts)
    good, stored, bad = CASES[category]
    base = {"categoryCode": category, "description": "thuộc tính", "lon": lon, "lat": lat}
    created = gql.data(SUBMIT, {"i": {**base, "attributes": good}})["submitComplaint"]
    assert created["attributes"] == stored  # the anonymous reporter: public answers only
    for answers, blamed in bad:
        body = gql(SUBMIT, {"i": {**base, "attributes": answers}})
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_INPUT", answers
        assert set(error["extensions"]["attributes"]) == {blamed}, (answers, error)
        assert blamed in error["message"]


def test_the_service_refuses_the_same_answers(engine: Engine, demo: Demo,
                                              accounts: Accounts) -> None:
    """Attribute checks live in workflow.submission: another channel (Open311) calling it
    gets the same refusal, every bad attribute at once."""
    lon, lat = inside(demo, accounts)
    submission = Submission(category_code="environment.pollution", description="khói",
                            lon=lon, lat=lat,
                            attributes={"sources": ["ash"], "observed_at": "soon", "x": 1})
    with engine.begin() as conn, pytest.raises(PhananhError) as refused:
        submit(conn, submission, RULES)
    assert refused.value.details["attributes"].keys() == {"sources", "observed_at", "x"}
    with engine.begin() as conn:
        row = submit(conn, replace(submission, attributes={"sources": ["smell"]}), RULES)
    assert row.attributes == {"sources": ["smell"]} and row.private_attributes is None


def test_numbers_must_be_finite(engine: Engine, demo: Demo, accounts: Accounts) -> None:
    lon, lat = inside(demo, accounts)
    for value in (math.inf, math.nan, "1e999", 10**400):
        submission = Submission(category_code="construction.illegal", description="tầng",
                                lon=lon, lat=lat,
                                attributes={"permit_sign": "yes", "floors": value})
        with engine.begin() as conn, pytest.raises(PhananhError):
            submit(conn, submission, RULES)


def test_definitions_are_published(gql: GraphQLClient) -> None:
    categories = gql.data("""{ categories { code attributes {
        code datatype required order description private values { key name } } } }""")[
        "categories"]
    land = next(c for c in categories if c["code"] == "land.dispute")["attributes"]
    assert [(a["code"], a["datatype"], a["private"]) for a in land] == [
        ("parcel", "STRING", False), ("neighbour", "TEXT", True)]
    datatypes = {a["datatype"] for c in categories for a in c["attributes"]}
    assert datatypes == {"STRING", "NUMBER", "DATETIME", "TEXT", "SINGLEVALUELIST",
                         "MULTIVALUELIST"}


@pytest.fixture(scope="module")
def private_complaint(gql: GraphQLClient, demo: Demo, accounts: Accounts) -> dict[str, Any]:
    lon, lat = inside(demo, accounts)
    body = gql(SUBMIT, {"i": {"categoryCode": "land.dispute", "description": "tranh chấp",
                              "lon": lon, "lat": lat,
                              "attributes": {"parcel": "Thửa 9", "neighbour": SECRET}}},
               headers=accounts.headers("reporter"))
    return body["data"]["submitComplaint"]


def test_private_answers_only_for_reporter_and_responsible_officials(
        gql: GraphQLClient, accounts: Accounts, private_complaint: dict[str, Any]) -> None:
    assert private_complaint["attributes"] == {"parcel": "Thửa 9", "neighbour": SECRET}
    query = "query($id: ID!) { complaint(id: $id) { attributes } }"
    for caller in ("anonymous", "other_citizen", "analyst", "ward_out", "agency_other",
                   "reporter", "ward_in", "agency_in", "city_admin"):
        seen = gql(query, {"id": private_complaint["id"]}, headers=accounts.headers(caller))[
            "data"]["complaint"]["attributes"]
        sees = caller in ("reporter", "ward_in", "agency_in", "city_admin")
        assert seen == ({"parcel": "Thửa 9", "neighbour": SECRET} if sees
                        else {"parcel": "Thửa 9"}), caller


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The Web Mercator tile holding a point (the slippy-map formula)."""
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_private_answers_never_in_exports_ogc_or_tiles(
        client: TestClient, accounts: Accounts, private_complaint: dict[str, Any]) -> None:
    ward = private_complaint["ward"]["code"]
    for url in (f"/export/complaints.geojson?ward_code={ward}",
                f"/export/complaints.csv?ward_code={ward}",
                f"/ogc/collections/complaints/items?ward_code={ward}&limit=10000"):
        response = client.get(url, headers=accounts.headers("city_admin"))
        assert response.status_code == 200, response.text
        assert private_complaint["id"] in response.text, url
        assert "neighbour" not in response.text and SECRET not in response.text, url
    lon, lat = private_complaint_location(client, private_complaint["id"])
    x, y = tile_of(lon, lat, 16)
    response = client.get(f"/tiles/complaints/16/{x}/{y}.mvt")
    assert response.status_code == 200
    assert private_complaint["id"].encode() in response.content
    assert SECRET.encode() not in response.content and b"neighbour" not in response.content


def private_complaint_location(client: TestClient, public_id: str) -> tuple[float, float]:
    body = client.post("/graphql", json={"query": "query($id: ID!) { complaint(id: $id) "
                                                  "{ lon lat } }", "variables": {"id": public_id}})
    found = body.json()["data"]["complaint"]
    return found["lon"], found["lat"]
