"""Cost, not just shape: documents are measured in one pass (each fragment once), and a request
whose estimated cost is over its caller's budget is refused before any resolver runs.

The estimates are checked against hand computations: geodesic areas from pyproj, the area of a
hexagon (3√3/2 · s²), a band's disc (π b²)."""

import json
import math
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyproj
import pytest
from graphql import OperationDefinitionNode, get_operation_ast, parse
from shapely.geometry import box
from sqlalchemy import Engine
from starlette.testclient import TestClient

from app import create_app
from resolvers.root import build_schema
from schema.cost import (
    DEFAULT_ITEMS,
    FACTS,
    UNIT_WORK,
    Aliases,
    Depth,
    Env,
    Facts,
    operation_cost,
    read_facts,
)
from settings import Settings
from tests.conftest import Accounts, Demo, GraphQLClient, StatementCounter
from tests.live_server import live_server

GEOD = pyproj.Geod(ellps="WGS84")
HEXAGON = 1.5 * math.sqrt(3)  # a hexagon of edge s covers HEXAGON · s²
README = Path(__file__).parent.parent / "README.md"

# The attacks of issue 10: 25 aliased Gi* analyses over the whole city, and one weekly
# emerging hot spot analysis over the data's span, with 350 m cells and a 17.5 km band.
ATTACK_CELL_M, ATTACK_BAND_M, ATTACK_ALIASES = 350.0, 17_500.0, 25
ALIASED_HOTSPOTS = "{ " + " ".join(
    f"h{n}: hotspots(unit: GRID, cellSizeM: {ATTACK_CELL_M}, distanceBandM: {ATTACK_BAND_M}) "
    f"{{ features {{ id z }} }}" for n in range(ATTACK_ALIASES)) + " }"
WEEKLY_EMERGING = (f"{{ emergingHotspots(period: WEEK, cellSizeM: {ATTACK_CELL_M}, "
                   f"distanceBandM: {ATTACK_BAND_M}) {{ features {{ id pattern }} }} }}")


def fragment_bomb(leaf: str, levels: int = 40) -> str:
    """``levels`` fragments, each spreading the next twice: 2^levels copies of ``leaf``."""
    fragments = [f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)]
    fragments.append(f"fragment F{levels} on Query {{ {leaf} }}")
    return "query Bomb { ...F0 }\n" + "\n".join(fragments)


def geodesic_m2(west: float, south: float, east: float, north: float) -> float:
    """The area of a lon/lat box on the WGS84 ellipsoid, its parallels densified."""
    outline = box(west, south, east, north).segmentize(0.001)
    return abs(GEOD.geometry_area_perimeter(outline)[0])


def cost_of(query: str, facts: Facts, variables: dict[str, Any] | None = None,
            settings: Settings | None = None) -> int:
    settings = settings or Settings()
    document = parse(query)
    env = Env(settings, datetime.now(UTC), facts)
    return operation_cost(build_schema(settings)._schema, document, get_operation_ast(document),
                          variables, env)


CITY = Facts(territory_km2=3_000.0, areas={"city": 1, "district": 12, "ward": 300},
             first_complaint=datetime(2026, 1, 1, tzinfo=UTC))


def post(url: str, body: dict[str, Any] | None = None, timeout: float = 10) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())


# --- Linear validation ----------------------------------------------------------------------

def test_fragment_bomb_is_refused_while_healthz_answers(settings: Settings, engine: Engine,
                                                        demo: Demo) -> None:
    """Bombs in flight on a live server (the old depth limiter walked 2^40 spreads on the
    event loop for minutes); /healthz answers meanwhile, and every bomb gets a coded refusal
    within the clients' generous timeout."""
    bomb = {"query": fragment_bomb("categories { code }")}
    with live_server(create_app(settings, engine)) as url, ThreadPoolExecutor(4) as pool:
        bombs = [pool.submit(post, f"{url}/graphql", bomb) for _ in range(3)]
        health = pool.submit(post, f"{url}/healthz", None, 5)
        assert health.result() == (200, {"status": "ok", "database": True})
        for sent in bombs:
            status, body = sent.result()
            assert status == 200 and body["data"] is None
            assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


