"""The rollups of durations are not called for a status change that leaves their rows as
they are.

A complaint's rows in ``complaint_duration_rollup`` (0025), ``complaint_duration_fine_rollup``
(0038) and ``complaint_area_duration_values`` (0032) come from ``duration_keys`` and
``duration_fine_keys``: one per duration it has, and only the resolution's row carries the
status. Their update triggers fired on any change of ``status``, so a complaint taken in
hand, assigned or started, which has no resolution, ran all three row functions to find, since
0043, that nothing was to change: 0.5–0.8 ms each, 1.7 ms of a work start at 1M complaints
(docs/benchmarks.md, "eleventh pass"), most of it opening their monthly partitions.

Their WHEN clauses now compare the status only when the complaint has a resolution
(:data:`KEYED_STATUS`), and every other column as before: a trigger is skipped exactly when
the rows it would compute are the rows it holds. A resolution, a reopening (its resolution
cleared) and a status change after resolution still fire them.

Revision ID: 0046_duration_triggers_keyed
Revises: 0045_rollup_levels_by_generation
Create Date: 2026-12-07
"""

import importlib

from alembic import op

revision = "0046_duration_triggers_keyed"
down_revision = "0045_rollup_levels_by_generation"
branch_labels = None
depends_on = None

DURATIONS = importlib.import_module("migrations.versions.0025_duration_rollup")
VALUES = importlib.import_module("migrations.versions.0032_area_duration_values")
FINE = importlib.import_module("migrations.versions.0038_fine_duration_rollup")

# The status as the durations' keys hold it: on the resolution's row alone.
KEYED_STATUS = "CASE WHEN {c}.hours_to_resolution IS NOT NULL THEN {c}.status END"

# (trigger, its function, the columns its rows are computed from)
UPDATE_TRIGGERS = (
    ("complaint_duration_rollup_update", "complaint_duration_rollup_row", DURATIONS.COLUMNS),
    (f"{FINE.TABLE}_update", f"{FINE.TABLE}_row", DURATIONS.COLUMNS),
    ("complaint_area_duration_values_update", "complaint_area_duration_values_row",
     VALUES.COLUMNS),
)


def fired_when(columns: tuple[str, ...], keyed: bool) -> str:
    """The WHEN clause of an update trigger over ``columns``: any of them changed, the status
    compared as the keys hold it when ``keyed`` (else as it is, as before)."""
    def side(c: str) -> str:
        return ", ".join(KEYED_STATUS.format(c=c) if keyed and column == "status"
                         else f"{c}.{column}" for column in columns)
    return f"WHEN (({side('OLD')}) IS DISTINCT FROM ({side('NEW')}))"


def recreate(keyed: bool) -> None:
    for trigger, function, columns in UPDATE_TRIGGERS:
        assert "status" in columns, "0046 fits the trigger"
        op.execute(f"DROP TRIGGER {trigger} ON complaint")
        op.execute(f"CREATE CONSTRAINT TRIGGER {trigger} AFTER UPDATE ON complaint "
                   f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {fired_when(columns, keyed)} "
                   f"EXECUTE FUNCTION {function}()")


def upgrade() -> None:
    recreate(keyed=True)


def downgrade() -> None:
    recreate(keyed=False)
