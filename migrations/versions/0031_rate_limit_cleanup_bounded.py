"""Rate limits: each check deletes at most ten expired rows, whatever plan PostgreSQL picks.

0009's cleanup was ``DELETE ... WHERE key IN (SELECT ... LIMIT 10 FOR UPDATE SKIP LOCKED)``.
When the planner makes that a nested-loop semi join with the subquery inside, the subquery
runs again for every row of the table; the rows this very DELETE already removed cannot be
locked again, so SKIP LOCKED passes over them and each run hands out the next ten: one check
deleted every expired row (seen on a test database whose statistics favoured that plan). The
keys to delete are now chosen once, in a materialized CTE, before any row is deleted.

Revision ID: 0031_rate_limit_cleanup_bounded
Revises: 0030_due_rollup
Create Date: 2026-12-04
"""

import importlib

from alembic import op

revision = "0031_rate_limit_cleanup_bounded"
down_revision = "0030_due_rollup"
branch_labels = None
depends_on = None

RATE_LIMITS = importlib.import_module("migrations.versions.0009_rate_limits")

RESCANNED_CLEANUP = """
        DELETE FROM rate_limit WHERE key IN (
            SELECT key FROM rate_limit WHERE expires_at < now AND key <> hit_key
            ORDER BY expires_at LIMIT 10 FOR UPDATE SKIP LOCKED);"""
CLEANUP_CHOSEN_ONCE = """
        WITH expired AS MATERIALIZED (
            SELECT key FROM rate_limit WHERE expires_at < now AND key <> hit_key
            ORDER BY expires_at LIMIT 10 FOR UPDATE SKIP LOCKED)
        DELETE FROM rate_limit r USING expired WHERE r.key = expired.key;"""


def function(cleanup: str) -> str:
    """0009's ``rate_limit_hit`` with ``cleanup`` as its DELETE of expired rows."""
    assert RESCANNED_CLEANUP in RATE_LIMITS.RATE_LIMIT_HIT
    return RATE_LIMITS.RATE_LIMIT_HIT.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION") \
        .replace(RESCANNED_CLEANUP, cleanup)


def upgrade() -> None:
    op.execute(function(CLEANUP_CHOSEN_ONCE))


def downgrade() -> None:
    op.execute(function(RESCANNED_CLEANUP))
