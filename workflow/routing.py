"""Which agency handles a complaint: the one home of that decision is the SQL function
``route_complaint`` (migration 0010); submission, the jurisdiction lookup, bulk loads and
transfers all ask it through this module, and the other channels (Open311) may too.

The rule, in short: among the routing rules valid at the time whose category (or group)
matches and whose area is one of the complaint's ward, district or city (or everywhere), the
most specific area wins, then a category over a group; with no rule, the People's Committee
serving the ward. The complaint stores the agency, the rule and the reason.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from geo.jurisdiction import lookup_points

# The history event of a transfer between agencies; the statistics count them as misroutes.
TRANSFERRED = "TRANSFERRED"

ROUTE = text("""
    SELECT r.agency_code, r.rule_id, r.reason, rule.code AS rule_code
    FROM route_complaint(:category, :ward, :district, :city, :at) AS r
    LEFT JOIN routing_rule rule ON rule.id = r.rule_id""")


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
