"""SQL for the workflow: lock a complaint with the caller's rights, change it, log the event."""

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Interval, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from auth.policy import is_reporter, may_act
from auth.principal import Principal
from db.outbox import enqueue
from db.tables import complaint, complaint_event, complaint_key, complaint_support


def lock_complaint(conn: Connection, public_id: str, principal: Principal | None) -> Any:
    """The complaint's workflow columns, row-locked until commit, with what the caller may do.

    The lock makes concurrent changes queue: the second official to act sees the version the
    first one wrote and gets CONFLICT instead of silently overwriting it. Its key row is locked
    too: foreign keys refer to ``complaint_key`` (0018), so that is where a reference's KEY SHARE
    lock meets this one (see :func:`duplicate_root`).
    """
    c = complaint.c
    query = (
        select(c.id, c.public_id, c.status, c.version, c.resolved_at, c.first_action_at,
               c.ward_id, c.district_id, c.city_id, c.category_code, c.agency_code, c.routing,
               may_act(principal).label("may_act"), is_reporter(principal).label("is_reporter"))
        .join_from(complaint, complaint_key, complaint_key.c.id == c.id)
        .where(c.public_id == public_id)
        .with_for_update(of=[complaint, complaint_key])
    )
    return conn.execute(query).first()


def update_complaint(conn: Connection, complaint_id: int, values: dict[str, Any],
                     bump_version: bool = True) -> None:
    changes: dict[str, Any] = {**values, "updated_at": func.now()}
    if bump_version:
        changes["version"] = complaint.c.version + 1
    conn.execute(update(complaint).where(complaint.c.id == complaint_id).values(**changes))


def add_event(conn: Connection, complaint_id: int, actor: str, kind: str, *,
              from_status: str | None = None, to_status: str | None = None,
              note: str | None = None, data: dict[str, Any] | None = None) -> None:
    """Log one event, and queue its notifications in the same transaction."""
    event_id = conn.execute(text("""
        INSERT INTO complaint_event (complaint_id, actor, kind, from_status, to_status, note, data)
        VALUES (:id, :actor, :kind, :from_status, :to_status, :note, CAST(:data AS jsonb))
        RETURNING id"""),
        {"id": complaint_id, "actor": actor, "kind": kind, "from_status": from_status,
         "to_status": to_status, "note": note, "data": json.dumps(data or {})}).scalar_one()
    enqueue(conn, [event_id])


def events_for(conn: Connection, complaint_ids: Sequence[int]) -> list[Any]:
    return list(conn.execute(text("""
        SELECT complaint_id, at, actor, kind, from_status, to_status, note,
               redact_personal(note) AS public_note, data
        FROM complaint_event WHERE complaint_id = ANY(:ids) ORDER BY complaint_id, at, id"""),
        {"ids": list(complaint_ids)}))


def status_updates(conn: Connection, start: datetime, end: datetime, limit: int,
                   offset: int) -> list[Any]:
    """Events after submission that changed a complaint's status or commented on it, oldest
    first, with the complaint's public id and the status it had after each (a comment keeps
    the status of the change before it): mySociety's servicerequestupdates."""
    return list(conn.execute(text("""
        SELECT e.id, e.at, e.actor, e.kind, redact_personal(e.note) AS public_note, e.data,
               c.public_id,
               COALESCE(e.to_status, (SELECT p.to_status FROM complaint_event p
                                      WHERE p.complaint_id = e.complaint_id
                                        AND p.to_status IS NOT NULL AND p.id < e.id
                                      ORDER BY p.id DESC LIMIT 1)) AS status,
               e.data ->> 'reason' AS reason
        FROM complaint_event e JOIN complaint c ON c.id = e.complaint_id
        WHERE e.kind <> 'SUBMITTED' AND (e.to_status IS NOT NULL OR e.kind = 'COMMENT')
          AND e.at >= :start AND e.at <= :end
        ORDER BY e.at, e.id LIMIT :limit OFFSET :offset"""),
        {"start": start, "end": end, "limit": limit, "offset": offset}))


