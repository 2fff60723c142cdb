"""Load: a realistic mix of requests at fixed concurrency, against one worker and N workers.

``python -m bench load [--duration S] [--concurrency C] [--workers N] [--database-url URL]
[--json FILE]``. Each configuration is a real ``phananh serve`` process (bench/server.py) on
the benchmark database; C asyncio clients, each on its own keep-alive connection, send for S
seconds a weighted mix of what the city's apps and map do: jurisdiction lookups, pages of
complaints, vector tiles and new complaints, each request on behalf of one of the app's
users, whose address it names as a reverse proxy would (the server trusts the driver as its
proxy and applies its default rate limits per address). The table gives requests per second,
latency percentiles and errors by code (GraphQL ``extensions.code``, else the HTTP status,
else the transport error), then N workers ÷ one; and the page-of-100 ratio against the raw
SQL that builds the same JSON, measured one request at a time in the same run.

The clients share the machine with the server, as they do in every figure of this table. To
tell what bounds the throughput, each configuration also records the latency of each kind of
request, the database sessions its servers opened, and where the machine's cores went while it
ran (CPU seconds ÷ wall seconds, from /proc): the load driver itself, the server's workers, the
benchmark database's PostgreSQL backends, and everything else on the machine (other users'
work included), with the load average at the start. Each kind of request is also timed alone,
for the CPU it costs the worker and PostgreSQL, and the ceiling those costs put on any number
of workers on the machine's cores (:func:`ceiling`).
"""

import argparse
import asyncio
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson
import uvloop
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bench.client import ClientError, Connection, Response
from bench.common import bench_settings, console, copied, ensure_demo_data, print_table
from bench.jurisdiction import GRAPHQL_PAGE, RAW_PAGE
from bench.layers import fixed_tiles
from bench.server import Served, served
from db.engine import make_engine

COMPLAINTS = 100_000
JURISDICTION = """query($lon: Float!, $lat: Float!) { jurisdiction(lon: $lon, lat: $lat) {
  ward { code name } district { code name } } }"""
PAGE = """query($after: String) { complaints(first: 20, after: $after) { edges { cursor node {
  id status createdAt location category { code nameVi } ward { code name }
  district { code name } } } } }"""
