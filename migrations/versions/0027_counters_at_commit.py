"""Rows every write updates are updated at commit, not at the write.

Each change to ``complaint`` added one to its data version (one row of ``data_version``, 0003)
and to the counts of its day and category (``complaint_kpi_rollup``, 0021), of its grid
cells (0017, 0022) and of its durations (0025), in triggers that ran with the change. The row
lock each update takes is held until the transaction ends; a submission's transaction goes on
for several more statements and round trips (its history event, its notifications, its
answer), so every
concurrent submission queued behind the one before on the data version's single row, and
those of one category behind the day's count: under `bench load`, submissions waited 250 ms
at the median for work of 20 ms.

The triggers are now constraint triggers, ``DEFERRABLE INITIALLY DEFERRED``: PostgreSQL runs
them as the transaction commits, so those rows are locked only for the commit itself. They
change the same rows by the same amounts in the same transaction, so the counts and the
version are exactly what they were (``tests/test_rollups.py``). The data version is changed
once per transaction and table: the trigger is queued for the first changed row only
(``data_version_first_change``, in its WHEN clause, which PostgreSQL evaluates at the change;
a savepoint rolled back forgets it with the change). A constraint trigger is a row trigger;
TRUNCATE keeps the statement trigger of 0003. The daily area rollup (0013, 0023) is a
statement trigger over transition tables, which cannot be deferred; its rows are per ward.

Revision ID: 0027_counters_at_commit
Revises: 0026_working_due_plans
Create Date: 2026-12-03
"""

import importlib

from alembic import op

revision = "0027_counters_at_commit"
down_revision = "0026_working_due_plans"
branch_labels = None
depends_on = None

VERSIONS = importlib.import_module("migrations.versions.0003_data_version")
# (migration, its row triggers' (name, definition) list, the function they execute)
ROLLUPS = (("0017_grid_rollups", "GRID_TRIGGERS", "complaint_grid_rollup_row"),
           ("0021_kpi_rollup", "TRIGGERS", "complaint_kpi_rollup_row"),
           ("0022_grid_month_rollup", "TRIGGERS", "complaint_grid_month_rollup_row"),
           ("0025_duration_rollup", "TRIGGERS", "complaint_duration_rollup_row"))
EACH_ROW = " FOR EACH ROW"


def rollup_triggers() -> list[tuple[str, str, str]]:
    """Every row trigger of the rollups: (name, definition, function)."""
    found = []
    for revision_name, attribute, function in ROLLUPS:
        module = importlib.import_module(f"migrations.versions.{revision_name}")
        found += [(name, definition, function) for name, definition in
                  getattr(module, attribute) if EACH_ROW in definition]
    return found


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION data_version_first_change(table_name text) RETURNS boolean
        LANGUAGE sql VOLATILE AS $$
            SELECT current_setting('phananh.changed.' || table_name, true)
                       IS DISTINCT FROM 'yes'
                   AND set_config('phananh.changed.' || table_name, 'yes', true) = 'yes' $$""")
    op.execute("""
        CREATE FUNCTION bump_data_version_of() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE data_version SET version = version + 1, changed_at = now()
            WHERE table_name = TG_ARGV[0];
            RETURN NULL;
        END $$""")
    for table in VERSIONS.VERSIONED_TABLES:
        op.execute(f"DROP TRIGGER {table}_data_version ON {table}")
        op.execute(f"""
            CREATE CONSTRAINT TRIGGER {table}_data_version
            AFTER INSERT OR UPDATE OR DELETE ON {table}
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
            WHEN (data_version_first_change('{table}'))
            EXECUTE FUNCTION bump_data_version_of('{table}')""")
        op.execute(f"""
            CREATE TRIGGER {table}_data_version_truncate AFTER TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()""")
    for name, definition, function in rollup_triggers():
        op.execute(f"DROP TRIGGER {name} ON complaint")
        deferred = definition.replace(EACH_ROW, " DEFERRABLE INITIALLY DEFERRED" + EACH_ROW)
        op.execute(f"CREATE CONSTRAINT TRIGGER {name} {deferred} EXECUTE FUNCTION {function}()")


def downgrade() -> None:
    for name, definition, function in rollup_triggers():
        op.execute(f"DROP TRIGGER {name} ON complaint")
        op.execute(f"CREATE TRIGGER {name} {definition} EXECUTE FUNCTION {function}()")
    for table in VERSIONS.VERSIONED_TABLES:
        op.execute(f"DROP TRIGGER {table}_data_version_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_data_version ON {table}")
        op.execute(f"""
            CREATE TRIGGER {table}_data_version
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION bump_data_version()""")
    op.execute("DROP FUNCTION bump_data_version_of()")
    op.execute("DROP FUNCTION data_version_first_change(text)")
