"""Complaints per city day of reception, category, status and city day due, so that the
statistics' "overdue" over a long window sums rows instead of counting open complaints.

"Overdue" (``workflow/states.py``: open, with a due time, past it at the time asked) changes
with the clock, so the statistics' rollup (0021) cannot hold it: they counted it over the open
complaints, through ``complaint_due``. In a national deployment that is most of a year's
statistics: at 10 million complaints, 1.6 million open ones are read for each total and again
for each series, and the count grows with them. ``complaint_due_rollup`` counts complaints
per (city day received, category, status, city day due). A complaint due on a day before the
day of the time asked is past due whatever the hour; one due after that day is not; only the
complaints due on that very day are read one by one (``analytics/kpi.py``). The rows are at
most days × categories × statuses × the few days a category's complaints fall due after their
reception, however many complaints.

Which statuses are open stays in workflow/states.py, applied when the rollup is read: every
status is counted. Complaints without a due time are not (never overdue). Kept like the
statistics' counts: row constraint triggers on ``complaint``, run at commit (0027), adding and
subtracting one (a count that reaches 0 is deleted), fired only by a change of a column read
here; TRUNCATE empties it; ``rebuild_rollups()`` recounts it with the others.

Revision ID: 0030_due_rollup
Revises: 0029_area_month_rollup
Create Date: 2026-12-04
"""

import importlib

from alembic import op

revision = "0030_due_rollup"
down_revision = "0029_area_month_rollup"
branch_labels = None
depends_on = None

GRIDS = importlib.import_module("migrations.versions.0017_grid_rollups")
AREAS = importlib.import_module("migrations.versions.0028_area_kpi_rollup")

KEY = ("day", "category_code", "status", "due_day")
# The key of complaint {c}'s row.
ROW = ", ".join((GRIDS.DAY.format(created="{c}.created_at"), "{c}.category_code",
                 "{c}.status", GRIDS.DAY.format(created="{c}.due_at")))
MATCHES = f"({', '.join(f'r.{k}' for k in KEY)}) = ({ROW.format(c='OLD')})"

TRIGGER_FUNCTION = f"""
    CREATE FUNCTION complaint_due_rollup_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.due_at IS NOT NULL THEN
            UPDATE complaint_due_rollup r SET complaints = r.complaints - 1 WHERE {MATCHES};
            DELETE FROM complaint_due_rollup r WHERE {MATCHES} AND r.complaints = 0;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.due_at IS NOT NULL THEN
            INSERT INTO complaint_due_rollup AS r VALUES ({ROW.format(c="NEW")}, 1)
            ON CONFLICT ({", ".join(KEY)}) DO UPDATE SET complaints = r.complaints + 1;
        END IF;
        RETURN NULL;
    END $$"""

COLUMNS = ("created_at", "category_code", "status", "due_at")
TRIGGERS = [
    # (name, definition): constraint triggers, run at commit (0027)
    ("complaint_due_rollup_insert", "AFTER INSERT ON complaint" + AREAS.DEFERRED),
    ("complaint_due_rollup_update", "AFTER UPDATE ON complaint" + AREAS.DEFERRED + " WHEN (("
     + ", ".join(f"OLD.{c}" for c in COLUMNS) + ") IS DISTINCT FROM ("
     + ", ".join(f"NEW.{c}" for c in COLUMNS) + "))"),
    ("complaint_due_rollup_delete", "AFTER DELETE ON complaint" + AREAS.DEFERRED),
]

BACKFILL = f"""
    INSERT INTO complaint_due_rollup
    SELECT {ROW.format(c="c")}, count(*) FROM complaint c WHERE c.due_at IS NOT NULL
    GROUP BY 1, 2, 3, 4"""


def rebuild_function(due: bool) -> str:
    """``rebuild_rollups()`` of 0028, with (or without) this rollup."""
    backfills = AREAS.backfills(areas=True)
    if due:
        backfills = f"TRUNCATE complaint_due_rollup; {BACKFILL}; {backfills}"
    return GRIDS.rebuild_function(backfills)


def upgrade() -> None:
    op.execute("""
        CREATE TABLE complaint_due_rollup (
            day date NOT NULL,  -- received, in the city's time zone
            category_code text NOT NULL,
            status text NOT NULL,
            due_day date NOT NULL,  -- the day of the due time, in the city's time zone
            complaints integer NOT NULL CHECK (complaints >= 0),
            -- a count's update changes no indexed column: a HOT update, the index untouched;
            -- status first: "overdue" reads the open statuses' rows of a window alone
            UNIQUE (status, day, category_code, due_day)
        )""")
    op.execute(BACKFILL)
    op.execute("ANALYZE complaint_due_rollup")
    op.execute(TRIGGER_FUNCTION)
    for name, definition in TRIGGERS:
        op.execute(f"CREATE CONSTRAINT TRIGGER {name} {definition} "
                   f"EXECUTE FUNCTION complaint_due_rollup_row()")
    op.execute("""
        CREATE FUNCTION complaint_due_rollup_truncated() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN TRUNCATE complaint_due_rollup; RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER complaint_due_rollup_truncate AFTER TRUNCATE ON complaint "
               "FOR EACH STATEMENT EXECUTE FUNCTION complaint_due_rollup_truncated()")
    op.execute(rebuild_function(due=True))


def downgrade() -> None:
    op.execute(rebuild_function(due=False))
    op.execute("DROP TRIGGER complaint_due_rollup_truncate ON complaint")
    op.execute("DROP FUNCTION complaint_due_rollup_truncated()")
    for name, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON complaint")
    op.execute("DROP FUNCTION complaint_due_rollup_row()")
    op.execute("DROP TABLE complaint_due_rollup")
