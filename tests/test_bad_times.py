"""Instants and time zones from clients: far-off years and extreme offsets, absurd time zone
names, and how much of a bad value an error message may repeat."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from errors import QUOTED_PREFIX, quoted
from tests.conftest import Demo, GraphQLClient

ITEMS = "/ogc/collections/complaints/items"
LONG = "Asia/" + "x" * 10_000
SHORT_MESSAGE = 300  # characters: what a message repeating a short prefix stays under


def count_since(engine: Engine, instant: datetime) -> int:
    """The independent count: complaints created at or after ``instant``, asked in SQL."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM complaint WHERE created_at >= :t"),
                            {"t": instant}).scalar_one()


def minus_23_59(instant: datetime) -> str:
    """``instant`` written with the offset −23:59 (valid RFC 3339; PostgreSQL stops at ±15:59)."""
    return instant.astimezone(timezone(-timedelta(hours=23, minutes=59))).isoformat()


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59Z", "9999-12-31", "0001-01-01T00:00:00Z",
                                   "../9999-12-31T23:59:59.999999Z",
                                   "9999-12-31T23:00:00-05:00"])
def test_ogc_instants_out_of_range_are_bad_input(client: TestClient, value: str) -> None:
    response = client.get(ITEMS, params={"datetime": value, "limit": 1})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "BAD_INPUT"
    assert response.json()["parameter"] == "datetime"


def test_an_offset_of_minus_23_59_is_the_same_instant_in_utc(
        client: TestClient, gql: GraphQLClient, engine: Engine, demo: Demo) -> None:
    since = demo.now - timedelta(days=90, minutes=7)
    want = count_since(engine, since)
    assert want > 0
    response = client.get(ITEMS, params={"datetime": f"{minus_23_59(since)}/..", "limit": 1})
    assert response.status_code == 200, response.text
    assert response.json()["numberMatched"] == want
    query = "query($t: DateTime!) { complaints(filter: {createdFrom: $t}) { totalCount } }"
    assert gql.data(query, {"t": minus_23_59(since)})["complaints"]["totalCount"] == want


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+14:00"])
def test_graphql_instants_out_of_range_are_bad_input(gql: GraphQLClient, value: str) -> None:
    query = "query($t: DateTime!) { complaints(filter: {createdTo: $t}) { totalCount } }"
    assert gql.error_code(query, {"t": value}) == "BAD_INPUT"
    literal = f'{{ stats(from: "{value}") {{ summary {{ received }} }} }}'
    assert gql.error_code(literal) == "BAD_INPUT"


@pytest.mark.parametrize("query", [
    "query($z: String!) { stats { series(timeZone: $z) { start } } }",
    "query($z: String!) { emergingHotspots(period: WEEK, k: 4, timeZone: $z) { steps } }",
])
def test_a_ten_thousand_character_time_zone_is_bad_input(gql: GraphQLClient, demo: Demo,
                                                          query: str) -> None:
    body = gql(query, {"z": LONG})
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_INPUT", "parameter": "timeZone"}
    assert len(error["message"]) < SHORT_MESSAGE and LONG[:QUOTED_PREFIX] in error["message"]


def test_messages_repeat_only_a_prefix_of_bad_input(gql: GraphQLClient, demo: Demo) -> None:
    forged = "PA-" + "9" * 10_000
    body = gql("query($id: ID!) { complaint(id: $id) { id } }", {"id": forged})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert len(error["message"]) < SHORT_MESSAGE and forged[:QUOTED_PREFIX] in error["message"]
    # A variable a built-in scalar refuses: the client's mistake, with graphql-core's own cut.
    body = gql("query($n: Int!) { complaints(first: $n) { totalCount } }", {"n": "7" * 10_000})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert len(error["message"]) < 400  # graphql-core repeats at most 240 characters of it


def test_quoted_cuts_long_input_and_says_how_long_it_was() -> None:
    assert quoted("Asia/Hanoi") == repr("Asia/Hanoi")
    assert quoted("x" * QUOTED_PREFIX) == repr("x" * QUOTED_PREFIX)
    long = "y" * 10_000
    assert quoted(long) == f"{'y' * QUOTED_PREFIX!r}… (10,000 characters)"

