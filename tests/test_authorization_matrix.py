"""The whole authorization matrix: every caller × every mutation × every personal field.

Each cell is tried for real, on a fresh complaint in the state the action needs, and the set of
allowed cells must equal the policy written out below, exactly.
"""

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, text

from demo.organisation import GROUPS
from tests.conftest import Accounts, GraphQLClient, new_complaint

CALLERS = ("anonymous", "reporter", "other_citizen", "ward_in", "ward_out", "district_in",
           "district_out", "agency_in", "agency_other", "ward_in_agency_other", "city_admin",
           "analyst")
OFFICIALS_IN = {"ward_in", "district_in", "agency_in", "city_admin"}

# The policy, cell by cell: who may do what to a complaint in `ward_in`'s ward that
# `reporter` reported, routed to `agency_in`'s agency (the ward's People's Committee).
# `agency_other` belongs to another agency serving the same place, and
# `ward_in_agency_other` is an officer of the ward who belongs to that other agency: neither
# may act on it.
EXPECTED: dict[str, set[str]] = {
    "submitComplaint": set(CALLERS) - {"analyst"},
    "assignComplaint": OFFICIALS_IN,
    "transition IN_PROGRESS": OFFICIALS_IN,
    "transition RESOLVED": OFFICIALS_IN,
    "transition REJECTED": OFFICIALS_IN,
    "transition REOPENED": {"reporter"},
    "rerouteComplaint": OFFICIALS_IN,
    "rerouteToCandidate": OFFICIALS_IN,
    "commentOnComplaint": OFFICIALS_IN | {"reporter"},
    "rateComplaint": {"reporter"},
    "markDuplicate": OFFICIALS_IN,
    "transferComplaint": OFFICIALS_IN,
    "applyCatalogue (dry run)": {"city_admin"},
    "field reporter.name": OFFICIALS_IN | {"reporter"},
    "field reporter.phone": OFFICIALS_IN | {"reporter"},
    "field reporter.email": OFFICIALS_IN | {"reporter"},
    "field address (sensitive category)": OFFICIALS_IN | {"reporter"},
    "field attributes (private answer)": OFFICIALS_IN | {"reporter"},
}

DENIED = {"UNAUTHENTICATED", "FORBIDDEN"}


def call(gql: GraphQLClient, accounts: Accounts, caller: str, query: str,
         variables: dict[str, Any]) -> dict[str, Any]:
    return gql(query, variables, headers=accounts.headers(caller))


def mutation_cells(engine: Engine, accounts: Accounts, demo_point: tuple[float, float]
                   ) -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    """For each action: (the mutation document, a function giving fresh variables)."""
    w = accounts.ward

    def fresh(status: str, **extra: Any) -> Callable[[], dict[str, Any]]:
        return lambda: {"id": new_complaint(engine, w, status=status), "v": 1, **extra}

    lon, lat = demo_point
    return {
        "submitComplaint": (
            "mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) { id } }",
            lambda: {"i": {"categoryCode": "other", "description": "matrix", "lon": lon,
                           "lat": lat}}),
        "assignComplaint": (
            "mutation($id: ID!, $v: Int!) { assignComplaint(id: $id, expectedVersion: $v) "
            "{ status } }", fresh("RECEIVED")),
        **{f"transition {to}": (
            "mutation($id: ID!, $v: Int!, $to: ComplaintStatus!, $r: RejectionReason) "
            "{ transitionComplaint(id: $id, to: $to, expectedVersion: $v, reason: $r) "
            "{ status } }", fresh(start, to=to, r="INVALID" if to == "REJECTED" else None))
           for to, start in (("IN_PROGRESS", "ASSIGNED"), ("RESOLVED", "IN_PROGRESS"),
                             ("REJECTED", "RECEIVED"), ("REOPENED", "RESOLVED"))},
        "rerouteComplaint": (
            "mutation($id: ID!, $v: Int!, $w: String!) { rerouteComplaint(id: $id, "
            "wardCode: $w, reason: \"misrouted\", expectedVersion: $v) { status } }",
            fresh("ASSIGNED", w=accounts.other_ward)),
        "rerouteToCandidate": (
            "mutation($id: ID!, $v: Int!, $w: String!) { rerouteToCandidate(id: $id, "
            "wardCode: $w, expectedVersion: $v) { status } }",
            lambda: {"id": with_candidate(engine, new_complaint(engine, w, status="ASSIGNED"),
                                          accounts.other_ward),
                     "v": 1, "w": accounts.other_ward}),
        "commentOnComplaint": (
            "mutation($id: ID!) { commentOnComplaint(id: $id, text: \"xin cảm ơn\") "
            "{ status } }", fresh("IN_PROGRESS")),
        "rateComplaint": (
            "mutation($id: ID!) { rateComplaint(id: $id, rating: SATISFIED) { status } }",
            fresh("RESOLVED")),
        "markDuplicate": (
            "mutation($id: ID!, $v: Int!, $of: ID!) { markDuplicate(id: $id, of: $of, "
            "expectedVersion: $v) { status } }",
            lambda: {"id": new_complaint(engine, w), "v": 1,
                     "of": new_complaint(engine, w)}),
        "transferComplaint": (
            "mutation($id: ID!, $v: Int!, $a: String!) { transferComplaint(id: $id, "
            "agencyCode: $a, reason: \"not ours\", expectedVersion: $v) { status } }",
            fresh("ASSIGNED", a=accounts.other_agency)),
        "applyCatalogue (dry run)": (
            "mutation($d: String!) { applyCatalogue(document: $d, dryRun: true) { text } }",
            lambda: {"d": yaml.safe_dump({"groups": [
                {"code": c, "name_vi": vi, "name_en": en} for c, vi, en in GROUPS]})}),
    }


