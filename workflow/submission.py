"""Submitting a complaint: the category must exist and be in service, the answers to its
attributes must fit their definitions, the point must lie in a ward served here, and the
complaint is stored placed in that ward, its district and city, routed to an agency
(:mod:`workflow.routing`), due when the category's SLA runs out in working time
(:mod:`workflow.calendar`).

Checks go in this order: UNKNOWN_CATEGORY (also for a retired category), BAD_INPUT for the
attribute answers (every attribute's problem at once), then OUTSIDE_JURISDICTION (naming
swapped coordinates when swapping the pair lands in a ward). The caller has already checked
the submission's shape (lengths, coordinate ranges) and the rate limit; every channel that
takes complaints (GraphQL, Open311) calls :func:`submit`, so these rules live in one place.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from auth.principal import Principal
from catalogue.attributes import attributes_for, check_answers
from db import areas as area_sql
from db import complaints as complaint_sql
from errors import ErrorCode, PhananhError
from geo.jurisdiction import lookup_points, ward_at
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
    lon: float
    lat: float
    address: str | None = None
    channel: str = "app"
    media_urls: tuple[str, ...] = ()
    idempotency_key: str | None = None
    reporter: Reporter = Reporter()
    account: Principal | None = None  # the signed-in citizen who becomes the reporter
    # Answers to the category's attributes, by attribute code (see catalogue/attributes.py).
    attributes: dict[str, Any] = field(default_factory=dict)


def submit(conn: Connection, submission: Submission) -> Any:
    """Place, route and store the complaint (once per idempotency key), returning its row as
    the submitting account sees it; or say why not."""
    sla_hours = _sla_hours(conn, submission.category_code)
    answers = check_answers(attributes_for(conn, submission.category_code),
                            submission.attributes)
    now = datetime.now(UTC)
    areas = _place(conn, submission.lon, submission.lat, now)
    routing = route(conn, submission.category_code, areas, now)
    values = _values(submission, areas, routing, answers, now,
                     due_at(conn, now, sla_hours))
    return complaint_sql.insert_complaint(conn, values, submission.lon, submission.lat,
                                          submission.account)


def _sla_hours(conn: Connection, category_code: str) -> int:
    found = area_sql.categories_by_codes(conn, [category_code])
    if not found or found[0].retired_at is not None:
        retired = " It is retired." if found else ""
        raise PhananhError(ErrorCode.UNKNOWN_CATEGORY,
                           f"Unknown category {category_code!r}; see `categories`.{retired}")
    return found[0].sla_hours


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


def _values(submission: Submission, areas: dict[str, int], routing: Routing,
            answers: tuple[dict[str, Any], dict[str, Any]], now: datetime,
            due: datetime) -> dict[str, Any]:
    """The complaint's columns (its location aside)."""
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
