"""Time limits: statement timeouts per kind of work, a busy pool, /healthz on its own connection,
cancelling a request's query when its client leaves, and exports that fail visibly.

Slow statements are real ones: the complaint table is held locked by another transaction (as by
a long migration), so any statement reading it waits until its timeout, its cancellation or the
lock's release. What PostgreSQL runs is read from ``pg_stat_activity``."""

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

import layers.export
from app import create_app
from db.engine import Work, connection, make_engine, service_engine
from layers.tiles import tile_containing, tile_engine
from settings import Settings
from tests.conftest import Accounts, Demo
from tests.fault_support import (
    connect,
    dechunk,
    lock_waiters,
    locked,
    read_all,
    read_head,
    send_request,
    wait_for,
)
from tests.live_server import live_server

COMPLAINTS = {"query": "{ complaints(first: 5) { totalCount } }"}
STATS = {"query": "{ stats { summary { received } } }"}
TIMEOUTS = {work: f"statement_timeout_{work.value}_ms" for work in Work}  # settings' names


@pytest.fixture
def limited(settings: Settings) -> Settings:
    """Distinct timeouts per kind (so each can be told apart), long enough that a test ends by
    the behaviour it tests, never by a timeout it did not mean."""
    return settings.model_copy(update={
        "statement_timeout_read_ms": 30_000, "statement_timeout_analytics_ms": 31_000,
        "statement_timeout_export_ms": 32_000, "statement_timeout_tile_ms": 33_000,
        "pool_timeout_s": 0.5, "retry_after_s": 3})


def service(settings: Settings) -> Iterator[tuple[TestClient, Engine]]:
    engine = service_engine(settings)
    try:
        with TestClient(create_app(settings, engine)) as client:
            yield client, engine
    finally:
        engine.dispose()


def statement_timeout(engine: Engine, work: Work) -> int:
    """The statement timeout (ms) in force for ``work``, as PostgreSQL reports it."""
    with connection(engine, work) as conn:
        return int(conn.exec_driver_sql(
            "SELECT setting FROM pg_settings WHERE name = 'statement_timeout'").scalar_one())


def test_each_kind_of_work_runs_under_its_own_statement_timeout(limited: Settings) -> None:
    engine, tiles = service_engine(limited), tile_engine(limited.sqlalchemy_url, limited)
    try:
        for work in (Work.READ, Work.ANALYTICS, Work.EXPORT):
            assert statement_timeout(engine, work) == getattr(limited, TIMEOUTS[work])
        assert statement_timeout(tiles, Work.TILE) == 33_000
        # Operators' commands (imports, exports by the CLI) have no timeout.
        plain = make_engine(limited.sqlalchemy_url)
        assert statement_timeout(plain, Work.EXPORT) == 0
        plain.dispose()
    finally:
        engine.dispose()
        tiles.dispose()


def test_a_read_over_its_timeout_is_a_retryable_503_while_an_analysis_waits_longer(
        limited: Settings, database_url: str, demo: Demo) -> None:
    short_reads = limited.model_copy(update={"statement_timeout_read_ms": 300})
    for client, _ in service(short_reads):
        assert client.post("/graphql", json=STATS).status_code == 200  # cost facts now known
        with ThreadPoolExecutor(1) as pool, locked(database_url):
            analysis = pool.submit(client.post, "/graphql", json=STATS)
            wait_for(lambda: lock_waiters(database_url), 10, "the analysis waits for the lock")
            response = client.post("/graphql", json=COMPLAINTS)
            assert not analysis.done()
        body = response.json()
        assert response.status_code == 503 and response.headers["retry-after"] == "3"
        error = body["errors"][0]
        assert error["extensions"] == {"code": "QUERY_TIMEOUT", "retryAfter": 3}
        assert "statement" not in error["message"]  # no SQL wording leaks
        answered = analysis.result(timeout=30)  # the lock is released: the analysis finishes
        assert answered.status_code == 200, answered.text
        assert answered.json()["data"]["stats"]["summary"]["received"] > 0


def test_a_busy_pool_answers_503_and_healthz_still_answers(
        limited: Settings, database_url: str, demo: Demo) -> None:
    tiny = limited.model_copy(update={"db_pool_size": 2})  # two connections, no overflow
    for client, _ in service(tiny):
        assert client.post("/graphql", json=COMPLAINTS).status_code == 200
        with ThreadPoolExecutor(2) as pool, locked(database_url):
            holders = [pool.submit(client.post, "/graphql", json=COMPLAINTS) for _ in range(2)]
            wait_for(lambda: len(lock_waiters(database_url)) == 2, 10,
                     "both pooled connections wait for the lock")
            refused = client.post("/graphql", json=COMPLAINTS)
            health = client.get("/healthz")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "3"
        assert refused.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert health.status_code == 200 and health.json()["database"] is True
        assert [h.result(timeout=30).status_code for h in holders] == [200, 200]


