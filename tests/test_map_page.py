"""The pages of web/ (the planner's map, GraphiQL) in a real browser: Debian's Chromium, driven
by Playwright, against a live uvicorn serving the seeded test database.

What the page draws is read back through MapLibre's own API (``queryRenderedFeatures``,
``getFeatureState``) and compared with the rows (SQL), with shapely, or, where the page's job is
to show what the API answers, with the same GraphQL question asked directly.
"""

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyogrio.raw
import pytest
import shapely
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app import WEB_DIST, create_app, map_routes
from settings import Settings
from tests.conftest import Demo, GraphQLClient
from tests.layers_support import generation_in_force
from tests.live_server import live_server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWPORT = {"width": 1400, "height": 900}

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"Chromium is not installed at {CHROMIUM} (scripts/ensure_system.sh --test installs "
           f"Debian's chromium)")

# The page has settled: no request of its own in flight, the map's sources loaded, one more
# frame drawn (so queryRenderedFeatures sees the newest data).
SETTLED = ("() => window.map && document.body.dataset.busy === '0' && window.map.loaded()"
           " && window.map.areTilesLoaded()")
NEXT_IDLE = "() => new Promise((done) => { map.once('idle', done); map.triggerRepaint(); })"


def rendered(page: Page, layer: str, key: str) -> list[Any]:
    """``key`` of every feature of a style layer drawn on screen now."""
    return page.evaluate(
        "([layer, key]) => map.queryRenderedFeatures({layers: [layer]})"
        ".map((f) => f.properties[key])", [layer, key])


def ward_counts(page: Page, codes: Any) -> dict[str, int]:
    """The complaint count the choropleth holds for each ward (its feature state)."""
    return page.evaluate("""(codes) => Object.fromEntries(codes.map((code) => [code,
        map.getFeatureState({source: 'wards', sourceLayer: 'wards', id: code}).count]))""",
                         sorted(codes))


def settle(page: Page) -> None:
    page.wait_for_function(SETTLED, timeout=60_000)
    page.evaluate(NEXT_IDLE)


