"""Footprints (issue 14): which wards a line or polygon touches, and which wards lie near a place.

The rules themselves are SQL functions of migration 0011, beside the point rule of 0008:
``footprint_shares`` (every area a footprint touches, with its share of the length or area)
and ``responsible_areas`` (the largest share, ties to the lowest code). This module only asks
them, and measures how near a ward's boundary is (border candidates).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from db.prepared import prepared
from geo.jurisdiction import LOOKUP_FOOTPRINT, as_date

# A degree of latitude is at least 110,574 m: a box this many degrees per metre (divided by
# cos(lat) for longitude) holds every place within the distance, for the index to narrow on.
METRES_PER_DEGREE_MIN = 110_574.0


@dataclass(frozen=True)
class Candidate:
    area_id: int
    code: str
    distance_m: float


@dataclass(frozen=True)
class Share:
    area_id: int
    code: str
    share: float


def wkb(geometry: BaseGeometry) -> bytes:
    return shapely.to_wkb(geometry)


def lookup_footprint(conn: Connection, footprint: BaseGeometry,
                     at: date | datetime | None = None) -> dict[str, int]:
    """Level → the id of the area responsible for ``footprint`` in the generation in force."""
    rows = conn.execute(LOOKUP_FOOTPRINT, {"wkb": wkb(footprint), "at": as_date(at)})
    return {level: area_id for level, area_id in rows}


WARD_SHARES = text("""
    SELECT s.area_id, s.code, s.share
    FROM footprint_shares(ST_GeomFromWKB(:wkb, 4326), ARRAY['ward'],
                          ARRAY[generation_in_force('ward', CAST(:at AS date))]) AS s
    ORDER BY s.share DESC, s.code""")


def ward_shares(conn: Connection, footprint: BaseGeometry,
                at: date | datetime | None = None) -> list[Share]:
    """The wards in force that ``footprint`` touches, the largest share first."""
    rows = conn.execute(WARD_SHARES, {"wkb": wkb(footprint), "at": as_date(at)})
    return [Share(r.area_id, r.code, r.share) for r in rows]


# The wards of complaints :ids with their shares, in the generation of the ward each was
# routed to (else the one in force when it was filed).
COMPLAINT_WARD_SHARES = text("""
    SELECT c.id AS complaint_id, s.area_id, s.share
    FROM complaint c
    CROSS JOIN LATERAL footprint_shares(
        c.footprint, ARRAY['ward'],
        ARRAY[COALESCE((SELECT a.generation_id FROM admin_area a WHERE a.id = c.ward_id),
                       generation_in_force('ward', CAST(c.created_at AS date)))]) AS s
    WHERE c.id = ANY(:ids)
    ORDER BY c.id, s.share DESC, s.code""")


def complaint_ward_shares(conn: Connection, complaint_ids: Sequence[int]) -> list[Any]:
    return list(conn.execute(COMPLAINT_WARD_SHARES, {"ids": list(complaint_ids)}))


# Per place of :wkbs (ordinal ``ord``), the wards of the generation in force at :at whose
# boundary lies within :within_m metres (on the spheroid), with that distance (0 inside).
CANDIDATES = prepared(text("""
    WITH place AS (
        SELECT ord, ST_GeomFromWKB(g, 4326) AS geom
        FROM unnest(CAST(:wkbs AS bytea[])) WITH ORDINALITY AS t(g, ord))
    SELECT place.ord, p.area_id, p.code,
           min(ST_Distance(p.geom::geography, place.geom::geography)) AS distance_m
    FROM place
    JOIN admin_area_part p
      ON p.level = 'ward' AND p.generation_id = generation_in_force('ward', CAST(:at AS date))
     AND p.geom && ST_Expand(place.geom, :degrees / greatest(cos(radians(
             greatest(abs(ST_YMin(place.geom)), abs(ST_YMax(place.geom))) + :degrees)), 0.01))
     AND ST_DWithin(p.geom::geography, place.geom::geography, :within_m)
    GROUP BY place.ord, p.area_id, p.code
    ORDER BY place.ord, distance_m, p.code"""))


def border_candidates(conn: Connection, places: Sequence[BaseGeometry], within_m: float,
                      at: date | datetime | None = None) -> list[list[Candidate]]:
    """For each place (a point or a footprint), in order, the wards within ``within_m``
    metres of it, the nearest first (the ward holding it at 0 m), ties by code."""
    found: list[list[Candidate]] = [[] for _ in places]
    if not places:
        return found
    rows = conn.execute(CANDIDATES, {"wkbs": [wkb(p) for p in places], "at": as_date(at),
                                     "within_m": within_m,
                                     "degrees": within_m / METRES_PER_DEGREE_MIN})
    for row in rows:
        found[row.ord - 1].append(Candidate(row.area_id, row.code, row.distance_m))
    return found


def point_candidates(conn: Connection, points: Sequence[tuple[float, float]], within_m: float,
                     at: date | datetime | None = None) -> list[list[Candidate]]:
    """:func:`border_candidates` of lon/lat pairs."""
    return border_candidates(conn, [shapely.Point(lon, lat) for lon, lat in points], within_m,
                             at)
