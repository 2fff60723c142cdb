"""Submitting a complaint: the category must exist and be in service, the answers to its
attributes must fit their definitions, the point must lie in a ward served here, and the
complaint is stored placed in that ward, its district and city, routed to an agency
(:mod:`workflow.routing`), due when the category's SLA runs out in working time
(:mod:`workflow.calendar`).

A complaint may instead have a footprint (a line or a polygon, or a Multi- form): it must be no
larger than its category allows, and is placed in the ward with the largest share of it
(``responsible_areas``, migration 0011). Either way the complaint records why it went to its
ward (the ``routing`` column: the rule, the shares, and the border candidates: wards within
``border_distance_m`` of the place), beside the agency's routing.

Checks go in this order: UNKNOWN_CATEGORY (also for a retired category), BAD_INPUT for the
attribute answers (every attribute's problem at once), FOOTPRINT_TOO_LARGE, then
OUTSIDE_JURISDICTION (naming swapped coordinates when swapping the pair lands in a ward). The
caller has already checked the submission's shape (lengths, coordinate ranges, a valid
footprint) and the rate limit; every channel that takes complaints (GraphQL, Open311) calls
:func:`submit`, so these rules live in one place.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, text

from auth.principal import Principal
from catalogue.attributes import attributes_for, check_answers
from db import areas as area_sql
from db import complaints as complaint_sql
from errors import ErrorCode, PhananhError, quoted
from geo.footprints import border_candidates, lookup_footprint, ward_shares, wkb
from geo.jurisdiction import lookup_points, ward_at
from media.service import StoredPhoto, attach
from settings import Settings
from workflow.calendar import due_at
from workflow.routing import Routing, route


@dataclass(frozen=True)
class Reporter:
    """How to reach the reporter; each part is optional."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Submission:
    """A complaint as a citizen sends it, already checked for shape."""

    category_code: str
    description: str
    lon: float | None = None  # the point, unless a footprint is given
    lat: float | None = None
    footprint: BaseGeometry | None = None  # a validated line or polygon (or Multi- form)
    address: str | None = None
    channel: str = "app"
    media_urls: tuple[str, ...] = ()
    idempotency_key: str | None = None
    reporter: Reporter = Reporter()
    account: Principal | None = None  # the signed-in citizen who becomes the reporter
    # Answers to the category's attributes, by attribute code (see catalogue/attributes.py).
    attributes: dict[str, Any] = field(default_factory=dict)
    photos: tuple[StoredPhoto, ...] = ()  # already checked, re-encoded and stored


@dataclass(frozen=True)
class FootprintRules:
    """The settings a submission's footprint is judged by (categories may set their own
    limits)."""

    max_length_m: float
    max_area_ha: float
    border_distance_m: float

    @classmethod
    def of(cls, settings: Settings) -> "FootprintRules":
        return cls(settings.footprint_max_length_m, settings.footprint_max_area_ha,
                   settings.border_distance_m)


def submit(conn: Connection, submission: Submission, rules: FootprintRules) -> Any:
    """Place, route and store the complaint (once per idempotency key), returning its row as
    the submitting account sees it; or say why not."""
    now = datetime.now(UTC)
    vetted = _vetted(conn, submission, rules, now)
    ward_routing: dict[str, Any] = (
        {"rule": "covers"} if submission.footprint is None else
        {"rule": "largest_share", "shares": [
            {"areaId": s.area_id, "ward": s.code, "share": s.share}
            for s in ward_shares(conn, vetted.place, now)]})
    ward_routing["withinM"] = rules.border_distance_m
    ward_routing["candidates"] = [
        {"areaId": c.area_id, "ward": c.code, "distanceM": c.distance_m}
        for c in border_candidates(conn, [vetted.place], rules.border_distance_m, now)[0]]
    routing = route(conn, submission.category_code, vetted.areas, now)
    values = _values(submission, vetted.areas, routing, vetted.answers, now,
                     due_at(conn, now, vetted.category.sla_hours))
    values["routing"] = ward_routing
    row = complaint_sql.insert_complaint(conn, values, vetted.place, submission.account)
    if submission.photos and row.created_at == now:  # not a retry answered with the first
        attach(conn, row.id, submission.photos, "REPORT", "reporter", len(submission.photos))
    return row


def vet(conn: Connection, submission: Submission, rules: FootprintRules) -> None:
    """Refuse now what :func:`submit` would refuse (category, answers, extent, place), so that
    photos are stored only for a submission that will be taken: a refused one leaves no
    unreferenced file."""
    _vetted(conn, submission, rules, datetime.now(UTC))


@dataclass(frozen=True)
class _Vetted:
    """What the checks found, for :func:`submit` to store."""

    category: Any
    answers: dict[str, Any]
    place: BaseGeometry
    areas: dict[str, int]


