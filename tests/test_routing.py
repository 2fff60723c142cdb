"""Routing rules on the demo city: the most specific area wins, then a category over a group;
rules hold only within their dates; the default is the ward's People's Committee. The
expected agency is worked out here from the demo's own data and shapely, not from the SQL.

Rules added by a test live in a transaction that is rolled back, so the shared demo keeps
its catalogue.
"""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from shapely.geometry import Point
from sqlalchemy import Connection, Engine, text

from demo.organisation import district_team, ward_committee
from tests.conftest import Demo, GraphQLClient
from workflow.routing import agency_for


@pytest.fixture
def conn(engine: Engine, demo: Demo) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


def place(demo: Demo, index: int) -> tuple[float, float, str, str]:
    """A point inside a demo-2025 ward, with its ward and district codes (from shapely)."""
    ward = sorted(demo.areas("demo-2025", "ward"), key=lambda a: a.code)[index]
    point = ward.geometry.representative_point()
    holder = min(w.code for w in demo.areas("demo-2025", "ward") if w.geometry.covers(point))
    assert holder == ward.code
    return point.x, point.y, ward.code, ward.parent_code


def add_rule(conn: Connection, code: str, agency: str, *, category: str | None = None,
             group: str | None = None, level: str | None = None, area: str | None = None,
             valid_from: datetime | None = None, valid_to: datetime | None = None) -> None:
    conn.execute(text("""
        INSERT INTO routing_rule (code, category_code, group_code, area_level, area_code,
                                  agency_code, valid_from, valid_to)
        VALUES (:code, :category, :group, :level, :area, :agency, :vf, :vt)"""),
        {"code": code, "category": category, "group": group, "level": level, "area": area,
         "agency": agency, "vf": valid_from, "vt": valid_to})


def retire(conn: Connection, code: str) -> None:
    conn.execute(text("UPDATE routing_rule SET retired_at = now() WHERE code = :c"), {"c": code})


def test_the_most_specific_area_wins(conn: Connection, demo: Demo) -> None:
    lon, lat, ward, district = place(demo, 40)
    now = datetime.now(UTC)
    category = "environment.waste"  # the demo has no rule for it: the default
    assert agency_for(conn, category, lon, lat, now).agency_code == ward_committee(ward)
    add_rule(conn, "t-city", "so-nnmt", category=category, level="city", area="HN")
    add_rule(conn, "t-district", district_team(district), category=category,
             level="district", area=district)
    add_rule(conn, "t-ward", "cty-thoat-nuoc", category=category, level="ward", area=ward)
    add_rule(conn, "t-elsewhere", "so-yt", category=category, level="ward",
             area=place(demo, 41)[2])  # another ward: never applies here
    expected = [("t-ward", "cty-thoat-nuoc"), ("t-district", district_team(district)),
                ("t-city", "so-nnmt")]
    for rule, agency in expected:
        found = agency_for(conn, category, lon, lat, now)
        assert (found.rule_code, found.agency_code) == (rule, agency)
        assert rule in found.reason
        retire(conn, rule)
    found = agency_for(conn, category, lon, lat, now)
    assert (found.rule_id, found.agency_code) == (None, ward_committee(ward))
    assert found.reason == f"default: the People's Committee of ward {ward}"


def test_a_category_beats_its_group_in_the_same_area(conn: Connection, demo: Demo) -> None:
    lon, lat, _, district = place(demo, 7)
    now = datetime.now(UTC)
    # demo: the traffic group goes to the transport department city-wide, encroachment on
    # pavements to the district's urban-order team (a category, in a district)
    assert agency_for(conn, "traffic.signals", lon, lat, now).agency_code == "so-gtvt"
    assert agency_for(conn, "traffic.encroachment", lon, lat, now).agency_code == \
        district_team(district)
    add_rule(conn, "t-group", "so-xd", group="traffic", level="district", area=district)
    assert agency_for(conn, "traffic.encroachment", lon, lat, now).agency_code == \
        district_team(district)  # same area: the category's rule wins
    assert agency_for(conn, "traffic.signals", lon, lat, now).agency_code == "so-xd"
    add_rule(conn, "t-everywhere", "so-yt")  # every category, everywhere: least specific
    assert agency_for(conn, "environment.waste", lon, lat, now).agency_code == "so-yt"
    assert agency_for(conn, "traffic.signals", lon, lat, now).agency_code == "so-xd"


