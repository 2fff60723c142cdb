"""``working_due`` in PL/pgSQL, so that a session plans its query once.

An SQL function that cannot be inlined (``working_due`` is a query with CTEs, not an
expression) is parsed and planned again at every call: about 0.8 ms of the PostgreSQL time
of each submission, and of each row of a bulk load. PL/pgSQL keeps the plan of the same query
for the session. The body, the rule and its answers are 0010's, unchanged.

Revision ID: 0026_working_due_plans
Revises: 0025_duration_rollup
Create Date: 2026-12-03
"""

import importlib

from alembic import op

revision = "0026_working_due_plans"
down_revision = "0025_duration_rollup"
branch_labels = None
depends_on = None

CATALOGUE = importlib.import_module("migrations.versions.0010_agencies_catalogue")
SQL_HEADER = "LANGUAGE sql STABLE PARALLEL SAFE AS $$"


def in_plpgsql(definition: str) -> str:
    """0010's ``CREATE FUNCTION`` of an SQL function whose body is one query, as a PL/pgSQL
    function returning that query's value."""
    assert SQL_HEADER in definition and definition.rstrip().endswith("$$")
    body = definition.rstrip()[:-2]
    return (body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
            .replace(SQL_HEADER, "LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$ BEGIN RETURN (")
            + "); END $$")


def upgrade() -> None:
    op.execute(in_plpgsql(CATALOGUE.WORKING_DUE))


def downgrade() -> None:
    op.execute("DROP FUNCTION working_due(timestamptz, double precision)")
    op.execute(CATALOGUE.WORKING_DUE)
