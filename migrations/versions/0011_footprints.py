"""Complaints with any footprint: a point, a line or a polygon (and their Multi- forms).

``complaint.footprint`` holds what the citizen drew; ``complaint.location`` stays the point
everything point-based reads (pins, clusters, grids, Gi*, the stored placement of 0006): the
*representative point* of the footprint, which lies on it. A BEFORE trigger keeps the pair
consistent whatever the write path (API, seed COPY, a test's INSERT): a row given only a
location gets that point as its footprint, a row given only a footprint gets its
representative point as location, and moving the point of a point complaint moves its
footprint.

The rules, as SQL functions beside those of 0008 (same style, same single home):

* ``representative_point(footprint)``: the point itself; for polygons ``ST_PointOnSurface``
  (inside, never in a hole); for a line the point halfway along it (``ST_LineInterpolatePoint``
  at 0.5; for a MultiLineString, halfway along its longest merged part); for a MultiPoint
  ``ST_PointOnSurface``, which picks one of its points.
* ``footprint_shares(footprint, levels, generations)``: every area of the levels and
  generations the footprint touches, with its share: of the length for lines, of the area for
  polygons (both measured on the spheroid), of the member points for (Multi)Points, where each
  point counts in the area ``covering_areas`` gives it. A point's single share is therefore
  exactly the point rule.
* ``responsible_areas(footprint, levels, generations)``: per generation and level, the area with
  the largest share, ties (shares equal to 1e-9) to the lowest code, then the lowest id. For a
  point it is ``covering_areas``' answer.

NOT NULL constraints are checked after BEFORE triggers, and the stored measures of 0007 are
computed after them too, so a row given only a footprint is complete.

Categories may set their own maximum footprint (``max_footprint_m`` for a line's length or a
MultiPoint's span, ``max_footprint_ha`` for a polygon's area); NULL takes the settings'
defaults. ``routing`` records why a complaint went where it went (rule, shares, candidates).

Revision ID: 0011_footprints
Revises: 0009_rate_limits
Create Date: 2026-12-02
"""

from alembic import op

revision = "0011_footprints"
down_revision = "0009_rate_limits"
branch_labels = None
depends_on = None

REPRESENTATIVE_POINT = """
    CREATE FUNCTION representative_point(footprint geometry) RETURNS geometry
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT CASE ST_Dimension(footprint)
            WHEN 1 THEN (
                SELECT ST_LineInterpolatePoint(part.geom, 0.5)
                FROM ST_Dump(ST_LineMerge(footprint)) AS part
                ORDER BY ST_Length(part.geom) DESC, part.path LIMIT 1)
            ELSE CASE WHEN GeometryType(footprint) = 'POINT' THEN footprint
                      ELSE ST_PointOnSurface(footprint) END
        END
    $$"""

# Measures on the spheroid: a share of length or area, whatever the latitude.
FOOTPRINT_SHARES = """
    CREATE FUNCTION footprint_shares(footprint geometry, levels text[], generations integer[])
    RETURNS TABLE (generation_id integer, level text, area_id integer, code text, share float8)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
        WITH points AS (
            SELECT pt.geom FROM ST_Dump(footprint) AS pt WHERE ST_Dimension(footprint) = 0),
        pieces AS (
            SELECT p.generation_id, p.level, p.area_id, p.code,
                   CASE ST_Dimension(footprint)
                       WHEN 1 THEN ST_Length(ST_Intersection(p.geom, footprint)::geography)
                       ELSE ST_Area(ST_Intersection(p.geom, footprint)::geography) END AS measure
            FROM admin_area_part p
            WHERE ST_Dimension(footprint) > 0 AND ST_Intersects(p.geom, footprint)
              AND p.level = ANY(footprint_shares.levels)
              AND p.generation_id = ANY(footprint_shares.generations))
        SELECT a.generation_id, a.level, a.area_id, area.code,
               count(*)::float8 / (SELECT count(*) FROM points)
        FROM points
        CROSS JOIN LATERAL covering_areas(points.geom, footprint_shares.levels,
                                          footprint_shares.generations) AS a
        JOIN admin_area area ON area.id = a.area_id
        GROUP BY a.generation_id, a.level, a.area_id, area.code
        UNION ALL
        SELECT pieces.generation_id, pieces.level, pieces.area_id, pieces.code,
               sum(pieces.measure) / CASE ST_Dimension(footprint)
                   WHEN 1 THEN ST_Length(footprint::geography)
                   ELSE ST_Area(footprint::geography) END
        FROM pieces
        GROUP BY pieces.generation_id, pieces.level, pieces.area_id, pieces.code
        HAVING sum(pieces.measure) > 0
    $$"""

