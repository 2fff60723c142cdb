"""Complaint states, their groups, ratings and rejection reasons, and the transitions between
them with who may make each one: the one home of these lists.

    RECEIVED → ASSIGNED → IN_PROGRESS → RESOLVED | REJECTED | DUPLICATE
    RESOLVED → REOPENED (the reporter, within the reopen window) → ASSIGNED …
    RESOLVED | REJECTED | DUPLICATE → CLOSED (the reporter's rating, or the timeout job)

Other modules never spell a list of these values: they import the enums and groups, or the
renderings of them below (SQL predicates for Core and for text statements, check constraints,
:func:`is_overdue`), so a new status or rating changes this file only. It sits on the bottom
floor (the standard library, SQLAlchemy and ``errors`` only) so that every layer may import it.
"""

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ColumnElement, Text, and_, column
from sqlalchemy.dialects import postgresql

from errors import ErrorCode, PhananhError


class Status(StrEnum):
    RECEIVED = "RECEIVED"
    ASSIGNED = "ASSIGNED"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    REJECTED = "REJECTED"
    DUPLICATE = "DUPLICATE"
    REOPENED = "REOPENED"
    CLOSED = "CLOSED"


class Rating(StrEnum):
    """The reporter's verdict on an answer, which closes the complaint."""

    SATISFIED = "SATISFIED"
    ACCEPTED = "ACCEPTED"
    UNSATISFIED = "UNSATISFIED"


class RejectionReason(StrEnum):
    NOT_RESPONSIBLE = "NOT_RESPONSIBLE"
    INVALID = "INVALID"
    INSUFFICIENT_INFORMATION = "INSUFFICIENT_INFORMATION"
    OTHER = "OTHER"


class Actor(StrEnum):
    OFFICIAL = "official"
    REPORTER = "reporter"
    SYSTEM = "system"


def _group(*members: Status) -> tuple[Status, ...]:
    """``members`` in the order of :class:`Status`, so every rendering of a group is stable."""
    return tuple(s for s in Status if s in members)


# Waiting for an answer; only these can be overdue.
OPEN = _group(Status.RECEIVED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REOPENED)
# Answered, and still open to the reporter's rating or reopening.
ANSWERED = _group(Status.RESOLVED, Status.REJECTED, Status.DUPLICATE)
# "Processed" in the city's statistics: an answer was given (closed ones were answered first).
PROCESSED = _group(*ANSWERED, Status.CLOSED)
# The one key of a move to DUPLICATE's event data, in every history (markDuplicate, the demo):
# the public id of the complaint it repeats (public, unlike the row id).
DUPLICATE_ORIGINAL = "original"
# The ratings the city counts as satisfied ("satisfied or accepted").
POSITIVE_RATINGS = (Rating.SATISFIED, Rating.ACCEPTED)

# Open311 GeoReport v2 knows two statuses: open while the complaint waits for an answer,
# closed once it has one.
OPEN311_STATUSES = {"open": OPEN, "closed": _group(*(s for s in Status if s not in OPEN))}


def open311_status(status: str) -> str:
    return "open" if status in OPEN else "closed"


# mySociety's servicerequestupdates extension (FixMyStreet) tells more than open/closed: the
# status names FixMyStreet back ends send, for each of ours; a rejection names its reason.
MYSOCIETY_STATUS = {
    Status.RECEIVED: "open",
    Status.ASSIGNED: "action_scheduled",
    Status.IN_PROGRESS: "in_progress",
    Status.RESOLVED: "fixed",
    Status.REJECTED: "no_further_action",
    Status.DUPLICATE: "duplicate",
    Status.REOPENED: "open",
    Status.CLOSED: "closed",
}


def mysociety_status(status: str, rejection_reason: str | None = None) -> str:
    if status == Status.REJECTED and rejection_reason == RejectionReason.NOT_RESPONSIBLE:
        return "not_councils_responsibility"
    return MYSOCIETY_STATUS[Status(status)]


TRANSITIONS: dict[tuple[Status, Status], frozenset[Actor]] = {
    **{(s, Status.ASSIGNED): frozenset({Actor.OFFICIAL})
       for s in (Status.RECEIVED, Status.ASSIGNED, Status.REOPENED)},
    **{(s, Status.IN_PROGRESS): frozenset({Actor.OFFICIAL})
       for s in (Status.ASSIGNED, Status.REOPENED)},
    **{(s, Status.RESOLVED): frozenset({Actor.OFFICIAL})
       for s in (Status.ASSIGNED, Status.IN_PROGRESS)},
    **{(s, answer): frozenset({Actor.OFFICIAL})
       for s in OPEN for answer in (Status.REJECTED, Status.DUPLICATE)},
    (Status.RESOLVED, Status.REOPENED): frozenset({Actor.REPORTER}),
    **{(s, Status.CLOSED): frozenset({Actor.REPORTER, Actor.SYSTEM}) for s in ANSWERED},
}


def check_transition(current: Status, target: Status, actor: Actor) -> None:
    """Refuse a move the workflow does not have (INVALID_TRANSITION), or one this kind of actor
    may not make (FORBIDDEN)."""
    allowed = TRANSITIONS.get((current, target))
    if allowed is None:
        raise PhananhError(ErrorCode.INVALID_TRANSITION,
                           f"A complaint cannot go from {current} to {target}.",
                           current=str(current), target=str(target))
    if actor not in allowed:
        raise PhananhError(ErrorCode.FORBIDDEN,
                           f"{current} → {target} is made by the "
                           f"{' or '.join(sorted(a.value for a in allowed))}, not the {actor}.")


def sources(target: Status, actor: Actor) -> tuple[Status, ...]:
    """The statuses ``actor`` may move a complaint from to ``target``: a set-based job (closing
    stale complaints) selects these, then checks each row's move like any other."""
    return _group(*(s for (s, t), actors in TRANSITIONS.items()
                    if t is target and actor in actors))


# The overdue rule, once in SQL and once in Python; tests hold the two (and the API fields and
# statistics built on them) to the same answers.

def overdue(status: ColumnElement[Any], due_at: ColumnElement[Any],
            as_of: Any) -> ColumnElement[bool]:
    """Open, with a due time, and past it at ``as_of``. Never NULL (a complaint without a due
    time is not overdue), so its negation means "not overdue" exactly."""
    return and_(status.in_(OPEN), due_at.is_not(None), due_at < as_of)


def is_overdue(status: str, due_at: datetime | None, as_of: datetime) -> bool:
    """:func:`overdue` for one complaint already in memory."""
    return status in OPEN and due_at is not None and due_at < as_of


def as_text(predicate: ColumnElement[bool]) -> str:
    """``predicate`` as PostgreSQL text, for statements written as text (the analytics) and for
    check constraints. Its values are this module's constants, so they are written inline."""
    return str(predicate.compile(dialect=postgresql.dialect(),
                                 compile_kwargs={"literal_binds": True}))


def _check(name: str, values: Iterable[str]) -> CheckConstraint:
    return CheckConstraint(as_text(column(name, Text).in_(list(values))),
                           name=f"complaint_{name}")


def complaint_checks() -> tuple[CheckConstraint, ...]:
    """The check constraints of ``complaint``'s status and rating (new objects on each call: a
    constraint belongs to one table)."""
    return _check("status", Status), _check("rating", Rating)
