"""A catalogue document (YAML, or the same structure from Python) checked and normalised into
the rows the tables hold, so that comparing it with the database is comparing dictionaries.

Every problem is reported with the entry it is in (``categories[3] (roads.pothole): …``), all
at once, before anything is written: one bad entry changes nothing. The format is described
in docs/catalogue.md; docs/examples/city-catalogue.yaml is a complete example.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from errors import ErrorCode, PhananhError

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
LIST_DATATYPES = ("singlevaluelist", "multivaluelist")
AGENCY_KINDS = ("ward_committee", "district_committee", "district_team", "city_department",
                "public_utility", "police", "other")
LEVELS = ("ward", "district", "city")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CODE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,79}$", re.IGNORECASE)
SPAN = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
SECTIONS = ("calendar", "groups", "categories", "agencies", "rules")

Row = dict[str, Any]


@dataclass
class Catalogue:
    """The document's sections as table rows, by code; a section absent from the document is
    None (left as it is in the database)."""

    groups: dict[str, Row] | None = None
    categories: dict[str, Row] | None = None  # each with "attributes": [Row, …]
    agencies: dict[str, Row] | None = None  # each with "serves": [(generation, level, code)]
    rules: dict[str, Row] | None = None
    calendar: Row | None = None  # time_zone, periods [(weekday, starts, ends)], holidays
    problems: list[str] = field(default_factory=list)


def parse(document: Any) -> Catalogue:
    """Check ``document`` (the parsed YAML) and return its rows; BAD_INPUT listing every
    problem found otherwise."""
    found = Catalogue()
    if not isinstance(document, dict):
        raise PhananhError(ErrorCode.BAD_INPUT, "A catalogue is a mapping with the sections "
                                                f"{', '.join(SECTIONS)}.")
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        found.problems.append(f"unknown section(s) {', '.join(map(str, unknown))}; the "
                              f"sections are {', '.join(SECTIONS)}")
    if "calendar" in document:
        found.calendar = _entry(found, "calendar", document["calendar"], _calendar)
    for name, parser in (("groups", _group), ("categories", _category),
                         ("agencies", _agency), ("rules", _rule)):
        if name in document:
            setattr(found, name, _section(found, name, document[name], parser))
    if found.problems:
        shown = found.problems[:20]
        more = len(found.problems) - len(shown)
        raise PhananhError(ErrorCode.BAD_INPUT, "The catalogue has problems; nothing was "
                           "changed:\n  " + "\n  ".join(shown)
                           + (f"\n  … and {more} more" if more else ""),
                           problems=found.problems)
    return found


class Problem(ValueError):
    """One entry's problem; :func:`parse` collects them."""


