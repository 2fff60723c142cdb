"""All SQL that reads or writes complaints, built in one place.

A :class:`ComplaintFilter` is the platform's one description of "which complaints": the GraphQL
API, hotspot maps, tiles and exports all turn it into the same WHERE clauses, so a filter means
the same thing everywhere. Only public columns are ever selected here.
"""

import base64
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import shapely
from geoalchemy2 import Geography
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    ColumnElement,
    Connection,
    LargeBinary,
    Select,
    and_,
    bindparam,
    cast,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.tables import PUBLIC_COMPLAINT_COLUMNS, admin_area, complaint
from errors import ErrorCode, PhananhError


@dataclass(frozen=True)
class Near:
    lon: float
    lat: float
    radius_m: float


@dataclass(frozen=True)
class ComplaintFilter:
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north
    within: BaseGeometry | None = None  # validated (Multi)Polygon in EPSG:4326
    near: Near | None = None
    ward_codes: Sequence[str] = ()
    district_codes: Sequence[str] = ()
    categories: Sequence[str] = ()
    statuses: Sequence[str] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None  # exclusive


class Order(StrEnum):
    CREATED_AT = "CREATED_AT"  # newest first
    DISTANCE = "DISTANCE"  # nearest first; needs a `near` filter


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    has_next: bool
    cursors: list[str] = field(default_factory=list)


def where_clauses(f: ComplaintFilter) -> list[ColumnElement[bool]]:
    """The filter as SQL predicates on ``complaint``; each one can use an index."""
    c = complaint.c
    clauses: list[ColumnElement[bool]] = []
    if f.bbox is not None:
        # && compares bounding boxes; for points that is "inside the box, edges included".
        clauses.append(c.location.op("&&")(func.ST_MakeEnvelope(*f.bbox, 4326)))
    if f.within is not None:
        polygon = func.ST_SetSRID(
            func.ST_GeomFromWKB(bindparam("within_wkb", shapely.to_wkb(f.within), LargeBinary)),
            4326,
        )
        clauses.append(func.ST_Covers(polygon, c.location))
    if f.near is not None:
        clauses.append(func.ST_DWithin(cast(c.location, Geography), _near_point(f.near),
                                       f.near.radius_m))
    if f.ward_codes:
        clauses.append(c.ward_id.in_(_area_ids("ward", f.ward_codes)))
    if f.district_codes:
        clauses.append(c.district_id.in_(_area_ids("district", f.district_codes)))
    if f.categories:
        clauses.append(c.category_code.in_(list(f.categories)))
    if f.statuses:
        clauses.append(c.status.in_(list(f.statuses)))
    if f.created_from is not None:
        clauses.append(c.created_at >= f.created_from)
    if f.created_to is not None:
        clauses.append(c.created_at < f.created_to)
    return clauses


def public_select(f: ComplaintFilter) -> Select[Any]:
    """Public columns plus lon/lat (and distance when filtering by ``near``)."""
    columns: list[Any] = [
        *PUBLIC_COMPLAINT_COLUMNS,
        func.ST_X(complaint.c.location).label("lon"),
        func.ST_Y(complaint.c.location).label("lat"),
    ]
    if f.near is not None:
        columns.append(_distance(f.near).label("distance_m"))
    return select(*columns).where(*where_clauses(f))


def fetch_page(
    conn: Connection, f: ComplaintFilter, order: Order, first: int, after: str | None
) -> Page:
    """One page of a keyset-paginated listing: stable under inserts, no OFFSET scans."""
    c = complaint.c
    query = public_select(f)
    if order is Order.DISTANCE:
        if f.near is None:
            raise PhananhError(ErrorCode.BAD_INPUT, "Ordering by DISTANCE needs a `near` filter.")
        key = _distance(f.near)
        if after is not None:
            distance, last_id = _decode_cursor(after)
            query = query.where(or_(key > distance, and_(key == distance, c.id > last_id)))
        query = query.order_by(key, c.id)
    else:
        if after is not None:
            created, last_id = _decode_cursor(after)
            created_at = datetime.fromisoformat(str(created))
            query = query.where(or_(c.created_at < created_at,
                                    and_(c.created_at == created_at, c.id < last_id)))
        query = query.order_by(c.created_at.desc(), c.id.desc())
    rows = list(conn.execute(query.limit(first + 1)))
    page_rows = rows[:first]
    cursors = [
        _encode_cursor(r.distance_m if order is Order.DISTANCE else r.created_at.isoformat(), r.id)
        for r in page_rows
    ]
    return Page(rows=page_rows, has_next=len(rows) > first, cursors=cursors)


def count(conn: Connection, f: ComplaintFilter) -> int:
    query = select(func.count()).select_from(complaint).where(*where_clauses(f))
    return conn.execute(query).scalar_one()


def fetch_by_public_ids(conn: Connection, public_ids: Sequence[str]) -> list[Any]:
    query = public_select(ComplaintFilter()).where(complaint.c.public_id.in_(list(public_ids)))
    return list(conn.execute(query))


def insert_complaint(conn: Connection, values: dict[str, Any], lon: float, lat: float) -> Any:
    """Insert one complaint and its first event; with a repeated idempotency key, return the
    complaint stored the first time instead (safe under concurrent retries)."""
    location = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    inserted = conn.execute(
        pg_insert(complaint)
        .values(**values, location=location)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(complaint.c.id)
    ).first()
    if inserted is None:
        return conn.execute(
            public_select(ComplaintFilter()).where(
                complaint.c.idempotency_key == values["idempotency_key"])
        ).one()
    conn.execute(text("""
        INSERT INTO complaint_event (complaint_id, actor, kind, to_status, data)
        VALUES (:id, 'reporter', 'SUBMITTED', 'RECEIVED', CAST(:data AS jsonb))"""),
        {"id": inserted.id, "data": json.dumps({"channel": values.get("channel")})})
    return conn.execute(
        public_select(ComplaintFilter()).where(complaint.c.id == inserted.id)).one()


def new_public_id() -> str:
    """A public id that says nothing about volume or order: "PA-" and 10 random characters."""
    return "PA-" + secrets.token_hex(5).upper()


def _near_point(near: Near) -> Any:
    return cast(func.ST_SetSRID(func.ST_MakePoint(near.lon, near.lat), 4326), Geography)


def _distance(near: Near) -> ColumnElement[float]:
    return func.ST_Distance(cast(complaint.c.location, Geography), _near_point(near))


def _area_ids(level: str, codes: Sequence[str]) -> Select[Any]:
    return select(admin_area.c.id).where(admin_area.c.level == level,
                                         admin_area.c.code.in_(list(codes)))


def _encode_cursor(key: Any, row_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, row_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        key, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(row_id, int) or not isinstance(key, (str, float, int)):
            raise ValueError
        return key, row_id
    except (ValueError, TypeError):
        raise PhananhError(ErrorCode.BAD_CURSOR,
                           "The `after` cursor is not one this API returned.") from None
