"""Rollups (migrations 0013, 0017, 0021, 0022, 0025, 0028, 0029, 0030, 0032, 0033, 0034,
0037, 0038): which questions they answer, and how to ask them.

``complaint_rollup`` counts complaints per boundary generation, level, placed area (the rule of
``analytics/areas.py``), city day, category and status, and ``complaint_month_rollup`` per
generation, level, area and city month only (summed from the daily one by its own triggers; read
like the monthly grid below); ``complaint_grid_rollup`` per standard grid
(``grid_rollup_size``), UTM zone, city day, cell (``analytics/grid.py``), category and status,
and ``complaint_grid_month_rollup`` per grid, zone, city month and cell only (read for the whole
months of a window when no category or status is asked for: at most cells × months rows, however
many complaints); ``complaint_kpi_rollup`` per city day, category, status and rating, with those
resolved after their due time (the statistics' counts, ``analytics/kpi.py``), and
``complaint_area_kpi_rollup`` the same per routed district and ward too (their breakdowns), and
``complaint_area_kpi_month_rollup`` the sums those counts give per city month and routed area
only (the whole months of a breakdown's window that names no category or status), and
``complaint_due_rollup`` per city day, category, status and city day due (their "overdue" over
long windows), and ``complaint_area_due_rollup`` the open complaints per city month, routed
district and ward, and city month due (the breakdowns' "overdue"); ``complaint_duration_rollup``
per city month, category, duration (first action; resolution, with the status) and bucket of
hours, the histograms from which the statistics find the durations' percentiles
(``analytics/durations.py``), and ``complaint_duration_fine_rollup`` the same in buckets
eight times finer (read only within the buckets that hold a percentile's ranks), and
``complaint_area_duration_values`` the durations themselves, packed, per city month, measure
(and status) and routed district and ward (``analytics/area_durations.py``). All are kept exact
by triggers in the writing transaction. An analysis reads them instead of the complaints when
its filter asks for nothing else: categories, statuses and a creation window that starts and
ends at midnight in the city (or is open), and, for time steps, periods that start at midnight
in the city. Any other part of the filter, today's or one added later, sends the analysis to
the complaints themselves.
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from analytics.cell_key import unpacked
from analytics.periods import CITY_TIME_ZONE
from db.complaints import ComplaintFilter
from db.sql import Fragment, compose, sql

KEPT = {"categories", "statuses", "created_from", "created_to"}


@dataclass(frozen=True)
class Days:
    """The filter in the rollup's terms: first day, day after the last (None: open)."""

    first: date | None
    end: date | None
    categories: tuple[str, ...]
    statuses: tuple[str, ...]


_bypassed = False


@contextmanager
def bypassed() -> Iterator[None]:
    """Inside this block no rollup answers any analysis: each reads the complaints (the raw
    path ``bench scale`` measures the rollups against). Process-wide: for benchmarks only."""
    global _bypassed
    _bypassed = True
    try:
        yield
    finally:
        _bypassed = False


def whole_days(f: ComplaintFilter) -> Days | None:
    """``f`` in the rollup's terms, or None when the rollup cannot answer it exactly (or is
    :func:`bypassed`)."""
    if _bypassed or any(getattr(f, field.name) not in (None, (), []) for field in fields(f)
           if field.name not in KEPT):
        return None
    bounds = [_local(instant) for instant in (f.created_from, f.created_to)]
    if any(local is not None and local.timetz().replace(tzinfo=None) != time(0)
           for local in bounds):
        return None
    first, end = (local.date() if local is not None else None for local in bounds)
    return Days(first, end, tuple(f.categories), tuple(f.statuses))


def _local(instant: datetime | None) -> datetime | None:
    return instant.astimezone(ZoneInfo(CITY_TIME_ZONE)) if instant is not None else None


def _where(days: Days, table: str, values: dict[str, object]) -> Fragment:
    """The rows of the rollup ``table`` that ``days`` asks for, plus ``values``' conditions."""
    conditions = [f"{name} = :{name}" for name in values]
    bound = dict(values)
    for condition, name, value in (
        ("day >= :rollup_first", "rollup_first", days.first),
        ("day < :rollup_end", "rollup_end", days.end),
        ("category_code = ANY(:rollup_categories)", "rollup_categories",
         list(days.categories) or None),
        ("status = ANY(:rollup_statuses)", "rollup_statuses", list(days.statuses) or None),
    ):
        if value is not None:
            conditions.append(condition)
            bound[name] = value
    return sql(f"{table} WHERE {' AND '.join(conditions) or 'true'}", **bound)


