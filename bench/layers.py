"""Map layers on 1,000,000 complaints: vector tiles against tipg, GeoJSON export against ogr2ogr.

Both tile servers run as separate uvicorn processes on the benchmark database and serve the
same table with the same three properties, the same 10,000-feature cap and the same 64-unit
buffer; each tile of a fixed set (≥ 200, zooms 10–16, where the complaints are) is requested
from one and then the other, so both meet the same database cache. tipg (developmentseed's
PostGIS tile server) lives in its own virtualenv, ``.venv-tipg``, created here on first use.
Then phananh serves the same tiles again from its in-process cache, and answers
``If-None-Match`` with 304. Last, a fresh phananh process streams the whole layer as GeoJSON,
timed against ``ogr2ogr -f GeoJSON`` on the same PostGIS query, with both processes' peak RSS.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
from sqlalchemy import Engine, literal_column, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from bench.common import (
    Timing,
    bench_engine,
    bench_settings,
    console,
    ensure_demo_data,
    print_table,
)
from layers.query import LayerQuery
from layers.registry import LAYERS
from layers.tiles import Tile, tile_containing

ROOT = Path(__file__).resolve().parents[1]
TIPG_VENV = ROOT / ".venv-tipg"
TIPG = "tipg==1.6.1"
COMPLAINTS = 1_000_000
ZOOMS = range(10, 17)
TILES_PER_ZOOM = 40  # fewer at low zooms, where the city spans only a few tiles
WARMUP_FILTER = "status=RECEIVED"
PROPERTIES = "public_id,category_code,status"
NO_COMPRESSION = {"Accept-Encoding": "identity"}  # tipg compresses otherwise; phananh doesn't
MB = 1024 * 1024


def main() -> None:
    engine = bench_engine()
    ensure_demo_data(engine, COMPLAINTS)
    url = make_url(bench_settings().database_url).set(drivername="postgresql") \
        .render_as_string(hide_password=False)
    tiles = fixed_tiles(engine)
    ensure_tipg()
    with serve_phananh(url) as (phananh, _), serve_tipg(url) as tipg:
        tile_table(tiles, phananh, tipg)
    export_table(engine, url)


def fixed_tiles(engine: Engine) -> list[Tile]:
    """Up to TILES_PER_ZOOM distinct tiles per zoom where complaints are, in a fixed but
    random-looking order (that of the public ids): a city seen by map users."""
    with engine.connect() as conn:
        points = conn.execute(text("SELECT ST_X(location), ST_Y(location) FROM complaint "
                                   "ORDER BY public_id LIMIT 20000")).all()
    tiles: list[Tile] = []
    for z in ZOOMS:
        at_zoom = list(dict.fromkeys(tile_containing(lon, lat, z) for lon, lat in points))
        tiles += at_zoom[:TILES_PER_ZOOM]
    assert len(tiles) >= 200, f"only {len(tiles)} tiles"
    return tiles


def tile_table(measured: list[Tile], phananh: str, tipg: str) -> None:
    def phananh_url(tile: Tile, extra: str = "") -> str:
        return f"{phananh}/tiles/complaints/{tile.z}/{tile.x}/{tile.y}.mvt?{extra}"

    def tipg_url(tile: Tile, extra: str = "") -> str:
        return (f"{tipg}/collections/public.complaint/tiles/WebMercatorQuad/"
                f"{tile.z}/{tile.x}/{tile.y}?properties={PROPERTIES}&{extra}")

    with httpx2.Client(headers=NO_COMPRESSION, timeout=60) as client:
        # Warm both servers and the database on the same places, through a filter: phananh
        # must not have the measured tiles in its cache yet.
        for tile in measured:
            timed(client, phananh_url(tile, WARMUP_FILTER))
            timed(client, tipg_url(tile, WARMUP_FILTER))
        samples: dict[str, list[float]] = {"tipg": [], "phananh": [], "cached": [], "304": []}
        by_zoom: dict[int, dict[str, list[float]]] = {z: {"tipg": [], "phananh": []} for z in ZOOMS}
        sizes = {"tipg": 0, "phananh": 0}
        etags = {}
        for tile in measured:  # interleaved: both servers meet the same database cache
            for name, url in (("tipg", tipg_url(tile)), ("phananh", phananh_url(tile))):
                seconds, response = timed(client, url)
                samples[name].append(seconds)
                by_zoom[tile.z][name].append(seconds)
                sizes[name] += len(response.content)
                if name == "phananh":
                    etags[tile] = response.headers["etag"]
        for tile in measured:
            samples["cached"].append(timed(client, phananh_url(tile))[0])
            seconds, response = timed(client, phananh_url(tile), {"If-None-Match": etags[tile]})
            assert response.status_code == 304
            samples["304"].append(seconds)
    tipg_timing = Timing(samples["tipg"])
    rows = []
    for name, label in (("tipg", "tipg 1.6 (no cache)"), ("phananh", "phananh, not cached"),
                        ("cached", "phananh, in-process cache"),
                        ("304", "phananh, If-None-Match → 304")):
        timing = Timing(samples[name])
        rows.append([label, len(timing.samples), 1000 * timing.median, 1000 * timing.p95,
                     tipg_timing.median / timing.median, tipg_timing.p95 / timing.p95])
    print_table(f"Vector tiles: {len(measured)} tiles at z{ZOOMS[0]}–{ZOOMS[-1]} over "
                f"{COMPLAINTS:,} complaints (cap 10,000 per tile; "
                f"{sizes['phananh'] / MB:.1f} MB from phananh, {sizes['tipg'] / MB:.1f} MB "
                f"from tipg)",
                ["server", "tiles", "median ms", "p95 ms", "tipg median ÷ this",
                 "tipg p95 ÷ this"], rows)
    print_table("Vector tiles by zoom (not cached)",
                ["zoom", "tipg median ms", "phananh median ms", "tipg ÷ phananh"],
                [[z, 1000 * Timing(t["tipg"]).median, 1000 * Timing(t["phananh"]).median,
                  Timing(t["tipg"]).median / Timing(t["phananh"]).median]
                 for z, t in by_zoom.items()])


def timed(client: httpx2.Client, url: str,
          headers: dict[str, str] | None = None) -> tuple[float, httpx2.Response]:
    start = time.perf_counter()
    response = client.get(url, headers=headers)
    seconds = time.perf_counter() - start
    assert response.status_code in (200, 204, 304), (url, response.status_code, response.text)
    return seconds, response


def export_table(engine: Engine, database_url: str) -> None:
    with tempfile.TemporaryDirectory(prefix="phananh-bench-") as folder:
        ours = Path(folder) / "phananh.geojson"
        theirs = Path(folder) / "ogr2ogr.geojson"
        with serve_phananh(database_url) as (phananh, server):
            idle = memory(server.pid)["VmRSS"]
            start = time.perf_counter()
            with httpx2.stream("GET", f"{phananh}/export/complaints.geojson",
                              headers=NO_COMPRESSION, timeout=None) as response, \
                    ours.open("wb") as file:
                for chunk in response.iter_bytes():
                    file.write(chunk)
            phananh_seconds = time.perf_counter() - start
            peak = memory(server.pid)["VmHWM"]
        start = time.perf_counter()
        ogr2ogr = subprocess.Popen(
            ["ogr2ogr", "-f", "GeoJSON", "-lco", "RFC7946=YES", "-nln", "complaints",
             str(theirs), postgis_source(database_url), "-sql", export_sql(engine)])
        _, status, usage = os.wait4(ogr2ogr.pid, 0)
        ogr_seconds = time.perf_counter() - start
        assert status == 0, "ogr2ogr failed"
        rows = [
            ["ogr2ogr -f GeoJSON (RFC7946=YES)", ogr_seconds, theirs.stat().st_size / MB,
             features_in(theirs), "—", usage.ru_maxrss / 1024, 1.0],
            ["phananh GET /export/complaints.geojson", phananh_seconds, ours.stat().st_size / MB,
             features_in(ours), idle / 1024, peak / 1024, phananh_seconds / ogr_seconds],
        ]
    print_table(f"GeoJSON export of {COMPLAINTS:,} complaints (same PostGIS query, written to "
                f"a local file)",
                ["exporter", "seconds", "MB", "features", "RSS idle MB", "peak RSS MB",
                 "time ÷ ogr2ogr's"], rows)


def export_sql(engine: Engine) -> str:
    """The complaints layer's query as ogr2ogr should run it (geometry left as geometry)."""
    with engine.connect() as conn:
        inner = LAYERS["complaints"].select(conn, LayerQuery()).subquery("layer")
    statement = select(literal_column("*")).select_from(inner)
    return str(statement.compile(dialect=postgresql.dialect(),
                                 compile_kwargs={"literal_binds": True}))


