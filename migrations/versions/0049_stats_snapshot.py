"""Snapshots of the statistics' durations (``analytics/snapshots.py``).

At 10M complaints the percentiles of the time to first action and to resolution were 80 % of
the CPU a statistics request with breakdowns takes (per district and ward, every duration of
the window read and ranked; in total and per category, the histograms and their edges;
docs/benchmarks.md, "seventh pass"), and the archive's request stayed at 1.6–2.1 s on two
cores against a goal of 1 s. A table keeps those percentiles per kind and window, read once,
with what tells whether they still hold: the data version of ``complaint`` and the WAL
position their read included.

Only figures (in total, per category, per area) are kept, never a complaint or a reporter.

Revision ID: 0049_stats_snapshot
Revises: 0048_rollup_update_unchanged
Create Date: 2026-12-07
"""

from alembic import op

revision = "0049_stats_snapshot"
down_revision = "0048_rollup_update_unchanged"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE stats_snapshot (
            kind text NOT NULL,
            window_key text NOT NULL,
            first_day date,
            end_day date,
            version bigint NOT NULL,
            position pg_lsn NOT NULL,
            computed_at timestamptz NOT NULL,
            asked_at timestamptz NOT NULL,
            percentiles jsonb NOT NULL,
            PRIMARY KEY (kind, window_key),
            CHECK (first_day < end_day)
        )""")
    op.execute("CREATE INDEX stats_snapshot_asked_at ON stats_snapshot (asked_at)")


def downgrade() -> None:
    op.execute("DROP TABLE stats_snapshot")
