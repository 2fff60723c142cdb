"""The transactional outbox: who is told of a complaint's event, written with the event.

:func:`enqueue` runs in the transaction that writes the events (``db.workflow.add_event`` and
``add_events`` call it), so a notification exists exactly when its change was committed: never
lost if the server dies after the commit, never sent for a change that rolled back. The worker
(``notify/worker.py``) delivers the rows afterwards, at least once; ``outbox.id`` is the stable
delivery id receivers deduplicate on.

Recipients of an event, each address once (the first reason in this order wins):

- ``reporter``: every status change of a complaint (its submission included) goes to the
  e-mail the reporter gave, and to the contacts of the signed-in reporter;
- ``jurisdiction``: a new or rerouted complaint, and a deadline about to pass, go to the
  contacts of the officials :func:`auth.policy.officials_to_notify` names;
- ``alert``: events of the kinds an active alert watches, of its categories (none: all), at a
  point its area covers, go to the alert owner's contacts (with the alert's unsubscribe link,
  added by the worker).

Payloads carry public fields only (never the reporter's name, phone, e-mail or a sensitive
address), so any recipient may receive them; pages with more detail ask the API, which applies
the caller's rights.
"""

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, literal_column, text

from auth.policy import officials_to_notify
from db.prepared import prepared
from db.sql import Fragment, compose, core

# Event kinds an alert may watch, and the complaint_event kinds each stands for.
ALERT_KINDS = {"NEW": ("SUBMITTED",), "STATUS_CHANGE": ("TRANSITION", "REROUTED")}
# Events officials in charge are told of: a complaint reaches them, or its deadline is near.
OFFICIAL_KINDS = ("SUBMITTED", "REROUTED", "DUE_SOON")
DEFAULT_LANG = "vi"  # for reporters known only by the e-mail they gave
CHANNEL = "phananh_events"  # NOTIFY channel: the ids of committed events, for subscriptions

ENQUEUE = """
WITH ev AS (
    SELECT e.id AS event_id, e.kind, e.at, e.from_status, e.to_status,
           c.id AS complaint_id, c.public_id, c.category_code, c.status, c.location, c.due_at,
           c.reporter_email, c.reporter_user_id, w.code AS ward_code
    FROM complaint_event e
    JOIN complaint c ON c.id = e.complaint_id
    LEFT JOIN admin_area w ON w.id = c.ward_id
    WHERE e.id = ANY(:event_ids)
),
recipients AS (
    SELECT ev.event_id, 1 AS rank, 'reporter' AS reason, NULL::int AS alert_id,
           'email' AS channel, ev.reporter_email AS target, NULL::text AS secret,
           CAST(:default_lang AS text) AS lang
    FROM ev WHERE ev.to_status IS NOT NULL AND ev.reporter_email IS NOT NULL
  UNION ALL
    SELECT ev.event_id, 1, 'reporter', NULL, uc.channel, uc.target, uc.secret, uc.lang
    FROM ev JOIN user_contact uc ON uc.user_id = ev.reporter_user_id
    WHERE ev.to_status IS NOT NULL
  UNION ALL
    SELECT ev.event_id, 2, 'jurisdiction', NULL, uc.channel, uc.target, uc.secret, uc.lang
    FROM ev JOIN app_user ON {officials}
    JOIN user_contact uc ON uc.user_id = app_user.id
    WHERE ev.kind = ANY(:official_kinds)
  UNION ALL
    SELECT ev.event_id, 3, 'alert', a.id, uc.channel, uc.target, uc.secret, uc.lang
    FROM ev
    JOIN alert a ON a.active AND ST_Covers(a.area, ev.location)
         AND (cardinality(a.categories) = 0 OR ev.category_code = ANY(a.categories))
         AND EXISTS (SELECT 1 FROM jsonb_each(CAST(:alert_kinds AS jsonb)) k(kind, events)
                     WHERE k.kind = ANY(a.event_kinds) AND events ? ev.kind)
    JOIN user_contact uc ON uc.user_id = a.user_id
),
chosen AS (
    SELECT DISTINCT ON (event_id, channel, target) *
    FROM recipients ORDER BY event_id, channel, target, rank, alert_id
),
queued AS (
    INSERT INTO outbox (event_id, event_at, reason, alert_id, channel, target, secret, lang,
                        payload)
    SELECT ch.event_id, ev.at, ch.reason, ch.alert_id, ch.channel, ch.target, ch.secret, ch.lang,
           jsonb_strip_nulls(jsonb_build_object(
               'event', ev.kind, 'at', ev.at, 'reason', ch.reason,
               'complaint', jsonb_build_object(
                   'id', ev.public_id, 'category', ev.category_code, 'status', ev.status,
                   'ward', ev.ward_code, 'lon', ST_X(ev.location), 'lat', ST_Y(ev.location),
                   'dueAt', ev.due_at),
               'fromStatus', ev.from_status, 'toStatus', ev.to_status))
    FROM chosen ch JOIN ev ON ev.event_id = ch.event_id
    RETURNING 1
),
notices AS (  -- a NOTIFY payload is limited to 8,000 bytes: 500 ids each
    SELECT pg_notify(:channel, string_agg(id::text, ',' ORDER BY n))
    FROM unnest(CAST(:event_ids AS bigint[])) WITH ORDINALITY AS u(id, n)
    GROUP BY (n - 1) / 500
)
SELECT (SELECT count(*) FROM queued) AS queued, (SELECT count(*) FROM notices) AS notices
"""


