"""Import administrative boundaries from any file GDAL reads into a boundary generation.

The file is read with pyogrio (GeoJSON, GeoPackage, Shapefile, …), imported by the reading
function: it brings pandas and geopandas, which the commands that import this module for
their signatures do not need until they read a file. Everything after reading
happens in PostGIS inside one transaction: reprojection to EPSG:4326, repair with
``ST_MakeValid``, upsert by code within the generation, ``ST_Subdivide`` into lookup parts and
spatial linking of parents. A failed import leaves the database as it was.
"""

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pyproj import CRS
from sqlalchemy import Connection, Engine, text

from errors import ErrorCode, PhananhError, quoted
from settings import get_settings

CODE_FIELDS = ("code", "ma", "id", "CODE", "MA")
NAME_FIELDS = ("name", "ten", "NAME", "TEN")
NAME_EN_FIELDS = ("nameEn", "name_en", "NAME_EN")
POPULATION_FIELDS = ("population", "pop", "dan_so", "POPULATION")
PARENT_LEVEL = {"ward": "district", "district": "city"}
BATCH_SIZE = 50


@dataclass(frozen=True)
class BoundaryFile:
    """Where to find each attribute; a field left None is guessed from common names."""

    path: Path
    level: str
    code_field: str | None = None
    name_field: str | None = None
    name_en_field: str | None = None
    population_field: str | None = None
    parent_field: str | None = None
    layer: str | None = None


@dataclass
class ImportReport:
    generation: str
    level: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    repaired: list[tuple[str, str]] = field(default_factory=list)
    parents_linked: int = 0
    without_parent: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Feature:
    code: str
    name: str
    name_en: str | None
    population: int | None
    parent_code: str | None
    wkb: bytes


