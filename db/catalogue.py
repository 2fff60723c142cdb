"""SQL reading the catalogue: agencies and the areas they serve, routing rules, category
attributes. (Writing it is ``catalogue.apply``'s.)"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text


def groups(conn: Connection, include_retired: bool) -> list[Any]:
    return list(conn.execute(text("""
        SELECT * FROM category_group WHERE :retired OR retired_at IS NULL ORDER BY code"""),
        {"retired": include_retired}))


def agencies(conn: Connection, kind: str | None, include_retired: bool) -> list[Any]:
    return list(conn.execute(text("""
        SELECT * FROM agency
        WHERE (CAST(:kind AS text) IS NULL OR kind = :kind)
          AND (:retired OR retired_at IS NULL)
        ORDER BY kind, code"""), {"kind": kind, "retired": include_retired}))


def agencies_by_codes(conn: Connection, codes: list[str]) -> list[Any]:
    return list(conn.execute(text("SELECT * FROM agency WHERE code = ANY(:codes)"),
                             {"codes": codes}))


def agency_areas(conn: Connection, codes: list[str]) -> list[Any]:
    """The areas each agency serves, with their generation's name."""
    return list(conn.execute(text("""
        SELECT aa.agency_code, g.name AS generation, aa.level, aa.area_code AS code
        FROM agency_area aa JOIN boundary_generation g ON g.id = aa.generation_id
        WHERE aa.agency_code = ANY(:codes)
        ORDER BY g.name, aa.level, aa.area_code"""), {"codes": codes}))


def rules_by_ids(conn: Connection, ids: list[int]) -> list[Any]:
    return list(conn.execute(text("SELECT * FROM routing_rule WHERE id = ANY(:ids)"),
                             {"ids": ids}))


def rules(conn: Connection, include_retired: bool) -> list[Any]:
    return list(conn.execute(text("""
        SELECT * FROM routing_rule WHERE :retired OR retired_at IS NULL ORDER BY code"""),
        {"retired": include_retired}))


def attributes_by_categories(conn: Connection, codes: list[str]) -> list[Any]:
    return list(conn.execute(text("""
        SELECT * FROM category_attribute WHERE category_code = ANY(:codes)
        ORDER BY category_code, position, code"""), {"codes": codes}))


def attribute_counts(conn: Connection) -> dict[str, int]:
    """How many attributes each category has (categories with none are absent)."""
    return dict(conn.execute(text("""
        SELECT category_code, count(*) FROM category_attribute GROUP BY category_code""")).all())


@dataclass(frozen=True)
class ResponsibleNames:
    agencies: dict[str, str]  # agency code → name_vi
    wards: dict[int, str]  # ward id → name


def responsible_names(conn: Connection, agency_codes: list[str],
                      ward_ids: list[int]) -> ResponsibleNames:
    """The names of agencies and of wards, in one statement (Open311's agency_responsible
    names a page's routed agencies, and the wards of complaints routed nowhere)."""
    rows = conn.execute(text("""
        SELECT code AS key, NULL::bigint AS ward_id, name_vi AS name
        FROM agency WHERE code = ANY(:codes)
        UNION ALL
        SELECT NULL, id, name FROM admin_area WHERE id = ANY(:wards)"""),
        {"codes": agency_codes, "wards": ward_ids}).all()
    return ResponsibleNames({r.key: r.name for r in rows if r.key is not None},
                            {r.ward_id: r.name for r in rows if r.ward_id is not None})
