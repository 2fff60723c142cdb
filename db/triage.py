"""SQL of the category suggestion: the labelled history, and the stored model versions.

The history is the complaints whose category an official has confirmed or corrected: those
an official has acted on (acting on a complaint accepts its category; a correction before
acting is logged as a ``CATEGORY_CORRECTED`` event and leaves the corrected category). Their
public description is the text: the model never sees personal data, so it can neither learn
nor show it.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from auth.principal import Principal
from db.complaints import ComplaintFilter, complaint_select
from db.prepared import execute_prepared
from db.tables import complaint, triage_model
from triage.duplicates import NEAREST, RADIUS_M, WEIGHTS, WINDOW_DAYS
from workflow.states import OPEN, Status

FETCH_BATCH = 50_000


@dataclass(frozen=True)
class Labelled:
    created_at: datetime
    text: str
    category: str


def labelled_count(conn: Connection, since: datetime | None = None,
                   until: datetime | None = None) -> int:
    query = select(func.count()).select_from(complaint).where(*_labelled(since, until))
    return conn.execute(query).scalar_one()


def labelled_categories(conn: Connection, since: datetime | None = None,
                        until: datetime | None = None) -> list[str]:
    """The categories of the labelled complaints, sorted."""
    query = (select(complaint.c.category_code).where(*_labelled(since, until))
             .group_by(complaint.c.category_code).order_by(complaint.c.category_code))
    return list(conn.execute(query).scalars())


def labelled_history(conn: Connection, since: datetime | None = None,
                     until: datetime | None = None) -> Iterator[list[Labelled]]:
    """The labelled complaints in time order, in batches (streamed: a million fit in memory
    as texts, not as rows of a fetched result)."""
    c = complaint.c
    query = (select(c.created_at, c.public_description, c.category_code)
             .where(*_labelled(since, until)).order_by(c.created_at, c.id))
    result = conn.execution_options(stream_results=True, yield_per=FETCH_BATCH).execute(query)
    for rows in result.partitions():
        yield [Labelled(r.created_at, r.public_description, r.category_code) for r in rows]


def _labelled(since: datetime | None, until: datetime | None) -> list[Any]:
    c = complaint.c
    clauses = [c.first_action_at.is_not(None)]
    if since is not None:
        clauses.append(c.created_at >= since)
    if until is not None:
        clauses.append(c.created_at < until)
    return clauses


def save_model(conn: Connection, blob: bytes, trained_from: datetime, trained_to: datetime,
               samples: int, metrics: dict[str, Any], activate: bool = True) -> int:
    """Store a new version; with ``activate``, it replaces the active one."""
    if activate:
        conn.execute(update(triage_model).where(triage_model.c.active).values(active=False))
    return conn.execute(insert(triage_model).values(
        model=blob, trained_from=trained_from, trained_to=trained_to, samples=samples,
        metrics=metrics, active=activate).returning(triage_model.c.version)).scalar_one()


def active_version(conn: Connection) -> int | None:
    return conn.execute(select(triage_model.c.version).where(triage_model.c.active)
                        ).scalar_one_or_none()


def model_row(conn: Connection, version: int) -> Any:
    """The stored model of ``version`` and the number of complaints it learned from."""
    return conn.execute(select(triage_model.c.model, triage_model.c.samples)
                        .where(triage_model.c.version == version)).one()


def model_versions(conn: Connection) -> list[Any]:
    m = triage_model.c
    return list(conn.execute(select(m.version, m.created_at, m.trained_from, m.trained_to,
                                    m.samples, m.metrics, m.active).order_by(m.version)))


def queue(conn: Connection, principal: Principal, first: int) -> list[Any]:
    """New complaints ``principal`` may act on (``may_act``: an agency's officials, those
    routed to their agency) that no official has acted on yet, oldest first."""
    c = complaint.c
    waiting = ComplaintFilter(statuses=(str(Status.RECEIVED),), actionable_by=principal)
    query = (complaint_select(waiting, principal).where(c.first_action_at.is_(None))
             .order_by(c.created_at, c.id).limit(first))
    return list(conn.execute(query))


# The weights: the active model's learned ones when it has them, else the hand-set ones.
_SCORER = ",\n".join(
    f"coalesce((learned.w ->> '{name}')::float8, :{name}) AS {name}" for name in WEIGHTS)
# Per complaint of :ids, its :first best-scored candidates (rows: complaint_id, model_version
# (null: hand-set weights), candidate public id, distance_m, hours_apart, same_category,
# text_similarity, same_root (the two share a root: officials' decision), score), among
# complaints of the statuses written in by ``duplicates_statement`` (the open ones at
# serving, all of them to learn). Only the :nearest of the window are scored (found nearest
# first by the GiST index): in a busy street, hundreds of open complaints can lie within the
# radius, and the trigram similarity of each would cost more than the rest of a submission.
# The texts compared are the stored folded public descriptions (migration 0024): no
# candidate's text is folded on a query.
_DUPLICATES = f"""
    WITH scorer AS (
        SELECT learned.version AS model_version, {_SCORER}
        FROM (SELECT) one
        LEFT JOIN (SELECT version, metrics -> 'duplicates' -> 'weights' AS w
                   FROM triage_model
                   WHERE active AND metrics -> 'duplicates' -> 'weights' IS NOT NULL
                  ) learned ON true
    )
    SELECT c.id AS complaint_id, s.model_version, d.*
    FROM complaint c
    CROSS JOIN scorer s
    CROSS JOIN LATERAL (
        SELECT f.*, 1 / (1 + exp(-(s.intercept
            + s.per_100_m * f.distance_m / 100
            + s.per_day * f.hours_apart / 24
            + s.same_category * f.same_category::int
            + s.text_similarity * f.text_similarity))) AS score
        FROM (
            SELECT o.public_id AS candidate,
                   ST_Distance(o.location::geography, c.location::geography) AS distance_m,
                   abs(date_part('epoch', o.created_at - c.created_at)) / 3600 AS hours_apart,
                   o.category_code = c.category_code AS same_category,
                   similarity(o.folded_description, c.folded_description)
                       AS text_similarity,
                   coalesce(o.duplicate_of, o.id) = coalesce(c.duplicate_of, c.id) AS same_root
            FROM (SELECT * FROM complaint o
                  WHERE ST_DWithin(o.location::geography, c.location::geography, :radius)
                    AND o.created_at BETWEEN c.created_at - make_interval(days => :days)
                                         AND c.created_at + make_interval(days => :days)
                    AND o.status IN ({{statuses}}) AND o.id <> c.id
                  ORDER BY o.location::geography <-> c.location::geography
                  LIMIT :nearest) o
        ) f
        ORDER BY score DESC, f.candidate
        LIMIT :first
    ) d
    WHERE c.id = ANY(:ids)
    ORDER BY c.id, d.score DESC, d.candidate"""


def duplicates_statement(statuses: Iterable[Status] = OPEN) -> str:
    """The candidates statement for complaints of ``statuses``, written into its text rather
    than bound: a prepared statement's plan, made once for every call, can then use the
    partial index of open complaints (0020), which a parameter (any statuses) would rule
    out. The statuses are the workflow's own names, never input."""
    return _DUPLICATES.format(statuses=", ".join(f"'{s}'" for s in sorted(map(str, statuses))))


def duplicate_parameters(complaint_ids: list[int], first: int) -> dict[str, Any]:
    return {"ids": complaint_ids, "radius": RADIUS_M, "days": WINDOW_DAYS, "first": first,
            "nearest": max(first, NEAREST), **WEIGHTS}


def duplicate_candidates(conn: Connection, complaint_ids: list[int], first: int,
                         statuses: Iterable[Status] = OPEN) -> list[Any]:
    """For each complaint, its ``first`` best-scored possible duplicates, in one statement,
    prepared on the connection (``db.prepared``): parsing and planning it cost as much as
    running it for one complaint."""
    return execute_prepared(conn, duplicates_statement(statuses),
                            duplicate_parameters(complaint_ids, first))


def decided(conn: Connection, since: datetime | None, until: datetime | None,
            limit: int) -> list[int]:
    """The ids of the latest ``limit`` complaints an official acted on in the window (each
    was marked a duplicate or not: a decision to learn from), oldest first."""
    c = complaint.c
    latest = (select(c.id, c.created_at).where(*_labelled(since, until))
              .order_by(c.created_at.desc(), c.id.desc()).limit(limit).subquery())
    return list(conn.execute(select(latest.c.id)
                             .order_by(latest.c.created_at, latest.c.id)).scalars())
