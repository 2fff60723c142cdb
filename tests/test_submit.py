"""Submitting a complaint: routing to the right ward, personal data kept, retries safe."""

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime

import pytest
import shapely
from shapely.geometry import Point
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from errors import PhananhError
from settings import Settings
from tests.conftest import Demo, GraphQLClient
from tests.working_time import demo_due
from workflow.submission import FootprintRules, Reporter, Submission, submit

SUBMIT = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) {
  id status description address channel mediaUrls createdAt dueAt location
  category { code slaHours } ward { code } district { code } city { code } } }"""


def ward_by_shapely(demo: Demo, lon: float, lat: float) -> str:
    return min(w.code for w in demo.areas("demo-2025", "ward")
               if w.geometry.covers(Point(lon, lat)))


def test_submission_is_routed_and_stored(gql: GraphQLClient, engine: Engine,
                                         demo: Demo) -> None:
    rng_point = shapely.Point(demo.outline.centroid.x + 0.0123, demo.outline.centroid.y - 0.0071)
    complaint = gql.data(SUBMIT, {"i": {
        "categoryCode": "environment.waste", "description": "  Rác thải ùn ứ đầu ngõ  ",
        "lon": rng_point.x, "lat": rng_point.y, "address": "Số 5 ngõ 12",
        "channel": "web", "mediaUrls": ["https://example.com/a.jpg"],
        "reporter": {"name": "Trần Thị Bích", "phone": "0912 345 678",
                     "email": "bich@example.com"},
    }})["submitComplaint"]
    assert complaint["status"] == "RECEIVED" and complaint["channel"] == "web"
    assert complaint["description"] == "Rác thải ùn ứ đầu ngõ"
    assert complaint["ward"]["code"] == ward_by_shapely(demo, rng_point.x, rng_point.y)
    ward = next(w for w in demo.areas("demo-2025", "ward")
                if w.code == complaint["ward"]["code"])
    assert complaint["district"]["code"] == ward.parent_code
    assert complaint["location"]["coordinates"] == [rng_point.x, rng_point.y]
    created = datetime.fromisoformat(complaint["createdAt"])
    # 24 working hours of the demo calendar (tests/working_time.py, independent of the SQL)
    assert datetime.fromisoformat(complaint["dueAt"]) == demo_due(created, 24)
    with engine.connect() as conn:
        stored = conn.execute(text("""SELECT reporter_name, reporter_phone, reporter_email,
            (SELECT array_agg(kind) FROM complaint_event e WHERE e.complaint_id = c.id) AS events
            FROM complaint c WHERE public_id = :id"""), {"id": complaint["id"]}).one()
    assert tuple(stored[:3]) == ("Trần Thị Bích", "0912 345 678", "bich@example.com")
    assert stored.events == ["SUBMITTED"]
    public = gql.data('query($id: ID!) { complaint(id: $id) { id } }', {"id": complaint["id"]})
    assert public["complaint"]["id"] == complaint["id"]


def test_location_as_geojson_point(gql: GraphQLClient, demo: Demo) -> None:
    point = demo.areas("demo-2025", "ward")[5].geometry.representative_point()
    complaint = gql.data(SUBMIT, {"i": {
        "categoryCode": "traffic.signals", "description": "Đèn tín hiệu hỏng",
        "location": {"type": "Point", "coordinates": [point.x, point.y]}}})["submitComplaint"]
    assert complaint["ward"]["code"] == demo.areas("demo-2025", "ward")[5].code


def test_sensitive_category_hides_the_address(gql: GraphQLClient, demo: Demo) -> None:
    point = demo.outline.representative_point()
    complaint = gql.data(SUBMIT, {"i": {
        "categoryCode": "land.dispute", "description": "Tranh chấp ranh giới đất",
        "lon": point.x, "lat": point.y, "address": "Thửa đất số 12, tờ bản đồ 3"}})
    assert complaint["submitComplaint"]["address"] is None


def test_repeated_idempotency_key_returns_the_first_complaint(
    gql: GraphQLClient, engine: Engine, demo: Demo
) -> None:
    point = demo.outline.representative_point()
    key = f"retry-{uuid.uuid4()}"
    payload = {"i": {"categoryCode": "other", "description": "Một lần thôi", "lon": point.x,
                     "lat": point.y, "idempotencyKey": key}}
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda _: gql.data(SUBMIT, payload)["submitComplaint"]["id"],
                            range(16)))
    assert len(set(ids)) == 1
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM complaint WHERE idempotency_key = :k"),
                              {"k": key}).scalar_one()
        events = conn.execute(text("""SELECT count(*) FROM complaint_event e JOIN complaint c
            ON c.id = e.complaint_id WHERE c.idempotency_key = :k"""), {"k": key}).scalar_one()
    assert (stored, events) == (1, 1)


def test_event_log_is_append_only(engine: Engine, demo: Demo) -> None:
    for statement in ("UPDATE complaint_event SET note = 'changed'",
                      "DELETE FROM complaint_event"):
        with engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(statement))


def test_the_submission_service_routes_without_graphql(engine: Engine, demo: Demo,
                                                       settings: Settings) -> None:
    """workflow.submission is where routing is decided, so any intake channel can call it:
    the category first, then the ward (checked with shapely), naming a swapped pair."""
    inside = demo.areas("demo-2025", "ward")[7].geometry.representative_point()
    submission = Submission(category_code="environment.waste", description="  Rác  ",
                            lon=inside.x, lat=inside.y, reporter=Reporter(name="Lan"))
    with engine.begin() as conn:
        row = submit(conn, submission, FootprintRules.of(settings))
        ward = conn.execute(text("SELECT code FROM admin_area WHERE id = :id"),
                            {"id": row.ward_id}).scalar_one()
    assert ward == ward_by_shapely(demo, inside.x, inside.y)
    assert row.description == "Rác" and row.due_at == demo_due(row.created_at, 24)
    refusals = {
        "UNKNOWN_CATEGORY": replace(submission, category_code="nope", lon=2.35, lat=48.85),
        "OUTSIDE_JURISDICTION": replace(submission, lon=inside.y, lat=inside.x),
    }
    for code, refused in refusals.items():
        with engine.begin() as conn, pytest.raises(PhananhError) as error:
            submit(conn, refused, FootprintRules.of(settings))
        assert error.value.code == code
    assert error.value.extensions["swapped"] is True and "swapped" in error.value.message


def test_text_limits_are_measured_on_what_is_stored(gql: GraphQLClient, engine: Engine,
                                                    demo: Demo) -> None:
    """An address of one letter and 1.9 MB of spaces passed a limit measured on the stripped
    text and was stored raw: texts are stored as measured."""
    point = demo.areas("demo-2025", "ward")[9].geometry.representative_point()
    padded = {"categoryCode": "environment.waste", "description": "Rác" + " " * 100_000,
              "lon": point.x, "lat": point.y, "address": "a" + " " * 100_000,
              "channel": " web ", "reporter": {"name": "  Lan  "}}
    complaint = gql.data(SUBMIT, {"i": padded})["submitComplaint"]
    with engine.connect() as conn:
        stored = conn.execute(text("""SELECT description, address, channel, reporter_name
            FROM complaint WHERE public_id = :id"""), {"id": complaint["id"]}).one()
    assert tuple(stored) == ("Rác", "a", "web", "Lan")
    too_long = {**padded, "address": "a" * 501}
    assert gql(SUBMIT, {"i": too_long})["errors"][0]["extensions"]["code"] == "BAD_INPUT"
