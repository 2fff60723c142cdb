"""Snapshots of DBSCAN clusters beside the statistics' durations (``analytics/snapshots.py``).

The 90 days' clusters of one category grew 5.35× from 1M to 10M complaints (docs/benchmarks.md,
"twelfth pass"): DBSCAN reads and chains every point of the window, and at 10M a window holds
ten times the points. Like the durations, clusters change only when the window's complaints
do, and a planner's map asks for the same window again and again; so ``stats_snapshot`` keeps
them too. A clusters snapshot is kept per window *and* request (categories, statuses, ε, minimum
points, hull, …), which ``request`` holds so that ``phananh rollups refresh`` can read it
again; ``percentiles`` becomes ``answer``, as it no longer holds only percentiles.

Only figures and shapes are kept (counts, centroids, hulls, category codes), never a
complaint or a reporter.

Revision ID: 0050_cluster_snapshot
Revises: 0049_stats_snapshot
Create Date: 2026-12-07
"""

from alembic import op

revision = "0050_cluster_snapshot"
down_revision = "0049_stats_snapshot"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE stats_snapshot RENAME COLUMN percentiles TO answer")
    op.execute("ALTER TABLE stats_snapshot ADD COLUMN request jsonb NOT NULL DEFAULT '{}'")


def downgrade() -> None:
    op.execute("DELETE FROM stats_snapshot WHERE request <> '{}'")
    op.execute("ALTER TABLE stats_snapshot DROP COLUMN request")
    op.execute("ALTER TABLE stats_snapshot RENAME COLUMN answer TO percentiles")
