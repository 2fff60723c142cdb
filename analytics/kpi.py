"""The city's own performance figures ("17,083 received, 84.3 % processed, 55 % satisfied").

The definitions, also in README.md ("Statistics definitions"), over the complaints matching
the filter (received in the time window, of the area and category asked):

* received: their number;
* processed: those whose status is RESOLVED, REJECTED, DUPLICATE or CLOSED (closed ones were
  processed before being closed); processed rate = processed / received;
* rated: those with a citizen rating; satisfied rate = (SATISFIED + ACCEPTED) / rated;
* time to first action: first_action_at − created_at, over those with a first action;
  time to resolution: resolved_at − created_at, over the processed ones. Both reported as the
  median and the 90th percentile, linearly interpolated (PostgreSQL ``percentile_cont``, numpy's
  default), in hours;
* overdue: not processed and past their due time now; processed late: processed after it.

A rate or duration over no complaints is null, never 0.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from analytics.periods import Calendar
from analytics.query import complaint_where, fetch, generation_id
from db.complaints import ComplaintFilter

PROCESSED = ("RESOLVED", "REJECTED", "DUPLICATE", "CLOSED")
POSITIVE_RATINGS = ("SATISFIED", "ACCEPTED")
_PROCESSED_SQL = "complaint.status IN ('RESOLVED', 'REJECTED', 'DUPLICATE', 'CLOSED')"
_HOURS = "/ 3600.0"

COUNTS = f"""
    count(*) AS received,
    count(*) FILTER (WHERE {_PROCESSED_SQL}) AS processed,
    count(complaint.rating) AS rated,
    count(*) FILTER (WHERE complaint.rating IN ('SATISFIED', 'ACCEPTED')) AS positive,
    count(*) FILTER (WHERE NOT {_PROCESSED_SQL} AND complaint.due_at < :as_of) AS overdue,
    count(*) FILTER (WHERE {_PROCESSED_SQL} AND complaint.resolved_at > complaint.due_at)
        AS processed_late"""

DURATIONS = f"""
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY
        (date_part('epoch', complaint.first_action_at) - date_part('epoch', complaint.created_at))
        {_HOURS}) AS to_first_action,
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY
        (date_part('epoch', complaint.resolved_at) - date_part('epoch', complaint.created_at))
        {_HOURS}) FILTER (WHERE {_PROCESSED_SQL}) AS to_resolution"""

COUNT_NAMES = "received, processed, rated, positive, overdue, processed_late"
KPI_NAMES = ", ".join(f"k.{name}" for name in
                      (*COUNT_NAMES.split(", "), "to_first_action", "to_resolution"))

SUMMARY = f"SELECT {COUNTS}, {DURATIONS} FROM complaint WHERE {{where}}"

BY_CATEGORY = f"""
    SELECT category.code, category.name_en AS name, {KPI_NAMES}
    FROM category
    LEFT JOIN (SELECT complaint.category_code, {COUNTS}, {DURATIONS}
               FROM complaint WHERE {{where}} GROUP BY complaint.category_code) AS k
           ON k.category_code = category.code
    WHERE cardinality(CAST(:categories AS text[])) = 0
       OR category.code = ANY(CAST(:categories AS text[]))
"""

# Areas by the complaints' routing (the office that handled them). The areas listed are those
# of the level in the generation in force, within the filter's ward/district codes, plus any
# other area the filtered complaints were routed to (an older generation's).
BY_AREA = f"""
    WITH counted AS (
        SELECT complaint.{{level}}_id AS area_id, {COUNTS}, {DURATIONS}
        FROM complaint WHERE {{where}} GROUP BY complaint.{{level}}_id
    ),
    scope AS (
        SELECT a.id FROM admin_area a LEFT JOIN admin_area parent ON parent.id = a.parent_id
        WHERE a.generation_id = :generation_id AND a.level = :level
          AND (cardinality(CAST(:ward_codes AS text[])) = 0 OR {{ward_scope}})
          AND (cardinality(CAST(:district_codes AS text[])) = 0 OR {{district_scope}})
    )
    SELECT a.code, a.name, {KPI_NAMES}
    FROM scope FULL JOIN counted k ON k.area_id = scope.id
    JOIN admin_area a ON a.id = COALESCE(scope.id, k.area_id)