# The number (from 1) of the period holding a rollup row's day: the day's first instant among
# the periods' starts (``analytics.periods.PERIOD_OF`` on the complaints).
DAY_STEP = ("width_bucket((day::timestamp AT TIME ZONE '" + CITY_TIME_ZONE + "'), "
            "CAST(:period_starts AS timestamptz[]))")


# The instant a city day {day} (SQL, a date) starts.
_DAY_START = "(CAST({day} AS date)::timestamp AT TIME ZONE '" + CITY_TIME_ZONE + "')"


def day_steps(starts: list[datetime]) -> str | None:
    """SQL for the step of a rollup row, given the periods' starts (none: one whole period),
    or None when a period starts elsewhere than at midnight in the city, which splits a day."""
    city = ZoneInfo(CITY_TIME_ZONE)
    if any(start.astimezone(city).timetz().replace(tzinfo=None) != time(0) for start in starts):
        return None
    return DAY_STEP if starts else "1"


@dataclass(frozen=True)
class _Rolled:
    """A daily rollup and its monthly twin (a month's first day, ``month``, stands for its
    days; it has neither category nor status): the columns read from both (``{day}``: the
    day, or the month as the day), those counted (an edge's days taken away are counted
    negatively), and the condition, beyond the bound values, that chooses their rows."""

    daily: str
    monthly: str
    columns: str
    counted: tuple[str, ...] = ("complaints",)
    scope: str = "true"

    def read(self, day: str, sign: int) -> str:
        """The select list of a part: the columns, then the counts times ``sign``."""
        return ", ".join([self.columns.format(day=day), *signed(
            {name: name for name in self.counted}, sign)])


def signed(sums: Mapping[str, str], sign: int) -> list[str]:
    """The select list ``value AS name`` of ``sums`` ({name: SQL}), times ``sign``."""
    return [f"{value} AS {name}" if sign == 1 else f"{sign} * ({value}) AS {name}"
            for name, value in sums.items()]


_AREAS = _Rolled("complaint_rollup", "complaint_month_rollup", "area_id, {day}")
_GRIDS = _Rolled("complaint_grid_rollup", "complaint_grid_month_rollup", "cell, {day}",
                 scope="srid = :grid_srid")


def area_counts(days: Days, generation_id: int, level: str, step: str | None = None,
                months: bool = True) -> Fragment:
    """SQL rows ``(area_id, n)``: complaints per placed area, from the rollups; with ``step``
    (of :func:`day_steps`), rows ``(area_id, step, n)`` per step, and ``months`` says whether
    a month's complaints all fall in one step (:func:`month_steps`)."""
    stepped = f", {step} AS step" if step else ""
    rows = _rows(days, _AREAS, months, {"generation_id": generation_id, "level": level})
    return compose(f"""SELECT area_id{stepped}, sum(complaints) AS n FROM ({{rows}}) AS r
                       GROUP BY area_id{", step" if step else ""}""", rows=rows)


def grid_counts(days: Days, shape: str, size_m: float, step: str | None = None,
                months: bool = True) -> Fragment:
    """SQL rows ``(i, j, n)``: complaints per non-empty cell of a standard grid laid out in
    ``:grid_srid`` (bound by the statement), from the rollups; with ``step``, rows
    ``(i, j, step, n)``, and ``months`` as for :func:`area_counts`. Only for a grid
    :func:`grid_rolled_up` allows. Grouped by (i, j), not by the packed key
    (``analytics/cell_key.py`` says why)."""
    stepped = f", {step} AS step" if step else ""
    rows = _rows(days, _GRIDS, months, {"shape": shape, "size_m": size_m})
    return compose(f"""SELECT {unpacked("cell")}{stepped}, sum(complaints) AS n
                       FROM ({{rows}}) AS r
                       GROUP BY i, j{", step" if step else ""} HAVING sum(complaints) > 0""",
                   rows=rows)


