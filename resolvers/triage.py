"""Resolvers of the AI-assisted intake: thin, the work is ``triage.service``'s."""

from datetime import UTC, datetime
from typing import Any

import strawberry
from sqlalchemy import Connection

from auth.principal import Principal
from db import complaints as complaint_sql
from db import triage as triage_sql
from db.engine import Work, in_thread, read, write
from errors import ErrorCode, PhananhError
from resolvers.points import check_points
from resolvers.workflow import OFFICIAL, act
from schema.inputs import ReporterInput
from schema.permissions import NotAnalyst
from schema.text import clean_text
from schema.triage import (
    CategorySuggestion,
    CategorySuggestions,
    SuggestionFeature,
    SuggestionSource,
    TriageItem,
)
from schema.types import MAX_DUPLICATES, Complaint, Ctx, DuplicateCandidate
from triage.service import Source, Suggestions, suggester
from workflow import service
from workflow.routing import agencies_at

MAX_SUGGESTIONS = 15
MAX_QUEUE = 100


@strawberry.type
class TriageQuery:
    @strawberry.field(description=(
        "Likely categories for a description, best first, each with its probability, the "
        "agency the routing rules would give it and the words that drove it. Citizens see it "
        "while typing; officials in triage. Give lon/lat for the agency."))
    async def suggest_categories(self, info: Ctx, description: str, lon: float | None = None,
                                 lat: float | None = None, first: int = 3
                                 ) -> CategorySuggestions:
        context = info.context
        text = clean_text("description", description, 1, 5_000) or ""
        _check_first(first, MAX_SUGGESTIONS)
        if (lon is None) != (lat is None):
            raise PhananhError(ErrorCode.BAD_INPUT, "Give both lon and lat, or neither.")
        served = await in_thread(context.engine, Work.READ,
                                 suggester(context.engine, context.settings).suggest, text, first)
        agencies: dict[str, str | None] = {}
        if lon is not None and lat is not None and served.items:
            await check_points(context.engine, [(lon, lat)])
            codes = [s.category for s in served.items]
            (agencies,) = await read(context.engine, agencies_at, places=[(lon, lat, codes)],
                                     at=datetime.now(UTC))
        return _suggestions(served, agencies)

    @strawberry.field(permission_classes=OFFICIAL, description=(
        "New complaints you may act on (those routed to your agency, or in your area) that no "
        "official has acted on yet, oldest first, each with the suggested categories. Accept "
        "or correct with `decideCategory`."))
    async def triage_queue(self, info: Ctx, first: int = 20) -> list[TriageItem]:
        context = info.context
        _check_first(first, MAX_QUEUE)
        principal = context.principal
        assert principal is not None  # guaranteed by the permissions
        rows = await read(context.engine, triage_sql.queue, principal=principal, first=first)
        served = await in_thread(context.engine, Work.READ,
                                 suggester(context.engine, context.settings).suggest_many,
                                 [r.description for r in rows], 3)
        agencies = await read(context.engine, agencies_at, places=[
            (r.lon, r.lat, [s.category for s in answer.items])
            for r, answer in zip(rows, served, strict=True)], at=datetime.now(UTC))
        return [TriageItem(complaint=Complaint.from_row(row),
                           suggestion=_suggestions(answer, offices))
                for row, answer, offices in zip(rows, served, agencies, strict=True)]

    @strawberry.field(permission_classes=OFFICIAL, description=(
        "Complaints that may report the same problem as complaint `id` (one you may act on), "
        "best first: the candidates and scores of `possibleDuplicates`, for triage before "
        "`markDuplicate`."))
    async def similar_complaints(self, info: Ctx, id: strawberry.ID, first: int = 5
                                 ) -> list[DuplicateCandidate]:
        context = info.context
        _check_first(first, MAX_DUPLICATES)
        rows = await read(context.engine, complaint_sql.fetch_by_public_ids,
                          public_ids=[str(id)], viewer=context.principal)
        if not rows:
            raise PhananhError(ErrorCode.NOT_FOUND, f"No complaint {id}.")
        if not rows[0].may_act:
            raise PhananhError(ErrorCode.FORBIDDEN, f"Complaint {id} is not one you may act on.")
        found = await context.loaders.duplicates(first).load(rows[0].id)
        return [DuplicateCandidate.from_row(row) for row in found]


