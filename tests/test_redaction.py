"""Personal data written into free text: redacted in every public channel, kept for the reporter
and the responsible officials; ordinary numbers survive.

A complaint is submitted by the test citizen with planted values (phones in several spellings,
an e-mail, a CCCD, licence plates) beside ordinary numbers (house number, date, amounts, a
time), then read back through GraphQL (one complaint, listings, search), vector tiles, OGC API
– Features and every export format (read back by GDAL through pyogrio).
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Point
from starlette.testclient import TestClient

from tests.conftest import Accounts, Demo, GraphQLClient, phananh
from tests.layers_support import tile_of
from tests.test_exports import FORMATS, download, read_back
from tests.test_tiles import decode

PLANTED = ("0912345678", "0912 345 678", "0987.654.321", "+84 912 000 111", "(024) 3825 1234",
           "nguyen.van.a@example.com.vn", "001203004567", "29A-123.45", "30E-12345",
           "29-B1 234.56")
ORDINARY = ("số 12A ngõ 34", "12/05/2024", "500.000 đồng", "84.500.000.000 đồng", "lúc 08:30",
            "3 hộ dân", "năm 2023-2024")
DESCRIPTION = ("Xe tải đỗ chắn lối đi trước số 12A ngõ 34 từ 12/05/2024 lúc 08:30, 3 hộ dân "
               "bị ảnh hưởng, phạt 500.000 đồng; dự án 84.500.000.000 đồng năm 2023-2024. "
               "Biển số 29A-123.45, 30E-12345 và 29-B1 234.56. Liên hệ tôi: 0912345678, "
               "0912 345 678, 0987.654.321, +84 912 000 111, (024) 3825 1234, "
               "nguyen.van.a@example.com.vn, CCCD 001203004567. Từ khoá kiểmtrariêngtư.")
ADDRESS = "Số 7 ngõ 15 phố Kim Mã, gọi 0912345678"
LABELS = ("[SĐT]", "[email]", "[CCCD]", "[biển số]")

SUBMIT = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) { id } }"""
ONE = "query($id: ID!) { complaint(id: $id) { description address } }"
SEARCH = """query($t: String!) { complaints(filter: {text: $t}, first: 5) {
  totalCount edges { node { id description address } } } }"""


@pytest.fixture(scope="module")
def planted(gql: GraphQLClient, accounts: Accounts, demo: Demo) -> dict[str, Any]:
    ward = next(w for w in demo.areas("demo-2025", "ward") if w.code == accounts.ward)
    point = ward.geometry.representative_point()
    body = gql.client.post("/graphql", headers=accounts.headers("reporter"), json={
        "query": SUBMIT, "variables": {"i": {
            "categoryCode": "traffic.encroachment", "description": DESCRIPTION,
            "address": ADDRESS, "lon": point.x, "lat": point.y,
            "reporter": {"phone": "0912345678"}}}}).json()
    assert "errors" not in body, body
    return {"id": body["data"]["submitComplaint"]["id"], "point": point}


def assert_redacted(text: str) -> None:
    for value in PLANTED:
        assert value not in text, value
    for value in ORDINARY:
        assert value in text, value


def test_public_graphql_reads_the_redacted_copy(gql: GraphQLClient, planted: dict[str, Any],
                                                accounts: Accounts) -> None:
    for caller in ("anonymous", "other_citizen", "ward_out", "district_out", "analyst"):
        body = gql.client.post("/graphql", headers=accounts.headers(caller), json={
            "query": ONE, "variables": {"id": planted["id"]}}).json()
        complaint = body["data"]["complaint"]
        assert_redacted(complaint["description"])
        assert all(label in complaint["description"] for label in LABELS)
        assert complaint["address"] == "Số 7 ngõ 15 phố Kim Mã, gọi [SĐT]", caller


def test_reporter_and_responsible_officials_read_the_original(
        gql: GraphQLClient, planted: dict[str, Any], accounts: Accounts) -> None:
    for caller in ("reporter", "ward_in", "district_in", "city_admin"):
        body = gql.client.post("/graphql", headers=accounts.headers(caller), json={
            "query": ONE, "variables": {"id": planted["id"]}}).json()
        assert body["data"]["complaint"] == {"description": DESCRIPTION, "address": ADDRESS}


