"""Real ``phananh serve`` processes: whom forwarded headers may name, slow and idle connections,
rate limits shared by several processes, in PostgreSQL and in Redis, and connections spread
over the workers."""

import argparse
import os
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
import redis
from sqlalchemy import Engine, text

from bench.load import mix_of
from bench.server import Served, served
from tests.conftest import Demo
from tests.test_hardening import SUBMIT, submission

pytestmark = pytest.mark.slow
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(autouse=True)
def no_hits(engine: Engine, demo: Demo) -> None:
    """Forget earlier tests' submissions: the counts live in the shared store."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM rate_limit"))


def submit(server: Served, demo: Demo, headers: dict[str, str] | None = None) -> str:
    """One submission on a new connection; "ok" or the error's code."""
    response = httpx2.post(f"{server.url}/graphql", headers=headers, timeout=30,
                           json={"query": SUBMIT, "variables": submission(demo)})
    assert response.status_code == 200, response.text
    errors = response.json().get("errors")
    return errors[0]["extensions"]["code"] if errors else "ok"


def limited_keys(engine: Engine) -> dict[str, int]:
    """The rate limit's keys and their hits in the window, read from the store's table."""
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT key, cardinality(hits) FROM rate_limit")).all())


def link_schemes(server: Served, headers: dict[str, str]) -> set[str]:
    """The schemes of the links in the OGC landing page, as the server writes them."""
    links = httpx2.get(f"{server.url}/ogc", headers=headers, timeout=30).json()["links"]
    return {link["href"].split("://")[0] for link in links}


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(database_url: str, engine: Engine,
                                                               demo: Demo) -> None:
    """By default no proxy is trusted, 127.0.0.1 included: spoofed addresses share one limit."""
    with served(database_url, SUBMISSIONS_PER_MINUTE_PER_CLIENT="3") as server:
        answers = [submit(server, demo, {"X-Forwarded-For": f"198.51.100.{i}",
                                         "Forwarded": f"for=203.0.113.{i}"})
                   for i in range(6)]
        assert link_schemes(server, {"X-Forwarded-Proto": "https"}) == {"http"}
    assert answers == ["ok"] * 3 + ["RATE_LIMITED"] * 3
    assert limited_keys(engine) == {"submit:client:127.0.0.1": 3}


def test_a_trusted_proxy_names_the_client(database_url: str, engine: Engine,
                                          demo: Demo) -> None:
    """Behind a trusted proxy the client is the nearest untrusted hop: what a client writes in
    front of the proxy's own entry does not change whom it counts against."""
    with served(database_url, SUBMISSIONS_PER_MINUTE_PER_CLIENT="2",
                TRUSTED_PROXIES="127.0.0.1, 10.0.0.0/8") as server:
        spoofing = [submit(server, demo, {"X-Forwarded-For": f"192.0.2.{i}, 203.0.113.7"})
                    for i in range(3)]
        # through two proxies (10.1.2.3 is trusted too), in RFC 7239's syntax
        rfc7239 = [submit(server, demo, {"Forwarded": 'for=192.0.2.9, for="[2001:db8::1]:4711"'
                                                      ", for=10.1.2.3"}) for _ in range(3)]
        others = [submit(server, demo, {"X-Forwarded-For": f"198.51.100.{i}"})
                  for i in range(3)]
        # the proxy's scheme makes the links clients follow
        assert link_schemes(server, {"X-Forwarded-Proto": "https"}) == {"https"}
        assert link_schemes(server, {"Forwarded": "for=192.0.2.9;proto=https"}) == {"https"}
        assert link_schemes(server, {}) == {"http"}
    assert spoofing == rfc7239 == ["ok", "ok", "RATE_LIMITED"]
    assert others == ["ok"] * 3
    assert limited_keys(engine) == {
        "submit:client:203.0.113.7": 2, "submit:client:2001:db8::1": 2,
        **{f"submit:client:198.51.100.{i}": 1 for i in range(3)}}


