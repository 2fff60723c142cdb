"""Open complaints per city month received, routed district and ward, and city month due, so
that the district and ward breakdowns' "overdue" over a long window sums rows instead of
counting open complaints.

"Overdue" (``workflow/states.py``: open, with a due time, past it at the time asked) changes
with the clock. In total and per category it is summed from 0030's rollup of due days; per
district and ward it was counted over the open complaints, through ``complaint_due``: at 10
million complaints the archive's breakdowns read 1.6 million of them, 0.84 s of a request
(docs/benchmarks.md, "Breakdowns at 10M, third pass"), and the count grows with them.
``complaint_area_due_rollup`` counts the open complaints that have a due time per (city month
received, routed district, routed ward, city month due). An open complaint due in a month
before the month of the time asked is past due whatever the day; one due in a later month is
not; only those due in that very month are read one by one (``analytics/kpi.py``). A
complaint falls due days after its reception, so a ward's month of complaints makes a row or
two: at 10 million complaints some 130,000 rows for three years, however many are open.

Which statuses are open is workflow/states.py's rule (``OPEN``); this table counts by it,
frozen below as it stands today, as 0034 freezes "processed": a per-status key would keep
most of the closed complaints' rows too. tests/test_rollups.py recounts the table by the rule
the README states (its "Statistics definitions") after every kind of write, so a change of
the rule fails there until a migration recounts this table by the new one.

Kept like the other rollups: row constraint triggers on ``complaint``, run at commit (0027),
fired by a change of a column counted here; a complaint's old row leaves its count and its new
row joins one; a count that reaches 0 is deleted. TRUNCATE empties it; ``rebuild_rollups()``
recounts it with the others.

Revision ID: 0037_area_due_rollup
Revises: 0036_monthly_rollup_partitions
Create Date: 2026-12-06
"""

import importlib

from alembic import op

revision = "0037_area_due_rollup"
down_revision = "0036_monthly_rollup_partitions"
branch_labels = None
depends_on = None

SUMS = importlib.import_module("migrations.versions.0034_area_kpi_month_sums")
MONTH = SUMS.MONTHS.VALUES.MONTHS.MONTH  # 0022: the city month of {created}
AREAS = SUMS.MONTHS.AREAS  # 0028

# workflow/states.py's OPEN on 6 December 2026: the complaints counted are open and have a
# due time.
COUNTED = ("{c}.status IN ('RECEIVED', 'ASSIGNED', 'IN_PROGRESS', 'REOPENED') "
           "AND {c}.due_at IS NOT NULL")
KEY = ("month", *AREAS.AREAS, "due_month")
# The key of complaint {c}'s row.
ROW = ", ".join((MONTH.format(created="{c}.created_at"), *(f"{{c}}.{a}" for a in AREAS.AREAS),
                 MONTH.format(created="{c}.due_at")))
MATCHES = (f"r.month = {MONTH.format(created='OLD.created_at')}"
           + "".join(f" AND r.{a} IS NOT DISTINCT FROM OLD.{a}" for a in AREAS.AREAS)
           + f" AND r.due_month = {MONTH.format(created='OLD.due_at')}")

TRIGGER_FUNCTION = f"""
    CREATE FUNCTION complaint_area_due_rollup_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND {COUNTED.format(c="OLD")} THEN
            UPDATE complaint_area_due_rollup r SET complaints = r.complaints - 1
            WHERE {MATCHES};
            DELETE FROM complaint_area_due_rollup r WHERE {MATCHES} AND r.complaints = 0;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND {COUNTED.format(c="NEW")} THEN
            INSERT INTO complaint_area_due_rollup AS r VALUES ({ROW.format(c="NEW")}, 1)
            ON CONFLICT ({", ".join(KEY)}) DO UPDATE SET complaints = r.complaints + 1;
        END IF;
        RETURN NULL;
    END $$"""

COLUMNS = ("created_at", "status", "due_at", *AREAS.AREAS)
TRIGGERS = SUMS.MONTHS.constraint_triggers("complaint_area_due_rollup", COLUMNS)

BACKFILL = f"""
    INSERT INTO complaint_area_due_rollup
    SELECT {ROW.format(c="c")}, count(*) FROM complaint c WHERE {COUNTED.format(c="c")}
    GROUP BY 1, 2, 3, 4"""


def backfills() -> str:
    """The statements of ``rebuild_rollups()`` that recount the rollups (0034's, and this
    table's)."""
    return f"TRUNCATE complaint_area_due_rollup; {BACKFILL}; {SUMS.backfills()}"


def rebuild_function() -> str:
    """``rebuild_rollups()`` of 0034, recounting this table too."""
    return SUMS.MONTHS.VALUES.DUE.GRIDS.rebuild_function(backfills())


def upgrade() -> None:
    op.execute("""
        CREATE TABLE complaint_area_due_rollup (
            month date NOT NULL,  -- received: the first day of the month, in the city's zone
            district_id integer,  -- the routed district and ward (NULL: none)
            ward_id integer,
            due_month date NOT NULL,  -- the first day of the month due, in the city's zone
            complaints integer NOT NULL CHECK (complaints >= 0),
            -- a count's update changes no indexed column: a HOT update, the index untouched
            UNIQUE NULLS NOT DISTINCT (month, district_id, ward_id, due_month)
        )""")
    op.execute(BACKFILL)
    op.execute("ANALYZE complaint_area_due_rollup")
    SUMS.MONTHS.create_triggers("complaint_area_due_rollup", TRIGGER_FUNCTION, TRIGGERS)
    op.execute(rebuild_function())


def downgrade() -> None:
    op.execute(SUMS.rebuild_function())
    SUMS.MONTHS.drop_triggers("complaint_area_due_rollup", TRIGGERS)
    op.execute("DROP TABLE complaint_area_due_rollup")
