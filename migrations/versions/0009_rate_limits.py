"""Rate limits shared by every process and host: the ``rate_limit`` table and its function.

``rate_limit_hit(key, max_hits, window_s)`` counts one hit for ``key`` in a sliding window of
``window_s`` seconds and answers 0 when the hit is allowed, else the seconds until the oldest
hit in the window expires. Each key's row holds the times of its hits still in the window (at
most ``max_hits`` of them); the row is locked for the check, so concurrent hits from any number
of workers are counted exactly once each. Refused hits are not recorded: a client that keeps
trying is allowed again as soon as its oldest hit leaves the window.

The table is UNLOGGED: a crash forgets the counts (everyone starts afresh), and in exchange a
hit writes no WAL. Each call also deletes up to ten rows whose window has passed (skipping those
a check under way has locked, so checks never wait for each other): a call adds at most one
row, so the table holds little more than the clients seen in the last window.

Revision ID: 0009_rate_limits
Revises: 0008_area_rules
Create Date: 2026-12-02
"""

from alembic import op

revision = "0009_rate_limits"
down_revision = "0008_area_rules"
branch_labels = None
depends_on = None

RATE_LIMIT_HIT = """
    CREATE FUNCTION rate_limit_hit(hit_key text, max_hits integer, window_s float8)
    RETURNS float8 LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        now timestamptz := clock_timestamp();
        span interval := make_interval(secs => window_s);
        recent timestamptz[];
    BEGIN
        INSERT INTO rate_limit (key, hits, expires_at) VALUES (hit_key, '{}', now)
        ON CONFLICT (key) DO NOTHING;
        SELECT ARRAY(SELECT h FROM unnest(r.hits) AS h WHERE h > now - span ORDER BY h)
          INTO recent FROM rate_limit r WHERE r.key = hit_key FOR UPDATE;
        -- rows locked by other checks are left for later: checks never wait for each other
        DELETE FROM rate_limit WHERE key IN (
            SELECT key FROM rate_limit WHERE expires_at < now AND key <> hit_key
            ORDER BY expires_at LIMIT 10 FOR UPDATE SKIP LOCKED);
        IF cardinality(recent) >= max_hits THEN
            UPDATE rate_limit SET hits = recent, expires_at = recent[cardinality(recent)] + span
            WHERE key = hit_key;
            RETURN greatest(extract(epoch FROM recent[cardinality(recent) - max_hits + 1]
                                                 + span - now), 0.001);
        END IF;
        UPDATE rate_limit SET hits = recent || now, expires_at = now + span WHERE key = hit_key;
        RETURN 0;
    END $$"""


def upgrade() -> None:
    op.execute("""
        CREATE UNLOGGED TABLE rate_limit (
            key text PRIMARY KEY,
            hits timestamptz[] NOT NULL,
            expires_at timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX rate_limit_expires ON rate_limit (expires_at)")
    op.execute(RATE_LIMIT_HIT)


def downgrade() -> None:
    op.execute("DROP FUNCTION rate_limit_hit(text, integer, float8)")
    op.execute("DROP TABLE rate_limit")