"""

_SCOPES = {
    "ward": ("a.code = ANY(CAST(:ward_codes AS text[]))",
             "parent.code = ANY(CAST(:district_codes AS text[]))"),
    "district": ("a.id IN (SELECT w.parent_id FROM admin_area w WHERE w.level = 'ward' "
                 "AND w.generation_id = :generation_id "
                 "AND w.code = ANY(CAST(:ward_codes AS text[])))",
                 "a.code = ANY(CAST(:district_codes AS text[]))"),
}

SERIES = f"""
    WITH buckets AS ({{buckets}}),
    counted AS (
        SELECT {Calendar.bucket_of('complaint.created_at')} AS bucket, {COUNTS}
        FROM complaint WHERE {{where}} GROUP BY 1
    )
    SELECT buckets.bucket, {", ".join(f"counted.{name}" for name in COUNT_NAMES.split(", "))}
    FROM buckets LEFT JOIN counted ON counted.bucket = buckets.bucket
    ORDER BY buckets.bucket
"""


@dataclass(frozen=True)
class Kpi:
    """The figures of one set of complaints (a whole filter, a category, an area, a period)."""

    received: int
    processed: int
    rated: int
    positive: int
    overdue: int
    processed_late: int
    hours_to_first_action: tuple[float | None, float | None] = (None, None)  # median, p90
    hours_to_resolution: tuple[float | None, float | None] = (None, None)

    @property
    def processed_rate(self) -> float | None:
        return self.processed / self.received if self.received else None

    @property
    def satisfied_rate(self) -> float | None:
        return self.positive / self.rated if self.rated else None

    @classmethod
    def from_row(cls, row: Any) -> "Kpi":
        """From a row of COUNTS (and DURATIONS, if selected); a missing group counts zero."""
        values = row._mapping
        return cls(
            received=values["received"] or 0, processed=values["processed"] or 0,
            rated=values["rated"] or 0, positive=values["positive"] or 0,
            overdue=values["overdue"] or 0, processed_late=values["processed_late"] or 0,
            hours_to_first_action=_pair(values.get("to_first_action")),
            hours_to_resolution=_pair(values.get("to_resolution")),
        )


def _pair(percentiles: Sequence[float] | None) -> tuple[float | None, float | None]:
    return (percentiles[0], percentiles[1]) if percentiles else (None, None)


@dataclass(frozen=True)
class Breakdown:
    """The figures of one category or area, and its rank by complaints received (1 = most;
    equal counts share a rank)."""

    code: str
    name: str
    rank: int
    kpi: Kpi


def summary(conn: Connection, f: ComplaintFilter, as_of: datetime) -> Kpi:
    where = complaint_where(f)
    return Kpi.from_row(fetch(conn, SUMMARY.format(where=where.text), where.params,
                              {"as_of": as_of})[0])


def by_category(conn: Connection, f: ComplaintFilter, as_of: datetime) -> list[Breakdown]:
    """Every category (or those of the filter), empty ones included."""
    where = complaint_where(f)
    rows = fetch(conn, BY_CATEGORY.format(where=where.text), where.params,
                 {"as_of": as_of, "categories": list(f.categories)})
    return _ranked(rows)


def by_area(conn: Connection, f: ComplaintFilter, level: str, as_of: datetime) -> list[Breakdown]:
    """Every area of ``level`` in the generation in force (within the filter's area codes),
    empty ones included, and any other area the complaints were routed to."""
    where = complaint_where(f)
    ward_scope, district_scope = _SCOPES[level]
    sql = BY_AREA.format(level=level, where=where.text, ward_scope=ward_scope,
                         district_scope=district_scope)
    context = {"as_of": as_of, "level": level, "generation_id": generation_id(conn, None, level),
               "ward_codes": list(f.ward_codes), "district_codes": list(f.district_codes)}
    rows = fetch(conn, sql, where.params, context)
    return _ranked(rows)


def _ranked(rows: list[Any]) -> list[Breakdown]:
    """Most received first (then by code); equal counts share a rank, as in sports tables."""
    kpis = sorted(((r.code, r.name, Kpi.from_row(r)) for r in rows),
                  key=lambda item: (-item[2].received, item[0]))
    ranked: list[Breakdown] = []
    for position, (code, name, kpi) in enumerate(kpis, start=1):
        tied = ranked and ranked[-1].kpi.received == kpi.received
        ranked.append(Breakdown(code, name, ranked[-1].rank if tied else position, kpi))
    return ranked


@dataclass(frozen=True)
class Point:
    start: datetime  # local start of the day, week or month
    kpi: Kpi


def series(conn: Connection, f: ComplaintFilter, calendar: Calendar,
           as_of: datetime) -> list[Point]:
    """Counts per day, week or month of the calendar, empty periods included."""
    where = complaint_where(f)
    buckets = calendar.buckets()
    rows = fetch(conn, SERIES.format(buckets=buckets.text, where=where.text), where.params,
                 buckets.params, {"as_of": as_of})
    return [Point(calendar.local(r.bucket), Kpi.from_row(r)) for r in rows]
