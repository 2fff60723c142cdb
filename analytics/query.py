"""SQL pieces every analysis shares: the complaint filter, the region it covers, the projected
CRS that measures metres, and which boundary generation an analysis uses.

Analyses are long statements (CTEs, lateral projections, grouping) that read best as SQL text,
so the platform's filter is compiled here into a WHERE condition over ``complaint`` with its own
parameters (``db.sql.core``), and embedded. The filter itself is never re-implemented.
"""

from datetime import UTC, datetime
from functools import reduce

import shapely
from sqlalchemy import Connection, text

from db.complaints import ComplaintFilter, where_clauses
from db.sql import Fragment, compose, core, execute, sql
from errors import ErrorCode, PhananhError, quoted


def complaint_where(f: ComplaintFilter, alias: str = "filter") -> Fragment:
    """The filter as one condition over the (un-aliased) table ``complaint``, its parameters
    named after ``alias``: a statement that embeds two filters gives them two aliases."""
    return core(where_clauses(f), alias)


def region(f: ComplaintFilter) -> Fragment | None:
    """The part of the map the filter restricts to (its bbox, polygon and radius, intersected),
    as a geometry in EPSG:4326; None when the filter has no spatial part."""
    parts = []
    if f.bbox is not None:
        west, south, east, north = f.bbox
        parts.append(sql("ST_MakeEnvelope(:region_w, :region_s, :region_e, :region_n, 4326)",
                         region_w=west, region_s=south, region_e=east, region_n=north))
    if f.within is not None:
        parts.append(sql("ST_SetSRID(ST_GeomFromWKB(:region_wkb), 4326)",
                         region_wkb=shapely.to_wkb(f.within)))
    if f.near is not None:
        parts.append(sql("CAST(ST_Buffer(CAST(ST_SetSRID(ST_MakePoint(:region_lon, :region_lat),"
                         " 4326) AS geography), :region_radius) AS geometry)",
                         region_lon=f.near.lon, region_lat=f.near.lat,
                         region_radius=f.near.radius_m))
    if not parts:
        return None
    return reduce(lambda geometry, part: compose("ST_Intersection({geometry}, {part})",
                                                 geometry=geometry, part=part), parts)


# The territory served in a generation: the union of its top-level areas (the city, or the
# wards themselves when only wards were imported).
TERRITORY = """(SELECT ST_Union(geom) FROM admin_area
                WHERE generation_id = :generation_id AND parent_id IS NULL)"""


def study_area(f: ComplaintFilter, generation_id: int | None) -> Fragment:
    """Where an analysis over a grid looks: the generation's territory, narrowed to the
    filter's region.

    Either may be missing (no boundaries loaded, or no spatial filter); when both are, there is
    nothing to lay a grid over, which the caller reports.
    """
    territory = sql(TERRITORY, generation_id=generation_id)
    area = region(f)
    if area is None:
        return territory
    return compose("""(SELECT CASE WHEN t.g IS NULL THEN r.g ELSE ST_Intersection(t.g, r.g) END
                       FROM {territory} AS t(g), (SELECT {area}) AS r(g))""",
                   territory=territory, area=area)


ANALYSIS_SRID = """
    SELECT utm_srid(COALESCE(
        (SELECT CAST({region} AS geometry)),
        (SELECT ST_SetSRID(CAST(ST_Extent(geom) AS geometry), 4326) FROM admin_area
         WHERE generation_id = :generation_id),
        (SELECT ST_SetSRID(CAST(ST_Extent(location) AS geometry), 4326) FROM complaint)))
"""


def analysis_srid(conn: Connection, f: ComplaintFilter, generation_id: int | None) -> int | None:
    """The UTM zone (EPSG code) of the place being analysed: the filter's region if it has
    one, else the generation's territory, else wherever the complaints are. None when the
    database holds neither boundaries nor complaints."""
    statement = compose(ANALYSIS_SRID, region=region(f) or "NULL")
    return execute(conn, statement.bind(generation_id=generation_id)).scalar_one()


# The generation called :name, or (no name) the one in force at :at for :level.
GENERATION = """
    SELECT CASE WHEN CAST(:name AS text) IS NULL
                THEN generation_in_force(:level, CAST(:at AS date))
                ELSE (SELECT id FROM boundary_generation WHERE name = :name) END
"""


def generation_id(conn: Connection, name: str | None, level: str) -> int | None:
    """The generation called ``name``, or the one in force today for ``level`` (None if no
    generation is in force). An unknown name is the client's mistake and says so."""
    found = conn.execute(text(GENERATION), {"name": name, "level": level,
                                            "at": datetime.now(UTC).date()}).scalar()
    if found is None and name is not None:
        raise PhananhError(ErrorCode.NOT_FOUND, f"No boundary generation {quoted(name)}.")
    return found
