"""DBSCAN in PostGIS against scikit-learn's DBSCAN on the same projected coordinates."""

from collections import Counter
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import shape
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors
from sqlalchemy import Engine, text

from analytics.clusters import Hull, find_clusters, point_labels
from db.complaints import ComplaintFilter
from errors import PhananhError
from tests.analytics_support import UTM, project, unproject
from tests.conftest import Demo, GraphQLClient

CATEGORIES = ("construction.illegal", "planning.violation", "environment.waste",
              "environment.flooding", "traffic.road_damage")
CLUSTERS = """query($eps: Float!, $min: Int!, $hull: HullShape!, $filter: ComplaintFilter) {
  clusters(epsM: $eps, minPoints: $min, hull: $hull, filter: $filter) {
    srid noise clusters { id count centroid hull dominantCategories { code count share } }
  }
}"""


def filtered_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, ST_X(location) AS lon, ST_Y(location) AS lat, "
                                 "category_code FROM complaint ORDER BY id"))
        return [r for r in rows if r.category_code in CATEGORIES]


def sklearn_dbscan(rows: list[Any], eps: float, min_points: int) -> tuple[np.ndarray, ...]:
    """Labels (-1: noise), the core mask and the projected coordinates."""
    x, y = project([r.lon for r in rows], [r.lat for r in rows])
    xy = np.column_stack([x, y])
    model = DBSCAN(eps=eps, min_samples=min_points).fit(xy)
    core = np.zeros(len(rows), dtype=bool)
    core[model.core_sample_indices_] = True
    return model.labels_, core, xy


@pytest.mark.parametrize(("eps", "min_points"), [(250.0, 8), (400.0, 15), (120.0, 4)])
def test_dbscan_equals_scikit_learn(engine: Engine, demo: Demo, eps: float,
                                    min_points: int) -> None:
    rows = filtered_rows(engine)
    expected, core, xy = sklearn_dbscan(rows, eps, min_points)
    with engine.connect() as conn:
        found = point_labels(conn, ComplaintFilter(categories=CATEGORIES), UTM, eps, min_points)
    got = np.array([-1 if found[r.id] is None else found[r.id] for r in rows])
    assert len(found) == len(rows)
    assert ((got == -1) == (expected == -1)).all(), "noise is the same points"
    assert len(set(got) - {-1}) == len(set(expected) - {-1}) > 0
    # Core points: the same partition (a one-to-one map of labels).
    pairs = set(zip(got[core], expected[core], strict=True))
    assert len(pairs) == len({g for g, _ in pairs}) == len({e for _, e in pairs})
    mapping = dict(pairs)
    # Border points: in the cluster of a core point within eps (DBSCAN leaves the choice open
    # when two clusters reach it); with one reachable cluster, that one.
    neighbours = NearestNeighbors(radius=eps).fit(xy).radius_neighbors(xy,
                                                                       return_distance=False)
    for k in np.flatnonzero(~core & (expected != -1)):
        reachable = {expected[n] for n in neighbours[k] if core[n]}
        assert expected[k] in reachable
        assert mapping[got[k]] in reachable


def resolved_labels(engine: Engine, rows: list[Any], eps: float,
                    min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's labels, except that a border point within reach of two clusters (where
    DBSCAN leaves the choice open, see the test above) follows PostGIS's choice."""
    labels, core, xy = sklearn_dbscan(rows, eps, min_points)
    with engine.connect() as conn:
        found = point_labels(conn, ComplaintFilter(categories=CATEGORIES), UTM, eps, min_points)
    postgis = np.array([-1 if found[r.id] is None else found[r.id] for r in rows])
    mapping = dict(zip(postgis[core], labels[core], strict=True))
    border = ~core & (labels != -1)
    labels[border] = [mapping[g] for g in postgis[border]]
    return labels, xy


def test_cluster_summaries(gql: GraphQLClient, engine: Engine, demo: Demo) -> None:
    eps, min_points = 250.0, 8
    rows = filtered_rows(engine)
    labels, xy = resolved_labels(engine, rows, eps, min_points)
    result = gql.data(CLUSTERS, {"eps": eps, "min": min_points, "hull": "CONVEX",
                                 "filter": {"categories": list(CATEGORIES)}})["clusters"]
    assert result["srid"] == UTM
    assert result["noise"] == int((labels == -1).sum())
    sizes = Counter(labels[labels != -1])
    clusters = result["clusters"]
    assert [c["id"] for c in clusters] == list(range(1, len(sizes) + 1))
    assert [c["count"] for c in clusters] == sorted(sizes.values(), reverse=True)
    for cluster in clusters:
        centroid = shape(cluster["centroid"])
        # The sklearn cluster whose members' mean is this centroid (in metres, then lon/lat).
        candidates = [label for label, n in sizes.items() if n == cluster["count"]]
        means = {label: xy[labels == label].mean(axis=0) for label in candidates}
        label = min(means, key=lambda lb: np.hypot(*(np.array(project([centroid.x],
                                                                      [centroid.y])).ravel()
                                                     - means[lb])))
        members = labels == label
        lon, lat = unproject(*means[label])
        assert abs(centroid.x - lon) < 1e-6 and abs(centroid.y - lat) < 1e-6
        hull = shapely.MultiPoint(xy[members]).convex_hull
        hull_lonlat = shapely.transform(hull, lambda p: np.column_stack(unproject(*p.T)))
        assert shape(cluster["hull"]).hausdorff_distance(hull_lonlat) < 1e-6
        categories = Counter(rows[k].category_code for k in np.flatnonzero(members))
        top = sorted(categories.items(), key=lambda item: (-item[1], item[0]))[:3]
        assert [(c["code"], c["count"]) for c in cluster["dominantCategories"]] == top
        assert cluster["dominantCategories"][0]["share"] == pytest.approx(
            top[0][1] / cluster["count"])


def test_concave_hulls_cover_their_members(gql: GraphQLClient, demo: Demo) -> None:
    result = gql.data(CLUSTERS, {"eps": 250.0, "min": 8, "hull": "CONCAVE",
                                 "filter": {"categories": list(CATEGORIES)}})["clusters"]
    convex = gql.data(CLUSTERS, {"eps": 250.0, "min": 8, "hull": "CONVEX",
                                 "filter": {"categories": list(CATEGORIES)}})["clusters"]
    for concave_cluster, convex_cluster in zip(result["clusters"], convex["clusters"],
                                               strict=True):
        concave, hull = shape(concave_cluster["hull"]), shape(convex_cluster["hull"])
        if concave.geom_type == "Polygon":
            assert concave.area <= hull.area * (1 + 1e-9)
            assert hull.buffer(1e-7).covers(concave)


def test_clustering_refuses_too_many_points_and_bad_arguments(engine: Engine,
                                                              gql: GraphQLClient,
                                                              demo: Demo) -> None:
    with engine.connect() as conn, pytest.raises(PhananhError) as refused:
        find_clusters(conn, ComplaintFilter(), 100.0, 5, Hull.CONVEX, 3, max_points=10)
    assert refused.value.code == "ANALYSIS_TOO_LARGE"
    for eps, min_points in ((0.0, 5), (-5.0, 5), (50_000.0, 5), (100.0, 0)):
        code = gql.error_code(CLUSTERS, {"eps": eps, "min": min_points, "hull": "CONVEX"})
        assert code == "BAD_INPUT"
