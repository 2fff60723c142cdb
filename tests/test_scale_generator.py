"""The national data set of ``bench scale`` (demo/nation.py), small: 2 provinces, 5,000
complaints, in a database of its own.

Each complaint must lie inside its province's polygon (decided by shapely, from the grid the
generator was asked for, not from the database), be placed where ``covering_areas`` says and
routed as ``route_complaint`` routes it at its submission time; the counts must be those
asked. The load drops secondary indexes and turns the rollup triggers off: afterwards the
indexes and triggers must be those of a freshly migrated database, every index valid, and the
rollups, counted table by table on several connections, what ``rebuild_rollups()`` counts; a
build stopped after its load (or in the middle of rebuilding the indexes) must end the same,
and a load stopped after some of its chunks must resume to the same complaints as one that
was not stopped, also when the database was migrated between the two.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import shapely
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from analytics import rollups
from cli.main import alembic_config
from db.engine import make_engine
from demo import nation
from demo.bulk import ROLLUPS, defer_indexes, deferred
from demo.nation import (
    LOAD_INDEXES,
    ROUTES,
    build_nation,
    finish,
    load,
    seed_nation,
    stopped_load,
    unfinished,
)
from tests.conftest import fresh_database

PROVINCES = 2
COMPLAINTS = 5_000
NOW = datetime(2026, 6, 1, tzinfo=UTC)


# Every index and trigger of the schema, as the catalogue describes it (but the generator's own
# table of routes, and the indexes of monthly partitions: migration 0036 makes one for every
# month from the oldest row's, so a database migrated with rows in it has more than a fresh
# one).
INDEXES = f"""SELECT i.tablename, i.indexname, i.indexdef, x.indisvalid
             FROM pg_indexes i JOIN pg_index x ON x.indexrelid = CAST(i.indexname AS regclass)
             WHERE i.schemaname = 'public' AND i.tablename <> '{ROUTES}'
               AND i.tablename !~ '_m[0-9]{{6}}$' ORDER BY 1, 2"""
TRIGGERS = """SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger
              WHERE NOT tgisinternal ORDER BY 1, 2"""


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    for url in fresh_database():
        engine = make_engine(url)
        seed_nation(engine, COMPLAINTS, provinces=PROVINCES, chunk=2_000, now=NOW)
        yield engine
        engine.dispose()


def test_the_nation_has_the_areas_and_complaints_asked(engine: Engine) -> None:
    with engine.connect() as conn:
        levels = dict(conn.execute(text(
            "SELECT level, count(*) FROM admin_area GROUP BY level")).all())
        complaints, span = conn.execute(text(
            "SELECT count(*), max(created_at) - min(created_at) FROM complaint")).one()
        unplaced = conn.execute(text(
            "SELECT count(*) FROM complaint WHERE ward_id IS NULL OR district_id IS NULL "
            "OR city_id IS NULL")).scalar_one()
        events = conn.execute(text(
            "SELECT count(DISTINCT complaint_id) FROM complaint_event "
            "WHERE kind = 'SUBMITTED'")).scalar_one()
    assert levels == {"city": PROVINCES, "district": PROVINCES * 9, "ward": PROVINCES * 81}
    assert complaints == COMPLAINTS and events == COMPLAINTS and unplaced == 0
    assert 3 * 365 - 2 <= span.days <= 3 * 365


def test_every_complaint_lies_inside_its_province(engine: Engine) -> None:
    provinces = {a.code: shapely.prepared.prep(a.geometry)
                 for a in build_nation(PROVINCES).areas if a.level == "city"}
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT p.code, ST_X(c.location), ST_Y(c.location)
            FROM complaint c JOIN admin_area p ON p.id = c.city_id""")).all()
    assert len(rows) == COMPLAINTS
    outside = [row for row in rows
               if not provinces[row[0]].contains(shapely.Point(row[1], row[2]))]
    assert outside == []
    assert {row[0] for row in rows} == set(provinces)  # both provinces received complaints


