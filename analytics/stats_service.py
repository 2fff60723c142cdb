"""The city's KPIs for one complaint filter, each part computed when asked for.

The figures are defined in :mod:`analytics.kpi`; this module schedules their statements. A
figure set's statements run on parallel connections (PostgreSQL sorts each percentile in one
process), and a breakdown lists its entries while its figures are computed. So a request
already runs half a dozen statements side by side; each runs with ``parallel_workers``
PostgreSQL workers at most (``PHANANH_STATS_PARALLEL_WORKERS``, default none): on two cores,
the two workers PostgreSQL would give each statement only competed with the request's other
statements, and started processes to do so (docs/benchmarks.md, "Breakdowns at 10M, second
pass").
"""

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from analytics import kpi, snapshots
from analytics.periods import Period, calendar_for, check_time_zone
from db.complaints import ComplaintFilter
from db.engine import Work, read

T = TypeVar("T")


class KpiStats:
    """The KPIs of the complaints matching ``query``, overdue as of ``as_of``. With
    ``total_and_categories`` (the request asks for both), the summary's durations and the
    categories' come from one read of their histograms, and the summary's counts are the
    categories' summed (the durations are shared too whenever they may come from a snapshot).
    With ``snapshot_use``, the durations in total, per category, per district and per ward may
    come from a snapshot (:attr:`read_at` says when they were read)."""

    def __init__(self, engine: Engine, query: ComplaintFilter, as_of: datetime,
                 max_series_periods: int, total_and_categories: bool = False,
                 parallel_workers: int = 0,
                 snapshot_use: snapshots.SnapshotUse | None = None) -> None:
        self.engine = engine
        self.query = query
        self.as_of = as_of
        self.max_series_periods = max_series_periods
        self.parallel_workers = parallel_workers
        self.snapshot_use = snapshot_use
        # When each kind of durations was read: ``as_of``, unless a snapshot answered.
        self.read_at = dict.fromkeys(snapshots.Kind, as_of)
        kept = snapshot_use is not None and snapshots.subject_of(
            query, snapshots.Kind.TOTALS) is not None
        self._share_durations = (total_and_categories or kept) and \
            kpi.shared_durations_answer(query)
        self._routed: asyncio.Task[list[Any]] | None = None
        self._per_category: asyncio.Future[list[Any]] | None = None

    async def _read(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """``fn``'s statements on a connection of their own, with the request's parallel
        workers (for this transaction only)."""
        def run(conn: Connection, **kwargs: Any) -> T:
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = "
                                 f"{int(self.parallel_workers)}")
            return fn(conn, **kwargs)

        return await read(self.engine, run, work=Work.ANALYTICS, **kwargs)

    async def summary(self) -> kpi.Kpi:
        return (await self._figures(kpi.By.ALL)).get(0, kpi.Kpi())

    async def breakdown(self, by: kpi.By) -> list[kpi.Breakdown]:
        """Every category or area the filter covers, ranked, plus any other area its
        complaints were routed to (an older generation's)."""
        listed, found = await asyncio.gather(
            self._read(kpi.entries, f=self.query, by=by), self._figures(by))
        listed_keys = {row.key for row in listed}
        others = [key for key in found if key is not None and key not in listed_keys]
        return kpi.ranked(listed + await self._read(kpi.other_areas, ids=others), found)

    async def transfers(self) -> list[Any]:
        return await self._read(kpi.transfers, f=self.query)

    async def series(self, period: Period, time_zone: str) -> list[kpi.Point]:
        """Counts per local period of the filter's time window, empty periods included."""
        check_time_zone(time_zone)
        starts = await self._read(_period_starts, f=self.query, period=period,
                            time_zone=time_zone, max_periods=self.max_series_periods)
        if not starts:
            return []
        counts = await self._read(kpi.part, f=self.query, by=kpi.By.PERIOD,
                            which=kpi.Part.COUNTS, as_of=self.as_of, period_starts=starts)
        return kpi.series(starts, counts)

    async def _figures(self, by: kpi.By) -> dict[Any, kpi.Kpi]:
        """The statements of a figure set on parallel connections, put together; per district
        and per ward, from the parts per routed pair that both levels share when the rollups
        answer them; in total and per category, with the durations they share when asked."""
        if by in (kpi.By.DISTRICT, kpi.By.WARD) and kpi.routed_answers(self.query):
            if self._routed is None:  # the first of the two breakdowns to ask reads them
                self._routed = asyncio.ensure_future(self._read_routed())
            return kpi.at_level(await self._routed, by)
        if by in (kpi.By.ALL, kpi.By.CATEGORY) and self._share_durations:
            if self._per_category is None:  # the first of the two to ask reads both parts
                self._per_category = asyncio.gather(
                    self._read(kpi.part, f=self.query, by=kpi.By.CATEGORY,
                               which=kpi.Part.COUNTS, as_of=self.as_of),
                    self._durations(snapshots.Kind.TOTALS))
            counts, (durations,) = await self._per_category
            return kpi.figures(kpi.in_total(counts) if by is kpi.By.ALL else counts, durations)
        parts = await asyncio.gather(*(
            self._read(kpi.part, f=self.query, by=by, which=which, as_of=self.as_of)
            for which in kpi.parts_for(by, self.query)))
        return kpi.figures(*parts)

    async def durations_as_of(self, kind: snapshots.Kind) -> datetime:
        """When the durations of ``kind`` (in total and per category, or per district and
        ward) were read."""
        if kind is snapshots.Kind.TOTALS and self._share_durations:
            await self._figures(kpi.By.CATEGORY)
        elif kind is snapshots.Kind.AREAS and kpi.routed_answers(self.query):
            await self._figures(kpi.By.DISTRICT)
        return self.read_at[kind]

    async def _read_routed(self) -> list[Any]:
        """The parts of :data:`kpi.ROUTED_PARTS`, on as many connections at once (the
        durations' from a snapshot when one answers)."""
        counts, durations = await asyncio.gather(
            self._read(kpi.routed, f=self.query, which=kpi.Part.COUNTS, as_of=self.as_of),
            self._durations(snapshots.Kind.AREAS))
        return [counts, *durations]

    async def _durations(self, kind: snapshots.Kind) -> list[Any]:
        """The parts of ``kind``'s durations (:func:`snapshots.readers`): from a snapshot that
        answers this request, else read (and kept, when snapshots are on)."""
        parts, kept_at = await snapshots.parts_for(self.snapshot_use, kind, self.query,
                                                   self._read)
        self.read_at[kind] = kept_at or self.as_of
        return parts


def _period_starts(conn: Connection, f: ComplaintFilter, period: Period, time_zone: str,
                   max_periods: int) -> list[datetime]:
    calendar = calendar_for(conn, f, period, time_zone, max_periods)
    return [] if calendar is None else calendar.starts(conn)
