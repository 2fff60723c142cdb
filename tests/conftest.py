"""Shared fixtures: a fresh PostGIS database per test session, seeded with the demo city.

Tests talk to a real PostgreSQL + PostGIS: the server named by DATABASE_URL (``make test``
starts the project's own cluster when it is unset). Each session creates its own database and
drops it at the end, so parallel runs never see each other's rows.
"""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg2
import pytest
from alembic import command
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from app import create_app
from auth import users
from auth.principal import Role
from auth.tokens import issue_token
from cli.main import alembic_config
from db.engine import make_engine
from demo.city import DemoGeneration, build_demo_city, city_outline
from demo.complaints import generate_complaints
from demo.organisation import district_team, ward_committee
from demo.seed import seed_boundaries, seed_complaints, seed_organisation
from settings import Settings

DEMO_COMPLAINTS = 3_000
SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def _server_url() -> Any:
    return make_url(Settings().sqlalchemy_url)


def _admin(sql: str) -> None:
    url = _server_url()
    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username,
                            password=url.password, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(sql)
    conn.close()


def fresh_database() -> Iterator[str]:
    """Create an empty database migrated to head; yield its URL; drop it afterwards."""
    name = f"phananh_test_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    url = _server_url().set(database=name).render_as_string(hide_password=False)
    try:
        command.upgrade(alembic_config(url), "head")
        yield url
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    yield from fresh_database()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # Small lookup chunks, so that the 2,000-point batch tests run over several connections;
    # rate limits high enough for the whole suite (tests/test_hardening.py checks them).
    return Settings(database_url=database_url, lookup_chunk_points=700,
                    submissions_per_minute_per_client=100_000,
                    submissions_per_minute_per_token=100_000)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.sqlalchemy_url)
    yield engine
    engine.dispose()


@dataclass(frozen=True)
class Demo:
    generations: tuple[DemoGeneration, ...]
    now: datetime
    public_ids: frozenset[str]  # of the seeded complaints, not those the tests add

    def areas(self, generation: str, level: str) -> list[Any]:
        found = next(g for g in self.generations if g.name == generation)
        return [a for a in found.areas if a.level == level]

    @property
    def outline(self) -> Any:
        return city_outline(self.generations)


@pytest.fixture(scope="session")
def demo(engine: Engine) -> Demo:
    """The demo city and DEMO_COMPLAINTS complaints, loaded once for the session."""
    return seed_demo(engine)


def seed_demo(engine: Engine) -> Demo:
    """Load the demo city and DEMO_COMPLAINTS complaints into ``engine``'s empty database."""
    generations = build_demo_city()
    seed_boundaries(engine, generations)
    seed_organisation(engine, generations)
    now = datetime.now(UTC).replace(microsecond=0)
    complaints = list(generate_complaints(DEMO_COMPLAINTS, city_outline(generations), seed=17,
                                          now=now))
    seed_complaints(engine, complaints, DEMO_COMPLAINTS)
    return Demo(generations=generations, now=now,
                public_ids=frozenset(c.public_id for c in complaints))


@pytest.fixture(scope="session")
def client(settings: Settings, engine: Engine, demo: Demo) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine)) as test_client:
        yield test_client


