"""The complaint workflow end to end: states, history, concurrency, windows, rerouting."""

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, text

from auth.users import load_principal
from errors import ErrorCode, PhananhError
from tests.conftest import Accounts, GraphQLClient, new_complaint, phananh
from workflow import service

VIEW = """query($id: ID!) { complaint(id: $id) { status version firstActionAt resolvedAt
  rating duplicateOf rejectionReason ward { code } overdue dueAt expectedDatetime
  history { kind fromStatus toStatus actorRole actor note data } } }"""
TRANSITION = """mutation($id: ID!, $to: ComplaintStatus!, $v: Int!, $note: String,
  $reason: RejectionReason) { transitionComplaint(id: $id, to: $to, expectedVersion: $v,
  note: $note, reason: $reason) { status version } }"""
ASSIGN = """mutation($id: ID!, $v: Int!, $assignee: String) { assignComplaint(id: $id,
  expectedVersion: $v, assignee: $assignee) { status version } }"""


def as_(gql: GraphQLClient, accounts: Accounts, who: str, query: str,
        **variables: Any) -> dict[str, Any]:
    return gql(query, variables, headers=accounts.headers(who))


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body["errors"]
    return body["data"]


def code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]


def test_full_life_of_a_complaint(gql: GraphQLClient, engine: Engine,
                                  accounts: Accounts) -> None:
    cid = new_complaint(engine, accounts.ward)
    ok(as_(gql, accounts, "ward_in", ASSIGN, id=cid, v=1))
    ok(as_(gql, accounts, "ward_in", TRANSITION, id=cid, to="IN_PROGRESS", v=2))
    ok(as_(gql, accounts, "reporter", "mutation($id: ID!) { commentOnComplaint(id: $id, "
                                      "text: \"Vẫn còn rác\") { version } }", id=cid))
    done = ok(as_(gql, accounts, "ward_in", TRANSITION, id=cid, to="RESOLVED", v=3,
                  note="Đã thu gom"))["transitionComplaint"]
    assert done == {"status": "RESOLVED", "version": 4}  # a comment is not a new version
    ok(as_(gql, accounts, "reporter", "mutation($id: ID!) { rateComplaint(id: $id, "
                                      "rating: ACCEPTED, comment: \"Tạm được\") { status } }",
           id=cid))
    seen = ok(as_(gql, accounts, "ward_in", VIEW, id=cid))["complaint"]
    assert seen["status"] == "CLOSED" and seen["rating"] == "ACCEPTED" and seen["version"] == 5
    assert seen["firstActionAt"] is not None and seen["resolvedAt"] is not None
    assert [(e["kind"], e["fromStatus"], e["toStatus"]) for e in seen["history"]] == [
        ("TRANSITION", "RECEIVED", "ASSIGNED"), ("TRANSITION", "ASSIGNED", "IN_PROGRESS"),
        ("COMMENT", None, None), ("TRANSITION", "IN_PROGRESS", "RESOLVED"),
        ("TRANSITION", "RESOLVED", "CLOSED")]
    assert seen["history"][0]["actor"] == "ward_officer:test-ward_in"
    assert seen["history"][2]["actorRole"] == "reporter"
    # The public sees the history without who acted or what the reporter wrote.
    public = ok(gql(VIEW, {"id": cid}))["complaint"]["history"]
    assert [e["actor"] for e in public] == [None] * 5
    assert public[2]["note"] is None and public[3]["note"] == "Đã thu gom"


