"""Histograms of the statistics' durations per city month, so that their exact percentiles read
a few complaints instead of sorting a window's.

The statistics (``analytics/kpi.py``) report the median and the 90th percentile of the hours
to first action (over the complaints that have one) and to resolution (over the processed
ones), as PostgreSQL's ``percentile_cont`` computes them: two values of known rank,
interpolated. Sorting every duration of a window to find them cost most of a long window's
statistics (docs/benchmarks.md, Scale). ``complaint_duration_rollup`` counts durations per
**city month**, category, measure and bucket, where ``duration_bucket(hours)`` cuts the line
into ranges of one 32nd of a doubling (the float's sign, exponent and five first mantissa
bits: exact and in the order of the values, whatever the rounding of a logarithm). From the
counts of a window's buckets the statistics know which bucket holds each rank and how many
durations lie below it; they then read that bucket's complaints alone, in order, through the
indexes ``complaint_first_action_bucket`` and ``complaint_resolution_bucket`` (category,
bucket, hours): a bucket's population, not the window's.

The resolution rows keep the complaint's status, so that the rule of which statuses are
"processed" stays in workflow/states.py and is applied when the rollup is read; the first
action counts every status alike (status NULL). ``duration_keys()`` is the one statement of
which rows a complaint adds, for the triggers, the backfill and the statistics' reads of the
days at a window's edges.

Kept like the statistics' counts (0021): **row** triggers on ``complaint`` add and subtract one
in the writing transaction (an upsert, or an UPDATE re-evaluated on the newest row version),
a count that reaches 0 is deleted, and only a change of a column the rollup reads fires.
TRUNCATE empties it; ``rebuild_rollups()`` recounts it with the others. ``complaint`` is
partitioned by year (0018): each year's bucket indexes are named after the partitioned ones.

The statistics' other reads of the complaints over a long window, "overdue" in total, per
category and per period (it changes with the clock, so no rollup holds it), go through the
open complaints' index ``complaint_due`` (0004); it now holds their reception time and
category too, so those counts read the index alone instead of a heap page per open complaint.

Revision ID: 0025_duration_rollup
Revises: 0024_folded_description
Create Date: 2026-12-03
"""

import importlib

from alembic import op

revision = "0025_duration_rollup"
down_revision = "0024_folded_description"
branch_labels = None
depends_on = None

GRIDS = importlib.import_module("migrations.versions.0017_grid_rollups")
MONTHS = importlib.import_module("migrations.versions.0022_grid_month_rollup")

# The float's 64 bits as an integer whose order is the values' (negative ones' magnitude bits
# flipped), shifted to keep the sign, the exponent and five mantissa bits. An SQL expression
# PostgreSQL inlines, in the indexes as in the queries.
BITS = "CAST(CAST('x' || encode(float8send(hours), 'hex') AS bit(64)) AS bigint)"
BUCKET_FUNCTION = f"""
    CREATE FUNCTION duration_bucket(hours float8) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CAST(({BITS} # (({BITS} >> 63) & 9223372036854775807)) >> 47 AS integer)
    $$"""
KEYS_FUNCTION = """
    CREATE FUNCTION duration_keys(complaint_status text, first_action float8,
                                  resolution float8)
    RETURNS TABLE (measure text, status text, bucket integer)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT m.measure, m.status, duration_bucket(m.hours)
        FROM (VALUES ('first_action', NULL, first_action),
                     ('resolution', complaint_status, resolution))
             AS m(measure, status, hours)
        WHERE m.hours IS NOT NULL
    $$"""
# The rows of complaint {c}: month, category, then duration_keys' columns.
ROWS = ("SELECT " + MONTHS.MONTH.format(created="{c}.created_at")
        + " AS month, {c}.category_code, k.measure, k.status, k.bucket"
        + " FROM duration_keys({c}.status, {c}.hours_to_first_action, {c}.hours_to_resolution)"
        + " AS k")
KEY = ("measure", "month", "category_code", "status", "bucket")
MATCHES = ("(r.month, r.category_code, r.measure, r.bucket) = (o.month, o.category_code, "
           "o.measure, o.bucket) AND r.status IS NOT DISTINCT FROM o.status")

TRIGGER_FUNCTION = f"""
    CREATE FUNCTION complaint_duration_rollup_row() RETURNS trigger LANGUAGE plpgsql
    SET jit = off AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE complaint_duration_rollup r SET complaints = r.complaints - 1
            FROM ({ROWS.format(c="OLD")}) AS o WHERE {MATCHES};
            DELETE FROM complaint_duration_rollup r USING ({ROWS.format(c="OLD")}) AS o
            WHERE {MATCHES} AND r.complaints = 0;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO complaint_duration_rollup AS r
            SELECT *, 1 FROM ({ROWS.format(c="NEW")}) AS n
            ON CONFLICT ({", ".join(KEY)}) DO UPDATE SET complaints = r.complaints + 1;
        END IF;
        RETURN NULL;
    END $$"""

