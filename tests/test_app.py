"""The HTTP and WebSocket surface: health, GraphQL over both transports, malformed requests."""

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app import create_app
from db.engine import make_engine
from settings import Settings
from tests.conftest import Demo


def test_healthz_reports_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": True}


def test_healthz_says_when_the_database_is_down() -> None:
    dead = make_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none")
    with TestClient(create_app(Settings(), dead)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["database"] is False


def test_graphql_over_websocket(settings: Settings, engine: Engine, demo: Demo) -> None:
    inside = demo.outline.representative_point()
    with TestClient(create_app(settings, engine)) as client, client.websocket_connect(
        "/graphql", subprotocols=["graphql-transport-ws"]
    ) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {
            "query": "query($lon: Float!, $lat: Float!) { jurisdiction(lon: $lon, lat: $lat) "
                     "{ city { level } } }",
            "variables": {"lon": inside.x, "lat": inside.y}}})
        message = ws.receive_json()
        assert message["type"] == "next"
        assert message["payload"]["data"]["jurisdiction"]["city"]["level"] == "CITY"
        assert ws.receive_json()["type"] == "complete"


def test_malformed_request_body_is_a_clear_400(client: TestClient) -> None:
    response = client.post("/graphql", content=b'{"query": ', headers={
        "content-type": "application/json"})
    assert response.status_code == 400
    assert "Traceback" not in response.text
