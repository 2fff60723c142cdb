"""A status change's deltas of the daily area rollup are rows of it built by column name.

0041's ``complaint_rollup_updated`` holds the deltas it applies in an array of
``complaint_rollup``, the table's own row type, built with ``CAST(ROW(d.*) AS
complaint_rollup)`` and inserted with ``SELECT *``: both by position. A column a later
migration adds to the rollup would make the cast fail, and every status change with it (and
one added in another order could put a value in the wrong column). Now each delta is made
with ``jsonb_populate_record``, which fills the row's columns by name and leaves any other
empty, and the gains go into named columns, so a column added with a default takes it. The
function is otherwise 0041's, text for text; it builds a few rows a statement.

Revision ID: 0044_rollup_deltas_by_name
Revises: 0043_duration_rows_changed_only
Create Date: 2026-12-07
"""

import importlib

from alembic import op

revision = "0044_rollup_deltas_by_name"
down_revision = "0043_duration_rows_changed_only"
branch_labels = None
depends_on = None

DELTAS = importlib.import_module("migrations.versions.0041_status_change_deltas")  # BEFORE
COLUMNS = ", ".join((*DELTAS.KEY, "complaints"))
BY_POSITION = {
    "CAST(ROW(d.*) AS complaint_rollup)": "jsonb_populate_record(NULL::complaint_rollup, "
                                          "to_jsonb(d))",
    "INSERT INTO complaint_rollup AS r\n                SELECT * FROM unnest(deltas) d":
        f"INSERT INTO complaint_rollup AS r ({COLUMNS})\n"
        f"                SELECT {COLUMNS} FROM unnest(deltas) d",
}


def by_name(function: str) -> str:
    """``function`` building and inserting its deltas by column name."""
    for positional, named in BY_POSITION.items():
        assert positional in function, "0044 fits the function"
        function = function.replace(positional, named)
    return function


def upgrade() -> None:
    op.execute(by_name(DELTAS.UPDATED))


def downgrade() -> None:
    op.execute(DELTAS.UPDATED)
