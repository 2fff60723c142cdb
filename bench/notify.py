"""Live updates and notifications: commit → subscriber latency with 1,000 open subscriptions,
and notifications delivered per second by the outbox worker.

Latency: a ``phananh serve`` process holds the subscriptions (GraphQL over WebSocket,
graphql-transport-ws, 5 per connection); this process commits submissions one at a time
through the workflow and times, for every (subscription, event) delivered, the moment its
message arrives after the commit returned. The baseline is the same commits seen by a bare
psycopg2 ``LISTEN`` on the same channel: what PostgreSQL itself costs. Three sets of open
subscriptions: one; 1,000 with a ward filter each (the events, all in one ward, reach those of
that ward; one query per distinct filter and notice); 1,000 without a filter (every event
reaches all of them: the fan-out's cost).

Throughput: notifications written to the outbox, delivered by ``notify.worker.Worker`` to a
local HTTP receiver (webhooks) and a local aiosmtpd server (e-mail), against a baseline that
sends the same bodies the same way (16 concurrent POSTs; one SMTP session) without the outbox.
"""

import asyncio
import json
import select
import smtplib
import socket
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg2
import websockets
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from bench.common import (
    bench_engine,
    bench_settings,
    console,
    ensure_demo_data,
    print_table,
)
from bench.layers import serve_phananh
from db.outbox import CHANNEL
from notify.worker import Worker
from settings import Settings
from workflow.submission import Submission, submit

COMPLAINTS = 10_000
SUBSCRIPTIONS = 1_000
PER_CONNECTION = 5
EVENTS = 10
SPACING_S = 3.0  # between commits: each event's fan-out is measured alone
WEBHOOKS = 2_000
EMAILS = 500
QUERY = """subscription($filter: ComplaintFilter) { complaintEvents(filter: $filter) {
    kind complaint { id status ward { code } } } }"""


def main() -> None:
    engine = bench_engine("notify")
    ensure_demo_data(engine, COMPLAINTS)
    settings = bench_settings("notify")
    url = make_url(settings.database_url).set(drivername="postgresql") \
        .render_as_string(hide_password=False)
    latency_table(engine, url)
    throughput_table(engine, settings)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency_table(engine: Engine, url: str) -> None:
    with engine.connect() as conn:
        wards = conn.execute(text("""
            SELECT w.code, ST_X(ST_PointOnSurface(w.geom)), ST_Y(ST_PointOnSurface(w.geom))
            FROM admin_area w WHERE w.level = 'ward'
              AND w.generation_id = generation_in_force('ward', current_date)
            ORDER BY w.code""")).all()
    by_ward = [{"wardCodes": [wards[i % len(wards)][0]]} for i in range(SUBSCRIPTIONS)]
    scenarios = [
        ("1 open (a ward filter)", by_ward[:1]),
        (f"{SUBSCRIPTIONS:,} open, one ward filter each ({len(wards)} distinct)", by_ward),
        (f"{SUBSCRIPTIONS:,} open, all unfiltered (all receive every event)",
         [None] * SUBSCRIPTIONS),
    ]
    rows = []
    with serve_phananh(url) as (server, _):
        ws_url = server.replace("http://", "ws://") + "/graphql"
        for label, filters in scenarios:
            raw, live = asyncio.run(measure_latency(engine, url, ws_url, filters, wards[0]))
            rows.append([f"raw LISTEN/NOTIFY (baseline), {label}", len(raw),
                         1000 * statistics.median(raw), 1000 * percentile(raw, 0.95), 1.0])
            rows.append([f"GraphQL subscriptions, {label}", len(live),
                         1000 * statistics.median(live), 1000 * percentile(live, 0.95),
                         percentile(live, 0.95) / percentile(raw, 0.95)])
    print_table(f"Commit → subscriber, {EVENTS} submissions {SPACING_S:g} s apart (ms)",
                ["job", "deliveries", "median", "p95", "p95 × raw"], rows)


async def measure_latency(engine: Engine, url: str, ws_url: str,
                          filters: list[dict[str, Any] | None],
                          ward: Any) -> tuple[list[float], list[float]]:
    arrivals: dict[str, list[float]] = {}  # complaint id → arrival times
    ready = 0
    connections = [filters[i:i + PER_CONNECTION] for i in range(0, len(filters), PER_CONNECTION)]
    stop = asyncio.Event()

    async def client(group: list[dict[str, Any] | None]) -> None:
        nonlocal ready
        async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"],
                                      max_queue=None) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            await ws.recv()
            for n, f in enumerate(group):
                await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {
                    "query": QUERY, "variables": {"filter": f}}}))
            ready += 1
            while not stop.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                if message["type"] == "next":
                    arrived = time.perf_counter()
                    public_id = message["payload"]["data"]["complaintEvents"]["complaint"]["id"]
                    arrivals.setdefault(public_id, []).append(arrived)

    tasks = [asyncio.create_task(client(group)) for group in connections]
    while ready < len(connections):
        await asyncio.sleep(0.05)
    await asyncio.sleep(2)  # every subscribe message processed
    raw: list[float] = []
    with raw_listener(url) as notices:
        commits = {}
        for i in range(EVENTS):
            public_id, committed = await asyncio.to_thread(commit_one, engine, ward, i)
            commits[public_id] = committed
            await asyncio.sleep(SPACING_S)
        expected = EVENTS * sum(f is None or f["wardCodes"] == [ward[0]] for f in filters)
        deadline = time.perf_counter() + 120
        while sum(map(len, arrivals.values())) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
        raw = [arrived - committed for committed, arrived in zip(
            commits.values(), notices, strict=False)]
    stop.set()
    await asyncio.gather(*tasks)
    live = [t - commits[p] for p, times in arrivals.items() if p in commits for t in times]
    if len(live) < expected:
        raise RuntimeError(f"only {len(live)} of {expected} deliveries arrived in time")
    return raw, live


