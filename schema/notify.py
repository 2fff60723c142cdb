"""GraphQL types and inputs of contacts and alerts (notify/alerts.py does the work)."""

import re
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from errors import ErrorCode, PhananhError
from geo.validation import parse_polygon
from notify.alerts import AlertArea, Circle
from schema.inputs import EMAIL, NearInput
from schema.scalars import GeoJSON
from schema.text import clean_text

URL = re.compile(r"^https?://[^\s/$.?#][^\s]{0,2000}$")


@strawberry.enum
class ContactChannel(Enum):
    WEBHOOK = "webhook"
    EMAIL = "email"


@strawberry.enum
class Language(Enum):
    VI = "vi"
    EN = "en"


@strawberry.enum(description="What an alert is told of.")
class AlertEventKind(Enum):
    NEW = "NEW"  # a complaint submitted in the area
    STATUS_CHANGE = "STATUS_CHANGE"  # a complaint of the area changed status or was rerouted


@strawberry.type(description="Where notifications reach you.")
class Contact:
    id: strawberry.ID
    channel: ContactChannel
    target: str
    lang: Language
    secret: str | None = strawberry.field(
        description="Webhooks: the key of the HMAC-SHA256 in X-Phananh-Signature.")
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> "Contact":
        return cls(id=strawberry.ID(str(row.id)), channel=ContactChannel(row.channel),
                   target=row.target, lang=Language(row.lang), secret=row.secret,
                   created_at=row.created_at)


@strawberry.type(description="An area you watch; notifications go to all your contacts.")
class Alert:
    id: strawberry.ID
    name: str
    area: GeoJSON = strawberry.field(description="The watched area, as a MultiPolygon.")
    categories: list[str] = strawberry.field(description="Empty: every category.")
    event_kinds: list[AlertEventKind]
    active: bool = strawberry.field(description="False once unsubscribed.")
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> "Alert":
        return cls(id=strawberry.ID(str(row.id)), name=row.name, area=row.area,
                   categories=list(row.categories),
                   event_kinds=[AlertEventKind(k) for k in row.event_kinds],
                   active=row.active, created_at=row.created_at)


@strawberry.input
class ContactInput:
    channel: ContactChannel
    target: str = strawberry.field(description="An http(s) URL, or an e-mail address.")
    lang: Language = Language.VI

    def checked_target(self) -> str:
        target = self.target.strip()
        pattern = URL if self.channel is ContactChannel.WEBHOOK else EMAIL
        if len(target) > 2_000 or not pattern.match(target):
            what = "an http(s) URL" if self.channel is ContactChannel.WEBHOOK else \
                "an e-mail address"
            raise PhananhError(ErrorCode.BAD_INPUT, f"target must be {what}.")
        return target


@strawberry.input(description="Give exactly one of `within`, `wardCode` and `near`.")
class AlertInput:
    name: str
    within: GeoJSON | None = strawberry.field(
        default=None, description="A drawn GeoJSON Polygon or MultiPolygon.")
    ward_code: str | None = None
    near: NearInput | None = strawberry.field(default=None, description="A circle.")
    categories: list[str] | None = None
    event_kinds: list[AlertEventKind] = strawberry.field(
        default_factory=lambda: [AlertEventKind.NEW, AlertEventKind.STATUS_CHANGE])

    def area(self, max_polygon_vertices: int) -> AlertArea:
        given = [x for x in (self.within, self.ward_code, self.near) if x is not None]
        if len(given) != 1:
            raise PhananhError(ErrorCode.BAD_INPUT,
                               "Give exactly one of `within`, `wardCode` and `near`.")
        if self.within is not None:
            return AlertArea(polygon=parse_polygon(self.within, max_polygon_vertices))
        if self.near is not None:
            near = self.near.checked()
            return AlertArea(circle=Circle(near.lon, near.lat, near.radius_m))
        return AlertArea(ward_code=self.ward_code)

    def checked_name(self) -> str:
        return clean_text("name", self.name, 1, 200) or ""
