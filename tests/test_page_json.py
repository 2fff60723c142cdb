"""Pages of plain fields built as JSON by one statement (schema/page_json.py) answer exactly
as the regular executor: the same documents, run by every kind of caller through two apps on
the same database, one with the service's executor and one with strawberry's own (which never
takes the SQL path), give the same bytes; selections outside the plain subset fall back; the
privacy rules hold; a plain page costs one statement."""

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select, text
from starlette.testclient import TestClient
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app import create_app
from bench.jurisdiction import GRAPHQL_PAGE
from bench.load import PAGE as LOAD_PAGE
from db import complaints as complaint_sql
from db.tables import complaint
from schema import execution
from settings import Settings
from tests.conftest import Accounts, Demo, StatementCounter, new_complaint
from tests.test_compiled_execution import NODE, executor_of

CALLERS = ["anonymous", "reporter", "ward_in", "ward_out", "district_in", "agency_in",
           "city_admin", "analyst"]
DESCRIPTION = "Rác chắn lối số 12A ngõ 34, gọi 0912 345 678 hoặc rieng@example.org."
ADDRESS = "Số 7 ngõ 15 phố Kim Mã, gọi 0912345678"
RELATIONS = """category { code nameVi nameEn domain slaHours sensitive maxFootprintM
  maxFootprintHa description retired __typename }
  ward { code name nameEn level areaKm2 population } district { code name level }
  city { code areaKm2 }"""
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
# (document, variables): every one is plain, so the JSON app answers it with one statement
PLAIN = [
    (GRAPHQL_PAGE, None),  # the issue's page of 100
    (LOAD_PAGE, {"after": None}),  # the load benchmark's page of 20
    (f"{{ complaints(first: 60) {{ totalCount {PAGE_INFO} __typename nodes {{ {NODE} "
     f"footprint {RELATIONS} }} }} }}", None),
    ("{ complaints(first: 30) { edges { cursor node { id description address "
     "reporter { name phone email } viewerMayAct } } } }", None),
    # fragments, aliases, __typename, directives driven by variables, fields asked twice
    ("""query($more: Boolean!) { complaints(first: 40) { __typename info: pageInfo {
        __typename end: endCursor } edges { __typename c: cursor node { ...F
        where: ward { __typename label: name } } } } }
        fragment F on Complaint { __typename id ... on Complaint { status id
        reporter @include(if: $more) { name } district @skip(if: $more) { code } } }""",
     {"more": True}),
    ("""query($more: Boolean!) { complaints(first: 40) { edges { node { ...F } } } }
        fragment F on Complaint { id reporter @include(if: $more) { name }
        district @skip(if: $more) { code } }""", {"more": False}),
    ("{ complaints(first: 0) { totalCount " + PAGE_INFO + " edges { cursor } } }", None),
    # filters and orders
    ("""query($f: ComplaintFilter) { complaints(filter: $f, first: 25) { totalCount
        """ + PAGE_INFO + " edges { cursor node { id createdAt } } } }",
     {"f": {"bbox": {"west": 105.80, "south": 21.00, "east": 105.86, "north": 21.05},
            "statuses": ["RECEIVED", "ASSIGNED", "IN_PROGRESS"]}}),
    ("""query($t: String!) { complaints(filter: {text: $t}, first: 15) { totalCount
        """ + PAGE_INFO + " edges { cursor node { id description } } } }", {"t": "rác"}),
    ("""query($t: String!) { complaints(filter: {text: $t}, first: 15, orderBy: CREATED_AT) {
        edges { cursor node { id } } } }""", {"t": "nước"}),
]
# Outside the plain subset: arguments, async fields, JSON, objects the statement does not build
NOT_PLAIN = [
    "{ complaints(first: 20) { nodes { id attributes } } }",
    "{ complaints(first: 20) { nodes { id history { kind note } } } }",
    "{ complaints(first: 20) { nodes { id possibleDuplicates(first: 2) { score } } } }",
    "{ complaints(first: 20) { nodes { id ward { code parent { code } } } } }",
    "{ complaints(first: 20) { edges { node { id routing { reason } } } } }",
    "{ complaints(first: 20) { nodes { id category { code attributes { code } } } } }",
]