def _section(found: Catalogue, name: str, entries: Any,
             parser: Callable[[dict[str, Any]], Row]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    if not isinstance(entries, list):
        found.problems.append(f"{name} must be a list")
        return rows
    for index, entry in enumerate(entries):
        label = f"{name}[{index}]"
        if isinstance(entry, dict) and isinstance(entry.get("code"), str):
            label += f" ({entry['code']})"
        row = _entry(found, label, entry, parser)
        if row is None:
            continue
        if row["code"] in rows:
            found.problems.append(f"{label}: the code {row['code']!r} appears twice")
        rows[row["code"]] = row
    return rows


def _entry(found: Catalogue, label: str, entry: Any,
           parser: Callable[[dict[str, Any]], Row]) -> Row | None:
    try:
        if not isinstance(entry, dict):
            raise Problem("must be a mapping")
        return parser(entry)
    except Problem as problem:
        found.problems.append(f"{label}: {problem}")
        return None


def _take(entry: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(entry) - set(allowed))
    if extra:
        raise Problem(f"unknown key(s) {', '.join(map(str, extra))}; allowed: "
                      f"{', '.join(allowed)}")


def _text(entry: dict[str, Any], key: str, required: bool = True,
          limit: int = 500) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise Problem(f"{key} must be a text of 1 to {limit} characters")
    return value.strip()


def _code(entry: dict[str, Any], key: str = "code", required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not CODE.match(value):
        raise Problem(f"{key} must be a code of letters, digits, '.', '_' or '-' "
                      f"(at most 80)")
    return value


def _flag(entry: dict[str, Any], key: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise Problem(f"{key} must be true or false")
    return value


def _group(entry: dict[str, Any]) -> Row:
    _take(entry, ("code", "name_vi", "name_en"))
    return {"code": _code(entry), "name_vi": _text(entry, "name_vi"),
            "name_en": _text(entry, "name_en")}


def _category(entry: dict[str, Any]) -> Row:
    _take(entry, ("code", "group", "name_vi", "name_en", "sla_hours", "sensitive",
                  "description", "attributes"))
    sla = entry.get("sla_hours")
    if type(sla) is not int or not 0 < sla <= 24 * 366:
        raise Problem("sla_hours must be a whole number of working hours, 1 to 8784")
    attributes = entry.get("attributes", [])
    if not isinstance(attributes, list):
        raise Problem("attributes must be a list")
    parsed = [_attribute(a, position) for position, a in enumerate(attributes, start=1)]
    codes = [a["code"] for a in parsed]
    if len(set(codes)) != len(codes):
        raise Problem("two attributes share a code")
    return {"code": _code(entry), "domain": _code(entry, "group"),
            "name_vi": _text(entry, "name_vi"), "name_en": _text(entry, "name_en"),
            "sla_hours": sla, "sensitive": _flag(entry, "sensitive"),
            "description": _text(entry, "description", required=False, limit=2000),
            "attributes": sorted(parsed, key=lambda a: (a["position"], a["code"]))}


def _attribute(entry: Any, position: int) -> Row:
    if not isinstance(entry, dict):
        raise Problem(f"attribute {position} must be a mapping")
    _take(entry, ("code", "datatype", "required", "order", "description", "private",
                  "values"))
    code = _code(entry)
    datatype = entry.get("datatype")
    if datatype not in DATATYPES:
        raise Problem(f"attribute {code}: datatype must be one of {', '.join(DATATYPES)}")
    order = entry.get("order", position)
    if type(order) is not int:
        raise Problem(f"attribute {code}: order must be a whole number")
    values = entry.get("values", [])
    if datatype in LIST_DATATYPES:
        if not isinstance(values, list) or not values or not all(
                isinstance(v, dict) and set(v) == {"key", "name"}
                and isinstance(v["key"], str) and v["key"] and isinstance(v["name"], str)
                for v in values):
            raise Problem(f"attribute {code}: a list needs values, each {{key, name}}")
        if len({v["key"] for v in values}) != len(values):
            raise Problem(f"attribute {code}: two values share a key")
    elif values:
        raise Problem(f"attribute {code}: only list datatypes have values")
    return {"code": code, "datatype": datatype, "required": _flag(entry, "required"),
            "position": order, "description": _text(entry, "description", limit=2000),
            "private": _flag(entry, "private"), "values": values}


def _agency(entry: dict[str, Any]) -> Row:
    _take(entry, ("code", "name_vi", "name_en", "kind", "phone", "email", "address",
                  "serves"))
    kind = entry.get("kind")
    if kind not in AGENCY_KINDS:
        raise Problem(f"kind must be one of {', '.join(AGENCY_KINDS)}")
    serves = entry.get("serves", [])
    if not isinstance(serves, list):
        raise Problem("serves must be a list of {generation, level, codes}")
    areas: set[tuple[str, str, str]] = set()
    for part in serves:
        if not isinstance(part, dict) or set(part) != {"generation", "level", "codes"}:
            raise Problem("each serves entry is {generation, level, codes}")
        if part["level"] not in LEVELS or not isinstance(part["generation"], str) \
                or not isinstance(part["codes"], list) \
                or not all(isinstance(c, str) for c in part["codes"]):
            raise Problem(f"serves: level is one of {', '.join(LEVELS)}, generation a name, "
                          f"codes a list of area codes")
        areas.update((part["generation"], part["level"], c) for c in part["codes"])
    return {"code": _code(entry), "name_vi": _text(entry, "name_vi"),
            "name_en": _text(entry, "name_en"), "kind": kind,
            "phone": _text(entry, "phone", required=False, limit=50),
            "email": _text(entry, "email", required=False, limit=200),
            "address": _text(entry, "address", required=False),
            "serves": sorted(areas)}


def _rule(entry: dict[str, Any]) -> Row:
    _take(entry, ("code", "category", "group", "area", "agency", "valid_from", "valid_to"))
    if "category" in entry and "group" in entry:
        raise Problem("give a category or a group, not both (neither: every category)")
    area = entry.get("area")
    level = code = None
    if area is not None:
        if not isinstance(area, dict) or set(area) != {"level", "code"} \
                or area["level"] not in LEVELS or not isinstance(area["code"], str):
            raise Problem(f"area is {{level, code}} with level one of {', '.join(LEVELS)}")
        level, code = area["level"], area["code"]
    valid_from, valid_to = _instant(entry, "valid_from"), _instant(entry, "valid_to")
    if valid_from and valid_to and valid_from >= valid_to:
        raise Problem("valid_to must come after valid_from")
    return {"code": _code(entry), "category_code": _code(entry, "category", required=False),
            "group_code": _code(entry, "group", required=False), "area_level": level,
            "area_code": code, "agency_code": _code(entry, "agency"),
            "valid_from": valid_from, "valid_to": valid_to}


def _instant(entry: dict[str, Any], key: str) -> datetime | str | None:
    """A date (midnight in the calendar's time zone, resolved when applied) or a datetime
    with its offset."""
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise Problem(f"{key}: a datetime needs its UTC offset")
        return value
    if isinstance(value, date):
        return value.isoformat()
    raise Problem(f"{key} must be a date (YYYY-MM-DD) or a datetime with offset")


def _calendar(entry: dict[str, Any]) -> Row:
    _take(entry, ("time_zone", "working_hours", "holidays"))
    zone = entry.get("time_zone")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise Problem(f"time_zone {zone!r} is not an IANA time zone") from None
    hours = entry.get("working_hours")
    if not isinstance(hours, dict) or not hours:
        raise Problem("working_hours maps days (mon, mon-fri…) to spans like '08:00-12:00'")
    periods: set[tuple[int, time, time]] = set()
    for days, spans in hours.items():
        for weekday in _weekdays(str(days)):
            for span in spans if isinstance(spans, list) else [spans]:
                periods.add((weekday, *_span(span)))
    holidays = entry.get("holidays", [])
    if not isinstance(holidays, list) or not all(
            isinstance(h, dict) and set(h) == {"date", "name"} and isinstance(h["date"], date)
            and isinstance(h["name"], str) for h in holidays):
        raise Problem("holidays is a list of {date: YYYY-MM-DD, name}")
    return {"code": "calendar", "time_zone": zone, "periods": sorted(periods),
            "holidays": sorted((h["date"], h["name"]) for h in holidays)}


def _weekdays(days: str) -> list[int]:
    first, _, last = days.lower().partition("-")
    if first not in WEEKDAYS or (last and last not in WEEKDAYS):
        raise Problem(f"working_hours: {days!r} is not a day or a range like mon-fri")
    start, end = WEEKDAYS.index(first) + 1, WEEKDAYS.index(last or first) + 1
    if end < start:
        raise Problem(f"working_hours: {days!r} runs backwards")
    return list(range(start, end + 1))


def _span(span: Any) -> tuple[time, time]:
    match = SPAN.match(str(span))
    if not match:
        raise Problem(f"working_hours: {span!r} is not a span like '08:00-12:00'")
    h1, m1, h2, m2 = map(int, match.groups())
    if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60) or (h1, m1) >= (h2, m2):
        raise Problem(f"working_hours: {span!r} is not a span within one day")
    return time(h1, m1), time(h2, m2)
