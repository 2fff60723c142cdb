"""Grid-cell rollups, one home for the placing rule and for the cell of a point, and a rebuild.

* ``placed_area(generation, level, routed generation, routed level, routed id, covering id)``:
  the area of a generation a complaint is counted in (analytics/areas.py): the ward (district)
  it was routed to if that area belongs to the generation, else the one covering it. The
  triggers of 0013 are written again to call it, and ``analytics/areas.py`` calls it too. A
  plain expression, so PostgreSQL inlines it (no function call per row).
* ``grid_cell(shape, size_m, srid, utm_epsg, utm_x, utm_y, location)``: the packed key of the
  cell of ``analytics/grid.py`` holding a complaint, in a grid laid out in ``srid``. Its stored
  UTM coordinates are used as they are when they are in ``srid``, else its location is
  projected. The raw grid and hot spot queries and the rollup below all call it; inlined too.
* ``grid_rollup_size``: the standard grids (shape, cell size) that are rolled up.
  ``complaint_grid_rollup`` counts complaints per standard grid, UTM zone (each complaint in
  the grid laid out in its own zone, ``utm_epsg``), city day, cell, category and status.
  A complaint's cell depends on its own row only, so **row** triggers on ``complaint`` keep
  the counts exact in the writing transaction by adding and subtracting one (an upsert, or an
  UPDATE that PostgreSQL re-evaluates on the newest row version, so concurrent writers never
  lose a count); a count that reaches 0 is deleted. Changing ``grid_rollup_size`` rebuilds.
* ``grid_cell`` carries the cost PostGIS declares for ``ST_Transform`` (its branch for another
  zone), so a statement over many complaints looks costly enough to be JIT-compiled, which
  takes seconds and gains nothing here: the trigger and the rebuild run with ``jit = off``.
* ``rebuild_rollups()``: both rollups from scratch in one set-based statement each, with
  writers to ``complaint`` locked out meanwhile: what a bulk load calls after inserting with
  the rollup triggers disabled (``demo/seed.py``), and ``phananh rollups rebuild``.

Revision ID: 0017_grid_rollups
Revises: 0016_notify_cap
Create Date: 2026-12-02
"""

import importlib

from alembic import op

revision = "0017_grid_rollups"
down_revision = "0016_notify_cap"
branch_labels = None
depends_on = None


# Migration 0013, whose trigger functions are written again here with ``placed_area``.
DAILY = importlib.import_module("migrations.versions.0013_rollups")
PLACED_CALL = ("placed_area({g}, {level}, routed.generation_id, routed.level, routed.id, "
               "ca.area_id)")

PLACED_AREA = """
    CREATE FUNCTION placed_area(generation integer, level text, routed_generation integer,
                                routed_level text, routed_id integer, covering_id integer)
    RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN routed_generation = generation AND routed_level = level
                    THEN routed_id ELSE covering_id END
    $$"""

STANDARD_GRIDS = [("HEXAGON", 500.0), ("HEXAGON", 800.0), ("HEXAGON", 1000.0),
                  ("HEXAGON", 1500.0), ("SQUARE", 500.0), ("SQUARE", 1000.0)]


def _cell_key() -> str:
    """The cell of analytics/grid.py (see its docstring for the rule) of the point (x, y)."""
    x = ("(CASE WHEN utm_epsg = srid THEN utm_x "
         "ELSE ST_X(ST_Transform(location, srid)) END)")
    y = ("(CASE WHEN utm_epsg = srid THEN utm_y "
         "ELSE ST_Y(ST_Transform(location, srid)) END)")

    def pack(i: str, j: str) -> str:
        return f"(CAST({i} AS bigint) * 4294967296 + CAST({j} AS bigint) + 2147483648)"

    square_u, square_v = f"({x} / size_m)", f"({y} / size_m)"
    u, v = f"({x} / (3 * size_m))", f"({y} / (sqrt(3::float8) * size_m))"
    even_is_nearer = f"3 * abs({u} - floor({u}) - 0.5) + abs({v} - floor({v}) - 0.5) >= 1"
    hexagon = (f"CASE WHEN {even_is_nearer} "
               f"THEN {pack(f'2 * floor({u} + 0.5)', f'floor({v} + 0.5)')} "
               f"ELSE {pack(f'2 * floor({u}) + 1', f'floor({v})')} END")
    return (f"CASE shape WHEN 'SQUARE' THEN {pack(f'floor({square_u})', f'floor({square_v})')} "
            f"WHEN 'HEXAGON' THEN {hexagon} END")


GRID_CELL = f"""
    CREATE FUNCTION grid_cell(shape text, size_m float8, srid integer, utm_epsg integer,
                              utm_x float8, utm_y float8, location geometry)
    RETURNS bigint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT {_cell_key()}
    $$"""

DAY = DAILY.DAY
# The key of complaint {c}'s row in grid s (a row of grid_rollup_size), in its own zone.
ROLLED = ("s.shape, s.size_m, {c}.utm_epsg, " + DAY.format(created="{c}.created_at")
          + ", grid_cell(s.shape, s.size_m, {c}.utm_epsg, {c}.utm_epsg, {c}.utm_x, {c}.utm_y, "
            "{c}.location), {c}.category_code, {c}.status")
KEY = ("shape", "size_m", "srid", "day", "cell", "category_code", "status")
MATCHES = f"({', '.join(f'r.{k}' for k in KEY)}) = ({ROLLED.format(c='OLD')})"