def duplicate_root(conn: Connection, complaint_id: int) -> int:
    """The complaint at the end of ``complaint_id``'s duplicate-of chain (itself if it is not a
    duplicate).

    Markings point at the root, and pointing at it takes the foreign key's KEY SHARE lock on its
    ``complaint_key`` row until commit; marking the root itself needs that row FOR UPDATE
    (:func:`lock_complaint`) and so waits, then reads the committed chain. Two opposite
    markings therefore cannot both pass the cycle check."""
    return conn.execute(text("""
        WITH RECURSIVE chain(id, duplicate_of, depth) AS (
            SELECT id, duplicate_of, 0 FROM complaint WHERE id = :id
            UNION ALL
            SELECT c.id, c.duplicate_of, chain.depth + 1
            FROM chain JOIN complaint c ON c.id = chain.duplicate_of
            WHERE chain.depth < 1000
        )
        SELECT id FROM chain ORDER BY depth DESC LIMIT 1"""), {"id": complaint_id}).scalar_one()


def complaint_id(conn: Connection, public_id: str) -> int | None:
    return conn.execute(select(complaint.c.id).where(complaint.c.public_id == public_id)).scalar()


def lock_stale(conn: Connection, statuses: Sequence[str], older_than_days: int) -> list[Any]:
    """Complaints in ``statuses`` untouched for ``older_than_days`` since their answer, with the
    columns a move reads, row-locked until commit (a reporter reopening one meanwhile waits)."""
    c = complaint.c
    window = bindparam("window", timedelta(days=older_than_days), Interval)
    query = (
        select(c.id, c.status, c.first_action_at)
        .where(c.status.in_(list(statuses)),
               func.coalesce(c.resolved_at, c.updated_at) < func.now() - window)
        .order_by(c.id)
        .with_for_update(of=complaint)
    )
    return list(conn.execute(query))


def update_complaints(conn: Connection, complaint_ids: Sequence[int],
                      values: dict[str, Any]) -> None:
    """:func:`update_complaint` for many complaints at once."""
    conn.execute(update(complaint).where(complaint.c.id.in_(list(complaint_ids)))
                 .values(**values, updated_at=func.now(), version=complaint.c.version + 1))


def add_events(conn: Connection, events: Sequence[dict[str, Any]]) -> None:
    """:func:`add_event` for many events at once, in batches (keys: complaint_event's
    columns)."""
    if events:
        ids = conn.execute(insert(complaint_event).returning(complaint_event.c.id),
                           list(events)).scalars().all()
        enqueue(conn, ids)


def due_soon(conn: Connection, statuses: Sequence[str], within: timedelta) -> list[Any]:
    """Complaints in ``statuses`` whose deadline falls within ``within`` from now and who have
    not been warned of that deadline yet (a DUE_SOON event naming it)."""
    return list(conn.execute(text("""
        SELECT c.id, c.due_at FROM complaint c
        WHERE c.status = ANY(:statuses) AND c.due_at > now() AND c.due_at <= now() + :within
          AND NOT EXISTS (SELECT 1 FROM complaint_event e
                          WHERE e.complaint_id = c.id AND e.kind = 'DUE_SOON'
                            AND e.data ->> 'dueAt' = to_char(c.due_at AT TIME ZONE 'UTC',
                                                             'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        ORDER BY c.due_at"""), {"statuses": list(statuses), "within": within}))


def created_at(conn: Connection, complaint_id: int) -> Any:
    return conn.execute(select(complaint.c.created_at)
                        .where(complaint.c.id == complaint_id)).scalar_one()


def add_support(conn: Connection, complaint_id: int, user_id: int | None, name: str | None,
                phone: str | None, email: str | None) -> bool:
    """Record a supporter; False when this account supported the complaint already."""
    inserted = conn.execute(
        pg_insert(complaint_support)
        .values(complaint_id=complaint_id, user_id=user_id, name=name, phone=phone, email=email)
        .on_conflict_do_nothing(index_elements=["complaint_id", "user_id"],
                                index_where=complaint_support.c.user_id.is_not(None))
        .returning(complaint_support.c.id)).first()
    return inserted is not None


def supporters_of(conn: Connection, complaint_ids: Sequence[int]) -> list[Any]:
    s = complaint_support.c
    return list(conn.execute(select(s.complaint_id, s.name, s.phone, s.email, s.created_at)
                             .where(s.complaint_id.in_(list(complaint_ids)))
                             .order_by(s.complaint_id, s.id)))