def read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed it."""
    start, received = time.monotonic(), b""
    sock.settimeout(limit_s)
    while chunk := sock.recv(65_536):
        received += chunk
    return received, time.monotonic() - start


def test_slow_headers_and_idle_connections_are_closed(database_url: str) -> None:
    with served(database_url, HEADER_TIMEOUT="1", KEEP_ALIVE_TIMEOUT="2") as server:
        address = ("127.0.0.1", server.port)
        with socket.create_connection(address) as silent, \
                socket.create_connection(address) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            # meanwhile the server answers others
            assert httpx2.get(f"{server.url}/healthz", timeout=5).status_code == 200
            assert read_until_closed(silent, 10)[1] < 3
            assert read_until_closed(slow, 10)[0] == b""
        with socket.create_connection(address) as idle:
            idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # answered, then idle
            answer, idle_for = read_until_closed(idle, 10)
        assert answer.startswith(b"HTTP/1.1 200 ") and 1.5 < idle_for < 4
        # a request whose headers keep trickling in is cut off at the header timeout
        with socket.create_connection(address) as trickle:
            trickle.settimeout(0.5)
            start, closed = time.monotonic(), False
            trickle.sendall(b"GET /healthz HTTP/1.1\r\n")
            while not closed and time.monotonic() - start < 10:
                try:
                    trickle.sendall(b"X: y\r\n")
                    closed = trickle.recv(1) == b""
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
            assert closed and time.monotonic() - start < 3


@pytest.mark.parametrize("logged", [False, True])
def test_requests_are_logged_only_when_asked(database_url: str, logged: bool) -> None:
    environment = {"ACCESS_LOG": "true"} if logged else {}
    with served(database_url, **environment) as server:
        assert httpx2.get(f"{server.url}/healthz?probe=logged", timeout=5).status_code == 200
        time.sleep(0.2)  # the log line is written after the answer
        assert ("GET /healthz?probe=logged HTTP/1.1" in server.log.read_text()) is logged


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own, so that parallel runs share nothing; removed after."""
    prefix = f"phananh-test-{uuid.uuid4().hex[:8]}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


@pytest.mark.parametrize("store", ["postgres", "redis"])
def test_rate_limits_hold_across_processes(database_url: str, engine: Engine, demo: Demo,
                                           redis_prefix: str, store: str) -> None:
    """Two servers, one of them with two workers, share one limit of 5 a minute per client."""
    environment: dict[str, Any] = {"SUBMISSIONS_PER_MINUTE_PER_CLIENT": "5"}
    if store == "redis":
        environment |= {"REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": redis_prefix}
    with served(database_url, workers=2, **environment) as first, \
            served(database_url, **environment) as second:
        assert len(first.worker_pids()) == 2
        answers = [submit(server, demo) for server, _ in zip(cycle([first, second]), range(12),
                                                             strict=False)]
    assert answers == ["ok"] * 5 + ["RATE_LIMITED"] * 7
    if store == "redis":
        key = f"{redis_prefix}submit:client:127.0.0.1"
        assert redis.Redis.from_url(REDIS_URL).zcard(key) == 5
        assert limited_keys(engine) == {}
    else:
        assert limited_keys(engine) == {"submit:client:127.0.0.1": 5}


def connection_owners(server: Served, count: int) -> list[int]:
    """Open ``count`` keep-alive connections at once, as a proxy's pool does, and answer which
    worker process holds each (read from the kernel's socket table, ``ss``)."""
    connections = [socket.socket() for _ in range(count)]
    for connection in connections:  # all at once: queued before any worker accepts
        connection.setblocking(False)
        connection.connect_ex(("127.0.0.1", server.port))
    try:
        for connection in connections:
            select.select([], [connection], [], 30)
            connection.settimeout(30)
        for connection in connections:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for connection in connections:
            assert connection.recv(100).startswith(b"HTTP/1.1 200")
        table = subprocess.run(["ss", "-tnpH", "state", "established",
                                f"( sport = :{server.port} )"],
                               capture_output=True, text=True, check=True).stdout
        owner = {int(line.split()[3].rsplit(":", 1)[1]): int(line.split("pid=")[1].split(",")[0])
                 for line in table.splitlines()}
        return [owner[connection.getsockname()[1]] for connection in connections]
    finally:
        for connection in connections:
            connection.close()


