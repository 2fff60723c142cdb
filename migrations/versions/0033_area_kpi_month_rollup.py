"""The statistics' counts per routed area and city month, for the breakdowns over long windows.

``complaint_area_kpi_rollup`` (0028) counts complaints per city day, category, status, rating,
routed district and ward: at 10 million complaints about one row per complaint (a ward gets
~300 complaints a month, spread over days × categories × statuses), so a year's breakdown by
district or ward summed 3.2 million rows, 0.55 s per level (docs/benchmarks.md, "Breakdowns'
percentiles from the durations packed per month and area"). ``complaint_area_kpi_month_rollup``
counts them per **city month**, status, rating, routed district and ward, with those resolved
after their due time: 272,000 rows for that year. A breakdown whose filter names no category
reads a window's whole months here and the days at its edges from the daily table
(``analytics.rollups.area_kpi_rows``).

Kept like 0028's table: row constraint triggers on ``complaint``, run at commit (0027), by
0021's trigger function written over this table (a complaint's old row leaves its count, its
new row joins one; a count that reaches 0 is deleted), fired by a change of a column counted
here; TRUNCATE empties it; ``rebuild_rollups()`` recounts it with the others.

Revision ID: 0033_area_kpi_month_rollup
Revises: 0032_area_duration_values
Create Date: 2026-12-04
"""

import importlib

from alembic import op

revision = "0033_area_kpi_month_rollup"
down_revision = "0032_area_duration_values"
branch_labels = None
depends_on = None

VALUES = importlib.import_module("migrations.versions.0032_area_duration_values")
KPI = VALUES.DUE.AREAS.KPI  # 0021
AREAS = VALUES.DUE.AREAS  # 0028

KEY = ("month", "status", "rating", *AREAS.AREAS)
# The key of complaint {c}'s row: its city month, status, rating and routed areas.
ROW = ", ".join((VALUES.MONTHS.MONTH.format(created="{c}.created_at"), "{c}.status",
                 "{c}.rating", *(f"{{c}}.{a}" for a in AREAS.AREAS)))
MATCHES = (f"(r.month, r.status) = ({VALUES.MONTHS.MONTH.format(created='OLD.created_at')}, "
           "OLD.status)" + "".join(f" AND r.{k} IS NOT DISTINCT FROM OLD.{k}" for k in KEY[2:]))

TRIGGER_FUNCTION = KPI.row_trigger_function("complaint_area_kpi_month_rollup", ROW, MATCHES,
                                            KEY)

COLUMNS = ("created_at", "status", "rating", "resolved_at", "due_at", *AREAS.AREAS)


def constraint_triggers(table: str, columns: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, definition) of the row constraint triggers on ``complaint`` that keep ``table``,
    run at commit (0027): on insert, on an update that changes one of ``columns``, on
    delete."""
    return [
        (f"{table}_insert", "AFTER INSERT ON complaint" + AREAS.DEFERRED),
        (f"{table}_update", "AFTER UPDATE ON complaint" + AREAS.DEFERRED
         + " WHEN ((" + ", ".join(f"OLD.{c}" for c in columns) + ") IS DISTINCT FROM ("
         + ", ".join(f"NEW.{c}" for c in columns) + "))"),
        (f"{table}_delete", "AFTER DELETE ON complaint" + AREAS.DEFERRED),
    ]


def truncated(table: str) -> tuple[str, str]:
    """The function and the trigger by which TRUNCATE complaint empties ``table`` too."""
    return (f"""
    CREATE FUNCTION {table}_truncated() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN TRUNCATE {table}; RETURN NULL; END $$""",
            f"CREATE TRIGGER {table}_truncate AFTER TRUNCATE ON complaint FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {table}_truncated()")


def create_triggers(table: str, row_function: str, triggers: list[tuple[str, str]]) -> None:
    """Keep ``table`` from now on: its row function (``row_function`` creates
    ``<table>_row()``), run by ``triggers`` (:func:`constraint_triggers`), and TRUNCATE's
    (:func:`truncated`)."""
    op.execute(row_function)
    for name, definition in triggers:
        op.execute(f"CREATE CONSTRAINT TRIGGER {name} {definition} "
                   f"EXECUTE FUNCTION {table}_row()")
    for statement in truncated(table):
        op.execute(statement)


def drop_triggers(table: str, triggers: list[tuple[str, str]]) -> None:
    """What :func:`create_triggers` created for ``table``."""
    op.execute(f"DROP TRIGGER {table}_truncate ON complaint")
    op.execute(f"DROP FUNCTION {table}_truncated()")
    for name, _ in triggers:
        op.execute(f"DROP TRIGGER {name} ON complaint")
    op.execute(f"DROP FUNCTION {table}_row()")


TRIGGERS = constraint_triggers("complaint_area_kpi_month_rollup", COLUMNS)

BACKFILL = f"""
    INSERT INTO complaint_area_kpi_month_rollup
    SELECT {ROW.format(c="c")}, count(*), sum({KPI.LATE.format(c="c")})
    FROM complaint c GROUP BY 1, 2, 3, 4, 5"""


def rebuild_function(months: bool) -> str:
    """``rebuild_rollups()`` of 0032, with (or without) this rollup."""
    backfills = VALUES.backfills(True)
    if months:
        backfills = f"TRUNCATE complaint_area_kpi_month_rollup; {BACKFILL}; {backfills}"
    return VALUES.DUE.GRIDS.rebuild_function(backfills)


def upgrade() -> None:
    op.execute("""
        CREATE TABLE complaint_area_kpi_month_rollup (
            month date NOT NULL,  -- the first day of the month, in the city's time zone
            status text NOT NULL,
            rating text,  -- NULL: not rated
            district_id integer,  -- the routed district and ward (NULL: none)
            ward_id integer,
            complaints integer NOT NULL CHECK (complaints >= 0),
            late integer NOT NULL CHECK (late >= 0 AND late <= complaints),
            UNIQUE NULLS NOT DISTINCT (month, status, rating, district_id, ward_id)
        )""")
    op.execute(BACKFILL)
    op.execute("ANALYZE complaint_area_kpi_month_rollup")
    create_triggers("complaint_area_kpi_month_rollup", TRIGGER_FUNCTION, TRIGGERS)
    op.execute(rebuild_function(months=True))


def downgrade() -> None:
    op.execute(rebuild_function(months=False))
    drop_triggers("complaint_area_kpi_month_rollup", TRIGGERS)
    op.execute("DROP TABLE complaint_area_kpi_month_rollup")
