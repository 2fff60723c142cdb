"""Tiles and listings served by a streaming replica against the primary (``bench scale``).

A throwaway cluster is started by the project's own ``scripts/localdb.sh`` from a stand-in
checkout in a temporary directory (so a developer's local cluster is never touched), the
nation is built in it (``demo.nation``), and ``localdb.sh replica start`` makes a hot standby
of it (``pg_basebackup -R``). Two apps then serve the same requests: one with the replica in
``PHANANH_REPLICA_URLS`` (tiles and anonymous listings go to it, ``db/nodes.py``), one with
the primary alone; the requests alternate between them, so both meet the same caches. The
in-process tile cache is off in both: every tile is made by its node. The cluster and its
replica are destroyed afterwards, error or not.

On one machine the replica shares the primary's cores and disk: what this shows is that a
replica answers the same reads at the same cost (and the same bytes, same ETag), so each
replica host added is that much more read capacity; not a speed-up on one host.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from starlette.testclient import TestClient

from app import create_app
from bench.common import Timing, console
from bench.layers import fixed_tiles
from cli.main import alembic_config
from db.engine import make_engine
from demo.nation import seed_nation
from layers.tiles import Tile
from settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "phananh"
PAGES = 20  # listing pages walked by cursor, per walk
LISTING = """query($after: String, $filter: ComplaintFilter) {
  complaints(first: 20, after: $after, filter: $filter) { edges { cursor node {
    id status createdAt location category { code } ward { code name } } } } }"""
# An anonymous caller's listings: the newest complaints, and one category's.
LISTINGS: dict[str, dict[str, Any] | None] = {
    "newest": None,
    "one category": {"categories": ["environment.waste"]},
}


@dataclass(frozen=True)
class Cluster:
    primary_url: str
    replica_url: str


def _free_port(taken: int = 0) -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port != taken:
            return port


def _localdb(where: Path, port: int, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run([str(where / "scripts" / "localdb.sh"), *args], capture_output=True,
                          text=True, env={**env, "PHANANH_PGPORT": str(port)}, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"localdb.sh {' '.join(args)}: {done.stderr}")


@contextmanager
def replicated_nation(complaints: int, workers: int) -> Iterator[Cluster]:
    """A throwaway primary holding the nation with ``complaints`` complaints, and a streaming
    replica of it; both destroyed on leaving."""
    with tempfile.TemporaryDirectory(prefix="phananh-replica-bench-") as parent:
        where = Path(parent) / "checkout"
        shutil.copytree(ROOT / "scripts", where / "scripts")
        port = _free_port()
        replica_port = _free_port(taken=port)
        cluster = Cluster(f"postgresql://postgres@127.0.0.1:{port}/{DATABASE}",
                          f"postgresql://postgres@127.0.0.1:{replica_port}/{DATABASE}")
        try:
            _localdb(where, port, "start", DATABASE)
            url = Settings(database_url=cluster.primary_url).sqlalchemy_url
            command.upgrade(alembic_config(url), "head")
            engine = make_engine(url)
            console.print(f"Building the nation with {complaints:,} complaints on the "
                          "throwaway primary…")
            seed_nation(engine, complaints, workers=workers)
            engine.dispose()
            _localdb(where, port, "replica", "start", str(replica_port))
            yield cluster
        finally:
            _localdb(where, port, "destroy")


def measure_replica(complaints: int, workers: int) -> list[tuple[Any, ...]]:
    """Rows (request, count, primary median ms, replica median ms, replica/primary, p95s):
    every tile of a fixed set and every listing page, from the primary alone and through the
    replica."""
    with replicated_nation(complaints, workers) as cluster:
        common = {"database_url": cluster.primary_url, "tile_cache_bytes": 0,
                  "replica_check_seconds": 1, "replica_max_lag_seconds": 600}
        engine = make_engine(Settings(database_url=cluster.primary_url).sqlalchemy_url)
        tiles = fixed_tiles(engine)
        with TestClient(create_app(Settings(**common), engine)) as primary, \
                TestClient(create_app(Settings(**common, replica_urls=[cluster.replica_url]),
                                      engine)) as replicated:
            in_service = _replica_in_service(replicated)
            rows = [_compare(f"tile z{zooms}", primary, replicated, [_tile(t) for t in chosen])
                    for zooms, chosen in _by_zoom_band(tiles).items()]
            for name, listing in LISTINGS.items():
                rows.append(_compare(f"listing pages, {name}", primary, replicated,
                                     _pages(primary, listing)))
            if not (in_service and _replica_in_service(replicated)):
                raise RuntimeError("the replica was out of service during the measurement")
        engine.dispose()
    return rows


Request = Callable[[TestClient], Any]


def _tile(tile: Tile) -> Request:
    def get(client: TestClient) -> bytes:
        response = client.get(f"/tiles/complaints/{tile.z}/{tile.x}/{tile.y}.mvt")
        assert response.status_code in (200, 204), response.text
        return response.content
    return get


def _by_zoom_band(tiles: list[Tile]) -> dict[str, list[Tile]]:
    """The tiles in three bands of zoom: a province or more, a district, streets."""
    bands = {"10–12": range(10, 13), "13–14": range(13, 15), "15–16": range(15, 17)}
    return {name: [t for t in tiles if t.z in zooms] for name, zooms in bands.items()}


def _pages(client: TestClient, listing: dict[str, Any] | None) -> list[Request]:
    """The requests of :data:`PAGES` pages of a listing, by cursor (the cursors found once,
    from the primary)."""
    requests, after = [], None
    for _ in range(PAGES):
        variables = {"after": after, "filter": listing}
        requests.append(_graphql(variables))
        edges = _graphql(variables)(client)["complaints"]["edges"]
        if not edges:
            break
        after = edges[-1]["cursor"]
    return requests


def _graphql(variables: dict[str, Any]) -> Request:
    def post(client: TestClient) -> Any:
        body = client.post("/graphql", json={"query": LISTING, "variables": variables}).json()
        assert "errors" not in body, body
        return body["data"]
    return post


def _compare(name: str, primary: TestClient, replicated: TestClient,
             requests: list[Request]) -> tuple[Any, ...]:
    """Each request once unmeasured on both (caches), then alternately timed on each; the
    answers must be equal."""
    for request in requests:
        assert request(primary) == request(replicated), name
    samples: dict[str, list[float]] = {"primary": [], "replica": []}
    for request in requests:
        for arm, client in (("primary", primary), ("replica", replicated)):
            start = time.perf_counter()
            request(client)
            samples[arm].append(time.perf_counter() - start)
    on_primary, on_replica = Timing(samples["primary"]), Timing(samples["replica"])
    return (name, len(requests), 1000 * on_primary.median, 1000 * on_replica.median,
            on_replica.median / on_primary.median, 1000 * on_primary.p95,
            1000 * on_replica.p95)


def _replica_in_service(client: TestClient) -> bool:
    nodes = client.get("/healthz").json()["nodes"]
    return any(n["role"] == "replica" and n.get("inService") for n in nodes)
