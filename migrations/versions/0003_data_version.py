"""Data versions: a counter per table, bumped in the same transaction as every write.

Tiles, TileJSON and OGC responses carry a strong ETag and are cached in-process; both must
change exactly when the data behind them changes. Counting rows or taking max(updated_at) over a
million complaints on every request costs tens of milliseconds and misses deletes, so statement
triggers keep one counter row per table instead. The row lock taken by the bump serialises the
writers of a table for the rest of their transaction: a reader therefore never sees a version
that is newer or older than the rows it sees in the same snapshot.

Revision ID: 0003_data_version
Revises: 0001_core
Create Date: 2026-11-28
"""

from alembic import op

revision = "0003_data_version"
down_revision = "0001_core"
branch_labels = None
depends_on = None

# The tables whose contents the map layers publish.
VERSIONED_TABLES = ("complaint", "admin_area", "boundary_generation", "category")


def upgrade() -> None:
    op.execute("""
        CREATE TABLE data_version (
            table_name text PRIMARY KEY,
            version bigint NOT NULL DEFAULT 0,
            changed_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("INSERT INTO data_version (table_name) VALUES "
               + ", ".join(f"('{name}')" for name in VERSIONED_TABLES))
    op.execute("""
        CREATE FUNCTION bump_data_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE data_version SET version = version + 1, changed_at = now()
            WHERE table_name = TG_TABLE_NAME;
            RETURN NULL;
        END $$""")
    for name in VERSIONED_TABLES:
        op.execute(f"""
            CREATE TRIGGER {name}_data_version
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {name}
            FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()""")


def downgrade() -> None:
    for name in VERSIONED_TABLES:
        op.execute(f"DROP TRIGGER {name}_data_version ON {name}")
    op.execute("DROP FUNCTION bump_data_version()")
    op.execute("DROP TABLE data_version")
