"""Which office gets what: the one place each answer comes from, for the triage features.

Today a complaint goes to the ward holding its point, whatever its category, and an official's
office is their jurisdiction. When agencies and routing rules per category exist (issue 11),
these two functions ask them instead, and every caller (suggestions, the triage queue)
follows.
"""

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection

from auth.policy import may_act
from auth.principal import Principal
from geo.jurisdiction import lookup_points


def agencies_for(conn: Connection, places: Sequence[tuple[float, float, Sequence[str]]]
                 ) -> list[dict[str, int | None]]:
    """For each (lon, lat, category codes): code → the admin area id that would receive a
    complaint of that category there. One statement for all places."""
    wards = lookup_points(conn, [(lon, lat) for lon, lat, _ in places], None, ["ward"])
    return [dict.fromkeys(codes, found.get("ward"))
            for (_, _, codes), found in zip(places, wards, strict=True)]


def my_agency(principal: Principal) -> ColumnElement[bool]:
    """Complaints in the caller's office, as an SQL predicate on ``complaint``."""
    return may_act(principal)
