"""SQL pieces every analysis shares: the complaint filter, the region it covers, the projected
CRS that measures metres, and which boundary generation an analysis uses.

Analyses are long statements (CTEs, lateral projections, grouping) that read best as SQL text,
so the platform's filter is compiled once here into a WHERE condition over ``complaint`` with
named parameters, and embedded. The filter itself is never re-implemented.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import shapely
from sqlalchemy import Connection, and_, text, true
from sqlalchemy.dialects import postgresql

from db.complaints import ComplaintFilter, where_clauses
from errors import ErrorCode, PhananhError

_DIALECT = postgresql.psycopg2.dialect(paramstyle="named")


@dataclass(frozen=True)
class Sql:
    """A piece of SQL text and the values of its named (``:name``) parameters."""

    text: str
    params: Mapping[str, Any] = field(default_factory=dict)


def complaint_where(f: ComplaintFilter) -> Sql:
    """The filter as one condition over the (un-aliased) table ``complaint``."""
    compiled = and_(true(), *where_clauses(f)).compile(
        dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    return Sql(str(compiled), dict(compiled.params))


def fetch(conn: Connection, sql: str, *params: Mapping[str, Any]) -> list[Any]:
    """Run ``sql`` with the union of ``params`` (fragments and the caller's own values)."""
    merged: dict[str, Any] = {}
    for values in params:
        merged.update(values)
    return list(conn.execute(text(sql), merged))


def fetch_none(conn: Connection, sql: str, *params: Mapping[str, Any]) -> None:
    """Run a statement that returns no rows (temporary tables and the like)."""
    conn.execute(text(sql), {k: v for values in params for k, v in values.items()})


def region(f: ComplaintFilter) -> Sql | None:
    """The part of the map the filter restricts to (its bbox, polygon and radius, intersected),
    as a geometry in EPSG:4326; None when the filter has no spatial part."""
    parts = []
    params: dict[str, Any] = {}
    if f.bbox is not None:
        parts.append("ST_MakeEnvelope(:region_w, :region_s, :region_e, :region_n, 4326)")
        params.update(zip(("region_w", "region_s", "region_e", "region_n"), f.bbox, strict=True))
    if f.within is not None:
        parts.append("ST_SetSRID(ST_GeomFromWKB(:region_wkb), 4326)")
        params["region_wkb"] = shapely.to_wkb(f.within)
    if f.near is not None:
        parts.append("CAST(ST_Buffer(CAST(ST_SetSRID(ST_MakePoint(:region_lon, :region_lat), 4326)"
                     " AS geography), :region_radius) AS geometry)")
        params.update(region_lon=f.near.lon, region_lat=f.near.lat, region_radius=f.near.radius_m)
    if not parts:
        return None
    geometry = parts[0]
    for part in parts[1:]:
        geometry = f"ST_Intersection({geometry}, {part})"
    return Sql(geometry, params)


# The territory served in a generation: the union of its top-level areas (the city, or the
# wards themselves when only wards were imported).
TERRITORY = """(SELECT ST_Union(geom) FROM admin_area
                WHERE generation_id = :generation_id AND parent_id IS NULL)"""


def study_area(f: ComplaintFilter) -> Sql:
    """Where an analysis over a grid looks: the territory, narrowed to the filter's region.

    Either may be missing (no boundaries loaded, or no spatial filter); when both are, there is
    nothing to lay a grid over, which the caller reports.
    """
    area = region(f)
    if area is None:
        return Sql(TERRITORY)
    return Sql(f"""(SELECT CASE WHEN t.g IS NULL THEN r.g ELSE ST_Intersection(t.g, r.g) END
                    FROM {TERRITORY} AS t(g), (SELECT {area.text}) AS r(g))""", area.params)


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
    area = region(f) or Sql("NULL")
    return conn.execute(text(ANALYSIS_SRID.format(region=area.text)),
                        {**area.params, "generation_id": generation_id}).scalar_one()


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
        raise PhananhError(ErrorCode.NOT_FOUND, f"No boundary generation {name!r}.")
    return found