def _vetted(conn: Connection, submission: Submission, rules: FootprintRules,
            now: datetime) -> _Vetted:
    """The submission's checks, in the order of the module's docstring."""
    category = _category(conn, submission.category_code)
    answers = check_answers(attributes_for(conn, submission.category_code),
                            submission.attributes)
    if submission.footprint is None:
        assert submission.lon is not None and submission.lat is not None
        place: BaseGeometry = shapely.Point(submission.lon, submission.lat)
        areas = _place(conn, submission.lon, submission.lat, now)
    else:
        place = submission.footprint
        _check_extent(conn, place, category, rules)
        areas = _place_footprint(conn, place, now)
    return _Vetted(category, answers, place, areas)


def _category(conn: Connection, category_code: str) -> Any:
    found = area_sql.categories_by_codes(conn, [category_code])
    if not found or found[0].retired_at is not None:
        retired = " It is retired." if found else ""
        raise PhananhError(ErrorCode.UNKNOWN_CATEGORY,
                           f"Unknown category {quoted(category_code)}; see `categories`.{retired}")
    return found[0]


MEASURE = text("""
    SELECT ST_Dimension(g) AS dimension,
           CASE ST_Dimension(g) WHEN 0 THEN ST_Length(ST_LongestLine(g, g)::geography)
                                ELSE ST_Length(g::geography) END AS length_m,
           ST_Area(g::geography) / 10000 AS area_ha
    FROM (SELECT ST_GeomFromWKB(:wkb, 4326) AS g) AS f""")


def _check_extent(conn: Connection, footprint: BaseGeometry, category: Any,
                  rules: FootprintRules) -> None:
    """Refuse a footprint larger than the category allows: a line by its length (a
    MultiPoint by its widest span), a polygon by its area, both on the spheroid."""
    measure = conn.execute(MEASURE, {"wkb": wkb(footprint)}).one()
    if measure.dimension == 2:
        limit = category.max_footprint_ha or rules.max_area_ha
        size, unit = measure.area_ha, "ha"
    else:
        limit = category.max_footprint_m or rules.max_length_m
        size, unit = measure.length_m, "m"
    if size > limit:
        what = "area" if unit == "ha" else "length"
        raise PhananhError(
            ErrorCode.FOOTPRINT_TOO_LARGE,
            f"The footprint's {what} is {size:,.1f} {unit}; complaints of category "
            f"{quoted(category.code)} may be at most {limit:,.1f} {unit}.",
            measure=round(size, 3), limit=limit, unit=unit)


def _place(conn: Connection, lon: float, lat: float, at: datetime) -> dict[str, int]:
    """The ward, district and city ids holding the point at ``at``; a point in no ward is
    refused, with a hint when the pair looks swapped."""
    here = lookup_points(conn, [(lon, lat)], at)[0]
    if "ward" not in here:
        swapped = ward_at(conn, lat, lon) is not None
        hint = " The coordinates look swapped: give lon first, then lat." if swapped else ""
        raise PhananhError(ErrorCode.OUTSIDE_JURISDICTION,
                           f"({lon}, {lat}) is not inside any ward served here.{hint}",
                           swapped=swapped)
    return here


def _place_footprint(conn: Connection, footprint: BaseGeometry,
                     at: datetime) -> dict[str, int]:
    """The ward, district and city with the largest share of the footprint at ``at``; a
    footprint in no ward is refused."""
    here = lookup_footprint(conn, footprint, at)
    if "ward" not in here:
        raise PhananhError(ErrorCode.OUTSIDE_JURISDICTION,
                           "The footprint touches no ward served here.")
    return here


def _values(submission: Submission, areas: dict[str, int], routing: Routing,
            answers: tuple[dict[str, Any], dict[str, Any]], now: datetime,
            due: datetime) -> dict[str, Any]:
    """The complaint's columns (its footprint and ward routing aside)."""
    reporter, account = submission.reporter, submission.account
    return {
        "public_id": complaint_sql.new_public_id(),
        "description": submission.description.strip(),
        "category_code": submission.category_code,
        "address": submission.address,
        "ward_id": areas.get("ward"),
        "district_id": areas.get("district"),
        "city_id": areas.get("city"),
        "channel": submission.channel,
        "media_urls": list(submission.media_urls),
        "created_at": now,
        "updated_at": now,
        "due_at": due,
        "agency_code": routing.agency_code,
        "routing_rule_id": routing.rule_id,
        "routing_reason": routing.reason,
        "attributes": answers[0],
        "private_attributes": answers[1],
        "idempotency_key": submission.idempotency_key,
        "reporter_name": reporter.name,
        "reporter_phone": reporter.phone,
        "reporter_email": reporter.email,
        "reporter_user_id": account.user_id if account else None,
    }
