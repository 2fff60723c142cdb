"""Request parameters → filters, in one place for tiles, OGC API items, exports and the CLI.

Every layer understands ``bbox`` (west,south,east,north in lon/lat), ``datetime`` (an RFC 3339
instant or interval, as in OGC API – Features) and equality filters on its queryable properties
(``status=RESOLVED,REJECTED`` or the parameter repeated). Layers of complaints also take ``q``,
free text (the name OGC API – Records gives it), which means what the GraphQL filter's ``text``
means: words of the public, redacted description, accents and case ignored. Anything else is
refused with a coded 400, so a typo never silently returns everything.
"""

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from db.complaints import ComplaintFilter
from db.instants import utc_instant
from errors import ErrorCode, PhananhError, quoted
from geo.validation import check_bbox
from schema.text import MAX_SEARCH_CHARS, clean_text

T = TypeVar("T")
BBox = tuple[float, float, float, float]
COMMON_PARAMETERS = ("bbox", "datetime")
TEXT_PARAMETER = "q"  # free text, for the layers of complaints
MAX_VALUES = 100  # values of one property filter
_RESOLUTION = timedelta(microseconds=1)  # timestamptz resolution: makes closed intervals half-open


@dataclass(frozen=True)
class LayerQuery:
    """Which features of a layer: a box, a half-open time window, property equalities, free
    text."""

    bbox: BBox | None = None
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    equals: tuple[tuple[str, tuple[str, ...]], ...] = ()  # sorted, so equal queries compare equal
    text: str | None = None

    def values(self, name: str) -> tuple[str, ...]:
        return dict(self.equals).get(name, ())

    @property
    def key(self) -> str:
        """A canonical text for cache keys and ETags."""
        return repr((self.bbox, self.start, self.end, self.equals, self.text))


Params = Mapping[str, str] | Iterable[tuple[str, str]]


def parse_query(params: Params, queryables: Mapping[str, Collection[str] | None],
                temporal: bool, extra: Collection[str] = (), searchable: bool = False
                ) -> LayerQuery:
    """Parse ``params`` (a mapping or (name, value) pairs, repeats allowed).

    ``queryables`` maps each filterable property to its allowed values (None: any); names in
    ``extra`` belong to the caller (``limit``, …) and are skipped here; ``searchable`` layers
    take ``q``.
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    single = {name: value for name, value in pairs}
    if "datetime" in single and not temporal:
        raise PhananhError(ErrorCode.BAD_INPUT, "This layer has no time: drop `datetime`.",
                           parameter="datetime")
    allowed = ({*COMMON_PARAMETERS, *queryables, *extra, *([TEXT_PARAMETER] if searchable else [])}
               - ({"datetime"} if not temporal else set()))
    unknown = sorted(single.keys() - allowed)
    if unknown:
        raise PhananhError(ErrorCode.UNKNOWN_PARAMETER,
                           f"Unknown query parameter(s) {', '.join(unknown)}; this layer accepts "
                           f"{', '.join(sorted(allowed))}.", parameters=unknown)
    start = end = None
    if "datetime" in single:
        start, end = parse_datetime(single["datetime"])
    equals = []
    for name, allowed_values in queryables.items():
        values = _split(value for key, value in pairs if key == name)
        if not values:
            continue
        if len(values) > MAX_VALUES:
            raise PhananhError(ErrorCode.BAD_INPUT,
                               f"At most {MAX_VALUES} values for `{name}`.", parameter=name)
        if allowed_values is not None and (bad := sorted(set(values) - set(allowed_values))):
            raise PhananhError(ErrorCode.BAD_INPUT,
                               f"Unknown {name} value(s) {', '.join(bad)}; expected one of "
                               f"{', '.join(allowed_values)}.", parameter=name)
        equals.append((name, tuple(sorted(set(values)))))
    bbox = parse_bbox(single["bbox"]) if "bbox" in single else None
    text = clean_text(TEXT_PARAMETER, single.get(TEXT_PARAMETER), 1, MAX_SEARCH_CHARS)
    return LayerQuery(bbox=bbox, start=start, end=end, equals=tuple(sorted(equals)), text=text)


def parse_bbox(text: str) -> BBox:
    """``west,south,east,north`` in degrees (a 6-number 3D box drops its heights)."""
    try:
        numbers = [float(part) for part in text.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise PhananhError(ErrorCode.BAD_INPUT,
                           "bbox must be four numbers: west,south,east,north (degrees).",
                           parameter="bbox")
    west, south, east, north = numbers
    check_bbox(west, south, east, north)
    return west, south, east, north


def parse_datetime(text: str) -> tuple[datetime | None, datetime | None]:
    """An instant or a closed interval (``a/b``, ``../b``, ``a/..``) as a half-open [start, end)."""
    if "/" not in text:
        instant = _instant(text)
        return instant, instant + _RESOLUTION
    first, _, last = text.partition("/")
    start = None if first in ("", "..") else _instant(first)
    end = None if last in ("", "..") else _instant(last) + _RESOLUTION
    if start is not None and end is not None and start >= end:
        raise PhananhError(ErrorCode.BAD_INPUT, "The datetime interval ends before it starts.",
                           parameter="datetime")
    return start, end


def choose(options: Mapping[str, T], name: str, code: ErrorCode, what: str) -> T:
    """``options[name]``, or an error with ``code`` that lists the choices."""
    try:
        return options[name]
    except KeyError:
        raise PhananhError(code, f"No {what} {quoted(name)}; {what}s: {', '.join(options)}.",
                           **{what: name}) from None


def complaint_filter(query: LayerQuery) -> ComplaintFilter:
    """The platform's one description of "which complaints" for a layer query."""
    return ComplaintFilter(
        bbox=query.bbox,
        categories=query.values("category_code"),
        statuses=query.values("status"),
        ward_codes=query.values("ward_code"),
        district_codes=query.values("district_code"),
        agency_codes=query.values("agency_code"),
        created_from=query.start,
        created_to=query.end,
        text=query.text,
    )


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            value = datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
        except ValueError:
            raise PhananhError(
                ErrorCode.BAD_INPUT,
                f"datetime {quoted(text)} is not RFC 3339 (e.g. 2025-07-01T00:00:00Z), nor an "
                f"interval of two such instants separated by '/', '..' for an open end.",
                parameter="datetime") from None
    return utc_instant(value)


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
