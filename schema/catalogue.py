"""Output types of the catalogue: agencies, routing rules and decisions, category attributes,
and the changes of a catalogue apply."""

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from catalogue.model import AGENCY_KINDS, DATATYPES
from context import Context

Ctx = Info[Context, None]

AgencyKind = strawberry.enum(Enum("AgencyKind", {k.upper(): k for k in AGENCY_KINDS}),
                             description="What an agency is (a ward People's Committee, …).")
AttributeDatatype = strawberry.enum(Enum("AttributeDatatype", {d.upper(): d for d in DATATYPES}),
                                    description="Open311's six attribute datatypes.")


@strawberry.type(description="A group of categories (Open311 `group`; a category's `domain`).")
class CategoryGroup:
    code: str
    name_vi: str
    name_en: str
    retired: bool

    @classmethod
    def from_row(cls, row: Any) -> "CategoryGroup":
        return cls(code=row.code, name_vi=row.name_vi, name_en=row.name_en,
                   retired=row.retired_at is not None)


@strawberry.type(description="An area an agency serves, in one boundary generation.")
class AgencyArea:
    generation: str
    level: str
    code: str


@strawberry.type(description="An office that handles complaints: a People's Committee, a "
                             "department, a utility, the police…")
class Agency:
    code: str
    name_vi: str
    name_en: str
    kind: AgencyKind  # type: ignore[valid-type]
    phone: str | None
    email: str | None
    address: str | None
    retired: bool

    @classmethod
    def from_row(cls, row: Any) -> "Agency":
        return cls(code=row.code, name_vi=row.name_vi, name_en=row.name_en,
                   kind=AgencyKind(row.kind), phone=row.phone, email=row.email,
                   address=row.address, retired=row.retired_at is not None)

    @strawberry.field(description="The areas it serves, by boundary generation.")
    async def areas(self, info: Ctx) -> list[AgencyArea]:
        rows = await info.context.loaders.agency_areas.load(self.code)
        return [AgencyArea(generation=r.generation, level=r.level, code=r.code) for r in rows]


@strawberry.type(description="A category (or group, or every category) in an area (or "
                             "everywhere) → an agency, valid over a period.")
class RoutingRule:
    code: str
    category_code: str | None
    group_code: str | None
    area_level: str | None
    area_code: str | None
    agency_code: str
    valid_from: datetime | None
    valid_to: datetime | None
    retired: bool

    @classmethod
    def from_row(cls, row: Any) -> "RoutingRule":
        return cls(code=row.code, category_code=row.category_code, group_code=row.group_code,
                   area_level=row.area_level, area_code=row.area_code,
                   agency_code=row.agency_code, valid_from=row.valid_from,
                   valid_to=row.valid_to, retired=row.retired_at is not None)


async def load_agency(info: Ctx, code: str | None) -> Agency | None:
    row = None if code is None else await info.context.loaders.agency.load(code)
    return None if row is None else Agency.from_row(row)


@strawberry.type(description="Where a complaint goes and why: the agency, the rule that chose "
                             "it (null: the default, the ward's People's Committee, or a "
                             "transfer) and the reason.")
class Routing:
    agency_code: strawberry.Private[str | None]
    rule_id: strawberry.Private[int | None]
    reason: str

    @strawberry.field
    async def agency(self, info: Ctx) -> Agency | None:
        return await load_agency(info, self.agency_code)

    @strawberry.field
    async def rule(self, info: Ctx) -> RoutingRule | None:
        row = None if self.rule_id is None else await info.context.loaders.rule.load(
            self.rule_id)
        return None if row is None else RoutingRule.from_row(row)


@strawberry.type
class AttributeValue:
    key: str
    name: str


@strawberry.type(description="A question a category asks (an Open311 attribute). Answers to "
                             "private ones are shown only to the reporter and the officials "
                             "who may act.")
class CategoryAttribute:
    code: str
    datatype: AttributeDatatype  # type: ignore[valid-type]
    required: bool
    order: int
    description: str
    private: bool
    values: list[AttributeValue]

    @classmethod
    def from_row(cls, row: Any) -> "CategoryAttribute":
        return cls(code=row.code, datatype=AttributeDatatype(row.datatype),
                   required=row.required, order=row.position, description=row.description,
                   private=row.private,
                   values=[AttributeValue(key=v["key"], name=v["name"]) for v in row.values])


@strawberry.type(description="One difference between a catalogue document and the database.")
class CatalogueChange:
    kind: str = strawberry.field(description="group, category, agency, rule or calendar.")
    code: str
    action: str = strawberry.field(description="create, update or retire.")
    fields: list[str]
    text: str = strawberry.field(description="As `phananh catalogue apply` prints it.")
