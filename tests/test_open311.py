"""Open311 GeoReport v2 at /open311/v2/: driven with a real client library (georeport, over a
real HTTP server) and with raw HTTP, checked field by field against the spec's examples and
against independent truths (SQL, shapely, pyproj, the GraphQL API)."""

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from georeport import GeoReport
from pyproj import Geod
from shapely.geometry import Point, box
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import create_app
from settings import Settings
from tests.conftest import Accounts, Demo, GraphQLClient, new_complaint, phananh
from tests.live_server import live_server
from workflow.calendar import due_at

BASE = "/open311/v2"
# The spec's field names, in the order of its examples (GeoReport/v2/index.md).
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type",
                  "keywords", "group"]
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name",
                  "service_code", "description", "agency_responsible", "service_notice",
                  "requested_datetime", "updated_datetime", "expected_datetime", "address",
                  "address_id", "zipcode", "lat", "long", "media_url"]
DISCOVERY_FIELDS = ["changeset", "contact", "key_service", "endpoints"]
ENDPOINT_FIELDS = ["specification", "url", "changeset", "type", "formats"]
UPDATE_FIELDS = ["update_id", "service_request_id", "status", "updated_datetime",
                 "description", "media_url"]
PERSONAL = {"first_name": "Hoàng", "last_name": "Thị Riêng", "phone": "0912 000 311",
            "email": "rieng.open311@example.com"}
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>\n'
ATTRIBUTE_FIELDS = ["variable", "code", "datatype", "required", "datatype_description",
                    "order", "description", "values"]
GRAPHQL_VIEW = """query($id: ID!) { complaint(id: $id) { id status description dueAt createdAt
  address category { code nameVi slaHours } ward { code name } district { code } location
  attributes routing { agency { code nameVi } } } }"""
ASSIGN = """mutation($id: ID!, $v: Int!) { assignComplaint(id: $id, expectedVersion: $v) {
  status } }"""
TRANSITION = """mutation($id: ID!, $to: ComplaintStatus!, $v: Int!, $note: String,
  $reason: RejectionReason) { transitionComplaint(id: $id, to: $to, expectedVersion: $v,
  note: $note, reason: $reason) { status } }"""


@pytest.fixture(scope="module")
def api_key(database_url: str) -> str:
    """A key issued by the real command, as an operator would."""
    done = phananh(database_url, "open311", "keys", "issue", "Test client")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def server(settings: Settings, engine: Engine, demo: Demo) -> Iterator[str]:
    with live_server(create_app(settings, engine)) as url:
        yield url + BASE


def xml_of(response: Any) -> ET.Element:
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(XML_DECLARATION)
    return ET.fromstring(response.content)


def xml_record(element: ET.Element) -> dict[str, str]:
    return {child.tag: child.text or "" for child in element}


def as_xml_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def inside(demo: Demo, index: int) -> Point:
    return demo.areas("demo-2025", "ward")[index].geometry.representative_point()


def ward_by_shapely(demo: Demo, point: Point) -> Any:
    return min((w for w in demo.areas("demo-2025", "ward") if w.geometry.covers(point)),
               key=lambda w: w.code)


def post(client: TestClient, fmt: str = "json", **form: Any) -> Any:
    return client.post(f"{BASE}/requests.{fmt}", data=form)


def spec_error(response: Any, status: int, code: str) -> str:
    """The spec's error shape, in JSON or XML; returns the description."""
    assert response.status_code == status, response.text
    if response.headers["content-type"].startswith("text/xml"):
        root = xml_of(response)
        assert root.tag == "errors" and [e.tag for e in root] == ["error"]
        assert [c.tag for c in root[0]] == ["code", "description"]
        assert root[0].findtext("code") == code
        return root[0].findtext("description") or ""
    body = response.json()
    assert isinstance(body, list) and len(body) == 1 and list(body[0]) == ["code", "description"]
    assert body[0]["code"] == code
    return body[0]["description"]


# --- discovery and services -------------------------------------------------------------------