def enqueue(conn: Connection, event_ids: Sequence[int]) -> int:
    """Queue the notifications of these events, in the caller's transaction; also NOTIFY the
    event ids (delivered to listeners at commit). Returns how many notifications.

    Every submission and status change runs this statement, so it is prepared once per
    connection: planning its joins over the yearly partitions of ``complaint`` cost several
    times its execution (docs/benchmarks.md, "Load")."""
    if not event_ids:
        return 0
    statement = _enqueue_statement()
    return conn.execute(prepared(text(statement.text)), {**statement.params, **{
        "event_ids": list(event_ids), "default_lang": DEFAULT_LANG,
        "official_kinds": list(OFFICIAL_KINDS), "alert_kinds": json.dumps(ALERT_KINDS),
        "channel": CHANNEL}}).scalar_one()


@cache
def _enqueue_statement() -> Fragment:
    """ENQUEUE with the rule of who is told (constant: composed once per process)."""
    return compose(ENQUEUE, officials=core(
        [officials_to_notify(literal_column("ev.complaint_id"))], "officials"))


def claim(conn: Connection, batch: int, lease_seconds: float, per_hour: int) -> list[Any]:
    """Take up to ``batch`` due notifications for one worker: each counts an attempt and is not
    due again for ``lease_seconds``, so a worker killed mid-batch leaves its claims to the next
    one then, and concurrent workers never take the same row (SKIP LOCKED).

    No recipient (channel and target) gets more than ``per_hour`` notifications an hour: due
    rows beyond that are deferred, without counting an attempt, until the ``per_hour``-th
    latest delivery is an hour old (deferred again if the hour is still full), never dropped. The
    count is of delivered rows plus this batch; concurrent workers may overshoot by the rows
    they have in flight."""
    while True:  # a batch that was all deferred is no sign the outbox is empty: claim again
        result = list(conn.execute(text(CLAIM), {"batch": batch, "lease": lease_seconds,
                                                 "per_hour": per_hour}))
        rows = [row for row in result if row.id is not None]
        if rows or not result[0].deferred:
            return rows