def test_two_officials_on_one_version_exactly_one_wins(gql: GraphQLClient, engine: Engine,
                                                       accounts: Accounts) -> None:
    for _ in range(3):
        cid = new_complaint(engine, accounts.ward)
        callers = ["ward_in", "district_in", "city_admin", "ward_in"]
        with ThreadPoolExecutor(max_workers=4) as pool:
            bodies = list(pool.map(
                lambda who, cid=cid: as_(gql, accounts, who, ASSIGN, id=cid, v=1), callers))
        winners = [b for b in bodies if "errors" not in b]
        assert len(winners) == 1
        assert sorted(code(b) for b in bodies if "errors" in b) == ["CONFLICT"] * 3
        loser = next(b for b in bodies if "errors" in b)
        assert loser["errors"][0]["extensions"]["currentVersion"] == 2
        with engine.connect() as conn:
            events = conn.execute(text("""SELECT count(*) FROM complaint_event e JOIN
                complaint c ON c.id = e.complaint_id WHERE c.public_id = :id"""),
                {"id": cid}).scalar_one()
        assert events == 1


def test_invalid_transitions(gql: GraphQLClient, engine: Engine, accounts: Accounts) -> None:
    received = new_complaint(engine, accounts.ward)
    assert code(as_(gql, accounts, "ward_in", TRANSITION, id=received, to="RESOLVED",
                    v=1)) == "INVALID_TRANSITION"
    assert code(as_(gql, accounts, "ward_in", TRANSITION, id=received, to="REJECTED",
                    v=1)) == "BAD_INPUT"  # a rejection needs its reason
    closed = new_complaint(engine, accounts.ward, status="CLOSED")
    for target in ("ASSIGNED", "IN_PROGRESS", "RESOLVED", "REOPENED"):
        query = ASSIGN if target == "ASSIGNED" else TRANSITION
        body = as_(gql, accounts, "city_admin", query, id=closed, to=target, v=1)
        assert code(body) in ("INVALID_TRANSITION", "BAD_INPUT", "FORBIDDEN"), target
    assert code(as_(gql, accounts, "city_admin", TRANSITION, id=closed, to="IN_PROGRESS",
                    v=1)) == "INVALID_TRANSITION"
    resolved = new_complaint(engine, accounts.ward, status="RESOLVED", resolved_days_ago=1)
    assert code(as_(gql, accounts, "ward_in", TRANSITION, id=resolved, to="CLOSED",
                    v=1)) == "FORBIDDEN"  # closing is the reporter's (rating) or the timer's
    unknown = as_(gql, accounts, "ward_in", TRANSITION, id="PA-NOPE", to="IN_PROGRESS", v=1)
    assert code(unknown) == "NOT_FOUND"


def test_reopen_only_within_the_window(gql: GraphQLClient, engine: Engine,
                                       accounts: Accounts) -> None:
    recent = new_complaint(engine, accounts.ward, status="RESOLVED", resolved_days_ago=2)
    assert ok(as_(gql, accounts, "reporter", TRANSITION, id=recent, to="REOPENED",
                  v=1))["transitionComplaint"]["status"] == "REOPENED"
    ok(as_(gql, accounts, "ward_in", ASSIGN, id=recent, v=2))
    old = new_complaint(engine, accounts.ward, status="RESOLVED", resolved_days_ago=8)
    body = as_(gql, accounts, "reporter", TRANSITION, id=old, to="REOPENED", v=1)
    assert code(body) == "INVALID_TRANSITION" and "window" in body["errors"][0]["message"]


def test_reroute_moves_jurisdiction_and_keeps_history(gql: GraphQLClient, engine: Engine,
                                                      accounts: Accounts) -> None:
    cid = new_complaint(engine, accounts.ward)
    ok(as_(gql, accounts, "ward_in", ASSIGN, id=cid, v=1))
    moved = ok(as_(gql, accounts, "ward_in", """mutation($id: ID!, $w: String!) {
        rerouteComplaint(id: $id, wardCode: $w, reason: "Không thuộc địa bàn",
        expectedVersion: 2) { status ward { code } } }""", id=cid, w=accounts.other_ward))
    assert moved["rerouteComplaint"] == {"status": "RECEIVED",
                                         "ward": {"code": accounts.other_ward}}
    assert code(as_(gql, accounts, "ward_in", ASSIGN, id=cid, v=3)) == "FORBIDDEN"
    ok(as_(gql, accounts, "ward_out", ASSIGN, id=cid, v=3))
    history = ok(as_(gql, accounts, "city_admin", VIEW, id=cid))["complaint"]["history"]
    rerouted = [e for e in history if e["kind"] == "REROUTED"]
    assert rerouted[0]["data"] == {"fromWard": accounts.ward, "toWard": accounts.other_ward}
    assert [e["toStatus"] for e in history] == ["ASSIGNED", "RECEIVED", "ASSIGNED"]


