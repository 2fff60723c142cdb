"""Snapshots of the statistics' durations and of DBSCAN clusters, for a national deployment.

The medians and 90th percentiles of the time to first action and to resolution need every
duration of the window (per district and ward, every value; in total and per category, the
histograms and the complaints at the window's edges): at 10M complaints they were 80 % of the
CPU of a statistics request with breakdowns, and the three years' request took 1.6–2.1 s on
two cores (docs/benchmarks.md, "seventh pass"). Yet they change only when a complaint of the
window gets its first action or its resolution, and dashboards ask for the same windows over
and over. (The counts, "overdue" included, stay cheap: they are always read for the request.)
DBSCAN clusters are alike: every point of the window is read and chained (the 90 days'
clusters grew 5.35× from 1M to 10M complaints, "twelfth pass"), and they change only with the
window's complaints.

So, with ``stats_snapshot_max_age_seconds`` above 0 (``PHANANH_STATS_SNAPSHOT_MAX_AGE_SECONDS``;
0, the default, keeps none), the percentiles of a window, or the clusters of a window and
request, once read, are kept in ``stats_snapshot`` (migrations 0049 and 0050), per
:class:`Kind` and :class:`Subject`, with the data version of ``complaint`` and the WAL position
their read included, both taken before the read. A later request takes them (:func:`usable`):

* **exactly**, when ``complaint`` has not changed since (its data version is the one kept);
* or when they are at most the maximum age old and hold the caller's last write: their
  position is past the one the caller was handed after it (``db/nodes.py``, which hands it
  out whenever snapshots are on). A caller who wrote after them is answered from the
  complaints themselves, so nobody misses their own change.

Every request that reads the complaints themselves keeps what it read
(:meth:`SnapshotUse.parts`). ``phananh rollups refresh`` (:func:`refresh`) re-reads the
snapshots asked for lately whose version is behind, so requests find them current: run it at
half the maximum age (cron, or ``--every``). A request says when its durations were read
(``Stats.durationsAsOf``, ``Stats.areaDurationsAsOf``), and its clusters (``Clusters.asOf``).

A clusters snapshot is exact for the complaints' version; the UTM zone its shapes were laid
out in follows the boundaries' territory, which a new generation of the same city keeps.
"""

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, Engine

from analytics import clusters, kpi
from analytics.periods import CITY_TIME_ZONE
from analytics.rollups import whole_days
from db.complaints import ComplaintFilter
from db.engine import Work, connection, write
from db.nodes import format_lsn, parse_lsn
from db.sql import execute, fetch, sql
from errors import ErrorCode, PhananhError

log = logging.getLogger(__name__)

TOUCH_AFTER = timedelta(hours=1)  # how stale ``asked_at`` may be before a hit renews it
Reader = Callable[[Connection], dict[Any, Any]]
# ``fn(conn, **kwargs)`` run on a connection of the request's, as ``db.engine.read`` runs it.
Reading = Callable[..., Awaitable[Any]]


class Kind(StrEnum):
    """What a snapshot holds: the parts of :func:`readers`."""

    TOTALS = "totals"  # the durations in total and per category
    AREAS = "areas"  # the durations per district and per ward, each duration
    CLUSTERS = "clusters"  # DBSCAN clusters (``analytics/clusters.py``) of one request


def readers(kind: Kind, f: ComplaintFilter,
            arguments: Mapping[str, Any] | None = None) -> list[Reader]:
    """The statements that read a kind's parts, each on a connection of its own: the
    histograms' one, in total and per category; each duration's packed values per area; the
    clusters, with ``arguments`` (:func:`clusters.clusters_part`'s)."""
    if kind is Kind.TOTALS:
        return [functools.partial(kpi.total_and_category_durations, f=f)]
    if kind is Kind.CLUSTERS:
        return [functools.partial(clusters.clusters_part, f=f, **(arguments or {}))]
    return [functools.partial(kpi.routed_durations, f=f, which=which)
            for which in kpi.ROUTED_PARTS if which is not kpi.Part.COUNTS]


