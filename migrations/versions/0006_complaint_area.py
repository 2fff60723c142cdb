"""Where each complaint lies in every boundary generation, kept by triggers.

A choropleth in an older generation counts a complaint in the ward whose boundary covers it
(the lowest code winning on a shared edge), not where it was routed. Finding that ward point by
point, or by a spatial join over a million complaints, takes seconds per query; it depends only
on the complaint's location and the boundaries, so it is stored once: one row per complaint,
generation and level (ward, district), and a choropleth becomes a join and a GROUP BY.

Triggers keep it exact, set-based, whatever the write path (API, seed COPY, import):

* complaints inserted (one by one or a COPY batch): their rows, from the inserted set joined
  to the subdivided areas;
* a complaint's location changed: its rows again;
* areas' parts inserted, changed or deleted (an import, a re-import, a deleted area): the
  rows of those generations and levels again, by one join driven by the areas.

Routing, status and every other column are read live from ``complaint``, so rerouting or a
status change never makes this table stale. The join needs the complaint's id, so the covering
index of 0005 now holds it too (the analyses stay index-only scans).

Revision ID: 0006_complaint_area
Revises: 0005_analytics
Create Date: 2026-11-28
"""

from alembic import op

revision = "0006_complaint_area"
down_revision = "0005_analytics"
branch_labels = None
depends_on = None

LEVELS = "('ward', 'district')"
COVERED = """category_code, status, ward_id, district_id, first_action_at, resolved_at, due_at,
             rating, location"""

# The lowest-code area covering each complaint, per generation and level.
PLACE = f"""
    INSERT INTO complaint_area (generation_id, level, complaint_id, area_id)
    SELECT DISTINCT ON (p.generation_id, p.level, c.id) p.generation_id, p.level, c.id, p.area_id
    FROM {{parts}} JOIN {{complaints}} ON ST_Covers(p.geom, c.location)
    WHERE p.level IN {LEVELS} {{condition}}
    ORDER BY p.generation_id, p.level, c.id, p.code"""

# For the generations and levels of the changed parts (transition table ``changed_parts``).
REPLACE_FOR_PARTS = f"""
    DELETE FROM complaint_area ca
    WHERE (ca.generation_id, ca.level) IN (SELECT generation_id, level FROM changed_parts);
    {PLACE.format(parts="admin_area_part p", complaints="complaint c",
                  condition="AND (p.generation_id, p.level) IN "
                            "(SELECT generation_id, level FROM changed_parts)")};"""


def covering_index(columns: str) -> None:
    op.execute("DROP INDEX complaint_analytics")
    op.execute(f"CREATE INDEX complaint_analytics ON complaint (created_at) INCLUDE ({columns})")


def define_trigger_functions() -> None:
    """The trigger functions of this revision (0008_area_rules replaces them, and restores
    them on downgrade)."""
    op.execute(f"""
        CREATE OR REPLACE FUNCTION complaint_area_place_new() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            {PLACE.format(parts="admin_area_part p", complaints="new_complaints c",
                          condition="")};
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION complaint_area_place_moved() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM complaint_area WHERE complaint_id = NEW.id;
            {PLACE.format(parts="admin_area_part p", complaints="complaint c",
                          condition="AND c.id = NEW.id")};
            RETURN NULL;
        END $$""")
    op.execute(f"""
        CREATE OR REPLACE FUNCTION complaint_area_replace_for_parts() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            {REPLACE_FOR_PARTS}
            RETURN NULL;
        END $$""")


def upgrade() -> None:
    covering_index(f"id, {COVERED}")
    op.execute("""
        CREATE TABLE complaint_area (
            generation_id integer NOT NULL,
            level text NOT NULL,
            complaint_id bigint NOT NULL REFERENCES complaint(id) ON DELETE CASCADE,
            area_id integer NOT NULL,  -- no foreign key: deleting an area deletes its parts,
                                       -- whose trigger replaces the rows (and a key check
                                       -- per row would double the cost of a bulk load)
            PRIMARY KEY (generation_id, level, complaint_id)
        )""")
    op.execute("CREATE INDEX complaint_area_complaint ON complaint_area (complaint_id)")
    op.execute(PLACE.format(parts="admin_area_part p", complaints="complaint c", condition=""))
    define_trigger_functions()
    op.execute("""
        CREATE TRIGGER complaint_area_insert AFTER INSERT ON complaint
        REFERENCING NEW TABLE AS new_complaints
        FOR EACH STATEMENT EXECUTE FUNCTION complaint_area_place_new()""")
    op.execute("""
        CREATE TRIGGER complaint_area_move AFTER UPDATE OF location ON complaint
        FOR EACH ROW WHEN (OLD.location IS DISTINCT FROM NEW.location)
        EXECUTE FUNCTION complaint_area_place_moved()""")
    for event, transition in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        op.execute(f"""
            CREATE TRIGGER complaint_area_parts_{event.lower()} AFTER {event} ON admin_area_part
            REFERENCING {transition} TABLE AS changed_parts
            FOR EACH STATEMENT EXECUTE FUNCTION complaint_area_replace_for_parts()""")


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER complaint_area_parts_{event} ON admin_area_part")
    op.execute("DROP TRIGGER complaint_area_move ON complaint")
    op.execute("DROP TRIGGER complaint_area_insert ON complaint")
    op.execute("DROP FUNCTION complaint_area_replace_for_parts()")
    op.execute("DROP FUNCTION complaint_area_place_moved()")
    op.execute("DROP FUNCTION complaint_area_place_new()")
    op.execute("DROP TABLE complaint_area")
    covering_index(COVERED)
