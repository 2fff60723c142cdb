"""Which office a suggested category would go to: the one place that answers it.

Today a complaint goes to the ward holding its point, whatever its category; when agencies and
routing rules per category exist (issue 11), this function asks them instead, and every caller
(suggestions, the triage queue) follows.
"""

from collections.abc import Sequence

from sqlalchemy import Connection

from geo.jurisdiction import ward_at


def agencies_for(conn: Connection, categories: Sequence[str], lon: float, lat: float
                 ) -> dict[str, int | None]:
    """Category code → the admin area id that would receive a complaint of it at (lon, lat)."""
    ward = ward_at(conn, lon, lat)
    return dict.fromkeys(categories, ward)