class GraphQLClient:
    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __call__(self, query: str, variables: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.client.post("/graphql", json={"query": query, "variables": variables},
                                    headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response's data; fails the test with the errors when there are any."""
        body = self(query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def error_code(self, query: str, variables: dict[str, Any] | None = None) -> str:
        body = self(query, variables)
        assert body.get("errors"), f"expected an error, got {body}"
        return body["errors"][0]["extensions"]["code"]


@pytest.fixture(scope="session")
def gql(client: TestClient) -> GraphQLClient:
    return GraphQLClient(client)


class StatementCounter:
    """Every statement sent, as written: one that runs prepared (``db/prepared.py``) reaches
    the server as ``EXECUTE`` of a name, and is recorded by its text all the same."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                 executemany: bool) -> None:
        self.statements.append(getattr(context, "statement", None) or statement)


@pytest.fixture
def count_statements(engine: Engine) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)


def phananh(database_url: str, *args: str, timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
    """Run the real ``phananh`` command (as ``python -m cli``) against ``database_url``."""
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True,
                          env={**os.environ, "DATABASE_URL": database_url, "COLUMNS": "200"},
                          timeout=timeout)


def hanoi_data(name: str) -> str:
    path = os.path.join(SHARED_DATA, "hanoi", name)
    if not os.path.exists(path):
        pytest.skip(f"real Hanoi data not present at {path} (only in the team's workspace)")
    return path


@dataclass(frozen=True)
class Accounts:
    """One caller per role and scope, on the demo city: tokens by name (None: anonymous)."""

    tokens: dict[str, str | None]
    ward: str  # the ward the "_in" officers serve
    district: str
    other_ward: str  # a ward of another district, served by the "_out" officers
    other_district: str
    agency: str  # the agency complaints of category "other" in `ward` are routed to
    other_agency: str  # another agency serving the same place

    def headers(self, name: str) -> dict[str, str]:
        token = self.tokens[name]
        return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(scope="session")
def accounts(engine: Engine, demo: Demo) -> Accounts:
    ward = next(w for w in sorted(demo.areas("demo-2025", "ward"), key=lambda a: a.code)
                if w.parent_code)
    other = next(w for w in sorted(demo.areas("demo-2025", "ward"), key=lambda a: a.code)
                 if w.parent_code and w.parent_code != ward.parent_code)
    # The demo routes a complaint of category "other" to its ward's People's Committee; the
    # district's urban-order team serves the same place but handles other categories.
    committee, team = ward_committee(ward.code), district_team(ward.parent_code)
    plan = {
        "anonymous": None,
        "reporter": (Role.CITIZEN, (), ()),
        "other_citizen": (Role.CITIZEN, (), ()),
        "ward_in": (Role.WARD_OFFICER, (ward.code,), ()),
        "ward_out": (Role.WARD_OFFICER, (other.code,), ()),
        "district_in": (Role.DISTRICT_OFFICER, (ward.parent_code,), ()),
        "district_out": (Role.DISTRICT_OFFICER, (other.parent_code,), ()),
        "agency_in": (Role.AGENCY_OFFICER, (), (committee,)),
        "agency_other": (Role.AGENCY_OFFICER, (), (team,)),
        "ward_in_agency_other": (Role.WARD_OFFICER, (ward.code,), (team,)),
        "city_admin": (Role.CITY_ADMIN, (), ()),
        "analyst": (Role.ANALYST, (), ()),
    }
    tokens: dict[str, str | None] = {}
    with engine.begin() as conn:
        for name, spec in plan.items():
            if spec is None:
                tokens[name] = None
                continue
            role, areas, agencies = spec
            users.add_user(conn, f"test-{name}", role, areas, agencies=agencies)
            tokens[name] = issue_token(conn, f"test-{name}")
    return Accounts(tokens=tokens, ward=ward.code, district=ward.parent_code,
                    other_ward=other.code, other_district=other.parent_code,
                    agency=committee, other_agency=team)


def new_complaint(engine: Engine, ward_code: str, *, status: str = "RECEIVED",
                  reporter: str | None = "test-reporter", category: str = "other",
                  resolved_days_ago: float | None = None,
                  private_answers: dict[str, Any] | None = None, **personal: str) -> str:
    """Insert a complaint in a given state directly (tests of the workflow start from any
    state); returns its public id."""
    public_id = f"PA-T{uuid.uuid4().hex[:12].upper()}"
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO complaint (public_id, description, category_code, location, address,
                ward_id, district_id, city_id, status, resolved_at, due_at, reporter_user_id,
                reporter_name, reporter_phone, reporter_email, agency_code, routing_rule_id,
                routing_reason, private_attributes)
            SELECT :public_id, 'Test complaint', :category, ST_PointOnSurface(w.geom),
                   'Số 1 phố Thử', w.id, w.parent_id, d.parent_id, :status,
                   CASE WHEN CAST(:resolved AS float) IS NOT NULL
                        THEN now() - make_interval(secs => CAST(:resolved AS float) * 86400)
                   END,
                   working_due(now(), (SELECT sla_hours FROM category WHERE code = :category)),
                   (SELECT id FROM app_user WHERE username = :reporter),
                   :name, :phone, :email, r.agency_code, r.rule_id, r.reason,
                   CAST(:private AS jsonb)
            FROM admin_area w LEFT JOIN admin_area d ON d.id = w.parent_id
            LEFT JOIN LATERAL route_complaint(:category, w.id, w.parent_id, d.parent_id, now())
                AS r ON true
            JOIN boundary_generation g ON g.id = w.generation_id
            WHERE w.level = 'ward' AND w.code = :ward AND g.name = 'demo-2025'"""),
            {"public_id": public_id, "category": category, "status": status, "ward": ward_code,
             "resolved": resolved_days_ago, "reporter": reporter,
             "name": personal.get("name", "Lê Văn Riêng"),
             "phone": personal.get("phone", "0987 000 111"),
             "email": personal.get("email", "rieng@example.com"),
             "private": json.dumps(private_answers or {})})
    return public_id