@strawberry.type
class TriageMutation:
    @strawberry.mutation(permission_classes=OFFICIAL, description=(
        "Accept (the same category) or correct a complaint's category. The decision is an "
        "event in its history (CATEGORY_CONFIRMED or CATEGORY_CORRECTED) with the suggestion "
        "shown, and the model learns from it at the next training."))
    async def decide_category(self, info: Ctx, id: strawberry.ID, category_code: str,
                              expected_version: int, note: str | None = None) -> Complaint:
        context = info.context
        rows = await read(context.engine, complaint_sql.fetch_by_public_ids,
                          public_ids=[str(id)], viewer=context.principal)
        shown = None
        if rows and rows[0].may_act:
            shown = await in_thread(context.engine, Work.READ,
                                    suggester(context.engine, context.settings).suggest,
                                    rows[0].description, 1)
        note = clean_text("note", note, 1, 5_000)
        return await act(info, id, lambda conn, p: service.decide_category(
            conn, p, str(id), category_code, expected_version, _record(shown), note))


    @strawberry.mutation(permission_classes=[NotAnalyst], description=(
        "\"Me too\": report that an open complaint is your problem too, instead of filing a "
        "second one. It counts in `supportCount`; your contact details are kept for the "
        "officials who act on it, never shown publicly. A signed-in citizen counts once."))
    async def support_complaint(self, info: Ctx, id: strawberry.ID,
                                supporter: ReporterInput | None = None) -> Complaint:
        context = info.context
        principal = context.principal
        await context.limits.check(context.client_address,
                                   principal.token_id if principal else None)
        contact = (supporter or ReporterInput()).to_reporter()

        def work(conn: Connection) -> Any:
            service.support(conn, principal, str(id), contact.name, contact.phone,
                            contact.email)
            return complaint_sql.fetch_by_public_ids(conn, [str(id)], principal)[0]

        row = await write(context.engine, work)
        await context.written()
        return Complaint.from_row(row)


async def auto_route(info: Ctx, complaint: Any) -> Any:
    """With ``triage_auto_route_confidence`` set (off by default), file a new complaint under
    the model's suggestion when it is that sure, as the system; returns the row to answer."""
    context = info.context
    threshold = context.settings.triage_auto_route_confidence
    if threshold is None:
        return complaint
    served = await in_thread(context.engine, Work.READ,
                             suggester(context.engine, context.settings).suggest,
                             complaint.description, 1)
    top = served.items[0] if served.items else None
    if served.source is not Source.MODEL or top is None or top.probability < threshold \
            or top.category == complaint.category_code:
        return complaint

    def work(conn: Connection, viewer: Principal | None) -> Any:
        service.decide_category(conn, None, complaint.public_id, top.category, None,
                                {**_record(served), "auto": True})
        return complaint_sql.fetch_by_public_ids(conn, [complaint.public_id], viewer)[0]

    row = await write(context.engine, work, viewer=context.principal)
    await context.written()
    return row


def _record(served: Suggestions | None) -> dict[str, Any]:
    """The suggestion as the history keeps it."""
    if served is None or not served.items:
        return {}
    top = served.items[0]
    return {"source": str(served.source), "modelVersion": served.model_version,
            "category": top.category, "probability": round(top.probability, 4)}


def _suggestions(served: Suggestions, agencies: dict[str, str | None]) -> CategorySuggestions:
    return CategorySuggestions(
        source=SuggestionSource(served.source.value), model_version=served.model_version,
        suggestions=[CategorySuggestion(
            category_code=s.category, agency_code=agencies.get(s.category),
            probability=s.probability,
            features=[SuggestionFeature(feature=f, weight=w) for f, w in s.features])
            for s in served.items])


def _check_first(first: int, maximum: int) -> None:
    if not 1 <= first <= maximum:
        raise PhananhError(ErrorCode.BAD_INPUT, f"`first` must be between 1 and {maximum}.")
