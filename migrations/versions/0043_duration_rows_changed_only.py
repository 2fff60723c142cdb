"""The three rollups of durations touch only the rows a change alters, and find them through
their unique index.

The row functions of ``complaint_duration_rollup`` (0025), ``complaint_duration_fine_rollup``
(0038) and ``complaint_area_duration_values`` (0032), as 0040 wrote them, take every old row of
a changed complaint away and add every new one. Two costs followed:

* A status change of a complaint with a first action leaves its first action's rows as they
  were (the first action has no status), yet each was taken away and added again: the packed
  values rewritten, the histograms' counts lowered and raised.
* Each old row was matched with ``IS NOT DISTINCT FROM`` on its nullable key columns (the
  status, NULL for a first action; the routed district and ward), which no btree index
  answers: the packed values' statements read every row of their month and measure (in the
  national data set some 2,700 rows a month for the first action, 6,700 for the resolution,
  of about 800 bytes at 10 million complaints): the flaw 0042 mended in four other rollups
  (docs/benchmarks.md, "tenth pass").

Now the old rows taken away are those the new ones do not repeat (``EXCEPT ALL``), the new
rows added are those the old ones did not hold, and the nullable columns are matched as 0042
matches them, planned for each call's values. Counts and values kept are the same:
``tests/test_rollups.py`` compares the rollups with its own counts after every kind of write.

Revision ID: 0043_duration_rows_changed_only
Revises: 0042_rollup_keys_by_index
Create Date: 2026-12-07
"""

import importlib

from alembic import op

revision = "0043_duration_rows_changed_only"
down_revision = "0042_rollup_keys_by_index"
branch_labels = None
depends_on = None

PRUNED = importlib.import_module("migrations.versions.0040_duration_triggers_pruned")  # BEFORE
BY_INDEX = importlib.import_module("migrations.versions.0042_rollup_keys_by_index")
# Each function of 0040 and the rows of a complaint it keeps ({c}: OLD or NEW).
ROWS = (PRUNED.DURATIONS.ROWS, PRUNED.FINE.finer(PRUNED.DURATIONS.ROWS), PRUNED.VALUES.ROWS)


def changed_only(function: str, rows: str) -> str:
    """``function`` taking away only the old rows that the new ones do not repeat, adding
    only the new rows the old ones did not hold, matched through the index."""
    old, new = rows.format(c="OLD"), rows.format(c="NEW")
    taken, added = f"FOR d IN {old} LOOP", f"FROM ({new}) AS n"
    assert taken in function and added in function, "0043 fits the function"
    return BY_INDEX.by_index(function.replace(
        taken, f"FOR d IN ({old}) EXCEPT ALL ({new}) LOOP").replace(
        added, f"FROM (({new}) EXCEPT ALL ({old})) AS n"))


def upgrade() -> None:
    for function, rows in zip(PRUNED.FUNCTIONS, ROWS, strict=True):
        op.execute(changed_only(function, rows))


def downgrade() -> None:
    for function in PRUNED.FUNCTIONS:
        op.execute(function)
