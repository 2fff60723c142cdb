"""The statistics' two monthly rollups of durations, partitioned by month.

A statistics request over a long window reads, for its percentiles, the window's rows of
``complaint_area_duration_values`` (0032: the durations packed per city month and routed
area) and of ``complaint_duration_rollup`` (0025: their histograms per city month and
category). Both are read by month, but a month's rows lay anywhere in a table kept by
triggers, so each read scanned the whole table: every month of every year for a rolling
year's twelve. Partitioned by month (declarative, RANGE on ``month``), a window reads its
months' partitions and no others, and the plans show it (tests/test_partitions.py).

* A partition per month, ``<table>_m<yyyymm>``, for every month from the oldest row's (or
  three years back, as 0018 does for the years) through two years ahead, and
  ``<table>_default`` for any other month: a write never fails for want of a partition.
  Their indexes are named as 0018 names the complaints' (``name_partition_indexes``).
  ``add_monthly_partitions(table, first, last)`` creates more; ``phananh db partitions``
  calls it beside the complaints' yearly ones.
* The rows are moved in place: the old table renamed, the partitioned one created like it
  (columns, checks, its unique key under the same name: the triggers' ``ON CONFLICT``
  names its columns), the rows copied, the old table dropped. The triggers and
  ``rebuild_rollups()`` name the table, so they write to the partitioned one unchanged. The
  downgrade does the reverse.

Revision ID: 0036_monthly_rollup_partitions
Revises: 0035_bucket_indexes_by_time
Create Date: 2026-12-06
"""

from alembic import op
from sqlalchemy import text

revision = "0036_monthly_rollup_partitions"
down_revision = "0035_bucket_indexes_by_time"
branch_labels = None
depends_on = None

TABLES = ("complaint_area_duration_values", "complaint_duration_rollup")
MONTHS_BACK, MONTHS_AHEAD = 36, 24

ADD_PARTITIONS = """
    CREATE FUNCTION add_monthly_partitions(parent text, first_month date, last_month date)
    RETURNS SETOF text LANGUAGE plpgsql AS $$
    -- Create the missing monthly partitions <parent>_m<yyyymm> of the months from first_month
    -- through last_month, returning their names. Rows already in <parent>_default for such
    -- a month stop it (PostgreSQL refuses the partition): create partitions ahead of time.
    DECLARE
        month date;
        name text;
    BEGIN
        FOR month IN SELECT CAST(m AS date) FROM generate_series(
                date_trunc('month', first_month), last_month, interval '1 month') AS m LOOP
            name := format('%s_m%s', parent, to_char(month, 'YYYYMM'));
            CONTINUE WHEN to_regclass(name) IS NOT NULL;
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                           name, parent, month, CAST(month + interval '1 month' AS date));
            PERFORM name_partition_indexes(name::regclass);
            RETURN NEXT name;
        END LOOP;
    END $$"""


def _unique_key(table: str) -> tuple[str, str]:
    """The name and definition of ``table``'s unique key."""
    name, definition = op.get_bind().execute(text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:t AS regclass) AND contype = 'u'"), {"t": table}).one()
    return name, definition


def add_partitions(table: str, rows_of: str) -> None:
    """The monthly partitions of ``table`` (partitioned by month, empty) from the oldest
    month of ``rows_of``'s rows (or three years back) through two years ahead, and its
    default partition."""
    op.execute(f"""
        SELECT add_monthly_partitions('{table}',
            least((SELECT min(month) FROM {rows_of}),
                  CAST(now() - interval '{MONTHS_BACK} months' AS date)),
            CAST(now() + interval '{MONTHS_AHEAD} months' AS date))""")
    op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    op.execute(f"SELECT name_partition_indexes('{table}_default')")


def _move(table: str, partitioned: bool) -> None:
    """``table``'s rows moved into a new table of the same name, partitioned by month or
    plain."""
    key, definition = _unique_key(table)
    old = f"{table}_{'unpartitioned' if partitioned else 'partitioned'}"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {key} TO {old}_key")
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
               + (" PARTITION BY RANGE (month)" if partitioned else ""))
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {key} {definition}")
    if partitioned:
        add_partitions(table, rows_of=old)
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")
    op.execute(f"ANALYZE {table}")


def upgrade() -> None:
    op.execute(ADD_PARTITIONS)
    for table in TABLES:
        _move(table, partitioned=True)


def downgrade() -> None:
    for table in TABLES:
        _move(table, partitioned=False)
    op.execute("DROP FUNCTION add_monthly_partitions(text, date, date)")
