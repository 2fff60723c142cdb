"""Output types. Relations resolve through DataLoaders, so a page never costs a query per row."""

import math
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry.utils.await_maybe import AwaitableOrValue

from auth.policy import visible_note
from context import Context
from db.photos import photo_path
from errors import ErrorCode, PhananhError
from geo.validation import SIMPLIFY_HELP
from schema.catalogue import Agency, CategoryAttribute, Routing, load_agency
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
MAX_CANDIDATE_DISTANCE_M = 5_000.0
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

    @strawberry.field(description=f"The boundary. {SIMPLIFY_HELP}")
    async def geometry(self, info: Ctx, simplify: float | None = None) -> GeoJSON:
        return await info.context.loaders.area_geometry(simplify).load(self.id)


@strawberry.type(description="A ward near a place: where a complaint there could also go.")
class WardCandidate:
    area_id: strawberry.Private[int]
    distance_m: float = strawberry.field(
        description="Metres from the place to the ward (0: the place is in it).")

    @strawberry.field(description="Null only when a routing record names a ward whose "
                                  "boundary generation was deleted since.")
    async def ward(self, info: Ctx) -> Area | None:
        return await load_area(info, self.area_id)


@strawberry.type(description="Who is responsible for a place: its ward, district and city; "
                             "with a category, the agency and why.")
class Jurisdiction:
    lon: float
    lat: float
    at: strawberry.Private[datetime | None]
    ward: Area | None
    district: Area | None
    city: Area | None
    routing: Routing | None = strawberry.field(
        default=None, description="The routing of a complaint of the `category` asked here "
                                  "(null without a category).")

    @strawberry.field(description="The agency responsible here for the `category` asked.")
    async def agency(self, info: Ctx) -> Agency | None:
        return None if self.routing is None else await load_agency(info,
                                                                   self.routing.agency_code)

    @strawberry.field(description="The most local area found: the office that handles reports.")
    def responsible_area(self) -> Area | None:
        return self.ward or self.district or self.city

    @strawberry.field(description="Border candidates: the wards whose boundary lies within "
                                  "`withinM` metres of the point (default "
                                  "PHANANH_BORDER_DISTANCE_M, 30), the nearest first, the "
                                  "ward holding it at 0 m; ties by code.")
    async def candidates(self, info: Ctx, within_m: float | None = None
                         ) -> list[WardCandidate]:
        distance = info.context.settings.border_distance_m if within_m is None else within_m
        if not (math.isfinite(distance) and 0 <= distance <= MAX_CANDIDATE_DISTANCE_M):
            raise PhananhError(ErrorCode.BAD_INPUT, f"withinM must be within 0 and "
                                                    f"{MAX_CANDIDATE_DISTANCE_M:.0f} metres.")
        found = await info.context.loaders.candidates.load(
            (self.lon, self.lat, distance, self.at))
        return [WardCandidate(area_id=c.area_id, distance_m=c.distance_m) for c in found]


@strawberry.type(description="A kind of problem (an Open311 service), from the city's "
                             "catalogue.")
class Category:
    code: str
    name_vi: str
    name_en: str
    domain: str = strawberry.field(description="Its group (Open311 `group`).")
    sla_hours: int = strawberry.field(description="Working hours to answer in (the city's "
                                                  "calendar).")
    sensitive: bool
    max_footprint_m: float | None = strawberry.field(description=(
        "The longest line (or widest MultiPoint) a complaint of this category may have, in "
        "metres; null: PHANANH_FOOTPRINT_MAX_LENGTH_M."))
    max_footprint_ha: float | None = strawberry.field(description=(
        "The largest polygon, in hectares; null: PHANANH_FOOTPRINT_MAX_AREA_HA."))
    description: str | None
    retired: bool = strawberry.field(description="Retired categories stay readable with their "
                                                 "complaints but take no new ones.")

    @classmethod
    def from_row(cls, row: Any) -> "Category":
        return cls(code=row.code, name_vi=row.name_vi, name_en=row.name_en, domain=row.domain,
                   sla_hours=row.sla_hours, sensitive=row.sensitive,
                   max_footprint_m=row.max_footprint_m, max_footprint_ha=row.max_footprint_ha,
                   description=row.description, retired=row.retired_at is not None)

    @strawberry.field(description="Its custom attributes, in order.")
    async def attributes(self, info: Ctx) -> list[CategoryAttribute]:
        rows = await info.context.loaders.attributes.load(self.code)
        return [CategoryAttribute.from_row(r) for r in rows]


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
        description="As written for those who may see personal data; for anyone else, an "
                    "official's note with phones, e-mails, ID numbers and plates redacted, and "
                    "the reporter's own notes not at all.")
    data: JSON