def test_placement_is_covering_areas_and_routing_is_route_complaint(engine: Engine) -> None:
    with engine.connect() as conn:
        misplaced = conn.execute(text("""
            SELECT count(*) FROM complaint c
            CROSS JOIN LATERAL (
                SELECT max(a.area_id) FILTER (WHERE a.level = 'ward') AS ward_id,
                       max(a.area_id) FILTER (WHERE a.level = 'district') AS district_id,
                       max(a.area_id) FILTER (WHERE a.level = 'city') AS city_id
                FROM covering_areas(c.location, ARRAY['ward', 'district', 'city'],
                                    ARRAY(SELECT id FROM boundary_generation)) a) AS cover
            WHERE (c.ward_id, c.district_id, c.city_id)
                  IS DISTINCT FROM (cover.ward_id, cover.district_id, cover.city_id)""")
        ).scalar_one()
        sample = conn.execute(text("""
            SELECT count(*) FILTER (WHERE (c.agency_code, c.routing_rule_id)
                                          IS DISTINCT FROM (r.agency_code, r.rule_id)),
                   count(*) FILTER (WHERE c.agency_code IS NULL)
            FROM (SELECT * FROM complaint ORDER BY id LIMIT 300) c
            CROSS JOIN LATERAL route_complaint(c.category_code, c.ward_id, c.district_id,
                                               c.city_id, c.created_at) r""")).one()
    assert misplaced == 0
    assert sample == (0, 0)


def test_the_load_leaves_the_indexes_and_triggers_of_the_migrations(engine: Engine) -> None:
    assert_catalogue_as_migrated(engine)