@pytest.fixture(scope="module")
def server(settings: Settings, engine: Engine, demo: Demo) -> Iterator[str]:
    assert (WEB_DIST / "index.html").is_file(), "the map page is not built: run `make web`"
    with live_server(create_app(settings, engine)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page; the test fails if the page logs an error or throws."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text} ({message.location})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield page
    context.close()
    assert not problems, problems


def open_map(page: Page, server: str, query: str = "") -> None:
    page.goto(f"{server}/map{query}")
    settle(page)


def click_at(page: Page, lon: float, lat: float) -> None:
    """Click the map where (lon, lat) is drawn."""
    point = page.evaluate("""([lon, lat]) => {
        const box = map.getContainer().getBoundingClientRect();
        const at = map.project([lon, lat]);
        return {x: box.left + at.x, y: box.top + at.y};
    }""", [lon, lat])
    page.mouse.click(point["x"], point["y"])


def query_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def routed_counts(engine: Engine) -> dict[str, int]:
    """Complaints per ward they were routed to (the generation in force holds them all)."""
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT w.code, count(*) FROM complaint c JOIN admin_area w ON w.id = c.ward_id
            GROUP BY w.code""")).all()
    return {code: n for code, n in rows}


def test_page_loads_and_draws_the_platforms_layers(page: Page, server: str, demo: Demo,
                                                   engine: Engine) -> None:
    open_map(page, server)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map_page.png"))

    wards = {a.code for a in generation_in_force(demo).areas if a.level == "ward"}
    districts = {a.code for a in generation_in_force(demo).areas if a.level == "district"}
    assert set(rendered(page, "ward-fill", "code")) == wards  # the whole city is in view
    assert set(rendered(page, "ward-line", "code")) == wards
    assert len(rendered(page, "district-line", "code")) >= len(districts)
    bins = rendered(page, "hotspot-fill", "bin")
    assert bins and set(bins) <= {-3, -2, -1, 1, 2, 3}  # only significant cells are drawn
    assert rendered(page, "cluster-line", "count")
    assert rendered(page, "complaint-circle", "public_id") == []  # points wait for zoom 13
    assert rendered(page, "grid-fill", "count") == []  # off by default

    # The choropleth: every ward's count (feature state from areaStats) is the number of
    # complaints routed to it.
    counts = routed_counts(engine)
    states = ward_counts(page, wards)
    assert states == {code: counts.get(code, 0) for code in wards}

    legend = page.locator("#legend .legend-block")
    assert legend.evaluate_all("blocks => blocks.map((b) => b.dataset.layer)") == [
        "choropleth", "boundaries", "hotspots", "clusters", "complaints"]
    assert page.locator("#legend [data-layer=hotspots] li").count() == 6  # 3 hot, 3 cold bins
    assert page.title() == "Bản đồ điểm nóng phản ánh"


def test_category_filter_changes_hotspots_url_points_and_link(page: Page, server: str,
                                                             gql: GraphQLClient,
                                                             engine: Engine) -> None:
    open_map(page, server)
    before = set(zip(rendered(page, "hotspot-fill", "id"), rendered(page, "hotspot-fill", "bin"),
                     strict=True))
    with engine.connect() as conn:
        category, lon, lat = conn.execute(text("""
            SELECT category_code, ST_X(location), ST_Y(location) FROM complaint
            WHERE category_code = (SELECT category_code FROM complaint GROUP BY 1
                                   ORDER BY count(*) DESC, 1 LIMIT 1)
            ORDER BY public_id LIMIT 1""")).one()

    page.select_option("#category", category)
    settle(page)
    assert query_of(page)["category"] == [category]
    after = set(zip(rendered(page, "hotspot-fill", "id"), rendered(page, "hotspot-fill", "bin"),
                    strict=True))
    assert after != before
    answer = gql.data("""query ($c: [String!]) { hotspots(unit: GRID, cellSizeM: 500,
        distanceBandM: 1500, filter: {categories: $c}) { features { id bin } } }""",
                      {"c": [category]})["hotspots"]["features"]
    assert after == {(f["id"], f["bin"]) for f in answer if f["bin"]}

    # Zoomed in, only complaints of the category are drawn.
    page.evaluate("([lon, lat]) => map.jumpTo({center: [lon, lat], zoom: 15})", [lon, lat])
    settle(page)
    shown = rendered(page, "complaint-circle", "category_code")
    assert shown and set(shown) == {category}

    # The shared link reopens the same view with the same filter.
    link = page.url
    page.goto("about:blank")
    page.goto(link)
    settle(page)
    assert page.input_value("#category") == category
    assert page.evaluate("map.getZoom()") == pytest.approx(15, abs=0.01)
    assert rendered(page, "complaint-circle", "category_code")


def test_agency_filter_narrows_every_layer_and_the_link(page: Page, server: str,
                                                        gql: GraphQLClient,
                                                        engine: Engine) -> None:
    """The planner's agency filter: choropleth counts, hot spots and the complaints drawn are
    those routed to the agency (compared with the rows and with the API asked directly)."""
    with engine.connect() as conn:
        agency, lon, lat = conn.execute(text("""
            SELECT agency_code, ST_X(location), ST_Y(location) FROM complaint
            WHERE agency_code = (SELECT agency_code FROM complaint WHERE agency_code IS NOT NULL
                                 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1)
            ORDER BY public_id LIMIT 1""")).one()
        routed = dict(conn.execute(text("SELECT public_id, agency_code FROM complaint")).all())
        per_ward = dict(conn.execute(text("""
            SELECT w.code, count(*) FROM complaint c JOIN admin_area w ON w.id = c.ward_id
            WHERE c.agency_code = :a GROUP BY w.code"""), {"a": agency}).all())
    open_map(page, server)
    assert page.locator("#agency optgroup").count() >= 3  # grouped by kind
    page.select_option("#agency", agency)
    settle(page)
    assert query_of(page)["agency"] == [agency]
    counts = ward_counts(page, per_ward)
    assert counts == per_ward
    shown = set(zip(rendered(page, "hotspot-fill", "id"), rendered(page, "hotspot-fill", "bin"),
                    strict=True))
    answer = gql.data("""query ($a: [String!]) { hotspots(unit: GRID, cellSizeM: 500,
        distanceBandM: 1500, filter: {agencyCodes: $a}) { features { id bin } } }""",
                      {"a": [agency]})["hotspots"]["features"]
    assert shown == {(f["id"], f["bin"]) for f in answer if f["bin"]}
    page.evaluate("([lon, lat]) => map.jumpTo({center: [lon, lat], zoom: 15})", [lon, lat])
    settle(page)
    dots = rendered(page, "complaint-circle", "public_id")
    assert dots and {routed[d] for d in dots} == {agency}


def test_export_link_has_the_filters_and_the_view(page: Page, server: str, engine: Engine,
                                                  tmp_path: Path) -> None:
    open_map(page, server, "?status=RESOLVED#view=12/21.03/105.85")
    href = page.get_attribute("#export-links a[data-layer=complaints][data-format=geojson]",
                              "href")
    params = parse_qs(urlsplit(href).query)
    assert params["status"] == ["RESOLVED"]
    west, south, east, north = map(float, params["bbox"][0].split(","))
    assert west < 105.85 < east and south < 21.03 < north

    path = tmp_path / "view.geojson"
    with urllib.request.urlopen(href) as response:
        path.write_bytes(response.read())
    _, _, geometry, (statuses,) = pyogrio.raw.read(path, columns=["status"])
    points = shapely.from_wkb(geometry)
    box = shapely.box(west, south, east, north)
    with engine.connect() as conn:  # candidates by the index's box, decided by shapely
        candidates = conn.execute(text("""
            SELECT ST_AsBinary(footprint) FROM complaint WHERE status = 'RESOLVED'
              AND footprint && ST_Expand(ST_MakeEnvelope(:w, :s, :e, :n, 4326), 0.001)"""),
            {"w": west, "s": south, "e": east, "n": north}).scalars().all()
    expected = sum(shapely.intersects(box, shapely.from_wkb(bytes(g))) for g in candidates)
    assert len(points) == expected > 0
    assert set(statuses) == {"RESOLVED"}
    assert shapely.intersects(box, points).all()


def test_status_groups_come_from_the_api(page: Page, server: str) -> None:
    """The page keeps no copy of the status lists: answer its catalogue with other groups
    (REOPENED counted as processed) and the status choices and the point colours follow."""
    def catalogue(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        if "query Catalogue" in (route.request.post_data or ""):
            for status in body["data"]["workflow"]["statuses"]:
                if status["name"] == "REOPENED":
                    status.update(open=False, processed=True)
        route.fulfill(response=response, json=body)

    page.route("**/graphql", catalogue)
    open_map(page, server)
    open_ = "RECEIVED,ASSIGNED,IN_PROGRESS"
    processed = "RESOLVED,REJECTED,DUPLICATE,REOPENED,CLOSED"
    choices = page.eval_on_selector_all("#status option", "(options) => options.map((o) => "
                                                          "o.value)")
    assert choices == ["", open_, processed, "RECEIVED", "ASSIGNED", "IN_PROGRESS", "RESOLVED",
                       "REJECTED", "DUPLICATE", "REOPENED", "CLOSED"]
    colour = page.evaluate("map.getPaintProperty('complaint-circle', 'circle-color')")
    assert colour[:3] == ["match", ["get", "status"], open_.split(",")]


def test_time_window_counts_local_months(page: Page, server: str, engine: Engine) -> None:
    open_map(page, server)
    months = page.eval_on_selector("#from-month", "(input) => Number(input.max) + 1")
    assert months >= 12  # the demo spans a year
    for slider, index in (("#from-month", 3), ("#to-month", 5)):
        page.eval_on_selector(slider, """(input, index) => { input.value = index;
            input.dispatchEvent(new Event('change')); }""", index)
    settle(page)
    first, last = query_of(page)["from"][0], query_of(page)["to"][0]

    # Months of the city (UTC+7): from the first day of `from` to before that of the month
    # after `to`, counted here by SQL in the city's time zone.
    with engine.connect() as conn:
        assert conn.execute(text("""SELECT to_char(min(created_at AT TIME ZONE
            'Asia/Ho_Chi_Minh') + interval '3 months', 'YYYY-MM') FROM complaint""")
                            ).scalar_one() == first
        rows = conn.execute(text("""
            SELECT w.code, count(*) FROM complaint c JOIN admin_area w ON w.id = c.ward_id
            WHERE to_char(c.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh', 'YYYY-MM')
                  BETWEEN :first AND :last
            GROUP BY w.code"""), {"first": first, "last": last}).all()
    expected = dict(rows)
    codes = rendered(page, "ward-fill", "code")
    states = ward_counts(page, set(codes))
    assert states == {code: expected.get(code, 0) for code in states}
    assert sum(states.values()) == sum(expected.values()) > 0


def test_clicking_a_ward_opens_its_stats(page: Page, server: str, demo: Demo,
                                         gql: GraphQLClient, engine: Engine) -> None:
    counts = routed_counts(engine)
    code = max(sorted(counts), key=counts.get)
    ward = next(a for a in generation_in_force(demo).areas if a.code == code)
    inside = ward.geometry.representative_point()
    open_map(page, server, f"?layers=choropleth,boundaries,hotspots#view=13/{inside.y}/{inside.x}")
    click_at(page, inside.x, inside.y)
    page.wait_for_function("document.querySelector('#ward-panel').dataset.loaded === 'true'")
    settle(page)
    page.screenshot(path=str(ARTIFACTS / "map_ward_panel.png"))

    assert query_of(page)["ward"] == [code]
    assert page.text_content("#ward-name") == ward.name
    stats = gql.data("""query ($code: String!) { stats(area: $code) {
        summary { received processedRate satisfiedRate overdue medianHoursToResolution }
        byCategory { code kpi { received } }
        series(interval: MONTH) { kpi { received processed } } } }""",
                     {"code": code})["stats"]
    summary = stats["summary"]
    shown = {element.get_attribute("data-stat"): element.get_attribute("data-value")
             for element in page.query_selector_all("#ward-panel [data-stat]")}
    assert int(shown["received"]) == summary["received"] == counts[code]
    assert float(shown["processedRate"]) == summary["processedRate"]
    assert float(shown["satisfiedRate"]) == summary["satisfiedRate"]
    assert int(shown["overdue"]) == summary["overdue"]
    assert float(shown["medianResolution"]) == summary["medianHoursToResolution"]
    assert page.text_content("[data-stat=received] .figure-value") == (
        f"{counts[code]:,}".replace(",", "."))  # Vietnamese digit grouping

    top = [(c["code"], c["kpi"]["received"]) for c in stats["byCategory"]
           if c["kpi"]["received"]][:5]
    listed = page.eval_on_selector_all(".top-categories li", "items => items.map((i) => "
                                       "[i.dataset.code, Number(i.dataset.value)])")
    assert [tuple(item) for item in listed] == top
    bars = page.eval_on_selector_all(".chart rect", "bars => bars.map((b) => "
                                     "[Number(b.dataset.received), Number(b.dataset.processed)])")
    assert bars == [[p["kpi"]["received"], p["kpi"]["processed"]] for p in stats["series"]]

    page.click("#close-ward")
    assert page.is_hidden("#ward-panel")
    assert "ward" not in query_of(page)


def test_clicking_a_complaint_shows_public_details_only(page: Page, server: str, demo: Demo,
                                                        engine: Engine) -> None:
    # One of the demo's own complaints: those other modules add may hold line breaks or a
    # phone number, which the popup folds or masks.
    with engine.connect() as conn:
        lon, lat = conn.execute(text("""
            SELECT ST_X(location), ST_Y(location) FROM complaint c
            JOIN category k ON k.code = c.category_code
            WHERE NOT k.sensitive AND c.reporter_name IS NOT NULL
              AND c.public_id = ANY(:seeded)
            ORDER BY public_id LIMIT 1"""), {"seeded": sorted(demo.public_ids)}).one()
    open_map(page, server, f"?layers=complaints#view=17/{lat}/{lon}")
    click_at(page, lon, lat)
    popup = page.wait_for_selector(".maplibregl-popup .complaint")
    public_id = popup.get_attribute("data-id")
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT description, reporter_name, reporter_phone, reporter_email
            FROM complaint WHERE public_id = :id"""), {"id": public_id}).one()
    shown = popup.inner_text()
    assert public_id in shown and row.description in shown
    for personal in (row.reporter_name, row.reporter_phone, row.reporter_email):
        assert personal and personal not in shown


