"""Calendar periods (days, weeks, months) in the city's time zone, for series and space-time.

A "day" in a city report is a local day: complaints are bucketed by the local calendar (weeks
start on Monday), and bucket starts are generated as local wall-clock times, so a month is a
calendar month even where clocks change.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection

from analytics.query import complaint_where
from db.complaints import ComplaintFilter
from db.sql import Fragment, compose, fetch, sql
from errors import ErrorCode, PhananhError, quoted

CITY_TIME_ZONE = "Asia/Ho_Chi_Minh"
MAX_TIME_ZONE_NAME = 64  # the longest IANA name has 32 characters
_APPROXIMATE_DAYS = {"day": 1, "week": 7, "month": 28}


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def check_time_zone(name: str) -> str:
    """An IANA time zone name, or BAD_INPUT (for any string: ZoneInfo looks names up as file
    paths, where a long one is an OSError)."""
    try:
        if len(name) > MAX_TIME_ZONE_NAME:
            raise ValueError
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise PhananhError(ErrorCode.BAD_INPUT, f"Unknown time zone {quoted(name)}; use an IANA "
                           f"name such as {CITY_TIME_ZONE!r}.", parameter="timeZone") from None
    return name


@dataclass(frozen=True)
class Calendar:
    """Periods of one length in a time zone, over ``[start, end)``."""

    period: Period
    start: datetime
    end: datetime
    time_zone: str = CITY_TIME_ZONE

    @property
    def params(self) -> dict[str, Any]:
        return {"period": self.period.value, "start": self.start, "end": self.end,
                "time_zone": self.time_zone}

    def buckets(self) -> Fragment:
        """SQL rows (bucket): the local start of every period from start to end."""
        return sql("""SELECT generate_series(
                          date_trunc(:period, CAST(:start AS timestamptz), :time_zone)
                              AT TIME ZONE :time_zone,
                          CAST(:end AS timestamptz) AT TIME ZONE :time_zone
                              - interval '1 microsecond',
                          CAST('1 ' || :period AS interval)) AS bucket""", **self.params)

    def starts(self, conn: Connection) -> list[datetime]:
        """The instants the periods start, as aware local times, in order."""
        rows = fetch(conn, compose("SELECT bucket AT TIME ZONE :time_zone AS start "
                                   "FROM ({buckets}) AS b ORDER BY 1", buckets=self.buckets()))
        zone = ZoneInfo(self.time_zone)
        return [r.start.astimezone(zone) for r in rows]


# The number (from 1) of the period holding a complaint's created_at, given the periods'
# starts in :period_starts: a binary search per row, much cheaper than converting every
# timestamp to local time.
PERIOD_OF = "width_bucket(complaint.created_at, CAST(:period_starts AS timestamptz[]))"


DATA_SPAN = """SELECT min(complaint.created_at) AS first, max(complaint.created_at) AS last
               FROM complaint WHERE {where}"""


def calendar_for(conn: Connection, f: ComplaintFilter, period: Period, time_zone: str,
                 max_periods: int) -> Calendar | None:
    """Periods covering the filter's time window; where the window is open, the filtered
    complaints' time span closes it. None when the window is open and nothing matches."""
    start, end = f.created_from, f.created_to
    if start is None or end is None:
        span = fetch(conn, compose(DATA_SPAN, where=complaint_where(f)))[0]
        if span.first is None:
            return None
        start = start or span.first
        end = end or span.last + timedelta(microseconds=1)
    if end <= start:
        raise PhananhError(ErrorCode.BAD_INPUT, "The time window is empty: `to` must be later "
                           "than `from`.")
    if (end - start).total_seconds() / 86_400 / _APPROXIMATE_DAYS[period.value] > max_periods:
        raise PhananhError(ErrorCode.ANALYSIS_TOO_LARGE,
                           f"More than {max_periods} {period.value}s: narrow the time window "
                           f"or use longer periods.", maxPeriods=max_periods)
    return Calendar(period, start, end, check_time_zone(time_zone))
