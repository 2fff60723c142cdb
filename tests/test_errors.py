"""Every error code the API promises, each from a real request; nothing leaks, nothing is lost."""

import asyncio
import base64
import json
from typing import Any

import pytest
import strawberry
from shapely.geometry import Point, mapping
from sqlalchemy import Engine, text

from resolvers.root import build_schema
from schema.extensions import schema_extensions
from settings import Settings
from tests.conftest import Demo, GraphQLClient

LIST = "query($f: ComplaintFilter, $first: Int, $after: String, $o: ComplaintOrder) " \
       "{ complaints(filter: $f, first: $first, after: $after, orderBy: $o) { totalCount } }"
JURISDICTION = "query($lon: Float!, $lat: Float!) { jurisdiction(lon: $lon, lat: $lat) " \
               "{ ward { code } } }"
BOWTIE = {"type": "Polygon", "coordinates": [[[105.8, 21.0], [105.9, 21.1], [105.9, 21.0],
                                               [105.8, 21.1], [105.8, 21.0]]]}


def first_error(gql: GraphQLClient, query: str, variables: dict | None = None) -> dict:
    body = gql(query, variables)
    assert body.get("errors"), body
    return body["errors"][0]


@pytest.mark.parametrize(("lon", "lat"), [(105.85, 95.0), (181.0, 21.0), (-200.0, -91.0)])
def test_out_of_range_coordinates(gql: GraphQLClient, lon: float, lat: float) -> None:
    error = first_error(gql, JURISDICTION, {"lon": lon, "lat": lat})
    assert error["extensions"]["code"] == "BAD_COORDINATES"
    assert "out of range" in error["message"] and not error["extensions"].get("swapped")


def test_swapped_coordinates_are_named_when_the_swap_lands_in_the_city(
    gql: GraphQLClient, demo: Demo
) -> None:
    inside = demo.areas("demo-2025", "ward")[0].geometry.representative_point()
    error = first_error(gql, JURISDICTION, {"lon": inside.y, "lat": inside.x})
    assert error["extensions"]["code"] == "BAD_COORDINATES"
    assert error["extensions"]["swapped"] is True and "swapped" in error["message"]


def test_non_finite_coordinates_in_geojson(gql: GraphQLClient) -> None:
    # JSON has no NaN, but a GeoJSON string can smuggle one in; Python's json parses it.
    within = '{"type": "Polygon", "coordinates": [[[105.8, 21.0], [NaN, 21.1], [105.9, 21.0], ' \
             '[105.8, 21.0]]]}'
    error = first_error(gql, LIST, {"f": {"within": within}})
    assert error["extensions"]["code"] == "BAD_COORDINATES"


@pytest.mark.parametrize(("within", "fragment"), [
    (BOWTIE, "Self-intersection"),
    ({"type": "Point", "coordinates": [105.8, 21.0]}, "Polygon or MultiPolygon"),
    ({"type": "Polygon", "coordinates": [[[105.8, 21.0], [105.9]]]}, "Malformed"),
    ('{"type": "Polygon", "coordinates": [[[105.8, 21.0]', "not valid JSON"),
    ({"coordinates": []}, "'type'"),
])
def test_invalid_geometry(gql: GraphQLClient, within: object, fragment: str) -> None:
    error = first_error(gql, LIST, {"f": {"within": within}})
    assert error["extensions"]["code"] == "INVALID_GEOMETRY"
    assert fragment in error["message"]


def test_polygon_over_the_vertex_limit(gql: GraphQLClient) -> None:
    huge = mapping(Point(105.85, 21.03).buffer(0.05, quad_segs=3_000))
    error = first_error(gql, LIST, {"f": {"within": huge}})
    assert error["extensions"]["code"] == "GEOMETRY_TOO_COMPLEX"
    assert error["extensions"]["maxVertices"] == Settings().max_polygon_vertices


def test_page_size_over_the_maximum(gql: GraphQLClient) -> None:
    error = first_error(gql, LIST, {"first": Settings().max_page_size + 1})
    assert error["extensions"]["code"] == "PAGE_TOO_LARGE"
    assert first_error(gql, LIST, {"first": -1})["extensions"]["code"] == "PAGE_TOO_LARGE"


def test_batch_over_the_maximum(gql: GraphQLClient) -> None:
    points = [{"lon": 105.85, "lat": 21.03}] * (Settings().max_batch_points + 1)
    error = first_error(gql, "query($p: [PointInput!]!) { jurisdictions(points: $p) "
                             "{ ward { code } } }", {"p": points})
    assert error["extensions"]["code"] == "BATCH_TOO_LARGE"