def test_duplicates_and_assignees(gql: GraphQLClient, engine: Engine,
                                  accounts: Accounts) -> None:
    original, copy = new_complaint(engine, accounts.ward), new_complaint(engine, accounts.ward)
    query = """mutation($id: ID!, $of: ID!) { markDuplicate(id: $id, of: $of,
        expectedVersion: 1) { status duplicateOf resolvedAt } }"""
    assert code(as_(gql, accounts, "ward_in", query, id=copy, of="PA-NOPE")) == "NOT_FOUND"
    assert code(as_(gql, accounts, "ward_in", query, id=copy, of=copy)) == "BAD_INPUT"
    marked = ok(as_(gql, accounts, "ward_in", query, id=copy, of=original))["markDuplicate"]
    assert marked["status"] == "DUPLICATE" and marked["duplicateOf"] == original
    other = new_complaint(engine, accounts.ward)
    assert code(as_(gql, accounts, "district_in", ASSIGN, id=other, v=1,
                    assignee="test-ward_out")) == "BAD_INPUT"  # no jurisdiction there
    assert ok(as_(gql, accounts, "district_in", ASSIGN, id=other, v=1,
                  assignee="test-ward_in"))["assignComplaint"]["status"] == "ASSIGNED"


MARK = """mutation($id: ID!, $of: ID!) { markDuplicate(id: $id, of: $of,
    expectedVersion: 1) { duplicateOf } }"""


def _duplicate_of(engine: Engine, public_ids: list[str]) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(text("""
            SELECT c.public_id, o.public_id FROM complaint c
            LEFT JOIN complaint o ON o.id = c.duplicate_of WHERE c.public_id = ANY(:ids)"""),
            {"ids": public_ids}).all())


def test_duplicate_chains_resolve_to_one_root(gql: GraphQLClient, engine: Engine,
                                              accounts: Accounts) -> None:
    a, b, c = (new_complaint(engine, accounts.ward) for _ in range(3))
    assert ok(as_(gql, accounts, "ward_in", MARK, id=a, of=b))["markDuplicate"] == \
        {"duplicateOf": b}
    assert code(as_(gql, accounts, "ward_in", MARK, id=b, of=a)) == "BAD_INPUT"  # a cycle
    # c names a, a duplicate of b: c points at b, the root.
    assert ok(as_(gql, accounts, "ward_in", MARK, id=c, of=a))["markDuplicate"] == \
        {"duplicateOf": b}
    assert _duplicate_of(engine, [a, b, c]) == {a: b, b: None, c: b}


def test_concurrent_opposite_markings_make_no_cycle(engine: Engine, accounts: Accounts) -> None:
    """Two officials at once: A as a duplicate of B (not yet committed) and B as a duplicate of
    A. The second waits for the first and is refused; without serialization it would read the
    chain before the first commits and close a cycle."""
    a, b = new_complaint(engine, accounts.ward), new_complaint(engine, accounts.ward)
    with engine.connect() as conn:
        official = load_principal(conn, username="test-ward_in")

    def mark(public_id: str, original: str) -> None:
        with engine.begin() as conn:
            service.mark_duplicate(conn, official, public_id, original, 1, None)

    with engine.connect() as first, first.begin() as pending:
        service.mark_duplicate(first, official, a, b, 1, None)  # A → B, uncommitted
        with ThreadPoolExecutor(max_workers=1) as pool:
            second = pool.submit(mark, b, a)  # B → A, meanwhile
            time.sleep(0.5)  # let it reach the chain (no assertion on time)
            pending.commit()
            with pytest.raises(PhananhError) as refused:
                second.result(timeout=30)
    assert refused.value.code is ErrorCode.BAD_INPUT
    assert _duplicate_of(engine, [a, b]) == {a: b, b: None}


