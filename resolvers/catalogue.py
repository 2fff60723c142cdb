"""The catalogue's queries (agencies, routing rules) and mutations: city admins apply a
catalogue document (the same service as ``phananh catalogue apply``), officials transfer a
complaint to another agency."""

import strawberry
import yaml
from sqlalchemy import Connection

from catalogue.apply import Change, apply_document
from db import catalogue as catalogue_sql
from db.engine import read, write
from errors import ErrorCode, PhananhError
from resolvers.workflow import OFFICIAL, act
from schema.catalogue import (
    Agency,
    AgencyKind,
    CatalogueChange,
    CategoryGroup,
    RoutingRule,
)
from schema.permissions import CityAdminsOnly, SignedIn
from schema.text import clean_text
from schema.types import Category, Complaint, Ctx
from workflow import service

MAX_DOCUMENT_CHARS = 1_000_000


@strawberry.type
class CatalogueQuery:
    @strawberry.field(description="The groups of categories (a category's `domain`).")
    async def category_groups(self, info: Ctx,
                              include_retired: bool = False) -> list[CategoryGroup]:
        rows = await read(info.context.engine, catalogue_sql.groups,
                          include_retired=include_retired)
        return [CategoryGroup.from_row(r) for r in rows]

    @strawberry.field(description="A category by code (retired ones too), e.g. for its "
                                  "attributes: Open311's service definition.")
    async def category(self, info: Ctx, code: str) -> Category | None:
        row = await info.context.loaders.category.load(code)
        return None if row is None else Category.from_row(row)

    @strawberry.field(description="The agencies (offices), by kind then code.")
    async def agencies(self, info: Ctx, kind: AgencyKind | None = None,  # type: ignore[valid-type]
                       include_retired: bool = False) -> list[Agency]:
        rows = await read(info.context.engine, catalogue_sql.agencies,
                          kind=kind.value if kind else None, include_retired=include_retired)
        return [Agency.from_row(r) for r in rows]

    @strawberry.field(description="An agency by code (retired ones too).")
    async def agency(self, info: Ctx, code: str) -> Agency | None:
        row = await info.context.loaders.agency.load(code)
        return None if row is None else Agency.from_row(row)

    @strawberry.field(description="The routing rules, by code.")
    async def routing_rules(self, info: Ctx, include_retired: bool = False) -> list[RoutingRule]:
        rows = await read(info.context.engine, catalogue_sql.rules,
                          include_retired=include_retired)
        return [RoutingRule.from_row(r) for r in rows]


@strawberry.type
class CatalogueMutation:
    @strawberry.mutation(permission_classes=[SignedIn, CityAdminsOnly],
                         description="City admins: make the catalogue match `document` (the "
                                     "YAML of `phananh catalogue apply`, docs/catalogue.md), in "
                                     "one transaction; with `dryRun`, only list the changes. "
                                     "Missing entries are retired, never deleted; a document "
                                     "with any problem changes nothing (BAD_INPUT, "
                                     "`extensions.problems`).")
    async def apply_catalogue(self, info: Ctx, document: str,
                              dry_run: bool = False) -> list[CatalogueChange]:
        if len(document) > MAX_DOCUMENT_CHARS:
            raise PhananhError(ErrorCode.BAD_INPUT, f"document: at most {MAX_DOCUMENT_CHARS} "
                                                    f"characters.")
        try:
            parsed = yaml.safe_load(document)
        except yaml.YAMLError as error:
            raise PhananhError(ErrorCode.BAD_INPUT, f"document is not YAML: {error}") from None

        def work(conn: Connection) -> list[Change]:
            return apply_document(conn, parsed, dry_run=dry_run)

        changes = await write(info.context.engine, work)
        if not dry_run:
            await info.context.written()
        return [CatalogueChange(kind=c.kind, code=c.code, action=c.action,
                                fields=list(c.fields), text=str(c)) for c in changes]

    @strawberry.mutation(permission_classes=OFFICIAL,
                         description="Hand an open complaint to another agency serving its "
                                     "place, with a reason. It starts over there as RECEIVED, "
                                     "due again after its category's SLA in working time; the "
                                     "history records TRANSFERRED and `stats { transfers }` "
                                     "counts it as a misroute.")
    async def transfer_complaint(self, info: Ctx, id: strawberry.ID, agency_code: str,
                                 reason: str, expected_version: int) -> Complaint:
        note = clean_text("reason", reason, 1, 5_000) or ""
        return await act(info, id, lambda conn, p: service.transfer(
            conn, p, str(id), agency_code, note, expected_version))