PAGE = "query($f: ComplaintFilter, $after: String, $o: ComplaintOrder) " \
       "{ complaints(filter: $f, first: 5, after: $after, orderBy: $o) { edges { node { id } } } }"


def _cursor(*values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode()


def test_forged_cursors_are_bad_cursors(gql: GraphQLClient, demo: Demo) -> None:
    """Cursors are opaque: anything this API did not issue for the order asked is BAD_CURSOR,
    never a type or range error from the database (INTERNAL_ERROR)."""
    c = demo.outline.centroid
    near = {"f": {"near": {"lon": c.x, "lat": c.y, "radiusM": 5000}}, "o": "DISTANCE"}
    forged_by_order = {
        "CREATED_AT": [_cursor("yesterday", 1), _cursor(12.5, 1), _cursor("2026-01-01T00:00:00", 1),
                       _cursor("2026-01-01T00:00:00+07:00", 2**63), _cursor(None, 1),
                       _cursor("2026-01-01T00:00:00+07:00", True), _cursor([1], {}),
                       base64.urlsafe_b64encode(b"[1, 2, 3]").decode(), "AAAA", "%%%"],
        "DISTANCE": [_cursor("2026-01-01T00:00:00+07:00", 1), _cursor(-1, 1), _cursor(1e400, 1),
                     _cursor(12.5, -3), _cursor(12.5, 1.5), _cursor(True, 1)],
    }
    for order, forged in forged_by_order.items():
        variables = near if order == "DISTANCE" else {"o": order}
        for cursor in forged:
            error = first_error(gql, PAGE, {**variables, "after": cursor})
            assert error["extensions"]["code"] == "BAD_CURSOR", (order, cursor, error)
    # Far-off but well-formed keys are cursors like any other: an empty page, no error.
    for key in ("0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59+00:00"):
        body = gql(PAGE, {"o": "CREATED_AT", "after": _cursor(key, 1)})
        assert "errors" not in body, (key, body)
    assert first_error(gql, PAGE, {"o": "CREATED_AT", "after": _cursor(
        "0001-01-01T00:00:00+14:00", 1)})["extensions"]["code"] == "BAD_CURSOR"  # before year 1


def test_bad_cursor_and_bad_inputs(gql: GraphQLClient, demo: Demo) -> None:
    assert first_error(gql, LIST, {"after": "bm9wZQ=="})["extensions"]["code"] == "BAD_CURSOR"
    assert first_error(gql, LIST, {"after": "%%%"})["extensions"]["code"] == "BAD_CURSOR"
    c = demo.outline.centroid
    for near in ({"lon": c.x, "lat": c.y, "radiusM": -5}, {"lon": c.x, "lat": c.y,
                                                           "radiusM": 1e9}):
        assert first_error(gql, LIST, {"f": {"near": near}})["extensions"]["code"] == \
            "BAD_INPUT"
    assert first_error(gql, LIST, {"o": "DISTANCE"})["extensions"]["code"] == "BAD_INPUT"
    reversed_box = {"west": 106.0, "south": 21.0, "east": 105.0, "north": 21.1}
    assert first_error(gql, LIST, {"f": {"bbox": reversed_box}})["extensions"]["code"] == \
        "BAD_COORDINATES"


def test_not_found(gql: GraphQLClient) -> None:
    error = first_error(gql, '{ complaint(id: "PA-NOPE") { id } }')
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = first_error(gql, '{ areas(generation: "no-such-generation") { code } }')
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert gql.data('{ area(code: "no-such-code") { code } }')["area"] is None


def test_query_too_deep(gql: GraphQLClient) -> None:
    nested = "code"
    for _ in range(12):
        nested = f"parent {{ {nested} }}"
    error = first_error(gql, f"{{ jurisdiction(lon: 105.85, lat: 21.03) {{ ward {{ {nested} }}"
                             f" }} }}")
    assert error["extensions"]["code"] == "QUERY_TOO_DEEP"


def test_too_many_aliases(gql: GraphQLClient) -> None:
    query = "{ " + " ".join(f"a{i}: categories {{ code }}" for i in range(40)) + " }"
    assert first_error(gql, query)["extensions"]["code"] == "TOO_MANY_ALIASES"


def test_too_many_tokens(gql: GraphQLClient) -> None:
    query = "{ categories { " + " ".join(["code"] * 6_000) + " } }"
    assert first_error(gql, query)["extensions"]["code"] == "TOO_MANY_TOKENS"


def test_unknown_field_is_a_validation_error(gql: GraphQLClient) -> None:
    error = first_error(gql, "{ complaints { edges { node { reporterPhone } } } }")
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_unexpected_errors_are_masked_and_coded() -> None:
    """The schema's error extension, on a resolver that fails like a database would."""

    @strawberry.type
    class Query:
        @strawberry.field
        def broken(self) -> int:
            raise RuntimeError('psycopg2.errors.UndefinedTable: SELECT reporter_phone FROM x')

    schema = strawberry.Schema(query=Query, extensions=schema_extensions(Settings()))
    result = asyncio.run(schema.execute("{ broken }"))
    assert result.errors is not None
    error = result.errors[0].formatted
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_ERROR"}
    assert "SELECT" not in json.dumps(error) and "psycopg2" not in json.dumps(error)


def test_a_failure_outside_the_resolvers_is_masked_and_coded(
        gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost estimate runs in an extension's hook, before any resolver: an exception there
    escapes MaskErrors' handling of results, and strawberry would send its text."""

    async def failing(*_: Any) -> int:
        raise RuntimeError("psycopg2.errors.UndefinedTable: SELECT reporter_phone FROM x")

    monkeypatch.setattr("schema.extensions.request_cost", failing)
    body = gql("{ categories { code } }")
    assert body["errors"] == [{"message": "Unexpected error.",
                               "extensions": {"code": "INTERNAL_ERROR"}}], body
    assert "SELECT" not in json.dumps(body) and "psycopg2" not in json.dumps(body)


def test_an_expected_failure_outside_the_resolvers_keeps_its_code(gql: GraphQLClient) -> None:
    """Refused by the cost estimate's own check of an argument (Weights.check), not masked."""
    error = first_error(gql, "{ hotspots(cellSizeM: 800, distanceBandM: 1e308) { srid } }")
    assert error["extensions"]["code"] == "BAD_INPUT", error


def test_introspection_can_be_switched_off() -> None:
    schema = build_schema(Settings(introspection=False))
    result = asyncio.run(schema.execute("{ __schema { types { name } } }"))
    assert result.errors and "introspection" in result.errors[0].message.lower()


def test_failed_submissions_store_nothing(gql: GraphQLClient, engine: Engine,
                                          demo: Demo) -> None:
    def counts() -> tuple[int, int]:
        with engine.connect() as conn:
            return (conn.execute(text("SELECT count(*) FROM complaint")).scalar_one(),
                    conn.execute(text("SELECT count(*) FROM complaint_event")).scalar_one())

    before = counts()
    inside = demo.outline.representative_point()
    mutation = "mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) { id } }"
    bad_inputs = {
        "UNKNOWN_CATEGORY": {"categoryCode": "nope", "description": "x", "lon": inside.x,
                             "lat": inside.y},
        "OUTSIDE_JURISDICTION": {"categoryCode": "other", "description": "x", "lon": 2.35,
                                 "lat": 48.85},
        "BAD_COORDINATES": {"categoryCode": "other", "description": "x", "lon": inside.x,
                            "lat": 120.0},
        "BAD_INPUT": {"categoryCode": "other", "description": "   ", "lon": inside.x,
                      "lat": inside.y},
        "INVALID_GEOMETRY": {"categoryCode": "other", "description": "x",
                             "location": {"type": "LineString", "coordinates": []}},
    }
    for code, bad in bad_inputs.items():
        assert first_error(gql, mutation, {"i": bad})["extensions"]["code"] == code
    assert counts() == before


@pytest.mark.parametrize("query", [
    '{ complaint(id: "PA-\\u0000") { id } }',
    '{ area(code: "P\\u0000") { code } }',
    '{ complaints(filter: {categories: ["other\\u0000"]}) { totalCount } }',
])
def test_nul_characters_are_bad_input(gql: GraphQLClient, query: str) -> None:
    """PostgreSQL text cannot hold NUL; found by the schema fuzzer as an INTERNAL_ERROR."""
    error = first_error(gql, query)
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert "NUL" in error["message"]


def test_nul_characters_in_layer_filters_are_bad_input(client: Any) -> None:
    response = client.get("/ogc/collections/complaints/items", params={"ward_code": "P\x00"})
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_INPUT"
