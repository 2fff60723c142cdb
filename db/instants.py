"""Instants as the database takes them: aware, in UTC, in years 1 to 9998.

ISO 8601 allows offsets up to ±23:59, which PostgreSQL refuses beyond ±15:59; and near the
ends of Python's range (years 1 and 9999) moving to UTC, adding the 1 µs that makes an interval
half-open, or rounding to a period overflows. Every instant a client gives (GraphQL's
``DateTime``, OGC's ``datetime``, cursors) goes through :func:`utc_instant`, so each of these
is a BAD_INPUT here rather than an unexpected error deeper down. (Messages do not repeat the
value: graphql-core adds it, cut to 240 characters by its ``inspect``.)
"""

from datetime import UTC, datetime

from errors import ErrorCode, PhananhError

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)  # a day in: local midnights and periods stay in range
LATEST = datetime(9999, 1, 1, tzinfo=UTC)  # exclusive: a year of periods and 1 µs to spare


def utc_instant(value: datetime, what: str = "datetime", *, bounded: bool = True) -> datetime:
    """``value`` in UTC (without an offset, it is taken as UTC), or BAD_INPUT naming ``what``.
    ``bounded``: also within years 1 to 9998 (a value only compared, such as a cursor's key,
    needs just to be in UTC)."""
    try:
        instant = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or (bounded and not EARLIEST <= instant < LATEST):
        raise PhananhError(ErrorCode.BAD_INPUT, f"{what} is out of range: instants run from "
                           f"{EARLIEST.isoformat()} to before {LATEST.isoformat()}.",
                           parameter=what)
    return instant


def parse_instant(text: str, what: str = "datetime") -> datetime:
    """An RFC 3339 instant (or an ISO 8601 one Python reads) in UTC, or BAD_INPUT."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PhananhError(ErrorCode.BAD_INPUT, f"{what} is not an RFC 3339 instant (e.g. "
                           f"2025-07-01T00:00:00Z).", parameter=what) from None
    return utc_instant(value, what)