CLAIM = """
WITH due AS (
    SELECT id, channel, target, next_attempt_at, created_at FROM outbox
    WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now()
    ORDER BY next_attempt_at, created_at LIMIT :batch
    FOR UPDATE SKIP LOCKED
),
recent AS (  -- a recipient's latest deliveries of the hour, at most :per_hour (outbox_recent)
    SELECT d.channel, d.target, last.sent, last.oldest
    FROM (SELECT DISTINCT channel, target FROM due) d
    CROSS JOIN LATERAL (
        SELECT count(*) AS sent, min(delivered_at) AS oldest FROM (
            SELECT delivered_at FROM outbox o
            WHERE o.channel = d.channel AND o.target = d.target
              AND o.delivered_at > now() - interval '1 hour'
            ORDER BY o.delivered_at DESC LIMIT :per_hour) latest) last
),
ranked AS (
    SELECT due.id, r.oldest, coalesce(r.sent, 0) + row_number() OVER (
               PARTITION BY due.channel, due.target
               ORDER BY due.next_attempt_at, due.created_at) AS nth
    FROM due LEFT JOIN recent r ON r.channel = due.channel AND r.target = due.target
),
deferred AS (
    UPDATE outbox o SET next_attempt_at = coalesce(k.oldest, now()) + interval '1 hour'
    FROM ranked k WHERE o.id = k.id AND k.nth > :per_hour
    RETURNING o.id
),
claimed AS (
    UPDATE outbox o
    SET attempts = o.attempts + 1,
        next_attempt_at = now() + make_interval(secs => :lease)
    FROM ranked k
    WHERE o.id = k.id AND k.nth <= :per_hour
    RETURNING o.id, o.channel, o.target, o.secret, o.lang, o.payload, o.attempts,
              (SELECT token FROM alert WHERE alert.id = o.alert_id) AS alert_token
)
-- Always one row at least, so that the count of deferred rows comes back with no claim.
SELECT claimed.*, (SELECT count(*) FROM deferred) AS deferred
FROM (SELECT 1) AS one LEFT JOIN claimed ON true
"""


def delivered(conn: Connection, delivery_ids: Sequence[str]) -> None:
    conn.execute(text("UPDATE outbox SET delivered_at = now(), last_error = NULL "
                      "WHERE id = ANY(CAST(:ids AS uuid[])) AND delivered_at IS NULL"),
                 {"ids": list(delivery_ids)})


def failed(conn: Connection, delivery_id: str, error: str, max_attempts: int,
           backoff_seconds: float, backoff_max_seconds: float) -> None:
    """Retry after ``backoff_seconds × 2^(attempts − 1)`` (at most ``backoff_max_seconds``), or
    move to the dead letters once ``max_attempts`` attempts have failed."""
    conn.execute(text("""
        UPDATE outbox SET last_error = left(:error, 500),
            dead_at = CASE WHEN attempts >= :max_attempts THEN now() END,
            next_attempt_at = now() + make_interval(secs => least(
                :backoff * power(2, attempts - 1), :backoff_max))
        WHERE id = :id AND delivered_at IS NULL"""),
        {"id": delivery_id, "error": error, "max_attempts": max_attempts,
         "backoff": backoff_seconds, "backoff_max": backoff_max_seconds})


def dead_letters(conn: Connection, limit: int) -> list[Any]:
    return list(conn.execute(text("""
        SELECT id, channel, target, attempts, dead_at, last_error, payload
        FROM outbox WHERE dead_at IS NOT NULL ORDER BY dead_at, id LIMIT :limit"""),
        {"limit": limit}))


def replay(conn: Connection, delivery_ids: Sequence[str] | None) -> int:
    """Give dead letters (these, or all when None) a fresh set of attempts, due now."""
    chosen = "" if delivery_ids is None else "AND id = ANY(CAST(:ids AS uuid[]))"
    return conn.execute(text(f"""
        UPDATE outbox SET dead_at = NULL, attempts = 0, next_attempt_at = now()
        WHERE dead_at IS NOT NULL {chosen}"""), {"ids": list(delivery_ids or [])}).rowcount


def pending(conn: Connection) -> int:
    """Notifications neither delivered nor dead."""
    return conn.execute(text("SELECT count(*) FROM outbox "
                             "WHERE delivered_at IS NULL AND dead_at IS NULL")).scalar_one()