@pytest.mark.parametrize(("leaf", "code"), [
    ("categories { code }", "QUERY_TOO_COSTLY"),
    ("a: categories { code }", "TOO_MANY_ALIASES"),
])
def test_fragment_bombs_get_coded_refusals(gql: GraphQLClient, leaf: str, code: str) -> None:
    body = gql(fragment_bomb(leaf))
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]


def test_measures_read_each_fragment_once_and_survive_cycles() -> None:
    """The exact counts of a bomb (2^40 aliases: counted, not walked), and a cycle of
    fragments, which graphql-core's rule refuses but our measures may see first."""
    bomb = parse(fragment_bomb("parent { a: code b: name }"))
    operation = get_operation_ast(bomb)
    assert Aliases(bomb).selections(operation.selection_set, None) == 2 * 2**40
    assert Depth(bomb).selections(operation.selection_set, None) == 1

    cycle = parse("{ ...A } fragment A on Query { x: categories { ...B } } "
                  "fragment B on Category { code ...A }")
    operation = get_operation_ast(cycle)
    assert Aliases(cycle).selections(operation.selection_set, None) == 1
    assert Depth(cycle).selections(operation.selection_set, None) == 1


def test_cyclic_fragments_are_a_validation_error(gql: GraphQLClient) -> None:
    body = gql("{ ...A } fragment A on Query { categories { code } ...B } "
               "fragment B on Query { ...A }")
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}


def test_shape_limits_count_through_fragments(gql: GraphQLClient) -> None:
    nested = "code"
    for _ in range(11):
        nested = f"parent {{ {nested} }}"
    deep = f"{{ jurisdiction(lon: 105.85, lat: 21.03) {{ ...W }} }} fragment W on " \
           f"Jurisdiction {{ ward {{ {nested} }} }}"
    assert gql.error_code(deep) == "QUERY_TOO_DEEP"
    aliases = " ".join(f"a{n}: code" for n in range(16))
    twice = f"{{ categories {{ ...C ...C }} }} fragment C on Category {{ {aliases} }}"
    assert gql.error_code(twice) == "TOO_MANY_ALIASES"  # 2 × 16 > 30
    assert "errors" not in gql(f"{{ categories {{ ...C }} }} fragment C on Category "
                               f"{{ {aliases} }}")


# --- Cost estimates against hand computations ------------------------------------------------

def test_grid_cost_is_the_cells_of_its_box() -> None:
    west, south, east, north = 105.78, 20.98, 105.92, 21.08
    query = f"""{{ grid(cellSizeM: 500, bbox: {{west: {west}, south: {south}, east: {east},
                                             north: {north}}}) {{ cells {{ count }} }} }}"""
    cells = geodesic_m2(west, south, east, north) / (HEXAGON * 500**2)
    assert cost_of(query, CITY) == pytest.approx(1 + cells + cells * (1 + 1), rel=0.005)


def test_hotspot_cost_is_cells_times_neighbours() -> None:
    west, south, east, north = 105.80, 20.98, 105.90, 21.06
    query = f"""{{ hotspots(unit: GRID, cellSizeM: 500, distanceBandM: 1500,
                           filter: {{bbox: {{west: {west}, south: {south}, east: {east},
                                            north: {north}}}}}) {{ features {{ id z }} }} }}"""
    cell = HEXAGON * 500**2
    cells = geodesic_m2(west, south, east, north) / cell
    neighbours = 1 + math.pi * 1500**2 / cell
    # the field, its cells and pairs, and per cell: `features` and its two leaves
    expected = 1 + UNIT_WORK * cells + cells * neighbours + cells * (1 + 2)
    assert cost_of(query, CITY) == pytest.approx(expected, rel=0.005)

    squares = query.replace("cellSizeM: 500", "shape: SQUARE, cellSizeM: 500")
    cells, neighbours = cells * HEXAGON, 1 + math.pi * 1500**2 / 500**2
    expected = 1 + UNIT_WORK * cells + cells * neighbours + 3 * cells
    assert cost_of(squares, CITY) == pytest.approx(expected, rel=0.005)


