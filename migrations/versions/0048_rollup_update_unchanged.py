"""An update of complaints that changes none of their groups leaves the daily area rollup at
once.

``complaint_rollup_updated`` (0041, 0044, 0045) is a statement trigger: it runs after every
UPDATE of ``complaint``, whatever the columns. For one that changes no complaint's status,
category, reception or routing (a first action, a note, a due date, a rating), its deltas are
empty, yet it still read them twice and ran its DELETE, UPDATE and INSERT on
``complaint_rollup`` with nothing to apply, and each of those fired the monthly rollup's own
statement triggers (0029): 0.7–0.8 ms of a first action's 4.3–4.8 ms at 1M complaints
(docs/benchmarks.md, "eleventh pass").

It now returns first when no row of the statement changed group (:data:`UNCHANGED`, the test
its deltas apply to every row): the same rollup, since those statements had nothing to do.

Revision ID: 0048_rollup_update_unchanged
Revises: 0047_grid_losses_merged
Create Date: 2026-12-07
"""

import importlib

from alembic import op

revision = "0048_rollup_update_unchanged"
down_revision = "0047_grid_losses_merged"
branch_labels = None
depends_on = None

BY_NAME = importlib.import_module("migrations.versions.0044_rollup_deltas_by_name")
LEVELS = importlib.import_module("migrations.versions.0045_rollup_levels_by_generation")
DELTAS = BY_NAME.DELTAS  # 0041


def as_of_0045() -> str:
    """The function as 0044 wrote it and 0045 rewrote it in the database."""
    function = BY_NAME.by_name(DELTAS.UPDATED)
    assert LEVELS.DAILY.LEVELS in function, "0048 fits the function"
    return function.replace(LEVELS.DAILY.LEVELS, LEVELS.BY_GENERATION)


FIRST = "    BEGIN\n        recount := EXISTS"
UNCHANGED = f"""    BEGIN
        IF NOT EXISTS (SELECT FROM old_rows o JOIN new_rows n ON n.id = o.id
                       WHERE {DELTAS.GROUPED_BY}) THEN
            RETURN NULL;  -- no complaint changed group: no delta, nothing to recount
        END IF;
        recount := EXISTS"""


def upgrade() -> None:
    function = as_of_0045()
    assert function.count(FIRST) == 1, "0048 fits the function"
    op.execute(function.replace(FIRST, UNCHANGED))


def downgrade() -> None:
    op.execute(as_of_0045())
