"""How fast the service answers when the database cannot: a read over its statement timeout, a
pool with every connection taken, a client that leaves, and ``/healthz`` meanwhile.

``python -m bench faults``. Slowness is real: another transaction holds the complaint table
locked (as a long migration would), so statements reading it wait. Each figure is a ratio to the
limit that should bound it, or to the same request on a free database, in the same run. The
database is an empty migrated one (``phananh_faults``): locks need no data.
"""

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import psycopg2
import uvicorn
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from app import create_app
from bench.common import bench_settings, measure, print_table
from db.engine import service_engine
from settings import Settings

READ = {"query": "{ complaints(first: 5) { totalCount } }"}


@contextmanager
def locked(settings: Settings) -> Iterator[psycopg2.extensions.connection]:
    """The complaint table held by another transaction; yields that connection."""
    url = make_url(settings.sqlalchemy_url)
    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username,
                            password=url.password, dbname=url.database)
    with conn.cursor() as cursor:
        cursor.execute("LOCK TABLE complaint IN ACCESS EXCLUSIVE MODE")
    try:
        yield conn
    finally:
        conn.close()


def waiting(conn: psycopg2.extensions.connection) -> int:
    """Statements of the database waiting for a lock (asked on a second connection)."""
    params = conn.get_dsn_parameters()
    probe = psycopg2.connect(host=params["host"], port=params["port"], user=params["user"],
                             dbname=params["dbname"])
    probe.autocommit = True
    with probe.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                       " AND state = 'active' AND wait_event_type = 'Lock'")
        count = cursor.fetchone()[0]
    probe.close()
    return count


@contextmanager
def served(settings: Settings) -> Iterator[int]:
    """The app in a real uvicorn on a free port (a client can leave only over a socket)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join()


def leave_while_waiting(settings: Settings, port: int) -> float:
    """Seconds from a client's disconnect to its statement no longer running."""
    with locked(settings) as holder:
        body = b'{"query": "{ complaints(first: 5) { totalCount } }"}'
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        while not waiting(holder):
            time.sleep(0.01)
        left = time.perf_counter()
        sock.close()
        while waiting(holder):
            time.sleep(0.01)
        return time.perf_counter() - left


def main() -> None:
    settings = bench_settings("faults").model_copy(update={
        "statement_timeout_read_ms": 500, "pool_timeout_s": 0.5, "db_pool_size": 2})
    engine = service_engine(settings)
    with TestClient(create_app(settings, engine)) as client:
        healthy = measure(lambda: client.post("/graphql", json=READ), repeat=20)
        health = measure(lambda: client.get("/healthz"), repeat=20)
        with locked(settings):
            timed_out = measure(lambda: client.post("/graphql", json=READ), repeat=5)
        with ThreadPoolExecutor(4) as pool:
            slow = settings.model_copy(update={"statement_timeout_read_ms": 60_000})
            engine_slow = service_engine(slow)
            with TestClient(create_app(slow, engine_slow)) as busy:
                with locked(settings) as holder:
                    holders = [pool.submit(busy.post, "/graphql", json=READ) for _ in range(4)]
                    while waiting(holder) < 4:
                        time.sleep(0.01)
                    exhausted = measure(lambda: busy.post("/graphql", json=READ), repeat=5)
                    health_busy = measure(lambda: busy.get("/healthz"), repeat=20)
                for held in holders:
                    held.result()
            engine_slow.dispose()
    engine.dispose()
    with served(settings.model_copy(update={"statement_timeout_read_ms": 60_000})) as port:
        left = measure(lambda: leave_while_waiting(settings, port), repeat=5, warmup=0)
    rows = [
        ("a read, database free (baseline)", healthy.median * 1e3, healthy.p95 * 1e3, 1.0),
        ("a read over its 500 ms timeout → QUERY_TIMEOUT", timed_out.median * 1e3,
         timed_out.p95 * 1e3, timed_out.median / 0.5),
        ("a read, all 4 connections busy → SERVICE_UNAVAILABLE (pool timeout 500 ms)",
         exhausted.median * 1e3, exhausted.p95 * 1e3, exhausted.median / 0.5),
        ("client leaves → its statement stops (timeout 60 s)", left.median * 1e3,
         left.p95 * 1e3, left.median / 60),
        ("/healthz, pool free (baseline)", health.median * 1e3, health.p95 * 1e3, 1.0),
        ("/healthz, every pooled connection busy", health_busy.median * 1e3,
         health_busy.p95 * 1e3, health_busy.median / health.median),
    ]
    print_table("Time limits (the ratio: to the limit that bounds the wait, or to the baseline)",
                ["job", "median ms", "p95 ms", "ratio"], rows)


if __name__ == "__main__":
    main()
