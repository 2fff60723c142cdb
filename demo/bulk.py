"""Secondary indexes off for a bulk load, then built once, as a restore does; and the rollups
recounted once after it, each table on its own connection.

A row inserted into a table with eighteen indexes (five GiST, one GIN) updates each of them at
a random place; building an index once from the loaded rows sorts them instead. Only indexes
that back no constraint are dropped (primary keys and unique constraints stay, so the load is
checked as any write is), and each comes back under its own name with its own definition,
read from the catalogue before the drop: on a partitioned table, the parent's index is made
``ON ONLY`` the parent, each partition's is built on its own, then attached, which leaves the
catalogue as the migrations left it (``tests/test_scale_generator.py`` compares
``pg_indexes`` with a freshly migrated database).
"""

import importlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

# An index (level 0) and, for a partitioned one, its partitions' indexes (level 1, …), with
# the index each is attached to.
TREE = """
    SELECT t.level, CAST(t.relid AS regclass)::text, CAST(t.parentrelid AS regclass)::text,
           pg_get_indexdef(t.relid)
    FROM pg_index i
    CROSS JOIN LATERAL pg_partition_tree(i.indexrelid) AS t
    WHERE i.indrelid = CAST(:table AS regclass)
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
      AND CAST(i.indexrelid AS regclass)::text <> ALL(:keep)
    ORDER BY t.level, 2"""
DEFERRED = "bulk_deferred_index"  # the definitions of the indexes a bulk load dropped
BUILD_MEMORY = "1GB"  # maintenance_work_mem of an index build, work_mem of a rollup's count

# What ``rebuild_rollups()`` counts, table by table, in the statements migration 0022 composes
# it of (its rebuild_function), as runs of statements, each run on one connection; but the
# monthly grid is summed from the daily grid, as 0022 itself fills it (exact, and a tenth of
# the rows), rather than placing every complaint in every grid a second time; the monthly
# area rollup (0029) is summed from the daily one by its own triggers, as everywhere.
# tests/test_scale_generator.py checks the tables against rebuild_rollups().
_MONTH = importlib.import_module("migrations.versions.0022_grid_month_rollup")
_DURATIONS = importlib.import_module("migrations.versions.0025_duration_rollup")
_AREA_KPIS = importlib.import_module("migrations.versions.0028_area_kpi_rollup")
_DUE = importlib.import_module("migrations.versions.0030_due_rollup")
_AREA_DURATIONS = importlib.import_module("migrations.versions.0032_area_duration_values")
_AREA_KPI_MONTHS = importlib.import_module("migrations.versions.0034_area_kpi_month_sums")
_AREA_DUE = importlib.import_module("migrations.versions.0037_area_due_rollup")
_FINE_DURATIONS = importlib.import_module("migrations.versions.0038_fine_duration_rollup")
ROLLUPS = ("complaint_rollup", "complaint_grid_rollup", "complaint_grid_month_rollup",
           "complaint_kpi_rollup", "complaint_duration_rollup", "complaint_area_kpi_rollup",
           "complaint_month_rollup", "complaint_due_rollup", "complaint_area_duration_values",
           "complaint_area_kpi_month_rollup", "complaint_area_due_rollup",
           "complaint_duration_fine_rollup")
ROLLUP_RUNS = ((_MONTH.GRIDS.DAILY.statements(_MONTH.GRIDS.PLACED_CALL)[1],),
               (_MONTH.GRIDS.GRID_BACKFILL, _MONTH.FROM_DAYS, _AREA_DURATIONS.BACKFILL,
                _AREA_KPI_MONTHS.BACKFILL),
               (_MONTH.KPI.BACKFILL, _DURATIONS.BACKFILL, _AREA_KPIS.BACKFILL, _DUE.BACKFILL,
                _AREA_DUE.BACKFILL, _FINE_DURATIONS.BACKFILL))