def test_a_description_keeps_its_line_breaks(page: Page, server: str, demo: Demo,
                                             gql: GraphQLClient) -> None:
    # Inside a ward, away from its representative point, where other tests' complaints stack.
    ward = sorted(demo.areas("demo-2025", "ward"), key=lambda a: a.code)[3]
    spot = ward.geometry.buffer(-0.002).representative_point()
    description = "Ống nước vỡ trước nhà số 5\nNước tràn ra đường từ sáng"
    submitted = gql.data("""mutation($i: SubmitComplaintInput!) {
        submitComplaint(input: $i) { id } }""", {"i": {
        "categoryCode": "environment.waste", "description": description,
        "lon": spot.x, "lat": spot.y}})["submitComplaint"]["id"]
    open_map(page, server, f"?layers=complaints#view=18/{spot.y}/{spot.x}")
    click_at(page, spot.x, spot.y)
    popup = page.wait_for_selector(f'.maplibregl-popup .complaint[data-id="{submitted}"]')
    assert popup.query_selector(".description").inner_text() == description


def test_generation_and_language_switch(page: Page, server: str, demo: Demo,
                                        engine: Engine) -> None:
    open_map(page, server)
    page.select_option("#generation", "demo-2019")
    settle(page)
    assert query_of(page)["generation"] == ["demo-2019"]
    old_wards = [a for a in demo.areas("demo-2019", "ward")]
    assert set(rendered(page, "ward-line", "code")) == {a.code for a in old_wards}

    # The choropleth counts each complaint in the 2019 ward that covers it (shapely here).
    tree = shapely.STRtree([a.geometry for a in old_wards])
    with engine.connect() as conn:
        located = conn.execute(text("SELECT ST_X(location), ST_Y(location) FROM complaint"))
        points = [shapely.Point(lon, lat) for lon, lat in located]
    expected: dict[str, int] = {a.code: 0 for a in old_wards}
    for point in points:
        covering = [old_wards[i].code for i in tree.query(point, predicate="covered_by")]
        if covering:
            expected[min(covering)] += 1
    states = ward_counts(page, expected)
    assert states == expected

    page.click("#language")
    assert page.text_content("h1") == "Complaint hotspot map"
    assert query_of(page)["lang"] == ["en"]
    assert page.text_content("#legend [data-layer=hotspots] h3") == "Hot and cold spots (Gi*)"


