"""Users, roles and area scopes, revocable tokens, the signing secret, and what the complaint
workflow needs: the reporter's account, a duplicate link and a rejection reason.

Revision ID: 0004_auth
Revises: 0003_data_version
Create Date: 2026-11-28
"""

from alembic import op

revision = "0004_auth"
down_revision = "0003_data_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE app_user (
            id serial PRIMARY KEY,
            username text NOT NULL UNIQUE,
            display_name text,
            role text NOT NULL CONSTRAINT app_user_role CHECK (role IN
                ('citizen', 'ward_officer', 'district_officer', 'city_admin', 'analyst')),
            disabled boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    # An officer's jurisdiction, by area code: ward codes for ward officers, district codes
    # for district officers. Codes, not ids, so a scope survives re-imports of boundaries.
    op.execute("""
        CREATE TABLE user_area (
            user_id integer NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
            level text NOT NULL CHECK (level IN ('ward', 'district')),
            code text NOT NULL,
            PRIMARY KEY (user_id, level, code)
        )""")
    # Tokens are signed (JWT); only their id is kept, so a token can be revoked but a leaked
    # table reveals no usable secret.
    op.execute("""
        CREATE TABLE api_token (
            jti text PRIMARY KEY,
            user_id integer NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
            label text,
            issued_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz,
            revoked_at timestamptz
        )""")
    op.execute("CREATE INDEX api_token_user ON api_token (user_id)")
    # The key that signs tokens, made once per database so every process of a deployment
    # (CLI, API workers) agrees without configuration. PHANANH_TOKEN_SECRET overrides it.
    op.execute("""
        CREATE TABLE server_secret (
            name text PRIMARY KEY,
            value text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("""
        ALTER TABLE complaint
            ADD COLUMN reporter_user_id integer REFERENCES app_user(id) ON DELETE SET NULL,
            ADD COLUMN assignee_user_id integer REFERENCES app_user(id) ON DELETE SET NULL,
            ADD COLUMN duplicate_of bigint REFERENCES complaint(id),
            ADD COLUMN rejection_reason text""")
    op.execute("CREATE INDEX complaint_reporter_user ON complaint (reporter_user_id)")
    op.execute("CREATE INDEX complaint_due ON complaint (due_at) WHERE status IN "
               "('RECEIVED', 'ASSIGNED', 'IN_PROGRESS', 'REOPENED')")


def downgrade() -> None:
    op.execute("DROP INDEX complaint_due")
    op.execute("ALTER TABLE complaint DROP COLUMN reporter_user_id, "
               "DROP COLUMN assignee_user_id, DROP COLUMN duplicate_of, "
               "DROP COLUMN rejection_reason")
    op.execute("DROP TABLE server_secret")
    op.execute("DROP TABLE api_token")
    op.execute("DROP TABLE user_area")
    op.execute("DROP TABLE app_user")