def test_analyses_without_an_area_cover_the_territory() -> None:
    """Without a spatial filter, the territory: in cells, or the wards themselves. The k
    nearest of each unit are searched among all units."""
    cell = HEXAGON * 1_000**2
    cells = CITY.territory_km2 * 1e6 / cell  # type: ignore[operator]
    query = "{ hotspots(cellSizeM: 1000, distanceBandM: 3000) { features { id } } }"
    expected = 1 + UNIT_WORK * cells + cells * (1 + math.pi * 3000**2 / cell) + cells * 2
    assert cost_of(query, CITY) == pytest.approx(expected, abs=1)
    wards = "{ hotspots(unit: WARD, k: 6) { features { id } } }"
    assert cost_of(wards, CITY) == 1 + UNIT_WORK * 300 + 300 * 300 + 300 * 7 + 300 * 2


def test_emerging_cost_multiplies_by_time_steps() -> None:
    """70 days touch at most 11 weeks or 3 months (of 28 days, the shortest)."""
    window = '{createdFrom: "2026-03-02T00:00:00+07:00", createdTo: "2026-05-11T00:00:00+07:00",' \
             ' near: {lon: 105.85, lat: 21.03, radiusM: 4000}}'
    cell = HEXAGON * 400**2
    cells = math.pi * 4000**2 / cell
    neighbours = 1 + math.pi * 1200**2 / cell
    for period, steps in (("WEEK", 11), ("MONTH", 3)):
        query = (f"{{ emergingHotspots(period: {period}, cellSizeM: 400, distanceBandM: 1200, "
                 f"filter: {window}) {{ features {{ id }} }} }}")
        expected = 1 + UNIT_WORK * cells + cells * neighbours * steps + cells * 2
        assert cost_of(query, CITY) == pytest.approx(expected, abs=1)


def test_nested_lists_multiply_by_the_page_size() -> None:
    query = "query($n: Int!) { complaints(first: $n) { edges { node { id history { kind } } } } }"
    per_complaint = 1 + 1 + 1 + (1 + DEFAULT_ITEMS * 1)  # edges, node, id, history × kind
    for n in (1, 10, 100):
        assert cost_of(query, CITY, {"n": n}) == 1 + n + n * per_complaint
    # Beyond the page limit the resolver refuses; the estimate counts the limit.
    limit = Settings().max_page_size
    assert cost_of(query, CITY, {"n": 10 * limit}) == 1 + limit + limit * per_complaint

    batch = "query($p: [PointInput!]!) { jurisdictions(points: $p) { ward { code name } } }"
    points = [{"lon": 105.85, "lat": 21.03}] * 3
    assert cost_of(batch, CITY, {"p": points}) == 1 + 3 + 3 * (1 + 1 * 2)


def test_when_the_area_durations_were_read_costs_what_reading_them_does() -> None:
    """`areaDurationsAsOf` is one value, but asking for it reads every area's durations: it
    costs the wards, as `byWard` does, so aliasing it cannot hide that work; `durationsAsOf`
    reads no more than `summary`."""
    assert cost_of("{ stats { areaDurationsAsOf } }", CITY) == 1 + (1 + 300)
    assert cost_of("{ stats { durationsAsOf } }", CITY) == 1 + 1
    aliased = "{ " + " ".join(f"s{n}: stats {{ areaDurationsAsOf }}" for n in range(30)) + " }"
    assert cost_of(aliased, CITY) == 30 * (1 + 1 + 300)


def test_aliases_and_spreads_add_up() -> None:
    one = "hotspots(cellSizeM: 800, distanceBandM: 2000) { features { id z } }"
    single = cost_of(f"{{ {one} }}", CITY)
    assert cost_of(f"{{ a: {one} b: {one} }}", CITY) == pytest.approx(2 * single, abs=1)
    spread = f"{{ ...H ...H }} fragment H on Query {{ {one} }}"
    assert cost_of(spread, CITY) == pytest.approx(2 * single, abs=1)


def test_unsent_variables_do_not_hide_a_cost() -> None:
    """A variable left unsent inside a literal leaves that input field out, as in execution."""
    query = ("query($c: [String!]) { hotspots(cellSizeM: 350, distanceBandM: 17500, "
             "filter: {categories: $c}) { features { id } } }")
    plain = "{ hotspots(cellSizeM: 350, distanceBandM: 17500) { features { id } } }"
    assert cost_of(query, CITY) == cost_of(plain, CITY) > Settings().cost_budget_anonymous


