"""Output types. Relations resolve through DataLoaders, so a page never costs a query per row."""

from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from context import Context
from errors import ErrorCode, PhananhError
from schema.scalars import GeoJSON
from workflow import states


@strawberry.enum
class AreaLevel(Enum):
    CITY = "city"
    DISTRICT = "district"
    WARD = "ward"


# The workflow's own lists, published as they are (workflow/states.py is their one home).
ComplaintStatus = strawberry.enum(states.Status, name="ComplaintStatus")
Rating = strawberry.enum(states.Rating, name="Rating")


@strawberry.enum
class ComplaintOrder(Enum):
    CREATED_AT = "CREATED_AT"
    DISTANCE = "DISTANCE"
    RELEVANCE = "RELEVANCE"


Ctx = Info[Context, None]
MAX_DUPLICATES = 20


@strawberry.type(description="A set of boundaries in force over a period (e.g. wards since 2025).")
class Generation:
    name: str
    valid_from: date | None
    valid_to: date | None
    active: bool = strawberry.field(description=(
        "Whether the generation may be in force (`phananh boundaries activate` / `deactivate`)."))
    in_force: list[AreaLevel] = strawberry.field(description=(
        "The levels for which this generation is in force today (UTC), which routing, lookups, "
        "layers and analyses use when no generation is named. Per level, the rule is: among "
        "the active generations valid today (validFrom ≤ today < validTo, open ends allowed) "
        "that have areas of the level, the one with the latest validFrom (none counts as "
        "oldest), then the newest created. Empty when it is in force for no level."))

    @classmethod
    def from_row(cls, row: Any) -> "Generation":
        return cls(name=row.name, valid_from=row.valid_from, valid_to=row.valid_to,
                   active=row.active, in_force=[AreaLevel(level) for level in row.in_force])


@strawberry.type(description="An administrative area: a city, a district or a ward.")
class Area:
    id: strawberry.Private[int]
    generation_id: strawberry.Private[int]
    parent_id: strawberry.Private[int | None]
    code: str
    name: str
    name_en: str | None
    level: AreaLevel
    area_km2: float
    population: int | None

    @classmethod
    def from_row(cls, row: Any) -> "Area":
        return cls(id=row.id, generation_id=row.generation_id, parent_id=row.parent_id,
                   code=row.code, name=row.name, name_en=row.name_en,
                   level=AreaLevel(row.level), area_km2=row.area_km2, population=row.population)

    @strawberry.field
    async def generation(self, info: Ctx) -> Generation:
        return Generation.from_row(await info.context.loaders.generation.load(self.generation_id))

    @strawberry.field(description="The area one level up (ward → district → city).")
    async def parent(self, info: Ctx) -> "Area | None":
        return await load_area(info, self.parent_id)

    @strawberry.field(description="The boundary. `simplify` is a tolerance in metres.")
    async def geometry(self, info: Ctx, simplify: float | None = None) -> GeoJSON:
        return await info.context.loaders.area_geometry(simplify).load(self.id)


@strawberry.type(description="Who is responsible for a place: its ward, district and city.")
class Jurisdiction:
    lon: float
    lat: float
    ward: Area | None
    district: Area | None
    city: Area | None

    @strawberry.field(description="The most local area found: the office that handles reports.")
    def responsible_area(self) -> Area | None:
        return self.ward or self.district or self.city


@strawberry.type
class Category:
    code: str
    name_vi: str
    name_en: str
    domain: str
    sla_hours: int
    sensitive: bool

    @classmethod
    def from_row(cls, row: Any) -> "Category":
        return cls(code=row.code, name_vi=row.name_vi, name_en=row.name_en, domain=row.domain,
                   sla_hours=row.sla_hours, sensitive=row.sensitive)


@strawberry.type(description="How to reach the reporter: shown only to the reporter and to "
                             "officials with jurisdiction over the complaint.")
class Reporter:
    name: str | None
    phone: str | None
    email: str | None


