"""Transfers between agencies: the history, the new agency's rights, the SLA clock starting
again, and the misroute statistics (transfers per agency and category) and `byAgency`
figures, checked against the transfers this test made itself."""

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

from demo.organisation import ward_committee
from tests.conftest import Accounts, GraphQLClient, new_complaint
from tests.working_time import demo_due

TRANSFER = """mutation($id: ID!, $a: String!, $v: Int!) { transferComplaint(id: $id,
    agencyCode: $a, reason: "Không thuộc thẩm quyền", expectedVersion: $v) {
    status version dueAt viewerMayAct category { slaHours }
    routing { agency { code } rule { code } reason }
    history { at kind fromStatus toStatus note data } } }"""
ACTS = "query($id: ID!) { complaint(id: $id) { viewerMayAct } }"


def transfer(gql: GraphQLClient, accounts: Accounts, caller: str, public_id: str,
             agency: str, version: int = 1) -> dict[str, Any]:
    return gql(TRANSFER, {"id": public_id, "a": agency, "v": version},
               headers=accounts.headers(caller))


def test_a_transfer_hands_the_complaint_over(gql: GraphQLClient, engine: Engine,
                                             accounts: Accounts) -> None:
    public_id = new_complaint(engine, accounts.ward, status="ASSIGNED")
    moved = transfer(gql, accounts, "agency_in", public_id, accounts.other_agency)
    assert "errors" not in moved, moved
    done = moved["data"]["transferComplaint"]
    assert done["status"] == "RECEIVED" and done["version"] == 2
    assert done["routing"]["agency"] == {"code": accounts.other_agency}
    assert done["routing"]["rule"] is None
    assert done["routing"]["reason"] == (f"transferred from {accounts.agency}: "
                                         f"Không thuộc thẩm quyền")
    event = done["history"][-1]
    assert (event["kind"], event["fromStatus"], event["toStatus"]) == (
        "TRANSFERRED", "ASSIGNED", "RECEIVED")
    assert event["data"] == {"fromAgency": accounts.agency, "toAgency": accounts.other_agency}
    # the SLA clock starts again at the transfer, in working time
    assert datetime.fromisoformat(done["dueAt"]) == demo_due(
        datetime.fromisoformat(event["at"]), done["category"]["slaHours"])
    # the new agency acts on it now; the old one, and the ward officer of the other agency
    # before the transfer, swap places
    rights = {caller: gql(ACTS, {"id": public_id}, headers=accounts.headers(caller))[
        "data"]["complaint"]["viewerMayAct"]
        for caller in ("agency_in", "agency_other", "ward_in_agency_other", "ward_in")}
    assert rights == {"agency_in": False, "agency_other": True, "ward_in_agency_other": True,
                      "ward_in": True}


def test_transfers_that_cannot_be(gql: GraphQLClient, engine: Engine,
                                  accounts: Accounts) -> None:
    public_id = new_complaint(engine, accounts.ward, status="ASSIGNED")
    cases = {
        accounts.agency: "BAD_INPUT",  # it is there already
        ward_committee(accounts.other_ward): "BAD_INPUT",  # does not serve the place
        "no-such-agency": "BAD_INPUT",
    }
    for agency, code in cases.items():
        body = transfer(gql, accounts, "city_admin", public_id, agency)
        assert body["errors"][0]["extensions"]["code"] == code, (agency, body)
    closed = new_complaint(engine, accounts.ward, status="CLOSED")
    body = transfer(gql, accounts, "city_admin", closed, accounts.other_agency)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_TRANSITION"
    body = transfer(gql, accounts, "agency_other", public_id, accounts.other_agency)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_misroutes_and_agency_figures(gql: GraphQLClient, engine: Engine,
                                      accounts: Accounts) -> None:
    with engine.connect() as conn:
        since = conn.execute(text("SELECT now()")).scalar_one()
    made = [(category, new_complaint(engine, accounts.ward, category=category))
            for category in ("other", "other", "other", "land.dispute", "environment.waste")]
    transfers: Counter[tuple[str, str]] = Counter()
    current = {public_id: accounts.agency for _, public_id in made}
    for category, public_id in made[:4]:
        assert "errors" not in transfer(gql, accounts, "city_admin", public_id,
                                        accounts.other_agency)
        transfers[(accounts.agency, category)] += 1
        current[public_id] = accounts.other_agency
    # one goes back: a second misroute, of the other agency
    category, public_id = made[0]
    assert "errors" not in transfer(gql, accounts, "city_admin", public_id, accounts.agency,
                                    version=2)
    transfers[(accounts.other_agency, category)] += 1
    current[public_id] = accounts.agency

    stats = gql.data("""query($f: ComplaintFilter) { stats(filter: $f) {
        transfers { agencyCode categoryCode transfers }
        byAgency { code kpi { received } } } }""",
                     {"f": {"wardCodes": [accounts.ward],
                            "createdFrom": since.isoformat()}})["stats"]
    assert {(t["agencyCode"], t["categoryCode"]): t["transfers"]
            for t in stats["transfers"]} == dict(transfers)
    received = {row["code"]: row["kpi"]["received"] for row in stats["byAgency"]
                if row["kpi"]["received"]}
    assert received == dict(Counter(current.values()))
    # the complaint filter and the figures agree
    listed = gql.data("""query($f: ComplaintFilter) { complaints(filter: $f) { totalCount } }""",
                      {"f": {"wardCodes": [accounts.ward], "createdFrom": since.isoformat(),
                             "agencyCodes": [accounts.other_agency]}})
    assert listed["complaints"]["totalCount"] == received[accounts.other_agency]


def test_a_reroute_to_another_ward_routes_again(gql: GraphQLClient, engine: Engine,
                                                accounts: Accounts) -> None:
    public_id = new_complaint(engine, accounts.ward, status="ASSIGNED")
    moved = gql("""mutation($id: ID!, $w: String!) { rerouteComplaint(id: $id, wardCode: $w,
        reason: "Sai địa bàn", expectedVersion: 1) { ward { code }
        routing { agency { code } rule { code } reason } } }""",
                {"id": public_id, "w": accounts.other_ward},
                headers=accounts.headers("city_admin"))["data"]["rerouteComplaint"]
    assert moved == {"ward": {"code": accounts.other_ward}, "routing": {
        "agency": {"code": ward_committee(accounts.other_ward)}, "rule": None,
        "reason": f"default: the People's Committee of ward {accounts.other_ward}"}}
