"""The complaints API against brute-force answers computed in Python from the same rows."""

import json
from datetime import datetime
from typing import Any

import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point, box
from sqlalchemy import Engine, event, text

from tests.conftest import Demo, GraphQLClient, StatementCounter
from tests.working_time import demo_due

GEOD = Geod(ellps="WGS84")

LIST = """
query($filter: ComplaintFilter, $first: Int, $after: String, $order: ComplaintOrder) {
  complaints(filter: $filter, first: $first, after: $after, orderBy: $order) {
    totalCount
    edges { cursor node { id lon lat distanceM createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture(scope="module")
def rows(engine: Engine, demo: Demo) -> list[dict[str, Any]]:
    """Every complaint with what the filters look at, read straight from the table."""
    with engine.connect() as conn:
        result = conn.execute(text("""
            SELECT c.id, c.public_id, ST_X(location) AS lon, ST_Y(location) AS lat, c.category_code,
                   c.status, c.created_at, w.code AS ward, d.code AS district
            FROM complaint c LEFT JOIN admin_area w ON w.id = c.ward_id
            LEFT JOIN admin_area d ON d.id = c.district_id"""))
        return [dict(r._mapping) for r in result]


def all_ids(gql: GraphQLClient, filter: dict[str, Any], order: str = "CREATED_AT",
            page: int = 200) -> list[str]:
    """Walk every page; return ids in order (asserting totalCount agrees)."""
    ids: list[str] = []
    after = None
    while True:
        data = gql.data(LIST, {"filter": filter, "first": page, "after": after,
                               "order": order})["complaints"]
        ids.extend(e["node"]["id"] for e in data["edges"])
        if not data["pageInfo"]["hasNextPage"]:
            assert data["totalCount"] == len(ids)
            return ids
        after = data["pageInfo"]["endCursor"]


def test_every_complaint_was_routed_to_the_ward_shapely_finds(rows: list, demo: Demo,
                                                              engine: Engine) -> None:
    with engine.connect() as conn:  # officials may have rerouted some (tests of the workflow)
        rerouted = set(conn.execute(text("""SELECT c.public_id FROM complaint c JOIN
            complaint_event e ON e.complaint_id = c.id WHERE e.kind = 'REROUTED'""")).scalars())
    wards = sorted(demo.areas("demo-2025", "ward"), key=lambda a: a.code)
    tree = shapely.STRtree([w.geometry for w in wards])
    routed = [row for row in rows if row["public_id"] not in rerouted]
    assert len(routed) > 2_900
    for row in routed:
        hits = [wards[i].code for i in tree.query(Point(row["lon"], row["lat"]),
                                                  predicate="covered_by")]
        assert row["ward"] == min(hits)


def test_pagination_covers_every_row_exactly_once(gql: GraphQLClient, rows: list) -> None:
    ids = all_ids(gql, {}, page=250)
    assert len(ids) == len(set(ids)) == len(rows)
    newest_first = sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)
    assert ids == [r["public_id"] for r in newest_first]


def test_bbox_filter_matches_brute_force(gql: GraphQLClient, rows: list, demo: Demo) -> None:
    west, south, east, north = demo.outline.centroid.buffer(0.05).bounds
    ids = all_ids(gql, {"bbox": {"west": west, "south": south, "east": east, "north": north}})
    want = {r["public_id"] for r in rows
            if west <= r["lon"] <= east and south <= r["lat"] <= north}
    assert set(ids) == want and len(want) > 20


def test_bbox_edges_are_exact(gql: GraphQLClient, rows: list) -> None:
    """Points on the edges are in; a point a centimetre outside is out."""
    ordered = sorted(rows, key=lambda r: r["lon"])
    west, edge_point = ordered[100]["lon"], ordered[200]
    south = min(r["lat"] for r in rows) - 1
    north = max(r["lat"] for r in rows) + 1
    for east, inside in ((edge_point["lon"], True), (edge_point["lon"] - 1e-7, False)):
        ids = set(all_ids(gql, {"bbox": {"west": west, "south": south, "east": east,
                                         "north": north}}, page=500))
        assert ids == {r["public_id"] for r in rows if west <= r["lon"] <= east}
        assert (edge_point["public_id"] in ids) is inside
        assert ordered[100]["public_id"] in ids


def test_within_polygon_matches_shapely(gql: GraphQLClient, rows: list, demo: Demo) -> None:
    centre = demo.outline.centroid
    triangle = shapely.Polygon([(centre.x - 0.1, centre.y - 0.05), (centre.x + 0.08, centre.y),
                                (centre.x - 0.02, centre.y + 0.09)])
    ids = all_ids(gql, {"within": shapely.geometry.mapping(triangle)})
    want = {r["public_id"] for r in rows if triangle.covers(Point(r["lon"], r["lat"]))}
    assert set(ids) == want and len(want) > 20


def test_near_uses_true_metres_and_orders_by_distance(gql: GraphQLClient, rows: list,
                                                      demo: Demo) -> None:
    centre = demo.outline.centroid
    radius = 4_000.0
    ids = all_ids(gql, {"near": {"lon": centre.x, "lat": centre.y, "radiusM": radius}},
                  order="DISTANCE", page=100)
    distances = {r["public_id"]: GEOD.inv(centre.x, centre.y, r["lon"], r["lat"])[2]
                 for r in rows}
    # Exclude points within 1 cm of the circle, where two correct computations may disagree.
    want = {i for i, d in distances.items() if d <= radius - 0.01}
    borderline = {i for i, d in distances.items() if abs(d - radius) < 0.01}
    assert want <= set(ids) <= want | borderline and len(want) > 20
    assert [distances[i] for i in ids] == sorted(distances[i] for i in ids)
    first = gql.data(LIST, {"filter": {"near": {"lon": centre.x, "lat": centre.y,
                                                "radiusM": radius}},
                            "first": 5, "order": "DISTANCE"})["complaints"]["edges"]
    for edge in first:
        assert edge["node"]["distanceM"] == pytest.approx(distances[edge["node"]["id"]],
                                                          abs=0.01)


def test_attribute_filters_match_brute_force(gql: GraphQLClient, rows: list) -> None:
    ward_codes = sorted({r["ward"] for r in rows})[:3]
    district_code = sorted({r["district"] for r in rows})[1]
    created = sorted(r["created_at"] for r in rows)
    start, end = created[len(created) // 4], created[len(created) // 2]
    cases = [
        ({"wardCodes": ward_codes}, lambda r: r["ward"] in ward_codes),
        ({"districtCodes": [district_code]}, lambda r: r["district"] == district_code),
        ({"categories": ["construction.illegal", "environment.flooding"]},
         lambda r: r["category_code"] in ("construction.illegal", "environment.flooding")),
        ({"statuses": ["RECEIVED", "IN_PROGRESS"]},
         lambda r: r["status"] in ("RECEIVED", "IN_PROGRESS")),
        ({"createdFrom": start.isoformat(), "createdTo": end.isoformat()},
         lambda r: start <= r["created_at"] < end),
        ({"categories": ["construction.illegal"], "statuses": ["RESOLVED"],
          "createdFrom": start.isoformat()},
         lambda r: r["category_code"] == "construction.illegal" and r["status"] == "RESOLVED"
         and r["created_at"] >= start),
    ]
    for filter, keep in cases:
        want = {r["public_id"] for r in rows if keep(r)}
        assert set(all_ids(gql, filter, page=500)) == want, filter
        assert want, filter


def test_page_of_complaints_costs_the_same_few_statements_at_any_size(
    gql: GraphQLClient, count_statements: StatementCounter
) -> None:
    query = """query($first: Int) { complaints(first: $first) { edges { node { id address
        category { code nameVi } ward { code name parent { code } }
        district { code name } city { code } } } } }"""
    counts = []
    for first in (5, 200):
        count_statements.statements.clear()
        data = gql.data(query, {"first": first})
        assert len(data["complaints"]["edges"]) == first
        counts.append(len(count_statements.statements))
    # the page, the categories, the areas (the wards' parents are the districts already
    # batched): one query each, however many rows the page has
    assert counts == [3, 3], count_statements.statements


@pytest.mark.parametrize(("selection", "statements"), [
    # `attributes` keeps these pages off the one-statement path of plain selections
    # (tests/test_page_json.py), which would fetch them in one statement each
    ("id attributes", 1),  # nothing to prefetch: the page alone
    ("id attributes category { code }", 2),
    ("attributes ...F", 2),  # ward and district, through fragments: one query for both
])
def test_a_page_prefetches_the_relations_it_selects_and_no_others(
    gql: GraphQLClient, count_statements: StatementCounter, rows: list, selection: str,
    statements: int,
) -> None:
    query = f"""{{ complaints(first: 50) {{ nodes {{ {selection} }} }} }}
        fragment F on Complaint {{ id ward {{ code }} ... on Complaint {{ district {{ code }} }} }}
    """ if "..." in selection else f"{{ complaints(first: 50) {{ nodes {{ {selection} }} }} }}"
    count_statements.statements.clear()
    nodes = gql.data(query)["complaints"]["nodes"]
    assert len(count_statements.statements) == statements, count_statements.statements
    truth = {r["public_id"]: r for r in rows}
    for node in nodes:
        row = truth[node["id"]]
        if "category" in node:
            assert node["category"]["code"] == row["category_code"]
        if "ward" in node:
            assert node["ward"] == ({"code": row["ward"]} if row["ward"] else None)
            assert node["district"] == ({"code": row["district"]} if row["district"] else None)


def test_complaint_by_id_and_public_fields_only(gql: GraphQLClient, rows: list) -> None:
    wanted = rows[0]
    data = gql.data("""query($id: ID!) { complaint(id: $id) { id status location
        category { code } ward { code } } }""", {"id": wanted["public_id"]})["complaint"]
    assert data["id"] == wanted["public_id"]
    assert data["location"] == {"type": "Point", "coordinates": [wanted["lon"], wanted["lat"]]}
    assert data["ward"]["code"] == wanted["ward"]
    public = gql.data('query($id: ID!) { complaint(id: $id) { reporter { name phone email } '
                      'viewerMayAct } }', {"id": wanted["public_id"]})["complaint"]
    assert public == {"reporter": None, "viewerMayAct": False}


def test_due_at_follows_the_category_sla(gql: GraphQLClient, rows: list) -> None:
    """In working hours of the demo calendar, computed here independently of the SQL, from
    reception or from the latest transfer (the receiving agency's clock starts then; other
    tests transfer some of the newest complaints)."""
    nodes = gql.data("""{ complaints(first: 50) { edges { node { createdAt dueAt
        category { slaHours } history { kind at } } } } }""")["complaints"]["edges"]
    for edge in nodes:
        node = edge["node"]
        transfers = [e["at"] for e in node["history"] if e["kind"] == "TRANSFERRED"]
        start = datetime.fromisoformat(transfers[-1] if transfers else node["createdAt"])
        assert datetime.fromisoformat(node["dueAt"]) == demo_due(start,
                                                                 node["category"]["slaHours"])


def test_categories_are_seeded_by_the_migration(gql: GraphQLClient) -> None:
    categories = gql.data("{ categories { code nameVi nameEn domain slaHours } }")["categories"]
    domains = {c["domain"] for c in categories}
    assert {"planning", "construction_order", "environment", "traffic", "land"} <= domains
    assert all(c["slaHours"] > 0 and c["nameVi"] and c["nameEn"] for c in categories)


def test_within_accepts_multipolygons_and_strings(gql: GraphQLClient, rows: list,
                                                  demo: Demo) -> None:
    c = demo.outline.centroid
    parts = shapely.MultiPolygon([box(c.x - 0.05, c.y - 0.05, c.x, c.y),
                                  box(c.x + 0.01, c.y, c.x + 0.04, c.y + 0.04)])
    ids = all_ids(gql, {"within": json.dumps(shapely.geometry.mapping(parts))})
    assert set(ids) == {r["public_id"] for r in rows if parts.covers(Point(r["lon"], r["lat"]))}


def test_a_submission_answers_its_areas_and_category_from_its_own_transaction(
    gql: GraphQLClient, demo: Demo, engine: Engine,
) -> None:
    """The new complaint's ward, district and category are read in the submission's own
    transaction: the answer takes no connection after the rate limit's and the write's."""
    ward = demo.areas("demo-2025", "ward")[5]
    inside = ward.geometry.representative_point()
    query = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) {
        id status ward { code name } district { code } category { code nameVi } } }"""
    checkouts: list[object] = []
    listener = lambda *_: checkouts.append(1)  # noqa: E731
    event.listen(engine, "checkout", listener)
    try:
        found = gql.data(query, {"i": {"categoryCode": "traffic.signals", "lon": inside.x,
                                       "lat": inside.y, "description": "Đèn tín hiệu hỏng"}})
    finally:
        event.remove(engine, "checkout", listener)
    answer = found["submitComplaint"]
    assert answer["ward"]["code"] == ward.code
    assert answer["district"]["code"] == ward.parent_code
    assert answer["category"]["code"] == "traffic.signals" and answer["category"]["nameVi"]
    assert len(checkouts) == 2  # the rate limit's write, then the submission's
