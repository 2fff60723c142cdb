"""Notifications end to end: alerts for a drawn polygon (checked against shapely), reporters and
officials told through a real webhook receiver and a real SMTP server (aiosmtpd), signatures,
retries with backoff, dead letters and their replay, and a worker killed mid-batch that loses
nothing."""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import shapely
from shapely.geometry import Point, shape
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import create_app
from auth import users
from auth.principal import Role
from auth.tokens import issue_token
from notify.templates import LANGS, STATUS_LABELS
from notify.worker import Worker
from settings import Settings
from tests.conftest import Accounts, GraphQLClient, new_complaint, phananh
from tests.notify_support import Mailbox, WebhookReceiver, smtp_server, webhook_receiver
from workflow.routing import agency_for
from workflow.states import Status

SUBMIT = """mutation($input: SubmitComplaintInput!) { submitComplaint(input: $input) {
    id version } }"""


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as running:
        yield running


@pytest.fixture(scope="module")
def gql(settings: Settings, engine: Engine, demo: Any) -> Iterator[GraphQLClient]:
    """The API of an on-premise deployment, whose webhooks may reach the local receiver
    (the session's ``client`` keeps the default, which refuses them)."""
    on_premise = settings.model_copy(update={"webhook_allow_private": True})
    with TestClient(create_app(on_premise, engine)) as test_client:
        yield GraphQLClient(test_client)


@pytest.fixture(scope="module")
def worker_settings(settings: Settings, smtp: tuple[Mailbox, int]) -> Settings:
    return settings.model_copy(update={
        "webhook_allow_private": True,
        "smtp_port": smtp[1], "public_base_url": "https://phananh.example",
        "notify_max_attempts": 3, "notify_backoff_seconds": 30.0,
        "notify_backoff_max_seconds": 3600.0})


def account(engine: Engine, role: Role, areas: tuple[str, ...] = (),
            agencies: tuple[str, ...] = ()) -> dict[str, str]:
    """A fresh account of ``role``; its Authorization header."""
    name = f"n-{role.value}-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        users.add_user(conn, name, role, areas, agencies=agencies)
        return {"Authorization": f"Bearer {issue_token(conn, name)}"}


def ward_geometry(engine: Engine, ward: str) -> Any:
    with engine.connect() as conn:
        geojson = conn.execute(text("""
            SELECT ST_AsGeoJSON(w.geom) FROM admin_area w
            JOIN boundary_generation g ON g.id = w.generation_id
            WHERE w.level = 'ward' AND w.code = :ward AND g.name = 'demo-2025'"""),
            {"ward": ward}).scalar_one()
    return shape(json.loads(geojson))


def add_contact(gql: GraphQLClient, headers: dict[str, str], channel: str, target: str,
                lang: str = "VI") -> dict[str, Any]:
    body = gql("""mutation($input: ContactInput!) { addContact(input: $input) {
                    id secret channel } }""",
               {"input": {"channel": channel, "target": target, "lang": lang}}, headers)
    assert "errors" not in body, body
    return body["data"]["addContact"]


def submit_at(gql: GraphQLClient, lon: float, lat: float, headers: dict[str, str] | None = None,
              **extra: Any) -> str:
    body = gql(SUBMIT, {"input": {"categoryCode": "other", "description": "Đèn hỏng",
                                  "lon": lon, "lat": lat, **extra}}, headers)
    assert "errors" not in body, body
    return body["data"]["submitComplaint"]["id"]


def signed(secret: str, hook: Any) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), hook.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, hook.headers["X-Phananh-Signature"])


def test_every_status_has_words_in_both_languages() -> None:
    for lang in LANGS:
        assert set(STATUS_LABELS[lang]) == set(Status)


