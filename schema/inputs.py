"""Input types. Each validates itself and converts to the domain objects the SQL layer takes,
so a bad value is refused with a clear code before any query runs."""

import math
import re
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON

from auth.principal import OFFICIAL_ROLES, Principal, Role
from db.complaints import ComplaintFilter as ComplaintQuery
from db.complaints import Near
from errors import ErrorCode, PhananhError
from geo.validation import check_bbox, check_point, parse_footprint, parse_polygon
from schema.scalars import GeoJSON
from schema.text import MAX_SEARCH_CHARS, clean_text
from schema.types import ComplaintStatus
from workflow.submission import Reporter, Submission

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 .\-()]{6,20}$")
MAX_RADIUS_M = 100_000.0


@strawberry.input
class PointInput:
    lon: float
    lat: float


def _point_from_input(cls: type[PointInput], value: Mapping[str, Any], _: object) -> PointInput:
    """Build points directly: both fields are plain floats graphql-core already coerced, and
    strawberry's generic per-field conversion would otherwise dominate a 10,000-point batch."""
    return cls(lon=value["lon"], lat=value["lat"])


PointInput.__strawberry_definition__.from_input = _point_from_input


@strawberry.input(description="west, south, east, north in degrees (lon/lat).")
class BBoxInput:
    west: float
    south: float
    east: float
    north: float


@strawberry.input(description="Within `radiusM` metres (true distance on the spheroid).")
class NearInput:
    lon: float
    lat: float
    radius_m: float

    def checked(self) -> Near:
        """The point and radius, or BAD_COORDINATES / BAD_INPUT."""
        check_point(self.lon, self.lat)
        if not (math.isfinite(self.radius_m) and 0 < self.radius_m <= MAX_RADIUS_M):
            raise PhananhError(ErrorCode.BAD_INPUT,
                               f"radiusM must be within (0, {MAX_RADIUS_M:.0f}] metres.")
        return Near(self.lon, self.lat, self.radius_m)


@strawberry.input
class ComplaintFilter:
    bbox: BBoxInput | None = None
    within: GeoJSON | None = strawberry.field(
        default=None, description="A GeoJSON Polygon or MultiPolygon.")
    near: NearInput | None = None
    ward_codes: list[str] | None = None
    district_codes: list[str] | None = None
    agency_codes: list[str] | None = strawberry.field(
        default=None, description="Routed to these agencies (see `agencies`).")
    categories: list[str] | None = None
    statuses: list[ComplaintStatus] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = strawberry.field(default=None, description="Exclusive.")
    overdue: bool | None = strawberry.field(
        default=None, description="Open and past due (true), or not (false).")
    in_my_jurisdiction: bool = strawberry.field(
        default=False, description="Officials: only complaints you may act on.")
    reported_by_me: bool = strawberry.field(
        default=False, description="Citizens: only complaints you reported.")
    text: str | None = strawberry.field(default=None, description=(
        "Words of the public description, accents and case ignored (\"duong ngap nuoc\" finds "
        "\"Đường ngập nước\"); quoted phrases, `or` and `-word` as in a web search. Only public "
        "text is searched: personal data written into a description is not."))

    def to_query(self, max_polygon_vertices: int,
                 principal: Principal | None = None) -> ComplaintQuery:
        bbox = None
        if self.bbox is not None:
            b = self.bbox
            check_bbox(b.west, b.south, b.east, b.north)
            bbox = (b.west, b.south, b.east, b.north)
        return ComplaintQuery(
            bbox=bbox,
            within=parse_polygon(self.within, max_polygon_vertices) if self.within else None,
            near=self.near.checked() if self.near else None,
            ward_codes=tuple(self.ward_codes or ()),
            district_codes=tuple(self.district_codes or ()),
            agency_codes=tuple(self.agency_codes or ()),
            categories=tuple(self.categories or ()),
            statuses=tuple(s.value for s in self.statuses or ()),
            created_from=self.created_from,
            created_to=self.created_to,
            overdue=self.overdue,
            actionable_by=self._caller(principal, self.in_my_jurisdiction, OFFICIAL_ROLES,
                                       "inMyJurisdiction is for officials"),
            reported_by=self._caller(principal, self.reported_by_me, {Role.CITIZEN},
                                     "reportedByMe is for signed-in citizens"),
            text=clean_text("text", self.text, 1, MAX_SEARCH_CHARS),
        )

    @staticmethod
    def _caller(principal: Principal | None, wanted: bool, roles: Collection[Role],
                refusal: str) -> Principal | None:
        if not wanted:
            return None
        if principal is None or principal.role not in roles:
            raise PhananhError(ErrorCode.FORBIDDEN, f"{refusal}.")
        return principal