# --- Budgets -----------------------------------------------------------------------------------

def test_aliased_heavy_analyses_are_refused_before_any_resolver(
        gql: GraphQLClient, demo: Demo, count_statements: StatementCounter) -> None:
    body = gql(ALIASED_HOTSPOTS)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["budget"] == Settings().cost_budget_anonymous
    assert error["extensions"]["cost"] > error["extensions"]["budget"]
    # Independent of the stored areas: the city's geodesic area in 350 m hexagons.
    cell = HEXAGON * ATTACK_CELL_M**2
    cells = abs(GEOD.geometry_area_perimeter(demo.outline)[0]) / cell
    neighbours = 1 + math.pi * ATTACK_BAND_M**2 / cell
    expected = ATTACK_ALIASES * (1 + UNIT_WORK * cells + cells * neighbours + cells * 3)
    assert error["extensions"]["cost"] == pytest.approx(expected, rel=0.01)
    # No analysis ran: the only statement, if any, read the facts the estimate needs.
    assert all(statement == FACTS.text for statement in count_statements.statements)

    assert gql.error_code(WEEKLY_EMERGING) == "QUERY_TOO_COSTLY"


def test_budgets_follow_the_callers_role(settings: Settings, engine: Engine,
                                         accounts: Accounts) -> None:
    budgets = {"cost_budget_anonymous": 1_001, "cost_budget_citizen": 1_002,
               "cost_budget_official": 1_003, "cost_budget_analyst": 1_004}
    expected = {"anonymous": 1_001, "reporter": 1_002, "ward_in": 1_003,
                "district_out": 1_003, "city_admin": 1_003, "analyst": 1_004}
    app = create_app(settings.model_copy(update=budgets), engine)
    with TestClient(app) as client:
        for caller, budget in expected.items():
            body = client.post("/graphql", json={"query": WEEKLY_EMERGING},
                               headers=accounts.headers(caller)).json()
            assert body["errors"][0]["extensions"]["budget"] == budget, caller


def test_a_higher_analyst_budget_admits_what_anonymous_callers_may_not(
        settings: Settings, engine: Engine, accounts: Accounts, demo: Demo) -> None:
    """Three aliased analyses of a district-sized area: over a small anonymous budget, within
    the analysts' larger one, and then really run."""
    centre = demo.outline.centroid
    near = f"{{lon: {centre.x}, lat: {centre.y}, radiusM: 5000}}"
    query = "{ " + " ".join(
        f"h{n}: hotspots(cellSizeM: 500, distanceBandM: {1000 + 100 * n}, "
        f"filter: {{near: {near}}}) {{ features {{ id z }} }}" for n in range(3)) + " }"
    cost = cost_of(query, CITY)  # the disc is far smaller than the city: no facts matter
    budgets = {"cost_budget_anonymous": cost // 2, "cost_budget_analyst": cost * 2}
    with TestClient(create_app(settings.model_copy(update=budgets), engine)) as client:
        refused = client.post("/graphql", json={"query": query}).json()
        assert refused["errors"][0]["extensions"] == {
            "code": "QUERY_TOO_COSTLY", "cost": cost, "budget": cost // 2}
        admitted = client.post("/graphql", json={"query": query},
                               headers=accounts.headers("analyst")).json()
        assert "errors" not in admitted, admitted["errors"]
        assert all(admitted["data"][f"h{n}"]["features"] for n in range(3))


def test_readme_examples_fit_the_anonymous_budget(engine: Engine, demo: Demo) -> None:
    """Calibration: every GraphQL example of the README, measured against the demo city."""
    with engine.connect() as conn:
        env = Env(Settings(), datetime.now(UTC), read_facts(conn))
    schema = build_schema(Settings())._schema
    blocks = re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert blocks
    for block in blocks:
        document = parse(block)
        for operation in document.definitions:
            if isinstance(operation, OperationDefinitionNode):
                cost = operation_cost(schema, document, operation, None, env)
                assert cost <= Settings().cost_budget_anonymous, (cost, block[:200])