@strawberry.type(description="One entry of a complaint's append-only history.")
class ComplaintEvent:
    at: datetime
    kind: str
    from_status: ComplaintStatus | None
    to_status: ComplaintStatus | None
    actor_role: str = strawberry.field(
        description="reporter, system, or the official's role.")
    actor: str | None = strawberry.field(
        description="Who acted; shown only to those who may see the complaint's personal data.")
    note: str | None = strawberry.field(
        description="The reporter's own notes are shown only to those who may see personal data.")
    data: JSON


@strawberry.type(description="A citizen's report at a place. Reporter details are shown only to "
                             "the reporter and to officials with jurisdiction.")
class Complaint:
    pk: strawberry.Private[int]
    category_code: strawberry.Private[str]
    ward_id: strawberry.Private[int | None]
    district_id: strawberry.Private[int | None]
    city_id: strawberry.Private[int | None]
    may_see_personal: strawberry.Private[bool]
    personal: strawberry.Private[tuple[str | None, str | None, str | None]]
    id: strawberry.ID
    description: str
    lon: float
    lat: float
    status: ComplaintStatus
    version: int = strawberry.field(description="Send it back as `expectedVersion` when acting.")
    channel: str
    media_urls: list[str]
    address: str | None = strawberry.field(
        description="Street address; for sensitive categories shown only to those who may see "
                    "personal data.")
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None = strawberry.field(description="When the category's SLA runs out.")
    first_action_at: datetime | None
    resolved_at: datetime | None
    rating: Rating | None
    rejection_reason: str | None
    support_count: int = strawberry.field(description=(
        "Citizens who reported the same problem with `supportComplaint` (\"me too\")."))
    duplicate_of: strawberry.ID | None = strawberry.field(
        description="The public id of the original, for a DUPLICATE.")
    viewer_may_act: bool = strawberry.field(
        description="Whether the caller is an official with jurisdiction over it.")
    distance_m: float | None = strawberry.field(
        default=None, description="Metres from the `near` point, when filtering by `near`.")

    @classmethod
    def from_row(cls, row: Any) -> "Complaint":
        return cls(
            pk=row.id, category_code=row.category_code, ward_id=row.ward_id,
            district_id=row.district_id, city_id=row.city_id,
            may_see_personal=bool(row.may_see_personal),
            personal=(row.reporter_name, row.reporter_phone, row.reporter_email),
            id=strawberry.ID(row.public_id), description=row.description, lon=row.lon,
            lat=row.lat, status=ComplaintStatus(row.status), version=row.version,
            channel=row.channel, media_urls=list(row.media_urls), address=row.address,
            created_at=row.created_at, updated_at=row.updated_at, due_at=row.due_at,
            first_action_at=row.first_action_at, resolved_at=row.resolved_at,
            rating=Rating(row.rating) if row.rating else None,
            rejection_reason=row.rejection_reason, support_count=row.support_count,
            duplicate_of=row.duplicate_of_public_id, viewer_may_act=bool(row.may_act),
            distance_m=getattr(row, "distance_m", None),
        )

    @strawberry.field
    def location(self) -> GeoJSON:
        return {"type": "Point", "coordinates": [self.lon, self.lat]}

    @strawberry.field(description="Open and past `dueAt`.")
    def overdue(self) -> bool:
        return states.is_overdue(self.status, self.due_at, datetime.now(UTC))

    @strawberry.field(description="Open311's expected_datetime: the same as `dueAt`.")
    def expected_datetime(self) -> datetime | None:
        return self.due_at

    @strawberry.field(description="The reporter's contact, or null when the caller may not "
                                  "see it.")
    def reporter(self) -> Reporter | None:
        if not self.may_see_personal:
            return None
        name, phone, email = self.personal
        return Reporter(name=name, phone=phone, email=email)

    @strawberry.field(description="Every change, oldest first.")
    async def history(self, info: Ctx) -> list[ComplaintEvent]:
        events = await info.context.loaders.events.load(self.pk)
        return [_event(e, self.may_see_personal) for e in events]

    @strawberry.field
    async def category(self, info: Ctx) -> Category:
        return Category.from_row(await info.context.loaders.category.load(self.category_code))

    @strawberry.field(description=(
        "How to reach those who supported it: only for officials who may act on it (null "
        "for anyone else)."))
    async def supporters(self, info: Ctx) -> list[Reporter] | None:
        if not self.viewer_may_act:
            return None
        rows = await info.context.loaders.supporters.load(self.pk)
        return [Reporter(name=r.name, phone=r.phone, email=r.email) for r in rows]

    @strawberry.field(description=(
        "Open complaints within 300 m and 30 days that may report the same problem, best "
        "first: shown to a citizen after submitting (who may support one instead) and to "
        "officials in triage (then `markDuplicate`)."))
    async def possible_duplicates(
        self, info: Ctx, first: int = 5
    ) -> list["DuplicateCandidate"]:
        if not 1 <= first <= MAX_DUPLICATES:
            raise PhananhError(ErrorCode.BAD_INPUT,
                               f"`first` must be between 1 and {MAX_DUPLICATES}.")
        rows = await info.context.loaders.duplicates(first).load(self.pk)
        return [DuplicateCandidate.from_row(row) for row in rows]

    @strawberry.field
    async def ward(self, info: Ctx) -> Area | None:
        return await load_area(info, self.ward_id)

    @strawberry.field
    async def district(self, info: Ctx) -> Area | None:
        return await load_area(info, self.district_id)

    @strawberry.field
    async def city(self, info: Ctx) -> Area | None:
        return await load_area(info, self.city_id)


