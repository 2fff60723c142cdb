"""The two boundary rules as SQL functions: every query, trigger and lookup calls them.

* ``generation_in_force(level, at)``: the boundary generation whose areas of ``level`` are in
  force on day ``at``. Among the *active* generations valid that day (``valid_from ≤ at <
  valid_to``, open ends allowed) that have areas of the level, the one that came into force
  last (no ``valid_from``: oldest); then the newest created. NULL when none is.
* ``covering_areas(point, levels, generations)``: for each of the given generations and levels,
  the area whose boundary covers the point (``ST_Covers``: the boundary itself included), the
  lowest code winning, then the lowest id. So a point on a shared edge, at a shared vertex or
  in an overlap sliver always has one answer, the same for routing and for the choropleths.

``covering_areas`` is a set-returning SQL function with a single ``SELECT``: called in ``FROM``
(``CROSS JOIN LATERAL covering_areas(...)``), PostgreSQL inlines its body, so each point costs
one GiST probe of ``admin_area_part`` and no function call, whatever the number of levels and
generations asked (one function per level would cost a probe per level: 2-3 times slower).
It must stay LANGUAGE sql, not STRICT, not VOLATILE, without SET clauses, or inlining stops.
``generation_in_force`` is a scalar, which PostgreSQL never inlines when its body reads a table:
it is PL/pgSQL, whose plan is kept for the session (an SQL function is planned again at every
statement), and callers evaluate it once per level and statement, not per row.

The placement triggers of 0006 are redefined to call ``covering_areas``; downgrade restores
0006's definitions.

Revision ID: 0008_area_rules
Revises: 0007_stored_measures
Create Date: 2026-12-02
"""

from alembic import context, op
from alembic.script import ScriptDirectory

revision = "0008_area_rules"
down_revision = "0007_stored_measures"
branch_labels = None
depends_on = None

GENERATION_IN_FORCE = """
    CREATE FUNCTION generation_in_force(level text, at date) RETURNS integer
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
    BEGIN
        RETURN (
            SELECT g.id FROM boundary_generation g
            WHERE g.active
              AND (g.valid_from IS NULL OR g.valid_from <= generation_in_force.at)
              AND (g.valid_to IS NULL OR generation_in_force.at < g.valid_to)
              AND EXISTS (SELECT 1 FROM admin_area a
                          WHERE a.generation_id = g.id AND a.level = generation_in_force.level)
            ORDER BY g.valid_from DESC NULLS LAST, g.id DESC
            LIMIT 1);
    END $$"""

COVERING_AREAS = """
    CREATE FUNCTION covering_areas(point geometry, levels text[], generations integer[])
    RETURNS TABLE (generation_id integer, level text, area_id integer)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT DISTINCT ON (p.generation_id, p.level) p.generation_id, p.level, p.area_id
        FROM admin_area_part p
        WHERE ST_Covers(p.geom, covering_areas.point)
          AND p.level = ANY(covering_areas.levels)
          AND p.generation_id = ANY(covering_areas.generations)
        ORDER BY p.generation_id, p.level, p.code, p.area_id
    $$"""

# Each complaint of {complaints} (alias c) in the generations and levels of the SQL arrays
# {generations} and {levels}; plain values (PL/pgSQL variables), since a sub-select among the
# arguments would stop PostgreSQL from inlining covering_areas.
PLACE = """
    INSERT INTO complaint_area (generation_id, level, complaint_id, area_id)
    SELECT a.generation_id, a.level, c.id, a.area_id
    FROM {complaints}
    CROSS JOIN LATERAL covering_areas(c.location, {levels}, {generations}) AS a"""
EVERY_GENERATION = "generations integer[] := ARRAY(SELECT id FROM boundary_generation);"
CHOROPLETH_LEVELS = "ARRAY['ward', 'district']"

# name: (declarations, statements)
TRIGGER_FUNCTIONS = {
    "complaint_area_place_new": (EVERY_GENERATION, PLACE.format(
        complaints="new_complaints c", levels=CHOROPLETH_LEVELS, generations="generations")
        + ";"),
    "complaint_area_place_moved": (EVERY_GENERATION, f"""
        DELETE FROM complaint_area WHERE complaint_id = NEW.id;
        {PLACE.format(complaints="complaint c", levels=CHOROPLETH_LEVELS,
                      generations="generations")} WHERE c.id = NEW.id;"""),
    # The rows of each generation and level whose parts changed, again.
    "complaint_area_replace_for_parts": ("changed record;", f"""
        FOR changed IN SELECT DISTINCT generation_id, level FROM changed_parts
                       WHERE level = ANY({CHOROPLETH_LEVELS}) LOOP
            DELETE FROM complaint_area
            WHERE generation_id = changed.generation_id AND level = changed.level;
            {PLACE.format(complaints="complaint c", levels="ARRAY[changed.level]",
                          generations="ARRAY[changed.generation_id]")};
        END LOOP;"""),
}


def upgrade() -> None:
    op.execute(GENERATION_IN_FORCE)
    op.execute(COVERING_AREAS)
    for name, (declarations, statements) in TRIGGER_FUNCTIONS.items():
        op.execute(f"""
            CREATE OR REPLACE FUNCTION {name}() RETURNS trigger
            LANGUAGE plpgsql AS $$
            DECLARE
                {declarations}
            BEGIN
                {statements}
                RETURN NULL;
            END $$""")


def downgrade() -> None:
    previous = ScriptDirectory.from_config(context.config).get_revision("0006_complaint_area")
    previous.module.define_trigger_functions()
    op.execute("DROP FUNCTION covering_areas(geometry, text[], integer[])")
    op.execute("DROP FUNCTION generation_in_force(text, date)")
