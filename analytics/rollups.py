"""Daily rollups (migration ``0013_rollups``): which questions they answer, and how to ask them.

``complaint_rollup`` counts complaints per boundary generation, level, placed area (the rule of
``analytics/areas.py``), city day, category and status, kept exact by triggers in the writing
transaction. An analysis reads it instead of the complaints when its filter asks for nothing
else: categories, statuses and a creation window that starts and ends at midnight in the city
(or is open). Any other part of the filter, today's or one added later, sends the analysis
to the complaints themselves.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from analytics.periods import CITY_TIME_ZONE
from db.complaints import ComplaintFilter
from db.sql import Fragment, sql

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


def area_counts(days: Days, generation_id: int, level: str) -> Fragment:
    """SQL rows ``(area_id, n)``: complaints per placed area, from the rollup."""
    conditions = ["generation_id = :generation_id", "level = :level"]
    values: dict[str, object] = {"generation_id": generation_id, "level": level}
    for condition, name, value in (
        ("day >= :rollup_first", "rollup_first", days.first),
        ("day < :rollup_end", "rollup_end", days.end),
        ("category_code = ANY(:rollup_categories)", "rollup_categories",
         list(days.categories) or None),
        ("status = ANY(:rollup_statuses)", "rollup_statuses", list(days.statuses) or None),
    ):
        if value is not None:
            conditions.append(condition)
            values[name] = value
    return sql(f"""SELECT area_id, sum(complaints) AS n FROM complaint_rollup
                   WHERE {' AND '.join(conditions)} GROUP BY area_id""", **values)
