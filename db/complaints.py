"""All SQL that reads or writes complaints, built in one place.

A :class:`ComplaintFilter` is the platform's one description of "which complaints": the GraphQL
API, hotspot maps, tiles and exports all turn it into the same WHERE clauses, so a filter means
the same thing everywhere. Only public columns are ever selected here.
"""

import base64
import json
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

import orjson
import shapely
from geoalchemy2 import Geography
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    or_,
    select,
    sql,
    table,
    true,
)
from sqlalchemy.dialects.postgresql import JSON, REGCONFIG, aggregate_order_by
from sqlalchemy.exc import IntegrityError

from auth.policy import free_text, is_reporter, may_act, may_see_personal
from auth.principal import Principal
from db.instants import utc_instant
from db.prepared import prepared
from db.python_text import float_repr, isoformat
from db.tables import (
    PERSONAL_COMPLAINT_COLUMNS,
    PUBLIC_COMPLAINT_COLUMNS,
    REDACTED_COLUMNS,
    admin_area,
    category,
    complaint,
    complaint_event,
    complaint_key,
)
from db.workflow import add_event
from errors import ErrorCode, PhananhError
from workflow.states import Status, overdue

# The unique constraint on idempotency keys across every partition (migration 0018).
IDEMPOTENCY_CONSTRAINT = "complaint_idempotency_key_key"


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
    agency_codes: Sequence[str] = ()  # routed to these agencies
    categories: Sequence[str] = ()
    statuses: Sequence[str] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None  # exclusive
    overdue: bool | None = None  # open and past its due time (or, False: not so)
    actionable_by: Principal | None = None  # only those this official may act on
    reported_by: Principal | None = None  # only those this citizen reported
    text: str | None = None  # words in the public description, accents and case ignored


class Order(StrEnum):
    CREATED_AT = "CREATED_AT"  # newest first
    DISTANCE = "DISTANCE"  # nearest first; needs a `near` filter
    RELEVANCE = "RELEVANCE"  # best match first; needs a `text` filter


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    has_next: bool
    cursors: list[str] = field(default_factory=list)


def where_clauses(f: ComplaintFilter) -> list[ColumnElement[bool]]:
    """The filter as SQL predicates on ``complaint``; each one can use an index. The spatial
    ones test the footprint: a 300 m street complaint crosses a box its point misses."""
    c = complaint.c
    clauses: list[ColumnElement[bool]] = []
    if f.bbox is not None:
        # Inside the box, edges included. Not `&&` alone: it compares the float4-rounded boxes
        # of the index and so also takes points up to a metre outside.
        clauses.append(func.ST_Intersects(func.ST_MakeEnvelope(*f.bbox, 4326), c.footprint))
    if f.within is not None:
        # Meets the area: for a point, the area covers it (its boundary included).
        clauses.append(func.ST_Intersects(_geometry(f.within, "within_wkb"), c.footprint))
    if f.near is not None:
        clauses.append(func.ST_DWithin(cast(c.footprint, Geography), _near_point(f.near),
                                       f.near.radius_m))
    if f.ward_codes:
        clauses.append(c.ward_id.in_(_area_ids("ward", f.ward_codes)))
    if f.district_codes:
        clauses.append(c.district_id.in_(_area_ids("district", f.district_codes)))
    if f.agency_codes:
        clauses.append(c.agency_code.in_(list(f.agency_codes)))
    if f.categories:
        clauses.append(c.category_code.in_(list(f.categories)))
    if f.statuses:
        clauses.append(c.status.in_(list(f.statuses)))
    if f.created_from is not None:
        clauses.append(c.created_at >= f.created_from)
    if f.created_to is not None:
        clauses.append(c.created_at < f.created_to)
    if f.overdue is not None:
        late = overdue(c.status, c.due_at, func.now())
        clauses.append(late if f.overdue else ~late)
    if f.actionable_by is not None:
        clauses.append(may_act(f.actionable_by))
    if f.reported_by is not None:
        clauses.append(is_reporter(f.reported_by))
    if f.text is not None:
        clauses.append(c.search_vector.op("@@")(_text_query(f.text)))
    return clauses


