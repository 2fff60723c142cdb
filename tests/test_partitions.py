"""Complaints and their events partitioned by year (migration 0018), and the statistics'
monthly rollups of durations by month (0036): the conversions keep every row, time windows
prune partitions in the plans of the real queries, partitions are made ahead, and keys stay
unique across years."""

import importlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from shapely.geometry import Point
from sqlalchemy import Connection, Engine, text

from analytics import area_durations, durations, kpi
from analytics.periods import CITY_TIME_ZONE
from cli.main import alembic_config
from db import complaints
from db.complaints import ComplaintFilter, Order
from db.engine import make_engine
from db.partitions import MONTHLY, YEARLY, add_partitions
from demo.city import build_demo_city
from demo.complaints import generate_complaints
from demo.seed import seed_boundaries, seed_complaints, seed_organisation
from tests.conftest import Demo, _admin, _server_url
from tests.plans import executed_plans, plan_scans

BEFORE = ScriptDirectory.from_config(alembic_config("postgresql://")).get_revision(
    "0018_partitions").down_revision

# Every table's rows as text, in a fixed order: equal digests mean equal contents.
DIGEST = """SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))
            FROM {table} t"""


def seeded_database(revision: str) -> Iterator[tuple[str, Engine]]:
    """A database at ``revision``, with the demo city and its complaints over three years."""
    name = f"phananh_test_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    url = _server_url().set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        command.upgrade(alembic_config(url), revision)
        generations = build_demo_city()
        seed_boundaries(engine, generations)
        seed_organisation(engine, generations)
        outline = next(a for a in generations[-1].areas if a.level == "city").geometry
        now = datetime(2026, 6, 1, tzinfo=UTC)
        seed_complaints(engine, generate_complaints(400, outline, seed=5, now=now, years=3), 400)
        yield url, engine
    finally:
        engine.dispose()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def old_database() -> Iterator[tuple[str, Engine]]:
    """A database at the revision before partitions, with rows in every table that refers to
    complaints."""
    for url, engine in seeded_database(BEFORE):
        with engine.begin() as conn:
            conn.execute(text("""
                UPDATE complaint SET duplicate_of = (SELECT min(id) FROM complaint)
                WHERE id % 50 = 7;
                INSERT INTO complaint_support (complaint_id, name, created_at)
                SELECT id, 'A supporter', created_at + interval '1 day' FROM complaint
                WHERE id % 40 = 3;
                INSERT INTO complaint (public_id, description, category_code, location,
                                       created_at, idempotency_key)
                VALUES ('PA-OLD', 'Before any partition', 'other',
                        ST_SetSRID(ST_MakePoint(105.85, 21.03), 4326), '2001-05-05', 'k-old')"""))
        yield url, engine


def digests(conn: Connection) -> dict[str, tuple[int, str]]:
    tables = conn.execute(text("""
        SELECT relname FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')
          AND NOT relispartition
          AND relname NOT IN ('spatial_ref_sys', 'complaint_key', 'alembic_version')""")
    ).scalars()
    return {table: tuple(conn.execute(text(DIGEST.format(table=table))).one())
            for table in tables}


def kinds(conn: Connection, tables: tuple[str, ...] = YEARLY) -> dict[str, str]:
    """Whether each table is partitioned (p) or plain (r)."""
    return dict(conn.execute(text("SELECT relname, relkind FROM pg_class "
                                  "WHERE relname = ANY(:tables)"), {"tables": list(tables)}
                             ).all())