def answers(kind: Kind, f: ComplaintFilter) -> bool:
    """Whether :func:`readers` read ``f``'s parts of ``kind`` (the durations only where the
    rollups answer them exactly)."""
    if kind is Kind.CLUSTERS:
        return True
    return (kpi.shared_durations_answer(f) if kind is Kind.TOTALS
            else kpi.routed_answers(f))


# The data version of complaints (migration 0003's counter, bumped by every transaction that
# writes them): what a snapshot is exact for.
COMPLAINT_VERSION = "(SELECT version FROM data_version WHERE table_name = 'complaint')"
# That version and the WAL position reached: taken before the parts are read, so what is read
# holds at least everything they stand for.
READ_AT = f"""
    SELECT {COMPLAINT_VERSION} AS version,
           (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                 ELSE pg_current_wal_insert_lsn() END)::text AS position,
           now() AS computed_at"""
# A subject's snapshot, when it answers: kept at the current version, or young enough and
# past the caller's last write (strictly: a position read before the caller's commit was
# acknowledged may equal the one handed to them).
LOOKUP = f"""
    SELECT s.answer, s.computed_at,
           s.asked_at < now() - make_interval(secs => :touch_after) AS stale_ask
    FROM stats_snapshot s
    WHERE s.kind = :kind AND s.window_key = :window_key
      AND (s.version = {COMPLAINT_VERSION}
           OR (s.computed_at >= now() - make_interval(secs => :max_age)
               AND (CAST(:after AS pg_lsn) IS NULL OR s.position > CAST(:after AS pg_lsn))))"""
STORE = """
    INSERT INTO stats_snapshot AS s (kind, window_key, first_day, end_day, request, version,
                                     position, computed_at, asked_at, answer)
    VALUES (:kind, :window_key, :first_day, :end_day, CAST(:request AS jsonb), :version,
            CAST(:position AS pg_lsn), :computed_at, now(), CAST(:answer AS jsonb))
    ON CONFLICT (kind, window_key) DO UPDATE
    SET version = EXCLUDED.version, position = EXCLUDED.position,
        computed_at = EXCLUDED.computed_at, asked_at = greatest(s.asked_at, EXCLUDED.asked_at),
        answer = EXCLUDED.answer
    WHERE s.position < EXCLUDED.position"""
TOUCH = """UPDATE stats_snapshot SET asked_at = now()
           WHERE kind = :kind AND window_key = :window_key"""
# The snapshots asked for within :within seconds whose version is behind; the others are
# dropped.
BEHIND = f"""
    SELECT kind, first_day, end_day, request FROM stats_snapshot
    WHERE asked_at >= now() - make_interval(secs => :within)
      AND version <> {COMPLAINT_VERSION}
    ORDER BY kind, window_key"""
FORGET = "DELETE FROM stats_snapshot WHERE asked_at < now() - make_interval(secs => :within)"
DROP = "DELETE FROM stats_snapshot WHERE kind = :kind AND window_key = :window_key"


@dataclass(frozen=True)
class Subject:
    """What a snapshot is kept for: whole days in the city (None: open), of a filter that
    names nothing else but, for clusters, categories and statuses; and the request's own
    arguments (:func:`readers`; the durations have none)."""

    first: date | None
    end: date | None
    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    arguments: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, first: date | None, end: date | None,
           request: Mapping[str, Any]) -> "Subject":
        """The subject of whole days and a :attr:`request` (as the table keeps it)."""
        return cls(first, end, tuple(sorted(request.get("categories", ()))),
                   tuple(sorted(request.get("statuses", ()))),
                   tuple(sorted(request.get("arguments", {}).items())))

    @property
    def request(self) -> dict[str, Any]:
        """All but the days, as JSON: empty for the durations."""
        named = {"categories": list(self.categories), "statuses": list(self.statuses),
                 "arguments": dict(self.arguments)}
        return {name: value for name, value in named.items() if value}

    @property
    def key(self) -> str:
        days = f"{self.first or ''}/{self.end or ''}"
        return f"{days} {json.dumps(self.request, sort_keys=True)}" if self.request else days

    def as_filter(self) -> ComplaintFilter:
        return ComplaintFilter(categories=self.categories, statuses=self.statuses,
                               created_from=_midnight(self.first),
                               created_to=_midnight(self.end))

    def readers(self, kind: Kind) -> list[Reader]:
        return readers(kind, self.as_filter(), dict(self.arguments))


