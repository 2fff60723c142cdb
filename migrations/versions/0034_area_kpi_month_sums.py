"""The statistics' monthly counts per routed area as the five sums the breakdowns read.

0033's ``complaint_area_kpi_month_rollup`` counted complaints per city month, status, rating,
routed district and ward: at 10 million complaints a year's district and ward breakdowns
summed 272,000 of its rows (some eight a ward and month), 0.33 s of the 1.7 s they took
(docs/benchmarks.md, "Ten million complaints again"). The breakdowns need five figures of
each ward and month: received, processed, rated, positive and processed late. The table now
holds those, one row per city month, routed district and ward: a year is 33,000 rows, however
many complaints.

The price: which statuses count as processed and which ratings as positive are workflow/
states.py's rules (``PROCESSED``, ``POSITIVE_RATINGS``), and this table counts by them, frozen
below as they stand today. tests/test_rollups.py recounts the table by the rules the README
states (its "Statistics definitions") after every kind of write, so a change of a rule fails
there until a migration recounts this table by the new one. (The daily rollups keep the
status and the rating, so every other figure applies the rules when it reads.) A filter that
names statuses is answered from the daily rollup.

Kept like 0033's: row constraint triggers on ``complaint`` run at commit, fired by a change of
a column counted here; a complaint's old row leaves its sums, its new row joins; a row whose
count reaches 0 is deleted. TRUNCATE empties it; ``rebuild_rollups()`` recounts it.

Revision ID: 0034_area_kpi_month_sums
Revises: 0033_area_kpi_month_rollup
Create Date: 2026-12-06
"""

import importlib

from alembic import op

revision = "0034_area_kpi_month_sums"
down_revision = "0033_area_kpi_month_rollup"
branch_labels = None
depends_on = None

MONTHS = importlib.import_module("migrations.versions.0033_area_kpi_month_rollup")

# workflow/states.py's rules on 6 December 2026.
PROCESSED = "{c}.status IN ('RESOLVED', 'REJECTED', 'DUPLICATE', 'CLOSED')"
POSITIVE = "{c}.rating IN ('SATISFIED', 'ACCEPTED')"
# What complaint {c} adds to each sum.
SUMS = {
    "received": "1",
    "processed": f"CAST({PROCESSED} AS integer)",
    "rated": "CAST({c}.rating IS NOT NULL AS integer)",
    "positive": f"CAST(coalesce({POSITIVE}, false) AS integer)",
    "processed_late": f"CAST({PROCESSED} AND coalesce({{c}}.resolved_at > {{c}}.due_at, false)"
                      " AS integer)",
}
KEY = ("month", *MONTHS.AREAS.AREAS)
# The key of complaint {c}'s row: its city month and routed areas.
ROW = ", ".join((MONTHS.VALUES.MONTHS.MONTH.format(created="{c}.created_at"),
                 *(f"{{c}}.{a}" for a in MONTHS.AREAS.AREAS)))
MATCHES = (f"r.month = {MONTHS.VALUES.MONTHS.MONTH.format(created='OLD.created_at')}"
           + "".join(f" AND r.{a} IS NOT DISTINCT FROM OLD.{a}" for a in MONTHS.AREAS.AREAS))

TRIGGER_FUNCTION = f"""
    CREATE FUNCTION complaint_area_kpi_month_rollup_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE complaint_area_kpi_month_rollup r
            SET {", ".join(f"{name} = r.{name} - {value.format(c='OLD')}"
                           for name, value in SUMS.items())}
            WHERE {MATCHES};
            DELETE FROM complaint_area_kpi_month_rollup r WHERE {MATCHES} AND r.received = 0;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO complaint_area_kpi_month_rollup AS r
            VALUES ({ROW.format(c="NEW")}, {", ".join(v.format(c='NEW') for v in SUMS.values())})
            ON CONFLICT ({", ".join(KEY)}) DO UPDATE
            SET {", ".join(f"{name} = r.{name} + EXCLUDED.{name}" for name in SUMS)};
        END IF;
        RETURN NULL;
    END $$"""

BACKFILL = f"""
    INSERT INTO complaint_area_kpi_month_rollup
    SELECT {ROW.format(c="c")}, {", ".join(f"sum({v.format(c='c')})" for v in SUMS.values())}
    FROM complaint c GROUP BY 1, 2, 3"""


def backfills() -> str:
    """The recounts of ``rebuild_rollups()`` of 0033, recounting this table instead of
    0033's."""
    return f"TRUNCATE complaint_area_kpi_month_rollup; {BACKFILL}; {MONTHS.VALUES.backfills(True)}"


def rebuild_function() -> str:
    """``rebuild_rollups()`` of 0033, recounting this table instead of 0033's."""
    return MONTHS.VALUES.DUE.GRIDS.rebuild_function(backfills())


def upgrade() -> None:
    MONTHS.downgrade()
    op.execute("""
        CREATE TABLE complaint_area_kpi_month_rollup (
            month date NOT NULL,  -- the first day of the month, in the city's time zone
            district_id integer,  -- the routed district and ward (NULL: none)
            ward_id integer,
            received integer NOT NULL CHECK (received >= 0),
            processed integer NOT NULL CHECK (processed BETWEEN 0 AND received),
            rated integer NOT NULL CHECK (rated BETWEEN 0 AND received),
            positive integer NOT NULL CHECK (positive BETWEEN 0 AND rated),
            processed_late integer NOT NULL CHECK (processed_late BETWEEN 0 AND processed),
            UNIQUE NULLS NOT DISTINCT (month, district_id, ward_id)
        )""")
    op.execute(BACKFILL)
    op.execute("ANALYZE complaint_area_kpi_month_rollup")
    MONTHS.create_triggers("complaint_area_kpi_month_rollup", TRIGGER_FUNCTION, MONTHS.TRIGGERS)
    op.execute(rebuild_function())


def downgrade() -> None:
    MONTHS.drop_triggers("complaint_area_kpi_month_rollup", MONTHS.TRIGGERS)
    op.execute("DROP TABLE complaint_area_kpi_month_rollup")
    MONTHS.upgrade()
