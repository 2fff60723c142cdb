"""The city's own performance figures ("17,083 received, 84.3 % processed, 55 % satisfied").

The definitions, also in README.md ("Statistics definitions"), over the complaints matching
the filter (received in the time window, of the area and category asked):

* received: their number;
* processed: those whose status is in ``PROCESSED`` (workflow/states.py: answered, or closed
  after an answer); processed rate = processed / received;
* rated: those with a citizen rating; satisfied rate = those with a rating in
  ``POSITIVE_RATINGS`` (satisfied or accepted) / rated;
* time to first action: first_action_at − created_at, over those with a first action;
  time to resolution: resolved_at − created_at, over the processed ones. Both reported as the
  median and the 90th percentile, linearly interpolated (PostgreSQL ``percentile_cont``, numpy's
  default), in hours;
* overdue: by ``overdue`` of workflow/states.py (open and past their due time, which is
  counted in working time) at the time asked; processed late: processed after it;
* misroutes: transfers of a complaint away from an agency (history events TRANSFERRED), per
  agency and category.

A rate or duration over no complaints is null, never 0.

A figure set is a few statements (counts, and the durations, whose percentiles sort every
duration, which PostgreSQL cannot spread over workers), so a caller can run them on parallel
connections (:func:`parts_for`); :func:`figures` assembles them.

The counts in total, per category and per period come from the daily rollup
``complaint_kpi_rollup`` (``analytics/rollups.py``), and per district and ward from its
twin keyed by the routed areas too, ``complaint_area_kpi_rollup`` (migration 0028), when it
answers the filter exactly (whole days in the city, categories and statuses; periods starting
at midnight in the city): the rules above applied to its status and rating columns
(:data:`ROLLED_SUMS`). A breakdown by area that names no category and no status reads the
whole months of its window from ``complaint_area_kpi_month_rollup`` (migration 0034), which
holds those sums per month and routed area, counted by the same rules.
"Overdue", which depends on the time asked, is summed in total, per category and per period
from ``complaint_due_rollup`` (migration 0030: complaints per day received and day due), but
for the complaints due on the very day asked, counted one by one; per district and ward, when
the filter names no category and no status and the window holds a whole month, from
``complaint_area_due_rollup`` (migration 0037: open complaints per month received, routed
area and month due), but for the complaints due in the month asked, counted one by one; else
over the open complaints (an index-only scan of ``complaint_due``). The durations'
percentiles in total and per category come, under the same conditions over a window holding a
whole month, from their histograms (``complaint_duration_rollup``,
``analytics/durations.py``): the same values, read from the few complaints of the buckets
holding the ranks asked instead of a sort of every duration. Per district and ward (no
histogram per area would be smaller than the durations themselves) they come, when the filter
names no category, from the durations packed per month and area
(``complaint_area_duration_values``, ``analytics/area_durations.py``); else from the
complaints that have a duration, in area order (0028's indexes). When the rollups answer both
(:func:`routed_answers`), a request's district and ward breakdowns share one read of the
counts and one of each duration, per routed (district, ward) pair (:func:`routed`): the counts
are summed into either level, and each duration's percentiles are selected for both levels
in the thread that read it (:func:`at_level` puts them together); and when the histograms
answer (:func:`shared_durations_answer`), a request's total and category breakdown share one
read of them (:func:`total_and_category_durations`).
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Date, Text, column, literal_column

from analytics import area_durations, durations
from analytics.durations import PERCENTILES, Measure
from analytics.periods import PERIOD_OF
from analytics.query import complaint_where, generation_id
from analytics.rollups import (
    AS_OF_DAY,
    AS_OF_DAY_START,
    AS_OF_MONTH_START,
    DAY_STEP,
    area_due_rows,
    area_kpi_rows,
    day_steps,
    due_rows,
    kpi_rows,
    whole_days,
)
from db.complaints import ComplaintFilter
from db.sql import Fragment, compose, fetch, sql
from db.tables import complaint
from workflow.routing import TRANSFERRED
from workflow.states import POSITIVE_RATINGS, PROCESSED, as_text, overdue

_PROCESSED_SQL = as_text(complaint.c.status.in_(PROCESSED))
_POSITIVE_SQL = as_text(complaint.c.rating.in_(POSITIVE_RATINGS))
_OVERDUE_SQL = as_text(overdue(complaint.c.status, complaint.c.due_at, literal_column(":as_of")))
# The same rules over the rollup's columns.
_ROLLED_PROCESSED = as_text(column("status", Text).in_(PROCESSED))
_ROLLED_POSITIVE = as_text(column("rating", Text).in_(POSITIVE_RATINGS))


class By(StrEnum):
    """What figures are grouped by."""

    ALL = "all"
    CATEGORY = "category"
    DISTRICT = "district"
    WARD = "ward"
    AGENCY = "agency"
    PERIOD = "period"
    # Both area levels at once: per routed (district, ward) pair, summed into either level
    # by :func:`at_level` (one read for the two breakdowns of a request).
    ROUTED = "routed"


class Part(StrEnum):
    COUNTS = "counts"
    FIRST_ACTION = "first_action"
    RESOLUTION = "resolution"
    DURATIONS = "durations"  # both durations: one scan and one sort by group
    ALL = "all"  # counts and both durations: one scan and one sort by group


_KEYS = {
    By.ALL: "0",
    By.CATEGORY: "complaint.category_code",
    By.DISTRICT: "complaint.district_id",
    By.WARD: "complaint.ward_id",
    By.AGENCY: "complaint.agency_code",
    By.PERIOD: PERIOD_OF,
    By.ROUTED: "ARRAY[complaint.district_id, complaint.ward_id]",
}
# By.ROUTED's pairs are grouped by their two columns, and each group's array built once (an
# array a row made the grouping twice as slow); the other keys by the key itself.
_GROUP_COLUMNS = {By.ROUTED: "district_id, ward_id"}

# The hours are stored per complaint (migration 0007), exact to the microsecond: to first
# action over those with one, to resolution over the processed ones.
FIRST_ACTION = Measure("first_action", "hours_to_first_action", "true", "true")
RESOLUTION = Measure("resolution", "hours_to_resolution", _PROCESSED_SQL, _ROLLED_PROCESSED)
_MEASURES = {Part.FIRST_ACTION: (FIRST_ACTION,), Part.RESOLUTION: (RESOLUTION,),
             Part.DURATIONS: (FIRST_ACTION, RESOLUTION)}


def _percentiles(m: Measure) -> str:
    return (f"percentile_cont(ARRAY[{', '.join(map(str, PERCENTILES))}]) "
            f"WITHIN GROUP (ORDER BY complaint.{m.column}) FILTER (WHERE {m.counted}) AS {m.name}")


# The counts of one complaint by the rules above (SQL over ``complaint``): summed over the
# complaints, and over the days a rollup leaves out.
COMPLAINT_SUMS = {
    "received": "1",
    "processed": f"CASE WHEN {_PROCESSED_SQL} THEN 1 ELSE 0 END",
    "rated": "CASE WHEN complaint.rating IS NOT NULL THEN 1 ELSE 0 END",
    "positive": f"CASE WHEN {_POSITIVE_SQL} THEN 1 ELSE 0 END",
    "processed_late": f"CASE WHEN {_PROCESSED_SQL} AND complaint.resolved_at > complaint.due_at"
                      " THEN 1 ELSE 0 END",
}


def _sum_list(sums: dict[str, str]) -> str:
    """The select list ``sum(value) AS name`` of ``sums`` ({name: SQL})."""
    return ", ".join(f"sum({value}) AS {name}" for name, value in sums.items())


_PARTS = {
    Part.COUNTS: f"""{_sum_list(COMPLAINT_SUMS)},
        count(*) FILTER (WHERE {_OVERDUE_SQL}) AS overdue""",
    Part.FIRST_ACTION: _percentiles(FIRST_ACTION),
    Part.RESOLUTION: _percentiles(RESOLUTION),
}
_PARTS[Part.DURATIONS] = ", ".join(_PARTS[p] for p in (Part.FIRST_ACTION, Part.RESOLUTION))
_PARTS[Part.ALL] = ", ".join(_PARTS[p] for p in (Part.COUNTS, Part.DURATIONS))

PART = "SELECT {key} AS key, {values} FROM complaint WHERE {where} GROUP BY 1"

# The keys the rollups have (By.PERIOD's: :func:`analytics.rollups.day_steps`); the areas'
# are those of the rollup per routed area.
_ROLLED_KEYS = {By.ALL: "0", By.CATEGORY: "category_code", By.PERIOD: DAY_STEP,
                By.DISTRICT: "district_id", By.WARD: "ward_id",
                By.ROUTED: "ARRAY[district_id, ward_id]"}
_BY_AREA = (By.DISTRICT, By.WARD, By.ROUTED)
_COUNTED = ("received", "processed", "rated", "positive", "overdue", "processed_late")
# The counts of a rollup row per status and rating (its ``complaints``, and ``late``: those
# resolved after their due time), by the rules above. The monthly rollup per routed area holds
# them summed (migration 0034).
ROLLED_SUMS = {
    "received": "complaints",
    "processed": f"CASE WHEN {_ROLLED_PROCESSED} THEN complaints ELSE 0 END",
    "rated": "CASE WHEN rating IS NOT NULL THEN complaints ELSE 0 END",
    "positive": f"CASE WHEN {_ROLLED_POSITIVE} THEN complaints ELSE 0 END",
    "processed_late": f"CASE WHEN {_ROLLED_PROCESSED} THEN late ELSE 0 END",
}
# The counts per group of rollup rows ({sums}: each of ROLLED_SUMS, or its name where the
# rows hold it).
ROLLED_COUNTS = """
    SELECT {key} AS key, {sums} FROM {rows} GROUP BY {group}
    HAVING sum({received}) > 0  -- a group whose days were all taken away (an edge's month)"""
OVERDUE = f"""SELECT {{key}} AS key, count(*) AS overdue FROM complaint
              WHERE {{where}} AND {_OVERDUE_SQL} GROUP BY {{group}}"""
# Overdue from the rollup of due days (0030): the complaints due on a day before the day of
# :as_of are past due whatever the hour, those due after it are not, and those due on it are
# read one by one (through ``complaint_due``, in order of due time).
_ROLLED_PAST_DUE = as_text(overdue(column("status", Text), column("due_day", Date),
                                   literal_column(AS_OF_DAY)))
ROLLED_OVERDUE = f"""
    SELECT key, sum(n) AS overdue FROM (
        SELECT {{key}} AS key, sum(complaints) AS n FROM {{rows}} AND {_ROLLED_PAST_DUE}
        GROUP BY 1
        UNION ALL
        SELECT {{raw_key}}, count(*) FROM complaint
        WHERE {{where}} AND {_OVERDUE_SQL} AND complaint.due_at >= {AS_OF_DAY_START}
        GROUP BY 1) AS due
    GROUP BY key"""

# Overdue per routed area: the rollup of open complaints per month received and month due
# (0037) for those due before the month of :as_of, and the complaints due in that month, read
# one by one (through ``complaint_due``, in order of due time).
AREA_OVERDUE = f"""
    SELECT {{key}} AS key, sum(overdue) AS overdue FROM (
        SELECT district_id, ward_id, overdue FROM {{rows}}
        UNION ALL
        SELECT complaint.district_id, complaint.ward_id, 1 FROM complaint
        WHERE {{where}} AND {_OVERDUE_SQL} AND complaint.due_at >= {AS_OF_MONTH_START}
    ) AS due
    GROUP BY {{group}}"""

CATEGORIES = """
    SELECT code AS key, code, name_en AS name FROM category
    WHERE cardinality(CAST(:categories AS text[])) = 0
       OR code = ANY(CAST(:categories AS text[]))
"""

# Every agency (retired ones too: their complaints stay counted), within the filter's.
AGENCIES = """
    SELECT code AS key, code, name_en AS name FROM agency
    WHERE cardinality(CAST(:agency_codes AS text[])) = 0
       OR code = ANY(CAST(:agency_codes AS text[]))
"""

# Misroutes: transfers away from each agency, per category, of the complaints matching the
# filter.
TRANSFERS = """
    SELECT e.data ->> 'fromAgency' AS agency_code, complaint.category_code,
           count(*) AS transfers
    FROM complaint_event e JOIN complaint ON complaint.id = e.complaint_id
    WHERE e.kind = :transferred AND {where}
    GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
"""

# Areas by the complaints' routing (the office that handled them): those of the level in the
# generation in force, within the filter's ward/district codes (empty ones too).
AREAS = """
    SELECT a.id AS key, a.code, a.name
    FROM admin_area a LEFT JOIN admin_area parent ON parent.id = a.parent_id
    WHERE a.generation_id = :generation_id AND a.level = :level
      AND (cardinality(CAST(:ward_codes AS text[])) = 0 OR {ward_scope})
      AND (cardinality(CAST(:district_codes AS text[])) = 0 OR {district_scope})
"""

_SCOPES = {
    "ward": ("a.code = ANY(CAST(:ward_codes AS text[]))",
             "parent.code = ANY(CAST(:district_codes AS text[]))"),
    "district": ("a.id IN (SELECT w.parent_id FROM admin_area w WHERE w.level = 'ward' "
                 "AND w.generation_id = :generation_id "
                 "AND w.code = ANY(CAST(:ward_codes AS text[])))",
                 "a.code = ANY(CAST(:district_codes AS text[]))"),
}

# Areas complaints were routed to that are not listed above (an older generation's).
OTHER_AREAS = "SELECT a.id AS key, a.code, a.name FROM admin_area a WHERE a.id = ANY(:ids)"


@dataclass(frozen=True)
class Kpi:
    """The figures of one set of complaints (a whole filter, a category, an area, a period)."""

    received: int = 0
    processed: int = 0
    rated: int = 0
    positive: int = 0
    overdue: int = 0
    processed_late: int = 0
    hours_to_first_action: tuple[float | None, float | None] = (None, None)  # median, p90
    hours_to_resolution: tuple[float | None, float | None] = (None, None)

    @property
    def processed_rate(self) -> float | None:
        return self.processed / self.received if self.received else None

    @property
    def satisfied_rate(self) -> float | None:
        return self.positive / self.rated if self.rated else None


@dataclass(frozen=True)
class Breakdown:
    """The figures of one category or area, and its rank by complaints received (1 = most;
    equal counts share a rank)."""

    code: str
    name: str
    rank: int
    kpi: Kpi


@dataclass(frozen=True)
class Point:
    start: datetime  # local start of the day, week or month
    kpi: Kpi


def parts_for(by: By, f: ComplaintFilter) -> tuple[Part, ...]:
    """The statements of a figure set. For one total, the two durations on their own (each is
    a sort in one process, so two connections halve the wait); per group, everything in one
    statement, sharing the scan and the sort by group (a breakdown runs beside the others, so
    a second scan would only take a core from them), unless the rollup has the counts; per
    period, counts only."""
    if by is By.ALL:
        return Part.COUNTS, Part.FIRST_ACTION, Part.RESOLUTION
    if by is By.PERIOD:
        return (Part.COUNTS,)
    return ((Part.COUNTS, Part.DURATIONS) if by in _ROLLED_KEYS and whole_days(f) is not None
            else (Part.ALL,))


def part(conn: Connection, f: ComplaintFilter, by: By, which: Part, as_of: datetime,
         period_starts: list[datetime] | None = None) -> dict[Any, Any]:
    """One statement's rows per group key (for By.PERIOD, the period's number from 1 in
    ``period_starts``); the counts and the durations from the rollups when they answer."""
    starts = period_starts or []
    rolled = (rolled_counts(conn, f, by, as_of, starts) if which is Part.COUNTS
              else rolled_durations(conn, f, by, which))
    if rolled is not None:
        return rolled
    statement = part_sql(f, by, which).bind(as_of=as_of, period_starts=starts)
    rows = fetch(conn, statement)
    return {r.key: r._mapping for r in rows}


def rolled_counts(conn: Connection, f: ComplaintFilter, by: By, as_of: datetime,
                  period_starts: list[datetime]) -> dict[Any, Any] | None:
    """The counts per group key from the rollup, overdue from the rollups of due days and
    months (per area, from the open complaints when the latter cannot answer); None when the
    rollups cannot answer exactly (the filter, the grouping or the periods)."""
    days = whole_days(f)
    key = day_steps(period_starts) if by is By.PERIOD else _ROLLED_KEYS.get(by)
    if days is None or key is None:
        return None
    by_area = by in _BY_AREA
    sums = {name: name if by_area else value for name, value in ROLLED_SUMS.items()}
    group = _GROUP_COLUMNS.get(by, "1")
    counts = fetch(conn, compose(
        ROLLED_COUNTS, key=key, group=group, received=sums["received"],
        sums=_sum_list(sums),
        rows=area_kpi_rows(days, ROLLED_SUMS, COMPLAINT_SUMS) if by_area else kpi_rows(days),
    ).bind(period_starts=period_starts))
    where = complaint_where(f)
    if by_area:
        due = area_due_rows(days, _OVERDUE_SQL)
        overdue_sql = (compose(OVERDUE, key=_KEYS[by], where=where, group=group) if due is None
                       else compose(AREA_OVERDUE, key=key, rows=due, where=where, group=group))
    else:
        overdue_sql = compose(ROLLED_OVERDUE, key=key, rows=due_rows(days), raw_key=_KEYS[by],
                              where=where)
    late = fetch(conn, overdue_sql.bind(as_of=as_of, period_starts=period_starts))
    overdue_by_key = {_hashable(r.key): r.overdue for r in late}
    return {_hashable(r.key): {**r._mapping, "overdue": overdue_by_key.get(_hashable(r.key), 0)}
            for r in counts}


def _hashable(key: Any) -> Any:
    """A group key as a dict key: By.ROUTED's pairs come as lists."""
    return tuple(key) if isinstance(key, list) else key


def rolled_durations(conn: Connection, f: ComplaintFilter, by: By,
                     which: Part) -> dict[Any, Any] | None:
    """The durations' percentiles per group key: in total and per category from their
    histograms, per district and ward from the durations packed per month; None when they cannot
    answer exactly (the filter, or another grouping)."""
    measures = _MEASURES.get(which)
    if measures is None:
        return None
    if by in (By.DISTRICT, By.WARD):
        pairs = area_durations.values(conn, f, measures)
        return None if pairs is None else _level_percentiles(pairs, by)
    if by not in (By.ALL, By.CATEGORY):
        return None
    return durations.percentiles(conn, f, measures, in_total=by is By.ALL,
                                 per_category=by is By.CATEGORY)


def shared_durations_answer(f: ComplaintFilter) -> bool:
    """Whether the histograms answer ``f``, so that a request's total and per-category
    figures can share :func:`total_and_category_durations`."""
    return durations.answered(f)


def total_and_category_durations(conn: Connection, f: ComplaintFilter) -> dict[Any, Any]:
    """Both durations' percentiles in total (key 0) and per category, from one read of their
    histograms, for a filter they answer (:func:`shared_durations_answer`)."""
    found = durations.percentiles(conn, f, _MEASURES[Part.DURATIONS], in_total=True,
                                  per_category=True)
    if found is None:
        raise ValueError(f"the histograms do not answer {f}")
    return found


def routed_answers(f: ComplaintFilter) -> bool:
    """Whether the rollups answer ``f``'s district and ward breakdowns exactly, counts and
    durations, so that both levels can share :func:`routed`'s parts."""
    return area_durations.answered(f) is not None


# The parts of the district and ward breakdowns that :func:`routed` reads, each on a
# connection of its own: the counts, and each duration (its values read, ordered by pair and
# selected for both levels in the thread that read them, so that both cores share the
# breakdowns' longest work).
ROUTED_PARTS = (Part.COUNTS, Part.FIRST_ACTION, Part.RESOLUTION)


def routed(conn: Connection, f: ComplaintFilter, which: Part, as_of: datetime
           ) -> dict[Any, Any]:
    """One part of :data:`ROUTED_PARTS`, for :func:`at_level`, from the rollups, for a filter
    they answer (:func:`routed_answers`): the counts' rows per routed (district, ward) pair
    (Part.COUNTS), or a duration's (:func:`routed_durations`)."""
    if which is not Part.COUNTS:
        return routed_durations(conn, f, which)
    found = rolled_counts(conn, f, By.ROUTED, as_of, [])
    if found is None:
        raise ValueError(f"the rollups do not answer {f}")
    return found


def routed_durations(conn: Connection, f: ComplaintFilter, which: Part) -> dict[Any, Any]:
    """A duration's part of :data:`ROUTED_PARTS` (``which``): its percentiles per district and
    per ward ({By.DISTRICT: …, By.WARD: …}), from the values per routed pair, for a filter the
    rollups answer (:func:`routed_answers`)."""
    pairs = area_durations.values(conn, f, _MEASURES[which])
    if pairs is None:
        raise ValueError(f"the rollups do not answer {f}")
    return {by: _level_percentiles(pairs, by) for by in (By.DISTRICT, By.WARD)}


def at_level(parts: Sequence[dict[Any, Any]], by: By) -> dict[Any, Kpi]:
    """The figures per district or ward (``by``) from :func:`routed`'s parts, in the order of
    :data:`ROUTED_PARTS`: the counts per pair summed, the durations' percentiles at that
    level."""
    counts, *durations = parts
    member = area_durations.LEVELS[_ROLLED_KEYS[by]]
    return figures(_summed(counts, lambda pair: pair[member]),
                   *(duration[by] for duration in durations))


def in_total(counts: dict[Any, Any]) -> dict[Any, Any]:
    """The counts per category (:func:`part`) summed under the total's key, 0: each complaint
    has one category, so a request that asks for both reads the counts once."""
    return _summed(counts, lambda _: 0)


def _summed(counts: dict[Any, Any], group_of: Callable[[Any], Any]) -> dict[Any, Counter[str]]:
    """The counts of each group key summed into the group ``group_of`` gives it."""
    summed: dict[Any, Counter[str]] = defaultdict(Counter)
    for key, row in counts.items():
        summed[group_of(key)].update({name: row[name] for name in _COUNTED})
    return summed


def _level_percentiles(pairs: area_durations.Values, by: By) -> dict[Any, Any]:
    """The durations' percentiles per district or ward (``by``) of the values per pair."""
    return area_durations.percentiles(area_durations.at_level(pairs, _ROLLED_KEYS[by]))


def figures(counts: dict[Any, Any], *durations: dict[Any, Any]) -> dict[Any, Kpi]:
    """The parts of :func:`part` put together, per group key (the first holds the counts)."""
    found = {}
    for key, row in counts.items():
        hours: dict[str, Any] = dict(row)
        for part_rows in durations:
            hours.update(part_rows.get(key, {}))
        found[key] = Kpi(row["received"], row["processed"], row["rated"], row["positive"],
                         row["overdue"], row["processed_late"],
                         _pair(hours.get("first_action")), _pair(hours.get("resolution")))
    return found


def _pair(percentiles: list[float] | None) -> tuple[float | None, float | None]:
    return (percentiles[0], percentiles[1]) if percentiles else (None, None)


def entries(conn: Connection, f: ComplaintFilter, by: By) -> list[Any]:
    """The rows a breakdown lists, empty ones included: (key, code, name)."""
    if by is By.CATEGORY:
        return fetch(conn, sql(CATEGORIES, categories=list(f.categories)))
    if by is By.AGENCY:
        return fetch(conn, sql(AGENCIES, agency_codes=list(f.agency_codes)))
    level = by.value
    ward_scope, district_scope = _SCOPES[level]
    areas = compose(AREAS, ward_scope=ward_scope, district_scope=district_scope)
    return fetch(conn, areas.bind(level=level, generation_id=generation_id(conn, None, level),
                                  ward_codes=list(f.ward_codes),
                                  district_codes=list(f.district_codes)))


def other_areas(conn: Connection, ids: list[int]) -> list[Any]:
    return fetch(conn, sql(OTHER_AREAS, ids=ids)) if ids else []


def ranked(listed: list[Any], kpis: dict[Any, Kpi]) -> list[Breakdown]:
    """Most received first (then by code); equal counts share a rank, as in sports tables."""
    rows = sorted(((r.code, r.name, kpis.get(r.key, Kpi())) for r in listed),
                  key=lambda item: (-item[2].received, item[0]))
    found: list[Breakdown] = []
    for position, (code, name, kpi) in enumerate(rows, start=1):
        tied = found and found[-1].kpi.received == kpi.received
        found.append(Breakdown(code, name, found[-1].rank if tied else position, kpi))
    return found


def series(starts: list[datetime], counts: dict[Any, Any]) -> list[Point]:
    """Counts per period, empty periods included."""
    kpis = figures(counts)
    return [Point(start, kpis.get(number, Kpi()))
            for number, start in enumerate(starts, start=1)]


def transfers(conn: Connection, f: ComplaintFilter) -> list[Any]:
    """(agency_code, category_code, transfers) of the complaints matching ``f``, most first."""
    return fetch(conn, compose(TRANSFERS, where=complaint_where(f)).bind(
        transferred=TRANSFERRED))


def part_sql(f: ComplaintFilter, by: By, which: Part) -> Fragment:
    """The statement of one part over the complaints. The durations' alone read only the
    complaints that have one of the durations asked (``percentile_cont`` ignores the others,
    so the values are the same): per area, the index-only scan in area order of migration
    0028's ``complaint_ward_durations`` / ``complaint_district_durations``."""
    where = complaint_where(f)
    measures = _MEASURES.get(which)
    if measures:
        where = compose("{where} AND ({some})", where=where, some=" OR ".join(
            f"complaint.{m.column} IS NOT NULL" for m in measures))
    return compose(PART, key=_KEYS[by], values=_PARTS[which], where=where)