@strawberry.type(description="A ward's share of a complaint's footprint.")
class AreaShare:
    area_id: strawberry.Private[int]
    share: float = strawberry.field(description="Of the footprint's length (lines), area "
                                                "(polygons) or points (1 for a point).")

    @strawberry.field(description="Null only when a routing record names a ward whose "
                                  "boundary generation was deleted since.")
    async def area(self, info: Ctx) -> Area | None:
        return await load_area(info, self.area_id)


@strawberry.type(description="Why a complaint went to its ward (`routing` says which agency "
                             "handles it).")
class WardRouting:
    rule: str = strawberry.field(description="`covers` (the ward holding the point), "
                                             "`largest_share` (of the footprint; ties to the "
                                             "lowest code) or `rerouted` (by an official).")
    within_m: float = strawberry.field(description="The border distance candidates were "
                                                   "sought within.")
    candidates: list[WardCandidate] = strawberry.field(
        description="Wards within `withinM` metres of the place at submission.")
    shares: list[AreaShare] = strawberry.field(
        description="For a footprint, every ward it touched at submission with its share.")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "WardRouting":
        return cls(rule=data["rule"], within_m=data["withinM"],
                   candidates=[WardCandidate(area_id=c["areaId"], distance_m=c["distanceM"])
                               for c in data.get("candidates", [])],
                   shares=[AreaShare(area_id=s["areaId"], share=s["share"])
                           for s in data.get("shares", [])])


@strawberry.type(description="A photo of a complaint, re-encoded without its metadata (no EXIF, "
                             "no GPS). Private photos and photos of sensitive categories are "
                             "listed only to those who may see personal data.")
