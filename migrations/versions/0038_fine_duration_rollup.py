"""A finer histogram of the statistics' durations, read only inside the large buckets that
hold the ranks asked for, so that a percentile reads an eighth of such a bucket's complaints.

The statistics' percentiles over whole months (``analytics/durations.py``) sum
``complaint_duration_rollup`` (0025: per city month, category, measure and status, in
buckets of a 32nd of a doubling) to find the bucket holding each rank, then read that
bucket's complaints in the window, in order, through the bucket indexes (0035). The sums
cost the same whatever the number of complaints (their rows are months × categories ×
buckets), but a bucket's complaints grow with them: at 10 million complaints, a three-year
window's median bucket holds some 200,000, and the statement of a summary's and its
categories' percentiles took 0.6 s, most of it reading buckets (docs/benchmarks.md,
"Breakdowns at 10M, sixth pass").

``complaint_duration_fine_rollup`` counts the same durations in buckets eight times finer
(``duration_fine_bucket``: the float's sign, exponent and eight first mantissa bits, so
that ``duration_fine_bucket(h) >> 3 = duration_bucket(h)``). Summing all of it would cost
eight times the coarse sums; it is summed only within the coarse buckets that hold a rank
(a few hundred rows each), which gives the fine bucket holding the rank and the number of
durations below it, for buckets large enough to be worth it (``analytics/durations.py``).
Beside 0035's bucket indexes on the complaints, ``complaint_first_action_fine_bucket`` and
``complaint_resolution_fine_bucket`` are keyed by the fine bucket: a large bucket's ranks are
read from a fine bucket's complaints, a small bucket's from its own, both bounded by the
window's reception times.

Kept as 0025 keeps the coarse one, by the same statements with the fine bucket
(``duration_fine_keys``): row constraint triggers run at commit (0027), a count that
reaches 0 is deleted, TRUNCATE empties it, ``rebuild_rollups()`` recounts it. Partitioned by
month as 0036 partitions the coarse one.

Revision ID: 0038_fine_duration_rollup
Revises: 0037_area_due_rollup
Create Date: 2026-12-06
"""

import importlib

from alembic import op

revision = "0038_fine_duration_rollup"
down_revision = "0037_area_due_rollup"
branch_labels = None
depends_on = None

DURATIONS = importlib.import_module("migrations.versions.0025_duration_rollup")
BUCKET_INDEXES = importlib.import_module("migrations.versions.0035_bucket_indexes_by_time")
PARTITIONS = importlib.import_module("migrations.versions.0036_monthly_rollup_partitions")
DUE = importlib.import_module("migrations.versions.0037_area_due_rollup")
TRIGGER_HELPERS = DUE.SUMS.MONTHS  # 0033's constraint_triggers, create_ and drop_triggers

TABLE = "complaint_duration_fine_rollup"
FINE_BITS = 44  # 0025's 47, less three: eight fine buckets to a coarse one


def finer(statement: str) -> str:
    """One of 0025's statements of the coarse histogram, about the fine one: its table, its
    keys function, its bucket."""
    return (statement.replace("complaint_duration_rollup", TABLE)
            .replace("duration_keys(", "duration_fine_keys(")
            .replace("duration_bucket(", "duration_fine_bucket("))


BUCKET_FUNCTION = finer(DURATIONS.BUCKET_FUNCTION).replace(">> 47", f">> {FINE_BITS}")
KEYS_FUNCTION = finer(DURATIONS.KEYS_FUNCTION)
TRIGGER_FUNCTION = finer(DURATIONS.TRIGGER_FUNCTION)
BACKFILL = finer(DURATIONS.BACKFILL)
TRIGGERS = TRIGGER_HELPERS.constraint_triggers(TABLE, DURATIONS.COLUMNS)
# Beside 0035's: a bucket of few durations is read whole through those.
INDEXES = {name.replace("_bucket", "_fine_bucket"): finer(definition)
           for name, definition in BUCKET_INDEXES.INDEXES.items()}


def rebuild_function() -> str:
    """``rebuild_rollups()`` of 0037, recounting this table too."""
    return DUE.SUMS.MONTHS.VALUES.DUE.GRIDS.rebuild_function(
        f"TRUNCATE {TABLE}; {BACKFILL}; {DUE.backfills()}")


def upgrade() -> None:
    assert ">> 47" in DURATIONS.BUCKET_FUNCTION  # the coarse bucket this one refines
    op.execute(BUCKET_FUNCTION)
    op.execute(KEYS_FUNCTION)
    op.execute(f"""
        CREATE TABLE {TABLE} (
            month date NOT NULL,  -- the first day of the month, in the city's time zone
            category_code text NOT NULL,
            measure text NOT NULL CHECK (measure IN ('first_action', 'resolution')),
            status text,  -- resolution: the complaint's; first action: NULL
            bucket integer NOT NULL,  -- duration_fine_bucket(hours)
            complaints integer NOT NULL CHECK (complaints >= 0),
            -- read a coarse bucket's eight fine ones at a time, of a measure and categories
            UNIQUE NULLS NOT DISTINCT (measure, category_code, bucket, status, month)
        ) PARTITION BY RANGE (month)""")
    PARTITIONS.add_partitions(TABLE, rows_of="complaint_duration_rollup")
    op.execute(BACKFILL)
    op.execute(f"ANALYZE {TABLE}")
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON complaint {definition}")
    op.execute("SELECT name_partition_indexes(inhrelid::regclass) FROM pg_inherits "
               "WHERE inhparent = 'complaint'::regclass")
    TRIGGER_HELPERS.create_triggers(TABLE, TRIGGER_FUNCTION, TRIGGERS)
    op.execute(rebuild_function())


def downgrade() -> None:
    op.execute(DUE.rebuild_function())
    TRIGGER_HELPERS.drop_triggers(TABLE, TRIGGERS)
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"DROP TABLE {TABLE}")
    op.execute("DROP FUNCTION duration_fine_keys(text, float8, float8)")
    op.execute("DROP FUNCTION duration_fine_bucket(float8)")
