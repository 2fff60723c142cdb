"""Open311 documents as XML and as JSON, from one description.

GeoReport v2 defines XML and derives JSON from it by the Spark convention: a root element
holding a list becomes a JSON array of its children, every other element a key. Documents are
built here as plain dicts and lists, so the two formats cannot drift apart: XML gets each list's
wrapper and child element names from :data:`CHILD`, JSON drops them.
"""

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import orjson

# The element name of each item of a list, by the list's own element name.
CHILD = {
    "services": "service",
    "service_requests": "request",
    "service_requests_updates": "request_update",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "notes": "note",
}
FORMATS = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
# Characters XML 1.0 cannot carry at all, even escaped (control characters but tab and breaks).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def w3(value: datetime) -> str:
    """A W3C date-time with its offset, as the spec requires, in UTC to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_json(document: Any) -> bytes:
    return orjson.dumps(document)


def to_xml(root: str, document: Mapping[str, Any] | Sequence[Any]) -> bytes:
    """``document`` as the spec's XML under the element ``root``, UTF-8 with its declaration."""
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n']
    _element(parts, root, document)
    return "".join(parts).encode()


def _element(parts: list[str], name: str, value: Any) -> None:
    kind = type(value)
    if kind is dict or isinstance(value, Mapping):
        parts.append(f"<{name}>")
        for key, item in value.items():
            _element(parts, key, item)
        parts.append(f"</{name}>")
    elif kind is list or kind is tuple:
        parts.append(f"<{name}>")
        child = CHILD[name]
        for item in value:
            _element(parts, child, item)
        parts.append(f"</{name}>")
    else:
        parts.append(f"<{name}>{_text(value)}</{name}>")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    text = str(value)
    if _SPECIAL.search(text) is None:  # most values: nothing to escape or drop
        return text
    return escape(_NOT_XML.sub("", text))
