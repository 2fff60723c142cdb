"""Complaint statuses and their groups have one home (workflow/states.py), and everything that
uses them agrees with it: the database's check constraints, the overdue field, filter and
statistic, the stale-close job, the public `workflow` query, and a search of the source tree.

The expected lists are written out here on purpose: they are the test's own truth, held against
what the code renders from workflow/states.py.
"""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from tests.conftest import Accounts, GraphQLClient, new_complaint
from workflow import service, states
from workflow.states import Actor, Rating, RejectionReason, Status

STATUSES = ["RECEIVED", "ASSIGNED", "IN_PROGRESS", "RESOLVED", "REJECTED", "DUPLICATE",
            "REOPENED", "CLOSED"]
OPEN = {"RECEIVED", "ASSIGNED", "IN_PROGRESS", "REOPENED"}
ANSWERED = {"RESOLVED", "REJECTED", "DUPLICATE"}
PROCESSED = {"RESOLVED", "REJECTED", "DUPLICATE", "CLOSED"}
RATINGS = ["SATISFIED", "ACCEPTED", "UNSATISFIED"]
REASONS = ["NOT_RESPONSIBLE", "INVALID", "INSUFFICIENT_INFORMATION", "OTHER"]
ROOT = Path(__file__).resolve().parent.parent


def test_the_lists_are_the_workflows() -> None:
    assert [s.value for s in Status] == STATUSES
    assert set(states.OPEN) == OPEN and set(states.ANSWERED) == ANSWERED
    assert set(states.PROCESSED) == PROCESSED
    assert [r.value for r in Rating] == RATINGS
    assert set(states.POSITIVE_RATINGS) == {"SATISFIED", "ACCEPTED"}
    assert [r.value for r in RejectionReason] == REASONS


# The database ---------------------------------------------------------------------------------

def _checks(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("""
            SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid = 'complaint'::regclass AND contype = 'c'""")).all())


def _insert(conn: Any, column: str, value: str) -> None:
    conn.execute(text(f"""
        INSERT INTO complaint (public_id, description, category_code, location, {column})
        VALUES ('PA-CHECK-' || md5(random()::text), 'check', 'other',
                ST_SetSRID(ST_MakePoint(105.85, 21.03), 4326), :value)"""), {"value": value})


@pytest.mark.parametrize(("name", "column", "allowed", "python"), [
    ("complaint_status", "status", STATUSES, Status),
    ("complaint_rating", "rating", RATINGS, Rating),
])
def test_check_constraints_of_the_migrated_database_allow_exactly_the_lists(
        engine: Engine, name: str, column: str, allowed: list[str], python: Any) -> None:
    """Migrations are history and keep their own copy of the lists: this is where a drift
    between them and workflow/states.py shows."""
    definition = _checks(engine)[name]
    assert set(re.findall(r"'([A-Z_]+)'", definition)) == set(allowed) == {m.value for m in python}
    with engine.connect() as conn, conn.begin() as outer:
        for value in allowed:
            with conn.begin_nested():
                _insert(conn, column, value)
        with pytest.raises(IntegrityError, match=name), conn.begin_nested():
            _insert(conn, column, "BOGUS")
        outer.rollback()


def test_the_due_index_covers_exactly_the_open_statuses(engine: Engine) -> None:
    """The overdue filter can use the partial index of 0004 (0025) only while its predicate
    names the open statuses."""
    with engine.connect() as conn:
        predicate = conn.execute(text("""
            SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i
            WHERE i.indexrelid = 'complaint_due'::regclass""")).scalar_one()
    assert set(re.findall(r"'([A-Z_]+)'", predicate)) == OPEN == set(states.OPEN)


def test_the_tables_module_renders_the_same_constraints() -> None:
    from db.tables import complaint

    rendered = {c.name: str(c.sqltext) for c in complaint.constraints if c.name in
                ("complaint_status", "complaint_rating")}
    assert rendered == {
        "complaint_status": "status IN ({})".format(", ".join(f"'{s}'" for s in STATUSES)),
        "complaint_rating": "rating IN ({})".format(", ".join(f"'{r}'" for r in RATINGS)),
    }


# Overdue: one rule behind the field, the filter and the statistic ---------------------------

COMPLAINTS_IN = """query($filter: ComplaintFilter) { complaints(filter: $filter, first: 100) {
    edges { node { id overdue } } } }"""
STATS_IN = """query($filter: ComplaintFilter) { stats(filter: $filter) {
    summary { received overdue } } }"""


def test_overdue_field_filter_and_statistic_agree(gql: GraphQLClient, engine: Engine,
                                                  accounts: Accounts) -> None:
    """A complaint in every status, due an hour ago, in an hour, or never; placed in a window
    of its own (1996, a year no other test uses) so that the statistic counts only them."""
    start = datetime(1996, 1, 1, tzinfo=UTC)
    cases = {new_complaint(engine, accounts.ward, status=s): (s, due_in) for s in STATUSES
             for due_in in (timedelta(hours=-1), timedelta(hours=1), None)}
    with engine.begin() as conn:
        for i, (cid, (_, due_in)) in enumerate(cases.items()):
            conn.execute(text("""UPDATE complaint SET created_at = :created,
                due_at = now() + CAST(:due_in AS interval) WHERE public_id = :id"""),
                {"created": start + timedelta(minutes=i), "due_in": due_in, "id": cid})
    expected = {cid: status in OPEN and due_in is not None and due_in < timedelta(0)
                for cid, (status, due_in) in cases.items()}
    window = {"createdFrom": start.isoformat(),
              "createdTo": (start + timedelta(days=1)).isoformat()}
    assert 0 < sum(expected.values()) < len(expected)

    def ids(**extra: Any) -> dict[str, bool]:
        body = gql(COMPLAINTS_IN, {"filter": {**window, **extra}})
        assert "errors" not in body, body
        return {e["node"]["id"]: e["node"]["overdue"] for e in body["data"]["complaints"]["edges"]}

    assert ids() == expected  # the field
    assert set(ids(overdue=True)) == {c for c, late in expected.items() if late}  # the filter
    assert set(ids(overdue=False)) == {c for c, late in expected.items() if not late}
    body = gql(STATS_IN, {"filter": window})
    assert "errors" not in body, body
    assert body["data"]["stats"]["summary"] == {"received": len(expected),
                                                "overdue": sum(expected.values())}


