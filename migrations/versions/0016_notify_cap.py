"""An index for the per-recipient hourly cap of notifications (``db.outbox.claim``).

Claiming counts each recipient's deliveries of the past hour; ``outbox_recent`` finds them by
``(channel, target)`` among the delivered rows, so the count does not scan the whole outbox.

Revision ID: 0016_notify_cap
Revises: 0015_triage
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_notify_cap"
down_revision = "0015_triage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("outbox_recent", "outbox", ["channel", "target", "delivered_at"],
                    postgresql_where=sa.text("delivered_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("outbox_recent", table_name="outbox")
