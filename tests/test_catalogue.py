"""``catalogue apply``: idempotent, a dry run that lists the changes and writes nothing,
retiring instead of deleting, and all or nothing: one bad entry changes nothing. On a fresh
database holding Portbury's boundaries (docs/examples), so the shared demo is left alone."""

import copy
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import create_app
from auth import users
from auth.principal import Role
from auth.tokens import issue_token
from catalogue.apply import apply_document
from db.engine import make_engine
from errors import PhananhError
from geo.boundaries import BoundaryFile, import_boundaries
from settings import Settings
from tests.conftest import GraphQLClient, fresh_database, phananh

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
DOCUMENT = yaml.safe_load((EXAMPLES / "city-catalogue.yaml").read_text())
TABLES = ("category_group", "category", "category_attribute", "agency", "agency_area",
          "routing_rule", "work_calendar", "working_period", "holiday")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    yield from fresh_database()


@pytest.fixture(scope="module")
def city(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    for level, name in (("city", "city"), ("district", "districts"), ("ward", "wards")):
        import_boundaries(engine, BoundaryFile(
            path=EXAMPLES / f"portbury-{name}.geojson", level=level,
            parent_field=None if level == "city" else "parent"), "portbury-2024", None, None)
    yield engine
    engine.dispose()


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every catalogue table's rows, as text, sorted."""
    with engine.connect() as conn:
        return {table: sorted(map(str, conn.execute(text(f"SELECT * FROM {table}"))))
                for table in TABLES}


def apply(engine: Engine, document: Any, dry_run: bool = False) -> list[str]:
    with engine.begin() as conn:
        return [str(c) for c in apply_document(conn, document, dry_run=dry_run)]


def test_apply_is_idempotent(city: Engine) -> None:
    first = apply(city, DOCUMENT)
    assert "+ category streets.pothole" in first and "+ calendar calendar" in first
    assert "- category environment.waste retired" in first  # migration 0001's, not listed
    state = snapshot(city)
    assert apply(city, DOCUMENT) == []
    assert snapshot(city) == state


def test_dry_run_lists_the_changes_and_writes_nothing(city: Engine) -> None:
    apply(city, DOCUMENT)
    changed = copy.deepcopy(DOCUMENT)
    changed["categories"][0]["sla_hours"] = 28
    changed["categories"][0]["attributes"][1]["required"] = True
    changed["categories"].append({"code": "streets.graffiti", "group": "streets",
                                  "name_vi": "Vẽ bậy", "name_en": "Graffiti",
                                  "sla_hours": 35})
    changed["agencies"] = [a for a in changed["agencies"] if a["code"] != "parks-north"]
    changed["rules"] = [r for r in changed["rules"] if r["code"] != "parks-north"]
    changed["calendar"]["holidays"].append({"date": date(2027, 12, 31), "name": "Extra"})
    state = snapshot(city)
    diff = apply(city, yaml.safe_load(yaml.safe_dump(changed)), dry_run=True)
    assert diff == ["~ category streets.pothole (sla_hours, attributes)",
                    "+ category streets.graffiti",
                    "- agency parks-north retired",
                    "- rule parks-north retired",
                    "~ calendar calendar (holidays)"]
    assert snapshot(city) == state
    assert apply(city, yaml.safe_load(yaml.safe_dump(changed))) == diff
    assert apply(city, DOCUMENT) == ["~ category streets.pothole (sla_hours, attributes)",
                                     "- category streets.graffiti retired",
                                     "~ agency parks-north (revived)",
                                     "~ rule parks-north (revived)",
                                     "~ calendar calendar (holidays)"]


def test_a_category_in_use_is_retired_not_deleted(city: Engine) -> None:
    apply(city, DOCUMENT)
    with city.begin() as conn:
        conn.execute(text("""
            INSERT INTO complaint (public_id, description, category_code, location)
            VALUES ('PA-CATALOGUE1', 'in use', 'parks.damage',
                    ST_SetSRID(ST_MakePoint(-1.59, 54.965), 4326))"""))
    without = copy.deepcopy(DOCUMENT)
    without["categories"] = [c for c in without["categories"] if c["code"] != "parks.damage"]
    without["rules"] = [r for r in without["rules"] if r["code"] != "parks-north"]
    assert "- category parks.damage retired" in apply(city, without)
    with city.connect() as conn:
        row = conn.execute(text("SELECT retired_at IS NOT NULL AS retired, name_en FROM category"
                                " WHERE code = 'parks.damage'")).one()
        kept = conn.execute(text("SELECT category_code FROM complaint "
                                 "WHERE public_id = 'PA-CATALOGUE1'")).scalar_one()
    assert row == (True, "Damage in a park") and kept == "parks.damage"
    assert "~ category parks.damage (revived)" in apply(city, DOCUMENT)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d["categories"][1]["attributes"][0].update(datatype="colour"),
     "categories[1] (streets.light): attribute lamp_id: datatype must be one of"),
    (lambda d: d["categories"][0].update(sla_hours=0), "categories[0] (streets.pothole): "
                                                      "sla_hours"),
    (lambda d: d["categories"][0].update(group="nowhere"),
     "category streets.pothole: no group 'nowhere'"),
    (lambda d: d["rules"][0].update(agency="ghostbusters"),
     "rule streets-city: no agency 'ghostbusters' in service"),
    (lambda d: d["agencies"][0]["serves"][0].update(codes=["N9"]),
     "agency office-n1: no ward N9 in portbury-2024"),
    (lambda d: d["agencies"].append(dict(d["agencies"][0])),
     "agencies[7] (office-n1): the code 'office-n1' appears twice"),
    (lambda d: d.update(agencies=[a for a in d["agencies"] if a["code"] != "highways"]),
     "rule streets-city: no agency 'highways' in service"),
    (lambda d: d["calendar"]["working_hours"].update(sat="18:00-09:00"),
     "calendar: working_hours: '18:00-09:00' is not a span within one day"),
    (lambda d: d.update(extras=[]), "unknown section(s) extras"),
])
def test_one_bad_entry_changes_nothing(city: Engine, change: Any, problem: str) -> None:
    apply(city, DOCUMENT)
    bad = copy.deepcopy(DOCUMENT)
    bad["categories"].append({"code": "streets.graffiti", "group": "streets",
                              "name_vi": "Vẽ bậy", "name_en": "Graffiti", "sla_hours": 35})
    change(bad)
    state = snapshot(city)
    with pytest.raises(PhananhError) as refused:
        apply(city, bad)
    assert refused.value.code == "BAD_INPUT"
    assert any(p.startswith(problem) for p in refused.value.details["problems"]), \
        refused.value.details["problems"]
    assert snapshot(city) == state