def _rows(days: Days, rolled: _Rolled, months: bool, values: dict[str, object]) -> Fragment:
    """SQL rows of ``rolled`` over ``days`` (its columns, then its counts): the
    window's whole months from the monthly rollup and the days at its edges from the daily
    one, those taken away counted negatively (:func:`month_split`: at most half a month of
    days an edge); all of it from the daily one when the filter names what the monthly one
    lacks (categories, statuses), when no whole month fits, or not ``months``."""
    split = monthly_split(days) if months else None
    if split is None:
        return compose(f"SELECT {rolled.read('day', 1)} FROM {{rows}} AND {rolled.scope}",
                       rows=_where(days, rolled.daily, values))
    chosen = " AND ".join([*(f"{name} = :{name}" for name in values), rolled.scope])
    parts = [compose(f"""SELECT {rolled.read('month AS day', 1)} FROM {rolled.monthly}
                         WHERE {chosen} AND {{months}}""", months=months_where(split))]
    parts += [sql(f"""SELECT {rolled.read('day', sign)} FROM {rolled.daily}
                      WHERE {chosen} AND day >= :rollup_edge{n}_start
                        AND day < :rollup_edge{n}_end""",
                  **{f"rollup_edge{n}_start": start, f"rollup_edge{n}_end": end})
              for n, (start, end, sign) in enumerate(split.edges)]
    return union_all(parts).bind(**values)


def union_all(parts: list[Fragment]) -> Fragment:
    """The rows of every fragment in ``parts``, one statement."""
    return compose(" UNION ALL ".join(f"{{part{n}}}" for n in range(len(parts))),
                   **{f"part{n}": part for n, part in enumerate(parts)})


def _whole_months(days: Days) -> tuple[date | None, date | None] | None:
    """(first day of the first whole month, first day of the month holding the window's end)
    of the window ``days`` (None: open on that side), or None when no whole month fits."""
    first = None
    if days.first is not None:
        first = days.first if days.first.day == 1 else _next_month(days.first)
    end = days.end.replace(day=1) if days.end is not None else None
    if first is not None and end is not None and first >= end:
        return None
    return first, end


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_steps(starts: list[datetime]) -> bool:
    """Whether every period starts on the first of a month in the city (at midnight: that is
    :func:`day_steps`'s test), so that each month of the monthly grid rollup falls in one
    step."""
    city = ZoneInfo(CITY_TIME_ZONE)
    return all(start.astimezone(city).day == 1 for start in starts)


def kpi_rows(days: Days) -> Fragment:
    """SQL: the rows of ``complaint_kpi_rollup`` that ``days`` asks for (columns ``day``,
    ``category_code``, ``status``, ``rating``, ``complaints``, ``late``)."""
    return _where(days, "complaint_kpi_rollup", {})


def area_kpi_rows(days: Days, rolled: Mapping[str, str], counted: Mapping[str, str]
                  ) -> Fragment:
    """SQL, a FROM item: the statistics' sums per routed district and ward over ``days``
    (columns ``district_id``, ``ward_id``, then one per entry of ``rolled``). A window that
    names neither categories nor statuses reads its whole months from
    ``complaint_area_kpi_month_rollup``, which holds the sums, and the days at its edges
    (:func:`month_split`) from the complaints, ``counted`` being each sum's SQL over a
    complaint: per ward and day the daily rollup holds about a row a complaint, wherever
    they were written, while the complaints' covering index (``complaint_analytics``) holds
    them in the order of time (at 10 million complaints, six days took 382 ms from the
    rollup, 55 ms from the complaints). Any other window reads ``complaint_area_kpi_rollup``,
    ``rolled`` being each sum's SQL over its ``status``, ``rating``, ``complaints`` and
    ``late``."""
    split = monthly_split(days)
    if split is None:
        return compose(f"(SELECT district_id, ward_id, {', '.join(signed(rolled, 1))} "
                       "FROM {rows}) AS area_rows",
                       rows=_where(days, "complaint_area_kpi_rollup", {}))
    rows = _months_and_edges(
        split, f"SELECT district_id, ward_id, {', '.join(rolled)} "
               "FROM complaint_area_kpi_month_rollup WHERE {months}",
        lambda sign: f"SELECT complaint.district_id, complaint.ward_id, "
                     f"{', '.join(signed(counted, sign))} FROM complaint WHERE {{edge}}")
    return compose("({rows}) AS area_rows", rows=rows)


def due_rows(days: Days) -> Fragment:
    """SQL: the rows of ``complaint_due_rollup`` (migration 0030) that ``days`` asks for
    (columns ``day``, ``category_code``, ``status``, ``due_day``, ``complaints``)."""
    return _where(days, "complaint_due_rollup", {})