class Photo:
    url: str = strawberry.field(description="Its path under the API's address; a random token, "
                                            "send the bearer token for restricted photos.")
    thumbnail_url: str
    stage: str = strawberry.field(description="REPORT (the citizen's) or AFTER (the result).")
    private: bool
    media_type: str
    width: int
    height: int
    bytes: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> "Photo":
        return cls(url=photo_path(row.token), thumbnail_url=photo_path(row.token, thumbnail=True),
                   stage=row.stage, private=row.private, media_type=row.media_type,
                   width=row.width, height=row.height, bytes=row.bytes,
                   created_at=row.created_at)


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
    public_answers: strawberry.Private[dict[str, Any]]
    private_answers: strawberry.Private[dict[str, Any] | None]
    routing: Routing
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
        default=None, description="Metres from the `near` point to the footprint, when "
                                  "filtering by `near`.")
    footprint: GeoJSON = strawberry.field(
        description="What the reporter drew: a Point (then the same as `location`), a "
                    "LineString, a Polygon or a Multi- form.")
    ward_routing: WardRouting | None = strawberry.field(
        default=None, description="Why it went to its ward (null for complaints loaded in "
                                  "bulk).")

    @classmethod
    def from_row(cls, row: Any) -> "Complaint":
        return cls(
            pk=row.id, category_code=row.category_code, ward_id=row.ward_id,
            district_id=row.district_id, city_id=row.city_id,
            may_see_personal=bool(row.may_see_personal),
            personal=(row.reporter_name, row.reporter_phone, row.reporter_email),
            public_answers=row.attributes, private_answers=row.private_attributes,
            routing=Routing(agency_code=row.agency_code, rule_id=row.routing_rule_id,
                            reason=row.routing_reason or "not routed to an agency"),
            id=strawberry.ID(row.public_id), description=row.description, lon=row.lon,
            lat=row.lat, status=ComplaintStatus(row.status), version=row.version,
            channel=row.channel, media_urls=list(row.media_urls), address=row.address,
            created_at=row.created_at, updated_at=row.updated_at, due_at=row.due_at,
            first_action_at=row.first_action_at, resolved_at=row.resolved_at,
            rating=Rating(row.rating) if row.rating else None,
            rejection_reason=row.rejection_reason, support_count=row.support_count,
            duplicate_of=row.duplicate_of_public_id, viewer_may_act=bool(row.may_act),
            distance_m=row._mapping.get("distance_m"), footprint=row.footprint,
            ward_routing=WardRouting.from_json(row.routing) if row.routing else None,
        )

    @strawberry.field(description="The representative point, on the footprint: the pin on a "
                                  "map, and what point-based analyses count.")
    def location(self) -> GeoJSON:
        return {"type": "Point", "coordinates": [self.lon, self.lat]}

    @strawberry.field(description="Every ward the footprint touches, with its share (in the "
                                  "boundary generation of the ward it was routed to), the "
                                  "largest first.")
    async def wards(self, info: Ctx) -> list[AreaShare]:
        rows = await info.context.loaders.ward_shares.load(self.pk)
        return [AreaShare(area_id=r.area_id, share=r.share) for r in rows]

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

    @strawberry.field(description="The answers to its category's attributes, by attribute "
                                  "code; private ones only for the reporter and the officials "
                                  "who may act on it.")
    def attributes(self) -> JSON:
        return {**self.public_answers, **(self.private_answers or {})} \
            if self.may_see_personal else dict(self.public_answers)

    @strawberry.field(description="Every change, oldest first.")
    async def history(self, info: Ctx) -> list[ComplaintEvent]:
        events = await info.context.loaders.events.load(self.pk)
        return [_event(e, self.may_see_personal) for e in events]

    # The relations below answer at once when the row is loaded already (a page prefetches
    # them), and through the DataLoader otherwise.
    @strawberry.field(graphql_type=Category)
    def category(self, info: Ctx) -> AwaitableOrValue[Category]:
        row = info.context.loaders.categories_loaded.get(self.category_code)
        if row is not None:
            return Category.from_row(row)
        return _load_category(info, self.category_code)

    @strawberry.field(description="Its photos, oldest first, as far as the caller may see them.")
    async def photos(self, info: Ctx) -> list[Photo]:
        rows = await info.context.loaders.photos.load(self.pk)
        return [Photo.from_row(r) for r in rows if not r.restricted or self.may_see_personal]

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

    @strawberry.field(graphql_type=Area | None)
    def ward(self, info: Ctx) -> AwaitableOrValue[Area | None]:
        return area_of(info, self.ward_id)

    @strawberry.field(graphql_type=Area | None)
    def district(self, info: Ctx) -> AwaitableOrValue[Area | None]:
        return area_of(info, self.district_id)

    @strawberry.field(graphql_type=Area | None)
    def city(self, info: Ctx) -> AwaitableOrValue[Area | None]:
        return area_of(info, self.city_id)


@strawberry.type(description="A change to a complaint, as it happens: NEW (submitted) or a "
                             "status change (TRANSITION, REROUTED).")
class ComplaintUpdate:
    kind: str
    at: datetime
    from_status: ComplaintStatus | None
    to_status: ComplaintStatus | None
    complaint: Complaint = strawberry.field(description="As the subscriber may see it now.")

    @classmethod
    def from_row(cls, row: Any) -> "ComplaintUpdate":
        """From a row of ``db.complaints.fetch_events``."""
        return cls(kind=row.event_kind, at=row.event_at,
                   from_status=ComplaintStatus(row.event_from_status)
                   if row.event_from_status else None,
                   to_status=ComplaintStatus(row.event_to_status)
                   if row.event_to_status else None,
                   complaint=Complaint.from_row(row))


def _event(row: Any, personal: bool) -> ComplaintEvent:
    role = row.actor.split(":", 1)[0]
    return ComplaintEvent(
        at=row.at, kind=row.kind,
        from_status=ComplaintStatus(row.from_status) if row.from_status else None,
        to_status=ComplaintStatus(row.to_status) if row.to_status else None,
        actor_role=role, actor=row.actor if personal else None,
        note=visible_note(row.actor, row.note, row.public_note, personal), data=row.data,
    )


def area_of(info: Ctx, area_id: int | None) -> AwaitableOrValue[Area | None]:
    """The area of ``area_id``: at once when its row is loaded, else through the loader."""
    if area_id is None:
        return None
    row = info.context.loaders.areas_loaded.get(area_id)
    return Area.from_row(row) if row is not None else load_area(info, area_id)


async def _load_category(info: Ctx, code: str) -> Category:
    return Category.from_row(await info.context.loaders.category.load(code))


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
