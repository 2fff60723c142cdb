"""Snapshots of DBSCAN clusters (analytics/snapshots.py): kept per window of whole days and
request, they answer only while exact, or young enough and holding the caller's last write;
what they answer equals scikit-learn's DBSCAN over the complaints as of their read."""

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, text

from analytics import snapshots
from db.complaints import ComplaintFilter
from db.nodes import READ_AFTER
from settings import Settings
from tests.conftest import Demo, GraphQLClient, StatementCounter, new_complaint, phananh
from tests.test_analytics_clusters import CATEGORIES, filtered_rows, sklearn_dbscan
from tests.test_analytics_clusters import CLUSTERS as ASKED
from tests.test_stats_snapshots import LOCAL, SUBMIT, stats_client

EPS, MIN_POINTS = 250.0, 8
CLUSTERS = ASKED.replace("srid noise", "asOf srid noise")
T = TypeVar("T")


@pytest.fixture
def request_(window: dict[str, str]) -> dict[str, Any]:
    """The clusters of CATEGORIES over whole days holding every complaint."""
    return {"eps": EPS, "min": MIN_POINTS, "hull": "CONVEX",
            "filter": {"categories": list(CATEGORIES), "createdFrom": window["from"],
                       "createdTo": window["to"]}}


@pytest.fixture
def window(demo: Demo, engine: Engine) -> Iterator[dict[str, str]]:
    """Whole days in the city holding every complaint, and no snapshot kept."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM stats_snapshot"))
    start = (demo.now - timedelta(days=4 * 365)).astimezone(LOCAL).date()
    end = (datetime.now(LOCAL) + timedelta(days=2)).date()
    yield {"from": f"{start}T00:00:00+07:00", "to": f"{end}T00:00:00+07:00"}
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM stats_snapshot"))


@pytest.fixture
def gql_kept(settings: Settings, engine: Engine) -> Iterator[GraphQLClient]:
    with stats_client(settings, engine, 300) as client:
        yield client


def by_scikit_learn(engine: Engine) -> tuple[int, int, int]:
    """Noise, clusters and their members of DBSCAN over the complaints as they are. (Not each
    cluster's size: a border point within reach of two clusters may join either, and PostGIS
    chooses by the order it reads the points in.)"""
    labels, _, _ = sklearn_dbscan(filtered_rows(engine), EPS, MIN_POINTS)
    return int((labels == -1).sum()), len(set(labels) - {-1}), int((labels != -1).sum())


def summary(result: dict[str, Any]) -> tuple[int, int, int]:
    return (result["noise"], len(result["clusters"]),
            sum(c["count"] for c in result["clusters"]))


def found_now(client: GraphQLClient, request_: dict[str, Any]) -> dict[str, Any]:
    """The clusters found for this request by an app that keeps no snapshot, less `asOf`."""
    return {**client.data(CLUSTERS, request_)["clusters"], "asOf": None}


def dbscans(counter: StatementCounter, run: Callable[[], T]) -> tuple[T, int]:
    """What ``run`` returns, and how many DBSCAN statements it sent."""
    before = sum("ST_ClusterDBSCAN" in statement for statement in counter.statements)
    found = run()
    return found, sum("ST_ClusterDBSCAN" in statement
                      for statement in counter.statements) - before


def crowd(engine: Engine, demo: Demo, n: int) -> None:
    """``n`` new complaints of a clustered category at one place of a ward: a new cluster of
    ``n`` there, or ``n`` more in the one around it."""
    ward = demo.areas("demo-2025", "ward")[-1].code
    for _ in range(n):
        new_complaint(engine, ward, category=CATEGORIES[0])


def test_a_clusters_snapshot_answers_until_refreshed(
        gql_kept: GraphQLClient, gql: GraphQLClient, engine: Engine, demo: Demo,
        request_: dict[str, Any], count_statements: StatementCounter) -> None:
    """The first request clusters and keeps the result; the next is answered from the
    snapshot, dated by `asOf`; after a write it still answers within its age; `refresh`
    clusters again, and the answer then includes the write, as scikit-learn's does, and is
    what an app without snapshots finds."""
    def clusters() -> dict[str, Any]:
        return gql_kept.data(CLUSTERS, request_)["clusters"]

    before = by_scikit_learn(engine)
    first, run = dbscans(count_statements, clusters)
    assert run == 1 and summary(first) == before

    asked = datetime.now(LOCAL)
    second, run = dbscans(count_statements, clusters)
    assert run == 0
    assert datetime.fromisoformat(second["asOf"]) < asked
    assert {**second, "asOf": None} == {**first, "asOf": None}

    crowd(engine, demo, MIN_POINTS)
    after = by_scikit_learn(engine)
    assert after != before
    stale, run = dbscans(count_statements, clusters)
    assert run == 0 and summary(stale) == before

    refreshed, run = dbscans(count_statements,
                             lambda: snapshots.refresh(engine, timedelta(days=1)))
    assert run == 1
    assert [(one.kind, one.dropped) for one in refreshed] == [(snapshots.Kind.CLUSTERS, None)]
    assert refreshed[0].subject.categories == tuple(sorted(CATEGORIES))
    fresh, run = dbscans(count_statements, clusters)
    assert run == 0 and summary(fresh) == after
    assert {**fresh, "asOf": None} == found_now(gql, request_)
    assert datetime.fromisoformat(fresh["asOf"]) > asked
    assert snapshots.refresh(engine, timedelta(days=1)) == []  # nothing behind any more


def test_a_callers_own_write_is_never_hidden_by_a_clusters_snapshot(
        gql_kept: GraphQLClient, gql: GraphQLClient, engine: Engine, demo: Demo,
        request_: dict[str, Any], count_statements: StatementCounter) -> None:
    """A caller who wrote after the snapshot is answered by clustering anew, and so sees
    their complaint; one who did not gets the snapshot."""
    def clusters() -> dict[str, Any]:
        return gql_kept.data(CLUSTERS, request_)["clusters"]

    clusters()
    ward = demo.areas("demo-2025", "ward")[0]
    point = ward.geometry.representative_point()
    response = gql_kept.client.post("/graphql", json={"query": SUBMIT, "variables": {"i": {
        "categoryCode": CATEGORIES[1], "description": "Xây dựng không phép",
        "lon": point.x, "lat": point.y}}})
    assert "errors" not in response.json()
    assert gql_kept.client.cookies.get(READ_AFTER) == response.headers[READ_AFTER]
    mine, run = dbscans(count_statements, clusters)
    assert run == 1 and summary(mine) == by_scikit_learn(engine)
    assert {**mine, "asOf": None} == found_now(gql, request_)
    gql_kept.client.cookies.clear()
    theirs, run = dbscans(count_statements, clusters)
    # The snapshot the writer's request kept.
    assert run == 0 and {**theirs, "asOf": None} == {**mine, "asOf": None}


def test_refresh_drops_clusters_that_outgrew_their_limit(
        settings: Settings, engine: Engine, demo: Demo, request_: dict[str, Any],
        database_url: str) -> None:
    """A window kept when it held the most points clustering takes, and holding more since,
    is dropped by the refresh, which says so, as the request itself now refuses it."""
    points = len(filtered_rows(engine))
    limited = settings.model_copy(update={"max_cluster_points": points})
    with stats_client(limited, engine, 300) as client:
        client.data(CLUSTERS, request_)
        crowd(engine, demo, 1)
        refusal = client.client.post("/graphql", json={"query": CLUSTERS, "variables": {
            **request_, "eps": EPS + 1}}).json()
        assert refusal["errors"][0]["extensions"]["code"] == "ANALYSIS_TOO_LARGE"
    done = phananh(database_url, "rollups", "refresh")
    assert done.returncode == 0, done.stderr
    assert "0 snapshots refreshed, 1 dropped" in done.stdout
    assert "at most" in done.stdout
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stats_snapshot")).scalar_one() == 0


def test_clusters_are_kept_for_categories_and_statuses_but_no_other_filter() -> None:
    start = datetime(2025, 1, 1, tzinfo=LOCAL)
    arguments = {"eps_m": EPS, "min_points": MIN_POINTS}
    kind = snapshots.Kind.CLUSTERS
    chosen = ComplaintFilter(created_from=start, categories=("b", "a"), statuses=("RESOLVED",))
    kept = snapshots.subject_of(chosen, kind, arguments)
    assert kept is not None and kept.categories == ("a", "b")
    assert snapshots.subject_of(kept.as_filter(), kind, arguments) == kept
    assert kept.key != snapshots.subject_of(chosen, kind, {**arguments, "eps_m": 1.0}).key
    for other in (ComplaintFilter(created_from=start + timedelta(hours=1)),
                  ComplaintFilter(created_from=start, ward_codes=["W1"]),
                  ComplaintFilter(created_from=start, bbox=(105.0, 20.0, 106.0, 21.0))):
        assert snapshots.subject_of(other, kind, arguments) is None
