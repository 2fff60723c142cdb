"""Faults of the database and of the server, on a throwaway cluster of this module's own
(``scripts/localdb.sh`` in a stand-in checkout, on a free port; the shared cluster of the other
tests is never touched): a restart and a stop during a stream of submissions, a frozen
database, and a server killed in the middle of an export.

The database is small (migrated, the demo city's current boundaries and a few hundred
complaints), so each fault takes seconds. Submissions follow what a client should do: retry
with the same idempotency key after a SERVICE_UNAVAILABLE (whose Retry-After is shortened to
keep the test fast). What is checked is what a caller may rely on: every acknowledged
complaint is stored once, none twice, and the same server process serves again once the
database is back.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import shapely
from alembic import command
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import create_app
from cli.main import alembic_config
from db.engine import make_engine, service_engine
from demo.city import build_demo_city
from demo.complaints import generate_complaints
from demo.seed import seed_boundaries, seed_complaints
from settings import Settings
from tests.fault_support import dechunk, read_all, read_head, send_request, wait_for
from tests.test_localdb import checkout, free_port, localdb

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
                       reason="no PostgreSQL server binaries"),
]
SUBMIT = "mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) { id } }"
COMPLAINTS = 400


@dataclass
class Cluster:
    """The module's own cluster, driven as an operator would (and as a fault would)."""

    where: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/phananh"

    def start(self) -> None:
        done = localdb(self.where, self.port, "start", "phananh")
        assert done.returncode == 0, done.stderr

    def stop(self) -> None:
        done = localdb(self.where, self.port, "stop")
        assert done.returncode == 0, done.stderr

    def processes(self) -> list[int]:
        """The postmaster and every process it started (backends, background workers)."""
        datadir = self.where / ".data" / "pg"
        postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
        children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                    and _parent(p) == postmaster]
        return [postmaster, *children]

    def signal(self, signum: int) -> None:
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def _parent(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    parent = Path(tempfile.mkdtemp(prefix="phananh-faults-"))
    parent.chmod(0o755)  # the postgres user keeps its data inside this stand-in checkout
    found = Cluster(checkout(parent, "faults"), free_port())
    try:
        found.start()
        url = Settings(database_url=found.url).sqlalchemy_url
        command.upgrade(alembic_config(url), "head")
        engine = make_engine(url)
        generations = build_demo_city()
        seed_boundaries(engine, generations[-1:])
        outline = next(a for a in generations[-1].areas if a.level == "city").geometry
        seed_complaints(engine, generate_complaints(COMPLAINTS, outline, seed=3,
                                                    now=datetime.now(UTC)), COMPLAINTS)
        engine.dispose()
        yield found
    finally:
        thaw(found)
        localdb(found.where, found.port, "destroy")
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def running(cluster: Cluster) -> Cluster:
    """The cluster, started (and thawed) if a test left it otherwise."""
    thaw(cluster)
    cluster.start()
    return cluster


def thaw(cluster: Cluster) -> None:
    if (cluster.where / ".data" / "pg" / "postmaster.pid").exists():
        cluster.signal(signal.SIGCONT)


def fault_settings(cluster: Cluster) -> Settings:
    return Settings(database_url=cluster.url, statement_timeout_read_ms=2_000,
                    pool_timeout_s=0.5, connect_timeout_s=2, health_timeout_ms=500,
                    retry_after_s=1, submissions_per_minute_per_client=100_000)


@dataclass
class Submitter:
    """A client sending complaints one after another, each retried with its idempotency key
    until acknowledged."""

    client: TestClient
    point: Any
    acknowledged: dict[str, str] = field(default_factory=dict)  # key → public id
    codes: list[str] = field(default_factory=list)  # every error code seen
    statuses: set[int] = field(default_factory=set)
    retry_after: set[str] = field(default_factory=set)

    def submit(self, deadline_s: float = 60) -> str:
        key = uuid.uuid4().hex
        variables = {"i": {"categoryCode": "other", "description": "fault test",
                           "lon": self.point.x, "lat": self.point.y, "idempotencyKey": key}}
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            response = self.client.post("/graphql", json={"query": SUBMIT,
                                                          "variables": variables})
            self.statuses.add(response.status_code)
            body = response.json()
            if not body.get("errors"):
                self.acknowledged[key] = body["data"]["submitComplaint"]["id"]
                return key
            self.codes.append(body["errors"][0]["extensions"]["code"])
            self.retry_after.add(response.headers.get("retry-after", ""))
            time.sleep(0.1)  # a real client waits Retry-After; shortened here
        raise AssertionError(f"not acknowledged within {deadline_s} s: {self.codes[-3:]}")


def stored(engine: Engine, keys: list[str]) -> dict[str, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT idempotency_key, public_id FROM complaint "
                                 "WHERE idempotency_key = ANY(:keys)"), {"keys": keys})
        found: dict[str, list[str]] = {}
        for key, public_id in rows:
            found.setdefault(key, []).append(public_id)
        return found


