"""GraphQL subscriptions across processes: a real GraphQL WebSocket client (gql, websockets
transport) subscribes on one server process, changes are committed through another, and each
subscriber gets exactly what its filter and its rights allow."""

import asyncio
import json
import os
import random
import string
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from shapely.geometry import Point, mapping
from sqlalchemy import Engine, text
from starlette.routing import WebSocketRoute

from db.complaints import ComplaintFilter
from notify.live import EventHub
from tests.conftest import Accounts, GraphQLClient
from tests.notify_support import free_port

EVENTS = """subscription($filter: ComplaintFilter) { complaintEvents(filter: $filter) {
    kind fromStatus toStatus
    complaint { id description address category { code } reporter { name phone email } } } }"""
MINE = """subscription { myComplaints { kind fromStatus toStatus
    complaint { id description address reporter { name phone } } } }"""
SUBMIT = """mutation($input: SubmitComplaintInput!) { submitComplaint(input: $input) { id } }"""
ASSIGN = """mutation($id: ID!) { assignComplaint(id: $id, expectedVersion: 1) { status } }"""


@pytest.fixture(scope="module")
def servers(database_url: str, demo: Any) -> Iterator[tuple[str, str]]:
    """Two `phananh serve` processes on the same database."""
    env = {**os.environ, "DATABASE_URL": database_url,
           "PHANANH_SUBMISSIONS_PER_MINUTE_PER_CLIENT": "100000"}
    ports = [free_port(), free_port()]
    processes = [subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for port in ports]
    try:
        for port in ports:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                    break
                except OSError:
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.2)
        yield tuple(f"127.0.0.1:{port}" for port in ports)  # type: ignore[misc]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def post(server: str, query: str, variables: dict[str, Any], token: str | None) -> Any:
    request = urllib.request.Request(
        f"http://{server}/graphql", data=json.dumps({"query": query, "variables": variables})
        .encode(), headers={"Content-Type": "application/json",
                            **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


async def take(server: str, query: str, variables: dict[str, Any], token: str | None,
               count: int, keep: Callable[[dict[str, Any]], bool] = lambda _: True,
               subscribed: asyncio.Event | None = None) -> list[dict[str, Any]]:
    """The first ``count`` results of a subscription that ``keep`` accepts (other tests' complaints
    may pass the same filter). A probe's result (``until_subscribed``) sets ``subscribed``."""
    transport = WebsocketsTransport(url=f"ws://{server}/graphql",
                                    init_payload={"Authorization": f"Bearer {token}"}
                                    if token else {})
    results = []
    async with Client(transport=transport) as session:
        request = gql(query)
        request.variable_values = variables
        async for result in session.subscribe(request):
            if subscribed is not None and _description(result) == PROBE:
                subscribed.set()
            if not keep(result):
                continue
            results.append(result)
            if len(results) == count:
                return results
    return results


PROBE = "Thăm dò đăng ký"


def _description(result: dict[str, Any]) -> Any:
    return next(iter(result.values()))["complaint"]["description"]


async def until_subscribed(server: str, token: str, where: Point,
                           subscribed: list[asyncio.Event]) -> None:
    """Submit probes at ``where`` until every subscription has received one: the server's
    protocol does not acknowledge a subscription, and from its first event on it misses none."""
    for _ in range(30):
        await asyncio.to_thread(post, server, SUBMIT, {"input": {
            "categoryCode": "other", "description": PROBE, "lon": where.x, "lat": where.y}},
            token)
        try:
            await asyncio.wait_for(asyncio.gather(*(s.wait() for s in subscribed)), 1)
            return
        except TimeoutError:
            continue
    raise AssertionError("the subscriptions never received a probe")


def ward_points(engine: Engine, ward: str) -> tuple[Point, Point]:
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT ST_X(a), ST_Y(a), ST_X(b), ST_Y(b) FROM (
                SELECT ST_PointOnSurface(w.geom) a,
                       ST_ClosestPoint(w.geom, ST_Centroid(ST_Boundary(w.geom))) b
                FROM admin_area w JOIN boundary_generation g ON g.id = w.generation_id
                WHERE w.level = 'ward' AND w.code = :ward AND g.name = 'demo-2025') s"""),
            {"ward": ward}).one()
    return Point(row[0], row[1]), Point(row[2], row[3])


def test_events_cross_processes_and_respect_privacy(
        servers: tuple[str, str], engine: Engine, accounts: Accounts) -> None:
    writer, listener = servers
    first, second = ward_points(engine, accounts.ward)
    around_second = second.buffer(0.0005)
    assert around_second.covers(second) and not around_second.covers(first)  # the truth
    with engine.connect() as conn:
        sensitive = conn.execute(text("SELECT code FROM category WHERE sensitive "
                                      "ORDER BY code LIMIT 1")).scalar_one()
    reporter = accounts.tokens["reporter"]
    personal = {"name": "Trần Thị Kín", "phone": "0900000001", "email": "kin@example.com"}
    # Only this test's complaints count: others may be submitted in the same ward meanwhile.
    description = "Tranh chấp " + "".join(random.choices(string.ascii_lowercase, k=12))

    def ours(result: dict[str, Any]) -> bool:
        return bool(_description(result) == description)

    async def scenario() -> list[list[dict[str, Any]]]:
        subscribed = [asyncio.Event() for _ in range(3)]
        watchers = [
            asyncio.create_task(take(listener, EVENTS, {"filter": {"wardCodes": [accounts.ward]}},
                                     None, 3, ours, subscribed[0])),
            asyncio.create_task(take(listener, EVENTS,
                                     {"filter": {"within": mapping(around_second)}}, None, 1,
                                     ours, subscribed[1])),
            asyncio.create_task(take(listener, MINE, {}, reporter, 3, ours, subscribed[2])),
        ]
        await until_subscribed(writer, reporter, second, subscribed)
        ids = []
        for point, category in ((first, sensitive), (second, "other")):
            ids.append((await asyncio.to_thread(post, writer, SUBMIT, {"input": {
                "categoryCode": category, "description": description, "lon": point.x,
                "lat": point.y, "address": "Số 9 ngõ Kín", "reporter": personal}},
                reporter))["submitComplaint"]["id"])
        await asyncio.to_thread(post, writer, ASSIGN, {"id": ids[0]}, accounts.tokens["ward_in"])
        return [ids, *await asyncio.wait_for(asyncio.gather(*watchers), 60)]

    ids, public, within, mine = asyncio.run(scenario())
    updates = [u["complaintEvents"] for u in public]
    assert [(u["complaint"]["id"], u["kind"], u["toStatus"]) for u in updates] == [
        (ids[0], "SUBMITTED", "RECEIVED"), (ids[1], "SUBMITTED", "RECEIVED"),
        (ids[0], "TRANSITION", "ASSIGNED")]
    assert all(u["complaint"]["reporter"] is None for u in updates)
    assert updates[0]["complaint"]["address"] is None  # sensitive: withheld from the public
    assert updates[1]["complaint"]["address"] == "Số 9 ngõ Kín"
    assert [u["complaintEvents"]["complaint"]["id"] for u in within] == [ids[1]]
    own = [u["myComplaints"] for u in mine]
    assert [(u["complaint"]["id"], u["fromStatus"], u["toStatus"]) for u in own] == [
        (ids[0], None, "RECEIVED"), (ids[1], None, "RECEIVED"), (ids[0], "RECEIVED", "ASSIGNED")]
    assert own[0]["complaint"]["reporter"] == {"name": personal["name"],
                                                "phone": personal["phone"]}
    assert own[0]["complaint"]["address"] == "Số 9 ngõ Kín"


def test_my_complaints_needs_a_citizen(servers: tuple[str, str], accounts: Accounts) -> None:
    for token, code in ((None, "UNAUTHENTICATED"), (accounts.tokens["analyst"], "FORBIDDEN")):
        with pytest.raises(TransportQueryError) as refused:
            asyncio.run(take(servers[1], MINE, {}, token, 1))
        assert refused.value.errors[0]["extensions"]["code"] == code


def test_subscribers_of_one_notice_share_their_queries(
        client: Any, gql: Any, engine: Engine, accounts: Accounts,
        count_statements: Any) -> None:
    """20 subscriptions (4 connections, in process) of one filter: one notice costs one query
    for the events and one per relation, whatever the number of subscribers."""
    query = """subscription($filter: ComplaintFilter) { complaintEvents(filter: $filter) {
        complaint { id ward { code } district { code } category { code } } } }"""
    point, _ = ward_points(engine, accounts.ward)
    with ExitStack() as stack:
        sockets = [stack.enter_context(client.websocket_connect(
            "/graphql", subprotocols=["graphql-transport-ws"])) for _ in range(4)]
        for ws in sockets:
            ws.send_json({"type": "connection_init", "payload": {}})
            assert ws.receive_json()["type"] == "connection_ack"
            for i in range(5):
                ws.send_json({"id": str(i), "type": "subscribe", "payload": {
                    "query": query, "variables": {"filter": {"wardCodes": [accounts.ward]}}}})
        hub = next(r.endpoint.hub for r in client.app.routes
                   if isinstance(r, WebSocketRoute) and r.path == "/graphql")
        deadline = time.monotonic() + 30
        while sum(map(len, list(hub.groups.values()))) < 20:  # all registered
            assert time.monotonic() < deadline, "the subscriptions were not registered"
            time.sleep(0.01)
        count_statements.statements.clear()
        public_id = gql.data(SUBMIT, {"input": {"categoryCode": "other", "description": "x",
                                                "lon": point.x, "lat": point.y}}
                             )["submitComplaint"]["id"]
        for ws in sockets:
            for _ in range(5):
                update = ws.receive_json()["payload"]["data"]["complaintEvents"]
                assert update["complaint"]["id"] == public_id
                assert update["complaint"]["ward"]["code"] == accounts.ward
    statements = count_statements.statements
    assert sum("complaint_event.id IN" in s for s in statements) == 1
    assert sum("FROM admin_area a WHERE a.id = ANY" in s for s in statements) == 1
    # the submission's SLA lookup, then one load for all subscribers
    assert sum("FROM category WHERE code = ANY" in s for s in statements) == 2


def test_notices_reach_subscribers_in_commit_order(
        engine: Engine, gql: GraphQLClient, accounts: Accounts) -> None:
    """Each notice is read by its own query; when the first notice's read is the slower (held
    back here by half a second), its events still reach the subscriber first."""
    point, _ = ward_points(engine, accounts.ward)
    description = "Thứ tự " + "".join(random.choices(string.ascii_lowercase, k=12))
    hub = EventHub(engine)
    read_events = hub._fetch
    reads = 0

    async def first_read_slow(*args: Any) -> list[Any]:
        nonlocal reads
        reads += 1
        if reads == 1:
            await asyncio.sleep(0.5)
        return await read_events(*args)

    hub._fetch = first_read_slow  # type: ignore[method-assign]

    async def scenario() -> tuple[list[str], list[str]]:
        events = hub.stream(ComplaintFilter(ward_codes=(accounts.ward,)), None)
        seen = asyncio.ensure_future(_descriptions_of(events, description, 2))
        while not hub.groups:  # the subscription is registered
            await asyncio.sleep(0.01)
        ids = [(await asyncio.to_thread(gql.data, SUBMIT, {"input": {
            "categoryCode": "other", "description": description, "lon": point.x,
            "lat": point.y}}))["submitComplaint"]["id"] for _ in range(2)]
        try:
            return ids, await asyncio.wait_for(seen, 30)
        finally:
            hub.stop()

    ids, seen = asyncio.run(scenario())
    assert reads >= 2  # one read per notice: the order was the hub's to keep
    assert seen == ids


async def _descriptions_of(events: Any, description: str, count: int) -> list[str]:
    """The public ids of the first ``count`` events of complaints with ``description``."""
    ids: list[str] = []
    async for row, _ in events:
        if row.description == description:
            ids.append(row.public_id)
            if len(ids) == count:
                break
    await events.aclose()
    return ids
