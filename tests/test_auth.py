"""Accounts and tokens: the CLI that manages them, and the API that checks them."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from app import create_app
from auth.tokens import signing_secret
from settings import Settings
from tests.conftest import Accounts, Demo, GraphQLClient, new_complaint, phananh

ME = "{ me { username role wardCodes districtCodes } }"
ASSIGN = "mutation($id: ID!) { assignComplaint(id: $id, expectedVersion: 1) { status } }"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_cli_account_and_token_lifecycle(gql: GraphQLClient, settings: Settings,
                                         engine: Engine, accounts: Accounts) -> None:
    added = phananh(settings.database_url, "users", "add", "le.officer", "--role", "ward_officer",
                    "--area", accounts.ward, "--name", "Lê Cán Bộ")
    assert added.returncode == 0, added.stdout + added.stderr
    issued = phananh(settings.database_url, "tokens", "issue", "le.officer", "--label", "test")
    token = issued.stdout.strip()
    assert issued.returncode == 0 and token.count(".") == 2
    me = gql(ME, headers=bearer(token))["data"]["me"]
    assert me == {"username": "le.officer", "role": "ward_officer",
                  "wardCodes": [accounts.ward], "districtCodes": []}
    listing = phananh(settings.database_url, "users", "list")
    assert "le.officer" in listing.stdout and accounts.ward in listing.stdout

    cid = new_complaint(engine, accounts.ward)
    revoked = phananh(settings.database_url, "tokens", "revoke", token)
    assert revoked.returncode == 0 and "1 token(s) revoked" in revoked.stdout
    body = gql(ASSIGN, {"id": cid}, headers=bearer(token))
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "revoked" in body["errors"][0]["message"]
    assert gql(ME, headers=bearer(token))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    second = phananh(settings.database_url, "tokens", "issue", "le.officer").stdout.strip()
    assert gql(ME, headers=bearer(second))["data"]["me"]["username"] == "le.officer"
    assert phananh(settings.database_url, "users", "disable", "le.officer").returncode == 0
    body = gql(ASSIGN, {"id": cid}, headers=bearer(second))
    assert "disabled" in body["errors"][0]["message"]
    assert phananh(settings.database_url, "users", "enable", "le.officer").returncode == 0
    assert gql(ME, headers=bearer(second))["data"]["me"]["username"] == "le.officer"


@pytest.mark.parametrize(("args", "message"), [
    (("users", "add", "x1", "--role", "ward_officer"), "needs --area"),
    (("users", "add", "x2", "--role", "analyst", "--area", "P001"), "has no area scope"),
    (("users", "add", "x3", "--role", "district_officer", "--area", "NOPE"), "No district"),
    (("users", "add", "x4", "--role", "mayor"), "mayor"),
    (("tokens", "issue", "nobody"), "No user 'nobody'"),
])
def test_cli_refuses_bad_accounts(settings: Settings, accounts: Accounts, args: tuple,
                                  message: str) -> None:
    result = phananh(settings.database_url, *args)
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def resigned(engine: Engine, accounts: Accounts, secret: str | None = None,
             **changes: object) -> str:
    """The ward officer's token with ``changes`` to its claims, signed with the server's
    secret (or ``secret``)."""
    good = accounts.tokens["ward_in"]
    assert good is not None
    claims = jwt.decode(good, options={"verify_signature": False})
    if secret is None:
        with engine.begin() as conn:
            secret = signing_secret(conn)
    return jwt.encode({**claims, **changes}, secret, algorithm="HS256")


def an_hour_ago() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


def test_forged_expired_and_malformed_tokens(gql: GraphQLClient, engine: Engine,
                                             accounts: Accounts) -> None:
    cid = new_complaint(engine, accounts.ward)
    good = accounts.tokens["ward_in"]
    expired = resigned(engine, accounts, exp=an_hour_ago())
    forged = resigned(engine, accounts, secret="not-the-secret-but-long-enough-for-hs256!")
    other_user = resigned(engine, accounts, sub="999999")
    cases = [(bearer(expired), "expired"), (bearer(forged), "not valid"),
             (bearer(other_user), "revoked"), ({"Authorization": f"Basic {good}"}, "Bearer"),
             ({"Authorization": "Bearer "}, "Bearer")]
    for headers, message in cases:
        body = gql(ASSIGN, {"id": cid}, headers=headers)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", headers
        assert message in body["errors"][0]["message"], (headers, body)
    assert gql(ASSIGN, {"id": cid})["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


SUBMIT = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) { id } }"""


