"""Submitting a complaint: the category must exist, the point must lie in a ward served here,
and the complaint is stored routed to that ward, its district and city, due when the
category's SLA runs out.

Checks go in this order: UNKNOWN_CATEGORY, then OUTSIDE_JURISDICTION (naming swapped
coordinates when swapping the pair lands in a ward). The caller has already checked the
submission's shape (lengths, coordinate ranges) and the rate limit; every channel that takes
complaints (GraphQL today) calls :func:`submit`, so routing is decided in one place.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from auth.principal import Principal
from db import areas as area_sql
from db import complaints as complaint_sql
from errors import ErrorCode, PhananhError
from geo.jurisdiction import lookup_points, ward_at
from media.service import StoredPhoto, attach


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
    photos: tuple[StoredPhoto, ...] = ()  # already checked, re-encoded and stored


def submit(conn: Connection, submission: Submission) -> Any:
    """Route the complaint to the ward holding it and store it (once per idempotency key),
    returning its row as the submitting account sees it; or say why not."""
    sla_hours = _sla_hours(conn, submission.category_code)
    now = datetime.now(UTC)
    areas = _route(conn, submission.lon, submission.lat, now)
    values = _values(submission, areas, now, now + timedelta(hours=sla_hours))
    row = complaint_sql.insert_complaint(conn, values, submission.lon, submission.lat,
                                         submission.account)
    if submission.photos and row.created_at == now:  # not a retry answered with the first
        attach(conn, row.id, submission.photos, "REPORT", "reporter", len(submission.photos))
    return row


def _sla_hours(conn: Connection, category_code: str) -> int:
    found = area_sql.categories_by_codes(conn, [category_code])
    if not found:
        raise PhananhError(ErrorCode.UNKNOWN_CATEGORY,
                           f"Unknown category {category_code!r}; see `categories`.")
    return found[0].sla_hours


def _route(conn: Connection, lon: float, lat: float, at: datetime) -> dict[str, int]:
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


def _values(submission: Submission, areas: dict[str, int], now: datetime,
            due_at: datetime) -> dict[str, Any]:
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
        "due_at": due_at,
        "idempotency_key": submission.idempotency_key,
        "reporter_name": reporter.name,
        "reporter_phone": reporter.phone,
        "reporter_email": reporter.email,
        "reporter_user_id": account.user_id if account else None,
    }
