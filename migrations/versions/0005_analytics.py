"""A covering index for the hotspot maps and statistics.

Every analysis reads the same few columns of many complaints (when, where, what, which status,
routed where, and the processing times), selected by the complaint filter. The heap holds
descriptions, addresses and media too, so scanning it for a year of a million complaints costs
several times the analysis itself. This index holds exactly those columns in time order: a
time window becomes an index range, and PostgreSQL answers from the index alone (an
index-only scan; the visibility map, kept by autovacuum, spares the heap visits). No refresh:
it is always current.

Revision ID: 0005_analytics
Revises: 0004_auth
Create Date: 2026-11-28
"""

from alembic import op

revision = "0005_analytics"
down_revision = "0004_auth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE INDEX complaint_analytics ON complaint (created_at)
        INCLUDE (category_code, status, ward_id, district_id, first_action_at, resolved_at,
                 due_at, rating, location)""")


def downgrade() -> None:
    op.execute("DROP INDEX complaint_analytics")
