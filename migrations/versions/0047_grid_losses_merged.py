"""The grid rollups take a complaint's old rows down in one statement.

The row functions of ``complaint_grid_rollup`` (0017) and ``complaint_grid_month_rollup``
(0022) took a complaint's old rows down in two statements: an UPDATE that subtracted one from
each of its rows (one per standard grid), then a DELETE that looked each of them up again to
remove those at 0. A status change pays this in the daily grid rollup: 1.4 ms, the dearest of
its row triggers at 1M complaints (docs/benchmarks.md, "eleventh pass").

Now one ``MERGE`` finds each row once, and deletes it when this complaint is its last, or
subtracts one. Concurrent writers stay exact: when a row was changed by another transaction
since the statement began, MERGE reads its newest version and tests its conditions again from
the first (PostgreSQL's documentation, "Read Committed Isolation Level"), as the UPDATE did. A
row is never deleted under another writer that counts on it: it holds this complaint, so no
other writer brings it to 0. The new rows are still added by ``INSERT … ON CONFLICT``, which,
unlike MERGE, adds to a row another transaction inserted meanwhile instead of failing.

Revision ID: 0047_grid_losses_merged
Revises: 0046_duration_triggers_keyed
Create Date: 2026-12-07
"""

import importlib
from types import ModuleType

from alembic import op

revision = "0047_grid_losses_merged"
down_revision = "0046_duration_triggers_keyed"
branch_labels = None
depends_on = None

DAILY = importlib.import_module("migrations.versions.0017_grid_rollups")
MONTHLY = importlib.import_module("migrations.versions.0022_grid_month_rollup")
# (the migration that wrote the function, its table, the function's text there)
GRID_ROLLUPS: tuple[tuple[ModuleType, str, str], ...] = (
    (DAILY, "complaint_grid_rollup", DAILY.GRID_TRIGGER_FUNCTION),
    (MONTHLY, "complaint_grid_month_rollup", MONTHLY.TRIGGER_FUNCTION),
)

TWO_STATEMENTS = """UPDATE {table} r SET complaints = r.complaints - 1
            FROM grid_rollup_size s WHERE {matches};
            DELETE FROM {table} r USING grid_rollup_size s
            WHERE {matches} AND r.complaints = 0;"""
MERGED = """MERGE INTO {table} r USING grid_rollup_size s ON {matches}
            WHEN MATCHED AND r.complaints = 1 THEN DELETE
            WHEN MATCHED THEN UPDATE SET complaints = r.complaints - 1;"""


def replaced(function: str) -> str:
    """``function``'s CREATE statement as one that replaces it."""
    assert function.lstrip().startswith("CREATE FUNCTION"), "0047 fits the function"
    return function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def merged(function: str, table: str, matches: str) -> str:
    """``function`` with its two statements that take the old rows down made one MERGE."""
    losses = TWO_STATEMENTS.format(table=table, matches=matches)
    assert losses in function, "0047 fits the function"
    return function.replace(losses, MERGED.format(table=table, matches=matches))


def upgrade() -> None:
    for migration, table, function in GRID_ROLLUPS:
        op.execute(replaced(merged(function, table, migration.MATCHES)))


def downgrade() -> None:
    for _, _, function in GRID_ROLLUPS:
        op.execute(replaced(function))