def test_conversion_keeps_every_row_both_ways(old_database: tuple[str, Engine]) -> None:
    url, engine = old_database
    with engine.connect() as conn:
        before = digests(conn)
        next_id = conn.execute(text("SELECT last_value FROM complaint_id_seq")).scalar_one()
    assert before["complaint"][0] == 401 and before["complaint_event"][0] > 401
    assert before["complaint_area"][0] > 0 and before["complaint_support"][0] > 0

    command.upgrade(alembic_config(url), "0018_partitions")
    with engine.connect() as conn:
        assert digests(conn) == before
        assert kinds(conn) == {"complaint": "p", "complaint_event": "p"}
        keys = conn.execute(text("""
            SELECT count(*) FROM complaint c JOIN complaint_key k USING (id, created_at)
            WHERE k.public_id = c.public_id
              AND k.idempotency_key IS NOT DISTINCT FROM c.idempotency_key""")).scalar_one()
        assert keys == before["complaint"][0]
        # Every year with complaints has its partition, the lone row of 2001 included.
        assert conn.execute(text("SELECT tableoid::regclass::text FROM complaint "
                                 "WHERE public_id = 'PA-OLD'")).scalar_one() == "complaint_y2001"
        assert conn.execute(text("SELECT count(*) FROM complaint_default")).scalar_one() == 0
        for table in ("complaint", "complaint_event"):
            assert conn.execute(text(f"SELECT pg_get_serial_sequence('{table}', 'id')")
                                ).scalar_one() == f"public.{table}_id_seq"
        assert conn.execute(text("SELECT nextval('complaint_id_seq')")).scalar_one() > next_id

    command.downgrade(alembic_config(url), BEFORE)
    with engine.connect() as conn:
        assert digests(conn) == before
        assert kinds(conn) == {"complaint": "r", "complaint_event": "r"}


def scanned_complaint_tables(engine: Engine, run: Any) -> set[str]:
    """The complaint tables (partitions) in the plans of the statements ``run`` executes."""
    plans = executed_plans(engine, run,
                           lambda statement: statement.lstrip().upper().startswith("SELECT"))
    scanned = {relation for plan in plans for _, relation, _ in plan_scans(plan)}
    return {name for name in scanned if name.startswith("complaint_y")
            or name in ("complaint", "complaint_default")}


def window(start: datetime, months: int) -> ComplaintFilter:
    end = (start + timedelta(days=31 * months)).replace(day=1)
    return ComplaintFilter(created_from=start, created_to=end)


@pytest.mark.parametrize("start, months", [((0, 3), 1), ((-1, 12), 2)])
def test_time_windows_prune_partitions(engine: Engine, demo: Demo,
                                       start: tuple[int, int], months: int) -> None:
    year, month = demo.now.year + start[0], start[1]
    f = window(datetime(year, month, 1, tzinfo=UTC), months)
    # The years the window touches, from its bounds (the end is exclusive).
    expected = {f"complaint_y{y}" for y in
                range(f.created_from.year, (f.created_to - timedelta(seconds=1)).year + 1)}

    def listing(conn: Connection) -> None:
        complaints.fetch_page(conn, f, Order.CREATED_AT, first=20, after=None)

    def counting(conn: Connection) -> None:
        complaints.count(conn, f)

    assert scanned_complaint_tables(engine, listing) == expected
    assert scanned_complaint_tables(engine, counting) == expected
    # Without a window, every year is read.
    everything = scanned_complaint_tables(
        engine, lambda conn: complaints.count(conn, ComplaintFilter()))
    assert expected < everything and "complaint_default" in everything


def test_keys_are_unique_across_years(engine: Engine) -> None:
    """(Public ids PA-T…: other tests leave complaints made by tests out of their checks.)"""
    key, now = f"partitions-{uuid.uuid4().hex}", datetime.now(UTC)
    insert = text("""INSERT INTO complaint (public_id, description, category_code, location,
                                            created_at, idempotency_key)
                     VALUES (:public_id, 'Across years', 'other',
                             ST_SetSRID(ST_MakePoint(105.85, 21.03), 4326), :at, :key)""")
    with engine.begin() as conn:
        conn.execute(insert, {"public_id": f"PA-T{key}", "at": now - timedelta(days=400),
                              "key": key})
    with pytest.raises(Exception, match="complaint_idempotency_key_key"), engine.begin() as conn:
        conn.execute(insert, {"public_id": f"PA-TB{key}", "at": now, "key": key})
    with pytest.raises(Exception, match="complaint_public_id_key"), engine.begin() as conn:
        conn.execute(insert, {"public_id": f"PA-T{key}", "at": now, "key": None})
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM complaint WHERE idempotency_key = :k"),
                            {"k": key}).scalar_one() == 1