# Holds the page's fetch() calls until the test calls window.openGate(): the moment between the
# script starting and the catalogue arriving, which is otherwise too short to look at.
HOLD_FETCHES = """
    const gate = new Promise((open) => { window.openGate = open; });
    const fetchNow = window.fetch;
    window.fetch = (...args) => gate.then(() => fetchNow(...args));
"""


def test_map_handle_is_there_from_the_first_moment(page: Page, server: str) -> None:
    """``window.mapReady`` (a promise of the MapLibre map) exists as soon as the page's script
    runs, before the catalogue has loaded; ``window.map`` is never the map's DOM element."""
    page.add_init_script(HOLD_FETCHES)
    page.goto(f"{server}/map", wait_until="domcontentloaded")
    assert page.evaluate("() => [window.map === undefined, window.mapReady instanceof Promise]"
                         ) == [True, True]
    handle = page.evaluate("""async () => {
        window.openGate();
        const map = await window.mapReady;
        await new Promise((done) => (map.loaded() ? done() : map.once('idle', done)));
        return {same: map === window.map, loaded: map.loaded(),
                container: map.getContainer().tagName, layers: map.getStyle().layers.length};
    }""")
    assert handle["same"] and handle["loaded"] and handle["container"] == "MAIN"
    assert handle["layers"] > 1


