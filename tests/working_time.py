"""An independent working-time clock for the tests: walks the calendar day by day in Python
(the platform's rule is one SQL function, ``working_due``), from the demo calendar's data."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from demo.organisation import CITY_TIME_ZONE, HOLIDAYS

ZONE = ZoneInfo(CITY_TIME_ZONE)
PERIODS = ((time(8), time(12)), (time(13), time(17)))  # Monday to Friday
HOLIDAY_DAYS = {d for d, _ in HOLIDAYS}


def demo_due(start: datetime, hours: float, holidays: set[date] = HOLIDAY_DAYS) -> datetime:
    """``start`` plus ``hours`` of the demo city's working time."""
    left = timedelta(hours=hours)
    local = start.astimezone(ZONE)
    day = local.date()
    while True:
        if day.weekday() < 5 and day not in holidays:
            for begin, end in PERIODS:
                opens = max(datetime.combine(day, begin, ZONE), local)
                closes = datetime.combine(day, end, ZONE)
                if closes <= opens:
                    continue
                if closes - opens >= left:
                    return opens + left
                left -= closes - opens
        day += timedelta(days=1)
