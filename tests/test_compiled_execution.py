"""The compiled completion of lists (schema/execution.py) answers exactly as graphql-core's
regular executor: the same documents, run by every kind of caller through two apps on the same
database, one with the compiled executor and one with strawberry's own, give the same bytes.
And the documents kept parsed and validated across requests are still refused each time they
are too deep, too wide or too costly."""

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import strawberry
from sqlalchemy import Engine
from starlette.testclient import TestClient
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app import create_app
from bench.jurisdiction import GRAPHQL_PAGE
from bench.load import PAGE as LOAD_PAGE
from schema import execution
from settings import Settings
from tests.conftest import Accounts, Demo, new_complaint

NODE = """id status createdAt updatedAt dueAt lon lat location version channel mediaUrls
  address description supportCount duplicateOf viewerMayAct overdue expectedDatetime
  rating rejectionReason firstActionAt resolvedAt distanceM"""
PERSONAL = "reporter { name phone email } attributes"
RELATIONS = """category { code nameVi nameEn domain slaHours sensitive retired }
  ward { code name nameEn level areaKm2 population }
  district { code name } city { code }"""
# (document, variables, a list's item type, whether a plan completes that list: not when
# one of its fields is async; lists inside, such as the history, may have their own plans)
DOCUMENTS = [
    # the page of 100, and the load benchmark's pages of 20
    (GRAPHQL_PAGE, None, "ComplaintEdge", True),
    (LOAD_PAGE, {"after": None}, "ComplaintEdge", True),
    (f"{{ complaints(first: 50) {{ nodes {{ {NODE} {RELATIONS} }} }} }}", None, "Complaint", True),
    (f"{{ complaints(first: 30) {{ nodes {{ {NODE} {PERSONAL} }} }} }}", None, "Complaint", True),
    # async fields (history, photos, supporters) leave the list to graphql-core
    ("{ complaints(first: 20) { nodes { id history { kind actor note } photos { url } "
     "ward { parent { code name } } "
     "supporters { name } } } }", None, "Complaint", False),
    # fragments, aliases, __typename, directives driven by variables
    ("""query($more: Boolean!) { complaints(first: 40) { edges { node { ...F
        where: ward { __typename label: name } } } } }
        fragment F on Complaint { __typename id ... on Complaint { status
        reporter @include(if: $more) { name } district @skip(if: $more) { code } } }""",
     {"more": True}, "ComplaintEdge", True),
    ("""query($more: Boolean!) { complaints(first: 40) { edges { node { ...F } } } }
        fragment F on Complaint { id reporter @include(if: $more) { name }
        district @skip(if: $more) { code } }""", {"more": False}, "ComplaintEdge", True),
    ("{ areas(level: WARD) { code name level parent { code } } "
     "categories { code nameVi } generations { name inForce } }", None, "Category", True),
    # lists of numbers per unit, answered as they are when they are what serialize returns
    ("{ emergingHotspots(period: MONTH, cellSizeM: 1000, distanceBandM: 2500) { steps "
     "features { id pattern trendZ trendP counts z bins geometry } } }", None,
     "EmergingFeature", True),
]


def executor_of(app: Any) -> Any:
    """The strawberry schema that serves ``/graphql`` in ``app``."""
    return next(route.app.schema for route in app.routes
                if getattr(route, "path", None) == "/graphql"
                and hasattr(getattr(route, "app", None), "schema"))


@pytest.fixture(scope="module")
def own(engine: Engine, demo: Demo, accounts: Accounts) -> str:
    """This module's complaint, the newest, in the officers' ward, with personal data, so
    that privacy rules have something to hide; its public id."""
    return new_complaint(engine, accounts.ward, name="Nguyễn Văn Thử", phone="0900000001",
                         email="thu@example.org")


@pytest.fixture(scope="module")
def clients(settings: Settings, engine: Engine, own: str
            ) -> Iterator[tuple[TestClient, TestClient]]:
    """(compiled, regular): two apps on the session's database."""
    compiled_app, regular_app = create_app(settings, engine), create_app(settings, engine)
    assert issubclass(executor_of(compiled_app).execution_context_class,
                      execution.CompiledExecutor)
    # Without the SQL path for plain pages (tests/test_page_json.py), which the service's
    # executor takes: here the lists of those pages are completed by plans.
    executor_of(compiled_app).execution_context_class = execution.CompiledExecutor
    executor_of(regular_app).execution_context_class = StrawberryGraphQLCoreExecutionContext
    with TestClient(compiled_app) as compiled, TestClient(regular_app) as regular:
        yield compiled, regular


@pytest.mark.parametrize("caller", ["anonymous", "reporter", "ward_in", "ward_out",
                                    "district_in", "agency_in", "city_admin", "analyst"])