SUBMIT = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) { id status
  ward { code } } }"""
# Kind of request → share of the mix: mostly reads, as a city's apps and map make them
# (``--mix`` sets another).
MIX = {"jurisdiction": 4, "page": 3, "tile": 2, "submit": 1}
# The clients stand for a reverse proxy in front of the city's app users: each request names
# its user's address (X-Forwarded-For, one of 16 million), and the server, trusting the proxy,
# applies its default rate limits to each address as it would in production.
SERVER_ENVIRONMENT = {"TRUSTED_PROXIES": "127.0.0.1"}
# The description of the complaints it submits (on a copy of the seeded database, dropped after
# the run: the event log is append-only, and each configuration starts from the same data).
MARKER = "Load test (python -m bench load)"


@dataclass
class Workload:
    """What the clients send: places inside the city, tiles where complaints are, and cursors
    into the first pages (later pages are read too, not only the newest)."""

    points: list[tuple[float, float]]
    tiles: list[str]
    cursors: list[str | None]

    def request(self, kind: str, rng: random.Random) -> tuple[str, str, bytes | None]:
        """(method, path, JSON body) of one request of ``kind``."""
        lon, lat = rng.choice(self.points)
        if kind == "tile":
            return "GET", rng.choice(self.tiles), None
        if kind == "jurisdiction":
            return "POST", "/graphql", graphql(JURISDICTION, lon=lon, lat=lat)
        if kind == "page":
            return "POST", "/graphql", graphql(PAGE, after=rng.choice(self.cursors))
        return "POST", "/graphql", graphql(SUBMIT, i={
            "categoryCode": "other", "description": MARKER, "lon": lon, "lat": lat})


def user_address(rng: random.Random) -> str:
    """The address of the app user behind one request, as the proxy names it."""
    return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def graphql(query: str, **variables: Any) -> bytes:
    return orjson.dumps({"query": query, "variables": variables})


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: set[int]) -> dict[int, float]:
    """CPU seconds (user + system) each of these processes has used so far."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended
        used[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    return used


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy, all cores together."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS  # minus idle and iowait


@dataclass
class Cores:
    """Where the cores went during a run: snapshots at its start and end."""

    server: set[int]
    database: set[int]
    start: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {"driver": time.process_time(), "server": cpu_seconds(self.server),
                "database": cpu_seconds(self.database), "machine": machine_busy_seconds(),
                "wall": time.monotonic()}

    def seconds(self, end: dict[str, Any]) -> dict[str, float]:
        """CPU seconds of each part between the start and ``end`` snapshots."""

        def delta(part: str) -> float:
            return sum(end[part][pid] - self.start[part].get(pid, 0.0) for pid in end[part])

        parts = {"driver": end["driver"] - self.start["driver"], "server": delta("server"),
                 "database": delta("database")}
        parts["other"] = end["machine"] - self.start["machine"] - sum(parts.values())
        return parts

    def used(self, end: dict[str, Any]) -> dict[str, float]:
        """Cores used by each part (CPU seconds ÷ wall seconds) between the two snapshots."""
        wall = end["wall"] - self.start["wall"]
        return {part: seconds / wall for part, seconds in self.seconds(end).items()}


@dataclass
class Run:
    """Every request of one configuration: its kind, seconds and error code (None: fine)."""

    label: str
    seconds: float
    mix: dict[str, int]
    samples: list[tuple[str, float, str | None]] = field(default_factory=list)
    cores: dict[str, float] = field(default_factory=dict)
    load_average: float = 0.0
    sessions: int = 0  # database sessions the servers opened during the run

    def summary(self) -> dict[str, Any]:
        latencies = sorted(s for _, s, _ in self.samples)
        by_kind = {kind: sorted(s for k, s, _ in self.samples if k == kind)
                   for kind in self.mix}
        return {
            "label": self.label, "requests": len(latencies),
            "requests_per_s": len(latencies) / self.seconds,
            "p50_ms": percentile(latencies, 0.50), "p95_ms": percentile(latencies, 0.95),
            "p99_ms": percentile(latencies, 0.99),
            "by_kind": {kind: {"requests": len(seconds), "p50_ms": percentile(seconds, 0.5),
                               "p99_ms": percentile(seconds, 0.99)}
                        for kind, seconds in by_kind.items() if seconds},
            "errors": dict(Counter(code for _, _, code in self.samples if code)),
            "cores": self.cores, "load_average": self.load_average,
            "sessions_opened": self.sessions,
        }


def percentile(ordered: list[float], p: float) -> float:
    """The ``p`` quantile of sorted seconds, in milliseconds (nearest rank)."""
    return 1000 * ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def error_code(response: Response) -> str | None:
    if response.status_code not in (200, 204, 304):
        try:
            body: Any = response.json()
            return str(body["code"] if "code" in body  # tiles, OGC, exports
                       else body["errors"][0]["extensions"]["code"])  # GraphQL
        except (ValueError, KeyError, IndexError, TypeError):
            return f"HTTP {response.status_code}"
    if response.content_type.startswith("application/json"):
        errors = orjson.loads(response.content).get("errors")
        if errors:
            return str(errors[0].get("extensions", {}).get("code", "GRAPHQL_ERROR"))
    return None


async def drive(server: Served, workload: Workload, concurrency: int, seconds: float,
                label: str, engine: Engine, mix: dict[str, int] = MIX) -> Run:
    """``concurrency`` clients sending ``mix`` back to back for ``seconds``."""
    run = Run(label, seconds, mix)
    kinds, weights = list(mix), list(mix.values())
    address = urlsplit(server.url)
    connections = [Connection(address.hostname or "127.0.0.1", address.port or 80)
                   for _ in range(concurrency)]

    async def user(number: int, until: float) -> None:
        rng = random.Random(number)
        connection = connections[abs(number) % concurrency]
        while time.monotonic() < until:
            kind = rng.choices(kinds, weights)[0]
            method, path, body = workload.request(kind, rng)
            start = time.perf_counter()
            try:
                code = error_code(await connection.request(method, path, body,
                                                           user_address(rng)))
            except ClientError as error:
                code = str(error)
            run.samples.append((kind, time.perf_counter() - start, code))

    try:
        warm_until = time.monotonic() + min(5.0, seconds / 4)  # pools, plans, caches
        await asyncio.gather(*(user(-1 - n, warm_until) for n in range(concurrency)))
        run.samples.clear()
        cores = Cores(server.worker_pids(), backends(engine))
        run.load_average = os.getloadavg()[0]
        sessions = sessions_opened(engine)
        cores.start = cores.snapshot()
        until = time.monotonic() + seconds
        await asyncio.gather(*(user(n, until) for n in range(concurrency)))
        run.cores = cores.used(cores.snapshot())
        run.sessions = sessions_opened(engine) - sessions
    finally:
        for connection in connections:
            await connection.close()
    return run


def sessions_opened(engine: Engine) -> int:
    """Sessions ever opened on the benchmark database: a pool that keeps its connections
    opens none under load (each new one costs PostgreSQL a process and its start-up)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT sessions FROM pg_stat_database "
                                 "WHERE datname = current_database()")).scalar_one()


def backends(engine: Engine) -> set[int]:
    """The PostgreSQL backends serving the benchmark database (the servers' pools)."""
    with engine.connect() as conn:
        return set(conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")).scalars())


def kind_costs(server: Served, workload: Workload, engine: Engine, kinds: Sequence[str],
               repeat: int = 200) -> dict[str, tuple[float, float]]:
    """CPU milliseconds per request of each kind, one request at a time: (the server's
    worker, the database's backends)."""
    rng = random.Random(0)
    costs = {}
    with httpx2.Client(base_url=server.url, timeout=60,
                       headers={"content-type": "application/json"}) as client:
        for kind in kinds:
            for _ in range(20):  # warm: the backends, their plans and caches
                method, path, body = workload.request(kind, rng)
                client.request(method, path, content=body,
                               headers={"x-forwarded-for": user_address(rng)})
            parts = Cores(server.worker_pids(), backends(engine))
            parts.start = parts.snapshot()
            for _ in range(repeat):
                method, path, body = workload.request(kind, rng)
                client.request(method, path, content=body,
                               headers={"x-forwarded-for": user_address(rng)}
                               ).raise_for_status()
            used = parts.seconds(parts.snapshot())
            costs[kind] = (1000 * used["server"] / repeat, 1000 * used["database"] / repeat)
    return costs


def cpu_per_request(run: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds a request of ``run`` cost each part of the machine, under its load."""
    return {part: 1000 * used / run["requests_per_s"] for part, used in run["cores"].items()}


def ceiling(run: dict[str, Any], cores: int) -> float:
    """Requests a second no number of workers can exceed on ``cores`` shared with the
    database, the driver and the rest, at what a request cost them under ``run``'s load:
    cores ÷ CPU per request. (One at a time, a request costs less: under load PostgreSQL
    waits on locks, tiles are made anew after every write, and the cores switch between
    more processes.)"""
    return 1000 * cores / sum(cpu_per_request(run).values())


def page_ratio(server: Served, engine: Engine, repeat: int = 30) -> tuple[float, float]:
    """Median ms of a page of 100 over HTTP, and of the raw SQL building the same JSON."""
    body = graphql(GRAPHQL_PAGE)
    with httpx2.Client(base_url=server.url, timeout=60,
                       headers={"content-type": "application/json"}) as client, \
            engine.connect() as conn:
        page = client.post("/graphql", content=body).json()["data"]["complaints"]["edges"]
        assert [e["node"]["id"] for e in page] == \
            [c["id"] for c in conn.execute(RAW_PAGE).scalar_one()], "pages disagree"

        def timed(job: Any) -> float:
            samples = []
            for _ in range(repeat):
                start = time.perf_counter()
                job()
                samples.append(time.perf_counter() - start)
            return 1000 * statistics.median(samples)

        api = timed(lambda: client.post("/graphql", content=body).raise_for_status())
        raw = timed(lambda: conn.execute(RAW_PAGE).scalar_one())
    return api, raw


def workload(engine: Engine) -> Workload:
    with engine.connect() as conn:
        points = [tuple(p) for p in conn.execute(text(
            "SELECT ST_X(location), ST_Y(location) FROM complaint ORDER BY public_id "
            "LIMIT 5000")).all()]
    cursors: list[str | None] = [None]
    return Workload(points=points, cursors=cursors,
                    tiles=[f"/tiles/complaints/{t.z}/{t.x}/{t.y}.mvt" for t in
                           fixed_tiles(engine)])


def add_cursors(server: Served, work: Workload, pages: int = 20) -> None:
    """Cursors of the first ``pages`` pages of 20, read through the API as a client would."""
    with httpx2.Client(base_url=server.url, timeout=60) as client:
        for _ in range(pages - 1):
            edges = client.post("/graphql", content=graphql(PAGE, after=work.cursors[-1]),
                                headers={"content-type": "application/json"}
                                ).json()["data"]["complaints"]["edges"]
            if not edges:
                return
            work.cursors.append(edges[-1]["cursor"])


def main(argv: Sequence[str] = ()) -> None:
    options = parse(argv)
    databases = configurations_database(options)
    runs, page, costs, work = [], (0.0, 0.0), {}, None
    for workers in dict.fromkeys((1, options.workers)):
        with databases() as database_url, disposed(make_engine(database_url)) as engine, \
                served(served_url(database_url), workers=workers,
                       **SERVER_ENVIRONMENT) as server:
            if work is None:
                work = workload(engine)
                add_cursors(server, work)
                page = page_ratio(server, engine)
                costs = kind_costs(server, work, engine, list(options.mix))
            label = f"{workers} worker{'s' if workers > 1 else ''}"
            console.print(f"{label}: {options.concurrency} clients for {options.duration:g} s…")
            runs.append(uvloop.run(drive(server, work, options.concurrency, options.duration,
                                         label, engine, options.mix)).summary())
    report(runs, page, costs, options)


def configurations_database(options: argparse.Namespace
                            ) -> Callable[[], AbstractContextManager[str]]:
    """Where each configuration runs: the database given, as it is; by default a copy of the
    seeded benchmark city made for it, so that both start from the same data (the first
    configuration's submissions would otherwise add to the second's tiles and pages)."""
    if options.database_url:
        return lambda: nullcontext(options.database_url)
    seeded = make_engine(bench_settings("load").sqlalchemy_url)
    ensure_demo_data(seeded, options.complaints)
    seeded.dispose()
    return lambda: copied("load")


@contextmanager
def disposed(engine: Engine) -> Iterator[Engine]:
    """``engine``, its connections closed afterwards (the copy it reads is then dropped)."""
    try:
        yield engine
    finally:
        engine.dispose()


def served_url(database_url: str) -> str:
    """The URL as ``phananh serve`` takes it (the default driver)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(
        hide_password=False)


def report(runs: list[dict[str, Any]], page: tuple[float, float],
           costs: dict[str, tuple[float, float]], options: argparse.Namespace) -> None:
    base, mix, cores = runs[0]["requests_per_s"], options.mix, os.cpu_count() or 1
    print_table(
        f"Load: {options.concurrency} clients, {options.duration:g} s each, mix "
        + ", ".join(f"{kind} {share}" for kind, share in mix.items())
        + f"; {cores} CPU cores shared with the clients",
        ["server", "requests", "req/s", "× 1 worker", "p50 ms", "p95 ms", "p99 ms", "errors"],
        [[r["label"], r["requests"], r["requests_per_s"], r["requests_per_s"] / base,
          r["p50_ms"], r["p95_ms"], r["p99_ms"],
          ", ".join(f"{code} {n}" for code, n in r["errors"].items()) or "0"] for r in runs])
    print_table("Latency by kind of request",
                ["server", *(f"{kind} {q}" for kind in mix for q in ("p50", "p99")),
                 "sessions opened"],
                [[r["label"], *(r["by_kind"].get(kind, {}).get(q, 0.0) for kind in mix
                                for q in ("p50_ms", "p99_ms")), r["sessions_opened"]]
                 for r in runs])
    print_table("Where the cores went during each run (CPU seconds ÷ wall seconds)",
                ["server", "load average at start", "load driver", "server workers",
                 "PostgreSQL (this database)", "everything else", "total"],
                [[r["label"], r["load_average"], *(r["cores"][part] for part in
                  ("driver", "server", "database", "other")), sum(r["cores"].values())]
                 for r in runs])
    print_table("CPU per request under load (ms): CPU seconds of each part ÷ requests",
                ["server", "load driver", "server workers", "PostgreSQL (this database)",
                 "everything else", "total"],
                [[r["label"], *cpu_per_request(r).values(), sum(cpu_per_request(r).values())]
                 for r in runs])
    print_table("CPU per request, one at a time (ms)",
                ["kind", "share of the mix", "server worker", "PostgreSQL"],
                [[kind, share, *costs[kind]] for kind, share in mix.items()])
    last = runs[-1]
    most = ceiling(last, cores)
    console.print(
        f"At the CPU a request cost under load with {last['label']}, no number of workers can "
        f"serve more than {most:.0f} req/s of this mix on these {cores} cores: "
        f"{most / base:.2f}× the one worker's {base:.0f} req/s (measured: "
        f"{last['requests_per_s'] / base:.2f}×). 1.5× would need at most "
        f"{1000 * cores / (1.5 * base):.2f} ms of CPU per request in all.")
    api, raw = page
    print_table("One page of 100 complaints with ward, district, category (one at a time)",
                ["job", "median ms", "× raw SQL"],
                [["raw SQL building the JSON (baseline)", raw, 1.0],
                 ["GraphQL complaints(first: 100), over HTTP, 1 worker", api, api / raw]])
    if options.json:
        Path(options.json).write_bytes(orjson.dumps(
            {"runs": runs, "page_ms": api, "raw_page_ms": raw, "cpu_ms_by_kind": costs,
             "ceiling_requests_per_s": most}, option=orjson.OPT_INDENT_2))


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds of load per configuration (default 60)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="clients sending at once (default 16)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="workers of the second configuration (default: one per core)")
    parser.add_argument("--mix", type=mix_of, default=MIX,
                        help="kinds of request and their shares, e.g. "
                             "jurisdiction=4,page=3,tile=2,submit=1 (the default)")
    parser.add_argument("--complaints", type=int, default=COMPLAINTS,
                        help=f"complaints in the benchmark database (default {COMPLAINTS:,})")
    parser.add_argument("--database-url", help="use this database as it is (no seeding)")
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(list(argv))


def mix_of(text: str) -> dict[str, int]:
    """``kind=share,…`` as a mix: kinds of :data:`MIX`, whole shares, at least one above 0."""
    try:
        mix = {kind.strip(): int(share) for kind, share in
               (part.split("=") for part in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"not kind=share,…: {text!r}") from None
    if not mix.keys() <= MIX.keys() or min(mix.values()) < 0 or not any(mix.values()):
        raise argparse.ArgumentTypeError(
            f"kinds are {', '.join(MIX)}; shares whole numbers, at least one above 0")
    return {kind: share for kind, share in mix.items() if share}
