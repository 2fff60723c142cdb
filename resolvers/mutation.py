"""Submission: the resolver translates the input and applies the rate limit; routing and
storing are ``workflow.submission``'s."""

import strawberry

from auth.principal import Role
from db.engine import write
from resolvers.points import check_points
from resolvers.triage import auto_route
from schema.inputs import SubmitComplaintInput
from schema.permissions import NotAnalyst
from schema.types import Complaint, Ctx
from workflow.submission import submit


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Report a problem at a place. It is routed to the ward "
                                     "holding the point; retries with the same "
                                     "`idempotencyKey` return the first complaint. Signed-in "
                                     "citizens become the complaint's reporter.",
                         permission_classes=[NotAnalyst])
    async def submit_complaint(self, info: Ctx, input: SubmitComplaintInput) -> Complaint:
        context = info.context
        principal = context.principal
        context.limits.check(context.client_address, principal.token_id if principal else None)
        account = principal if principal and principal.role is Role.CITIZEN else None
        submission = input.to_submission(account)
        await check_points(context.engine, [(submission.lon, submission.lat)])
        row = await write(context.engine, submit, submission=submission)
        return Complaint.from_row(await auto_route(info, row))