def test_a_repeated_submission_in_another_year_returns_the_first(engine: Engine) -> None:
    """The idempotent insert of submissions: the same key a year later is the same complaint."""
    key, now = f"partitions-{uuid.uuid4().hex}", datetime.now(UTC)
    first_at, again_at = now - timedelta(days=400), now

    def submit(public_id: str, at: datetime) -> Any:
        with engine.begin() as conn:
            return complaints.insert_complaint(
                conn, {"public_id": public_id, "description": "Đèn hỏng", "created_at": at,
                       "category_code": "public.lighting", "idempotency_key": key},
                Point(105.85, 21.03))

    first, again = submit(f"PA-T{key}", first_at), submit(f"PA-TB{key}", again_at)
    assert (again.public_id, again.created_at) == (f"PA-T{key}", first_at)
    assert first.public_id == again.public_id
    with engine.connect() as conn:
        assert conn.execute(text("""SELECT count(*) FROM complaint_event e
                                    JOIN complaint c ON c.id = e.complaint_id
                                    WHERE c.idempotency_key = :k"""), {"k": key}).scalar_one() == 1


MONTHLY_BEFORE = "0035_bucket_indexes_by_time"
CONVERTED = importlib.import_module("migrations.versions.0036_monthly_rollup_partitions").TABLES


@pytest.fixture
def rollups_database() -> Iterator[tuple[str, Engine]]:
    """A database at the revision before the monthly partitions of the durations' rollups."""
    yield from seeded_database(MONTHLY_BEFORE)


def test_monthly_rollups_conversion_keeps_every_row_both_ways(
        rollups_database: tuple[str, Engine]) -> None:
    url, engine = rollups_database
    with engine.connect() as conn:
        before = digests(conn)
    assert all(before[table][0] > 100 for table in CONVERTED), before

    command.upgrade(alembic_config(url), "0036_monthly_rollup_partitions")
    with engine.connect() as conn:
        assert digests(conn) == before
        assert kinds(conn, CONVERTED) == dict.fromkeys(CONVERTED, "p")
        for table in CONVERTED:  # each row in its month's partition, none in the default
            misplaced = conn.execute(text(
                f"SELECT count(*) FROM {table} "
                f"WHERE tableoid::regclass::text <> '{table}_m' || to_char(month, 'YYYYMM')")
            ).scalar_one()
            assert misplaced == 0, table
    command.downgrade(alembic_config(url), MONTHLY_BEFORE)
    with engine.connect() as conn:
        assert digests(conn) == before
        assert kinds(conn, CONVERTED) == dict.fromkeys(CONVERTED, "r")


def test_statistics_windows_prune_monthly_partitions(engine: Engine, demo: Demo) -> None:
    """Two whole months of statistics (no edges) read the two months' partitions of the
    rollups of durations (the histograms, coarse and fine, and the packed values), for the
    percentiles in total, per category and per area."""
    city = ZoneInfo(CITY_TIME_ZONE)
    months = [(demo.now.year * 12 + demo.now.month - 1 - back) for back in (3, 2, 1)]
    first, second, end = (datetime(m // 12, m % 12 + 1, 1, tzinfo=city) for m in months)
    f = ComplaintFilter(created_from=first, created_to=end)
    measures = (kpi.FIRST_ACTION, kpi.RESOLUTION)

    def statistics(conn: Connection) -> None:
        assert area_durations.values(conn, f, measures)
        assert durations.percentiles(conn, f, measures, in_total=True, per_category=True)

    plans = executed_plans(engine, statistics, lambda s: any(t in s for t in MONTHLY))
    scanned = {relation for plan in plans for _, relation, _ in plan_scans(plan)
               if relation.startswith(MONTHLY)}
    assert scanned == {f"{table}_m{month:%Y%m}" for table in MONTHLY
                       for month in (first, second)}


def test_partitions_are_made_ahead_for_every_partitioned_table(engine: Engine) -> None:
    """``phananh db partitions``' work, in a transaction rolled back: yearly partitions of
    complaints and events, monthly ones of the rollups, from the year (month) of ``now``."""
    with engine.connect() as conn, conn.begin() as transaction:
        created = set(add_partitions(conn, 1, now=datetime(2041, 5, 3, tzinfo=UTC)))
        transaction.rollback()
    assert {f"{table}_y{year}" for table in YEARLY for year in (2041, 2042)} <= created
    months = {f"{table}_m{month}" for table in MONTHLY
              for month in ("204105", "204112", "204201", "204205")}
    assert months <= created
    assert not any(name.endswith(("_m204104", "_m204206")) for name in created)
