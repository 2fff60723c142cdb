"""Answers to a category's custom attributes (Open311 service definitions), checked against
its definition in the service layer, so that every channel that submits complaints (GraphQL,
Open311) refuses the same answers with the same messages.

Each datatype's answer, as stored (JSON):

* ``string`` (1–500 characters) and ``text`` (1–5,000): the text, stripped;
* ``number``: a finite number (a numeric string is accepted, as Open311 forms send them);
* ``datetime``: ISO 8601 with a UTC offset, stored in UTC;
* ``singlevaluelist``: one of the value keys; ``multivaluelist``: a list of distinct keys.

An empty answer (null, "" or []) is no answer. Answers to private attributes are stored apart
and shown only to the reporter and the officials who may act on the complaint.
"""

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from db.tables import category_attribute
from errors import ErrorCode, PhananhError

TEXT_LIMITS = {"string": 500, "text": 5_000}
# What each datatype's answer must look like, for the people answering (Open311's
# ``datatype_description``); the checks below enforce it.
DATATYPE_DESCRIPTIONS = {
    "string": f"One line of 1 to {TEXT_LIMITS['string']:,} characters.",
    "text": f"Text of 1 to {TEXT_LIMITS['text']:,} characters; line breaks allowed.",
    "number": "A number, e.g. 7 or 2.5.",
    "datetime": "ISO 8601 date and time with its UTC offset, e.g. 2026-11-30T22:15:00+07:00.",
    "singlevaluelist": "One of the values' keys.",
    "multivaluelist": "A list of the values' keys, each at most once.",
}


def attributes_for(conn: Connection, category_code: str) -> list[Any]:
    """The category's attribute definitions, in their order."""
    return list(conn.execute(
        select(category_attribute).where(category_attribute.c.category_code == category_code)
        .order_by(category_attribute.c.position, category_attribute.c.code)))


def check_answers(definitions: list[Any], answers: Mapping[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers as stored, (public, private); BAD_INPUT naming each attribute whose answer
    is missing, unknown or not of its datatype (``extensions.attributes``: code → problem)."""
    problems: dict[str, str] = {}
    public: dict[str, Any] = {}
    private: dict[str, Any] = {}
    known = {d.code: d for d in definitions}
    for code in sorted(set(answers) - set(known)):
        problems[code] = "is not an attribute of this category"
    for definition in definitions:
        answer = answers.get(definition.code)
        if answer is None or answer == "" or answer == []:
            if definition.required:
                problems[definition.code] = "is required"
            continue
        try:
            value = CHECKS[definition.datatype](answer, definition)
        except ValueError as problem:
            problems[definition.code] = str(problem)
            continue
        (private if definition.private else public)[definition.code] = value
    if problems:
        listed = "; ".join(f"{code} {problem}" for code, problem in problems.items())
        raise PhananhError(ErrorCode.BAD_INPUT, f"Attribute answers refused: {listed}.",
                           attributes=problems)
    return public, private


def _text(answer: Any, definition: Any) -> str:
    limit = TEXT_LIMITS[definition.datatype]
    if not isinstance(answer, str) or not 1 <= len(answer.strip()) <= limit:
        raise ValueError(f"must be a text of 1 to {limit} characters")
    return answer.strip()


def _number(answer: Any, definition: Any) -> float | int:
    if isinstance(answer, str):
        try:
            answer = float(answer.strip())
        except ValueError:
            raise ValueError("must be a number") from None
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        raise ValueError("must be a number")
    try:
        value = float(answer)  # an integer beyond a double's range overflows here
    except OverflowError:
        raise ValueError("must be a number of at most 1.8e308") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _datetime(answer: Any, definition: Any) -> str:
    try:
        value = datetime.fromisoformat(str(answer).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date and time with its UTC offset") from None
    if not isinstance(answer, str) or value.tzinfo is None:
        raise ValueError("must be an ISO 8601 date and time with its UTC offset")
    return value.astimezone(UTC).isoformat()


def _keys(definition: Any) -> list[str]:
    return [v["key"] for v in definition.values]


def _single(answer: Any, definition: Any) -> str:
    if not isinstance(answer, str) or answer not in _keys(definition):
        raise ValueError(f"must be one of {', '.join(_keys(definition))}")
    return answer


def _multi(answer: Any, definition: Any) -> list[str]:
    keys = _keys(definition)
    if not isinstance(answer, list) or not all(isinstance(a, str) and a in keys
                                               for a in answer) \
            or len(set(answer)) != len(answer):
        raise ValueError(f"must be a list of distinct values among {', '.join(keys)}")
    return answer


CHECKS: dict[str, Callable[[Any, Any], Any]] = {
    "string": _text, "text": _text, "number": _number, "datetime": _datetime,
    "singlevaluelist": _single, "multivaluelist": _multi,
}