def _event(row: Any, personal: bool) -> ComplaintEvent:
    role = row.actor.split(":", 1)[0]
    by_reporter = row.actor == "reporter"
    return ComplaintEvent(
        at=row.at, kind=row.kind,
        from_status=ComplaintStatus(row.from_status) if row.from_status else None,
        to_status=ComplaintStatus(row.to_status) if row.to_status else None,
        actor_role=role, actor=row.actor if personal else None,
        note=row.note if personal or not by_reporter else None, data=row.data,
    )


@strawberry.enum(description="Which weights scored a possible duplicate.")
class DuplicateScorer(Enum):
    LEARNED = "LEARNED"  # fitted on officials' markDuplicate decisions, with the active model
    HAND_SET = "HAND_SET"  # the cold-start weights, before enough decisions are learned


@strawberry.type(description="An open complaint that may report the same problem.")
class DuplicateCandidate:
    candidate_id: strawberry.Private[str]
    score: float = strawberry.field(description=(
        "0–1, from distance, time apart, category and text similarity (`triage/duplicates.py`)."))
    scored_by: DuplicateScorer
    model_version: int | None = strawberry.field(description=(
        "The triage model version whose learned weights scored it (null: hand-set)."))
    distance_m: float
    hours_apart: float
    same_category: bool
    text_similarity: float = strawberry.field(description=(
        "Trigram similarity of the public descriptions, accents and case off (0–1)."))

    @strawberry.field
    async def complaint(self, info: Ctx) -> Complaint:
        context = info.context
        return Complaint.from_row(
            await context.loaders.complaint(context.principal).load(self.candidate_id))

    @classmethod
    def from_row(cls, row: Any) -> "DuplicateCandidate":
        learned = row.model_version is not None
        return cls(candidate_id=row.candidate, score=float(row.score),
                   scored_by=DuplicateScorer.LEARNED if learned else DuplicateScorer.HAND_SET,
                   model_version=row.model_version,
                   distance_m=float(row.distance_m), hours_apart=float(row.hours_apart),
                   same_category=bool(row.same_category),
                   text_similarity=float(row.text_similarity))


async def load_area(info: Ctx, area_id: int | None) -> Area | None:
    """The area of ``area_id`` through the request's loader; None for no id."""
    row = None if area_id is None else await info.context.loaders.area.load(area_id)
    return None if row is None else Area.from_row(row)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class ComplaintEdge:
    cursor: str
    node: Complaint


@strawberry.type(description="A Relay connection over complaints.")
class ComplaintConnection:
    edges: list[ComplaintEdge]
    page_info: PageInfo
    count_total: strawberry.Private[Any]

    @strawberry.field(description="All complaints matching the filter (one extra COUNT query).")
    async def total_count(self) -> int:
        return await self.count_total()

    @strawberry.field(description="The nodes of `edges`, for clients that need no cursors.")
    def nodes(self) -> list[Complaint]:
        return [edge.node for edge in self.edges]