# The city day of the instant bound as :as_of, and the instant that day starts.
AS_OF_DAY = f"(CAST(:as_of AS timestamptz) AT TIME ZONE '{CITY_TIME_ZONE}')::date"
AS_OF_DAY_START = _DAY_START.format(day=AS_OF_DAY)
# The first day of that day's city month, and the instant it starts.
AS_OF_MONTH = f"CAST(date_trunc('month', {AS_OF_DAY}) AS date)"
AS_OF_MONTH_START = _DAY_START.format(day=AS_OF_MONTH)


def area_due_rows(days: Days, overdue: str) -> Fragment | None:
    """SQL, a FROM item: per routed district and ward (columns ``district_id``, ``ward_id``,
    ``overdue``), the complaints of ``days`` past due before the city month of ``:as_of``
    begins: the window's whole months from ``complaint_area_due_rollup`` (migration 0037:
    open complaints per month received and month due), the days at its edges
    (:func:`month_split`) from the complaints, ``overdue`` being the rule's SQL over a
    complaint. Those due in the month of ``:as_of`` are the caller's to read. None when the
    rollup cannot answer: categories or statuses asked, or no whole month."""
    split = monthly_split(days)
    if split is None:
        return None
    rows = _months_and_edges(
        split, "SELECT district_id, ward_id, complaints AS overdue FROM complaint_area_due_rollup "
               f"WHERE {{months}} AND due_month < {AS_OF_MONTH}",
        lambda sign: f"SELECT complaint.district_id, complaint.ward_id, {sign} FROM complaint "
                     f"WHERE {{edge}} AND {overdue} AND complaint.due_at < {AS_OF_MONTH_START}")
    return compose("({rows}) AS area_due", rows=rows)


@dataclass(frozen=True)
class MonthSplit:
    """A window of whole days as whole months of a monthly rollup (from ``first_month`` to
    before ``end_month``; None: open) and the days at its edges, read from the complaints:
    each (first day, day after, 1 to add them or -1 to take them away)."""

    first_month: date | None
    end_month: date | None
    edges: tuple[tuple[date, date, int], ...]

    @property
    def taken_from(self) -> tuple[date, ...]:
        """The whole months that edges take days away from."""
        return tuple(start.replace(day=1) for start, _, sign in self.edges if sign < 0)


def month_split(days: Days, today: date | None = None) -> MonthSplit | None:
    """``days`` as whole months and edges. An edge longer than the rest of its month is read
    as that whole month less the month's days outside the window, taken away: at most half a
    month of complaints is read per edge. So is an end edge whose days outside the window
    have not begun yet in the city (a window up to tomorrow: a dashboard's "so far"): those
    days hold no complaint, or only what a clock ahead of the city's wrote, so reading them
    costs nothing, where the days inside cost up to a month of complaints. Either reading is
    exact; only its cost depends on the clock (``today``: the city's date, now by default).
    None when no whole month fits."""
    split = _whole_months(days)
    if split is None:
        return None
    first_month, end_month = split
    edges: list[tuple[date, date, int]] = []
    if days.first is not None and first_month is not None and days.first < first_month:
        head = days.first.replace(day=1)
        if days.first - head < first_month - days.first:
            first_month = head
            edges.append((head, days.first, -1))
        else:
            edges.append((days.first, first_month, 1))
    if days.end is not None and end_month is not None and end_month < days.end:
        after = _next_month(end_month)
        if (after - days.end < days.end - end_month
                or days.end > (today if today is not None else city_today())):
            end_month = after
            edges.append((days.end, after, -1))
        else:
            edges.append((end_month, days.end, 1))
    return MonthSplit(first_month, end_month, tuple(edges))


def city_today() -> date:
    """The date in the city now."""
    return datetime.now(ZoneInfo(CITY_TIME_ZONE)).date()


def monthly_split(days: Days) -> MonthSplit | None:
    """:func:`month_split` for the monthly rollups that keep no category and no status (the
    grids', the areas' sums and overdue, the packed durations per area): None when ``days``
    names either."""
    return None if days.categories or days.statuses else month_split(days)


def months_where(split: MonthSplit) -> Fragment:
    """SQL: the condition on a monthly rollup's ``month`` for the whole months of ``split``
    (binding ``:first_month`` and ``:end_month``, those that are not open)."""
    conditions, bound = ["true"], {}
    if split.first_month is not None:
        conditions.append("month >= :first_month")
        bound["first_month"] = split.first_month
    if split.end_month is not None:
        conditions.append("month < :end_month")
        bound["end_month"] = split.end_month
    return sql(" AND ".join(conditions), **bound)


