"""Due times in working time (the SQL function ``working_due`` over the demo calendar),
against hand-worked cases and tests/working_time.py's independent clock; and the API's
`dueAt`, `overdue` and the KPIs following it."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from tests.conftest import Demo, GraphQLClient
from tests.working_time import ZONE, demo_due
from workflow.states import PROCESSED, is_overdue


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZONE)


def sql_due(engine: Engine, start: datetime, hours: float) -> datetime:
    with engine.connect() as conn:
        return conn.execute(text("SELECT working_due(:s, :h)"), {"s": start, "h": hours}
                            ).scalar_one()


@pytest.mark.parametrize(("start", "hours", "due"), [
    # Friday 16:00 + 8 h: 1 h on Friday, the weekend skipped, 4 h + 3 h on Monday
    (local(2026, 11, 27, 16), 8, local(2026, 11, 30, 16)),
    # Friday before Tết 2026 (14–22 February off): 2 h, then Monday 23rd
    (local(2026, 2, 13, 15), 8, local(2026, 2, 23, 15)),
    # submitted on National Day (Wednesday 2 September 2026): the clock starts on Thursday
    (local(2026, 9, 2, 10), 4, local(2026, 9, 3, 12)),
    # submitted in the lunch break
    (local(2026, 12, 7, 12, 30), 1, local(2026, 12, 7, 14)),
    # submitted at closing time on Friday
    (local(2026, 12, 4, 17), 0.5, local(2026, 12, 7, 8, 30)),
    # a whole SLA of 240 h (land disputes) across Tết 2027 (5–10 February)
    # (20 days in January, Feb 1–4, 11–12 and 15–18: 30 days of 8 h)
    (local(2027, 1, 4, 8), 240, local(2027, 2, 18, 17)),
])
def test_hand_worked_cases(engine: Engine, demo: Demo, start: datetime, hours: float,
                           due: datetime) -> None:
    assert sql_due(engine, start, hours) == due
    assert demo_due(start, hours) == due


def test_agrees_with_an_independent_clock(engine: Engine, demo: Demo) -> None:
    rng = random.Random(5)
    cases = [(datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(3 * 525_600)),
              rng.choice([1, 4, 7.5, 24, 48, 72, 120, 240])) for _ in range(300)]
    with engine.connect() as conn:
        got = conn.execute(text("""
            SELECT working_due(s, h) FROM unnest(CAST(:s AS timestamptz[]),
                                                 CAST(:h AS float8[])) AS t(s, h)"""),
            {"s": [s for s, _ in cases], "h": [h for _, h in cases]}).scalars().all()
    assert got == [demo_due(s, h) for s, h in cases]


def test_overdue_and_kpis_follow_working_time(gql: GraphQLClient, engine: Engine,
                                              demo: Demo) -> None:
    """Every complaint's due time is its category's SLA in working time from its creation
    (or from its last transfer, which restarts the clock); `overdue` and the KPIs' overdue
    and processed-late counts follow from it."""
    stats = gql.data("{ stats { asOf summary { received overdue processedLate } } }")["stats"]
    as_of = datetime.fromisoformat(stats["asOf"])
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT c.due_at, c.status, c.resolved_at, k.sla_hours, c.public_id,
                   COALESCE((SELECT max(e.at) FROM complaint_event e
                             WHERE e.complaint_id = c.id AND e.kind = 'TRANSFERRED'),
                            c.created_at) AS clock_start
            FROM complaint c JOIN category k ON k.code = c.category_code
            WHERE c.created_at <= :as_of"""), {"as_of": as_of}).all()
    # Complaints made by tests' new_complaint ("PA-T…") may have had their due date set by
    # hand (the overdue tests); every other one is due by the working-time rule.
    ruled = [r for r in rows if not r.public_id.startswith("PA-T")]
    assert len(ruled) > 2_000
    assert [r.due_at for r in ruled] == [demo_due(r.clock_start, r.sla_hours) for r in ruled]
    overdue = sum(is_overdue(r.status, r.due_at, as_of) for r in rows)
    late = sum(r.status in PROCESSED and r.resolved_at is not None and r.resolved_at > r.due_at
               for r in rows)
    assert overdue > 0 and late > 0
    assert stats["summary"]["received"] == len(rows)
    assert (stats["summary"]["overdue"], stats["summary"]["processedLate"]) == (overdue, late)
