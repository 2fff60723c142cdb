"""What each workflow mutation does, checked in a fixed order that leaks nothing.

Every function runs inside one transaction on a row-locked complaint. Checks go: the complaint
exists (NOT_FOUND), the caller may touch it (FORBIDDEN), the caller saw the current version
(CONFLICT), the move is in the workflow (INVALID_TRANSITION). A caller without rights therefore
learns nothing about the complaint's state or version.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from auth.policy import may_act
from auth.principal import Principal, Role
from auth.users import load_principal
from db import areas as area_sql
from db import workflow as sql
from db.tables import complaint
from errors import ErrorCode, PhananhError, quoted
from workflow import routing
from workflow.calendar import due_at, due_from_now
from workflow.states import (
    ANSWERED,
    DUPLICATE_ORIGINAL,
    OPEN,
    Actor,
    RejectionReason,
    Status,
    check_transition,
    sources,
)


def actor_of(principal: Principal) -> Actor:
    return Actor.REPORTER if principal.role is Role.CITIZEN else Actor.OFFICIAL


def actor_label(principal: Principal) -> str:
    """How the event log names the actor: officials by account, citizens only as 'reporter'."""
    if principal.role is Role.CITIZEN:
        return "reporter"
    return f"{principal.role}:{principal.username}"


def locked(conn: Connection, principal: Principal, public_id: str,
           expected_version: int | None, actor: Actor) -> Any:
    row = sql.lock_complaint(conn, public_id, principal)
    if row is None:
        raise PhananhError(ErrorCode.NOT_FOUND, f"No complaint with id {quoted(public_id)}.")
    allowed = row.is_reporter if actor is Actor.REPORTER else row.may_act
    if not allowed:
        who = "its reporter" if actor is Actor.REPORTER else "officials with jurisdiction"
        raise PhananhError(ErrorCode.FORBIDDEN, f"Only {who} may do this to complaint "
                                                f"{public_id}.")
    if expected_version is not None and row.version != expected_version:
        raise PhananhError(ErrorCode.CONFLICT,
                           f"Complaint {public_id} changed meanwhile (version {row.version}, "
                           f"you sent {expected_version}); reload it and try again.",
                           currentVersion=row.version)
    return row


def move(conn: Connection, principal: Principal, row: Any, target: Status,
         values: dict[str, Any] | None = None, note: str | None = None,
         data: dict[str, Any] | None = None) -> None:
    """Check and apply one transition, stamping first action and resolution times."""
    current = Status(row.status)
    actor = actor_of(principal)
    check_transition(current, target, actor)
    changes = {**_changes(row, target, actor, datetime.now(UTC)), **(values or {})}
    sql.update_complaint(conn, row.id, changes)
    sql.add_event(conn, row.id, actor_label(principal), "TRANSITION", from_status=str(current),
                  to_status=str(target), note=note, data=data)


def _changes(row: Any, target: Status, actor: Actor, now: datetime) -> dict[str, Any]:
    """What a move to ``target`` writes: the status, and the first action and resolution
    times it starts or ends."""
    changes: dict[str, Any] = {"status": str(target)}
    if actor is Actor.OFFICIAL and row.first_action_at is None:
        changes["first_action_at"] = now
    if target in ANSWERED:
        changes["resolved_at"] = now
    if target is Status.REOPENED:
        changes["resolved_at"] = None
    return changes


def close_stale(conn: Connection, older_than_days: int) -> int:
    """Close, as the system, answered complaints nobody rated or reopened within the window.

    Set-based, but like every other move: the statuses it closes from are those the transition
    table lets the system close, each locked row's move is checked, and each one is logged
    with the status it left. Returns how many were closed.
    """
    target, now = Status.CLOSED, datetime.now(UTC)
    stale = sql.lock_stale(conn, sources(target, Actor.SYSTEM), older_than_days)
    batches: dict[tuple[tuple[str, Any], ...], list[int]] = {}
    for row in stale:
        check_transition(Status(row.status), target, Actor.SYSTEM)
        changes = _changes(row, target, Actor.SYSTEM, now)
        batches.setdefault(tuple(sorted(changes.items())), []).append(row.id)
    for changes, ids in batches.items():
        sql.update_complaints(conn, ids, dict(changes))
    sql.add_events(conn, [
        {"complaint_id": row.id, "actor": str(Actor.SYSTEM), "kind": "TRANSITION",
         "from_status": row.status, "to_status": str(target),
         "note": "closed after the reopen window"} for row in stale])
    return len(stale)


def warn_due_soon(conn: Connection, within: timedelta) -> int:
    """Log a DUE_SOON event (as the system) for each open complaint whose deadline falls within
    ``within``, once per deadline: its outbox notifications tell the officials in charge.
    Returns how many were warned."""
    due = sql.due_soon(conn, OPEN, within)
    sql.add_events(conn, [
        {"complaint_id": row.id, "actor": str(Actor.SYSTEM), "kind": "DUE_SOON",
         "data": {"dueAt": row.due_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}}
        for row in due])
    return len(due)


def transition(conn: Connection, principal: Principal, public_id: str, target: Status,
               expected_version: int, note: str | None, reason: str | None,
               reopen_window: timedelta) -> None:
    if target is Status.DUPLICATE:
        raise PhananhError(ErrorCode.BAD_INPUT, "Use markDuplicate, which names the original.")
    if target is Status.ASSIGNED:
        raise PhananhError(ErrorCode.BAD_INPUT, "Use assignComplaint, which names the assignee.")
    row = locked(conn, principal, public_id, expected_version, actor_of(principal))
    values: dict[str, Any] = {}
    if target is Status.REJECTED:
        if reason not in set(RejectionReason):
            raise PhananhError(ErrorCode.BAD_INPUT, f"Rejecting needs a reason, one of "
                                                    f"{', '.join(RejectionReason)}.")
        values["rejection_reason"] = reason
    if target is Status.REOPENED and row.resolved_at is not None \
            and datetime.now(UTC) - row.resolved_at > reopen_window:
        raise PhananhError(ErrorCode.INVALID_TRANSITION,
                           f"The reopen window of {reopen_window.days} days has passed.",
                           current=row.status, target=str(target))
    move(conn, principal, row, target, values, note, {"reason": reason} if reason else None)


def assign(conn: Connection, principal: Principal, public_id: str, expected_version: int,
           assignee: str | None, note: str | None) -> None:
    """Assign to an official (default: the caller) who may act on the complaint too."""
    row = locked(conn, principal, public_id, expected_version, Actor.OFFICIAL)
    username = assignee or principal.username
    target = principal if username == principal.username else load_principal(
        conn, username=username)
    if target is None:
        raise PhananhError(ErrorCode.NOT_FOUND, f"No active user {quoted(username)}.")
    if target is not principal and not _may_act_on(conn, target, row.id):
        raise PhananhError(ErrorCode.BAD_INPUT,
                           f"{quoted(username)} has no jurisdiction over complaint {public_id}.")
    move(conn, principal, row, Status.ASSIGNED, {"assignee_user_id": target.user_id}, note,
         {"assignee": username})


def mark_duplicate(conn: Connection, principal: Principal, public_id: str, original: str,
                   expected_version: int, note: str | None) -> None:
    """Mark a complaint a duplicate of another; it points at that one's root (the end of its
    own duplicate chain), and a marking that would close a cycle is refused."""
    if original == public_id:
        raise PhananhError(ErrorCode.BAD_INPUT, "A complaint cannot duplicate itself.")
    row = locked(conn, principal, public_id, expected_version, Actor.OFFICIAL)
    original_id = sql.complaint_id(conn, original)
    if original_id is None:
        raise PhananhError(ErrorCode.NOT_FOUND, f"No complaint with id {quoted(original)}.")
    # Point at the chain's root, so every chain is one step and no marking closes a cycle.
    root = sql.duplicate_root(conn, original_id)
    if root == row.id:
        raise PhananhError(ErrorCode.BAD_INPUT, f"{original} is already a duplicate of "
                                                f"{public_id}: that would make a cycle.")
    move(conn, principal, row, Status.DUPLICATE, {"duplicate_of": root}, note,
         {DUPLICATE_ORIGINAL: original})


def reroute(conn: Connection, principal: Principal, public_id: str, ward_code: str,
            reason: str, expected_version: int) -> None:
    """Send a misplaced complaint to another ward; it starts over there as RECEIVED, routed
    again by the routing rules for that ward (its agency may change)."""
    row = locked(conn, principal, public_id, expected_version, Actor.OFFICIAL)
    if Status(row.status) not in OPEN:
        raise PhananhError(ErrorCode.INVALID_TRANSITION,
                           f"Only open complaints can be rerouted; this one is {row.status}.",
                           current=row.status, target=str(Status.RECEIVED))
    wards = area_sql.find_areas(conn, code=ward_code, level="ward")
    if not wards:
        raise PhananhError(ErrorCode.NOT_FOUND, f"No ward with code {quoted(ward_code)} in force.")
    ward = wards[0]
    if ward.id == row.ward_id:
        raise PhananhError(ErrorCode.BAD_INPUT, "The complaint is in that ward already.")
    parents = area_sql.areas_by_ids(conn, [ward.parent_id]) if ward.parent_id else []
    district_id = next((p.id for p in parents if p.level == "district"), None)
    from_ward = area_sql.areas_by_ids(conn, [row.ward_id])[0].code if row.ward_id else None
    # routed again, as a new submission in that ward would be
    routed = routing.route(conn, row.category_code, {"ward": ward.id, "district": district_id,
                                                     "city": row.city_id}, datetime.now(UTC))
    sql.update_complaint(conn, row.id, {"ward_id": ward.id, "district_id": district_id,
                                        "status": str(Status.RECEIVED),
                                        "assignee_user_id": None,
                                        "routing": _rerouted(row.routing),
                                        "agency_code": routed.agency_code,
                                        "routing_rule_id": routed.rule_id,
                                        "routing_reason": routed.reason})
    sql.add_event(conn, row.id, actor_label(principal), "REROUTED", from_status=row.status,
                  to_status=str(Status.RECEIVED), note=reason,
                  data={"fromWard": from_ward, "toWard": ward_code})


def reroute_to_candidate(conn: Connection, principal: Principal, public_id: str,
                         ward_code: str, expected_version: int, note: str | None) -> None:
    """Reroute to one of the wards the complaint's routing named: a border candidate (a ward
    within the border distance of the place) or a ward its footprint touches. Anything else
    is BAD_INPUT (``rerouteComplaint`` takes any ward, with a reason)."""
    row = locked(conn, principal, public_id, expected_version, Actor.OFFICIAL)
    routing = row.routing or {}
    named = {c["ward"] for c in routing.get("candidates", [])} | \
        {s["ward"] for s in routing.get("shares", [])}
    if ward_code not in named:
        raise PhananhError(ErrorCode.BAD_INPUT,
                           f"{ward_code!r} is not a candidate of complaint {public_id}; its "
                           f"candidates are {', '.join(sorted(named)) or 'none'}.",
                           candidates=sorted(named))
    reason = "border candidate" + (f": {note}" if note else "")
    reroute(conn, principal, public_id, ward_code, reason, expected_version)


def _rerouted(routing: dict[str, Any] | None) -> dict[str, Any] | None:
    """The routing record of a rerouted complaint: the submission's shares and candidates
    stay; the rule says an official decided."""
    return None if routing is None else {**routing, "rule": "rerouted"}


def transfer(conn: Connection, principal: Principal, public_id: str, agency_code: str,
             reason: str, expected_version: int) -> None:
    """Hand an open complaint to another agency that serves its place. It starts over there
    as RECEIVED, and the SLA clock starts again: due when the category's SLA runs out in
    working time from the transfer (the receiving agency's time limit runs from when it
    receives the case). The history records it as TRANSFERRED, which the statistics count
    as a misroute of the agency it came from."""
    row = locked(conn, principal, public_id, expected_version, Actor.OFFICIAL)
    if Status(row.status) not in OPEN:
        raise PhananhError(ErrorCode.INVALID_TRANSITION,
                           f"Only open complaints can be transferred; this one is "
                           f"{row.status}.", current=row.status, target=str(Status.RECEIVED))
    if agency_code == row.agency_code:
        raise PhananhError(ErrorCode.BAD_INPUT, "The complaint is with that agency already.")
    areas = [a for a in (row.ward_id, row.district_id, row.city_id) if a is not None]
    if not routing.serves(conn, agency_code, areas):
        raise PhananhError(ErrorCode.BAD_INPUT, f"No agency {agency_code!r} in service serves "
                                                f"the place of complaint {public_id}.")
    sla = area_sql.categories_by_codes(conn, [row.category_code])[0].sla_hours
    sql.update_complaint(conn, row.id, {
        "agency_code": agency_code, "routing_rule_id": None,
        "routing_reason": f"transferred from {row.agency_code}: {reason}",
        "status": str(Status.RECEIVED), "assignee_user_id": None,
        "due_at": due_from_now(conn, sla)})
    sql.add_event(conn, row.id, actor_label(principal), routing.TRANSFERRED,
                  from_status=row.status, to_status=str(Status.RECEIVED), note=reason,
                  data={"fromAgency": row.agency_code, "toAgency": agency_code})


def comment(conn: Connection, principal: Principal, public_id: str, body: str) -> None:
    """A note in the history from an official with jurisdiction or from the reporter. It is
    not a state change, so it does not bump the version other officials are working from."""
    actor = actor_of(principal)
    row = locked(conn, principal, public_id, None, actor)
    sql.update_complaint(conn, row.id, {}, bump_version=False)
    sql.add_event(conn, row.id, actor_label(principal), "COMMENT", note=body)


def rate(conn: Connection, principal: Principal, public_id: str, rating: str,
         note: str | None) -> None:
    """The reporter's verdict on an answered complaint; rating closes it."""
    row = locked(conn, principal, public_id, None, Actor.REPORTER)
    move(conn, principal, row, Status.CLOSED,
         {"rating": rating, "rated_at": datetime.now(UTC)}, note, {"rating": rating})


