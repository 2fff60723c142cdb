"""Every HTTP error outside GraphQL has one body: OGC API – Features' exception, ``{"code",
"description"}`` (Part 1 1.0, ``exception.yaml``: ``code`` required, both strings), plus details."""

from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app import create_app, map_routes
from db.engine import make_engine
from errors import ErrorCode
from settings import Settings

DEAD_DATABASE = "postgresql+psycopg2://postgres@127.0.0.1:1/none"


def assert_error_body(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The exception schema, checked by hand: a JSON object whose ``code`` is one of ours and
    whose ``description`` is a readable sentence; no second spelling (``message``)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict)
    assert body["code"] == code and code in set(ErrorCode)
    assert isinstance(body["description"], str) and len(body["description"]) > 10
    assert "message" not in body
    return body


@pytest.mark.parametrize(("method", "url", "status", "code"), [
    ("GET", "/tiles/nowhere/1/1/1.mvt", 404, "NOT_FOUND"),  # unknown layer
    ("GET", "/ogc/collections/nowhere", 404, "NOT_FOUND"),
    ("GET", "/ogc/collections/complaints/items/PA-0000-NOPE", 404, "NOT_FOUND"),
    ("GET", "/tiles/complaints.json.gz", 404, "NOT_FOUND"),  # TileJSON without its suffix
    ("GET", "/no/such/page", 404, "NOT_FOUND"),  # Starlette's own router
    ("POST", "/healthz", 405, "METHOD_NOT_ALLOWED"),
    ("DELETE", "/tiles/complaints/1/1/1.mvt", 405, "METHOD_NOT_ALLOWED"),
    ("GET", "/tiles/complaints/40/1/1.mvt", 400, "BAD_TILE"),
    ("GET", "/tiles/complaints/2/9/1.mvt", 400, "BAD_TILE"),
    ("GET", "/ogc/collections/complaints/items?limit=0", 400, "BAD_INPUT"),
    ("GET", "/ogc/collections/complaints/items?limit=99999999", 400, "PAGE_TOO_LARGE"),
    ("GET", "/ogc/collections/complaints/items?colour=red", 400, "UNKNOWN_PARAMETER"),
    ("GET", "/ogc/collections/complaints/items?f=xml", 400, "UNSUPPORTED_FORMAT"),
    ("GET", "/export/complaints.shp", 400, "UNSUPPORTED_FORMAT"),
])
def test_every_refusal_has_the_one_body(client: TestClient, method: str, url: str, status: int,
                                        code: str) -> None:
    assert_error_body(client.request(method, url), status, code)


def test_details_travel_beside_code_and_description(client: TestClient) -> None:
    body = assert_error_body(client.get("/tiles/complaints/40/1/1.mvt"), 400, "BAD_TILE")
    assert body["z"] == 40
    refused = client.post("/ogc/collections")
    assert_error_body(refused, 405, "METHOD_NOT_ALLOWED")
    assert set(refused.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_request_too_large(settings: Settings, engine: Engine) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1_000})
    with TestClient(create_app(small, engine)) as client:
        response = client.post("/graphql", content=b"x" * 2_000,
                               headers={"content-type": "application/json"})
    assert assert_error_body(response, 413, "REQUEST_TOO_LARGE")["maxBytes"] == 1_000


def test_map_page_not_built(tmp_path: Path) -> None:
    with TestClient(Starlette(routes=map_routes(tmp_path / "missing"))) as client:
        assert_error_body(client.get("/map"), 404, "NOT_FOUND")


def test_database_down() -> None:
    """Health says the database is down (keeping its report fields); a layer whose database
    does not answer says to come back later, without naming the database."""
    dead = make_engine(DEAD_DATABASE)
    with TestClient(create_app(Settings(), dead), raise_server_exceptions=False) as client:
        health = assert_error_body(client.get("/healthz"), 503, "SERVICE_UNAVAILABLE")
        assert (health["status"], health["database"]) == ("unavailable", False)
        response = client.get("/ogc/collections")
        failed = assert_error_body(response, 503, "SERVICE_UNAVAILABLE")
    assert response.headers["retry-after"] == str(failed["retryAfter"])
    assert "127.0.0.1" not in failed["description"]


def test_the_ogc_api_document_declares_the_body(client: TestClient) -> None:
    paths = client.get("/ogc/api").json()["paths"]
    for path in ("/collections/{collectionId}", "/collections/{collectionId}/items"):
        for status in ("400", "404"):
            content = paths[path]["get"]["responses"][status]["content"]
            schema = content["application/json"]["schema"]
            assert schema["required"] == ["code"]
            assert set(schema["properties"]) == {"code", "description"}
