"""Point → ward, district and city, in the boundary generation in force at a date.

The rule, for each level on its own: take the active generation in force at the date
(``valid_from ≤ at < valid_to``, open ends allowed) that has areas of that level, the newest
``valid_from`` first. Within it, the areas whose boundary *covers* the point (``ST_Covers``:
boundary included) are candidates, and the one with the lowest ``code`` wins. A point on the
shared edge of two wards, or in an overlap sliver, therefore always resolves to the same ward.

Lookups run against ``admin_area_part``, the areas cut by ``ST_Subdivide`` into pieces of a
hundred-odd vertices, so one GiST probe and a tiny point-in-polygon test answer each point.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text

from geo.validation import on_earth

LEVELS = ("ward", "district", "city")

# The generation used for each level at :at. Shared by every query that resolves areas.
GENERATIONS_IN_FORCE = """
    SELECT DISTINCT ON (levels.level) levels.level, g.id AS generation_id
    FROM boundary_generation g
    CROSS JOIN LATERAL (
        SELECT DISTINCT level FROM admin_area WHERE generation_id = g.id
    ) AS levels
    WHERE g.active
      AND (g.valid_from IS NULL OR g.valid_from <= CAST(:at AS date))
      AND (g.valid_to IS NULL OR CAST(:at AS date) < g.valid_to)
    ORDER BY levels.level, g.valid_from DESC NULLS LAST, g.id DESC
"""

LOOKUP_POINTS = text(f"""
    WITH gen AS ({GENERATIONS_IN_FORCE}),
    pts AS (
        SELECT ord, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom
        FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]))
             WITH ORDINALITY AS t(lon, lat, ord)
    )
    SELECT DISTINCT ON (pts.ord, p.level) pts.ord, p.level, p.area_id
    FROM pts
    JOIN admin_area_part p ON ST_Covers(p.geom, pts.geom) AND p.level = ANY(:levels)
    JOIN gen ON gen.generation_id = p.generation_id AND gen.level = p.level
    ORDER BY pts.ord, p.level, p.code
""")

# The areas in force holding each row of {rows}, a FROM item with ``key`` and ``location``
# columns (a bulk load's staged rows): per key, its ward, district and city ids.
AREAS_OF_ROWS = f"""
    WITH gen AS ({GENERATIONS_IN_FORCE}),
    hit AS (
        SELECT DISTINCT ON (r.key, p.level) r.key, p.level, p.area_id
        FROM {{rows}} AS r
        JOIN admin_area_part p ON ST_Covers(p.geom, r.location)
        JOIN gen ON gen.generation_id = p.generation_id AND gen.level = p.level
        ORDER BY r.key, p.level, p.code
    )
    SELECT key,
           max(area_id) FILTER (WHERE level = 'ward') AS ward_id,
           max(area_id) FILTER (WHERE level = 'district') AS district_id,
           max(area_id) FILTER (WHERE level = 'city') AS city_id
    FROM hit GROUP BY key"""


def lookup_points(
    conn: Connection,
    points: Sequence[tuple[float, float]],
    at: date | datetime | None = None,
    levels: Sequence[str] = LEVELS,
) -> list[dict[str, int]]:
    """For each (lon, lat), in order, a mapping level → admin_area id (levels found only).

    Only ``levels`` are looked up: a client asking for wards alone does not pay for the city's
    large boundary.
    """
    if not points or not levels:
        return [{} for _ in points]
    rows = conn.execute(
        LOOKUP_POINTS,
        {"lons": float_array([p[0] for p in points]), "lats": float_array([p[1] for p in points]),
         "at": _as_date(at), "levels": list(levels)},
    )
    found: list[dict[str, int]] = [{} for _ in points]
    for ordinal, level, area_id in rows:
        found[ordinal - 1][level] = area_id
    return found


def ward_at(conn: Connection, lon: float, lat: float) -> int | None:
    """The ward in force today holding (lon, lat), or None (also for impossible coordinates):
    what swapped-coordinate hints ask."""
    if not on_earth(lon, lat):
        return None
    return lookup_points(conn, [(lon, lat)], None, ["ward"])[0].get("ward")


def float_array(values: Sequence[float]) -> str:
    """A float8[] literal. psycopg2 sends lists as ARRAY[…] expressions, which PostgreSQL must
    parse constant by constant; for 10,000 points that costs more than the lookup itself."""
    return "{" + ",".join(map(repr, values)) + "}"


def _as_date(at: date | datetime | None) -> date:
    if at is None:
        return datetime.now(UTC).date()
    return at.date() if isinstance(at, datetime) else at
