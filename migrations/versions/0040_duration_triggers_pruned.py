"""The triggers of the three monthly-partitioned rollups of durations find a complaint's old
rows in their month's partition alone.

When a complaint's duration, status, category or reception changes, the row triggers of
``complaint_duration_rollup`` (0025), ``complaint_duration_fine_rollup`` (0038) and
``complaint_area_duration_values`` (0032) take its old rows away: an ``UPDATE … FROM`` and a
``DELETE … USING`` joined to the old rows, a subquery. Since those tables were partitioned by
month (0036, 0038), PostgreSQL can no longer prune such a statement when planning it (the
month comes from the subquery), so each plans every partition, some sixty a table, even when
the complaint had no duration to take away: a first action recorded cost 91 ms at 1M
complaints with the rollups' triggers on, 2.8 ms with them off (docs/benchmarks.md, "eighth
pass"), nearly all of it planning.

The new row functions take each old row in a loop, with its key as the statement's
parameters: ``month = d.month`` (never NULL) prunes every partition but the month's when the
statement is planned, and a complaint without a duration runs no statement at all. The
additions are as before (``INSERT … ON CONFLICT``, routed to the month's partition when it
runs). The rows they keep are the same: ``tests/test_rollups.py`` compares them with its own
counts after every kind of write.

Revision ID: 0040_duration_triggers_pruned
Revises: 0039_duration_buckets_by_bytes
Create Date: 2026-12-07
"""

import importlib

from alembic import op

revision = "0040_duration_triggers_pruned"
down_revision = "0039_duration_buckets_by_bytes"
branch_labels = None
depends_on = None

DURATIONS = importlib.import_module("migrations.versions.0025_duration_rollup")
VALUES = importlib.import_module("migrations.versions.0032_area_duration_values")
FINE = importlib.import_module("migrations.versions.0038_fine_duration_rollup")


def row_function(table: str, rows: str, key: tuple[str, ...], nullable: tuple[str, ...],
                 taken: str, emptied: str, added: str) -> str:
    """``<table>_row()``: each old row of the complaint (``rows`` of OLD) taken away from its
    row of ``table`` (``taken``: the SET clause; deleted when ``emptied``), one statement
    each, keyed by parameters; the new rows added by ``added`` (an INSERT of ``rows`` of
    NEW)."""
    matches = " AND ".join(f"r.{k} IS NOT DISTINCT FROM d.{k}" if k in nullable
                           else f"r.{k} = d.{k}" for k in key)
    return f"""
    CREATE OR REPLACE FUNCTION {table}_row() RETURNS trigger LANGUAGE plpgsql
    SET jit = off AS $$
    DECLARE
        d record;
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            FOR d IN {rows.format(c="OLD")} LOOP
                UPDATE {table} r SET {taken} WHERE {matches};
                DELETE FROM {table} r WHERE {matches} AND {emptied};
            END LOOP;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            {added}
        END IF;
        RETURN NULL;
    END $$"""


def histogram_function(table: str, rows: str) -> str:
    """The row function of a histogram of durations (0025's, or 0038's finer one)."""
    return row_function(
        table, rows, DURATIONS.KEY, ("status",), "complaints = r.complaints - 1",
        "r.complaints = 0",
        f"INSERT INTO {table} AS r SELECT *, 1 FROM ({rows.format(c='NEW')}) AS n "
        f"ON CONFLICT ({', '.join(DURATIONS.KEY)}) DO UPDATE "
        f"SET complaints = r.complaints + 1;")


FUNCTIONS = [
    histogram_function("complaint_duration_rollup", DURATIONS.ROWS),
    histogram_function(FINE.TABLE, FINE.finer(DURATIONS.ROWS)),
    row_function(
        "complaint_area_duration_values", VALUES.ROWS, VALUES.KEY,
        ("status", "district_id", "ward_id"), "hours = float8s_without(r.hours, d.hours)",
        "length(r.hours) = 0",
        f"INSERT INTO complaint_area_duration_values AS r "
        f"SELECT {', '.join(f'n.{k}' for k in VALUES.KEY)}, float8send(n.hours) "
        f"FROM ({VALUES.ROWS.format(c='NEW')}) AS n "
        f"ON CONFLICT ({', '.join(VALUES.KEY)}) DO UPDATE SET hours = r.hours || EXCLUDED.hours;"),
]
# What each replaced: 0025's, 0038's and 0032's functions.
BEFORE = [DURATIONS.TRIGGER_FUNCTION, FINE.TRIGGER_FUNCTION, VALUES.TRIGGER_FUNCTION]


def upgrade() -> None:
    for function in FUNCTIONS:
        op.execute(function)


def downgrade() -> None:
    for function in BEFORE:
        op.execute(function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