COLUMNS = ("created_at", "category_code", "status", "hours_to_first_action",
           "hours_to_resolution")
TRIGGERS = [
    # (name, definition)
    ("complaint_duration_rollup_insert", "AFTER INSERT ON complaint FOR EACH ROW"),
    ("complaint_duration_rollup_update", "AFTER UPDATE ON complaint FOR EACH ROW WHEN (("
     + ", ".join(f"OLD.{c}" for c in COLUMNS) + ") IS DISTINCT FROM ("
     + ", ".join(f"NEW.{c}" for c in COLUMNS) + "))"),
    ("complaint_duration_rollup_delete", "AFTER DELETE ON complaint FOR EACH ROW"),
]

BACKFILL = f"""
    INSERT INTO complaint_duration_rollup
    SELECT r.*, count(*) FROM complaint c CROSS JOIN LATERAL ({ROWS.format(c="c")}) AS r
    GROUP BY 1, 2, 3, 4, 5"""

# The complaints of one bucket in order of the hours, within a category (the statistics'
# second step); the time of reception (and the status) for their filter, index-only.
INDEXES = {
    "complaint_first_action_bucket": "(category_code, duration_bucket(hours_to_first_action), "
                                     "hours_to_first_action) INCLUDE (created_at) "
                                     "WHERE hours_to_first_action IS NOT NULL",
    "complaint_resolution_bucket": "(category_code, duration_bucket(hours_to_resolution), "
                                   "hours_to_resolution) INCLUDE (created_at, status) "
                                   "WHERE hours_to_resolution IS NOT NULL",
}


# workflow/states.py's OPEN, as 0004 wrote it (a migration is a fixed point).
DUE = "CREATE INDEX complaint_due ON complaint (due_at) {include} WHERE status IN " \
      "('RECEIVED', 'ASSIGNED', 'IN_PROGRESS', 'REOPENED')"


def due_index(covering: bool) -> None:
    """``complaint_due`` with (or, as 0004 made it, without) the overdue counts' columns."""
    op.execute("DROP INDEX complaint_due")
    op.execute(DUE.format(include="INCLUDE (created_at, category_code)" if covering else ""))


def rebuild_function(durations: bool) -> str:
    """``rebuild_rollups()`` of 0022, with (or without) this rollup."""
    backfills = MONTHS.backfills(month=True)
    if durations:
        backfills = f"TRUNCATE complaint_duration_rollup; {BACKFILL}; {backfills}"
    return GRIDS.rebuild_function(backfills)


def upgrade() -> None:
    op.execute(BUCKET_FUNCTION)
    op.execute(KEYS_FUNCTION)
    op.execute("""
        CREATE TABLE complaint_duration_rollup (
            month date NOT NULL,  -- the first day of the month, in the city's time zone
            category_code text NOT NULL,
            measure text NOT NULL CHECK (measure IN ('first_action', 'resolution')),
            status text,  -- resolution: the complaint's; first action: NULL
            bucket integer NOT NULL,  -- duration_bucket(hours)
            complaints integer NOT NULL CHECK (complaints >= 0),
            -- a count's update changes no indexed column: a HOT update, the index untouched
            -- one measure's rows first: the total's two percentiles read one each
            UNIQUE NULLS NOT DISTINCT (measure, month, category_code, status, bucket)
        )""")
    op.execute(BACKFILL)
    op.execute("ANALYZE complaint_duration_rollup")
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON complaint {definition}")
    due_index(covering=True)
    op.execute("SELECT name_partition_indexes(inhrelid::regclass) FROM pg_inherits "
               "WHERE inhparent = 'complaint'::regclass")
    op.execute(TRIGGER_FUNCTION)
    for name, definition in TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {definition} "
                   f"EXECUTE FUNCTION complaint_duration_rollup_row()")
    op.execute("""
        CREATE FUNCTION complaint_duration_rollup_truncated() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN TRUNCATE complaint_duration_rollup; RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER complaint_duration_rollup_truncate AFTER TRUNCATE ON complaint "
               "FOR EACH STATEMENT EXECUTE FUNCTION complaint_duration_rollup_truncated()")
    op.execute(rebuild_function(durations=True))


def downgrade() -> None:
    op.execute(rebuild_function(durations=False))
    op.execute("DROP TRIGGER complaint_duration_rollup_truncate ON complaint")
    op.execute("DROP FUNCTION complaint_duration_rollup_truncated()")
    for name, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON complaint")
    op.execute("DROP FUNCTION complaint_duration_rollup_row()")
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
    due_index(covering=False)
    op.execute("SELECT name_partition_indexes(inhrelid::regclass) FROM pg_inherits "
               "WHERE inhparent = 'complaint'::regclass")
    op.execute("DROP TABLE complaint_duration_rollup")
    op.execute("DROP FUNCTION duration_keys(text, float8, float8)")
    op.execute("DROP FUNCTION duration_bucket(float8)")