def _may_act_on(conn: Connection, other: Principal, complaint_id: int) -> bool:
    """Whether another official's scope covers the complaint, by the same policy SQL."""
    if not other.is_official:
        return False
    query = select(may_act(other)).where(complaint.c.id == complaint_id)
    return bool(conn.execute(query).scalar())


def decide_category(conn: Connection, principal: Principal | None, public_id: str,
                    category_code: str, expected_version: int | None,
                    suggestion: dict[str, Any], note: str | None = None) -> None:
    """Accept (same category) or correct the category of a complaint, as one logged decision
    (``CATEGORY_CONFIRMED`` or ``CATEGORY_CORRECTED``) beside the suggestion that was shown.

    ``principal`` None is the system auto-routing a fresh complaint: it may only correct, and
    it does not count as an official's first action (its decisions never train the model).
    A correction moves the due time to the new category's service level (in working time)
    and routes the complaint again for it.
    """
    if principal is None:
        row = sql.lock_complaint(conn, public_id, None)
        actor = str(Actor.SYSTEM)
    else:
        row = locked(conn, principal, public_id, expected_version, Actor.OFFICIAL)
        actor = actor_label(principal)
    categories = area_sql.categories_by_codes(conn, [category_code])
    if not categories:
        raise PhananhError(ErrorCode.UNKNOWN_CATEGORY,
                           f"Unknown category {quoted(category_code)}; see `categories`.")
    values: dict[str, Any] = {}
    if principal is not None and row.first_action_at is None:
        values["first_action_at"] = datetime.now(UTC)
    kind = "CATEGORY_CONFIRMED"
    if category_code != row.category_code:
        kind = "CATEGORY_CORRECTED"
        values["category_code"] = category_code
        values["due_at"] = due_at(conn, sql.created_at(conn, row.id),
                                  categories[0].sla_hours)
        # routed again for the new category, as a submission of it would be
        routed = routing.route(conn, category_code, {"ward": row.ward_id,
                                                     "district": row.district_id,
                                                     "city": row.city_id}, datetime.now(UTC))
        values |= {"agency_code": routed.agency_code, "routing_rule_id": routed.rule_id,
                   "routing_reason": routed.reason}
    sql.update_complaint(conn, row.id, values)
    sql.add_event(conn, row.id, actor, kind, note=note, data={
        "from": row.category_code, "to": category_code, "suggestion": suggestion})


def support(conn: Connection, principal: Principal | None, public_id: str,
            name: str | None, phone: str | None, email: str | None) -> None:
    """A citizen's "me too" on an open complaint: counted publicly, their contact details kept
    privately for the officials who act on it. A signed-in citizen counts once."""
    row = sql.lock_complaint(conn, public_id, principal)
    if row is None:
        raise PhananhError(ErrorCode.NOT_FOUND, f"No complaint with id {public_id!r}.")
    if Status(row.status) not in OPEN:
        raise PhananhError(ErrorCode.INVALID_TRANSITION,
                           f"Only open complaints can be supported; this one is {row.status}.",
                           current=row.status)
    account = principal.user_id if principal and principal.role is Role.CITIZEN else None
    if not sql.add_support(conn, row.id, account, name, phone, email):
        return  # this citizen supported it already
    sql.update_complaint(conn, row.id, {"support_count": complaint.c.support_count + 1},
                         bump_version=False)
    sql.add_event(conn, row.id, "supporter", "SUPPORTED")