def test_rules_hold_only_within_their_dates(conn: Connection, demo: Demo) -> None:
    lon, lat, ward, _ = place(demo, 60)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    end = start + timedelta(days=30)
    add_rule(conn, "t-dated", "so-nnmt", category="environment.waste", level="ward",
             area=ward, valid_from=start, valid_to=end)
    add_rule(conn, "t-later", "so-yt", category="environment.waste", level="ward", area=ward,
             valid_from=start + timedelta(days=10))  # newer, open-ended: wins from then on
    cases = {start - timedelta(seconds=1): ward_committee(ward), start: "so-nnmt",
             start + timedelta(days=10): "so-yt", end: "so-yt",
             start + timedelta(days=9, hours=23): "so-nnmt"}
    for at, agency in cases.items():
        assert agency_for(conn, "environment.waste", lon, lat, at).agency_code == agency, at


def test_without_a_committee_nothing_is_chosen(conn: Connection, demo: Demo) -> None:
    lon, lat, ward, _ = place(demo, 3)
    conn.execute(text("UPDATE agency SET retired_at = now() WHERE code = :c"),
                 {"c": ward_committee(ward)})
    found = agency_for(conn, "environment.waste", lon, lat, datetime.now(UTC))
    assert found.agency_code is None and "no People's Committee" in found.reason


SUBMIT = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) {
    id routing { agency { code kind } rule { code categoryCode groupCode areaLevel areaCode }
                 reason } } }"""


def test_submission_and_jurisdiction_agree_with_the_rules(gql: GraphQLClient,
                                                          demo: Demo) -> None:
    """Random points in the city: the stored routing, the lookup and the expectation from
    the demo's rules (worked out with shapely) all agree."""
    rng = random.Random(11)
    wards = demo.areas("demo-2025", "ward")
    west, south, east, north = demo.outline.bounds
    expected_by_category = {
        "construction.illegal": lambda w, d: district_team(d),
        "construction.disturbance": lambda w, d: "so-xd",
        "environment.waste": lambda w, d: ward_committee(w),
        "land.dispute": lambda w, d: ward_committee(w),
        "public.water": lambda w, d: "cty-nuoc",
    }
    checked = 0
    while checked < 15:
        point = Point(rng.uniform(west, east), rng.uniform(south, north))
        holders = [w for w in wards if w.geometry.covers(point)]
        if not holders:
            continue
        ward = min(holders, key=lambda w: w.code)
        category = rng.choice(sorted(expected_by_category))
        expected = expected_by_category[category](ward.code, ward.parent_code)
        answers = {"permit_sign": "yes"} if category == "construction.illegal" else {}
        stored = gql.data(SUBMIT, {"i": {"categoryCode": category, "description": "routing",
                                         "lon": point.x, "lat": point.y,
                                         "attributes": answers}})["submitComplaint"]
        assert stored["routing"]["agency"]["code"] == expected, (category, ward.code)
        looked_up = gql.data("""query($lon: Float!, $lat: Float!, $c: String!) {
            jurisdiction(lon: $lon, lat: $lat, category: $c) {
                agency { code } routing { reason } } }""",
                             {"lon": point.x, "lat": point.y, "c": category})["jurisdiction"]
        assert looked_up["agency"]["code"] == expected
        assert looked_up["routing"]["reason"] == stored["routing"]["reason"]
        listed = gql.data("""query($a: [String!], $id: ID!) { complaints(
            filter: {agencyCodes: $a}, first: 500) { edges { node { id } } }
            complaint(id: $id) { routing { agency { code } } } }""",
                          {"a": [expected], "id": stored["id"]})
        assert stored["id"] in {e["node"]["id"] for e in listed["complaints"]["edges"]}
        checked += 1


def test_jurisdiction_refuses_an_unknown_category(gql: GraphQLClient, demo: Demo) -> None:
    lon, lat, _, _ = place(demo, 1)
    code = gql.error_code("query($lon: Float!, $lat: Float!) { jurisdiction(lon: $lon, "
                          "lat: $lat, category: \"nope\") { agency { code } } }",
                          {"lon": lon, "lat": lat})
    assert code == "UNKNOWN_CATEGORY"


def test_routing_and_attributes_load_in_batches(gql: GraphQLClient, demo: Demo,
                                                count_statements: Any) -> None:
    """A page's agencies, rules, their areas and its categories' attributes cost the same
    few statements whatever the page size (DataLoaders, no query per row)."""
    query = """query($n: Int!) { complaints(first: $n) { edges { node { attributes
        routing { reason rule { code } agency { code areas { code } } }
        category { attributes { code values { key } } } } } } }"""
    counts = []
    for size in (5, 200):
        count_statements.statements.clear()
        edges = gql.data(query, {"n": size})["complaints"]["edges"]
        assert len(edges) == size
        assert all(e["node"]["routing"]["agency"] for e in edges)  # every one is routed
        counts.append(len(count_statements.statements))
    assert counts[0] == counts[1] <= 8, counts
