"""Open311: API keys, one per client application, revocable, of which only a hash is kept;
and an index on the event log's time for servicerequestupdates.

Revision ID: 0014_open311
Revises: 0013_rollups
Create Date: 2026-12-02
"""

from alembic import op

revision = "0014_open311"
down_revision = "0013_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The key itself is shown once when issued; a leaked table reveals no usable key.
    op.execute("""
        CREATE TABLE open311_api_key (
            id serial PRIMARY KEY,
            key_hash text NOT NULL UNIQUE,
            label text NOT NULL,
            issued_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        )""")
    # servicerequestupdates reads the event log by time window.
    op.execute("CREATE INDEX complaint_event_at ON complaint_event (at)")


def downgrade() -> None:
    op.execute("DROP INDEX complaint_event_at")
    op.execute("DROP TABLE open311_api_key")
