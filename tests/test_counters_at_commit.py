"""The rows every write shares (the data version, the day's counts, the grid cells) are changed
at commit (migration 0027): concurrent writers no longer wait for each other's transactions, and
the version moves once per committed transaction, whatever it wrote. (Writers in one district
still take turns: the daily area rollup, 0013, recounts under a lock per area.)"""

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from tests.conftest import Demo

INSERT = text("""
    INSERT INTO complaint (public_id, description, category_code, location, ward_id,
                           district_id, city_id)
    SELECT :public_id, 'Counter test', 'other', ST_PointOnSurface(w.geom), w.id, w.parent_id,
           d.parent_id
    FROM admin_area w JOIN admin_area d ON d.id = w.parent_id
    WHERE w.id = :ward""")
# The first ward of each of two districts of the newest generation.
TWO_WARDS = text("""
    SELECT min(w.id) FROM admin_area w
    WHERE w.level = 'ward' AND w.generation_id = (SELECT max(id) FROM boundary_generation)
    GROUP BY w.parent_id ORDER BY w.parent_id LIMIT 2""")
VERSION = text("SELECT version FROM data_version WHERE table_name = 'complaint'")
# The day's count of the category and status the inserts above land in.
TODAY_OTHER = text("""
    SELECT coalesce(sum(complaints), 0) FROM complaint_kpi_rollup
    WHERE day = (now() AT TIME ZONE (SELECT time_zone FROM work_calendar))::date
      AND category_code = 'other' AND status = 'RECEIVED' AND rating IS NULL""")
RAW_TODAY_OTHER = text("""
    SELECT count(*) FROM complaint
    WHERE (created_at AT TIME ZONE (SELECT time_zone FROM work_calendar))::date
          = (now() AT TIME ZONE (SELECT time_zone FROM work_calendar))::date
      AND category_code = 'other' AND status = 'RECEIVED' AND rating IS NULL""")


@pytest.fixture
def inserted(engine: Engine, demo: Demo) -> Iterator[list[str]]:
    """Public ids the test inserts; deleted afterwards."""
    ids: list[str] = []
    yield ids
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM complaint WHERE public_id = ANY(:ids)"), {"ids": ids})


def insert(conn: Connection, inserted: list[str], ward: int | None = None) -> None:
    inserted.append(f"PA-C{len(inserted):04d}{id(inserted) % 10_000:04d}")
    if ward is None:
        ward = conn.execute(TWO_WARDS).scalars().first()
    conn.execute(INSERT, {"public_id": inserted[-1], "ward": ward})


def scalar(engine: Engine, statement: object) -> int:
    with engine.connect() as conn:
        return conn.execute(statement).scalar_one()  # type: ignore[arg-type]


def test_a_writer_does_not_wait_for_another_writers_transaction(engine: Engine,
                                                                inserted: list[str]) -> None:
    version = scalar(engine, VERSION)
    with engine.connect() as conn:
        one, other = conn.execute(TWO_WARDS).scalars().all()
    with engine.connect() as first, engine.connect() as second:
        first.begin()
        insert(first, inserted, one)  # first's transaction stays open
        second.begin()
        second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail the test
        insert(second, inserted, other)
        second.commit()
        assert scalar(engine, VERSION) == version + 1  # second's, at its commit
        first.commit()
    assert scalar(engine, VERSION) == version + 2
    assert scalar(engine, TODAY_OTHER) == scalar(engine, RAW_TODAY_OTHER)


def test_the_version_moves_once_per_transaction_that_changed_rows(engine: Engine,
                                                                  inserted: list[str]) -> None:
    version = scalar(engine, VERSION)
    with engine.begin() as conn:  # three inserts and an update: one transaction
        for _ in range(3):
            insert(conn, inserted)
        conn.execute(text("UPDATE complaint SET address = 'Số 2' WHERE public_id = :id"),
                     {"id": inserted[0]})
        assert conn.execute(VERSION).scalar_one() == version  # not before the commit
    assert scalar(engine, VERSION) == version + 1
    with engine.begin() as conn:  # a change undone by its savepoint is no change
        savepoint = conn.begin_nested()
        insert(conn, inserted)
        savepoint.rollback()
        conn.execute(text("UPDATE complaint SET address = 'Số 3' WHERE false"))
    assert scalar(engine, VERSION) == version + 1
    with engine.begin() as conn:  # undone, then done again: one move
        savepoint = conn.begin_nested()
        insert(conn, inserted)
        savepoint.rollback()
        insert(conn, inserted)
    assert scalar(engine, VERSION) == version + 2
    assert scalar(engine, TODAY_OTHER) == scalar(engine, RAW_TODAY_OTHER)