@strawberry.input(description="How to reach the reporter. Never shown publicly.")
class ReporterInput:
    name: str | None = None
    phone: str | None = None
    email: str | None = None

    def to_reporter(self) -> Reporter:
        """The checked contact details (a reporter's, or a supporter's)."""
        name = clean_text("reporter.name", self.name, 0, 200)
        if self.email and not EMAIL.match(self.email):
            raise PhananhError(ErrorCode.BAD_INPUT, "reporter.email is not an e-mail address.")
        if self.phone and not PHONE.match(self.phone):
            raise PhananhError(ErrorCode.BAD_INPUT, "reporter.phone is not a phone number.")
        return Reporter(name=name, phone=self.phone, email=self.email)


@strawberry.input(description="A photo sent as a file of a GraphQL multipart request.")
class PhotoUpload:
    file: Upload
    private: bool = strawberry.field(
        default=False, description="Shown only to those who may see personal data.")

    async def read(self, max_bytes: int) -> tuple[bytes, bool]:
        """The file's bytes (one more than ``max_bytes`` at most: enough to refuse it)."""
        if not isinstance(self.file, UploadFile):  # a literal or JSON value, not a file part
            raise PhananhError(ErrorCode.BAD_INPUT, "Send each photo as a file part of a "
                                                    "multipart request (GraphQL multipart "
                                                    "request spec).")
        return await self.file.read(max_bytes + 1), self.private


@strawberry.input
class SubmitComplaintInput:
    category_code: str
    description: str
    lon: float | None = None
    lat: float | None = None
    location: GeoJSON | None = strawberry.field(
        default=None, description="Instead of lon and lat: a GeoJSON Point, or the "
                                  "complaint's footprint, a LineString, Polygon or a Multi- "
                                  "form (valid, at most PHANANH_MAX_POLYGON_VERTICES "
                                  "vertices, no larger than the category allows).")
    address: str | None = None
    reporter: ReporterInput | None = None
    channel: str = "app"
    media_urls: list[str] | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retry-safe: the same key returns the first complaint.")
    attributes: JSON | None = strawberry.field(
        default=None, description="Answers to the category's attributes (`categories { "
                                  "attributes }`), by attribute code, e.g. {\"floors\": 5}.")
    photos: list[PhotoUpload] | None = strawberry.field(
        default=None, description="Photos of the problem (JPEG, PNG or WebP; multipart upload).")

    def point(self) -> tuple[float, float]:
        """(lon, lat) from either `lon`/`lat` or a Point `location`; range checks are the
        caller's."""
        if self.location is not None:
            coordinates = self.location.get("coordinates")
            if not (isinstance(coordinates, list) and len(coordinates) == 2
                    and all(isinstance(v, (int, float)) for v in coordinates)):
                raise PhananhError(ErrorCode.INVALID_GEOMETRY,
                                   "A Point's coordinates are [lon, lat].")
            lon, lat = float(coordinates[0]), float(coordinates[1])
        elif self.lon is not None and self.lat is not None:
            lon, lat = self.lon, self.lat
        else:
            raise PhananhError(ErrorCode.BAD_COORDINATES, "Give `lon` and `lat`, or `location`.")
        return lon, lat

    def to_submission(self, account: Principal | None, max_vertices: int) -> Submission:
        """The checked submission for ``workflow.submission``; ``account`` is the signed-in
        citizen who becomes its reporter, if any. Texts are stored as they were measured:
        stripped of surrounding white space. A footprint other than a Point is checked like a
        `within` polygon (``parse_footprint``)."""
        description = clean_text("description", self.description, 1, 5_000)
        address = clean_text("address", self.address, 0, 500)
        channel = clean_text("channel", self.channel, 1, 30)
        key = clean_text("idempotencyKey", self.idempotency_key, 1, 200)
        urls = self.media_urls or []
        if len(urls) > 10 or any(not re.match(r"^https?://\S{1,2000}$", u) for u in urls):
            raise PhananhError(ErrorCode.BAD_INPUT, "mediaUrls: at most 10 http(s) URLs.")
        reporter = (self.reporter or ReporterInput()).to_reporter()
        lon = lat = footprint = None
        if self.location is not None and self.location.get("type") != "Point":
            footprint = parse_footprint(self.location, max_vertices)
        else:
            lon, lat = self.point()
        if self.attributes is not None and not isinstance(self.attributes, dict):
            raise PhananhError(ErrorCode.BAD_INPUT, "attributes: an object of answers by "
                                                    "attribute code.")
        return Submission(
            category_code=self.category_code, description=description or "", lon=lon, lat=lat,
            footprint=footprint,
            address=address, channel=channel or "", media_urls=tuple(urls),
            idempotency_key=key,
            reporter=reporter, account=account, attributes=dict(self.attributes or {}))
