"""Complaint states and the transitions between them, with who may make each one.

    RECEIVED → ASSIGNED → IN_PROGRESS → RESOLVED | REJECTED | DUPLICATE
    RESOLVED → REOPENED (the reporter, within the reopen window) → ASSIGNED …
    RESOLVED | REJECTED | DUPLICATE → CLOSED (the reporter's rating, or the timeout job)
"""

from enum import StrEnum

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


class Actor(StrEnum):
    OFFICIAL = "official"
    REPORTER = "reporter"
    SYSTEM = "system"


OPEN = frozenset({Status.RECEIVED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REOPENED})
# "Processed" in the city's statistics: an answer was given.
PROCESSED = frozenset({Status.RESOLVED, Status.REJECTED, Status.DUPLICATE, Status.CLOSED})
ANSWERED = frozenset({Status.RESOLVED, Status.REJECTED, Status.DUPLICATE})

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