def each_month(split: MonthSplit) -> list[date] | None:
    """The first day of each whole month of ``split``, or None when the window is open."""
    if split.first_month is None or split.end_month is None:
        return None
    months, month = [], split.first_month
    while month < split.end_month:
        months.append(month)
        month = _next_month(month)
    return months


def edge_where(split: MonthSplit, n: int) -> Fragment:
    """SQL: the condition on ``created_at`` for the days of edge ``n`` of ``split``."""
    start, end, _ = split.edges[n]
    return sql(f"created_at >= {_DAY_START.format(day=f':edge{n}_start')} "
               f"AND created_at < {_DAY_START.format(day=f':edge{n}_end')}",
               **{f"edge{n}_start": start, f"edge{n}_end": end})


def _months_and_edges(split: MonthSplit, months: str, edge: Callable[[int], str]) -> Fragment:
    """SQL: the rows of ``months`` (over a monthly rollup, its ``{months}`` slot filled with
    the whole months of ``split``) and, for each edge, of ``edge(sign)`` (over the
    complaints, its ``{edge}`` slot filled with the edge's days), one statement."""
    parts = [compose(months, months=months_where(split))]
    parts += [compose(edge(sign), edge=edge_where(split, n))
              for n, (_, _, sign) in enumerate(split.edges)]
    return union_all(parts)


@dataclass(frozen=True)
class DurationRows:
    """SQL rows ``(category_code, measure, status, bucket, complaints)`` of the durations'
    histograms over whole days (migrations 0025 and 0038): ``months``, the whole months of the
    window from ``complaint_duration_rollup``, ``fine_months`` the same from
    ``complaint_duration_fine_rollup`` (its buckets eight times finer), and ``edges``, the days
    at the window's edges from the complaints, in fine buckets (``duration_fine_keys``: a
    coarse bucket is a fine one ``>> 3``), those taken away counted negatively (a histogram is
    a sum). The two months' fragments bind the same parameters, so a statement takes them
    through :meth:`compose`, which binds them once."""

    months: Fragment
    fine_months: Fragment
    edges: Fragment
    categories: Mapping[str, list[str]]

    def compose(self, template: str, /, **parts: Fragment | str) -> Fragment:
        """``template`` with ``{months}``, ``{fine_months}`` and ``{edges}`` filled, and
        ``parts``, as :func:`db.sql.compose`."""
        return compose(template, months=self.months, fine_months=self.fine_months.text,
                       edges=self.edges, **parts).bind(**self.categories)


# The rows of no edge, typed as an edge's.
NO_EDGES = ("SELECT CAST(NULL AS text) AS category_code, CAST(NULL AS text) AS measure, "
            "CAST(NULL AS text) AS status, CAST(NULL AS integer) AS bucket, "
            "CAST(NULL AS bigint) AS complaints WHERE false")


def duration_rows(days: Days) -> DurationRows | None:
    """The durations' histograms over ``days`` (:class:`DurationRows`): their whole months
    (:func:`month_split`) from the rollups, the days at the edges from the complaints. None
    when no whole month fits (a short window, cheap to sort) or the filter names statuses
    (the first action's rows have none)."""
    split = month_split(days) if not days.statuses else None
    if split is None:
        return None
    of_categories = "AND category_code = ANY(:rollup_categories)" if days.categories else ""
    months = [compose(f"""SELECT category_code, measure, status, bucket, complaints
                          FROM {table} WHERE {{months}} {of_categories}""",
                      months=months_where(split))
              for table in ("complaint_duration_rollup", "complaint_duration_fine_rollup")]
    edges = [compose(f"""
        SELECT category_code, k.measure, k.status, k.bucket, {sign} AS complaints
        FROM complaint CROSS JOIN LATERAL duration_fine_keys(
            status, hours_to_first_action, hours_to_resolution) AS k
        WHERE {{edge}} {of_categories}""", edge=edge_where(split, n))
        for n, (_, _, sign) in enumerate(split.edges)]
    return DurationRows(
        *months, union_all(edges) if edges else sql(NO_EDGES),
        {"rollup_categories": list(days.categories)} if days.categories else {})