def complaint_select(f: ComplaintFilter, viewer: Principal | None = None) -> Select[Any]:
    """Public columns, lon/lat (and distance with ``near``), and what ``viewer`` may see.

    Personal columns and the addresses of sensitive categories come back as NULL unless the
    policy lets ``viewer`` see them, and free text as its redacted public copy: the database
    never hands them out otherwise.
    """
    c = complaint.c
    see = may_see_personal(viewer)
    sensitive = (select(category.c.sensitive).where(category.c.code == c.category_code)
                 .scalar_subquery())
    columns: list[Any] = [
        *(column.label(name) for name, column in PUBLIC_COMPLAINT_COLUMNS.items()
          if name not in REDACTED_COLUMNS and name != "footprint"),
        free_text("description", viewer).label("description"),
        case((or_(~sensitive, see), free_text("address", viewer))).label("address"),
        cast(func.ST_AsGeoJSON(c.footprint, 7), JSON).label("footprint"),
        func.ST_X(c.location).label("lon"),
        func.ST_Y(c.location).label("lat"),
        # From the unpartitioned keys: one index probe, not one per partition of complaint.
        select(complaint_key.c.public_id).where(complaint_key.c.id == c.duplicate_of)
        .scalar_subquery().label("duplicate_of_public_id"),
        see.label("may_see_personal"),
        may_act(viewer).label("may_act"),
        *(case((see, c[name])).label(name) for name in PERSONAL_COMPLAINT_COLUMNS),
    ]
    if f.near is not None:
        columns.append(_distance(f.near).label("distance_m"))
    return select(*columns).where(*where_clauses(f))


# The page's rows in a statement that builds its JSON (PageSQL): complaint_select's columns,
# the ranking key and the distance (with their orders, filters), the row's place, its cursor.
PAGE, PAGE_TOTAL = "page", "page_total"
PAGE_COLUMNS = (*complaint_select(ComplaintFilter()).selected_columns.keys(), "distance_m",
                "sort_key", "n", "cursor")


@dataclass(frozen=True)
class Listing:
    """The rows of a listing after a cursor (:func:`listing`), unordered; the order that
    pages it; the key a row's cursor holds besides its id; and the cursor's values, the
    statement's parameters ``after_key`` and ``after_id`` (so that one statement serves every
    page of a listing)."""

    rows: Select[Any]
    order_by: list[ColumnElement[Any]]
    key: ColumnElement[Any]
    params: dict[str, Any] = field(default_factory=dict)


def listing(f: ComplaintFilter, order: Order, after: str | None,
            viewer: Principal | None = None) -> Listing:
    """The listing's rows after the cursor ``after`` (keyset pagination: stable under
    inserts, no OFFSET scans) in ``order``."""
    found = _listing(f, order, after is not None, viewer)
    return replace(found, params=cursor_params(order, after))


def cursor_params(order: Order, after: str | None) -> dict[str, Any]:
    """The values of a listing's cursor parameters (none for the first page); a cursor this
    API did not issue is BAD_CURSOR."""
    if after is None:
        return {}
    value, last_id = _decode_cursor(after, order)
    return {"after_key": value, "after_id": last_id}


def _listing(f: ComplaintFilter, order: Order, follows_cursor: bool,
             viewer: Principal | None) -> Listing:
    c = complaint.c
    query = complaint_select(f, viewer)
    last_id = bindparam("after_id", type_=BigInteger)
    if order is Order.CREATED_AT:
        if follows_cursor:
            created_at = bindparam("after_key", type_=DateTime(timezone=True))
            query = query.where(or_(c.created_at < created_at,
                                    and_(c.created_at == created_at, c.id < last_id)))
        return Listing(query, [c.created_at.desc(), c.id.desc()], c.created_at)
    key, ascending = _ranking_key(f, order)
    if follows_cursor:
        value = bindparam("after_key", type_=Float)
        beyond = key > value if ascending else key < value
        query = query.where(or_(beyond, and_(key == value, c.id > last_id)))
    return Listing(query.add_columns(key.label("sort_key")),
                   [key if ascending else key.desc(), c.id], key)


