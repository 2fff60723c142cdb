"""Four rollups' row triggers find a complaint's old row through their unique index.

The row triggers of ``complaint_kpi_rollup`` (0021), ``complaint_area_kpi_rollup`` (0028),
``complaint_area_kpi_month_rollup`` (0034) and ``complaint_area_due_rollup`` (0037) take a
complaint's old row away with ``UPDATE … WHERE`` and ``DELETE … WHERE`` on its key, whose
nullable columns (the rating; the routed district and ward) they match with ``IS NOT DISTINCT
FROM``. PostgreSQL cannot use a btree index for that operator, so each statement read every
row under the key's leading columns and filtered them: for the monthly area rollup, the
month's 2,750 rows twice, 6.7 ms of the 21 ms a complaint resolved cost at 1M complaints
(docs/benchmarks.md, "ninth pass").

The same match written as ``(r.x = OLD.x OR (r.x IS NULL AND OLD.x IS NULL))`` holds for
the same rows, and is what each index can answer once planned for the trigger's values: it
folds to ``r.x = value`` or ``r.x IS NULL``, both index conditions. PL/pgSQL would, after
five calls on a connection, switch to a generic plan, planned for any values, where it folds
to nothing and the rows are filtered again; so the functions plan their statements for each
call's values (``plan_cache_mode = force_custom_plan``, some 0.1 ms a call). They are
otherwise those of their migrations, text for text.

Revision ID: 0042_rollup_keys_by_index
Revises: 0041_status_change_deltas
Create Date: 2026-12-07
"""

import importlib
import re

from alembic import op

revision = "0042_rollup_keys_by_index"
down_revision = "0041_status_change_deltas"
branch_labels = None
depends_on = None

BEFORE = [importlib.import_module(f"migrations.versions.{name}").TRIGGER_FUNCTION
          for name in ("0021_kpi_rollup", "0028_area_kpi_rollup", "0034_area_kpi_month_sums",
                       "0037_area_due_rollup")]
PLPGSQL = "LANGUAGE plpgsql"
# A row's key column matched to the same column of a record (OLD, or a loop's; 0043).
NOT_DISTINCT = re.compile(r"r\.(\w+) IS NOT DISTINCT FROM (\w+)\.\1\b")


def by_index(function: str) -> str:
    """``function`` with each nullable key column matched in a form its index answers, and
    planned for each call's values."""
    return NOT_DISTINCT.sub(
        r"(r.\1 = \2.\1 OR (r.\1 IS NULL AND \2.\1 IS NULL))", function
    ).replace(PLPGSQL, f"{PLPGSQL} SET plan_cache_mode = force_custom_plan", 1)


def replace(function: str) -> None:
    op.execute(function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))


def upgrade() -> None:
    for function in BEFORE:
        assert NOT_DISTINCT.search(function) and PLPGSQL in function, "0042 fits the function"
        replace(by_index(function))


def downgrade() -> None:
    for function in BEFORE:
        replace(function)
