"""The workflow's vocabulary as GraphQL publishes it: statuses and their groups, ratings and
rejection reasons, read from workflow/states.py so that clients (the map page) hold no copy."""

import strawberry

from schema.types import ComplaintStatus, Rating
from workflow import states

RejectionReason = strawberry.enum(states.RejectionReason, name="RejectionReason")


@strawberry.type(description="A complaint status and the groups it belongs to.")
class WorkflowStatus:
    name: ComplaintStatus
    open: bool = strawberry.field(
        description="Waiting for an answer; only open complaints can be overdue.")
    answered: bool = strawberry.field(
        description="Answered, and still open to the reporter's rating or reopening.")
    processed: bool = strawberry.field(
        description="Counted as processed by the statistics: an answer was given.")


@strawberry.type(description="The complaint workflow's lists, as the server applies them.")
class Workflow:
    statuses: list[WorkflowStatus] = strawberry.field(
        description="Every status, in the order of the workflow.")
    ratings: list[Rating] = strawberry.field(description="The reporter's possible ratings.")
    positive_ratings: list[Rating] = strawberry.field(
        description="The ratings counted as satisfied (the statistics' satisfied rate).")
    rejection_reasons: list[RejectionReason] = strawberry.field(
        description="The reasons an official may give for rejecting a complaint.")


WORKFLOW = Workflow(
    statuses=[WorkflowStatus(name=s, open=s in states.OPEN, answered=s in states.ANSWERED,
                             processed=s in states.PROCESSED) for s in states.Status],
    ratings=list(states.Rating),
    positive_ratings=list(states.POSITIVE_RATINGS),
    rejection_reasons=list(states.RejectionReason),
)