def import_boundaries(
    engine: Engine,
    source: BoundaryFile,
    generation: str,
    valid_from: date | None = None,
    valid_to: date | None = None,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> ImportReport:
    """Read ``source`` and upsert its areas into ``generation``; report what happened."""
    if source.level not in ("city", "district", "ward"):
        raise PhananhError(ErrorCode.BAD_INPUT, f"Unknown level {quoted(source.level)}.")
    features, srid = read_features(source)
    report = ImportReport(generation=generation, level=source.level, read=len(features))
    with engine.begin() as conn:
        generation_id = upsert_generation(conn, generation, valid_from, valid_to)
        _stage(conn, features, srid, on_progress)
        report.repaired = _repairs(conn)
        report.inserted, report.updated = _upsert_areas(conn, generation_id, source.level)
        _subdivide(conn, generation_id, source.level)
        if source.parent_field:
            _link_parents_by_code(conn, generation_id, source.level)
        report.parents_linked = link_parents_spatially(conn)
        report.without_parent = _without_parent(conn, generation_id, source.level)
    return report


def read_features(source: BoundaryFile) -> tuple[list[_Feature], int]:
    """The file's features and the EPSG code of its CRS, with clear errors for what is missing."""
    if not source.path.exists():
        raise PhananhError(ErrorCode.NOT_FOUND, f"No such file: {source.path}")
    import pyogrio.raw

    try:
        meta, _, geometries, columns = pyogrio.raw.read(source.path, layer=source.layer)
    except Exception as exc:  # GDAL's errors are many and well worded; pass the words on
        raise PhananhError(ErrorCode.BAD_INPUT, f"Cannot read {source.path}: {exc}") from None
    fields = list(meta["fields"])
    values = dict(zip(fields, columns, strict=True))

    def pick(explicit: str | None, guesses: Sequence[str], required: bool) -> str | None:
        if explicit:
            if explicit not in values:
                raise PhananhError(ErrorCode.BAD_INPUT,
                                   f"Field {quoted(explicit)} is not in the file; it has {fields}.")
            return explicit
        found = next((g for g in guesses if g in values), None)
        if required and found is None:
            raise PhananhError(ErrorCode.BAD_INPUT,
                               f"Cannot guess which field holds {guesses[0]!r}; the file has "
                               f"{fields}. Name it with --{guesses[0]}-field.")
        return found

    code_f = pick(source.code_field, CODE_FIELDS, True)
    name_f = pick(source.name_field, NAME_FIELDS, True)
    name_en_f = pick(source.name_en_field, NAME_EN_FIELDS, False)
    pop_f = pick(source.population_field, POPULATION_FIELDS, False)
    parent_f = pick(source.parent_field, (), False)

    features = []
    for i, wkb in enumerate(geometries):
        code = _text(values[code_f][i])
        if wkb is None or not code:
            raise PhananhError(ErrorCode.BAD_INPUT,
                               f"Feature #{i + 1} has no geometry or no code; nothing imported.")
        features.append(_Feature(
            code=code,
            name=_text(values[name_f][i]) or code,
            name_en=_text(values[name_en_f][i]) if name_en_f else None,
            population=_int(values[pop_f][i]) if pop_f else None,
            parent_code=_text(values[parent_f][i]) if parent_f else None,
            wkb=bytes(wkb),
        ))
    counts = Counter(f.code for f in features)
    duplicates = sorted(code for code, n in counts.items() if n > 1)
    if duplicates:
        raise PhananhError(ErrorCode.BAD_INPUT,
                           f"Codes repeat within the file: {duplicates[:10]}; nothing imported.")
    return features, _epsg(meta.get("crs"))


def upsert_generation(
    conn: Connection, name: str, valid_from: date | None, valid_to: date | None
) -> int:
    return conn.execute(text("""
        INSERT INTO boundary_generation (name, valid_from, valid_to) VALUES (:n, :f, :t)
        ON CONFLICT (name) DO UPDATE
        SET valid_from = COALESCE(EXCLUDED.valid_from, boundary_generation.valid_from),
            valid_to = COALESCE(EXCLUDED.valid_to, boundary_generation.valid_to)
        RETURNING id"""), {"n": name, "f": valid_from, "t": valid_to}).scalar_one()


def link_parents_spatially(conn: Connection) -> int:
    """Give every area without a parent the area above it that covers its interior point.

    Candidates from the same generation come first, then generations in force when the child's
    generation starts; then a district before a city (a ward's parent is its district, or the
    city itself where districts were abolished, as in Hanoi since July 2025), then the newest;
    ties go to the lowest code. Run after every import so
    that the order in which levels are imported does not matter.
    """
    return conn.execute(text("""
        WITH candidate AS (
            SELECT DISTINCT ON (child.id) child.id AS child_id, parent.id AS parent_id
            FROM admin_area child
            JOIN boundary_generation cg ON cg.id = child.generation_id
            JOIN admin_area parent
              ON (parent.level = 'city' OR (child.level = 'ward' AND parent.level = 'district'))
             AND ST_Covers(parent.geom, ST_PointOnSurface(child.geom))
            JOIN boundary_generation pg ON pg.id = parent.generation_id
            WHERE child.parent_id IS NULL AND child.level <> 'city'
            ORDER BY child.id,
                     (pg.id = cg.id) DESC,
                     (pg.valid_from IS NULL OR cg.valid_from IS NULL
                      OR pg.valid_from <= cg.valid_from) DESC,
                     (pg.valid_to IS NULL OR cg.valid_from IS NULL
                      OR cg.valid_from < pg.valid_to) DESC,
                     (parent.level = 'district') DESC,
                     pg.valid_from DESC NULLS LAST, parent.code
        )
        UPDATE admin_area a SET parent_id = candidate.parent_id
        FROM candidate WHERE a.id = candidate.child_id""")).rowcount


def _stage(conn: Connection, features: list[_Feature], srid: int,
           on_progress: Callable[[int, int], None]) -> None:
    conn.execute(text("""
        CREATE TEMP TABLE staging_area (
            code text PRIMARY KEY, name text, name_en text, population integer,
            parent_code text, wkb bytea
        ) ON COMMIT DROP"""))
    insert = text("""INSERT INTO staging_area VALUES
                     (:code, :name, :name_en, :population, :parent_code, :wkb)""")
    for start in range(0, len(features), BATCH_SIZE):
        batch = features[start : start + BATCH_SIZE]
        conn.execute(insert, [f.__dict__ for f in batch])
        on_progress(start + len(batch), len(features))
    # Validity is a property of the geometry in its own CRS: check and repair there, then
    # reproject, and repair again only if reprojection itself broke something.
    conn.execute(text("""
        ALTER TABLE staging_area ADD COLUMN geom geometry, ADD COLUMN invalid_reason text;
        UPDATE staging_area SET geom = ST_SetSRID(ST_GeomFromWKB(wkb), :srid);
        UPDATE staging_area SET invalid_reason = ST_IsValidReason(geom) WHERE NOT ST_IsValid(geom);
        UPDATE staging_area SET geom = ST_Transform(
            CASE WHEN invalid_reason IS NULL THEN geom ELSE ST_MakeValid(geom) END, 4326);
        UPDATE staging_area SET geom = ST_Multi(ST_CollectionExtract(
            CASE WHEN ST_IsValid(geom) THEN geom ELSE ST_MakeValid(geom) END, 3));
    """).bindparams(srid=srid))
    empty = conn.execute(text(
        "SELECT code FROM staging_area WHERE ST_IsEmpty(geom) ORDER BY code")).scalars().all()
    if empty:
        raise PhananhError(ErrorCode.INVALID_GEOMETRY,
                           f"No polygon left after repair for codes {empty[:10]}; "
                           f"nothing imported.")


def _repairs(conn: Connection) -> list[tuple[str, str]]:
    rows = conn.execute(text("""SELECT code, invalid_reason FROM staging_area
                                WHERE invalid_reason IS NOT NULL ORDER BY code"""))
    return [(code, reason) for code, reason in rows]


def _upsert_areas(conn: Connection, generation_id: int, level: str) -> tuple[int, int]:
    rows = conn.execute(text("""
        INSERT INTO admin_area (generation_id, level, code, name, name_en, population, geom,
                                area_km2)
        SELECT :gen, :level, code, name, name_en, population, geom,
               ST_Area(geom::geography) / 1e6
        FROM staging_area
        ON CONFLICT (generation_id, level, code) DO UPDATE
        SET name = EXCLUDED.name, name_en = EXCLUDED.name_en,
            population = COALESCE(EXCLUDED.population, admin_area.population),
            geom = EXCLUDED.geom, area_km2 = EXCLUDED.area_km2
        RETURNING (xmax = 0) AS inserted"""), {"gen": generation_id, "level": level})
    flags = [inserted for (inserted,) in rows]
    return sum(flags), len(flags) - sum(flags)


def _subdivide(conn: Connection, generation_id: int, level: str) -> None:
    params: dict[str, Any] = {
        "gen": generation_id, "level": level,
        "vertices": get_settings().subdivide_max_vertices,
    }
    conn.execute(text("""
        DELETE FROM admin_area_part p USING admin_area a, staging_area s
        WHERE p.area_id = a.id AND a.generation_id = :gen AND a.level = :level
          AND a.code = s.code"""), params)
    conn.execute(text("""
        INSERT INTO admin_area_part (area_id, generation_id, level, code, geom)
        SELECT a.id, a.generation_id, a.level, a.code, ST_Subdivide(a.geom, :vertices)
        FROM admin_area a JOIN staging_area s ON s.code = a.code
        WHERE a.generation_id = :gen AND a.level = :level"""), params)


def _link_parents_by_code(conn: Connection, generation_id: int, level: str) -> None:
    conn.execute(text("""
        UPDATE admin_area a SET parent_id = (
            SELECT parent.id FROM admin_area parent
            JOIN boundary_generation pg ON pg.id = parent.generation_id
            WHERE parent.level = :parent_level AND parent.code = s.parent_code
            ORDER BY (parent.generation_id = a.generation_id) DESC, pg.valid_from DESC NULLS LAST
            LIMIT 1)
        FROM staging_area s
        WHERE a.generation_id = :gen AND a.level = :level AND a.code = s.code
          AND s.parent_code IS NOT NULL"""),
        {"gen": generation_id, "level": level, "parent_level": PARENT_LEVEL.get(level, "")})


def _without_parent(conn: Connection, generation_id: int, level: str) -> list[str]:
    if level == "city":
        return []
    return list(conn.execute(text("""
        SELECT code FROM admin_area WHERE generation_id = :gen AND level = :level
        AND parent_id IS NULL ORDER BY code"""), {"gen": generation_id, "level": level}).scalars())


def _epsg(crs: str | None) -> int:
    """EPSG code of the file's CRS. GeoJSON without a CRS is WGS 84 by RFC 7946."""
    if crs is None:
        return 4326
    if crs.upper().startswith("EPSG:"):
        return int(crs.split(":", 1)[1])
    code = CRS.from_user_input(crs).to_epsg(min_confidence=70)
    if code is None:
        raise PhananhError(ErrorCode.BAD_INPUT,
                           f"The file's CRS has no EPSG code; reproject it first: {crs[:200]}")
    return code


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text_value = str(value).strip()
    return text_value or None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() != "" else None
    except ValueError:
        return None
