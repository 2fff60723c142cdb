"""Due times in working time: the one home of the rule is the SQL function ``working_due``
(migration 0010), over the city's calendar (``work_calendar``, ``working_period``,
``holiday``, set by ``phananh catalogue apply``). Vietnamese administrative deadlines count
working hours, so a 24-hour SLA submitted on Friday afternoon runs out on Tuesday afternoon,
and a public holiday does not count. Without a calendar, hours are counted round the clock.
"""

from datetime import datetime

from sqlalchemy import Connection, text


def due_at(conn: Connection, start: datetime, hours: float) -> datetime:
    """``start`` plus ``hours`` of working time."""
    return conn.execute(text("SELECT working_due(:start, :hours)"),
                        {"start": start, "hours": hours}).scalar_one()


def due_from_now(conn: Connection, hours: float) -> datetime:
    """``hours`` of working time from the start of this transaction: the instant the history
    event and ``updated_at`` of the same change record, so the deadline reads back from them."""
    return conn.execute(text("SELECT working_due(now(), :hours)"), {"hours": hours}).scalar_one()