def with_candidate(engine: Engine, public_id: str, ward: str) -> str:
    """The complaint, its routing naming ``ward`` as a border candidate."""
    routing = {"rule": "covers", "withinM": 30,
               "candidates": [{"areaId": 0, "ward": ward, "distanceM": 12.5}]}
    with engine.begin() as conn:
        conn.execute(text("UPDATE complaint SET routing = CAST(:r AS jsonb) "
                          "WHERE public_id = :id"), {"r": json.dumps(routing), "id": public_id})
    return public_id


@pytest.fixture(scope="module")
def inside_point(demo: Any, accounts: Accounts) -> tuple[float, float]:
    ward = next(a for a in demo.areas("demo-2025", "ward") if a.code == accounts.ward)
    point = ward.geometry.representative_point()
    return point.x, point.y


def test_authorization_matrix_is_exactly_the_policy(
    gql: GraphQLClient, engine: Engine, accounts: Accounts, inside_point: tuple[float, float]
) -> None:
    allowed: dict[str, set[str]] = {action: set() for action in EXPECTED}
    for action, (document, variables) in mutation_cells(engine, accounts,
                                                        inside_point).items():
        for caller in CALLERS:
            body = call(gql, accounts, caller, document, variables())
            if not body.get("errors"):
                allowed[action].add(caller)
                continue
            code = body["errors"][0]["extensions"]["code"]
            assert code in DENIED, (action, caller, body["errors"])

    sensitive = new_complaint(engine, accounts.ward, category="land.dispute",
                              name="Phạm Thị Mật", phone="0900 123 456",
                              email="mat@example.com",
                              private_answers={"neighbour": "Ông Bảy, nhà số 9"})
    query = ("query($id: ID!) { complaint(id: $id) { address attributes "
             "reporter { name phone email } } }")
    for caller in CALLERS:
        data = call(gql, accounts, caller, query, {"id": sensitive})["data"]["complaint"]
        reporter = data["reporter"] or {}
        for field in ("name", "phone", "email"):
            if reporter.get(field):
                allowed[f"field reporter.{field}"].add(caller)
        if data["address"]:
            allowed["field address (sensitive category)"].add(caller)
        if "neighbour" in data["attributes"]:
            allowed["field attributes (private answer)"].add(caller)

    assert allowed == EXPECTED
    cells = len(EXPECTED) * len(CALLERS)
    assert cells == 216  # the size reported in the README


def test_listing_applies_the_same_policy(gql: GraphQLClient, engine: Engine,
                                         accounts: Accounts) -> None:
    mine = new_complaint(engine, accounts.ward, name="Đỗ Văn Liệt")
    query = """query($w: [String!]) { complaints(filter: {wardCodes: $w}, first: 500) {
        edges { node { id viewerMayAct reporter { name } } } } }"""
    for caller in CALLERS:
        edges = call(gql, accounts, caller, query, {"w": [accounts.ward]})["data"][
            "complaints"]["edges"]
        node = next(e["node"] for e in edges if e["node"]["id"] == mine)
        sees = caller in OFFICIALS_IN | {"reporter"}
        assert (node["reporter"] == {"name": "Đỗ Văn Liệt"}) is sees, caller
        assert node["viewerMayAct"] is (caller in OFFICIALS_IN), caller


def test_scoped_filters_are_for_their_roles(gql: GraphQLClient, engine: Engine,
                                            accounts: Accounts) -> None:
    new_complaint(engine, accounts.ward)
    query = """query($f: ComplaintFilter) { complaints(filter: $f, first: 500) {
        edges { node { ward { code } viewerMayAct } } } }"""
    for caller in ("ward_in", "district_in"):
        edges = call(gql, accounts, caller, query, {"f": {"inMyJurisdiction": True}})[
            "data"]["complaints"]["edges"]
        assert edges and all(e["node"]["viewerMayAct"] for e in edges)
    wards = {e["node"]["ward"]["code"] for e in call(
        gql, accounts, "ward_in", query, {"f": {"inMyJurisdiction": True}})["data"][
        "complaints"]["edges"]}
    assert wards == {accounts.ward}
    for caller in ("anonymous", "analyst", "reporter"):
        body = call(gql, accounts, caller, query, {"f": {"inMyJurisdiction": True}})
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = call(gql, accounts, "ward_in", query, {"f": {"reportedByMe": True}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
