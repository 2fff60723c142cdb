"""SQL for administrative areas, generations and categories."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from db.prepared import prepared
from errors import ErrorCode, PhananhError, quoted
from geo.jurisdiction import GENERATIONS_IN_FORCE

AREA_COLUMNS = "a.id, a.generation_id, a.parent_id, a.code, a.name, a.name_en, a.level, " \
               "a.area_km2, a.population"

# Without a generation name: the generation in force today for the area's level, else the
# newest one that has the code (so retired areas stay reachable by code).
FIND_AREAS = f"""
    WITH gen AS ({GENERATIONS_IN_FORCE})
    SELECT {AREA_COLUMNS}
    FROM admin_area a
    JOIN boundary_generation g ON g.id = a.generation_id
    LEFT JOIN admin_area parent ON parent.id = a.parent_id
    WHERE (CAST(:code AS text) IS NULL OR a.code = :code)
      AND (CAST(:level AS text) IS NULL OR a.level = :level)
      AND (CAST(:parent_code AS text) IS NULL OR parent.code = :parent_code)
      AND CASE WHEN CAST(:generation AS text) IS NOT NULL THEN g.name = :generation
               ELSE a.generation_id IN (SELECT generation_id FROM gen WHERE gen.level = a.level)
                    OR (CAST(:code AS text) IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM admin_area b JOIN gen ON gen.generation_id = b.generation_id
                        WHERE b.code = a.code AND b.level = a.level))
          END
    ORDER BY a.level, a.code, g.valid_from DESC NULLS LAST
"""


def find_areas(conn: Connection, *, code: str | None = None, level: str | None = None,
               parent_code: str | None = None, generation: str | None = None) -> list[Any]:
    params = {"code": code, "level": level, "parent_code": parent_code,
              "generation": generation, "at": datetime.now(UTC).date()}
    return list(conn.execute(text(FIND_AREAS), params))


def generation_exists(conn: Connection, name: str) -> bool:
    return conn.execute(text("SELECT 1 FROM boundary_generation WHERE name = :n"),
                        {"n": name}).first() is not None


def categories(conn: Connection, include_retired: bool = False) -> list[Any]:
    return list(conn.execute(text("SELECT * FROM category WHERE :retired OR retired_at IS NULL "
                                  "ORDER BY domain, code"), {"retired": include_retired}))


_AREAS_BY_IDS = prepared(text(f"SELECT {AREA_COLUMNS} FROM admin_area a WHERE a.id = ANY(:ids)"))


def areas_by_ids(conn: Connection, ids: list[int]) -> list[Any]:
    return list(conn.execute(_AREAS_BY_IDS, {"ids": ids}))


# Generations with the levels for which each is the one in force at :at.
GENERATIONS = f"""
    WITH gen AS MATERIALIZED ({GENERATIONS_IN_FORCE})
    SELECT g.id, g.name, g.valid_from, g.valid_to, g.active,
           ARRAY(SELECT gen.level FROM gen WHERE gen.generation_id = g.id
                 ORDER BY gen.level) AS in_force
    FROM boundary_generation g
"""


def generations_by_ids(conn: Connection, ids: list[int]) -> list[Any]:
    return list(conn.execute(text(f"{GENERATIONS} WHERE g.id = ANY(:ids)"),
                             {"ids": ids, "at": datetime.now(UTC).date()}))


def generations(conn: Connection) -> list[Any]:
    """Every boundary generation, the newest first (by the day it came into force)."""
    return list(conn.execute(text(f"{GENERATIONS} ORDER BY g.valid_from DESC NULLS LAST, g.name"),
                             {"at": datetime.now(UTC).date()}))


def set_generation_active(conn: Connection, name: str, active: bool) -> None:
    """Make a generation eligible to be in force (``active``) or not: the activation step of
    an import, as in MapIt. Unknown names are an error."""
    updated = conn.execute(text("UPDATE boundary_generation SET active = :active WHERE name = :n"),
                           {"active": active, "n": name}).rowcount
    if not updated:
        raise PhananhError(ErrorCode.NOT_FOUND, f"No boundary generation {quoted(name)}.")


def categories_by_codes(conn: Connection, codes: list[str]) -> list[Any]:
    return list(conn.execute(text("SELECT * FROM category WHERE code = ANY(:codes)"),
                             {"codes": codes}))


def area_geometries(conn: Connection, ids: list[int], simplify_m: float | None) -> list[Any]:
    """(id, GeoJSON) of areas; ``simplify_m`` simplifies in metres, in the area's UTM zone."""
    geometry = "geom"
    if simplify_m:
        geometry = ("ST_Transform(ST_SimplifyPreserveTopology(ST_Transform(geom, utm_srid(geom)),"
                    " :tolerance), 4326)")
    sql = f"SELECT id, ST_AsGeoJSON({geometry}, 7)::json AS geojson FROM admin_area " \
          "WHERE id = ANY(:ids)"
    return list(conn.execute(text(sql), {"ids": ids, "tolerance": simplify_m}))