@pytest.mark.parametrize(("document", "variables", "item", "compiles"), DOCUMENTS)
def test_compiled_lists_answer_as_the_regular_executor(
        clients: tuple[TestClient, TestClient], accounts: Accounts, caller: str,
        document: str, variables: dict[str, Any] | None, item: str, compiles: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    planned = count_plans(monkeypatch)
    fast, slow = both(clients, document, variables, accounts.headers(caller))
    assert fast == slow  # same data, same order, same serialisation
    assert (item in planned) is compiles, planned


@strawberry.type
class Numbers:
    ints: list[int]
    floats: list[float]
    maybe: list[float | None]
    one: int
    real: float | None
    name: str


NUMBERS = [  # (ints, floats, maybe, one, real, name)
    ([1, -2, 2**31 - 1, -2**31], [0.5, -1e300, 3.0], [None, 2.5], 7, 0.1, "tên"),  # as is
    ([True, 0], [1.0], [None], True, None, "x"),  # a bool is an Int of 1 to GraphQL
    ([1], [2], [None, 7], 1, 3, 5),  # ints are Floats written 2.0, 7.0, and a String "5"
    ([2**31], [1.0], [None], 1, 1.0, "x"),  # out of an Int's range: an error
    ([1], [float("nan")], [None], 1, 1.0, "x"),  # not finite: an error
    ([1], [1.0], [None], -2**31 - 1, float("inf"), "x"),  # and alone
]


@pytest.mark.parametrize("row", NUMBERS)
def test_numbers_and_strings_answer_as_serialize_would(row: tuple[list[Any], ...]) -> None:
    """Ints, Floats and Strings answered as they are, alone or in lists, give the bytes of
    graphql-core's own completion, errors included; anything serialize would change goes
    through serialize."""
    @strawberry.type
    class Query:
        @strawberry.field
        def rows(self) -> list[Numbers]:
            names = ("ints", "floats", "maybe", "one", "real", "name")
            return [Numbers(**dict(zip(names, values, strict=True)))
                    for values in (row, ([3], [4.5], [None], 3, 4.5, "y"))]

    document = "{ rows { ints floats maybe one real name } }"
    answers = [strawberry.Schema(Query, execution_context_class=context).execute_sync(document)
               for context in (execution.CompiledExecutor, StrawberryGraphQLCoreExecutionContext)]
    fast, slow = [(orjson.dumps(a.data), [str(e) for e in a.errors or []]) for a in answers]
    assert fast == slow
    errors = fast[1]
    assert all("cannot represent" in e for e in errors)  # the values', not the resolver's
    assert errors or len(orjson.loads(fast[0])["rows"]) == 2


def test_a_plan_that_meets_an_awaitable_hands_the_list_back(
        clients: tuple[TestClient, TestClient], accounts: Accounts,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Relations not fetched with the page answer through their DataLoader (an awaitable):
    the plan starts, stops at the first one, and graphql-core completes the list."""
    monkeypatch.setattr("context.Loaders.remember", lambda self, found: None)
    planned = count_plans(monkeypatch)
    fast, slow = both(clients, DOCUMENTS[0][0], None, accounts.headers("ward_in"))
    assert fast == slow
    assert planned == ["ComplaintEdge", "Complaint"]  # the first edge, then given up


def count_plans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The types of the objects plans complete from now on (in this test)."""
    planned: list[str] = []
    complete = execution.ObjectPlan.complete

    def counting(plan: execution.ObjectPlan, *args: Any) -> Any:
        planned.append(plan.type_.name)
        return complete(plan, *args)

    monkeypatch.setattr(execution.ObjectPlan, "complete", counting)
    return planned


def both(clients: tuple[TestClient, TestClient], document: str,
         variables: dict[str, Any] | None, headers: dict[str, str]) -> tuple[bytes, bytes]:
    """The answers of the compiled and the regular app, which must be free of errors."""
    answers = []
    for client in clients:
        response = client.post("/graphql", json={"query": document, "variables": variables},
                               headers=headers)
        assert response.status_code == 200
        assert "errors" not in response.json(), response.json()["errors"]
        answers.append(response.content)
    return answers[0], answers[1]


def test_a_complaints_reporter_is_shown_only_where_the_policy_says(
        clients: tuple[TestClient, TestClient], accounts: Accounts, own: str) -> None:
    """The equality above would also hold if both leaked: the compiled app shows this
    module's complaint's reporter to the officer of its ward and to no one else here."""
    compiled, _ = clients
    query = {"query": "{ complaints(first: 20) { nodes { id reporter { phone } } } }"}
    seen = {}
    for caller in ("anonymous", "ward_in", "ward_out", "analyst"):
        nodes = compiled.post("/graphql", json=query, headers=accounts.headers(caller)
                              ).json()["data"]["complaints"]["nodes"]
        [seen[caller]] = [node["reporter"] for node in nodes if node["id"] == own]
    assert seen == {"anonymous": None, "ward_in": {"phone": "0900000001"},
                    "ward_out": None, "analyst": None}


def test_kept_documents_are_refused_every_time(settings: Settings, engine: Engine) -> None:
    """A document's parse and validation are kept across requests; its refusal is kept too,
    and its cost, which depends on the variables, is estimated at every request."""
    nested = "code"
    for _ in range(settings.max_query_depth):
        nested = f"parent {{ {nested} }}"
    deep = f"{{ jurisdiction(lon: 105.85, lat: 21.03) {{ ward {{ {nested} }} }} }}"
    wide = "{ categories { " + " ".join(f"a{n}: code" for n in range(
        settings.max_aliases + 1)) + " } }"
    heavy = ("query($cell: Float!) { hotspots(cellSizeM: $cell, distanceBandM: 17500) "
             "{ features { id } } }")
    with TestClient(create_app(settings, engine)) as client:
        def code(query: str, variables: dict[str, Any] | None = None) -> str | None:
            body = client.post("/graphql", json={"query": query,
                                                 "variables": variables}).json()
            return body["errors"][0]["extensions"]["code"] if body.get("errors") else None

        for _ in range(3):
            assert code(deep) == "QUERY_TOO_DEEP"
            assert code(wide) == "TOO_MANY_ALIASES"
        assert code(heavy, {"cell": 350}) == "QUERY_TOO_COSTLY"
        assert code(heavy, {"cell": 5000}) is None  # the same document, cheap variables
        assert code(heavy, {"cell": 350}) == "QUERY_TOO_COSTLY"
