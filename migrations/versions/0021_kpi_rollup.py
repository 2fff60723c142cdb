"""A daily rollup of the statistics' counts: complaints per city day, category, status and
rating, and how many of them were resolved after their due time.

The city's statistics (``analytics/kpi.py``) count, over a time window: complaints received,
processed (by status), rated and satisfied (by rating), and processed late (resolved after
their due time). Each of these depends on the complaint's own row only, and on nothing that
changes with the clock, so ``complaint_kpi_rollup`` holds them per (day in the city,
category, status, rating): ``complaints`` and ``late`` (those with ``resolved_at > due_at``).
Which statuses are "processed" and which ratings "satisfied" stays in workflow/states.py:
the statistics apply those rules to the rollup's status and rating columns when they read it.
"Overdue" depends on the time asked, so it is not rolled up (the statistics count it over the
open complaints, through the partial index ``complaint_due``); nor are the percentiles of the
durations, which need every duration.

Like the grid rollup (0017), **row** triggers on ``complaint`` keep the counts exact in the
writing transaction, adding and subtracting one (an upsert, or an UPDATE that PostgreSQL
re-evaluates on the newest row version, so concurrent writers never lose a count); a count that
reaches 0 is deleted, and only an update of a column the rollup reads fires. The table is small
(days × categories × statuses × ratings: tens of thousands of rows for years of a nation), so a
year's statistics read it in milliseconds. ``rebuild_rollups()`` recounts it with the others.

Revision ID: 0021_kpi_rollup
Revises: 0020_triage_speed
Create Date: 2026-12-03
"""

import importlib

from alembic import op

revision = "0021_kpi_rollup"
down_revision = "0020_triage_speed"
branch_labels = None
depends_on = None



GRIDS = importlib.import_module("migrations.versions.0017_grid_rollups")
DAY = GRIDS.DAY  # the city day of {created}

# The key of complaint {c}'s row, and whether it was resolved after its due time.
ROW = ", ".join((DAY.format(created="{c}.created_at"), "{c}.category_code", "{c}.status",
                 "{c}.rating"))
LATE = "CAST(coalesce({c}.resolved_at > {c}.due_at, false) AS integer)"
MATCHES = ("(r.day, r.category_code, r.status) = ("
           + ", ".join(ROW.format(c="OLD").split(", ")[:3])
           + ") AND r.rating IS NOT DISTINCT FROM OLD.rating")


def row_trigger_function(table: str, row: str, matches: str, key: tuple[str, ...]) -> str:
    """``{table}_row()``: a complaint's old row leaves its count in ``table`` (deleted at 0),
    its new row joins one (``row``: the key's values then the count's, of complaint {c};
    ``matches``: the old row's key; ``key``: the table's unique columns)."""
    return f"""
    CREATE FUNCTION {table}_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE {table} r SET complaints = r.complaints - 1,
                                 late = r.late - {LATE.format(c="OLD")}
            WHERE {matches};
            DELETE FROM {table} r WHERE {matches} AND r.complaints = 0;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO {table} AS r
            VALUES ({row.format(c="NEW")}, 1, {LATE.format(c="NEW")})
            ON CONFLICT ({", ".join(key)})
            DO UPDATE SET complaints = r.complaints + 1, late = r.late + EXCLUDED.late;
        END IF;
        RETURN NULL;
    END $$"""


TRIGGER_FUNCTION = row_trigger_function("complaint_kpi_rollup", ROW, MATCHES,
                                        ("day", "category_code", "status", "rating"))

COLUMNS = ("created_at", "category_code", "status", "rating", "resolved_at", "due_at")
TRIGGERS = [
    # (name, definition)
    ("complaint_kpi_rollup_insert", "AFTER INSERT ON complaint FOR EACH ROW"),
    ("complaint_kpi_rollup_update", "AFTER UPDATE ON complaint FOR EACH ROW WHEN (("
     + ", ".join(f"OLD.{c}" for c in COLUMNS) + ") IS DISTINCT FROM ("
     + ", ".join(f"NEW.{c}" for c in COLUMNS) + "))"),
    ("complaint_kpi_rollup_delete", "AFTER DELETE ON complaint FOR EACH ROW"),
]

BACKFILL = f"""
    INSERT INTO complaint_kpi_rollup
    SELECT {ROW.format(c="c")}, count(*), sum({LATE.format(c="c")})
    FROM complaint c GROUP BY 1, 2, 3, 4"""


def rebuild_function(kpi: bool) -> str:
    """``rebuild_rollups()`` of 0017, with (or without) this rollup."""
    _, area_backfill = GRIDS.DAILY.statements(GRIDS.PLACED_CALL)
    if kpi:
        area_backfill = f"TRUNCATE complaint_kpi_rollup; {BACKFILL}; {area_backfill}"
    return GRIDS.rebuild_function(area_backfill)


def upgrade() -> None:
    op.execute("""
        CREATE TABLE complaint_kpi_rollup (
            day date NOT NULL,  -- in the city's time zone
            category_code text NOT NULL,
            status text NOT NULL,
            rating text,  -- NULL: not rated
            complaints integer NOT NULL CHECK (complaints >= 0),
            late integer NOT NULL CHECK (late >= 0 AND late <= complaints),
            -- a count's update changes no indexed column: a HOT update, the index untouched
            UNIQUE NULLS NOT DISTINCT (day, category_code, status, rating)
        )""")
    op.execute(BACKFILL)
    op.execute("ANALYZE complaint_kpi_rollup")
    op.execute(TRIGGER_FUNCTION)
    for name, definition in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {definition} "
                   f"EXECUTE FUNCTION complaint_kpi_rollup_row()")
    op.execute("""
        CREATE FUNCTION complaint_kpi_rollup_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN TRUNCATE complaint_kpi_rollup; RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER complaint_kpi_rollup_truncate AFTER TRUNCATE ON complaint "
               "FOR EACH STATEMENT EXECUTE FUNCTION complaint_kpi_rollup_truncated()")
    op.execute(rebuild_function(kpi=True))


def downgrade() -> None:
    op.execute(rebuild_function(kpi=False))
    op.execute("DROP TRIGGER complaint_kpi_rollup_truncate ON complaint")
    op.execute("DROP FUNCTION complaint_kpi_rollup_truncated()")
    for name, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON complaint")
    op.execute("DROP FUNCTION complaint_kpi_rollup_row()")
    op.execute("DROP TABLE complaint_kpi_rollup")
