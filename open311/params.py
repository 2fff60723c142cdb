"""Open311 query strings and forms, checked and turned into what the services take.

Filters go through the GraphQL API's own input types (``schema.inputs``), so a bbox, a radius or
a submission is refused for the same reasons, with the same codes, whichever API it came by.
"""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from db.complaints import ComplaintFilter
from errors import ErrorCode, PhananhError
from schema.inputs import BBoxInput, NearInput, ReporterInput, SubmitComplaintInput
from schema.inputs import ComplaintFilter as FilterInput
from schema.text import clean_text as checked_text
from workflow.states import OPEN311_STATUSES
from workflow.submission import Submission

MAX_PAGE_SIZE = 1_000  # the spec's "first 1000 requests"
MAX_WINDOW = timedelta(days=90)  # the spec's "may not span more than 90 days"
MAX_DESCRIPTION = 4_000  # the spec's limit on a description
MAX_IDS = 1_000
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_TEXT = 1_000
CHANNEL = "open311"
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,100})\](\[\])?$")


def single(params: Mapping[str, list[str]], name: str) -> str | None:
    """A parameter's one value; empty counts as absent (the spec's "Optional Arguments")."""
    values = [v for v in params.get(name, []) if v != ""]
    if len(values) > 1:
        raise PhananhError(ErrorCode.BAD_INPUT, f"`{name}` is given more than once.")
    return values[0] if values else None


def comma_list(params: Mapping[str, list[str]], name: str) -> list[str]:
    """Comma lists, also declared several times (both are the spec's)."""
    return [part.strip() for value in params.get(name, []) for part in value.split(",")
            if part.strip()]


def number(params: Mapping[str, list[str]], name: str) -> float | None:
    value = single(params, name)
    if value is None:
        return None
    try:
        parsed = float(value)
    except ValueError:
        raise PhananhError(ErrorCode.BAD_INPUT, f"`{name}` must be a number.") from None
    if not math.isfinite(parsed):
        raise PhananhError(ErrorCode.BAD_COORDINATES, f"`{name}` must be a finite number.")
    return parsed


def w3_datetime(params: Mapping[str, list[str]], name: str) -> datetime | None:
    value = single(params, name)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise PhananhError(ErrorCode.BAD_INPUT, f"`{name}` must be a w3 date-time with a "
                                                f"time zone, e.g. 2010-01-01T00:00:00Z.")
    return parsed.astimezone(UTC)


def window(params: Mapping[str, list[str]], now: datetime) -> tuple[datetime, datetime]:
    """start_date..end_date (both inclusive): by default the last 90 days; one end given, the
    90 days from (or up to) it; both given, at most 90 days apart."""
    start, end = w3_datetime(params, "start_date"), w3_datetime(params, "end_date")
    if start is None and end is None:
        return now - MAX_WINDOW, now
    if start is None:
        return end - MAX_WINDOW, end  # type: ignore[operator]
    if end is None:
        return start, start + MAX_WINDOW
    if end < start:
        raise PhananhError(ErrorCode.BAD_INPUT, "end_date is before start_date.")
    if end - start > MAX_WINDOW:
        raise PhananhError(ErrorCode.BAD_INPUT, "start_date to end_date may not span more "
                                                "than 90 days.")
    return start, end


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(params: Mapping[str, list[str]]) -> Paging:
    """The common `page` (from 1) and `page_size` (at most, and by default, 1,000)."""
    page, size = number(params, "page"), number(params, "page_size")
    page = 1 if page is None else page
    size = MAX_PAGE_SIZE if size is None else size
    if page != int(page) or not 1 <= page <= 1_000_000:
        raise PhananhError(ErrorCode.BAD_INPUT, "`page` is a whole number from 1.")
    if size != int(size) or not 1 <= size <= MAX_PAGE_SIZE:
        raise PhananhError(ErrorCode.PAGE_TOO_LARGE,
                           f"`page_size` is a whole number from 1 to {MAX_PAGE_SIZE}.")
    return Paging(limit=int(size), offset=(int(page) - 1) * int(size))


