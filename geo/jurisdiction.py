"""Point → ward, district and city, in the boundary generation in force at a date.

Both rules live in SQL, created by migration 0008, and every query that resolves areas calls
them (this lookup, bulk loads, the stored placement triggers, the analyses and the layers):

* ``generation_in_force(level, at)``: per level, the active generation valid on day ``at``
  that has areas of that level, the newest ``valid_from`` first;
* ``covering_areas(point, levels, generations)``: per generation and level, the area whose
  boundary *covers* the point (``ST_Covers``: boundary included), the lowest ``code`` winning.
  A point on the shared edge of two wards, or in an overlap sliver, therefore always resolves
  to the same ward.

``covering_areas`` reads ``admin_area_part``, the areas cut by ``ST_Subdivide`` into pieces of
a hundred-odd vertices, and PostgreSQL inlines it where it is called in ``FROM``: one GiST
probe and a tiny point-in-polygon test answer each point.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text

from db.prepared import prepared
from geo.validation import on_earth

LEVELS = ("ward", "district", "city")
_ALL_LEVELS = "ARRAY[" + ", ".join(f"'{level}'" for level in LEVELS) + "]"

# Rows (level, generation_id): the generation in force at :at for each level that has one.
GENERATIONS_IN_FORCE = f"""
    SELECT level, generation_id
    FROM unnest({_ALL_LEVELS}) AS level
    CROSS JOIN LATERAL generation_in_force(level, CAST(:at AS date)) AS generation_id
    WHERE generation_id IS NOT NULL
"""

# Per point of {points} (a FROM item with a ``location`` column, alias ``pt``), the areas in
# force at :at of the levels in {levels} (an SQL text[]), as columns ``level`` and ``area_id``
# of ``area``, by {rule}: ``covering_areas`` for points, ``responsible_areas`` (migration 0011:
# the largest share, which for a point is covering_areas' answer) for footprints. ``wanted``
# pairs each level with its generation in force; the rule answers for every generation and
# level asked, so the WHERE keeps each level's own generation. The generations reach the
# rule as a column, not as a sub-select among its arguments, which
# would stop PostgreSQL from inlining it.
_IN_FORCE_AREAS = f"""
    WITH wanted AS MATERIALIZED (
        SELECT array_agg(generation_id) AS ids, array_agg(level) AS levels
        FROM ({GENERATIONS_IN_FORCE}) AS gen WHERE level = ANY({{levels}}))
    SELECT {{columns}}
    FROM wanted CROSS JOIN {{points}} AS pt
    CROSS JOIN LATERAL {{rule}}(pt.location, {{levels}}, wanted.ids) AS area
    WHERE area.generation_id = wanted.ids[array_position(wanted.levels, area.level)]
    {{tail}}"""

LOOKUP_POINTS = prepared(text(_IN_FORCE_AREAS.format(
    columns="pt.ord, area.level, area.area_id", levels="CAST(:levels AS text[])",
    rule="covering_areas",
    points="""(SELECT ord, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS location
               FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]))
                    WITH ORDINALITY AS t(lon, lat, ord))""",
    tail="")))

# The areas in force holding each row of {rows}, a FROM item with ``key`` and ``location``
# columns (a bulk load's staged rows): per key, its ward, district and city ids.
AREAS_OF_ROWS = _IN_FORCE_AREAS.format(
    rule="covering_areas",
    columns=", ".join(["pt.key"] + [f"max(area.area_id) FILTER (WHERE area.level = '{level}') "
                                    f"AS {level}_id" for level in LEVELS]),
    levels=_ALL_LEVELS, points="{rows}", tail="GROUP BY pt.key")

# The areas in force at :at responsible for one footprint (:wkb), per level.
LOOKUP_FOOTPRINT = prepared(text(_IN_FORCE_AREAS.format(
    columns="area.level, area.area_id", levels=_ALL_LEVELS, rule="responsible_areas",
    points="(SELECT ST_GeomFromWKB(:wkb, 4326) AS location)", tail="")))


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
         "at": as_date(at), "levels": list(levels)},
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


def as_date(at: date | datetime | None) -> date:
    if at is None:
        return datetime.now(UTC).date()
    return at.date() if isinstance(at, datetime) else at


def ward_named_in(conn: Connection, address: str, at: date | datetime | None = None
                  ) -> tuple[float, float] | None:
    """A point inside the ward in force whose name ``address`` contains (the longest name
    first, then the lowest code), or None: how a submission given only an address is placed
    (there is no street geocoder; the ward is what routing needs)."""
    row = conn.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (
            SELECT ST_PointOnSurface(a.geom) AS p FROM admin_area a
            WHERE a.level = 'ward'
              AND a.generation_id = generation_in_force('ward', CAST(:at AS date))
              AND strpos(lower(:address), lower(a.name)) > 0
            ORDER BY length(a.name) DESC, a.code LIMIT 1) AS named"""),
        {"address": address, "at": as_date(at)}).first()
    return (row[0], row[1]) if row else None
