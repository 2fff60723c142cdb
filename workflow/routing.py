"""Which agency handles a complaint: the one home of that decision is the SQL function
``route_complaint`` (migration 0010); submission, the jurisdiction lookup, bulk loads and
transfers all ask it through this module, and the other channels (Open311) may too.

The rule, in short: among the routing rules valid at the time whose category (or group)
matches and whose area is one of the complaint's ward, district or city (or everywhere), the
most specific area wins, then a category over a group; with no rule, the People's Committee
serving the ward. The complaint stores the agency, the rule and the reason.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from db.prepared import prepared
from geo.jurisdiction import AREAS_OF_ROWS, float_array, lookup_points

# The history event of a transfer between agencies; the statistics count them as misroutes.
TRANSFERRED = "TRANSFERRED"

# One complaint: the function is inlined, so the prepared statement keeps its plan.
ROUTE = prepared(text("""
    SELECT r.agency_code, r.rule_id, r.reason, rule.code AS rule_code
    FROM route_complaint(:category, :ward, :district, :city, :at) AS r
    LEFT JOIN routing_rule rule ON rule.id = r.rule_id"""))


# Per (place, category) pair: the agency a complaint of that category at that place would go
# to at :at (null: nothing serves it); the places are points (ordinal, lon, lat), in the areas
# in force at :at.
_PLACES = """(
    SELECT ord AS key, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS location
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]))
         WITH ORDINALITY AS t(lon, lat, ord))"""
ROUTE_MANY = text(f"""
    SELECT q.place, q.category, routed.agency_code
    FROM unnest(CAST(:pair_places AS bigint[]), CAST(:pair_categories AS text[]))
         AS q(place, category)
    LEFT JOIN ({AREAS_OF_ROWS.format(rows=_PLACES)}) AS areas ON areas.key = q.place
    LEFT JOIN LATERAL route_complaint(q.category, areas.ward_id, areas.district_id,
                                      areas.city_id, CAST(:at AS timestamptz)) AS routed
                        ON true""")


@dataclass(frozen=True)
class Routing:
    """Where a complaint goes and why; ``agency_code`` is None when nothing serves it."""

    agency_code: str | None
    rule_id: int | None
    rule_code: str | None
    reason: str


def route(conn: Connection, category: str, areas: dict[str, int], at: datetime) -> Routing:
    """The routing of a complaint of ``category`` placed in ``areas`` (level → area id)."""
    row = conn.execute(ROUTE, {"category": category, "ward": areas.get("ward"),
                               "district": areas.get("district"), "city": areas.get("city"),
                               "at": at}).first()
    if row is None:
        ward = "its ward" if "ward" in areas else "no ward"
        return Routing(None, None, None, f"no rule matches and no People's Committee serves "
                                         f"{ward}")
    return Routing(row.agency_code, row.rule_id, row.rule_code, row.reason)


def serves(conn: Connection, agency_code: str, area_ids: list[int]) -> bool:
    """Whether the agency, in service, serves one of the areas (ids, any generation)."""
    return bool(conn.execute(text("""
        SELECT EXISTS (
            SELECT 1 FROM agency ag
            JOIN agency_area aa ON aa.agency_code = ag.code
            JOIN admin_area a ON a.generation_id = aa.generation_id AND a.level = aa.level
                             AND a.code = aa.area_code
            WHERE ag.code = :agency AND ag.retired_at IS NULL AND a.id = ANY(:areas))"""),
        {"agency": agency_code, "areas": area_ids}).scalar())


def agency_for(conn: Connection, category: str, lon: float, lat: float,
               at: datetime) -> Routing:
    """The routing of a complaint of ``category`` at (lon, lat) at ``at``."""
    return route(conn, category, lookup_points(conn, [(lon, lat)], at)[0], at)


def agencies_at(conn: Connection, places: Sequence[tuple[float, float, Sequence[str]]],
                at: datetime) -> list[dict[str, str | None]]:
    """For each (lon, lat, category codes): code → the agency a complaint of that category
    there would be routed to at ``at`` (what a suggestion names). One statement for all."""
    pairs = [(place, code) for place, (_, _, codes) in enumerate(places, 1) for code in codes]
    found: list[dict[str, str | None]] = [dict.fromkeys(codes) for _, _, codes in places]
    if not pairs:
        return found
    rows = conn.execute(ROUTE_MANY, {
        "pair_places": [p for p, _ in pairs], "pair_categories": [c for _, c in pairs],
        "lons": float_array([lon for lon, _, _ in places]),
        "lats": float_array([lat for _, lat, _ in places]), "at": at})
    for place, code, agency in rows:
        found[place - 1][code] = agency
    return found