def fetch_page(conn: Connection, f: ComplaintFilter, order: Order, first: int,
               after: str | None, viewer: Principal | None = None) -> Page:
    """One page of a keyset-paginated listing."""
    found = listing(f, order, after, viewer)
    rows = list(conn.execute(found.rows.order_by(*found.order_by).limit(first + 1),
                             found.params))
    page_rows = rows[:first]
    cursors = [
        _encode_cursor(r.created_at.isoformat() if order is Order.CREATED_AT else r.sort_key, r.id)
        for r in page_rows
    ]
    return Page(rows=page_rows, has_next=len(rows) > first, cursors=cursors)


class PageSQL:
    """The parts of a statement that builds a page's JSON itself, over the page's rows as the
    table ``page``: the columns of :func:`complaint_select`, with ``n``, the row's place, and
    ``cursor``, its cursor (:func:`page_json_statement` gives the rows, :func:`listing`'s, so
    the same filter, order, cursor checks and privacy rules apply).

    The statement reads ``page`` left-joined to what the JSON needs besides, as one group:
    lists of the page's rows, whether there is more and the cursors are aggregates over it.
    The page's size and whether it follows a cursor are parameters (``page_first``,
    ``page_after``), so that one statement serves every page of a selection."""

    def __init__(self) -> None:
        self.rows = table(PAGE, *(sql.column(name) for name in PAGE_COLUMNS))
        self.first = bindparam("page_first", type_=Integer)
        self.after_given = bindparam("page_after", type_=Boolean)
        self._on_page = self.rows.c.n <= self.first  # the last row only says there is more

    def listed(self, item: ColumnElement[Any]) -> ColumnElement[Any]:
        """The JSON array of ``item`` over the page's rows, in order."""
        return func.coalesce(
            func.json_agg(aggregate_order_by(item, self.rows.c.n)).filter(self._on_page),
            func.json_build_array())

    def has_next(self) -> ColumnElement[bool]:
        return func.count() > self.first

    def start_cursor(self) -> ColumnElement[str]:
        rows = self.rows.c
        return func.min(rows.cursor).filter(self._on_page & (rows.n == 1))

    def end_cursor(self) -> ColumnElement[str]:
        rows = self.rows.c
        return func.array_agg(aggregate_order_by(rows.cursor, rows.n.desc())
                              ).filter(self._on_page)[1]

    @staticmethod
    def total() -> ColumnElement[int]:
        """The listing's count (:func:`count_select`)."""
        return select(table(PAGE_TOTAL, sql.column("total")).c.total).scalar_subquery()

    @staticmethod
    def statement(answer: ColumnElement[Any], rows: Any) -> Select[Any]:
        """The statement of ``answer`` (JSON built from the parts above) over ``rows`` (the
        page's rows, joined to what ``answer`` reads besides), as text."""
        # HAVING makes the whole page one group, even when nothing in `answer` aggregates.
        return select(cast(answer, Text)).select_from(rows).having(true())


def page_json_statement(statement: Select[Any], f: ComplaintFilter, order: Order,
                        follows_cursor: bool, viewer: Principal | None = None) -> Select[Any]:
    """``statement`` (built with :class:`PageSQL`) for the pages of a listing: with its rows
    and the listing's count as the common table expressions it reads, prepared. Its parameters
    are the page's (``page_first``, ``page_after``, ``page_limit``) and the cursor's
    (:class:`Listing`), so that the statement is built, and its SQLAlchemy cache key computed,
    once per selection, filter, order and caller (:func:`_page_json_statement`), not per
    page: that was a quarter of the service's CPU for a page."""
    try:
        return _page_json_statement(statement, f, order, follows_cursor, viewer)
    except TypeError:  # a filter holding a list: unhashable, built each time
        return _page_json_statement.__wrapped__(statement, f, order, follows_cursor, viewer)


@lru_cache(maxsize=256)
def _page_json_statement(statement: Select[Any], f: ComplaintFilter, order: Order,
                         follows_cursor: bool, viewer: Principal | None) -> Select[Any]:
    found = _listing(f, order, follows_cursor, viewer)
    rows = found.rows.add_columns(
        func.row_number().over(order_by=found.order_by).label("n"),
        _cursor_sql(found.key, order).label("cursor"),
    ).order_by(*found.order_by).limit(bindparam("page_limit", type_=Integer)).cte(PAGE)
    return prepared(statement.add_cte(rows, count_select(f).cte(PAGE_TOTAL)))