def test_a_database_error_during_sign_in_is_a_coded_503(accounts: Accounts) -> None:
    dead = make_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none")
    with TestClient(create_app(Settings(), dead)) as client:
        response = client.post("/graphql", json={"query": "{ categories { code } }"},
                               headers=accounts.headers("reporter"))
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "retryAfter": 2}
    dead.dispose()


def requests_for(demo: Demo) -> dict[str, tuple[str, str, Any]]:
    inside = demo.outline.representative_point()
    tile = tile_containing(inside.x, inside.y, 12)
    return {
        "graphql": ("POST", "/graphql", COMPLAINTS),
        "export": ("GET", "/export/complaints.geojson", None),
        "ogc": ("GET", "/ogc/collections/complaints/items?limit=5", None),
        "tile": ("GET", f"/tiles/complaints/{tile.z}/{tile.x}/{tile.y}.mvt", None),
    }


@pytest.mark.parametrize("kind", ["graphql", "export", "ogc", "tile"])
def test_a_client_that_leaves_cancels_its_query(
        kind: str, limited: Settings, database_url: str, demo: Demo) -> None:
    """The statement waits for the lock (its timeout is 30 s); the client drops the connection,
    and PostgreSQL stops running the statement within seconds."""
    method, path, body = requests_for(demo)[kind]
    engine = service_engine(limited)
    try:
        with live_server(create_app(limited, engine)) as base, locked(database_url):
            sock = send_request(base, method, path, body)
            waiting = wait_for(lambda: lock_waiters(database_url), 10,
                               "the request's statement waits for the lock")
            sock.close()
            wait_for(lambda: not set(waiting) & set(lock_waiters(database_url)), 5,
                     "the statement is cancelled after the client left")
    finally:
        engine.dispose()


def test_an_export_refuses_bad_filters_and_an_absent_database_before_its_headers(
        limited: Settings, demo: Demo) -> None:
    engine = service_engine(limited)
    dead = make_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none")
    try:
        with live_server(create_app(limited, engine)) as base:
            sock = send_request(base, "GET", "/export/complaints.geojson?category_code=a%00b")
            head, _ = read_head(sock)
            sock.close()
        assert head.startswith(b"HTTP/1.1 400 ")
        with live_server(create_app(limited, dead)) as base:
            sock = send_request(base, "GET", "/export/complaints.csv")
            response = read_all(sock)
            sock.close()
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ") and b"retry-after: 3" in head.lower()
        assert orjson.loads(body)["code"] == "SERVICE_UNAVAILABLE"
    finally:
        engine.dispose()
        dead.dispose()


def test_an_export_that_fails_midway_is_visibly_cut(
        limited: Settings, database_url: str, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small batches, and a client that reads nothing yet: the export waits to send, its query
    still open. The database ends the export's session; the client then gets a chunked body
    without its last chunk, and a GeoJSON document without its end."""
    monkeypatch.setattr(layers.export, "BATCH", 50)
    engine = service_engine(limited)
    try:
        with live_server(create_app(limited, engine)) as base:
            sock = send_request(base, "GET", "/export/complaints.geojson", rcvbuf=4096)
            head, start = read_head(sock, body_bytes=200)
            assert head.startswith(b"HTTP/1.1 200 ") and b"chunked" in head.lower()
            terminated = wait_for(lambda: terminate_fetching(database_url), 10,
                                  "the export's cursor is open")
            assert terminated
            body, complete = dechunk(start + read_all(sock))
            sock.close()
    finally:
        engine.dispose()
    assert not complete
    assert body.startswith(b'{"type":"FeatureCollection"') and not body.rstrip().endswith(b"]}")


def terminate_fetching(database_url: str) -> bool:
    """End the session that holds an export's cursor open (found by its FETCH)."""
    conn = connect(database_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("""SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                              WHERE datname = current_database() AND query LIKE 'FETCH%'
                                AND pid <> pg_backend_pid()""")
            return bool(cursor.fetchall())
    finally:
        conn.close()


def test_healthz_has_its_own_time_limit(limited: Settings) -> None:
    """A server that accepts connections but never answers (as a frozen database does) makes
    /healthz answer 503 within its timeout, not hang."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/none"
        quick = limited.model_copy(update={"health_timeout_ms": 300})
        engine = make_engine(url)
        with TestClient(create_app(quick, engine)) as client:
            response = client.get("/healthz")
        engine.dispose()
    assert response.status_code == 503 and response.json()["code"] == "SERVICE_UNAVAILABLE"


@pytest.mark.parametrize("kind", ["graphql", "export", "ogc", "tile"])
def test_every_surface_says_503_with_retry_after_when_the_database_is_down(
        kind: str, demo: Demo) -> None:
    method, path, body = requests_for(demo)[kind]
    dead = make_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none")
    with TestClient(create_app(Settings(retry_after_s=7), dead)) as client:
        response = client.request(method, path, json=body)
    dead.dispose()
    assert response.status_code == 503 and response.headers["retry-after"] == "7"
    answer = response.json()
    code = answer["errors"][0]["extensions"]["code"] if kind == "graphql" else answer["code"]
    assert code == "SERVICE_UNAVAILABLE"
