"""Density clusters of complaints: DBSCAN (``ST_ClusterDBSCAN``) in metres.

Points are projected to the UTM zone of the data, so ``eps`` is a true distance. A point with
at least ``min_points`` points (itself included) within ``eps`` is a core point; clusters are
core points chained by ``eps`` plus the border points they reach; the rest is noise. (A border
point within reach of two clusters joins one of them; which one is up to PostGIS.)
"""

import math
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from analytics.query import analysis_srid, complaint_where, generation_id
from db.complaints import ComplaintFilter
from db.sql import Fragment, compose, fetch
from errors import ErrorCode, PhananhError

MAX_EPS_M = 10_000.0
CONCAVITY = 0.3  # ST_ConcaveHull's param_pctconvex: 1 is the convex hull, 0 the tightest


class Hull(StrEnum):
    CONVEX = "CONVEX"
    CONCAVE = "CONCAVE"


def labelled_points(f: ComplaintFilter, srid: int, eps_m: float, min_points: int) -> Fragment:
    """SQL rows ``(id, category_code, g, cluster)``: each filtered complaint, projected, with
    its DBSCAN cluster number (NULL for noise)."""
    labelled = compose("""
        SELECT id, category_code, g,
               ST_ClusterDBSCAN(g, eps => :eps, minpoints => :min_points) OVER () AS cluster
        FROM (SELECT complaint.id, complaint.category_code,
                     ST_Transform(complaint.location, :srid) AS g
              FROM complaint WHERE {where}) AS projected""", where=complaint_where(f))
    return labelled.bind(srid=srid, eps=eps_m, min_points=min_points)


CLUSTERS = """
    WITH labelled AS MATERIALIZED ({labelled}),
    members AS (SELECT * FROM labelled WHERE cluster IS NOT NULL),
    categories AS (
        SELECT cluster, json_agg(json_build_object('code', category_code, 'count', n)
                                 ORDER BY n DESC, category_code) AS top
        FROM (SELECT cluster, category_code, count(*) AS n,
                     row_number() OVER (PARTITION BY cluster
                                        ORDER BY count(*) DESC, category_code) AS rank
              FROM members GROUP BY cluster, category_code) AS ranked
        WHERE rank <= :top_categories
        GROUP BY cluster
    ),
    shapes AS (
        SELECT cluster, count(*) AS n, ST_Collect(g) AS points FROM members GROUP BY cluster
    )
    SELECT s.n,
           CAST(ST_AsGeoJSON(ST_Transform(ST_Centroid(s.points), 4326), 7) AS json) AS centroid,
           CAST(ST_AsGeoJSON(ST_Transform({hull}, 4326), 7) AS json) AS hull,
           c.top AS categories,
           (SELECT count(*) FROM labelled WHERE cluster IS NULL) AS noise
    FROM shapes s JOIN categories c USING (cluster)
    ORDER BY s.n DESC, ST_X(ST_Centroid(s.points)), ST_Y(ST_Centroid(s.points))
"""


@dataclass(frozen=True)
class Cluster:
    count: int
    centroid: dict[str, Any]  # GeoJSON Point (the mean of the members, in metres)
    hull: dict[str, Any]  # GeoJSON; a Point or LineString for clusters of one or two places
    categories: list[tuple[str, int]]  # the most frequent categories, most frequent first


@dataclass(frozen=True)
class ClusterResult:
    clusters: list[Cluster]
    noise: int
    srid: int | None

    def as_part(self) -> dict[str, Any]:
        """As a snapshot keeps it (``analytics/snapshots.py``): JSON values only."""
        return asdict(self)

    @classmethod
    def from_part(cls, part: dict[str, Any]) -> "ClusterResult":
        """:meth:`as_part` undone."""
        return cls([Cluster(c["count"], c["centroid"], c["hull"],
                            [(code, n) for code, n in c["categories"]])
                    for c in part["clusters"]], part["noise"], part["srid"])


def check(eps_m: float, min_points: int) -> None:
    if not (math.isfinite(eps_m) and 0 < eps_m <= MAX_EPS_M):
        raise PhananhError(ErrorCode.BAD_INPUT,
                           f"epsM must be within (0, {MAX_EPS_M:.0f}] metres; got {eps_m}.")
    if not 1 <= min_points <= 10_000:
        raise PhananhError(ErrorCode.BAD_INPUT,
                           f"minPoints must be between 1 and 10000; got {min_points}.")


def find_clusters(conn: Connection, f: ComplaintFilter, eps_m: float, min_points: int,
                  hull: Hull, top_categories: int, max_points: int) -> ClusterResult:
    """DBSCAN clusters, largest first, with their centroid, hull and leading categories."""
    check(eps_m, min_points)
    capped = compose("SELECT count(*) AS n FROM (SELECT 1 FROM complaint WHERE {where} "
                     "LIMIT :max_points + 1) AS capped", where=complaint_where(f))
    matched = fetch(conn, capped.bind(max_points=max_points))[0].n
    if matched > max_points:
        raise PhananhError(ErrorCode.ANALYSIS_TOO_LARGE,
                           f"Clustering takes at most {max_points} complaints; narrow the "
                           f"filter (time window, area, category).", maxPoints=max_points)
    srid = analysis_srid(conn, f, generation_id(conn, None, "ward"))
    if srid is None or matched == 0:
        return ClusterResult([], 0, srid)
    labelled = labelled_points(f, srid, eps_m, min_points)
    outline = ("ST_ConvexHull(s.points)" if hull is Hull.CONVEX
               else f"ST_ConcaveHull(s.points, {CONCAVITY})")
    rows = fetch(conn, compose(CLUSTERS, labelled=labelled, hull=outline)
                 .bind(top_categories=top_categories))
    clusters = [Cluster(r.n, r.centroid, r.hull,
                        [(c["code"], c["count"]) for c in r.categories]) for r in rows]
    noise = rows[0].noise if rows else matched
    return ClusterResult(clusters, noise, srid)


def clusters_part(conn: Connection, f: ComplaintFilter, eps_m: float, min_points: int,
                  hull: str, top_categories: int, max_points: int) -> dict[str, Any]:
    """:func:`find_clusters` as a snapshot's part (its request as JSON keeps it: ``hull`` is
    the shape's name)."""
    return find_clusters(conn, f, eps_m, min_points, Hull(hull), top_categories,
                         max_points).as_part()


def point_labels(conn: Connection, f: ComplaintFilter, srid: int, eps_m: float,
                 min_points: int) -> dict[int, int | None]:
    """complaint id → cluster number (None: noise), for checking the clustering itself."""
    check(eps_m, min_points)
    labelled = labelled_points(f, srid, eps_m, min_points)
    return {r.id: r.cluster for r in fetch(conn, labelled)}
