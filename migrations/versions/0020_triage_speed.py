"""An index for possible duplicates at submission: open complaints by place and time.

A new complaint's candidates are the open complaints within ``RADIUS_M`` metres and
``WINDOW_DAYS`` days of it (``db/triage.py``, ``DUPLICATES``). The geography index of 0001
finds every complaint ever filed within the radius: in a busy street of a city with a million
complaints, years of closed ones, read and rechecked only to be dropped. This GiST index holds
the open complaints only (the query's status condition implies its predicate, so the planner
uses it), keyed by place and reception time (``btree_gist`` lets a GiST index take the
timestamp), so one index search answers "near, recent and open".

Revision ID: 0020_triage_speed
Revises: 0018_partitions
Create Date: 2026-12-02
"""

from alembic import op

revision = "0020_triage_speed"
down_revision = "0018_partitions"
branch_labels = None
depends_on = None

# workflow/states.py's OPEN, as it is at this revision (a migration is a fixed point).
OPEN = ("RECEIVED", "ASSIGNED", "IN_PROGRESS", "REOPENED")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public")
    statuses = ", ".join(f"'{s}'" for s in OPEN)
    op.execute("CREATE INDEX complaint_open_place_time ON complaint "
               f"USING gist ((location::geography), created_at) WHERE status IN ({statuses})")
    # complaint is partitioned by year (0018): name each year's index after this one, as
    # 0018 named the others (<partition>_<index>).
    op.execute("SELECT name_partition_indexes(inhrelid::regclass) FROM pg_inherits "
               "WHERE inhparent = 'complaint'::regclass")


def downgrade() -> None:
    op.execute("DROP INDEX complaint_open_place_time")
