"""Submission: the resolver translates the input and applies the rate limit; checking the
attribute answers, placing, routing and storing are ``workflow.submission``'s."""

from dataclasses import replace
from typing import Any

import strawberry
from sqlalchemy import Connection

from auth.principal import Role
from context import Loaders, Relations
from db.engine import read, write
from media.service import prepare
from resolvers.points import check_points
from resolvers.query import requested_fields, wanted_relations
from resolvers.triage import auto_route
from schema.inputs import SubmitComplaintInput
from schema.permissions import NotAnalyst
from schema.types import Complaint, Ctx
from workflow.submission import FootprintRules, Submission, submit, vet


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Report a problem at a place, or along a line or over "
                                     "an area (`location`). It is placed in the ward holding "
                                     "the point, or with the largest share of the footprint, "
                                     "and routed to the responsible agency (`routing`); "
                                     "`attributes` answers the category's questions. Retries "
                                     "with the same `idempotencyKey` return the first "
                                     "complaint. Signed-in citizens become the complaint's "
                                     "reporter.",
                         permission_classes=[NotAnalyst])
    async def submit_complaint(self, info: Ctx, input: SubmitComplaintInput) -> Complaint:
        context = info.context
        principal = context.principal
        await context.limits.check(context.client_address,
                                   principal.token_id if principal else None)
        account = principal if principal and principal.role is Role.CITIZEN else None
        settings = context.settings
        submission = input.to_submission(account, settings.max_polygon_vertices)
        if submission.lon is not None and submission.lat is not None:
            await check_points(context.engine, [(submission.lon, submission.lat)])
        rules = FootprintRules.of(settings)
        if input.photos:
            await read(context.engine, vet, submission=submission, rules=rules)
            uploads = [await p.read(settings.photo_max_bytes) for p in input.photos]
            stored = await prepare(uploads, settings, context.store)
            submission = replace(submission, photos=tuple(stored))
        row, relations = await write(context.engine, submit_with_relations,
                                     loaders=context.loaders, submission=submission,
                                     rules=rules,
                                     wanted=wanted_relations(requested_fields(info)))
        context.loaders.remember(relations)
        await context.written()
        return Complaint.from_row(await auto_route(info, row))


def submit_with_relations(conn: Connection, loaders: Loaders, submission: Submission,
                          rules: FootprintRules, wanted: tuple[list[str], bool]
                          ) -> tuple[Any, Relations]:
    """The new complaint's row, and the areas and category its answer selects (``wanted``),
    in the same transaction: an answer's ``ward { code }`` then costs no second thread hop
    and connection."""
    row = submit(conn, submission, rules)
    return row, loaders.relations_of(conn, [row], *wanted)