def test_workers_each_take_a_share_of_new_connections(database_url: str) -> None:
    """A burst of keep-alive connections is spread over the workers (each listens on its own
    socket), also after a worker died and was replaced. On one shared socket, uvicorn's
    default, the first worker to wake took all 16 in 2 trials of 3."""
    with served(database_url, workers=2) as server:
        workers = server.worker_pids()
        assert len(workers) == 2
        for _ in range(3):
            assert set(connection_owners(server, 24)) == workers
        killed = min(workers)
        os.kill(killed, 9)
        deadline = time.monotonic() + 120
        while server.log.read_text().count("Application startup complete") < 3:
            assert time.monotonic() < deadline, server.log.read_text()[-2_000:]
            time.sleep(0.2)
        serving = server.worker_pids() - {killed}
        assert len(serving) == 2
        while (owners := set(connection_owners(server, 24))) != serving:
            # every connection was answered; the replacement listens just after its startup
            assert owners <= serving and time.monotonic() < deadline, owners
            time.sleep(0.2)


def test_a_second_server_on_the_port_is_refused(database_url: str) -> None:
    """Workers share their port with each other only: another ``phananh serve`` started on
    it (whose sockets could join theirs) stops with the port's error instead of taking half
    of the connections."""
    with served(database_url, workers=2) as server:
        second = subprocess.run(
            [sys.executable, "-m", "cli", "serve", "--port", str(server.port), "--workers", "2"],
            capture_output=True, text=True, timeout=60,
            env={**os.environ, "DATABASE_URL": database_url, "COLUMNS": "200"})
        assert second.returncode == 3, second.stdout + second.stderr
        assert f"Cannot listen on 127.0.0.1:{server.port}" in second.stdout
        assert set(connection_owners(server, 24)) == server.worker_pids()


def test_the_load_benchmark_runs_the_mix_without_errors(database_url: str, demo: Demo,
                                                        tmp_path: Path) -> None:
    """``python -m bench load`` in its short mode: both configurations answer every kind of
    request of the mix, with no error, and the page-of-100 ratio is measured."""
    figures = tmp_path / "load.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "load", "--duration", "3", "--concurrency", "4",
         "--workers", "2", "--database-url", database_url, "--json", str(figures)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr[-3_000:]
    assert "req/s" in done.stdout and "× raw SQL" in done.stdout
    result = orjson.loads(figures.read_bytes())
    assert [run["label"] for run in result["runs"]] == ["1 worker", "2 workers"]
    for run in result["runs"]:
        assert run["errors"] == {}
        assert set(run["by_kind"]) == {"jurisdiction", "page", "tile", "submit"}
        assert run["requests"] == sum(k["requests"] for k in run["by_kind"].values()) > 0
        assert 0 < run["p50_ms"] <= run["p95_ms"] <= run["p99_ms"]
        assert all(0 < k["p50_ms"] <= k["p99_ms"] for k in run["by_kind"].values())
    # every kind costs the worker CPU; the ceiling is what the cores allow at the CPU a
    # request cost under load, which no run can pass (it cannot use more than the cores)
    assert set(result["cpu_ms_by_kind"]) == set(result["runs"][0]["by_kind"])
    assert all(worker > 0 for worker, _ in result["cpu_ms_by_kind"].values())
    assert result["ceiling_requests_per_s"] >= 0.95 * result["runs"][-1]["requests_per_s"]
    assert result["page_ms"] > 0 and result["raw_page_ms"] > 0


def test_the_load_benchmark_takes_a_mix() -> None:
    assert mix_of("tile=2, submit=1,page=0") == {"tile": 2, "submit": 1}
    for wrong in ("tile", "tile=x", "files=1", "tile=-1", "tile=0"):
        with pytest.raises(argparse.ArgumentTypeError):
            mix_of(wrong)