@dataclass(frozen=True)
class Index:
    level: int
    name: str
    parent: str | None
    definition: str


def secondary_indexes(conn: Connection, table: str, keep: Sequence[str] = ()) -> list[Index]:
    """The indexes of ``table`` (and of its partitions) that back no constraint, but ``keep``."""
    return [Index(*row) for row in conn.execute(text(TREE), {"table": table, "keep": list(keep)})]


def defer_indexes(engine: Engine, tables: dict[str, Sequence[str]]) -> None:
    """Each table's secondary indexes (``tables``: table → indexes the load itself reads, kept)
    dropped, until :func:`restore_deferred`.

    The dropped definitions are kept in the database itself (table :data:`DEFERRED`, in the
    transaction that drops them), so that a build interrupted at any point, in the load or in
    the index builds, can be finished later."""
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {DEFERRED} (level integer NOT NULL, name text NOT NULL, "
                          "parent text, definition text NOT NULL)"))
        for table, keep in tables.items():
            for index in secondary_indexes(conn, table, keep):
                conn.execute(text(f"INSERT INTO {DEFERRED} VALUES (:level, :name, :parent, "
                                  ":definition)"), vars(index))
                if index.level == 0:
                    conn.execute(text(f"DROP INDEX {index.name}"))


def deferred(conn: Connection) -> list[Index]:
    """The indexes an unfinished bulk load dropped (none: no load left any)."""
    if conn.execute(text("SELECT to_regclass(:t)"), {"t": DEFERRED}).scalar() is None:
        return []
    return [Index(*row) for row in conn.execute(text(
        f"SELECT level, name, parent, definition FROM {DEFERRED} ORDER BY level, name"))]


def restore_deferred(engine: Engine, workers: int) -> None:
    """The indexes of :data:`DEFERRED` built again, those an interrupted restore built kept:
    parents first (``ON ONLY``: empty, invalid until attached), the leaves on ``workers``
    connections, then each attached to its parent; :data:`DEFERRED` dropped last."""
    with engine.connect() as conn:
        indexes = deferred(conn)
        missing = {name for name, in conn.execute(text(
            "SELECT name FROM unnest(CAST(:names AS text[])) AS name "
            "WHERE to_regclass(name) IS NULL"), {"names": [i.name for i in indexes]})}
        attached = {name for name, in conn.execute(text(
            "SELECT CAST(inhrelid AS regclass)::text FROM pg_inherits "
            "JOIN pg_class c ON c.oid = inhrelid WHERE c.relkind IN ('i', 'I')"))}

    def build(statement: str) -> None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"SET maintenance_work_mem = '{BUILD_MEMORY}'"))
            conn.execute(text("SET max_parallel_maintenance_workers = 0"))  # workers: ours
            conn.execute(text(statement))

    for level in sorted({index.level for index in indexes}):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(build, [i.definition for i in indexes
                                  if i.level == level and i.name in missing]))
    with engine.begin() as conn:
        for index in indexes:
            if index.parent is not None and index.name not in attached:
                conn.execute(text(f"ALTER INDEX {index.parent} ATTACH PARTITION {index.name}"))
        conn.execute(text(f"DROP TABLE IF EXISTS {DEFERRED}"))


def rebuild_rollups(engine: Engine, workers: int) -> None:
    """Every rollup emptied, then counted again, the runs of :data:`ROLLUP_RUNS` on
    ``workers`` connections (``rebuild_rollups()`` counts them one after the other); for a
    bulk load, while nothing else writes."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(ROLLUPS)}"))

    def count(statements: Sequence[str]) -> None:
        with engine.begin() as conn:
            conn.execute(text(f"SET LOCAL work_mem = '{BUILD_MEMORY}'"))
            conn.execute(text("SET LOCAL jit = off"))  # as rebuild_rollups() runs
            for statement in statements:
                conn.execute(text(statement))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(count, ROLLUP_RUNS))
