"""Snapshots of the statistics' durations, for a national deployment.

The medians and 90th percentiles of the time to first action and to resolution need every
duration of the window (per district and ward, every value; in total and per category, the
histograms and the complaints at the window's edges): at 10M complaints they were 80 % of the
CPU of a statistics request with breakdowns, and the three years' request took 1.6–2.1 s on
two cores (docs/benchmarks.md, "seventh pass"). Yet they change only when a complaint of the
window gets its first action or its resolution, and dashboards ask for the same windows over
and over. (The counts, "overdue" included, stay cheap: they are always read for the request.)

So, with ``stats_snapshot_max_age_seconds`` above 0 (``PHANANH_STATS_SNAPSHOT_MAX_AGE_SECONDS``;
0, the default, keeps none), the percentiles of a window, once read, are kept in
``stats_snapshot`` (migration 0049), per :class:`Kind`, with the data version of ``complaint``
and the WAL position their read included, both taken before the read. A later request takes
them (:func:`usable`):

* **exactly**, when ``complaint`` has not changed since (its data version is the one kept);
* or when they are at most the maximum age old and hold the caller's last write: their
  position is past the one the caller was handed after it (``db/nodes.py``, which hands it
  out whenever snapshots are on). A caller who wrote after them is answered from the
  durations themselves, so nobody misses their own change.

Every request that reads the durations themselves keeps what it read. ``phananh rollups
refresh`` (:func:`refresh`) re-reads the snapshots of the windows asked for lately whose
version is behind, so requests find them current: run it at half the maximum age (cron, or
``--every``). A request says when its durations were read (``Stats.durationsAsOf``,
``Stats.areaDurationsAsOf``).
"""

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, Engine

from analytics import kpi
from analytics.periods import CITY_TIME_ZONE
from analytics.rollups import whole_days
from db.complaints import ComplaintFilter
from db.engine import Work, connection
from db.nodes import format_lsn, parse_lsn
from db.sql import execute, fetch, sql

TOUCH_AFTER = timedelta(hours=1)  # how stale ``asked_at`` may be before a hit renews it
Reader = Callable[[Connection], dict[Any, Any]]


class Kind(StrEnum):
    """What a snapshot holds: the parts of :func:`readers`."""

    TOTALS = "totals"  # in total and per category
    AREAS = "areas"  # per district and per ward, each duration


def readers(kind: Kind, f: ComplaintFilter) -> list[Reader]:
    """The statements that read a kind's parts, each on a connection of its own: the
    histograms' one, in total and per category; each duration's packed values per area."""
    if kind is Kind.TOTALS:
        return [functools.partial(kpi.total_and_category_durations, f=f)]
    return [functools.partial(kpi.routed_durations, f=f, which=which)
            for which in kpi.ROUTED_PARTS if which is not kpi.Part.COUNTS]


def answers(kind: Kind, f: ComplaintFilter) -> bool:
    """Whether the rollups answer ``f``'s durations of ``kind`` exactly (else :func:`readers`
    cannot read them)."""
    return (kpi.shared_durations_answer(f) if kind is Kind.TOTALS
            else kpi.routed_answers(f))


# The data version of complaints (migration 0003's counter, bumped by every transaction that
# writes them): what a snapshot is exact for.
COMPLAINT_VERSION = "(SELECT version FROM data_version WHERE table_name = 'complaint')"
# That version and the WAL position reached: taken before the durations are read, so what is
# read holds at least everything they stand for.
READ_AT = f"""
    SELECT {COMPLAINT_VERSION} AS version,
           (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                 ELSE pg_current_wal_insert_lsn() END)::text AS position,
           now() AS computed_at"""
# A window's snapshot, when it answers: kept at the current version, or young enough and
# past the caller's last write (strictly: a position read before the caller's commit was
# acknowledged may equal the one handed to them).
LOOKUP = f"""
    SELECT s.percentiles, s.computed_at,
           s.asked_at < now() - make_interval(secs => :touch_after) AS stale_ask
    FROM stats_snapshot s
    WHERE s.kind = :kind AND s.window_key = :window_key
      AND (s.version = {COMPLAINT_VERSION}
           OR (s.computed_at >= now() - make_interval(secs => :max_age)
               AND (CAST(:after AS pg_lsn) IS NULL OR s.position > CAST(:after AS pg_lsn))))"""
STORE = """
    INSERT INTO stats_snapshot AS s (kind, window_key, first_day, end_day, version, position,
                                     computed_at, asked_at, percentiles)
    VALUES (:kind, :window_key, :first_day, :end_day, :version, CAST(:position AS pg_lsn),
            :computed_at, now(), CAST(:percentiles AS jsonb))
    ON CONFLICT (kind, window_key) DO UPDATE
    SET version = EXCLUDED.version, position = EXCLUDED.position,
        computed_at = EXCLUDED.computed_at, asked_at = greatest(s.asked_at, EXCLUDED.asked_at),
        percentiles = EXCLUDED.percentiles
    WHERE s.position < EXCLUDED.position"""