def _midnight(day: date | None) -> datetime | None:
    """The start of ``day`` in the city."""
    return None if day is None else datetime.combine(day, time(0), ZoneInfo(CITY_TIME_ZONE))


def subject_of(f: ComplaintFilter, kind: Kind,
               arguments: Mapping[str, Any] | None = None) -> Subject | None:
    """What a snapshot of ``kind`` for ``f`` and the request's ``arguments`` is kept for, or
    None when none may stand for them: ``f`` must be whole days in the city and name nothing
    else but, for clusters, categories and statuses."""
    days = whole_days(f)
    if days is None or not answers(kind, f) or (
            kind is not Kind.CLUSTERS and (days.categories or days.statuses)):
        return None
    return Subject.of(days.first, days.end, {"categories": days.categories,
                                             "statuses": days.statuses,
                                             "arguments": arguments or {}})


@dataclass(frozen=True)
class Snapshot:
    """The parts of :func:`readers` and when they were read; as read (not yet kept), the
    version and position they include; as found (:func:`usable`), whether its ``asked_at``
    is due for :func:`renew`."""

    parts: list[dict[Any, Any]]
    computed_at: datetime
    version: int | None = None
    position: int | None = None
    renew: bool = False


def usable(conn: Connection, kind: Kind, subject: Subject, max_age_s: float,
           after: int | None) -> Snapshot | None:
    """The snapshot of ``kind`` for ``subject``, if it answers a caller whose last write is
    at WAL position ``after`` (None: none known)."""
    rows = fetch(conn, sql(LOOKUP, kind=kind.value, window_key=subject.key, max_age=max_age_s,
                           touch_after=TOUCH_AFTER.total_seconds(),
                           after=None if after is None else format_lsn(after)))
    if not rows:
        return None
    return Snapshot(decoded(rows[0].answer), rows[0].computed_at, renew=rows[0].stale_ask)


def renew(conn: Connection, kind: Kind, subject: Subject) -> None:
    """Mark the snapshot asked for now: :func:`refresh` keeps those asked for."""
    execute(conn, sql(TOUCH, kind=kind.value, window_key=subject.key))


def read_part(conn: Connection, reader: Reader) -> Snapshot:
    """One part read by ``reader``, with the version and position it includes."""
    stamp = fetch(conn, sql(READ_AT))[0]
    return Snapshot([reader(conn)], stamp.computed_at, stamp.version,
                    parse_lsn(stamp.position))


def joined(parts: Sequence[Snapshot]) -> Snapshot:
    """Parts read on separate connections as one snapshot: it includes what the oldest read
    included, so it keeps that one's position, and its version if all agree (if not, a write
    came between, and it keeps none that can be current)."""
    oldest = min(parts, key=lambda part: part.position or 0)
    versions = {part.version for part in parts}
    return Snapshot([found for part in parts for found in part.parts], oldest.computed_at,
                    oldest.version if len(versions) == 1 else -1, oldest.position)


def keep(conn: Connection, kind: Kind, subject: Subject, snapshot: Snapshot) -> None:
    """Store ``snapshot`` for ``subject``, unless one that includes more is there."""
    assert snapshot.position is not None and snapshot.version is not None
    execute(conn, sql(STORE, kind=kind.value, window_key=subject.key, first_day=subject.first,
                      end_day=subject.end, request=json.dumps(subject.request),
                      version=snapshot.version, position=format_lsn(snapshot.position),
                      computed_at=snapshot.computed_at,
                      answer=json.dumps(encoded(snapshot.parts))))