def request_filter(params: Mapping[str, list[str]], now: datetime,
                   max_polygon_vertices: int) -> ComplaintFilter:
    """GET requests' filters: service_code, start_date/end_date, status, and the common
    extensions `bbox` (west,south,east,north) and `lat`/`long`/`radius` (metres)."""
    start, end = window(params, now)
    statuses = []
    for name in comma_list(params, "status"):
        if name not in OPEN311_STATUSES:
            raise PhananhError(ErrorCode.BAD_INPUT, "`status` is open or closed.")
        statuses.extend(OPEN311_STATUSES[name])
    bbox = None
    if single(params, "bbox") is not None:
        parts = comma_list(params, "bbox")
        if len(parts) != 4:
            raise PhananhError(ErrorCode.BAD_COORDINATES,
                               "`bbox` is west,south,east,north in degrees.")
        west, south, east, north = (_float(p, "bbox") for p in parts)
        bbox = BBoxInput(west=west, south=south, east=east, north=north)
    near = None
    lat, lon, radius = number(params, "lat"), number(params, "long"), number(params, "radius")
    if (lat, lon, radius) != (None, None, None):
        if lat is None or lon is None or radius is None:
            raise PhananhError(ErrorCode.BAD_INPUT, "`lat`, `long` and `radius` (metres) go "
                                                    "together.")
        near = NearInput(lon=lon, lat=lat, radius_m=radius)
    query = FilterInput(bbox=bbox, near=near, categories=comma_list(params, "service_code"),
                        created_from=start).to_query(max_polygon_vertices)
    return replace(query, statuses=tuple(dict.fromkeys(statuses)),
                   created_to=end + timedelta(microseconds=1))


def request_ids(params: Mapping[str, list[str]]) -> list[str]:
    ids = comma_list(params, "service_request_id")
    if len(ids) > MAX_IDS:
        raise PhananhError(ErrorCode.BATCH_TOO_LARGE,
                           f"At most {MAX_IDS} service_request_id at once.")
    return ids


def attributes(form: Mapping[str, list[str]]) -> dict[str, str | list[str]]:
    """``attribute[code]=value``, and for multivaluelists ``attribute[code][]=value`` (or the
    plain form repeated), as the answers ``workflow.submission`` checks against the category:
    code → a value, or a list of values (stripped; at most 50 codes of 50 values of 1,000
    characters)."""
    found: dict[str, list[str]] = {}
    listed: set[str] = set()
    for key, values in form.items():
        match = _ATTRIBUTE.match(key)
        if match:
            code = match.group(1)
            if match.group(2):
                listed.add(code)
            found.setdefault(code, []).extend(
                checked_text(f"attribute[{code}]", v, 0, MAX_ATTRIBUTE_TEXT) or "" for v in values)
    if len(found) > MAX_ATTRIBUTES or any(len(v) > MAX_ATTRIBUTES for v in found.values()):
        raise PhananhError(ErrorCode.BAD_INPUT,
                           f"At most {MAX_ATTRIBUTES} attributes of {MAX_ATTRIBUTES} values.")
    return {code: values if code in listed or len(values) > 1 else values[0]
            for code, values in found.items()}


def point(form: Mapping[str, list[str]]) -> tuple[float, float] | None:
    """The submission's (lon, lat), or None when it is to be placed by its address_string."""
    lat, lon = number(form, "lat"), number(form, "long")
    if lat is not None and lon is not None:
        return lon, lat
    if lat is not None or lon is not None:
        raise PhananhError(ErrorCode.BAD_COORDINATES, "`lat` and `long` go together.")
    if single(form, "address_string") is None:
        detail = " (address_id is not supported here)" if single(form, "address_id") else ""
        raise PhananhError(ErrorCode.BAD_COORDINATES,
                           f"Give the place: lat and long, or address_string{detail}.")
    return None


def submission(form: Mapping[str, list[str]], lon: float, lat: float,
               idempotency_key: str | None = None) -> Submission:
    """POST requests' form at (lon, lat) as the submission GraphQL's ``submitComplaint``
    makes: the same checks (the idempotency key's included), the reporter's contact, and the
    attributes for the catalogue."""
    code = single(form, "service_code")
    if code is None:
        raise PhananhError(ErrorCode.BAD_INPUT, "service_code is required.")
    description = checked_text("description", single(form, "description") or "", 1,
                               MAX_DESCRIPTION)
    names = [n for n in (single(form, "first_name"), single(form, "last_name")) if n]
    media_url = single(form, "media_url")
    submit_input = SubmitComplaintInput(
        category_code=code, description=description or "", lon=lon, lat=lat,
        address=single(form, "address_string"), channel=CHANNEL,
        media_urls=[media_url] if media_url else None, idempotency_key=idempotency_key,
        reporter=ReporterInput(name=" ".join(names) or None, phone=single(form, "phone"),
                               email=single(form, "email")))
    # A point: no footprint to count vertices of.
    return replace(submit_input.to_submission(None, max_vertices=0),
                   attributes=attributes(form))


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise PhananhError(ErrorCode.BAD_COORDINATES, f"`{name}` holds numbers only.") from None