def test_graphiql_works_offline(page: Page, server: str, engine: Engine) -> None:
    """GET /graphql in a browser is GraphiQL from the project's own build: with every request
    to another host refused, the IDE loads and a query run from it answers with data."""
    elsewhere: list[str] = []

    def refuse(route: Route) -> None:
        elsewhere.append(route.request.url)
        route.abort()

    page.route(lambda url: urlsplit(url).hostname != "127.0.0.1", refuse)
    page.goto(f"{server}/graphql")
    editor = page.locator(".graphiql-query-editor .monaco-editor").first
    editor.wait_for(timeout=60_000)
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text("query OfflineCheck { categories { code } }")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and "OfflineCheck" in (r.request.post_data or "")) as answer:
        page.locator(".graphiql-execute-button").click()
    body = answer.value.json()
    with engine.connect() as conn:
        codes = set(conn.execute(text("SELECT code FROM category")).scalars())
    assert "errors" not in body and {c["code"] for c in body["data"]["categories"]} == codes
    shown = page.locator(".result-window")
    shown.get_by_text(sorted(codes)[0], exact=False).first.wait_for()
    assert elsewhere == []


def test_generations_query(gql: GraphQLClient, demo: Demo) -> None:
    found = gql.data("{ generations { name validFrom validTo } }")["generations"]
    expected = sorted(demo.generations, key=lambda g: g.valid_from, reverse=True)
    assert found == [{"name": g.name, "validFrom": g.valid_from.isoformat(),
                      "validTo": g.valid_to.isoformat() if g.valid_to else None}
                     for g in expected]


def test_boundary_layers_by_generation(client: TestClient, demo: Demo) -> None:
    for generation in ("demo-2019", "demo-2025"):
        for layer, level in (("wards", "ward"), ("districts", "district")):
            body = client.get(f"/export/{layer}.geojson?generation={generation}").json()
            assert sorted(f["properties"]["code"] for f in body["features"]) == sorted(
                a.code for a in demo.areas(generation, level))
    in_force = client.get("/export/wards.geojson").json()["features"]
    assert {f["properties"]["generation"] for f in in_force} == {generation_in_force(demo).name}


def test_map_page_without_a_build_says_how_to_build_it(tmp_path: Path) -> None:
    with TestClient(Starlette(routes=map_routes(tmp_path / "missing"))) as client:
        response = client.get("/map")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert "make web" in response.json()["description"]
