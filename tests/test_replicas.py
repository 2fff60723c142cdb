"""Read replicas against a real primary and a real streaming replica.

``scripts/localdb.sh`` starts a throwaway cluster of a stand-in checkout on a free port and a
replica of it (``replica start``: ``pg_basebackup -R``, hot standby) on another; the shared
cluster of the other tests is never touched. Which node answered is never asked of the code
under test: replay is paused on the replica (``pg_wal_replay_pause()``) and a complaint is
written on the primary, so an answer that lacks it came from the replica, and one that has it
from the primary.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import monotonic, sleep
from typing import Any

import psycopg2
import pytest
from alembic import command
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app import create_app
from auth import users
from auth.principal import Role
from auth.tokens import issue_token
from cli.main import alembic_config
from db.engine import make_engine
from db.nodes import READ_AFTER
from demo.city import build_demo_city
from demo.complaints import generate_complaints
from demo.seed import seed_boundaries, seed_complaints
from layers.tiles import tile_containing
from settings import Settings
from tests.test_localdb import checkout, free_port, leftovers, localdb

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup")),
                       reason="no PostgreSQL server binaries"),
]

COMPLAINTS = 400
SPOT = (105.8412, 21.0245)  # where the tests' complaints are submitted
FAST = {"submissions_per_minute_per_client": 100_000, "submissions_per_minute_per_token": 100_000}


@dataclass
class Cluster:
    where: Path
    port: int
    replica_port: int

    @property
    def primary_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/phananh"

    @property
    def driver_url(self) -> str:
        return Settings(database_url=self.primary_url).sqlalchemy_url

    @property
    def replica_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.replica_port}/phananh"

    def sql(self, port: int, statement: str) -> Any:
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="phananh")
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement)
            found = cursor.fetchone() if cursor.description else None
        conn.close()
        return found

    def pause(self) -> None:
        self.sql(self.replica_port, "SELECT pg_wal_replay_pause()")

    def resume(self) -> None:
        self.sql(self.replica_port, "SELECT pg_wal_replay_resume()")

    def caught_up(self) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        target = self.sql(self.port, "SELECT pg_current_wal_insert_lsn()")[0]
        deadline = monotonic() + 60
        while not self.sql(self.replica_port,
                           f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0]:
            assert monotonic() < deadline, "the replica did not catch up"
            sleep(0.05)

    def replica(self, *args: str) -> None:
        done = localdb(self.where, self.port, "replica", *args)
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    parent = tmp_path_factory.mktemp("replicas")
    where = checkout(parent, "checkout")
    port = free_port()
    replica_port = next(p for p in iter(free_port, None) if p != port)
    found = Cluster(where, port, replica_port)
    try:
        started = localdb(where, port, "start", "phananh")
        assert started.returncode == 0, started.stderr
        command.upgrade(alembic_config(found.driver_url), "head")
        engine = make_engine(found.driver_url)
        generations = build_demo_city()
        seed_boundaries(engine, generations)
        outline = next(a for a in generations[-1].areas if a.level == "city").geometry
        seed_complaints(engine, generate_complaints(COMPLAINTS, outline, seed=5,
                                                    now=datetime.now(UTC)), COMPLAINTS)
        engine.dispose()
        found.replica("start", str(replica_port))
        yield found
    finally:
        localdb(where, port, "destroy")
        pids, _ = leftovers(parent)
        assert pids == [], "a server outlived the test"


@dataclass
class Apps:
    replicated: TestClient  # primary + replica
    primary: TestClient  # the same primary, no replica: the reference
    engine: Engine
    official: dict[str, str]


def app_for(settings: Settings, engine: Engine) -> TestClient:
    return TestClient(create_app(settings, engine))


@pytest.fixture(scope="module")
def apps(cluster: Cluster) -> Iterator[Apps]:
    engine = make_engine(cluster.driver_url)
    with engine.begin() as conn:
        users.add_user(conn, "admin", Role.CITY_ADMIN)
        token = issue_token(conn, "admin")
    replicated = Settings(database_url=cluster.primary_url, replica_urls=[cluster.replica_url],
                          replica_check_seconds=0, replica_wait_seconds=0.3,
                          replica_max_lag_seconds=600, **FAST)
    reference = Settings(database_url=cluster.primary_url, **FAST)
    with app_for(replicated, engine) as one, app_for(reference, engine) as other:
        yield Apps(one, other, engine, {"Authorization": f"Bearer {token}"})
    engine.dispose()


def gql(client: TestClient, query: str, headers: dict[str, str] | None = None) -> Any:
    response = client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def submit(client: TestClient, description: str) -> tuple[str, Any]:
    """A complaint at SPOT; (its id, the HTTP response)."""
    response = client.post("/graphql", json={"query": f"""mutation {{ submitComplaint(input: {{
        categoryCode: "environment.waste", description: "{description}",
        lon: {SPOT[0]}, lat: {SPOT[1]} }}) {{ id ward {{ code }} }} }}"""})
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["submitComplaint"]["id"], response


TILE = tile_containing(*SPOT, z=13)
BBOX = "105.83,21.01,105.85,21.03"


def tile(client: TestClient) -> tuple[int, str | None, bytes]:
    response = client.get(f"/tiles/complaints/{TILE.z}/{TILE.x}/{TILE.y}.mvt")
    return response.status_code, response.headers.get("etag"), response.content


SURFACES: dict[str, Callable[[TestClient], Any]] = {
    "tile": tile,
    "tilejson": lambda c: c.get("/tiles/complaints.json").headers["etag"],
    "ogc items": lambda c: {k: v for k, v in c.get(
        f"/ogc/collections/complaints/items?bbox={BBOX}&limit=50").json().items()
        if k != "timeStamp"},
    "export": lambda c: c.get(f"/export/complaints.csv?bbox={BBOX}").content,
    "listing": lambda c: gql(c, "{ complaints(first: 5) { totalCount edges { node { id } } } }"),
    "analytics": lambda c: gql(c, """{ stats { summary { received } }
        areaStats(level: WARD) { total areas { code count } }
        grid(shape: SQUARE, cellSizeM: 2000) { total cells { i j count } } }"""),
}


def answers(client: TestClient) -> dict[str, Any]:
    return {name: ask(client) for name, ask in SURFACES.items()}


def listed(client: TestClient, public_id: str, headers: dict[str, str] | None = None) -> bool:
    body = gql(client, f'{{ complaint(id: "{public_id}") {{ id }} }}', headers)
    return body.get("data") is not None and body["data"]["complaint"] is not None


def test_public_reads_come_from_the_replica_and_match_the_primary(cluster: Cluster,
                                                                   apps: Apps) -> None:
    cluster.caught_up()
    before = answers(apps.replicated)
    assert before == answers(apps.primary)  # the same bytes and ETags from either node
    cluster.pause()
    try:
        public_id, _ = submit(apps.primary, "Written while the replica is paused")
        changed = answers(apps.primary)
        assert all(changed[name] != before[name] for name in SURFACES), \
            [name for name in SURFACES if changed[name] == before[name]]
        assert answers(apps.replicated) == before  # every surface was answered by the replica
        assert not listed(apps.replicated, public_id)  # anonymous: the replica
        assert listed(apps.replicated, public_id, apps.official)  # officials: the primary
    finally:
        cluster.resume()
    cluster.caught_up()
    assert answers(apps.replicated) == changed


def test_a_caller_reads_their_own_write_while_the_replica_lags(cluster: Cluster,
                                                               apps: Apps) -> None:
    cluster.caught_up()
    cluster.pause()
    try:
        writer = apps.replicated
        public_id, response = submit(writer, "Read your writes")
        sealed = response.headers[READ_AFTER]
        assert response.cookies.get(READ_AFTER) == sealed
        assert listed(writer, public_id)  # the cookie: the primary, after a bounded wait
        writer.cookies.clear()
        assert not listed(writer, public_id)  # no cookie: the lagging replica
        assert listed(writer, public_id, {READ_AFTER: sealed})  # the header serves too
        forged = sealed[:-1] + ("0" if sealed[-1] != "0" else "1")
        assert not listed(writer, public_id, {READ_AFTER: forged})
    finally:
        cluster.resume()
    cluster.caught_up()
    assert listed(writer, public_id)


def test_a_replica_past_the_lag_limit_drops_out(cluster: Cluster, apps: Apps) -> None:
    strict = Settings(database_url=cluster.primary_url, replica_urls=[cluster.replica_url],
                      replica_check_seconds=0, replica_max_lag_seconds=0.5, **FAST)
    with app_for(strict, apps.engine) as client:
        cluster.caught_up()
        assert health(client)["replica-1"]["inService"]
        cluster.pause()
        try:
            public_id, _ = submit(apps.primary, "Past the lag limit")
            deadline = monotonic() + 30
            while (replica := health(client)["replica-1"])["inService"]:
                assert monotonic() < deadline, "the replica stayed in service"
                sleep(0.1)
            assert replica["lagSeconds"] > 0.5 and replica["lagBytes"] > 0
            assert listed(client, public_id)  # anonymous, yet from the primary
        finally:
            cluster.resume()
        cluster.caught_up()
        assert health(client)["replica-1"] | {"lagSeconds": 0, "replayedLsn": None} == {
            "name": "replica-1", "role": "replica", "up": True, "inService": True,
            "lagSeconds": 0, "lagBytes": 0, "replayedLsn": None}


def health(client: TestClient) -> dict[str, Any]:
    body = client.get("/healthz").json()
    return {node["name"]: node for node in body["nodes"]}


def test_reads_fail_over_to_the_primary_when_the_replica_stops(cluster: Cluster,
                                                               apps: Apps) -> None:
    cluster.caught_up()
    expected = answers(apps.primary)
    assert answers(apps.replicated) == expected
    cluster.replica("stop")
    try:
        body = apps.replicated.get("/healthz").json()
        assert body["status"] == "degraded"
        assert [(n["name"], n["up"]) for n in body["nodes"]] == [("primary", True),
                                                                  ("replica-1", False)]
        assert answers(apps.replicated) == expected
        public_id, _ = submit(apps.primary, "While the replica is down")
        apps.replicated.cookies.clear()
        assert listed(apps.replicated, public_id)
    finally:
        cluster.replica("start", str(cluster.replica_port))
    cluster.caught_up()
    assert health(apps.replicated)["replica-1"]["inService"]
    assert answers(apps.replicated) == answers(apps.primary)


def test_health_names_nodes_without_addresses(apps: Apps, cluster: Cluster) -> None:
    text = json.dumps(apps.replicated.get("/healthz").json())
    assert str(cluster.replica_port) not in text and "127.0.0.1" not in text