def features_in(path: Path) -> int:
    """Features in a GeoJSON file written one feature per line (both exporters do)."""
    with path.open("rb") as file:
        return sum(1 for line in file if line.lstrip().startswith(b'{ "type": "Feature"')
                   or line.startswith(b'{"type":"Feature"'))


def postgis_source(database_url: str) -> str:
    url = make_url(database_url)
    parts = {"host": url.host, "port": url.port, "user": url.username,
             "password": url.password, "dbname": url.database}
    return "PG:" + " ".join(f"{k}={v}" for k, v in parts.items() if v is not None)


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in KiB, from /proc."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def ensure_tipg() -> None:
    """tipg in its own virtualenv (it pins its own FastAPI and asyncpg), installed once."""
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        console.print(f"Installing {TIPG} into {TIPG_VENV.name}…")
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
    found = subprocess.run([str(python), "-m", "pip", "show", "tipg"], capture_output=True,
                           text=True)
    if "Version: " + TIPG.split("==")[1] not in found.stdout:
        subprocess.run([str(python), "-m", "pip", "install", "-q", TIPG, "uvicorn"], check=True)


@contextmanager
def serve_phananh(database_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with serve([sys.executable, "-m", "uvicorn", "app:create_app", "--factory"],
               {"DATABASE_URL": database_url}, "/healthz") as running:
        yield running


@contextmanager
def serve_tipg(database_url: str) -> Iterator[str]:
    env = {"DATABASE_URL": database_url, "TIPG_DB_SCHEMAS": '["public"]',
           "TIPG_DB_TABLES": '["public.complaint"]', "TIPG_TILE_BUFFER": "64",
           "TIPG_MAX_FEATURES_PER_TILE": "10000"}
    with serve([str(TIPG_VENV / "bin" / "python"), "-m", "uvicorn", "tipg.main:app"], env,
               "/collections") as (url, _):
        yield url


@contextmanager
def serve(command: list[str], env: dict[str, str],
          ready_path: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A uvicorn process on a free loopback port, stopped (by its pid) on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx2.get(url + ready_path, timeout=5).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[2:]} did not start")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)