def fetch_page_json(conn: Connection, statement: Select[Any], f: ComplaintFilter,
                    order: Order, first: int, after: str | None,
                    viewer: Principal | None = None) -> Any:
    """The answer of ``statement`` for one page (:func:`page_json_statement`), parsed with
    orjson (psycopg2 would parse JSON with the slower ``json``)."""
    cursor = cursor_params(order, after)
    answer = conn.execute(
        page_json_statement(statement, f, order, after is not None, viewer),
        {"page_first": first, "page_after": after is not None, "page_limit": first + 1,
         **cursor})
    return orjson.loads(answer.scalar_one())


def fetch_offset(conn: Connection, f: ComplaintFilter, limit: int, offset: int,
                 viewer: Principal | None = None) -> list[Any]:
    """Newest first, by page number: for APIs whose clients page with an offset (Open311's
    ``page``/``page_size``), where a cursor cannot be passed."""
    c = complaint.c
    query = complaint_select(f, viewer).order_by(c.created_at.desc(), c.id.desc())
    return list(conn.execute(query.limit(limit).offset(offset)))


def count_select(f: ComplaintFilter) -> Select[Any]:
    return select(func.count().label("total")).select_from(complaint).where(*where_clauses(f))


def count(conn: Connection, f: ComplaintFilter) -> int:
    return conn.execute(count_select(f)).scalar_one()


def fetch_by_public_ids(conn: Connection, public_ids: Sequence[str],
                        viewer: Principal | None = None) -> list[Any]:
    query = complaint_select(ComplaintFilter(), viewer).where(
        complaint.c.public_id.in_(list(public_ids)))
    return list(conn.execute(query))


def fetch_events(conn: Connection, filters: Sequence[ComplaintFilter],
                 viewer: Principal | None, event_ids: Sequence[int],
                 kinds: Sequence[str]) -> list[Any]:
    """Events of ``kinds`` among ``event_ids`` whose complaint matches any of ``filters``,
    oldest first, each with its complaint as ``viewer`` sees it (``event_*`` columns: the event)
    and, for each filter i, whether it matches (column ``match_i``): one query for all the
    filters of one viewer."""
    e = complaint_event.c
    matches = [and_(true(), *where_clauses(f)) for f in filters]
    query = (complaint_select(ComplaintFilter(), viewer)
             .add_columns(e.id.label("event_id"), e.kind.label("event_kind"),
                          e.at.label("event_at"), e.from_status.label("event_from_status"),
                          e.to_status.label("event_to_status"),
                          *(m.label(f"match_{i}") for i, m in enumerate(matches)))
             .join_from(complaint, complaint_event, e.complaint_id == complaint.c.id)
             .where(e.id.in_(list(event_ids)), e.kind.in_(list(kinds)), or_(*matches))
             .order_by(e.id))
    return list(conn.execute(query))


def insert_complaint(conn: Connection, values: dict[str, Any], footprint: BaseGeometry,
                     viewer: Principal | None = None) -> Any:
    """Insert one complaint and its first event; with a repeated idempotency key, return the
    complaint stored the first time instead (safe under concurrent retries: the key's unique
    constraint in ``complaint_key`` waits for the first writer, then refuses). Its location,
    the footprint's representative point, is the database's to set (migration 0011). Only a
    keyed insert can meet that refusal, so only it runs in a savepoint (two round trips)."""
    statement = insert(complaint).values(**values, footprint=_geometry(footprint)) \
        .returning(complaint.c.id)
    if values.get("idempotency_key") is None:
        inserted = conn.execute(statement).one()
    else:
        try:
            with conn.begin_nested():
                inserted = conn.execute(statement).one()
        except IntegrityError as error:
            if _violated_constraint(error) != IDEMPOTENCY_CONSTRAINT:
                raise
            return conn.execute(complaint_select(ComplaintFilter(), viewer).where(
                complaint.c.idempotency_key == values["idempotency_key"])).one()
    add_event(conn, inserted.id, "reporter", "SUBMITTED", to_status=str(Status.RECEIVED),
              data={"channel": values.get("channel")})
    return conn.execute(prepared(
        complaint_select(ComplaintFilter(), viewer).where(complaint.c.id == inserted.id))).one()