def test_is_overdue_at_the_edges() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert states.is_overdue(Status.REOPENED, now - timedelta(microseconds=1), now)
    assert not states.is_overdue(Status.REOPENED, now, now)  # due now: not yet late
    assert not states.is_overdue(Status.CLOSED, now - timedelta(days=1), now)
    assert not states.is_overdue(Status.RECEIVED, None, now)


# The stale-close job goes through the transition table ----------------------------------------

def _close_stale(engine: Engine, accounts: Accounts) -> tuple[dict[str, str], int, dict]:
    """A complaint in every status answered ten years ago (older than anything other tests
    make), then the job; returns each one's status before, the job's count, and the rows.
    The ones left open are then made recent, so that the next run sees only its own."""
    before = {new_complaint(engine, accounts.ward, status=s, resolved_days_ago=3_700): s
              for s in STATUSES}
    try:
        with engine.begin() as conn:
            closed = service.close_stale(conn, 3_650)
        with engine.connect() as conn:
            rows = {r.public_id: r for r in conn.execute(text("""
                SELECT c.public_id, c.status, c.version,
                       array_agg(ARRAY[e.actor, e.kind, e.from_status, e.to_status]
                                 ORDER BY e.id) FILTER (WHERE e.id IS NOT NULL) AS events
                FROM complaint c LEFT JOIN complaint_event e ON e.complaint_id = c.id
                WHERE c.public_id = ANY(:ids) GROUP BY c.id, c.created_at"""),
                {"ids": list(before)})}
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE complaint SET resolved_at = now() "
                              "WHERE public_id = ANY(:ids)"), {"ids": list(before)})
    return before, closed, rows


def _assert_closed_exactly(before: dict[str, str], closed: int, rows: dict,
                           closable: set[str]) -> None:
    assert closed == len(closable)
    for cid, status in before.items():
        row = rows[cid]
        if status in closable:
            assert (row.status, row.version) == ("CLOSED", 2), status
            assert row.events == [["system", "TRANSITION", status, "CLOSED"]], status
        else:
            assert (row.status, row.version, row.events) == (status, 1, None), status


def test_close_stale_closes_what_the_table_lets_the_system_close(
        engine: Engine, accounts: Accounts) -> None:
    _assert_closed_exactly(*_close_stale(engine, accounts), closable=ANSWERED)


def test_close_stale_follows_a_changed_table(engine: Engine, accounts: Accounts,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(states.TRANSITIONS, (Status.REJECTED, Status.CLOSED),
                        frozenset({Actor.REPORTER}))
    monkeypatch.setitem(states.TRANSITIONS, (Status.IN_PROGRESS, Status.CLOSED),
                        frozenset({Actor.SYSTEM}))
    _assert_closed_exactly(*_close_stale(engine, accounts),
                           closable={"RESOLVED", "DUPLICATE", "IN_PROGRESS"})


# The API publishes the lists; nobody else spells them -------------------------------------------

def test_workflow_query_publishes_the_lists(gql: GraphQLClient) -> None:
    body = gql("""{ workflow { statuses { name open answered processed } ratings
        positiveRatings rejectionReasons } }""")
    assert "errors" not in body, body
    workflow = body["data"]["workflow"]
    assert workflow["statuses"] == [
        {"name": s, "open": s in OPEN, "answered": s in ANSWERED, "processed": s in PROCESSED}
        for s in STATUSES]
    assert workflow["ratings"] == RATINGS
    assert set(workflow["positiveRatings"]) == {"SATISFIED", "ACCEPTED"}
    assert workflow["rejectionReasons"] == REASONS


_NAMES = "|".join(sorted({*STATUSES, *RATINGS, *REASONS}, key=len, reverse=True))
# Two of the names as quoted literals in a row ("'RESOLVED', 'REJECTED'"), or an enum member
# spelled again (SATISFIED = "SATISFIED").
COPIES = re.compile(rf"""(['"])({_NAMES})\1\s*,\s*(['"])({_NAMES})\3"""
                    rf"""|\b({_NAMES})\s*=\s*(['"])\5\6""")


SKIPPED = {"tests", "migrations", ".venv", "node_modules"}


def _sources() -> list[Path]:
    python = [p for p in ROOT.rglob("*.py") if not SKIPPED & set(p.relative_to(ROOT).parts)]
    return [*python, *(ROOT / "web" / "src").glob("*.js")]


def test_the_copy_finder_finds_copies() -> None:
    for copy in ("WHERE status IN ('RESOLVED', 'REJECTED')", "['RECEIVED', 'ASSIGNED']",
                 '("SATISFIED", "ACCEPTED")', '    OTHER = "OTHER"'):
        assert COPIES.search(copy), copy
    assert not COPIES.search("status = 'CLOSED', version = version + 1")


def test_no_status_list_outside_workflow_states() -> None:
    home = ROOT / "workflow" / "states.py"
    assert COPIES.search(home.read_text())  # the one home, where the search must find them
    copies = [f"{path.relative_to(ROOT)}:{text[:match.start()].count(chr(10)) + 1}"
              for path in _sources() if path != home
              for text in [path.read_text()] for match in COPIES.finditer(text)]
    assert copies == []