def test_tokens_that_do_not_verify_fail_closed(gql: GraphQLClient, engine: Engine,
                                               settings: Settings, accounts: Accounts,
                                               demo: Demo) -> None:
    """A presented token that does not verify is never taken as anonymous: a public query and a
    submission are refused, and nothing is stored (a revoked citizen's report would otherwise
    be filed without its owner)."""
    revoked = phananh(settings.database_url, "tokens", "issue", "test-reporter").stdout.strip()
    assert phananh(settings.database_url, "tokens", "revoke", revoked).returncode == 0
    point = demo.areas("demo-2025", "ward")[3].geometry.representative_point()
    cases = {
        "revoked": bearer(revoked),
        "expired": bearer(resigned(engine, accounts, exp=an_hour_ago())),
        "forged": bearer(resigned(engine, accounts,
                                  secret="not-the-secret-but-long-enough-for-hs256!")),
        "malformed": bearer("not-a-token"),
        "not bearer": {"Authorization": f"Basic {accounts.tokens['reporter']}"},
    }
    for kind, headers in cases.items():
        key = f"fail-closed-{kind}"
        submission = {"i": {"categoryCode": "environment.waste", "description": "Rác thải",
                            "lon": point.x, "lat": point.y, "idempotencyKey": key}}
        for query, variables in (("{ categories { code } }", None), (SUBMIT, submission)):
            body = gql(query, variables, headers=headers)
            assert body["data"] is None, (kind, body)
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", (kind, body)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM complaint "
                                       "WHERE idempotency_key = :k"), {"k": key}).scalar_one()
        assert stored == 0, kind
    assert gql.data("{ categories { code } }")["categories"]  # no header: anonymous, as before


def test_a_refusal_message_belongs_to_its_own_request(gql: GraphQLClient, engine: Engine,
                                                      accounts: Accounts) -> None:
    """Strawberry shares a field's permission among requests: one caller's expired token must
    not become the reason given to the next, anonymous, caller."""
    cid = new_complaint(engine, accounts.ward)
    expired_token = resigned(engine, accounts, exp=an_hour_ago())
    expired = gql(ASSIGN, {"id": cid}, headers=bearer(expired_token))
    assert expired["errors"][0]["message"] == "Sign in again: The token has expired."
    anonymous = gql(ASSIGN, {"id": cid})["errors"][0]
    assert anonymous["extensions"]["code"] == "UNAUTHENTICATED"
    assert anonymous["message"] == "Sign in first: send 'Authorization: Bearer <token>'."


def test_token_over_websocket(settings: Settings, engine: Engine, accounts: Accounts) -> None:
    token = accounts.tokens["district_in"]
    with TestClient(create_app(settings, engine)) as client:
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"Authorization":
                                                                 f"Bearer {token}"}})
            assert ws.receive_json()["type"] == "connection_ack"
            ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": ME}})
            me = ws.receive_json()["payload"]["data"]["me"]
            assert me["role"] == "district_officer"
            assert me["districtCodes"] == [accounts.district]
        with client.websocket_connect("/graphql",
                                      subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"token": "forged.jwt.x"}})
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 4403


def test_tokens_are_not_stored(engine: Engine, accounts: Accounts) -> None:
    with engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(text("SELECT * FROM api_token"))
                          for v in row)
    for token in accounts.tokens.values():
        if token:
            assert token not in stored and token.split(".")[2] not in stored
