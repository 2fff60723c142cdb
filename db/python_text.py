"""SQL that writes values exactly as the service's Python writes them.

A page of complaints can be built as JSON by one statement (``db.complaints.PageSQL``), whose
answer must be byte for byte the one the GraphQL executor gives from the same rows in Python.
PostgreSQL's own text differs in two places: instants (``to_json`` drops trailing zeros of the
fraction, Python's ``isoformat`` writes six digits or none) and whole floats (``21`` against
Python's ``21.0``, which JSON readers then take for an integer). These expressions write them
Python's way; ``tests/test_page_json.py`` checks the answers against the regular executor's.
"""

from typing import Any

from sqlalchemy import ColumnElement, Numeric, Text, case, cast, func, literal

# Below this, a whole float8 converts to numeric exactly (PostgreSQL converts with 15 digits).
EXACT_WHOLE = 1e15


def isoformat(instant: ColumnElement[Any]) -> ColumnElement[str]:
    """``datetime.isoformat()`` of the aware datetime psycopg2 reads for a ``timestamptz``: in
    the session's time zone, with its offset, microseconds only when not zero."""
    return (func.to_char(instant, 'YYYY-MM-DD"T"HH24:MI:SS')
            + case((func.to_char(instant, "US") == "000000", literal("")),
                   else_=func.to_char(instant, ".US"))
            + func.to_char(instant, "TZH:TZM"))


def float_json(value: ColumnElement[float]) -> ColumnElement[Any]:
    """A float8 as a JSON number that reads back as the same float, and as a float: a whole
    one keeps its ``.0`` (written as a numeric with one decimal, exact below 1e15)."""
    return case((_whole(value), func.to_json(func.round(cast(value, Numeric), 1))),
                else_=func.to_json(value))


def float_repr(value: ColumnElement[float]) -> ColumnElement[str]:
    """``repr()`` of a float8 (what ``json.dumps`` writes): PostgreSQL's shortest text, which is
    Python's, but for whole numbers, where Python adds ``.0``."""
    return case((_whole(value), cast(func.round(cast(value, Numeric), 1), Text)),
                else_=cast(value, Text))


def _whole(value: ColumnElement[float]) -> ColumnElement[bool]:
    return (value == func.trunc(value)) & (func.abs(value) < EXACT_WHOLE)