def test_overdue_field_and_filter_match_the_table(gql: GraphQLClient, engine: Engine,
                                                  accounts: Accounts) -> None:
    late = new_complaint(engine, accounts.ward)
    with engine.begin() as conn:
        conn.execute(text("UPDATE complaint SET due_at = now() - interval '1 hour' "
                          "WHERE public_id = :id"), {"id": late})
        expected = set(conn.execute(text("""SELECT public_id FROM complaint WHERE status IN
            ('RECEIVED', 'ASSIGNED', 'IN_PROGRESS', 'REOPENED') AND due_at < now()""")).scalars())
    assert late in expected
    ids, after = set(), None
    while True:
        page = ok(gql("""query($after: String) { complaints(filter: {overdue: true},
            first: 500, after: $after) { edges { node { id overdue dueAt expectedDatetime } }
            pageInfo { hasNextPage endCursor } } }""", {"after": after}))["complaints"]
        for edge in page["edges"]:
            assert edge["node"]["overdue"] is True
            assert edge["node"]["expectedDatetime"] == edge["node"]["dueAt"]
            ids.add(edge["node"]["id"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert ids == expected


def test_close_stale_job(engine: Engine, settings: Any, accounts: Accounts) -> None:
    # Older than every demo complaint (the demo spans one year), so the shared demo data that
    # other tests read stays as it is.
    stale = new_complaint(engine, accounts.ward, status="RESOLVED", resolved_days_ago=400)
    fresh = new_complaint(engine, accounts.ward, status="RESOLVED", resolved_days_ago=380)
    result = phananh(settings.database_url, "workflow", "close-stale", "--days", "390")
    assert result.returncode == 0, result.stderr
    with engine.connect() as conn:
        status = dict(conn.execute(text("SELECT public_id, status FROM complaint WHERE "
                                        "public_id IN (:a, :b)"), {"a": stale, "b": fresh}).all())
    assert status == {stale: "CLOSED", fresh: "RESOLVED"}


def test_history_cannot_be_changed_through_the_api(gql: GraphQLClient) -> None:
    mutations = ok(gql('{ __schema { mutationType { fields { name } } } }'))["__schema"][
        "mutationType"]["fields"]
    names = {m["name"] for m in mutations}
    assert not {n for n in names if "event" in n.lower() or "history" in n.lower()}
    assert not {n for n in names if n.lower().startswith(("delete", "update", "edit"))}


def test_notes_have_a_limit_on_every_mutation(gql: GraphQLClient, engine: Engine,
                                              accounts: Accounts) -> None:
    """Officials' notes had none: a 1.5 MB note was stored and served to anonymous readers."""
    cid = new_complaint(engine, accounts.ward)
    long_note = "x" * 5_001
    refused = [
        ("mutation($id: ID!, $n: String) { assignComplaint(id: $id, expectedVersion: 1, "
         "note: $n) { version } }"),
        ("mutation($id: ID!, $n: String) { transitionComplaint(id: $id, to: RESOLVED, "
         "expectedVersion: 1, note: $n) { version } }"),
        ("mutation($id: ID!, $n: String!) { commentOnComplaint(id: $id, text: $n) "
         "{ version } }"),
    ]
    for query in refused:
        assert code(as_(gql, accounts, "ward_in", query, id=cid, n=long_note)) == "BAD_INPUT"
    assigned = ok(as_(gql, accounts, "ward_in", refused[0], id=cid, n="  Đã nhận  "))
    assert assigned["assignComplaint"]["version"] == 2
    with engine.connect() as conn:
        notes = conn.execute(text("""SELECT note FROM complaint_event e JOIN complaint c
            ON c.id = e.complaint_id WHERE c.public_id = :id AND e.note IS NOT NULL"""),
            {"id": cid}).scalars().all()
    assert notes == ["Đã nhận"]