def test_alerts_reporters_and_officials(gql: GraphQLClient, client: TestClient, engine: Engine,
                                        accounts: Accounts, receiver: WebhookReceiver,
                                        smtp: tuple[Mailbox, int],
                                        worker_settings: Settings) -> None:
    mailbox, _ = smtp
    ward = ward_geometry(engine, accounts.ward)
    # A concave drawn polygon inside the ward: the ward shrunk, minus a bite from its centre.
    centre = ward.representative_point()
    drawn = ward.buffer(-0.002).difference(centre.buffer(0.004)).simplify(0.0005)
    drawn = max(getattr(drawn, "geoms", [drawn]), key=lambda g: g.area)
    officer = account(engine, Role.WARD_OFFICER, (accounts.ward,))
    watcher = account(engine, Role.CITIZEN)
    hook_path = f"/officer-{uuid.uuid4().hex[:6]}"
    secret = add_contact(gql, officer, "WEBHOOK", receiver.url + hook_path)["secret"]
    watcher_mail = f"watcher-{uuid.uuid4().hex[:6]}@example.com"
    add_contact(gql, watcher, "EMAIL", watcher_mail, "EN")
    alert = gql("""mutation($input: AlertInput!) { createAlert(input: $input) {
                     id area eventKinds } }""",
                {"input": {"name": "Ngõ nhà tôi", "within": shapely.geometry.mapping(drawn),
                           "categories": ["other"]}}, watcher)
    assert "errors" not in alert, alert
    assert shape(alert["data"]["createAlert"]["area"]).hausdorff_distance(drawn) < 1e-8  # 1 mm

    # Points across the ward, some inside the drawn polygon, some not (shapely decides).
    minx, miny, maxx, maxy = ward.bounds
    points = [p for p in (Point(minx + (maxx - minx) * i / 9, miny + (maxy - miny) * j / 9)
                          for i in range(1, 9) for j in range(1, 9)) if ward.contains(p)]
    inside = [p for p in points if drawn.covers(p)][:4]
    outside = [p for p in points if not drawn.covers(p)][:4]
    assert len(inside) == 4 and len(outside) == 4
    reporter_mail = f"rep-{uuid.uuid4().hex[:6]}@example.com"
    ids = {}
    for p in inside + outside:
        ids[submit_at(gql, p.x, p.y, reporter={"name": "Nguyễn Văn Riêng",
                                               "phone": "0912345678",
                                               "email": reporter_mail})] = p
    Worker(engine, worker_settings).run(until_empty=True)

    # The officer: every new complaint of the ward, signed.
    hooks = receiver.received(hook_path)
    assert sorted(json.loads(h.body)["complaint"]["id"] for h in hooks) == sorted(ids)
    for hook in hooks:
        assert signed(secret, hook)
        document = json.loads(hook.body)
        assert hook.headers["X-Phananh-Delivery"] == document["id"]
        assert document["reason"] == "jurisdiction" and document["event"] == "SUBMITTED"
        for personal in ("Riêng", "0912345678", reporter_mail):
            assert personal not in hook.body.decode()
    # The watcher: exactly the complaints the drawn polygon covers, in English.
    watched = mailbox.to(watcher_mail)
    expected_inside = {i for i, p in ids.items() if drawn.covers(p)}
    assert {m["Subject"].split()[2].rstrip(":") for m in watched} == expected_inside
    first = watched[0]
    assert first["Subject"].endswith(": received")
    unsubscribe = first["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe.startswith("https://phananh.example/alerts/unsubscribe/")
    assert first["Message-ID"] == f"<{first['X-Phananh-Delivery']}@phananh>"
    # The reporter: one receipt per complaint, in Vietnamese, without their own details.
    receipts = mailbox.to(reporter_mail)
    assert len(receipts) == len(ids)
    assert all("đã tiếp nhận" in m.get_content() for m in receipts)
    assert all("0912345678" not in m.get_content() and "Riêng" not in m.get_content()
               for m in receipts)

    # A status change reaches the reporter and the watcher (for a watched complaint).
    watched_id = sorted(expected_inside)[0]
    gql("mutation($id: ID!) { assignComplaint(id: $id, expectedVersion: 1) { status } }",
        {"id": watched_id}, officer)
    Worker(engine, worker_settings).run(until_empty=True)
    assert any("đã giao xử lý" in m.get_content() and watched_id in m["Subject"]
               for m in mailbox.to(reporter_mail))
    assert any(m["Subject"] == f"[phananh] Complaint {watched_id}: assigned"
               for m in mailbox.to(watcher_mail))

    # Unsubscribing through the link stops the alert, and nothing else.
    path = unsubscribe.removeprefix("https://phananh.example")
    assert client.get(path).json() == {"unsubscribed": True, "alert": "Ngõ nhà tôi"}
    before = len(mailbox.to(watcher_mail))
    submit_at(gql, inside[0].x, inside[0].y)
    Worker(engine, worker_settings).run(until_empty=True)
    assert len(mailbox.to(watcher_mail)) == before
    assert client.get("/alerts/unsubscribe/not-a-token").status_code == 404


def test_alert_areas_are_validated_and_limited(gql: GraphQLClient, engine: Engine,
                                               accounts: Accounts) -> None:
    watcher = account(engine, Role.CITIZEN)
    create = """mutation($input: AlertInput!) { createAlert(input: $input) { id area } }"""

    def code(area: dict[str, Any]) -> str:
        body = gql(create, {"input": {"name": "x", **area}}, watcher)
        return body["errors"][0]["extensions"]["code"] if "errors" in body else "OK"

    bowtie = {"type": "Polygon", "coordinates": [[[105.80, 21.00], [105.81, 21.01],
                                                  [105.81, 21.00], [105.80, 21.01],
                                                  [105.80, 21.00]]]}
    assert code({"within": bowtie}) == "INVALID_GEOMETRY"
    assert code({"within": {"type": "Point", "coordinates": [105.8, 21]}}) == "INVALID_GEOMETRY"
    assert code({"near": {"lon": 105.8, "lat": 91, "radiusM": 100}}) == "BAD_COORDINATES"
    assert code({"near": {"lon": 105.8, "lat": 21, "radiusM": 1e9}}) == "BAD_INPUT"
    assert code({"wardCode": "NOPE"}) == "NOT_FOUND"
    assert code({"wardCode": accounts.ward, "near": {"lon": 105.8, "lat": 21,
                                                     "radiusM": 100}}) == "BAD_INPUT"
    assert code({"wardCode": accounts.ward, "categories": ["nope"]}) == "UNKNOWN_CATEGORY"
    # A circle is stored as a polygon whose every vertex is radiusM away (on the spheroid).
    body = gql(create, {"input": {"name": "c", "near": {"lon": 105.85, "lat": 21.03,
                                                         "radiusM": 500}}}, watcher)
    ring = body["data"]["createAlert"]["area"]["coordinates"][0][0]
    with engine.connect() as conn:
        distances = conn.execute(text("""
            SELECT ST_Distance(CAST(ST_SetSRID(ST_MakePoint(x, y), 4326) AS geography),
                               CAST(ST_SetSRID(ST_MakePoint(105.85, 21.03), 4326) AS geography))
            FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) v(x, y)"""),
            {"xs": [c[0] for c in ring], "ys": [c[1] for c in ring]}).scalars().all()
    assert all(abs(d - 500) < 1.0 for d in distances)
    ward = gql(create, {"input": {"name": "w", "wardCode": accounts.ward}}, watcher)
    assert shape(ward["data"]["createAlert"]["area"]).hausdorff_distance(
        ward_geometry(engine, accounts.ward)) < 1e-8
    # The per-account limit (20 by default) holds.
    for i in range(18):
        assert code({"wardCode": accounts.ward, "name": f"n{i}"}) == "OK"
    assert code({"wardCode": accounts.ward}) == "TOO_MANY_ALERTS"
    assert len(gql("{ myAlerts { id } }", None, watcher)["data"]["myAlerts"]) == 20
    anonymous = gql(create, {"input": {"name": "x", "wardCode": accounts.ward}})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def outbox_row(engine: Engine, delivery_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text("""
            SELECT attempts, delivered_at, dead_at, last_error,
                   extract(epoch FROM next_attempt_at - now()) AS wait
            FROM outbox WHERE id = :id"""), {"id": delivery_id}).one()


def test_retries_back_off_then_dead_letters_replay(
        gql: GraphQLClient, engine: Engine, accounts: Accounts, receiver: WebhookReceiver,
        worker_settings: Settings, database_url: str) -> None:
    officer = account(engine, Role.WARD_OFFICER, (accounts.other_ward,))
    path = f"/fail-{uuid.uuid4().hex[:6]}"
    secret = add_contact(gql, officer, "WEBHOOK", receiver.url + path)["secret"]
    point = ward_geometry(engine, accounts.other_ward).representative_point()
    submit_at(gql, point.x, point.y)
    worker = Worker(engine, worker_settings)
    for attempt, wait in ((1, 30), (2, 60), (3, None)):
        worker.batch()
        hooks = receiver.received(path)
        assert len(hooks) == attempt
        delivery_id = json.loads(hooks[-1].body)["id"]
        row = outbox_row(engine, delivery_id)
        assert (row.attempts, row.delivered_at, row.last_error) == (attempt, None, "HTTP 500")
        if wait is not None:  # exponential backoff: 30 s, then 60 s
            assert row.dead_at is None and wait - 5 < row.wait <= wait
            with engine.begin() as conn:  # time passes
                conn.execute(text("UPDATE outbox SET next_attempt_at = now() WHERE id = :id"),
                             {"id": delivery_id})
        else:
            assert row.dead_at is not None
    assert len({json.loads(h.body)["id"] for h in receiver.received(path)}) == 1
    worker.batch()
    assert len(receiver.received(path)) == 3  # dead letters are not retried

    listed = phananh(database_url, "notify", "dead-letters")
    assert listed.returncode == 0 and delivery_id in listed.stdout, listed.stdout
    receiver.healthy = True
    replayed = phananh(database_url, "notify", "replay", delivery_id)
    assert replayed.returncode == 0 and "1 dead letters" in replayed.stdout, replayed.stdout
    worker.batch()
    hooks = receiver.received(path)
    assert len(hooks) == 4 and signed(secret, hooks[-1])
    assert json.loads(hooks[-1].body)["id"] == delivery_id
    assert outbox_row(engine, delivery_id).delivered_at is not None


@pytest.mark.slow
def test_worker_killed_mid_batch_loses_nothing(
        gql: GraphQLClient, engine: Engine, accounts: Accounts, receiver: WebhookReceiver,
        smtp: tuple[Mailbox, int], database_url: str) -> None:
    officer = account(engine, Role.DISTRICT_OFFICER, (accounts.district,))
    path = f"/slow-{uuid.uuid4().hex[:6]}"
    add_contact(gql, officer, "WEBHOOK", receiver.url + path)
    point = ward_geometry(engine, accounts.ward).representative_point()
    complaints = [submit_at(gql, point.x, point.y) for _ in range(40)]
    with engine.connect() as conn:
        expected = set(conn.execute(text("""
            SELECT o.id::text FROM outbox o JOIN complaint_event e ON e.id = o.event_id
            JOIN complaint c ON c.id = e.complaint_id
            WHERE c.public_id = ANY(:ids) AND o.target = :target"""),
            {"ids": complaints, "target": receiver.url + path}).scalars())
    assert len(expected) == 40
    env = {**os.environ, "DATABASE_URL": database_url, "PHANANH_NOTIFY_BATCH_SIZE": "5",
           "PHANANH_NOTIFY_LEASE_SECONDS": "1", "PHANANH_NOTIFY_POLL_SECONDS": "0.1",
           "PHANANH_SMTP_PORT": str(smtp[1]), "PHANANH_WEBHOOK_ALLOW_PRIVATE": "true"}
    command = [sys.executable, "-m", "cli", "notify", "run"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(receiver.received(path)) < 12:  # the third batch is in flight
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    with engine.connect() as conn:
        in_flight = conn.execute(text("""
            SELECT count(*) FROM outbox WHERE id = ANY(CAST(:ids AS uuid[]))
            AND attempts > 0 AND delivered_at IS NULL"""), {"ids": list(expected)}).scalar()
    assert in_flight > 0  # killed with claimed, unrecorded deliveries
    time.sleep(1.2)  # the dead worker's lease runs out
    done = subprocess.run([*command, "--until-empty"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    received = [json.loads(h.body)["id"] for h in receiver.received(path)]
    assert set(received) == expected  # every one arrived …
    assert len(received) > len(expected)  # … some twice, recognisable by their stable id
    with engine.connect() as conn:
        assert conn.execute(text("""
            SELECT count(*) FROM outbox WHERE id = ANY(CAST(:ids AS uuid[]))
            AND delivered_at IS NOT NULL"""), {"ids": list(expected)}).scalar() == 40


def test_officials_are_warned_once_of_a_deadline(
        gql: GraphQLClient, engine: Engine, accounts: Accounts, receiver: WebhookReceiver,
        smtp: tuple[Mailbox, int], worker_settings: Settings, database_url: str) -> None:
    mailbox, _ = smtp
    officer = account(engine, Role.WARD_OFFICER, (accounts.other_ward,))
    path = f"/due-{uuid.uuid4().hex[:6]}"
    add_contact(gql, officer, "WEBHOOK", receiver.url + path)
    officer_mail = f"officer-{uuid.uuid4().hex[:6]}@example.com"
    add_contact(gql, officer, "EMAIL", officer_mail)
    soon, later = (new_complaint(engine, accounts.other_ward, reporter=None) for _ in range(2))
    with engine.begin() as conn:
        for public_id, minutes in ((soon, 3), (later, 60)):
            conn.execute(text("UPDATE complaint SET due_at = now() + make_interval(mins => :m) "
                              "WHERE public_id = :id"), {"m": minutes, "id": public_id})
    for _ in range(2):  # a second run warns nobody again
        warned = phananh(database_url, "workflow", "warn-due", "--hours", "0.1")
        assert warned.returncode == 0, warned.stderr
        Worker(engine, worker_settings).run(until_empty=True)
    warnings = [json.loads(h.body) for h in receiver.received(path)]
    assert [(w["complaint"]["id"], w["event"]) for w in warnings
            if w["complaint"]["id"] in (soon, later)] == [(soon, "DUE_SOON")]
    mails = [m for m in mailbox.to(officer_mail) if soon in m["Subject"]]
    assert [m["Subject"] for m in mails] == [f"[phananh] Phản ánh {soon} sắp quá hạn"]
    assert "hạn xử lý" in mails[0].get_content()


ADD_CONTACT = """mutation($input: ContactInput!) { addContact(input: $input) { id target } }"""


def test_webhooks_to_internal_addresses_are_refused(client: TestClient, engine: Engine,
                                                     settings: Settings) -> None:
    assert not settings.webhook_allow_private  # the default
    public_api = GraphQLClient(client)
    citizen = account(engine, Role.CITIZEN)

    def refusal(target: str) -> str:
        body = public_api(ADD_CONTACT, {"input": {"channel": "WEBHOOK", "target": target}},
                          citizen)
        assert body["data"] is None, (target, body)
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_INPUT", (target, error)
        return error["message"]

    for target, why in (("http://localhost:8000/hook", "loopback"),
                        ("http://127.0.0.2/", "loopback"),
                        ("http://[::1]:5432/", "loopback"),
                        ("http://[::ffff:127.0.0.1]/", "loopback"),
                        ("http://169.254.169.254/latest/meta-data/", "link-local"),
                        ("http://10.0.0.7/", "private"),
                        ("https://192.168.1.1/", "private"),
                        ("http://172.16.5.4:9200/", "private"),
                        ("http://[fd00::1]/", "private"),
                        ("http://224.0.0.251/", "multicast"),
                        ("http://0.0.0.0:8000/", "unspecified"),
                        ("http://100.64.0.1/", "not a public address"),  # carrier-grade NAT
                        ("http://user:secret@93.184.215.14/", "credentials")):
        assert why in refusal(target), target
    assert "127.0.0.1" in refusal("http://localhost/")  # the resolved address is named
    # A public address is accepted (nothing is sent when a contact is added), and so is a
    # host that does not resolve now: delivery checks again.
    accepted = ["https://93.184.215.14/hook", "https://no-such-host.invalid/hook"]
    for target in accepted:
        added = public_api(ADD_CONTACT, {"input": {"channel": "WEBHOOK", "target": target}},
                           citizen)
        assert "errors" not in added, added
    contacts = public_api("{ myContacts { target } }", None, citizen)["data"]["myContacts"]
    assert [c["target"] for c in contacts] == accepted


def test_delivery_checks_the_address_again_and_follows_no_redirect(
        gql: GraphQLClient, engine: Engine, accounts: Accounts, receiver: WebhookReceiver,
        worker_settings: Settings) -> None:
    """A contact added while its host was public (here: while private addresses were allowed)
    is refused at delivery once it resolves to an internal one: a dead letter at once."""
    officer = account(engine, Role.WARD_OFFICER, (accounts.other_ward,))
    inside, bounced = (f"/{kind}-{uuid.uuid4().hex[:6]}" for kind in ("inside", "redirect"))
    for path in (inside, bounced):
        add_contact(gql, officer, "WEBHOOK", receiver.url + path)
    unresolved = f"https://{uuid.uuid4().hex[:8]}.invalid/hook"
    add_contact(gql, officer, "WEBHOOK", unresolved)
    point = ward_geometry(engine, accounts.other_ward).representative_point()
    public_id = submit_at(gql, point.x, point.y)

    def outcome(target: str) -> Any:
        with engine.connect() as conn:
            return conn.execute(text("""
                SELECT o.attempts, o.delivered_at, o.dead_at, o.last_error FROM outbox o
                JOIN complaint_event e ON e.id = o.event_id
                JOIN complaint c ON c.id = e.complaint_id
                WHERE c.public_id = :id AND o.target = :target"""),
                {"id": public_id, "target": target}).one()

    strict = worker_settings.model_copy(update={"webhook_allow_private": False})
    Worker(engine, strict).run(until_empty=True)
    assert receiver.received(inside) == []
    refused = outcome(receiver.url + inside)
    assert refused.attempts == 1 and refused.delivered_at is None
    assert refused.dead_at is not None  # no retry can succeed
    assert "refused URL" in refused.last_error and "loopback" in refused.last_error
    pending = outcome(unresolved)  # may resolve later: retried, not dead
    assert pending.attempts == 1 and pending.dead_at is None
    assert "cannot resolve" in pending.last_error

    # Allowed again (on premise): a redirect answer is a failure, never followed.
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET dead_at = NULL, next_attempt_at = now() "
                          "WHERE target = :target AND delivered_at IS NULL"),
                     {"target": receiver.url + bounced})
    Worker(engine, worker_settings).batch()
    assert len(receiver.received(bounced)) == 1 and receiver.received("/landed") == []
    redirected = outcome(receiver.url + bounced)
    assert redirected.delivered_at is None
    assert redirected.last_error == "HTTP 302 (redirects are not followed)"


def test_a_busy_recipient_is_capped_per_hour_and_loses_nothing(
        gql: GraphQLClient, engine: Engine, accounts: Accounts, receiver: WebhookReceiver,
        worker_settings: Settings) -> None:
    officer = account(engine, Role.WARD_OFFICER, (accounts.other_ward,))
    path = f"/busy-{uuid.uuid4().hex[:6]}"
    target = receiver.url + path
    add_contact(gql, officer, "WEBHOOK", target)
    point = ward_geometry(engine, accounts.other_ward).representative_point()
    complaints = [submit_at(gql, point.x, point.y) for _ in range(5)]
    capped = worker_settings.model_copy(update={"notify_per_recipient_per_hour": 3,
                                                "notify_batch_size": 1})

    def sent() -> list[str]:
        return [json.loads(h.body)["complaint"]["id"] for h in receiver.received(path)]

    Worker(engine, capped).run(until_empty=True)
    # The cap, over several batches; the oldest first (a batch's webhooks go concurrently).
    assert sorted(sent()) == sorted(complaints[:3])
    with engine.connect() as conn:
        waiting = conn.execute(text("""
            SELECT attempts, extract(epoch FROM next_attempt_at - (
                       SELECT min(delivered_at) FROM outbox WHERE target = :t)) AS wait
            FROM outbox WHERE target = :t AND delivered_at IS NULL"""), {"t": target}).all()
    # The other two wait, without a spent attempt, until the first delivery is an hour old.
    assert [(w.attempts, round(w.wait)) for w in waiting] == [(0, 3600), (0, 3600)]

    with engine.begin() as conn:  # an hour passes
        conn.execute(text("UPDATE outbox SET delivered_at = delivered_at - interval '1 hour', "
                          "next_attempt_at = least(next_attempt_at, now()) WHERE target = :t"),
                     {"t": target})
    Worker(engine, capped).run(until_empty=True)
    assert sorted(sent()) == sorted(complaints)  # late, never lost


def test_agency_officers_are_told_of_their_agency_s_complaints_only(
        gql: GraphQLClient, engine: Engine, accounts: Accounts, receiver: WebhookReceiver,
        worker_settings: Settings) -> None:
    """A new complaint reaches the officers of the agency it is routed to; officers of another
    agency serving the same place, and a ward officer who belongs to that other agency, are not
    told of it (the inverse of who may act)."""
    point = ward_geometry(engine, accounts.ward).representative_point()
    now = datetime.now(UTC)
    with engine.connect() as conn:
        codes = conn.execute(text("""
            SELECT code FROM category c WHERE retired_at IS NULL AND NOT EXISTS (
                SELECT 1 FROM category_attribute a WHERE a.category_code = c.code AND a.required)
            ORDER BY code""")).scalars()
        team_category = next(code for code in codes if agency_for(
            conn, code, point.x, point.y, now).agency_code == accounts.other_agency)
    paths = {}
    for name, role, areas, agencies in (
            ("committee", Role.AGENCY_OFFICER, (), (accounts.agency,)),
            ("team", Role.AGENCY_OFFICER, (), (accounts.other_agency,)),
            ("ward_in_team", Role.WARD_OFFICER, (accounts.ward,), (accounts.other_agency,))):
        paths[name] = f"/{name}-{uuid.uuid4().hex[:6]}"
        add_contact(gql, account(engine, role, areas, agencies), "WEBHOOK",
                    receiver.url + paths[name])
    for_committee = submit_at(gql, point.x, point.y)  # category "other": the committee's
    for_team = gql(SUBMIT, {"input": {"categoryCode": team_category, "description": "Lấn chiếm",
                                      "lon": point.x, "lat": point.y}})
    assert "errors" not in for_team, for_team
    for_team_id = for_team["data"]["submitComplaint"]["id"]
    Worker(engine, worker_settings).run(until_empty=True)

    def told(name: str) -> set[str]:
        return {json.loads(h.body)["complaint"]["id"] for h in receiver.received(paths[name])}

    assert told("committee") == {for_committee}
    assert told("team") == {for_team_id}
    assert told("ward_in_team") == {for_team_id}