def test_discovery_in_both_formats(client: TestClient) -> None:
    body = client.get(f"{BASE}/discovery.json").json()
    assert list(body) == DISCOVERY_FIELDS and list(body["endpoints"][0]) == ENDPOINT_FIELDS
    endpoint = body["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith(BASE) and endpoint["type"] == "production"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    root = xml_of(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery" and [c.tag for c in root] == DISCOVERY_FIELDS
    endpoints = root.find("endpoints")
    assert endpoints is not None and [e.tag for e in endpoints] == ["endpoint"]
    assert [c.tag for c in endpoints[0]] == ENDPOINT_FIELDS
    assert [f.text for f in endpoints[0].iter("format")] == endpoint["formats"]


@pytest.fixture()
def retired_category(engine: Engine) -> Iterator[str]:
    """A retired category with an attribute (retired ones keep their definitions)."""
    code = "other.retired"
    with engine.begin() as conn:
        conn.execute(text("""INSERT INTO category (code, name_vi, name_en, domain, sla_hours,
            retired_at) VALUES (:code, 'Cũ', 'Old', 'other', 24, now())"""), {"code": code})
        conn.execute(text("""INSERT INTO category_attribute (category_code, code, datatype,
            position, description) VALUES (:code, 'note', 'string', 1, 'Ghi chú')"""),
                     {"code": code})
    yield code
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM category WHERE code = :code"), {"code": code})


def test_services_are_the_categories(client: TestClient, engine: Engine,
                                     retired_category: str) -> None:
    with engine.connect() as conn:
        categories = {r.code: r for r in conn.execute(text("""
            SELECT k.*, EXISTS (SELECT 1 FROM category_attribute a
                                WHERE a.category_code = k.code) AS has_attributes
            FROM category k WHERE k.retired_at IS NULL"""))}
    services = client.get(f"{BASE}/services.json").json()
    assert sorted(s["service_code"] for s in services) == sorted(categories)
    assert retired_category not in categories
    for service in services:
        assert list(service) == SERVICE_FIELDS
        category = categories[service["service_code"]]
        assert service["service_name"] == category.name_vi
        assert service["group"] == category.domain
        assert service["metadata"] is category.has_attributes
        assert service["type"] == "realtime"
    assert {s["metadata"] for s in services} == {True, False}
    root = xml_of(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services" and {e.tag for e in root} == {"service"}
    assert [xml_record(e) for e in root] == [
        {k: as_xml_text(v) for k, v in s.items()} for s in services]
    assert [[c.tag for c in e] for e in root] == [SERVICE_FIELDS] * len(services)


def test_service_definition(client: TestClient) -> None:
    assert client.get(f"{BASE}/services/environment.waste.json").json() == {
        "service_code": "environment.waste", "attributes": []}
    root = xml_of(client.get(f"{BASE}/services/environment.waste.xml"))
    assert root.tag == "service_definition"
    assert [c.tag for c in root] == ["service_code", "attributes"]
    assert root.findtext("service_code") == "environment.waste" and len(root[1]) == 0
    for fmt in ("json", "xml"):
        spec_error(client.get(f"{BASE}/services/no.such.{fmt}"), 404, "UNKNOWN_CATEGORY")


def attribute_rows(engine: Engine, category: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text("""SELECT * FROM category_attribute
            WHERE category_code = :code ORDER BY position, code"""), {"code": category}))


@pytest.mark.parametrize("category", ["construction.illegal", "environment.pollution",
                                      "land.dispute", "other.retired"])
def test_service_definition_with_attributes(client: TestClient, engine: Engine,
                                            retired_category: str, category: str) -> None:
    """Field by field against the catalogue's rows, in JSON and in the spec's XML nesting;
    a private attribute (land.dispute's neighbour) and a retired category are described."""
    rows = attribute_rows(engine, category)
    assert rows
    body = client.get(f"{BASE}/services/{category}.json").json()
    assert list(body) == ["service_code", "attributes"] and body["service_code"] == category
    assert [list(a) for a in body["attributes"]] == [ATTRIBUTE_FIELDS] * len(rows)
    for attribute, row in zip(body["attributes"], rows, strict=True):
        assert attribute["variable"] is True
        assert (attribute["code"], attribute["datatype"], attribute["required"],
                attribute["order"], attribute["description"]) == (
            row.code, row.datatype, row.required, row.position, row.description)
        assert attribute["values"] == row.values
        assert attribute["datatype_description"]
    orders = [a["order"] for a in body["attributes"]]
    assert orders == sorted(orders) and min(orders) >= 1 and len(set(orders)) == len(orders)
    root = xml_of(client.get(f"{BASE}/services/{category}.xml"))
    assert root.tag == "service_definition" and [c.tag for c in root] == [
        "service_code", "attributes"]
    assert root.findtext("service_code") == category
    attributes = root.find("attributes")
    assert attributes is not None and [a.tag for a in attributes] == ["attribute"] * len(rows)
    for element, attribute in zip(attributes, body["attributes"], strict=True):
        assert [c.tag for c in element] == ATTRIBUTE_FIELDS
        assert {c.tag: c.text or "" for c in element if c.tag != "values"} == {
            k: as_xml_text(v) for k, v in attribute.items() if k != "values"}
        values = element.find("values")
        assert values is not None and [v.tag for v in values] == ["value"] * len(
            attribute["values"])
        assert [[c.tag for c in v] for v in values] == [["key", "name"]] * len(values)
        assert [xml_record(v) for v in values] == attribute["values"]


def test_the_georeport_client_reads_every_resource(server: str, client: TestClient,
                                                   demo: Demo) -> None:
    """A real Open311 client library from PyPI, in both of its formats."""
    for fmt in ("json", "xml"):
        georeport = GeoReport(server, jurisdiction="phananh.local", output_format=fmt)
        services = georeport.get_service_list()
        assert len(services) == len(client.get(f"{BASE}/services.json").json())
        assert georeport.get_service_definition("other")["service_code"] == "other"
        definition = georeport.get_service_definition("construction.illegal")
        assert definition["service_code"] == "construction.illegal"
        listed = georeport.get_service_requests(status="open", service_code="environment.waste")
        assert listed and all(r["status"] == "open" for r in listed)
        assert all(r["service_code"] == "environment.waste" for r in listed)
        one = georeport.get_service_request(listed[0]["service_request_id"])
        assert one["service_request_id"] == listed[0]["service_request_id"]
        assert list(one) == REQUEST_FIELDS


# --- submitting -------------------------------------------------------------------------------

def test_open311_submission_is_the_graphql_complaint(client: TestClient, gql: GraphQLClient,
                                                     engine: Engine, demo: Demo,
                                                     api_key: str) -> None:
    point = inside(demo, 7)
    response = post(client, api_key=api_key, jurisdiction_id="phananh.local",
                    service_code="environment.waste", lat=point.y, long=point.x,
                    address_string="Số 3 ngõ 5", description="Rác đổ trộm\ncạnh cột điện",
                    media_url="https://example.com/r.jpg", device_id="tt222111",
                    **PERSONAL)
    assert response.status_code == 200, response.text
    (answer,) = response.json()
    assert list(answer) == ["service_request_id", "service_notice", "account_id"]
    request_id = answer["service_request_id"]
    seen = gql.data(GRAPHQL_VIEW, {"id": request_id})["complaint"]
    ward = ward_by_shapely(demo, point)
    assert seen["ward"]["code"] == ward.code and seen["district"]["code"] == ward.parent_code
    assert seen["category"]["code"] == "environment.waste"
    assert seen["description"] == "Rác đổ trộm\ncạnh cột điện"
    assert seen["location"]["coordinates"] == [point.x, point.y]
    agency = seen["routing"]["agency"]
    assert agency is not None and agency["nameVi"] in answer["service_notice"]

    # Read back through Open311: the same agency, due date and place; no personal data.
    listed = client.get(f"{BASE}/requests/{request_id}.json").json()
    (request,) = listed
    assert list(request) == REQUEST_FIELDS
    assert request["agency_responsible"] == agency["nameVi"]
    with engine.connect() as conn:
        routed, created = conn.execute(text(
            "SELECT agency_code, created_at FROM complaint WHERE public_id = :id"),
            {"id": request_id}).one()
        due = due_at(conn, created, seen["category"]["slaHours"])
    assert routed == agency["code"]
    assert datetime.fromisoformat(seen["dueAt"]) == due
    assert request["expected_datetime"] == due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") in answer["service_notice"]
    assert (request["lat"], request["long"]) == (point.y, point.x)
    assert request["media_url"] == "https://example.com/r.jpg"
    assert request["status"] == "open" and request["service_name"] == seen["category"]["nameVi"]
    raw = client.get(f"{BASE}/requests/{request_id}.xml").content + response.content \
        + client.get(f"{BASE}/requests.json", params={"extensions": "true"}).content
    for value in PERSONAL.values():
        assert value.encode() not in raw


def test_graphql_submission_reads_back_through_the_client(server: str, gql: GraphQLClient,
                                                          demo: Demo) -> None:
    point = inside(demo, 11)
    made = gql.data("""mutation($lon: Float!, $lat: Float!) { submitComplaint(input: {
        categoryCode: "traffic.signals", description: "Đèn tín hiệu hỏng", lon: $lon,
        lat: $lat, reporter: {name: "Ngô Văn Kín", phone: "0987654321"}}) {
        id dueAt ward { code name } routing { agency { code nameVi } } } }""",
        {"lon": point.x, "lat": point.y})["submitComplaint"]
    assert made["routing"]["agency"] is not None
    for fmt in ("json", "xml"):
        georeport = GeoReport(server, output_format=fmt)
        request = georeport.get_service_request(made["id"])
        assert request["agency_responsible"] == made["routing"]["agency"]["nameVi"]
        due = datetime.fromisoformat(made["dueAt"]).astimezone(UTC)
        assert request["expected_datetime"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert float(request["lat"]) == point.y and float(request["long"]) == point.x
        assert "Ngô Văn Kín" not in str(request)
    listed = GeoReport(server).get_service_requests(service_request_id=made["id"])
    assert [r["service_request_id"] for r in listed] == [made["id"]]
    extended = requests.get(f"{server}/requests/{made['id']}.json?extensions=true", timeout=30)
    assert extended.json()[0]["extended_attributes"]["ward"] == made["ward"]["code"]


def test_a_post_with_an_idempotency_key_is_safe_to_repeat(client: TestClient, engine: Engine,
                                                          demo: Demo, api_key: str,
                                                          database_url: str) -> None:
    """A retried POST with the same ``Idempotency-Key`` returns the first request and stores
    nothing more; another key, or the same key from another application, is a new request."""
    point = inside(demo, 9)
    form = {"service_code": "other", "lat": point.y, "long": point.x,
            "description": "Cống tắc, nước tràn (idempotency test)"}

    def posted(key: str, headers: dict[str, str]) -> str:
        response = client.post(f"{BASE}/requests.json", data={"api_key": key, **form},
                               headers=headers)
        assert response.status_code == 200, response.text
        return response.json()[0]["service_request_id"]

    first = posted(api_key, {"Idempotency-Key": "retry-7"})
    assert posted(api_key, {"Idempotency-Key": "retry-7"}) == first
    other = posted(api_key, {"Idempotency-Key": "retry-8"})
    done = phananh(database_url, "open311", "keys", "issue", "Another client")
    assert done.returncode == 0, done.stderr
    another_application = posted(done.stdout.strip().splitlines()[-1],
                                 {"Idempotency-Key": "retry-7"})
    without = posted(api_key, {})
    assert len({first, other, another_application, without}) == 4
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM complaint WHERE description = :d"),
                              {"d": form["description"]}).scalar_one()
    assert stored == 4
    too_long = client.post(f"{BASE}/requests.json", data={"api_key": api_key, **form},
                           headers={"Idempotency-Key": "k" * 300})
    assert "Idempotency-Key" in spec_error(too_long, 400, "BAD_INPUT")


def test_placed_by_address_string(client: TestClient, gql: GraphQLClient, demo: Demo,
                                  api_key: str) -> None:
    ward = sorted(demo.areas("demo-2025", "ward"), key=lambda w: w.code)[3]
    response = post(client, api_key=api_key, service_code="other",
                    address_string=f"Số 9 ngõ 2, {ward.name}", description="Ổ gà")
    assert response.status_code == 200, response.text
    seen = gql.data(GRAPHQL_VIEW, {"id": response.json()[0]["service_request_id"]})
    assert seen["complaint"]["ward"]["code"] == ward.code
    spec_error(post(client, api_key=api_key, service_code="other",
                    address_string="Somewhere in Paris", description="Ổ gà"),
               400, "OUTSIDE_JURISDICTION")


def post_raw(client: TestClient, body: str) -> Any:
    """A form as written by hand, for the ``attribute[code][]`` keys."""
    return client.post(f"{BASE}/requests.json", content=body.encode(),
                       headers={"content-type": "application/x-www-form-urlencoded; "
                                                "charset=utf-8"})


def test_attributes_are_checked_stored_and_read_back(client: TestClient, gql: GraphQLClient,
                                                     demo: Demo, api_key: str) -> None:
    point = inside(demo, 2)
    base = f"api_key={api_key}&lat={point.y}&long={point.x}&description=Thu%E1%BB%AD"
    pollution = f"{base}&service_code=environment.pollution"
    response = post_raw(client, f"{pollution}&attribute[sources][]=dust"
                                "&attribute[sources][]=smoke"
                                "&attribute[observed_at]=2026-11-30T22:15:00%2B07:00")
    assert response.status_code == 200, response.text
    seen = gql.data(GRAPHQL_VIEW, {"id": response.json()[0]["service_request_id"]})
    assert seen["complaint"]["attributes"] == {"sources": ["dust", "smoke"],
                                               "observed_at": "2026-11-30T15:15:00+00:00"}

    land = post_raw(client, f"{base}&service_code=land.dispute&attribute[parcel]=Th%E1%BB%ADa+9"
                            "&attribute[neighbour]=B%C3%AD+m%E1%BA%ADt")
    assert land.status_code == 200, land.text
    public = gql.data(GRAPHQL_VIEW, {"id": land.json()[0]["service_request_id"]})
    assert public["complaint"]["attributes"] == {"parcel": "Thửa 9"}  # the private one hidden

    construction = f"{base}&service_code=construction.illegal"
    built = post_raw(client, f"{construction}&attribute[permit_sign]=no&attribute[floors]=7")
    assert built.status_code == 200, built.text
    seen = gql.data(GRAPHQL_VIEW, {"id": built.json()[0]["service_request_id"]})
    assert seen["complaint"]["attributes"] == {"permit_sign": "no", "floors": 7}

    def refused(body: str) -> list[dict[str, str]]:
        response = post_raw(client, body)
        assert response.status_code == 400, response.text
        errors = response.json()
        assert all(list(e) == ["code", "description"] and e["code"] == "BAD_INPUT"
                   for e in errors)
        return errors

    (missing,) = refused(f"{construction}&attribute[floors]=3")
    assert missing["description"] == "attribute[permit_sign] is required."
    (unknown,) = refused(f"{construction}&attribute[permit_sign]=yes&attribute[colour]=red")
    assert unknown["description"] == "attribute[colour] is not an attribute of this category."
    (bad_list,) = refused(f"{pollution}&attribute[sources][]=dust&attribute[sources][]=ash")
    assert bad_list["description"].startswith("attribute[sources] must be a list")
    both = refused(f"{construction}&attribute[floors]=seven")
    assert sorted(e["description"].split()[0] for e in both) == [
        "attribute[floors]", "attribute[permit_sign]"]
    xml = client.post(f"{BASE}/requests.xml", data={
        "api_key": api_key, "lat": point.y, "long": point.x, "description": "x",
        "service_code": "construction.illegal"})
    assert spec_error(xml, 400, "BAD_INPUT") == "attribute[permit_sign] is required."

    too_long = {"api_key": api_key, "service_code": "other", "lat": point.y, "long": point.x,
                "description": "Test", "attribute[NOTE]": "x" * 1001}
    spec_error(post(client, **too_long), 400, "BAD_INPUT")
    too_many = {**too_long, "attribute[NOTE]": "x",
                **{f"attribute[A{i}]": str(i) for i in range(50)}}
    spec_error(post(client, **too_many), 400, "BAD_INPUT")


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_submission_errors_in_the_spec_shape(client: TestClient, demo: Demo, api_key: str,
                                             fmt: str) -> None:
    point = inside(demo, 1)
    good = {"service_code": "other", "lat": point.y, "long": point.x, "description": "x"}
    spec_error(post(client, fmt, **good), 403, "UNAUTHENTICATED")
    assert "api_key" in spec_error(post(client, fmt, api_key="forged", **good), 403,
                                   "UNAUTHENTICATED")
    spec_error(post(client, fmt, api_key=api_key, **{**good, "service_code": "no.such"}),
               404, "UNKNOWN_CATEGORY")
    *_, east, north = demo.outline.bounds
    spec_error(post(client, fmt, api_key=api_key, **{**good, "lat": north + 0.5,
                                                     "long": east + 0.5}),
               400, "OUTSIDE_JURISDICTION")
    spec_error(post(client, fmt, api_key=api_key, **{**good, "description": "x" * 4001}),
               400, "BAD_INPUT")
    spec_error(post(client, fmt, api_key=api_key, **{**good, "jurisdiction_id": "sfgov.org"}),
               404, "NOT_FOUND")
    spec_error(post(client, fmt, api_key=api_key, service_code="other", description="x"),
               400, "BAD_COORDINATES")
    spec_error(client.post(f"{BASE}/requests.{fmt}", json=good), 400, "UNSUPPORTED_FORMAT")


def test_other_errors_in_the_spec_shape(client: TestClient) -> None:
    spec_error(client.get(f"{BASE}/requests/PA-NOPE.xml"), 404, "NOT_FOUND")
    spec_error(client.get(f"{BASE}/tokens/12345.json"), 404, "NOT_FOUND")
    spec_error(client.get(f"{BASE}/nothing.json"), 404, "NOT_FOUND")
    spec_error(client.get(f"{BASE}/services.html"), 400, "UNSUPPORTED_FORMAT")
    spec_error(client.post(f"{BASE}/services.xml"), 405, "METHOD_NOT_ALLOWED")
    spec_error(client.delete(f"{BASE}/requests/PA-X.json"), 405, "METHOD_NOT_ALLOWED")
    spec_error(client.get(f"{BASE}/services.json?jurisdiction_id=sfgov.org"), 404, "NOT_FOUND")
    spec_error(client.get(f"{BASE}/requests.json?start_date=yesterday"), 400, "BAD_INPUT")
    spec_error(client.get(f"{BASE}/requests.json?start_date=2025-01-01T00:00:00Z"
                          "&end_date=2025-06-01T00:00:00Z"), 400, "BAD_INPUT")
    spec_error(client.get(f"{BASE}/requests.json?page_size=1001"), 400, "PAGE_TOO_LARGE")
    spec_error(client.get(f"{BASE}/requests.json?page_size=0"), 400, "PAGE_TOO_LARGE")
    spec_error(client.get(f"{BASE}/requests.json?page=0"), 400, "BAD_INPUT")
    spec_error(client.get(f"{BASE}/requests.json?page=1.5"), 400, "BAD_INPUT")
    spec_error(client.get(f"{BASE}/requests.json?bbox=1,2,3"), 400, "BAD_COORDINATES")
    spec_error(client.get(f"{BASE}/requests.json?lat=21&long=105.8&radius=1e9"), 400,
               "BAD_INPUT")
    spec_error(client.get(f"{BASE}/requests.json?status=pending"), 400, "BAD_INPUT")


def test_revoked_key_and_rate_limit(settings: Settings, engine: Engine, demo: Demo,
                                    database_url: str) -> None:
    limited = Settings(**{**settings.model_dump(), "submissions_per_minute_per_token": 2})
    issued = phananh(database_url, "open311", "keys", "issue", "Limited client")
    key = issued.stdout.strip().splitlines()[-1]
    point = inside(demo, 4)
    form = {"api_key": key, "service_code": "other", "lat": point.y, "long": point.x,
            "description": "Lần thử"}
    with TestClient(create_app(limited, engine)) as client:
        assert [post(client, **form).status_code for _ in range(2)] == [200, 200]
        refused = post(client, **form)
        spec_error(refused, 429, "RATE_LIMITED")
        assert int(refused.headers["retry-after"]) >= 1
    listed = phananh(database_url, "open311", "keys", "list")
    assert "Limited client" in listed.stdout and key not in listed.stdout
    assert phananh(database_url, "open311", "keys", "revoke", key).returncode == 0
    with TestClient(create_app(settings, engine)) as client:
        spec_error(post(client, **form), 403, "UNAUTHENTICATED")
    assert phananh(database_url, "open311", "keys", "revoke", key).returncode == 1


# --- listing ----------------------------------------------------------------------------------

def test_requests_field_by_field_against_the_database(client: TestClient,
                                                      engine: Engine) -> None:
    listed = client.get(f"{BASE}/requests.json", params={"page_size": 50}).json()
    root = xml_of(client.get(f"{BASE}/requests.xml", params={"page_size": 50}))
    assert root.tag == "service_requests" and {e.tag for e in root} == {"request"}
    assert [[c.tag for c in e] for e in root] == [REQUEST_FIELDS] * len(listed)
    assert [xml_record(e) for e in root] == [
        {k: as_xml_text(v) for k, v in r.items()} for r in listed]
    with engine.connect() as conn:
        truth = {r.public_id: r for r in conn.execute(text("""
            SELECT c.public_id, c.status, c.public_description AS description,
                   c.category_code, c.created_at, c.due_at, ST_X(c.location) AS lon,
                   ST_Y(c.location) AS lat, k.name_vi,
                   CASE WHEN k.sensitive THEN NULL ELSE c.public_address END AS address,
                   COALESCE(ag.name_vi, 'UBND ' || w.name) AS agency
            FROM complaint c JOIN category k ON k.code = c.category_code
            LEFT JOIN agency ag ON ag.code = c.agency_code
            LEFT JOIN admin_area w ON w.id = c.ward_id
            WHERE c.public_id = ANY(:ids)"""), {"ids": [r["service_request_id"]
                                                        for r in listed]})}
    assert len(truth) == len(listed) == 50
    w3 = "%Y-%m-%dT%H:%M:%SZ"
    for request in listed:
        row = truth[request["service_request_id"]]
        open_statuses = {"RECEIVED", "ASSIGNED", "IN_PROGRESS", "REOPENED"}
        assert request["status"] == ("open" if row.status in open_statuses else "closed")
        assert request["description"] == row.description
        assert request["service_code"] == row.category_code
        assert request["service_name"] == row.name_vi
        assert request["agency_responsible"] == row.agency
        assert request["requested_datetime"] == row.created_at.astimezone(UTC).strftime(w3)
        assert request["expected_datetime"] == (
            row.due_at.astimezone(UTC).strftime(w3) if row.due_at else None)
        assert (request["lat"], request["long"]) == (row.lat, row.lon)
        assert request["address"] == row.address
    created = [r["requested_datetime"] for r in listed]
    assert created == sorted(created, reverse=True)


def test_unrouted_requests_fall_back_to_the_ward_committee(client: TestClient, engine: Engine,
                                                          accounts: Accounts,
                                                          count_statements: Any) -> None:
    """A complaint routed to no agency names its ward's People's Committee, in the same one
    query as the routed ones on its page."""
    unrouted, routed = (new_complaint(engine, accounts.ward) for _ in range(2))
    with engine.begin() as conn:
        conn.execute(text("UPDATE complaint SET agency_code = NULL WHERE public_id = :id"),
                     {"id": unrouted})
        names = dict(conn.execute(text("""
            SELECT c.public_id, COALESCE(ag.name_vi, 'UBND ' || w.name)
            FROM complaint c JOIN admin_area w ON w.id = c.ward_id
            LEFT JOIN agency ag ON ag.code = c.agency_code
            WHERE c.public_id IN (:a, :b)"""), {"a": unrouted, "b": routed}).all())
        ward = conn.execute(text("""SELECT w.name FROM complaint c
            JOIN admin_area w ON w.id = c.ward_id WHERE c.public_id = :id"""),
            {"id": unrouted}).scalar_one()
    try:
        assert names[unrouted] == f"UBND {ward}"
        count_statements.statements.clear()
        listed = client.get(f"{BASE}/requests.json",
                            params={"service_request_id": f"{unrouted},{routed}"}).json()
        assert {r["service_request_id"]: r["agency_responsible"] for r in listed} == names
        assert sum("FROM agency" in s for s in count_statements.statements) == 1
    finally:  # routed again (as its twin, same place and category): other tests expect it
        with engine.begin() as conn:
            conn.execute(text("""UPDATE complaint SET agency_code = (SELECT agency_code
                FROM complaint WHERE public_id = :b) WHERE public_id = :a"""),
                {"a": unrouted, "b": routed})


def test_default_window_status_and_service_filters(client: TestClient,
                                                   engine: Engine) -> None:
    now = datetime.now(UTC)
    listed = client.get(f"{BASE}/requests.json").json()
    with engine.connect() as conn:
        # the default page: the newest 1,000 of the window, whatever other tests added
        recent = set(conn.execute(text("""SELECT public_id FROM complaint
            WHERE created_at >= :since ORDER BY created_at DESC, id DESC LIMIT 1000"""),
                                  {"since": now - timedelta(days=90)}).scalars())
        answered = set(conn.execute(text("""SELECT public_id FROM complaint
            WHERE created_at >= :since AND category_code IN ('environment.waste', 'other')
              AND status NOT IN ('RECEIVED', 'ASSIGNED', 'IN_PROGRESS', 'REOPENED')"""),
            {"since": now - timedelta(days=90)}).scalars())
    assert len(recent) > 0
    assert {r["service_request_id"] for r in listed} == recent
    closed = client.get(f"{BASE}/requests.json", params={
        "status": "closed", "service_code": "environment.waste,other"}).json()
    assert answered and {r["service_request_id"] for r in closed} == answered
    both = client.get(f"{BASE}/requests.json?status=open&status=closed").json()
    assert len(both) == len(listed)


def test_explicit_window_and_pages(client: TestClient, engine: Engine) -> None:
    start, end = datetime.now(UTC) - timedelta(days=80), datetime.now(UTC) - timedelta(days=20)
    with engine.connect() as conn:
        truth = list(conn.execute(text("""SELECT public_id FROM complaint
            WHERE created_at BETWEEN :s AND :e ORDER BY created_at DESC, id DESC"""),
            {"s": start, "e": end}).scalars())
    window = {"start_date": start.isoformat(), "end_date": end.isoformat()}
    pages = [client.get(f"{BASE}/requests.json", params={**window, "page": page,
                                                          "page_size": 100}).json()
             for page in range(1, len(truth) // 100 + 3)]
    assert [len(p) for p in pages][-1] == 0
    assert [r["service_request_id"] for p in pages for r in p] == truth


def every_page(client: TestClient, **params: Any) -> list[Any]:
    """Every request a listing finds, page after page (one page holds at most 1,000, and the
    suite's other tests may have filed more than that in the default window)."""
    found: list[Any] = []
    for page in range(1, 100):
        batch = client.get(f"{BASE}/requests.json", params={**params, "page": page}).json()
        if not batch:
            return found
        found += batch
    raise AssertionError("more than 99 pages")


def test_bbox_and_radius_against_shapely_and_pyproj(client: TestClient, demo: Demo) -> None:
    west, south, east, north = demo.outline.bounds
    area = (west + (east - west) * 0.3, south + (north - south) * 0.3,
            west + (east - west) * 0.6, south + (north - south) * 0.6)
    every = every_page(client)
    in_box = every_page(client, bbox=",".join(map(str, area)))
    expected = {r["service_request_id"] for r in every
                if box(*area).covers(Point(r["long"], r["lat"]))}
    assert expected and {r["service_request_id"] for r in in_box} == expected
    centre, radius = demo.outline.centroid, 2_500.0
    near = every_page(client, lat=centre.y, long=centre.x, radius=radius)
    geod = Geod(ellps="WGS84")

    def distance(r: dict[str, Any]) -> float:
        return geod.inv(centre.x, centre.y, r["long"], r["lat"])[2]

    found = {r["service_request_id"] for r in near}
    assert found and all(distance(r) <= radius + 1 for r in near)
    assert {r["service_request_id"] for r in every if distance(r) < radius - 1} <= found


def test_extensions_add_history_with_constant_statements(client: TestClient,
                                                         count_statements: Any) -> None:
    plain = client.get(f"{BASE}/requests.json", params={"page_size": 5}).json()
    assert all(list(r) == REQUEST_FIELDS for r in plain)
    counts = []
    for size in (5, 200):
        count_statements.statements.clear()
        listed = client.get(f"{BASE}/requests.json", params={
            "page_size": size, "extensions": "true"}).json()
        counts.append(len(count_statements.statements))
        assert len(listed) == size
    assert counts[0] == counts[1] <= 6  # rows, names, agencies, histories, places (+ ping)
    first = listed[0]
    assert list(first)[:len(REQUEST_FIELDS)] == REQUEST_FIELDS
    assert set(first["extended_attributes"]) == {"status", "ward", "district", "channel"}
    assert all(set(n) == {"datetime", "description", "type"} for n in first["notes"])
    submitted = [(n["description"], r["extended_attributes"]["channel"]) for r in listed
                 for n in r["notes"] if n["type"] == "submitted"]
    assert submitted and all(text == f"Submitted via {via}" for text, via in submitted)
    root = xml_of(client.get(f"{BASE}/requests.xml", params={"page_size": 3,
                                                              "extensions": "true"}))
    notes = root[0].find("notes")
    assert notes is not None and {n.tag for n in notes} <= {"note"}


def test_xml_carries_any_stored_text(client: TestClient, gql: GraphQLClient,
                                     demo: Demo) -> None:
    """Control characters XML 1.0 cannot carry are dropped; markup is escaped."""
    point = inside(demo, 13)
    made = gql.data("""mutation($lon: Float!, $lat: Float!) { submitComplaint(input: {
        categoryCode: "other", description: "Cống <vỡ> & tràn\u0001\u000b nước", lon: $lon,
        lat: $lat}) { id } }""", {"lon": point.x, "lat": point.y})["submitComplaint"]["id"]
    root = xml_of(client.get(f"{BASE}/requests/{made}.xml"))
    assert root[0].findtext("description") == "Cống <vỡ> & tràn nước"


def test_sensitive_addresses_stay_hidden(client: TestClient, demo: Demo,
                                         api_key: str) -> None:
    point = inside(demo, 9)
    made = post(client, api_key=api_key, service_code="land.dispute", lat=point.y,
                long=point.x, address_string="Thửa đất số 12, tờ bản đồ 3",
                description="Tranh chấp ranh giới").json()[0]["service_request_id"]
    (request,) = client.get(f"{BASE}/requests/{made}.json").json()
    assert request["address"] is None
    assert "Thửa đất" not in client.get(f"{BASE}/requests/{made}.xml?extensions=true").text


# --- servicerequestupdates --------------------------------------------------------------------

def test_status_changes_appear_as_updates(client: TestClient, gql: GraphQLClient,
                                          engine: Engine, accounts: Accounts) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    cid = new_complaint(engine, accounts.ward)
    officer = accounts.headers("ward_in")
    assert "errors" not in gql(ASSIGN, {"id": cid, "v": 1}, headers=officer)
    assert "errors" not in gql(TRANSITION, {"id": cid, "to": "IN_PROGRESS", "v": 2},
                               headers=officer)
    assert "errors" not in gql("""mutation($id: ID!) { commentOnComplaint(id: $id,
        text: "Tôi vẫn thấy rác") { version } }""", {"id": cid},
        headers=accounts.headers("reporter"))
    assert "errors" not in gql(TRANSITION, {"id": cid, "to": "RESOLVED", "v": 3,
                                            "note": "Đã thu gom"}, headers=officer)
    window = {"start_date": before.isoformat()}
    updates = [u for u in client.get(f"{BASE}/servicerequestupdates.json",
                                     params=window).json() if u["service_request_id"] == cid]
    assert all(list(u) == UPDATE_FIELDS for u in updates)
    assert [(u["status"], u["description"]) for u in updates] == [
        ("action_scheduled", ""), ("in_progress", ""),
        ("in_progress", ""),  # the reporter's comment: its words are theirs, not public
        ("fixed", "Đã thu gom")]
    ids = [int(u["update_id"]) for u in updates]
    assert ids == sorted(ids) and len(set(ids)) == 4
    root = xml_of(client.get(f"{BASE}/servicerequestupdates.xml", params=window))
    assert root.tag == "service_requests_updates" and {e.tag for e in root} == {"request_update"}
    mine = [xml_record(e) for e in root if e.findtext("service_request_id") == cid]
    assert [m["status"] for m in mine] == [u["status"] for u in updates]
    assert all(list(m) == UPDATE_FIELDS for m in mine)
    later = {"start_date": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()}
    assert client.get(f"{BASE}/servicerequestupdates.json", params=later).json() == []
    earlier = {"end_date": before.isoformat()}
    assert cid not in {u["service_request_id"] for u in client.get(
        f"{BASE}/servicerequestupdates.json", params=earlier).json()}
    (extended,) = client.get(f"{BASE}/requests/{cid}.json?extensions=true").json()
    assert [n["type"] for n in extended["notes"]] == ["transition", "transition", "comment",
                                                      "transition"]
    assert [n["description"] for n in extended["notes"]][2:] == [None, "Đã thu gom"]
    (closed,) = client.get(f"{BASE}/requests/{cid}.json").json()
    assert closed["status"] == "closed"


def test_rejection_reason_in_updates(client: TestClient, gql: GraphQLClient, engine: Engine,
                                     accounts: Accounts) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    cid = new_complaint(engine, accounts.ward)
    assert "errors" not in gql(TRANSITION, {"id": cid, "to": "REJECTED", "v": 1,
                                            "reason": "NOT_RESPONSIBLE"},
                               headers=accounts.headers("ward_in"))
    time.sleep(0.01)
    updates = client.get(f"{BASE}/servicerequestupdates.json",
                         params={"start_date": before.isoformat()}).json()
    assert [u["status"] for u in updates if u["service_request_id"] == cid] == [
        "not_councils_responsibility"]
    (request,) = client.get(f"{BASE}/requests/{cid}.json").json()
    assert request["status"] == "closed" and "NOT_RESPONSIBLE" in request["status_notes"]