@pytest.fixture(scope="module")
def planted(engine: Engine, accounts: Accounts) -> str:
    """This module's complaint, the newest, in the officers' ward and a sensitive category,
    with personal data and a phone number in its description; its public id."""
    public_id = new_complaint(engine, accounts.ward, category="land.dispute",
                              name="Nguyễn Văn Thử", phone="0900000001",
                              email="thu@example.org")
    with engine.begin() as conn:
        conn.execute(text("UPDATE complaint SET description = :d, address = :a "
                          "WHERE public_id = :id"),
                     {"d": DESCRIPTION, "a": ADDRESS, "id": public_id})
    return public_id


@pytest.fixture(scope="module")
def clients(settings: Settings, engine: Engine, demo: Demo, planted: str
            ) -> Iterator[tuple[TestClient, TestClient]]:
    """(service, regular): the service's app, and one with strawberry's own executor."""
    service_app, regular_app = create_app(settings, engine), create_app(settings, engine)
    assert executor_of(service_app).execution_context_class is execution.SplicingExecutor
    executor_of(regular_app).execution_context_class = StrawberryGraphQLCoreExecutionContext
    with TestClient(service_app) as service, TestClient(regular_app) as regular:
        yield service, regular


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per page the SQL path builds from now on (in this test)."""
    pages: list[int] = []
    fetch = complaint_sql.fetch_page_json

    def counting(*args: Any, **kwargs: Any) -> Any:
        pages.append(1)
        return fetch(*args, **kwargs)

    monkeypatch.setattr(complaint_sql, "fetch_page_json", counting)
    return pages


def post(client: TestClient, document: str, variables: dict[str, Any] | None,
         headers: dict[str, str]) -> bytes:
    response = client.post("/graphql", json={"query": document, "variables": variables},
                           headers=headers)
    assert response.status_code == 200
    return response.content


def both(clients: tuple[TestClient, TestClient], document: str,
         variables: dict[str, Any] | None, headers: dict[str, str]) -> bytes:
    """The answer of both apps, which must be the same bytes, and free of errors."""
    service, regular = (post(client, document, variables, headers) for client in clients)
    assert service == regular
    assert "errors" not in orjson.loads(service), service
    return service


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("document", "variables"), PLAIN)
def test_plain_pages_answer_as_the_regular_executor(
        clients: tuple[TestClient, TestClient], accounts: Accounts, built: list[int],
        caller: str, document: str, variables: dict[str, Any] | None) -> None:
    both(clients, document, variables, accounts.headers(caller))
    assert built == [1]


@pytest.mark.parametrize("caller", ["anonymous", "ward_in", "city_admin"])
@pytest.mark.parametrize("document", NOT_PLAIN)
def test_other_selections_fall_back_to_the_regular_path(
        clients: tuple[TestClient, TestClient], accounts: Accounts, built: list[int],
        caller: str, document: str) -> None:
    both(clients, document, None, accounts.headers(caller))
    assert built == []


@pytest.mark.parametrize(("caller", "order", "near"), [
    ("anonymous", "CREATED_AT", False), ("ward_in", "CREATED_AT", False),
    ("anonymous", "DISTANCE", True), ("city_admin", "DISTANCE", True),
    ("anonymous", "RELEVANCE", False)])
def test_pages_follow_the_same_cursors(
        clients: tuple[TestClient, TestClient], accounts: Accounts, demo: Demo,
        engine: Engine, built: list[int], caller: str, order: str, near: bool) -> None:
    """Page after page by ``endCursor``: the same bytes at each page, cursors included
    (keys with and without microseconds, and distances of 0 m, whole floats, for DISTANCE)."""
    with engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(location), ST_Y(location) FROM complaint "
                                     "ORDER BY id LIMIT 1")).one()
    filter_ = ({"near": {"lon": lon, "lat": lat, "radiusM": 3000}} if near
               else {"text": "rác"} if order == "RELEVANCE" else None)
    document = """query($f: ComplaintFilter, $o: ComplaintOrder, $after: String) {
        complaints(filter: $f, orderBy: $o, first: 7, after: $after) { """ + PAGE_INFO + """
        edges { cursor node { id distanceM lon lat } } } }"""
    after, seen = None, 0
    for _ in range(4):
        answer = both(clients, document, {"f": filter_, "o": order, "after": after},
                      accounts.headers(caller))
        page = orjson.loads(answer)["data"]["complaints"]
        seen += len(page["edges"])
        if near and after is None:
            assert page["edges"][0]["node"]["distanceM"] == 0.0
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen > 7
    assert len(built) > 1


@pytest.mark.parametrize("after", ["not-a-cursor", "WyIyMDI1LTAxLTAxIiwgMV0=",
                                   "WzEuNSwgMTJd"])
def test_bad_cursors_are_refused_the_same_way(
        clients: tuple[TestClient, TestClient], accounts: Accounts, after: str) -> None:
    """A forged cursor, one without a time zone, one from another order: BAD_CURSOR."""
    document = "query($a: String) { complaints(first: 5, after: $a) { edges { cursor } } }"
    service, regular = (post(client, document, {"a": after}, {}) for client in clients)
    assert service == regular
    assert orjson.loads(service)["errors"][0]["extensions"]["code"] == "BAD_CURSOR"


def test_personal_data_follows_the_policy(
        clients: tuple[TestClient, TestClient], accounts: Accounts, planted: str,
        built: list[int]) -> None:
    """The equality above would also hold if both leaked: through the SQL path, the reporter,
    the phone in the description and the address of a sensitive category are shown to the
    reporter and the ward's officer, and to no one else here."""
    service, _ = clients
    document = ("{ complaints(first: 20) { nodes { id description address "
                "reporter { phone } } } }")
    seen = {}
    for caller in ("anonymous", "reporter", "ward_in", "ward_out", "analyst"):
        nodes = orjson.loads(post(service, document, None, accounts.headers(caller))
                             )["data"]["complaints"]["nodes"]
        [seen[caller]] = [node for node in nodes if node["id"] == planted]
    for caller in ("reporter", "ward_in"):
        assert seen[caller]["description"] == DESCRIPTION
        assert seen[caller]["address"] == ADDRESS
        assert seen[caller]["reporter"] == {"phone": "0900000001"}
    for caller in ("anonymous", "ward_out", "analyst"):
        assert "0912 345 678" not in seen[caller]["description"]
        assert "rieng@example.org" not in seen[caller]["description"]
        assert "số 12A ngõ 34" in seen[caller]["description"]
        assert seen[caller]["address"] is None
        assert seen[caller]["reporter"] is None
    assert len(built) == 5