def commit_one(engine: Engine, ward: Any, i: int) -> tuple[str, float]:
    """Submit one complaint; its id and the moment COMMIT was sent."""
    _, lon, lat = ward
    with engine.connect() as conn:
        transaction = conn.begin()
        row = submit(conn, Submission(category_code="other", description=f"bench {i}",
                                      lon=lon, lat=lat))
        committing = time.perf_counter()
        transaction.commit()
    return row.public_id, committing


@contextmanager
def raw_listener(url: str) -> Iterator[list[float]]:
    """Arrival times of NOTIFY messages on the events channel, from a bare psycopg2 LISTEN."""
    arrivals: list[float] = []
    stopping = threading.Event()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    conn.cursor().execute(f"LISTEN {CHANNEL}")

    def listen() -> None:
        while not stopping.is_set():
            if select.select([conn], [], [], 0.2) != ([], [], []):
                conn.poll()
                arrivals.extend(time.perf_counter() for _ in conn.notifies)
                conn.notifies.clear()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    try:
        yield arrivals
    finally:
        stopping.set()
        thread.join()
        conn.close()


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class SinkServer(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 resets connections under 16 concurrent POSTs
    daemon_threads = True


class Counter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def throughput_table(engine: Engine, settings: Settings) -> None:
    http = SinkServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{http.server_address[1]}/hook"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(Counter(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    worker_settings = settings.model_copy(update={"smtp_port": smtp_port,
                                                  "webhook_allow_private": True,  # local sink
                                                  "notify_per_recipient_per_hour": 1_000_000,
                                                  "notify_batch_size": 100,
                                                  "notify_backoff_seconds": 0.0})
    rows = []
    try:
        for channel, count, target in (("webhook", WEBHOOKS, hook),
                                       ("email", EMAILS, "bench@example.com")):
            bodies = queue_notifications(engine, channel, target, count)
            start = time.perf_counter()
            send_raw(channel, target, bodies, worker_settings)
            raw = count / (time.perf_counter() - start)
            start = time.perf_counter()
            tally = Worker(engine, worker_settings).run(until_empty=True)  # retries included
            outbox = tally.delivered / (time.perf_counter() - start)
            assert tally.delivered == count, tally
            rows.append([f"{channel}: sent directly (baseline)", count, raw, 1.0])
            rows.append([f"{channel}: outbox worker", count, outbox, outbox / raw])
    finally:
        http.shutdown()
        smtp.stop()
    print_table("Notifications delivered per second",
                ["job", "notifications", "per second", "× baseline"], rows)
    console.print("(failed attempts retried at once: PHANANH_NOTIFY_BACKOFF_SECONDS=0)")


def queue_notifications(engine: Engine, channel: str, target: str, count: int) -> list[bytes]:
    """``count`` due notifications of one real event in the outbox; their bodies."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox"))
        event_id = conn.execute(text("SELECT max(id) FROM complaint_event "
                                     "WHERE kind = 'SUBMITTED'")).scalar_one()
        conn.execute(text("""
            INSERT INTO outbox (event_id, event_at, reason, channel, target, secret, lang,
                                payload)
            SELECT e.id, e.at, 'jurisdiction', :channel, :target, 'bench-secret', 'vi',
                   jsonb_build_object('event', e.kind, 'at', e.at, 'reason', 'jurisdiction',
                                      'complaint', jsonb_build_object(
                                          'id', c.public_id, 'category', c.category_code,
                                          'status', c.status, 'ward', 'P001',
                                          'lon', ST_X(c.location), 'lat', ST_Y(c.location)))
            FROM complaint_event e JOIN complaint c ON c.id = e.complaint_id,
                 generate_series(1, :count)
            WHERE e.id = :event"""), {"channel": channel, "target": target, "count": count,
                                      "event": event_id})
        payload = conn.execute(text("SELECT payload FROM outbox LIMIT 1")).scalar_one()
    return [json.dumps({"id": str(i), **payload}).encode() for i in range(count)]


def send_raw(channel: str, target: str, bodies: list[bytes], settings: Settings) -> None:
    if channel == "webhook":
        def post(body: bytes) -> None:
            request = urllib.request.Request(target, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(post, bodies))
        return
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port) as smtp:
        for body in bodies:
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = settings.mail_from, target, "x"
            message.set_content(body.decode())
            smtp.send_message(message)