def _violated_constraint(error: IntegrityError) -> str | None:
    diag = getattr(error.orig, "diag", None)
    return diag.constraint_name if diag is not None else None


def new_public_id() -> str:
    """A public id that says nothing about volume or order: "PA-" and 10 random characters."""
    return "PA-" + secrets.token_hex(5).upper()


def _near_point(near: Near) -> Any:
    return cast(func.ST_SetSRID(func.ST_MakePoint(near.lon, near.lat), 4326), Geography)


def _distance(near: Near) -> ColumnElement[float]:
    return func.ST_Distance(cast(complaint.c.footprint, Geography), _near_point(near))


def _geometry(geometry: BaseGeometry, name: str = "footprint_wkb") -> Any:
    return func.ST_SetSRID(
        func.ST_GeomFromWKB(bindparam(name, shapely.to_wkb(geometry), LargeBinary)), 4326)


def _ranking_key(f: ComplaintFilter, order: Order) -> tuple[ColumnElement[float], bool]:
    """The sort key of a DISTANCE or RELEVANCE listing, and whether it ascends."""
    if order is Order.DISTANCE:
        if f.near is None:
            raise PhananhError(ErrorCode.BAD_INPUT, "Ordering by DISTANCE needs a `near` filter.")
        return _distance(f.near), True
    if f.text is None:
        raise PhananhError(ErrorCode.BAD_INPUT, "Ordering by RELEVANCE needs a `text` filter.")
    # ts_rank_cd is real; as double precision it compares exactly with the cursor's value.
    rank = func.ts_rank_cd(complaint.c.search_vector, _text_query(f.text))
    return cast(rank, Float), False


def _text_query(text: str) -> ColumnElement[Any]:
    """The words of ``text`` folded as the stored search vector is (``fold_text``); web search
    syntax: quoted phrases, ``or``, ``-word``."""
    return func.websearch_to_tsquery(cast("simple", REGCONFIG),
                                     func.fold_text(bindparam("search_text", text)))


def _area_ids(level: str, codes: Sequence[str]) -> Select[Any]:
    return select(admin_area.c.id).where(admin_area.c.level == level,
                                         admin_area.c.code.in_(list(codes)))


def _encode_cursor(key: Any, row_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, row_id]).encode()).decode()


def _cursor_sql(key: ColumnElement[Any], order: Order) -> ColumnElement[str]:
    """:func:`_encode_cursor` of a row, in SQL: the same text, byte for byte."""
    text = (func.to_json(isoformat(key)).cast(Text) if order is Order.CREATED_AT
            else float_repr(key))
    dumped = "[" + text + ", " + complaint.c.id.cast(Text) + "]"
    # PostgreSQL's base64 breaks lines every 76 characters: translate drops the newlines.
    return func.translate(func.encode(func.convert_to(dumped, "UTF8"), "base64"),
                          "+/\n", "-_")


def _decode_cursor(cursor: str, order: Order) -> tuple[Any, int]:
    """The (key, id) of a cursor this API issued for ``order``; anything else, forged or from
    another order, is BAD_CURSOR before it reaches SQL (where it would fail as a type error)."""
    try:
        key, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if type(row_id) is not int or not 0 < row_id < 2**63:
            raise ValueError
        if order is not Order.CREATED_AT:
            if type(key) not in (int, float) or not 0 <= key < math.inf:
                raise ValueError
            return float(key), row_id
        created_at = datetime.fromisoformat(key)
        if created_at.tzinfo is None:
            raise ValueError
        return utc_instant(created_at, bounded=False), row_id
    except (ValueError, TypeError, OverflowError, PhananhError):
        raise PhananhError(ErrorCode.BAD_CURSOR,
                           "The `after` cursor is not one this API returned.") from None