# Whether the grid is rolled up, and no complaint lies in another UTM zone than the grid's
# (its cell there is not in the rollup): two index probes either side of the zone.
GRID_ROLLED_UP = """
    SELECT EXISTS (SELECT 1 FROM grid_rollup_size WHERE shape = :shape AND size_m = :size_m)
       AND NOT EXISTS (SELECT 1 FROM complaint_grid_rollup
                       WHERE shape = :shape AND size_m = :size_m AND srid < :srid)
       AND NOT EXISTS (SELECT 1 FROM complaint_grid_rollup
                       WHERE shape = :shape AND size_m = :size_m AND srid > :srid)"""


def grid_rolled_up(conn: Connection, shape: str, size_m: float, srid: int) -> bool:
    """True when the grid rollup holds every complaint's cell of this grid laid out in
    ``srid``: a standard grid (``grid_rollup_size``), and all complaints in that zone."""
    return bool(conn.execute(text(GRID_ROLLED_UP),
                             {"shape": shape, "size_m": size_m, "srid": srid}).scalar())


def rebuild(conn: Connection) -> None:
    """Every rollup from the complaints, in one set-based statement each (``rebuild_rollups``,
    migrations 0017, 0021, 0022, 0025, 0028, 0030, 0032, 0033, 0034, 0037 and 0038): after a
    bulk load without the rollup triggers, or as a repair."""
    conn.execute(text("SELECT rebuild_rollups()"))


# The rollups' row triggers and statement triggers on the complaints and their placements
# (migrations 0013, 0017, 0021, 0022, 0023, 0025, 0028, 0030, 0032, 0033, 0034, 0037, 0038),
# which a bulk load disables for its inserts.
TRIGGERS = {"complaint": ("complaint_1_rollup_insert", "complaint_rollup_update",
                          "complaint_rollup_delete", "complaint_grid_rollup_insert",
                          "complaint_grid_rollup_update", "complaint_grid_rollup_delete",
                          "complaint_kpi_rollup_insert", "complaint_kpi_rollup_update",
                          "complaint_kpi_rollup_delete", "complaint_grid_month_rollup_insert",
                          "complaint_grid_month_rollup_update",
                          "complaint_grid_month_rollup_delete",
                          "complaint_duration_rollup_insert",
                          "complaint_duration_rollup_update",
                          "complaint_duration_rollup_delete",
                          "complaint_area_kpi_rollup_insert", "complaint_area_kpi_rollup_update",
                          "complaint_area_kpi_rollup_delete", "complaint_due_rollup_insert",
                          "complaint_due_rollup_update", "complaint_due_rollup_delete",
                          "complaint_area_duration_values_insert",
                          "complaint_area_duration_values_update",
                          "complaint_area_duration_values_delete",
                          "complaint_area_kpi_month_rollup_insert",
                          "complaint_area_kpi_month_rollup_update",
                          "complaint_area_kpi_month_rollup_delete",
                          "complaint_area_due_rollup_insert", "complaint_area_due_rollup_update",
                          "complaint_area_due_rollup_delete",
                          "complaint_duration_fine_rollup_insert",
                          "complaint_duration_fine_rollup_update",
                          "complaint_duration_fine_rollup_delete"),
            "complaint_area": ("complaint_rollup_place", "complaint_rollup_unplace")}


def set_triggers(conn: Connection, enabled: bool) -> None:
    """Enable or disable the rollup triggers (in the caller's transaction: ALTER TABLE locks
    the tables until it ends, so no other writer ever sees them off). Only those present: a
    database at an older revision (a migration test's) has fewer rollups."""
    action = "ENABLE" if enabled else "DISABLE"
    for table, names in TRIGGERS.items():
        present = conn.execute(text("""
            SELECT tgname FROM pg_trigger
            WHERE tgrelid = CAST(:table AS regclass) AND tgname = ANY(:names)
            ORDER BY tgname"""), {"table": table, "names": list(names)}).scalars().all()
        for name in present:
            conn.execute(text(f"ALTER TABLE {table} {action} TRIGGER {name}"))


@contextmanager
def paused(conn: Connection) -> Iterator[None]:
    """A bulk load in the caller's transaction: the rollup triggers off while it writes, then
    every rollup rebuilt once, set-based, and the triggers on again."""
    set_triggers(conn, False)
    yield
    rebuild(conn)
    set_triggers(conn, True)