def test_a_plain_page_is_one_statement(
        clients: tuple[TestClient, TestClient], count_statements: StatementCounter) -> None:
    """The page, its relations, its cursors and its count: one statement, at any size (an
    anonymous caller: a token costs its own check)."""
    service, _ = clients
    for first in (5, 100):
        count_statements.statements.clear()
        post(service, f"{{ complaints(first: {first}) {{ totalCount {PAGE_INFO} edges {{ "
                      f"cursor node {{ id {RELATIONS} reporter {{ name }} }} }} }} }}",
             None, {})
        assert len(count_statements.statements) == 1, count_statements.statements


def test_every_page_of_a_listing_runs_one_statement_built_once(
        clients: tuple[TestClient, TestClient], count_statements: StatementCounter) -> None:
    """The cursor is a parameter: the pages after the first share one statement object (its
    SQLAlchemy cache key computed once) and one prepared statement, whatever the cursor; a
    filter that cannot be a cache key (it holds a list) is built each time."""
    service, _ = clients
    document = "query($after: String) { complaints(first: 3, after: $after) { pageInfo { " \
               "endCursor } edges { node { id } } } }"
    after, texts = None, set()
    hits = complaint_sql._page_json_statement.cache_info().hits
    for _ in range(4):
        count_statements.statements.clear()
        answer = orjson.loads(post(service, document, {"after": after}, {}))
        after = answer["data"]["complaints"]["pageInfo"]["endCursor"]
        texts.update(count_statements.statements)
    assert len(texts) == 2  # the first page's, and every later page's
    assert complaint_sql._page_json_statement.cache_info().hits - hits >= 2
    listed = complaint_sql.ComplaintFilter(categories=["other"])  # a list: unhashable
    built = complaint_sql.page_json_statement(
        select(complaint.c.id), listed, complaint_sql.Order.CREATED_AT, False)
    assert "category_code IN" in str(built)