def test_a_build_stopped_after_its_load_is_finished(engine: Engine) -> None:
    with engine.begin() as conn:
        rollups.set_triggers(conn, False)
        conn.execute(text("TRUNCATE complaint_kpi_rollup"))
    defer_indexes(engine, LOAD_INDEXES)
    with engine.begin() as conn:  # a restore stopped after building one partition's index
        leaf = next(i for i in deferred(conn) if i.parent is not None)
        conn.execute(text(leaf.definition))
    assert unfinished(engine)
    finish(engine, workers=2)
    assert not unfinished(engine)
    assert_catalogue_as_migrated(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM complaint_kpi_rollup")).scalar_one() > 0


def assert_catalogue_as_migrated(engine: Engine) -> None:
    with engine.connect() as conn:
        built = conn.execute(text(INDEXES)).all(), conn.execute(text(TRIGGERS)).all()
    for url in fresh_database():
        migrated = make_engine(url)
        with migrated.connect() as conn:
            expected = conn.execute(text(INDEXES)).all(), conn.execute(text(TRIGGERS)).all()
        migrated.dispose()
    assert len(built[0]) > 100 and all(valid for *_, valid in built[0])
    assert built == expected


# A rollup's rows as compared: the packed durations are in no order, so one row each.
ROWS_OF = {"complaint_area_duration_values": """
    SELECT measure, month, status, district_id, ward_id,
           substring(hours FROM slot * 8 + 1 FOR 8)
    FROM {table}, generate_series(0, length(hours) / 8 - 1) AS slot"""}


def test_the_rollups_are_those_rebuild_rollups_counts(engine: Engine) -> None:
    rows_of = {table: ROWS_OF.get(table, "SELECT * FROM {table}").format(table=table)
               for table in ROLLUPS}
    with engine.connect() as conn:
        for table in ROLLUPS:
            conn.execute(text(f"CREATE TEMPORARY TABLE loaded_{table} AS {rows_of[table]}"))
        conn.execute(text("SELECT rebuild_rollups()"))
        found = {table: conn.execute(text(f"""
            SELECT (SELECT count(*) FROM {table}),
                   (SELECT count(*) FROM ({rows_of[table]} EXCEPT ALL
                                          SELECT * FROM loaded_{table}) AS missing),
                   (SELECT count(*) FROM (SELECT * FROM loaded_{table} EXCEPT ALL
                                          {rows_of[table]}) AS extra)""")).one()
                 for table in ROLLUPS}
        conn.rollback()
    assert all(rows > 0 for rows, _, _ in found.values())
    assert {table: (missing, extra) for table, (_, missing, extra) in found.items()} == {
        table: (0, 0) for table in ROLLUPS}


# The complaints' content, in one digest (ids left out: they follow the order of writing).
DIGEST = """SELECT md5(string_agg(concat_ws('|', c.public_id, c.created_at, c.category_code,
                                        ST_AsText(c.location), c.status, c.due_at, c.agency_code,
                                        w.code, c.rating), ',' ORDER BY c.public_id))
            FROM complaint c JOIN admin_area w ON w.id = c.ward_id"""


def stop_at_the_second_chunk(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load of the nation into ``engine`` that stops after its first chunk of 2,000."""
    draw = nation.generate_chunk

    def fail_one(conn: Connection, lo: int, *args: Any, **kwargs: Any) -> None:
        if lo == 2_000:
            raise RuntimeError("stopped")
        draw(conn, lo, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(nation, "generate_chunk", fail_one)
        with pytest.raises(RuntimeError):
            seed_nation(engine, COMPLAINTS, provinces=PROVINCES, chunk=2_000, now=NOW)


@pytest.mark.parametrize("crashed", [False, True])
def test_a_stopped_load_resumes_to_the_same_complaints(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, crashed: bool) -> None:
    """Stopped, or stopped by a crash of the server, which empties the unlogged routes every
    chunk joins (left empty, the chunks would write nothing, and say nothing)."""
    for url in fresh_database():
        stopped = make_engine(url)
        stop_at_the_second_chunk(stopped, monkeypatch)
        assert stopped_load(stopped) == COMPLAINTS and unfinished(stopped)
        with stopped.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM complaint")).scalar_one() == 3_000
            if crashed:
                conn.execute(text(f"TRUNCATE {nation.ROUTES}"))
        load(stopped, 2, lambda done, total: None)
        finish(stopped, 2)
        assert stopped_load(stopped) is None and not unfinished(stopped)
        with stopped.connect() as conn, engine.connect() as whole:
            resumed = conn.execute(text(DIGEST)).scalar_one()
            assert resumed == whole.execute(text(DIGEST)).scalar_one()
        assert_catalogue_as_migrated(stopped)
        stopped.dispose()


def test_a_load_stopped_at_an_older_revision_resumes_after_the_upgrade(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load stopped (its indexes dropped) at 0027, then ``nation.migrate`` to the head:
    0028's rebuild of ``complaint_due`` needs the index back first; the load then resumes
    without the indexes or the rollup triggers (0028's included) and ends as one that was
    neither stopped nor migrated in its middle."""
    for url in fresh_database():
        config = alembic_config(url)
        command.downgrade(config, "0027_counters_at_commit")
        stopped = make_engine(url)
        stop_at_the_second_chunk(stopped, monkeypatch)
        with stopped.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('complaint_due')")).scalar() is None
        nation.migrate(stopped, 2, config)
        with stopped.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('complaint_due')")).scalar() is None
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == \
                ScriptDirectory.from_config(config).get_current_head()
            assert conn.execute(text(
                "SELECT bool_and(tgenabled = 'D') FROM pg_trigger WHERE tgname = ANY(:names)"),
                {"names": [n for names in rollups.TRIGGERS.values() for n in names]}).scalar()
        assert stopped_load(stopped) == COMPLAINTS
        load(stopped, 2, lambda done, total: None)
        finish(stopped, 2)
        with stopped.connect() as conn, engine.connect() as whole:
            assert conn.execute(text(DIGEST)).scalar_one() == whole.execute(
                text(DIGEST)).scalar_one()
        assert_catalogue_as_migrated(stopped)
        stopped.dispose()