TOUCH = """UPDATE stats_snapshot SET asked_at = now()
           WHERE kind = :kind AND window_key = :window_key"""
# The snapshots asked for within :within seconds whose version is behind; the others are
# dropped.
BEHIND = f"""
    SELECT kind, first_day, end_day FROM stats_snapshot
    WHERE asked_at >= now() - make_interval(secs => :within)
      AND version <> {COMPLAINT_VERSION}
    ORDER BY kind, window_key"""
FORGET = "DELETE FROM stats_snapshot WHERE asked_at < now() - make_interval(secs => :within)"


@dataclass(frozen=True)
class Window:
    """The whole days a snapshot is kept for (None: open), of a filter that names nothing
    else."""

    first: date | None
    end: date | None

    @property
    def key(self) -> str:
        return f"{self.first or ''}/{self.end or ''}"

    def as_filter(self) -> ComplaintFilter:
        return ComplaintFilter(created_from=_midnight(self.first), created_to=_midnight(self.end))


def _midnight(day: date | None) -> datetime | None:
    """The start of ``day`` in the city."""
    return None if day is None else datetime.combine(day, time(0), ZoneInfo(CITY_TIME_ZONE))


def window_of(f: ComplaintFilter, kind: Kind) -> Window | None:
    """The window of ``f`` when a snapshot of ``kind`` can stand for its durations, else
    None: whole days in the city, no category, no status, no other field."""
    days = whole_days(f)
    if days is None or days.categories or days.statuses or not answers(kind, f):
        return None
    return Window(days.first, days.end)


@dataclass(frozen=True)
class Snapshot:
    """The parts of :func:`readers` and when they were read; as read (not yet kept), the
    version and position they include; as found (:func:`usable`), whether the window's
    ``asked_at`` is due for :func:`renew`."""

    parts: list[dict[Any, Any]]
    computed_at: datetime
    version: int | None = None
    position: int | None = None
    renew: bool = False


def usable(conn: Connection, kind: Kind, window: Window, max_age_s: float,
           after: int | None) -> Snapshot | None:
    """The window's snapshot of ``kind``, if it answers a caller whose last write is at WAL
    position ``after`` (None: none known)."""
    rows = fetch(conn, sql(LOOKUP, kind=kind.value, window_key=window.key, max_age=max_age_s,
                           touch_after=TOUCH_AFTER.total_seconds(),
                           after=None if after is None else format_lsn(after)))
    if not rows:
        return None
    return Snapshot(decoded(rows[0].percentiles), rows[0].computed_at, renew=rows[0].stale_ask)


def renew(conn: Connection, kind: Kind, window: Window) -> None:
    """Mark the window's snapshot asked for now: :func:`refresh` keeps those asked for."""
    execute(conn, sql(TOUCH, kind=kind.value, window_key=window.key))


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


def keep(conn: Connection, kind: Kind, window: Window, snapshot: Snapshot) -> None:
    """Store ``snapshot`` for ``window``, unless one that includes more is there."""
    assert snapshot.position is not None and snapshot.version is not None
    execute(conn, sql(STORE, kind=kind.value, window_key=window.key, first_day=window.first,
                      end_day=window.end, version=snapshot.version,
                      position=format_lsn(snapshot.position),
                      computed_at=snapshot.computed_at,
                      percentiles=json.dumps(encoded(snapshot.parts))))


def refresh(engine: Engine, asked_within: timedelta,
            on_progress: Callable[[int, int], None] | None = None
            ) -> list[tuple[Kind, Window, float]]:
    """Re-read every snapshot asked for within ``asked_within`` whose version is behind, and
    drop those not asked for in that time: (kind, window, seconds to read it) each."""
    within = asked_within.total_seconds()
    with connection(engine, Work.ANALYTICS, begin=True) as conn:
        execute(conn, sql(FORGET, within=within))
        behind = [(Kind(r.kind), Window(r.first_day, r.end_day))
                  for r in fetch(conn, sql(BEHIND, within=within))]
    done = []
    for number, (kind, window) in enumerate(behind, start=1):
        start = perf_counter()
        with connection(engine, Work.ANALYTICS) as conn:
            parts = [read_part(conn, reader) for reader in readers(kind, window.as_filter())]
        with connection(engine, Work.ANALYTICS, begin=True) as conn:
            keep(conn, kind, window, joined(parts))
        done.append((kind, window, perf_counter() - start))
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
