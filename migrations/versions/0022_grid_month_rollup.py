"""Grid-cell counts per month, for analyses over long windows.

``complaint_grid_rollup`` (0017) counts complaints per standard grid, UTM zone, city day, cell,
category and status. Over a national archive of a million complaints almost every complaint is
alone in its row (14,000 cells of 500 m × 1,100 days × categories × statuses), so a grid, hot
spot or emerging hot spot analysis over all years read about a million rows: the largest part
of its time (docs/benchmarks.md, Scale). ``complaint_grid_month_rollup`` counts them per
standard grid, UTM zone, **city month** and cell only: at most cells × months rows, whatever the
number of complaints. An analysis whose filter names no category and no status reads its whole
months there and only the days at the edges of its window from the daily table
(``analytics/rollups.py``).

It is kept exactly like the daily grid rollup: **row** triggers on ``complaint`` add and
subtract one in the writing transaction (an upsert, or an UPDATE re-evaluated on the newest
row version), a count that reaches 0 is deleted, and only a change of reception time or place
fires. ``rebuild_rollups()`` recounts it from the complaints with the others.

Revision ID: 0022_grid_month_rollup
Revises: 0021_kpi_rollup
Create Date: 2026-12-03
"""

import importlib

from alembic import op

revision = "0022_grid_month_rollup"
down_revision = "0021_kpi_rollup"
branch_labels = None
depends_on = None

GRIDS = importlib.import_module("migrations.versions.0017_grid_rollups")
KPI = importlib.import_module("migrations.versions.0021_kpi_rollup")
# The first day of the city month of {created}.
MONTH = "CAST(date_trunc('month', " + GRIDS.DAY + ") AS date)"

# The key of complaint {c}'s row in grid s (a row of grid_rollup_size), in its own zone.
ROLLED = ("s.shape, s.size_m, {c}.utm_epsg, " + MONTH.format(created="{c}.created_at")
          + ", grid_cell(s.shape, s.size_m, {c}.utm_epsg, {c}.utm_epsg, {c}.utm_x, {c}.utm_y, "
            "{c}.location)")
KEY = ("shape", "size_m", "srid", "month", "cell")
MATCHES = f"({', '.join(f'r.{k}' for k in KEY)}) = ({ROLLED.format(c='OLD')})"

TRIGGER_FUNCTION = f"""
    CREATE FUNCTION complaint_grid_month_rollup_row() RETURNS trigger LANGUAGE plpgsql
    SET jit = off AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.utm_epsg IS NOT NULL THEN
            UPDATE complaint_grid_month_rollup r SET complaints = r.complaints - 1
            FROM grid_rollup_size s WHERE {MATCHES};
            DELETE FROM complaint_grid_month_rollup r USING grid_rollup_size s
            WHERE {MATCHES} AND r.complaints = 0;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.utm_epsg IS NOT NULL THEN
            INSERT INTO complaint_grid_month_rollup AS r
            SELECT {ROLLED.format(c='NEW')}, 1 FROM grid_rollup_size s
            ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET complaints = r.complaints + 1;
        END IF;
        RETURN NULL;
    END $$"""

COLUMNS = ("created_at", "utm_epsg", "utm_x", "utm_y")
TRIGGERS = [
    # (name, definition)
    ("complaint_grid_month_rollup_insert", "AFTER INSERT ON complaint FOR EACH ROW"),
    ("complaint_grid_month_rollup_update", "AFTER UPDATE ON complaint FOR EACH ROW WHEN (("
     + ", ".join(f"OLD.{c}" for c in COLUMNS) + ") IS DISTINCT FROM ("
     + ", ".join(f"NEW.{c}" for c in COLUMNS) + "))"),
    ("complaint_grid_month_rollup_delete", "AFTER DELETE ON complaint FOR EACH ROW"),
]

# From the complaints (rebuild_rollups(), which recounts every table from them) ...
BACKFILL = f"""
    INSERT INTO complaint_grid_month_rollup
    SELECT {ROLLED.format(c='c')}, count(*)
    FROM complaint c CROSS JOIN grid_rollup_size s
    WHERE c.utm_epsg IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5"""
# ... and, when this migration runs, from the daily grid rollup, exact and far smaller.
FROM_DAYS = """
    INSERT INTO complaint_grid_month_rollup
    SELECT shape, size_m, srid, CAST(date_trunc('month', day) AS date), cell, sum(complaints)
    FROM complaint_grid_rollup GROUP BY 1, 2, 3, 4, 5"""


def backfills(month: bool) -> str:
    """The statements ``rebuild_rollups()`` runs before 0017's grid backfill, with (or
    without) this rollup's (0025 adds its own to them)."""
    _, area_backfill = GRIDS.DAILY.statements(GRIDS.PLACED_CALL)
    area_backfill = f"TRUNCATE complaint_kpi_rollup; {KPI.BACKFILL}; {area_backfill}"
    if month:
        area_backfill = f"TRUNCATE complaint_grid_month_rollup; {BACKFILL}; {area_backfill}"
    return area_backfill


def rebuild_function(month: bool) -> str:
    """``rebuild_rollups()`` of 0021, with (or without) this rollup."""
    return GRIDS.rebuild_function(backfills(month))


def upgrade() -> None:
    op.execute("""
        CREATE TABLE complaint_grid_month_rollup (
            shape text NOT NULL,
            size_m float8 NOT NULL,
            srid integer NOT NULL,  -- the UTM zone the cell is laid out in
            month date NOT NULL,  -- the first day of the month, in the city's time zone
            cell bigint NOT NULL,  -- grid_cell(): i and j packed
            complaints integer NOT NULL CHECK (complaints >= 0),
            -- the counts in the key's index too: a grid over months is an index-only scan
            PRIMARY KEY (shape, size_m, srid, month, cell) INCLUDE (complaints)
        )""")
    op.execute(FROM_DAYS)
    op.execute("ANALYZE complaint_grid_month_rollup")
    op.execute(TRIGGER_FUNCTION)
    for name, definition in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {definition} "
                   f"EXECUTE FUNCTION complaint_grid_month_rollup_row()")
    op.execute("""
        CREATE FUNCTION complaint_grid_month_rollup_truncated() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN TRUNCATE complaint_grid_month_rollup; RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER complaint_grid_month_rollup_truncate AFTER TRUNCATE ON complaint "
               "FOR EACH STATEMENT EXECUTE FUNCTION complaint_grid_month_rollup_truncated()")
    op.execute(rebuild_function(month=True))


def downgrade() -> None:
    op.execute(rebuild_function(month=False))
    op.execute("DROP TRIGGER complaint_grid_month_rollup_truncate ON complaint")
    op.execute("DROP FUNCTION complaint_grid_month_rollup_truncated()")
    for name, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON complaint")
    op.execute("DROP FUNCTION complaint_grid_month_rollup_row()")
    op.execute("DROP TABLE complaint_grid_month_rollup")