def test_the_command_refuses_a_bad_file(url: str, city: Engine, tmp_path: Path) -> None:
    apply(city, DOCUMENT)
    path = tmp_path / "bad.yaml"
    path.write_text("categories: [{code: x}]\n")
    state = snapshot(city)
    done = phananh(url, "catalogue", "apply", str(path))
    assert done.returncode == 1 and "BAD_INPUT" in done.stdout and "categories[0]" in done.stdout
    path.write_text("categories: [unclosed\n")
    done = phananh(url, "catalogue", "apply", str(path))
    assert done.returncode == 1 and "Cannot read" in done.stdout
    assert snapshot(city) == state


def test_city_admins_apply_through_graphql(url: str, city: Engine) -> None:
    apply(city, DOCUMENT)
    with city.begin() as conn:
        users.add_user(conn, "portbury-admin", Role.CITY_ADMIN)
        token = issue_token(conn, "portbury-admin")
    changed = copy.deepcopy(DOCUMENT)
    changed["groups"][2]["name_en"] = "Parks and green spaces"
    document = yaml.safe_dump(changed, allow_unicode=True)
    mutation = """mutation($d: String!, $dry: Boolean!) { applyCatalogue(document: $d,
        dryRun: $dry) { kind code action fields text } }"""
    with TestClient(create_app(Settings(database_url=url), city)) as client:
        gql = GraphQLClient(client)
        headers = {"Authorization": f"Bearer {token}"}
        for dry in (True, False):
            body = gql(mutation, {"d": document, "dry": dry}, headers=headers)
            assert body["data"]["applyCatalogue"] == [
                {"kind": "group", "code": "parks", "action": "update", "fields": ["name_en"],
                 "text": "~ group parks (name_en)"}]
        body = gql(mutation, {"d": document, "dry": False}, headers=headers)
        assert body["data"]["applyCatalogue"] == []
        body = gql(mutation, {"d": "rules: [{code: r}]", "dry": False}, headers=headers)
        assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
        assert body["errors"][0]["extensions"]["problems"]
        assert gql(mutation, {"d": document, "dry": True})["errors"][0]["extensions"][
            "code"] == "UNAUTHENTICATED"