def submitting(running: Cluster, fault: Any) -> Submitter:
    """Submit while ``fault(cluster)`` happens in another thread, then until 10 more are
    acknowledged after it; check that nothing acknowledged is lost or doubled."""
    settings = fault_settings(running)
    engine = service_engine(settings)
    point = running_point(engine)
    with TestClient(create_app(settings, engine)) as client:
        submitter = Submitter(client, point)
        for _ in range(5):
            submitter.submit()
        faulting = threading.Thread(target=fault, args=(running,))
        faulting.start()
        while faulting.is_alive():
            submitter.submit()
        faulting.join()
        for _ in range(10):  # the same process serves again, without a restart
            submitter.submit()
    check = make_engine(settings.sqlalchemy_url)
    found = stored(check, list(submitter.acknowledged))
    check.dispose()
    engine.dispose()
    assert {key: [public_id] for key, public_id in submitter.acknowledged.items()} == found
    assert "INTERNAL_ERROR" not in submitter.codes and 500 not in submitter.statuses
    return submitter


def running_point(engine: Engine) -> Any:
    with engine.connect() as conn:
        wkt = conn.execute(text("SELECT ST_AsText(ST_PointOnSurface(geom)) FROM admin_area "
                                "WHERE level = 'ward' LIMIT 1")).scalar_one()
    return shapely.from_wkt(wkt)


def restart(cluster: Cluster) -> None:
    time.sleep(0.3)
    cluster.stop()
    cluster.start()


def stop_for_a_while(cluster: Cluster) -> None:
    time.sleep(0.3)
    cluster.stop()
    time.sleep(3)
    cluster.start()


def test_a_restart_during_submissions_loses_and_doubles_nothing(running: Cluster) -> None:
    submitting(running, restart)


def test_a_stop_during_submissions_is_service_unavailable_then_recovers(
        running: Cluster) -> None:
    submitter = submitting(running, stop_for_a_while)
    assert "SERVICE_UNAVAILABLE" in submitter.codes
    assert set(submitter.codes) <= {"SERVICE_UNAVAILABLE", "QUERY_TIMEOUT"}  # both retryable
    assert submitter.statuses == {200, 503} and submitter.retry_after == {"1"}


def test_a_frozen_database_gives_a_timely_503_and_healthz_answers(running: Cluster) -> None:
    """SIGSTOP on the postmaster and its backends: nothing the database does can end a wait.
    Every request still answers, within the configured bounds: health within its timeout, a
    read within its statement timeout, the pool's and the connection's."""
    settings = fault_settings(running)
    engine = service_engine(settings)
    bound_s = settings.statement_timeout_read_ms / 1000 + settings.pool_timeout_s \
        + settings.connect_timeout_s + 1
    query = {"query": "{ complaints(first: 3) { totalCount } }"}
    try:
        with TestClient(create_app(settings, engine)) as client:
            assert client.post("/graphql", json=query).status_code == 200
            running.signal(signal.SIGSTOP)
            try:
                answers = []
                for path, body in (("/healthz", None), ("/graphql", query),
                                   ("/graphql", query), ("/healthz", None)):
                    started = time.monotonic()
                    response = (client.get(path) if body is None
                                else client.post(path, json=body))
                    answers.append((response.status_code, time.monotonic() - started,
                                    response.json()))
            finally:
                running.signal(signal.SIGCONT)
            for status, took, body in answers:
                assert status == 503 and took < bound_s + 2, (status, took, body)
            assert answers[0][2]["code"] == answers[3][2]["code"] == "SERVICE_UNAVAILABLE"
            assert {a[2]["errors"][0]["extensions"]["code"] for a in answers[1:3]} == \
                {"SERVICE_UNAVAILABLE"}
            wait_for(lambda: client.post("/graphql", json=query).status_code == 200, 30,
                     "the service answers again once the database thaws")
            assert client.get("/healthz").status_code == 200
    finally:
        engine.dispose()


def test_a_server_killed_in_the_middle_of_an_export_leaves_a_visibly_cut_file(
        running: Cluster) -> None:
    """A real ``uvicorn`` process streams an export to a client that has not read yet; the
    process is killed. What the client then receives ends without the last chunk of the
    chunked transfer, and the GeoJSON without its closing brackets. The server's send buffers
    are small, so that most of the export is still in the process when it dies."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.small_buffer_server", str(port)],
        env={**os.environ, "DATABASE_URL": running.url}, cwd=Path(__file__).parents[1],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(base), 30, "the server starts")
        sock = send_request(base, "GET", "/export/complaints.geojson", rcvbuf=4096)
        head, start = read_head(sock, body_bytes=200)
        assert head.startswith(b"HTTP/1.1 200 ") and b"chunked" in head.lower()
        server.kill()
        server.wait(timeout=10)
        body, complete = dechunk(start + read_all(sock))
        sock.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    assert not complete
    assert body.startswith(b'{"type":"FeatureCollection"')
    # Not a whole document (its last bytes may still be "]}", a point's coordinates closed;
    # a cut inside a character fails to decode, which ValueError covers too).
    with pytest.raises(ValueError):
        json.loads(body)


def _answers(base: str) -> bool:
    try:
        sock = send_request(base, "GET", "/healthz")
    except OSError:
        return False
    head, _ = read_head(sock)
    sock.close()
    return head.startswith(b"HTTP/1.1 200 ")