@dataclass(frozen=True)
class SnapshotUse:
    """How a request uses the snapshots: where they are kept, how old they may be, and the
    WAL position of the caller's last write (None: none known)."""

    primary: Engine
    max_age_s: float
    after: int | None

    async def parts(self, kind: Kind, subject: Subject, reading: Reading
                    ) -> tuple[list[Any], datetime | None]:
        """The parts of ``kind`` for ``subject``: from the snapshot that answers the caller,
        with when they were read; else read by ``reading``, kept, and with None."""
        kept = await reading(usable, kind=kind, subject=subject, max_age_s=self.max_age_s,
                             after=self.after)
        if kept is not None:
            if kept.renew:
                await self._keeping(renew, kind=kind, subject=subject)
            return kept.parts, kept.computed_at
        snapshot = joined(await asyncio.gather(*(
            reading(read_part, reader=reader) for reader in subject.readers(kind))))
        await self._keeping(keep, kind=kind, subject=subject, snapshot=snapshot)
        return snapshot.parts, None

    async def _keeping(self, fn: Callable[..., None], /, **kwargs: Any) -> None:
        """A write to the snapshots, on the primary. The request's answer does not depend on
        it: a primary that cannot take it is logged, not reported to the caller."""
        try:
            await write(self.primary, fn, **kwargs)
        except PhananhError as error:
            log.warning("snapshot not kept: %s", error)


async def parts_for(use: SnapshotUse | None, kind: Kind, f: ComplaintFilter, reading: Reading,
                    arguments: Mapping[str, Any] | None = None
                    ) -> tuple[list[Any], datetime | None]:
    """The parts of ``kind`` for ``f`` and the request's ``arguments``: through ``use``
    (:meth:`SnapshotUse.parts`) when a snapshot may stand for them, else read by ``reading``
    (with None: read now)."""
    subject = subject_of(f, kind, arguments) if use else None
    if use is None or subject is None:
        return list(await asyncio.gather(*(reading(reader)
                                           for reader in readers(kind, f, arguments)))), None
    return await use.parts(kind, subject, reading)


@dataclass(frozen=True)
class Refreshed:
    """One snapshot :func:`refresh` read again, or dropped with why: a window whose
    clusters have outgrown their limit since (no request gets them any more either)."""

    kind: Kind
    subject: Subject
    seconds: float
    dropped: str | None = None

    @property
    def what(self) -> str:
        """The snapshot in a line: its kind, days and request."""
        subject = self.subject
        request = f" {json.dumps(subject.request)}" if subject.request else ""
        return f"{self.kind}, {subject.first or '…'} – {subject.end or '…'}{request}"


def refresh(engine: Engine, asked_within: timedelta,
            on_progress: Callable[[int, int], None] | None = None) -> list[Refreshed]:
    """Re-read every snapshot asked for within ``asked_within`` whose version is behind, and
    drop those not asked for in that time."""
    within = asked_within.total_seconds()
    with connection(engine, Work.ANALYTICS, begin=True) as conn:
        execute(conn, sql(FORGET, within=within))
        behind = [(Kind(r.kind), Subject.of(r.first_day, r.end_day, r.request))
                  for r in fetch(conn, sql(BEHIND, within=within))]
    done = []
    for number, (kind, subject) in enumerate(behind, start=1):
        start = perf_counter()
        try:
            with connection(engine, Work.ANALYTICS) as conn:
                parts = [read_part(conn, reader) for reader in subject.readers(kind)]
        except PhananhError as error:
            if error.code is not ErrorCode.ANALYSIS_TOO_LARGE:
                raise
            with connection(engine, Work.ANALYTICS, begin=True) as conn:
                execute(conn, sql(DROP, kind=kind.value, window_key=subject.key))
            done.append(Refreshed(kind, subject, perf_counter() - start, error.message))
        else:
            with connection(engine, Work.ANALYTICS, begin=True) as conn:
                keep(conn, kind, subject, joined(parts))
            done.append(Refreshed(kind, subject, perf_counter() - start))
        if on_progress:
            on_progress(number, len(behind))
    return done


def encoded(value: Any) -> Any:
    """Parts as JSON that :func:`decoded` reads back as they were: a dict as its [key, value]
    pairs (keys may be None, numbers or text), numbers as the same floats."""
    if isinstance(value, dict):
        return {"items": [[key, encoded(item)] for key, item in value.items()]}
    if isinstance(value, list | tuple | np.ndarray):
        return [encoded(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def decoded(value: Any) -> Any:
    """:func:`encoded` undone. A level's key comes back as its text, which equals its
    :class:`kpi.By` (a StrEnum) as a dict key."""
    if isinstance(value, dict):
        return {key: decoded(item) for key, item in value["items"]}
    if isinstance(value, list):
        return [decoded(item) for item in value]
    return value
