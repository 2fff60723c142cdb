"""phananh's rows as Open311 documents: categories as services, complaints as service
requests, workflow events as notes and as mySociety's request updates.

Complaint rows come from ``db.complaints.complaint_select`` with no viewer, so personal columns
and the addresses of sensitive categories are already NULL; nothing here reads a reporter field.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from auth.policy import visible_note
from catalogue.attributes import DATATYPE_DESCRIPTIONS
from db import catalogue as catalogue_sql
from open311.render import w3
from workflow.states import Status, mysociety_status, open311_status

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When the shape of the service list last changed (the discovery document's `changeset`).
CHANGESET = "2026-12-02 00:00"


def agency_responsible(conn: Connection, rows: Sequence[Any]) -> dict[int, str | None]:
    """The office answering each complaint (by complaint id), in one query for the page.

    The one place that names it: the agency the complaint is routed to
    (``complaint.agency_code``, see ``workflow.routing``), by its Vietnamese name, as services
    are named (``service_name`` is the category's ``name_vi``); a complaint routed nowhere
    falls back to the People's Committee (UBND) of its ward.
    """
    codes = sorted({r.agency_code for r in rows if r.agency_code is not None})
    ward_ids = sorted({r.ward_id for r in rows if r.agency_code is None and r.ward_id})
    names = catalogue_sql.responsible_names(conn, codes, ward_ids)
    return {r.id: names.agencies.get(r.agency_code) if r.agency_code is not None
            else f"UBND {names.wards[r.ward_id]}" if r.ward_id in names.wards else None
            for r in rows}


def service(category: Any, has_attributes: bool) -> dict[str, Any]:
    """A category as a service; `metadata` says whether it has attributes to answer."""
    return {
        "service_code": category.code,
        "service_name": category.name_vi,
        "description": f"{category.name_en}. Answered within {category.sla_hours} working "
                       f"hours.",
        "metadata": has_attributes,
        "type": "realtime",
        "keywords": f"{category.name_en}, {category.domain}",
        "group": category.domain,
    }


def service_definition(category: Any, attributes: Sequence[Any]) -> dict[str, Any]:
    """The category's attributes as the spec's service definition. Every attribute asks the
    reporter (`variable`); a private one is described too, as only its answers are private."""
    return {"service_code": category.code, "attributes": [{
        "variable": True,
        "code": a.code,
        "datatype": a.datatype,
        "required": a.required,
        "datatype_description": DATATYPE_DESCRIPTIONS[a.datatype],
        "order": a.position,
        "description": a.description,
        "values": [{"key": v["key"], "name": v["name"]} for v in a.values],
    } for a in attributes]}


def status_notes(row: Any) -> str | None:
    """What the answer was, for answered complaints."""
    if row.status == Status.DUPLICATE and row.duplicate_of_public_id:
        return f"Duplicate of {row.duplicate_of_public_id}."
    if row.status in (Status.REJECTED, Status.CLOSED) and row.rejection_reason:
        return f"Rejected: {row.rejection_reason}."
    return None


def service_request(row: Any, service_name: str | None, agency: str | None) -> dict[str, Any]:
    """A complaint with the spec's fields, in the spec's order."""
    return {
        "service_request_id": row.public_id,
        "status": open311_status(row.status),
        "status_notes": status_notes(row),
        "service_name": service_name,
        "service_code": row.category_code,
        "description": row.description,
        "agency_responsible": agency,
        "service_notice": None,
        "requested_datetime": w3(row.created_at),
        "updated_datetime": w3(row.updated_at),
        "expected_datetime": w3(row.due_at) if row.due_at else None,
        "address": row.address,
        "address_id": None,
        "zipcode": None,
        "lat": row.lat,
        "long": row.lon,
        "media_url": row.media_urls[0] if row.media_urls else None,
    }


def extensions(row: Any, events: Sequence[Any],
               areas: Mapping[int, Any]) -> dict[str, Any]:
    """``extensions=true``: phananh's own status and places, and the history as `notes`."""
    return {
        "extended_attributes": {
            "status": row.status,
            "ward": areas[row.ward_id].code if row.ward_id in areas else None,
            "district": areas[row.district_id].code if row.district_id in areas else None,
            "channel": row.channel,
        },
        "notes": [note(e) for e in events],
    }


def note(event: Any) -> dict[str, Any]:
    """One event of the history, as the public sees it (a reporter's own words are not)."""
    text = visible_note(event.actor, None, event.public_note, personal=False)
    if event.kind == "SUBMITTED":
        text = f"Submitted via {event.data.get('channel') or 'app'}"
    elif text is None and event.to_status:
        text = f"{event.from_status} → {event.to_status}"
    return {"datetime": w3(event.at), "description": text, "type": event.kind.lower()}


def request_update(event: Any) -> dict[str, Any]:
    """An event as mySociety's request_update."""
    return {
        "update_id": str(event.id),
        "service_request_id": event.public_id,
        "status": mysociety_status(event.status, event.reason) if event.status else "open",
        "updated_datetime": w3(event.at),
        "description": visible_note(event.actor, None, event.public_note, personal=False) or "",
        "media_url": None,
    }
