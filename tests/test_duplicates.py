"""Possible duplicates at submission: nearby, recent, open complaints, scored, from the index.

Distances are checked against pyproj's geodesic (WGS 84), which PostGIS's geography distance
also follows; which complaints may be candidates is decided here from the definition (open,
within 300 m and 30 days) over every complaint of the database.
"""

from typing import Any

from pyproj import Geod
from sqlalchemy import Engine, text

from db.triage import DUPLICATES, duplicate_parameters
from tests.conftest import Accounts, Demo, GraphQLClient

SUBMIT = """mutation($i: SubmitComplaintInput!) { submitComplaint(input: $i) {
  id possibleDuplicates(first: 20) { score distanceM hoursApart sameCategory textSimilarity
    complaint { id status description } } } }"""
GEOD = Geod(ellps="WGS84")


def submit(gql: GraphQLClient, lon: float, lat: float, description: str,
           category: str = "environment.waste") -> dict[str, Any]:
    return gql.data(SUBMIT, {"i": {"categoryCode": category, "description": description,
                                   "lon": lon, "lat": lat}})["submitComplaint"]


def test_submission_returns_the_nearby_open_complaints(gql: GraphQLClient, demo: Demo,
                                                       accounts: Accounts,
                                                       engine: Engine) -> None:
    ward = next(w for w in demo.areas("demo-2025", "ward") if w.code == accounts.ward)
    p = ward.geometry.representative_point()
    original = submit(gql, p.x, p.y, "Rác thải tập kết bừa bãi đầu ngõ 7, bốc mùi hôi thối")
    lon, lat, _ = GEOD.fwd(p.x, p.y, 45, 60)  # 60 m north-east
    far_lon, far_lat, _ = GEOD.fwd(p.x, p.y, 225, 400)  # 400 m away: never a candidate
    submit(gql, far_lon, far_lat, "Rác thải tập kết bừa bãi đầu ngõ 7, bốc mùi hôi thối")
    new = submit(gql, lon, lat, "rac thai tap ket bua bai dau ngo 7, boc mui hoi thoi qua")
    found = new["possibleDuplicates"]
    assert found[0]["complaint"]["id"] == original["id"]
    top = found[0]
    assert abs(top["distanceM"] - 60) < 0.01 and top["sameCategory"]
    assert top["hoursApart"] < 0.1 and top["textSimilarity"] > 0.7
    scores = [c["score"] for c in found]
    assert scores == sorted(scores, reverse=True)
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT public_id, ST_X(location) AS lon, ST_Y(location) AS lat, status,
                   created_at FROM complaint WHERE public_id <> :id"""), {"id": new["id"]}).all()
        at = conn.execute(text("SELECT created_at FROM complaint WHERE public_id = :id"),
                          {"id": new["id"]}).scalar_one()
    open_statuses = {"RECEIVED", "ASSIGNED", "IN_PROGRESS", "REOPENED"}
    want = {r.public_id for r in rows
            if r.status in open_statuses and abs((r.created_at - at).days) < 30
            and GEOD.inv(lon, lat, r.lon, r.lat)[2] <= 300}
    assert {c["complaint"]["id"] for c in found} == want or len(found) == 20
    for candidate in found:
        row = next(r for r in rows if r.public_id == candidate["complaint"]["id"])
        assert abs(candidate["distanceM"] - GEOD.inv(lon, lat, row.lon, row.lat)[2]) < 0.01


def test_public_candidates_are_redacted(gql: GraphQLClient, demo: Demo,
                                        accounts: Accounts) -> None:
    p = next(w for w in demo.areas("demo-2025", "ward")
             if w.code == accounts.other_ward).geometry.representative_point()
    submit(gql, p.x, p.y, "Cây đổ chắn ngang đường, gọi 0912345678 để biết thêm")
    new = submit(gql, p.x, p.y, "Cây đổ chắn ngang đường sau mưa", "public.trees")
    texts = [c["complaint"]["description"] for c in new["possibleDuplicates"]]
    assert any("[SĐT]" in t for t in texts) and not any("0912345678" in t for t in texts)


def test_candidates_come_from_the_index(engine: Engine, demo: Demo) -> None:
    """The spatial GiST index on the geography finds the candidates (seq scans off: the small
    demo could be scanned as cheaply, but a plan through the index must exist)."""
    with engine.connect() as conn:
        some = conn.execute(text("SELECT id FROM complaint LIMIT 1")).scalar_one()
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(text("EXPLAIN " + DUPLICATES),
                                       duplicate_parameters([some], 5)).scalars())
    assert "complaint_location_geog_gist" in plan, plan
    assert "Seq Scan on complaint o" not in plan, plan


SUPPORT = """mutation($id: ID!, $s: ReporterInput) { supportComplaint(id: $id, supporter: $s) {
  supportCount supporters { name phone } history { kind actor data } } }"""
READ = """query($id: ID!) { complaint(id: $id) {
  supportCount supporters { name phone email } history { kind actor data } } }"""


def test_me_too_is_counted_once_and_kept_private(gql: GraphQLClient, demo: Demo,
                                                 accounts: Accounts, engine: Engine) -> None:
    p = next(w for w in demo.areas("demo-2025", "ward")
             if w.code == accounts.ward).geometry.representative_point()
    original = submit(gql, p.x, p.y, "Đèn đường hỏng cả tuần", "public.lighting")["id"]

    def call(caller: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        return gql.client.post("/graphql", headers=accounts.headers(caller),
                               json={"query": query, "variables": variables}).json()

    supporter = {"name": "Phạm Thị Hỗ Trợ", "phone": "0977 123 456"}
    first = call("other_citizen", SUPPORT, {"id": original, "s": supporter})
    assert first["data"]["supportComplaint"]["supportCount"] == 1
    assert first["data"]["supportComplaint"]["supporters"] is None  # not an official
    again = call("other_citizen", SUPPORT, {"id": original, "s": supporter})
    assert again["data"]["supportComplaint"]["supportCount"] == 1  # once per account
    anonymous = call("anonymous", SUPPORT, {"id": original, "s": {"phone": "0966 000 222"}})
    assert anonymous["data"]["supportComplaint"]["supportCount"] == 2
    official = call("ward_in", READ, {"id": original})["data"]["complaint"]
    assert {s["phone"] for s in official["supporters"]} == {"0977 123 456", "0966 000 222"}
    for caller in ("anonymous", "reporter", "ward_out", "analyst"):
        body = call(caller, READ, {"id": original})
        assert body["data"]["complaint"]["supporters"] is None, caller
        assert "0977" not in str(body) and "Hỗ Trợ" not in str(body), caller
    kinds = [e["kind"] for e in official["history"]]
    assert kinds.count("SUPPORTED") == 2
    assert call("analyst", SUPPORT, {"id": original})["errors"][0]["extensions"]["code"] == \
        "FORBIDDEN"
    assert call("anonymous", SUPPORT, {"id": "PA-NOPE"})["errors"][0]["extensions"]["code"] == \
        "NOT_FOUND"
    with engine.begin() as conn:
        conn.execute(text("UPDATE complaint SET status = 'REJECTED', rejection_reason = "
                          "'NOT_RESPONSIBLE', resolved_at = now() WHERE public_id = :id"),
                     {"id": original})
    closed = call("anonymous", SUPPORT, {"id": original})
    assert closed["errors"][0]["extensions"]["code"] == "INVALID_TRANSITION"