def test_listing_and_search_are_redacted(gql: GraphQLClient, planted: dict[str, Any]) -> None:
    found = gql.data(SEARCH, {"t": "kiemtrariengtu"})["complaints"]
    assert [e["node"]["id"] for e in found["edges"]] == [planted["id"]]
    assert_redacted(found["edges"][0]["node"]["description"])
    p = planted["point"]
    listing = gql.data("""query($n: NearInput) { complaints(filter: {near: $n}, first: 500,
        orderBy: DISTANCE) { edges { node { id description } } } }""",
                       {"n": {"lon": p.x, "lat": p.y, "radiusM": 1}})["complaints"]
    (node,) = [e["node"] for e in listing["edges"] if e["node"]["id"] == planted["id"]]
    assert_redacted(node["description"])


@pytest.mark.parametrize("caller", ["anonymous", "ward_in", "reporter"])
def test_personal_data_is_never_searchable(gql: GraphQLClient, planted: dict[str, Any],
                                           accounts: Accounts, caller: str) -> None:
    """Not even by those who may read it: the index holds public text only, so a phone number
    cannot reveal that a complaint exists."""
    for value in ("0912345678", "0912 345 678", "nguyen.van.a@example.com.vn", "001203004567",
                  "29A-123.45", '"0987.654.321"'):
        body = gql.client.post("/graphql", headers=accounts.headers(caller), json={
            "query": SEARCH, "variables": {"t": value}}).json()
        assert body["data"]["complaints"]["totalCount"] == 0, (caller, value)


def test_tiles_ogc_and_exports_are_redacted(client: TestClient, planted: dict[str, Any],
                                            tmp_path: Path) -> None:
    p: Point = planted["point"]
    z, x, y = tile_of(p.x, p.y, 16)
    tile = client.get(f"/tiles/complaints/{z}/{x}/{y}.mvt")
    assert tile.status_code == 200 and planted["id"].encode() in tile.content
    for value in PLANTED:
        assert value.encode() not in tile.content
    item = client.get(f"/ogc/collections/complaints/items/{planted['id']}").json()
    assert_redacted(item["properties"]["description"])
    assert item["properties"]["address"] == "Số 7 ngõ 15 phố Kim Mã, gọi [SĐT]"
    for export_format in FORMATS:
        path = download(client, f"/export/complaints.{export_format}",
                        tmp_path / f"complaints.{export_format}")
        ids, _, fields = read_back(path, export_format)
        index = ids.index(planted["id"])
        assert_redacted(fields["description"][index])
        assert fields["address"][index] == "Số 7 ngõ 15 phố Kim Mã, gọi [SĐT]", export_format
        content = path.read_bytes()
        for value in PLANTED:
            assert value.encode() not in content, (export_format, value)


COMMENT = """mutation($id: ID!, $t: String!) { commentOnComplaint(id: $id, text: $t) {
  version } }"""
HISTORY = "query($id: ID!) { complaint(id: $id) { history { kind note } } }"
NOTE = ("Đã làm việc với chủ xe tại số 12A ngõ 34 ngày 12/05/2024 lúc 08:30, phạt 500.000 đồng, "
        "3 hộ dân; dự án 84.500.000.000 đồng năm 2023-2024. Chủ xe 29A-123.45, 30E-12345, "
        "29-B1 234.56, SĐT 0912345678, 0912 345 678, 0987.654.321, +84 912 000 111, "
        "(024) 3825 1234, e-mail nguyen.van.a@example.com.vn, CCCD 001203004567.")


def test_officials_notes_are_redacted_in_public_history(
        gql: GraphQLClient, client: TestClient, planted: dict[str, Any],
        accounts: Accounts) -> None:
    """An official's note naming a person's phone, e-mail, CCCD and plates: the public reads
    the redacted copy (GraphQL history, Open311 notes and updates), the reporter and the
    responsible officials the note as written; ordinary numbers survive."""
    assert all(value in NOTE for value in PLANTED + ORDINARY)
    before = datetime.now(UTC) - timedelta(seconds=1)
    body = gql.client.post("/graphql", headers=accounts.headers("ward_in"), json={
        "query": COMMENT, "variables": {"id": planted["id"], "t": NOTE}}).json()
    assert "errors" not in body, body

    def notes(caller: str) -> list[str]:
        history = gql.client.post("/graphql", headers=accounts.headers(caller), json={
            "query": HISTORY, "variables": {"id": planted["id"]}}).json()["data"]["complaint"][
            "history"]
        return [e["note"] for e in history if e["kind"] == "COMMENT" and e["note"]]

    for caller in ("reporter", "ward_in", "district_in", "city_admin"):
        assert notes(caller) == [NOTE], caller
    public = []
    for caller in ("anonymous", "other_citizen", "ward_out", "analyst"):
        (note,) = notes(caller)
        public.append(note)
    (extended,) = client.get(f"/open311/v2/requests/{planted['id']}.json",
                             params={"extensions": "true"}).json()
    public += [n["description"] for n in extended["notes"] if n["type"] == "comment"]
    updates = client.get("/open311/v2/servicerequestupdates.json",
                         params={"start_date": before.isoformat()}).json()
    public += [u["description"] for u in updates if u["service_request_id"] == planted["id"]
               and u["description"]]
    assert len(public) == 6
    for note in public:
        assert_redacted(note)
        assert all(label in note for label in LABELS)