RESPONSIBLE_AREAS = """
    CREATE FUNCTION responsible_areas(footprint geometry, levels text[], generations integer[])
    RETURNS TABLE (generation_id integer, level text, area_id integer, share float8)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
        SELECT DISTINCT ON (s.generation_id, s.level) s.generation_id, s.level, s.area_id,
               s.share
        FROM footprint_shares(footprint, levels, generations) AS s
        ORDER BY s.generation_id, s.level, round(s.share::numeric, 9) DESC, s.code, s.area_id
    $$"""

# Keeps location and footprint a consistent pair on every write path.
SYNC_FOOTPRINT = """
    CREATE FUNCTION complaint_footprint_sync() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.footprint IS NULL THEN
                NEW.footprint := NEW.location;
            ELSIF NEW.location IS NULL THEN
                NEW.location := representative_point(NEW.footprint);
            END IF;
        ELSIF NEW.footprint IS NOT DISTINCT FROM OLD.footprint
              AND NEW.location IS DISTINCT FROM OLD.location
              AND GeometryType(OLD.footprint) = 'POINT' THEN
            NEW.footprint := NEW.location;
        ELSIF NEW.footprint IS DISTINCT FROM OLD.footprint
              AND NEW.location IS NOT DISTINCT FROM OLD.location THEN
            NEW.location := representative_point(NEW.footprint);
        END IF;
        RETURN NEW;
    END $$"""


def upgrade() -> None:
    op.execute("ALTER TABLE complaint ADD COLUMN footprint geometry(Geometry, 4326)")
    op.execute("ALTER TABLE complaint ADD COLUMN routing jsonb")
    op.execute("UPDATE complaint SET footprint = location")
    op.execute("ALTER TABLE complaint ALTER COLUMN footprint SET NOT NULL")
    op.execute("""ALTER TABLE complaint ADD CONSTRAINT complaint_footprint_kind CHECK (
        GeometryType(footprint) IN ('POINT', 'MULTIPOINT', 'LINESTRING', 'MULTILINESTRING',
                                    'POLYGON', 'MULTIPOLYGON'))""")
    op.execute("CREATE INDEX complaint_footprint_gist ON complaint USING gist (footprint)")
    op.execute("CREATE INDEX complaint_footprint_geog_gist ON complaint "
               "USING gist ((footprint::geography))")
    op.execute("ALTER TABLE category ADD COLUMN max_footprint_m float8 "
               "CHECK (max_footprint_m > 0)")
    op.execute("ALTER TABLE category ADD COLUMN max_footprint_ha float8 "
               "CHECK (max_footprint_ha > 0)")
    for statement in (REPRESENTATIVE_POINT, FOOTPRINT_SHARES, RESPONSIBLE_AREAS, SYNC_FOOTPRINT):
        op.execute(statement)
    op.execute("""
        CREATE TRIGGER complaint_footprint_sync
        BEFORE INSERT OR UPDATE OF location, footprint ON complaint
        FOR EACH ROW EXECUTE FUNCTION complaint_footprint_sync()""")
    # A new footprint moves the point (in the trigger above), and the stored placement of 0006
    # must follow: "UPDATE OF" names the columns of the statement, not the trigger's changes.
    move_placement("location, footprint")


def move_placement(columns: str) -> None:
    """(Re)create 0006's trigger that places a moved complaint again, on ``columns``."""
    op.execute("DROP TRIGGER IF EXISTS complaint_area_move ON complaint")
    op.execute(f"""
        CREATE TRIGGER complaint_area_move AFTER UPDATE OF {columns} ON complaint
        FOR EACH ROW WHEN (OLD.location IS DISTINCT FROM NEW.location)
        EXECUTE FUNCTION complaint_area_place_moved()""")


def downgrade() -> None:
    move_placement("location")
    op.execute("DROP TRIGGER complaint_footprint_sync ON complaint")
    op.execute("DROP FUNCTION complaint_footprint_sync()")
    op.execute("DROP FUNCTION responsible_areas(geometry, text[], integer[])")
    op.execute("DROP FUNCTION footprint_shares(geometry, text[], integer[])")
    op.execute("DROP FUNCTION representative_point(geometry)")
    op.execute("ALTER TABLE category DROP COLUMN max_footprint_ha")
    op.execute("ALTER TABLE category DROP COLUMN max_footprint_m")
    op.execute("ALTER TABLE complaint DROP COLUMN routing")
    op.execute("ALTER TABLE complaint DROP COLUMN footprint")
