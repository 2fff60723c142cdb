"""The durations' bucket indexes in order of reception time within a bucket.

The statistics' percentiles over long windows (``analytics/durations.py``) read, for each rank
they need, the complaints of one histogram bucket within the window, through 0025's
``complaint_first_action_bucket`` and ``complaint_resolution_bucket``: (category, bucket,
hours), the reception time included. The window was a filter on what the index gave, so a
probe read its bucket's complaints of every partition the window touches, whole: a rolling
year over two yearly partitions read two years of them, and a month read a year. The probe
sorts what it reads by the hours anyway (it reads several categories, and several partitions,
in one go), so nothing is lost by keying the indexes on the reception time instead of the
hours: (category, bucket, reception time), the hours (and the status) included. A probe now
reads the window's complaints of its bucket and no others.

Revision ID: 0035_bucket_indexes_by_time
Revises: 0034_area_kpi_month_sums
Create Date: 2026-12-06
"""

import importlib

from alembic import op

revision = "0035_bucket_indexes_by_time"
down_revision = "0034_area_kpi_month_sums"
branch_labels = None
depends_on = None

DURATIONS = importlib.import_module("migrations.versions.0025_duration_rollup")

INDEXES = {
    "complaint_first_action_bucket": "(category_code, duration_bucket(hours_to_first_action), "
                                     "created_at) INCLUDE (hours_to_first_action) "
                                     "WHERE hours_to_first_action IS NOT NULL",
    "complaint_resolution_bucket": "(category_code, duration_bucket(hours_to_resolution), "
                                   "created_at) INCLUDE (hours_to_resolution, status) "
                                   "WHERE hours_to_resolution IS NOT NULL",
}


def replace_indexes(definitions: dict[str, str]) -> None:
    """Each bucket index dropped and built again as ``definitions`` says, on every partition
    (named after the partitioned one, as 0018 names them)."""
    for name, definition in definitions.items():
        op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE INDEX {name} ON complaint {definition}")
    op.execute("SELECT name_partition_indexes(inhrelid::regclass) FROM pg_inherits "
               "WHERE inhparent = 'complaint'::regclass")


def upgrade() -> None:
    replace_indexes(INDEXES)


def downgrade() -> None:
    replace_indexes(DURATIONS.INDEXES)