def found_through_every_channel(client: TestClient, database_url: str, planted: dict[str, Any],
                                q: str, tmp_path: Path) -> dict[str, set[str]]:
    """The complaints free text ``q`` finds in each public channel: the tile holding the
    planted complaint, OGC API items, each HTTP export format, the CLI export; and the ids of
    the hotspot-grid tile's cells."""
    p: Point = planted["point"]
    z, x, y = tile_of(p.x, p.y, 16)
    found: dict[str, set[str]] = {}
    tile = client.get(f"/tiles/complaints/{z}/{x}/{y}.mvt", params={"q": q})
    assert tile.status_code in (200, 204), tile.text
    layers = decode(tile.content) if tile.status_code == 200 else {}
    found["tile"] = {f["properties"]["public_id"]
                     for layer in layers.values() for f in layer["features"]}
    grid = client.get(f"/tiles/hotspot-grid/{z}/{x}/{y}.mvt", params={"q": q})
    assert grid.status_code in (200, 204), grid.text
    cells = decode(grid.content).get("hotspot-grid", {"features": []})["features"] \
        if grid.status_code == 200 else []
    found["hotspot tile"] = {f"{f['properties']['count']}" for f in cells}
    page = client.get("/ogc/collections/complaints/items", params={"q": q, "limit": 100}).json()
    assert page["numberMatched"] == len(page["features"]), page
    found["ogc"] = {f["id"] for f in page["features"]}
    for export_format in FORMATS:
        response = client.get(f"/export/complaints.{export_format}", params={"q": q})
        assert response.status_code == 200, response.text
        if export_format == "geojson":
            found[export_format] = {f["id"] for f in response.json()["features"]}
        else:
            path = tmp_path / f"found.{export_format}"
            path.write_bytes(response.content)
            found[export_format] = set(read_back(path, export_format)[0]) \
                if planted["id"].encode() in response.content or export_format == "gpkg" \
                else set()
    out = tmp_path / "cli.geojson"
    done = phananh(database_url, "export", "complaints", "--out", str(out), "--text", q)
    assert done.returncode == 0, done.stdout + done.stderr
    found["cli"] = {f["id"] for f in json.loads(out.read_text())["features"]}
    return found


@pytest.mark.parametrize("q", ["kiemtrariengtu", "KIỂMTRARIÊNGTƯ", "KiemTraRiengTu"])
def test_text_filter_works_in_every_public_channel(
        client: TestClient, database_url: str, planted: dict[str, Any], tmp_path: Path,
        q: str) -> None:
    """The GraphQL `text` filter's meaning as `q` in tiles, OGC API and exports (HTTP, CLI):
    accents and case ignored; the planted complaint is the only one with the word."""
    found = found_through_every_channel(client, database_url, planted, q, tmp_path)
    assert found.pop("hotspot tile") == {"1"}  # one complaint, in one cell
    assert found == {key: {planted["id"]} for key in found}


@pytest.mark.parametrize("q", ["0912345678", '"0912 345 678"', "nguyen.van.a@example.com.vn",
                               "001203004567", "29A-123.45"])
def test_personal_data_finds_nothing_in_any_channel(
        client: TestClient, database_url: str, planted: dict[str, Any], tmp_path: Path,
        q: str) -> None:
    """The reporter's phone (also written in the description), e-mail, CCCD, plate: no
    channel reveals that a complaint holds them, not the planted one, not any other."""
    found = found_through_every_channel(client, database_url, planted, q, tmp_path)
    assert found == {key: set() for key in found}


def test_q_is_refused_where_there_is_no_text(client: TestClient) -> None:
    assert client.get("/ogc/collections/wards/items", params={"q": "x"}).json()["code"] == \
        "UNKNOWN_PARAMETER"
    too_long = client.get("/ogc/collections/complaints/items", params={"q": "x" * 201})
    assert too_long.status_code == 400 and too_long.json()["code"] == "BAD_INPUT"