GRID_TRIGGER_FUNCTION = f"""
    CREATE FUNCTION complaint_grid_rollup_row() RETURNS trigger LANGUAGE plpgsql
    SET jit = off AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.utm_epsg IS NOT NULL THEN
            UPDATE complaint_grid_rollup r SET complaints = r.complaints - 1
            FROM grid_rollup_size s WHERE {MATCHES};
            DELETE FROM complaint_grid_rollup r USING grid_rollup_size s
            WHERE {MATCHES} AND r.complaints = 0;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.utm_epsg IS NOT NULL THEN
            INSERT INTO complaint_grid_rollup AS r
            SELECT {ROLLED.format(c='NEW')}, 1 FROM grid_rollup_size s
            ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET complaints = r.complaints + 1;
        END IF;
        RETURN NULL;
    END $$"""

# Only what moves a complaint to another row of the rollup fires the update trigger.
GRID_COLUMNS = ("created_at", "category_code", "status", "utm_epsg", "utm_x", "utm_y")
GRID_TRIGGERS = [
    # (name, definition)
    ("complaint_grid_rollup_insert", "AFTER INSERT ON complaint FOR EACH ROW"),
    ("complaint_grid_rollup_update", "AFTER UPDATE ON complaint FOR EACH ROW WHEN (("
     + ", ".join(f"OLD.{c}" for c in GRID_COLUMNS) + ") IS DISTINCT FROM ("
     + ", ".join(f"NEW.{c}" for c in GRID_COLUMNS) + "))"),
    ("complaint_grid_rollup_delete", "AFTER DELETE ON complaint FOR EACH ROW"),
]

GRID_BACKFILL = f"""
    INSERT INTO complaint_grid_rollup
    SELECT {ROLLED.format(c='c')}, count(*)
    FROM complaint c CROSS JOIN grid_rollup_size s
    WHERE c.utm_epsg IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5, 6, 7"""


def rebuild_function(area_backfill: str) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION rebuild_rollups() RETURNS void LANGUAGE plpgsql
    SET jit = off AS $$
    BEGIN
        LOCK TABLE complaint, complaint_area IN SHARE MODE;
        TRUNCATE complaint_rollup, complaint_grid_rollup;
        {area_backfill};
        {GRID_BACKFILL};
    END $$"""


def upgrade() -> None:
    op.execute(PLACED_AREA)
    op.execute(GRID_CELL)
    functions, backfill = DAILY.statements(PLACED_CALL)
    DAILY.create_functions(functions, replace=True)
    op.execute("""
        CREATE TABLE grid_rollup_size (
            shape text NOT NULL CHECK (shape IN ('HEXAGON', 'SQUARE')),
            size_m float8 NOT NULL CHECK (size_m >= 10 AND size_m <= 100000),
            PRIMARY KEY (shape, size_m)
        )""")
    op.execute("INSERT INTO grid_rollup_size VALUES "
               + ", ".join(f"('{shape}', {size})" for shape, size in STANDARD_GRIDS))
    op.execute("ANALYZE grid_rollup_size")
    op.execute("""
        CREATE TABLE complaint_grid_rollup (
            shape text NOT NULL,
            size_m float8 NOT NULL,
            srid integer NOT NULL,  -- the UTM zone the cell is laid out in
            day date NOT NULL,  -- in the city's time zone
            cell bigint NOT NULL,  -- grid_cell(): i and j packed
            category_code text NOT NULL,
            status text NOT NULL,
            complaints integer NOT NULL CHECK (complaints >= 0),
            -- the counts in the key's index too: a grid over days is an index-only scan
            PRIMARY KEY (shape, size_m, srid, day, cell, category_code, status)
                INCLUDE (complaints)
        )""")
    op.execute(rebuild_function(backfill))
    op.execute(GRID_TRIGGER_FUNCTION)
    for name, definition in GRID_TRIGGERS:
        op.execute(f"CREATE TRIGGER {name} {definition} "
                   f"EXECUTE FUNCTION complaint_grid_rollup_row()")
    op.execute("""
        CREATE FUNCTION complaint_grid_rollup_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN TRUNCATE complaint_grid_rollup; RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER complaint_grid_rollup_truncate AFTER TRUNCATE ON complaint "
               "FOR EACH STATEMENT EXECUTE FUNCTION complaint_grid_rollup_truncated()")
    op.execute("""
        CREATE FUNCTION grid_rollup_resized() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM rebuild_rollups(); RETURN NULL; END $$""")
    op.execute("CREATE TRIGGER grid_rollup_resize AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
               "ON grid_rollup_size FOR EACH STATEMENT EXECUTE FUNCTION grid_rollup_resized()")
    op.execute("SELECT rebuild_rollups()")


def downgrade() -> None:
    op.execute("DROP TRIGGER grid_rollup_resize ON grid_rollup_size")
    op.execute("DROP FUNCTION grid_rollup_resized()")
    op.execute("DROP TRIGGER complaint_grid_rollup_truncate ON complaint")
    op.execute("DROP FUNCTION complaint_grid_rollup_truncated()")
    for name, _ in GRID_TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON complaint")
    op.execute("DROP FUNCTION complaint_grid_rollup_row()")
    op.execute("DROP FUNCTION rebuild_rollups()")
    op.execute("DROP TABLE complaint_grid_rollup")
    op.execute("DROP TABLE grid_rollup_size")
    DAILY.create_functions(DAILY.TRIGGER_FUNCTIONS, replace=True)
    op.execute("DROP FUNCTION grid_cell(text, float8, integer, integer, float8, float8, geometry)")
    op.execute("DROP FUNCTION placed_area(integer, text, integer, text, integer, integer)")
