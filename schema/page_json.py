"""Pages of complaints built as JSON by one SQL statement, for plain selections.

A page of 100 complaints answered by the regular path costs its statement through SQLAlchemy,
two statements for its relations, and the completion of ~1,400 fields in Python; the raw SQL
building the same JSON costs a sixth of that (docs/benchmarks.md, "Load"). When the selection
of a ``complaints`` connection asks only for what one statement can build exactly as the
executor would answer it (scalars of a complaint, of its reporter, category and areas, cursors,
``pageInfo``, ``totalCount``, ``__typename``; fields without arguments, through fragments,
aliases and ``@include``/``@skip``), :func:`plain_page` compiles it, :func:`page_statement`
builds its statement once (kept for later pages of the same selection), and the executor
(``schema.execution.SplicingExecutor``) puts the statement's answer in the response as it is.
Anything else (an argument, an async field such as ``history``, ``attributes``, ``@defer``, an
object of more than 50 keys, which ``json_build_object`` cannot take) is not plain: the regular
path answers.

The statement reads the page's rows as :class:`db.complaints.PageSQL` describes them, which
``db.complaints.page_json_statement`` selects with ``complaint_select``: the same privacy
expressions (personal columns, the redacted copies of free text, the addresses of sensitive
categories), never a copy of the rules. Each field below maps to the column its resolver
reads; ``tests/test_page_json.py`` checks the answers byte for byte against the regular
executor's, for many documents and every kind of caller.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FieldDetailsList,
    FragmentDetails,
    collect_subfields,
)
from graphql.execution.values import VariableValues
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Text,
    case,
    cast,
    false,
    func,
    literal,
    null,
)

from db.complaints import PageSQL
from db.python_text import float_json, isoformat
from db.tables import admin_area, category
from workflow.states import overdue

MAX_KEYS = 50  # json_build_object takes at most 100 arguments
STATEMENTS = 256  # statements kept, one per selection (and with or without `near`)

Render = Callable[["Sources", Any], ColumnElement[Any]]  # (sources, row) → a JSON value
Value = Callable[["Sources", Any], ColumnElement[Any]]  # (sources, row) → an SQL value
Shape = tuple[Any, ...]  # (type name, ((response key, field name, shape of its value), …))


class NotPlain(Exception):  # a signal, not an error
    """The selection asks for something the statement does not build."""


class Sources:
    """A page's rows (``PageSQL``) and the relations a selection reads, joined on first use;
    whether the listing has a ``near`` filter (then its rows have a distance)."""

    def __init__(self, page: PageSQL, near: bool) -> None:
        self.page = page
        self.near = near
        self._related: dict[str, Any] = {}

    def related(self, name: str) -> Any:
        """The columns of the category (``category``) or of an area (``ward``, …)."""
        if name not in self._related:
            table = category if name == "category" else admin_area
            self._related[name] = table.alias(f"{name}_")
        return self._related[name].c

    def joined(self) -> Any:
        """The page's rows with the relations used so far, left-joined."""
        rows = self.page.rows
        page = rows.c
        for name, alias in self._related.items():
            on = (alias.c.code == page.category_code if name == "category"
                  else alias.c.id == page[f"{name}_id"])
            rows = rows.outerjoin(alias, on)
        return rows


@dataclass(frozen=True)
class Related:
    """An object field: the row its fields read, and when it is not null."""

    type_name: str
    row: Callable[[Sources, Any], Any]
    present: Callable[[Sources, Any, Any], ColumnElement[bool]] | None = None


@dataclass(frozen=True)
class Listed:
    """A list field over the page's rows (``edges``, ``nodes``)."""

    type_name: str


def column(name: str) -> Value:
    return lambda _sources, row: row[name]


def _area(level: str) -> Related:
    return Related("Area", lambda sources, _row: sources.related(level),
                   lambda _sources, _row, area: area.id.is_not(None))


def _distance(sources: Sources, row: Any) -> ColumnElement[Any]:
    return row.distance_m if sources.near else cast(null(), Float)


def _location(_sources: Sources, row: Any) -> ColumnElement[Any]:
    return func.json_build_object("type", literal("Point", Text), "coordinates",
                                  func.json_build_array(float_json(row.lon), float_json(row.lat)))


# Each type's plain fields: the value its resolver gives, read from the row (``Complaint``'s
# row is the page's, with ``complaint_select``'s columns).
FIELDS: dict[str, dict[str, Value | Related | Listed]] = {
    "ComplaintConnection": {
        "edges": Listed("ComplaintEdge"),
        "nodes": Listed("Complaint"),
        "pageInfo": Related("PageInfo", lambda _sources, row: row),
        "totalCount": lambda sources, _row: sources.page.total(),
    },
    "ComplaintEdge": {
        "cursor": column("cursor"),
        "node": Related("Complaint", lambda _sources, row: row),
    },
    "PageInfo": {
        "hasNextPage": lambda sources, _row: sources.page.has_next(),
        "hasPreviousPage": lambda sources, _row: sources.page.after_given,
        "startCursor": lambda sources, _row: sources.page.start_cursor(),
        "endCursor": lambda sources, _row: sources.page.end_cursor(),
    },
    "Complaint": {
        **{field: column(name) for field, name in (
            ("id", "public_id"), ("description", "description"), ("lon", "lon"),
            ("lat", "lat"), ("status", "status"), ("version", "version"),
            ("channel", "channel"), ("mediaUrls", "media_urls"), ("address", "address"),
            ("createdAt", "created_at"), ("updatedAt", "updated_at"), ("dueAt", "due_at"),
            ("firstActionAt", "first_action_at"), ("resolvedAt", "resolved_at"),
            ("rating", "rating"), ("rejectionReason", "rejection_reason"),
            ("supportCount", "support_count"), ("duplicateOf", "duplicate_of_public_id"),
            ("footprint", "footprint"), ("expectedDatetime", "due_at"))},
        "viewerMayAct": lambda _sources, row: func.coalesce(row.may_act, false()),
        "distanceM": _distance,
        "location": _location,
        "overdue": lambda _sources, row: overdue(row.status, row.due_at, func.now()),
        # the resolver's rule: null unless the caller may see personal data (whose columns
        # complaint_select leaves null otherwise anyway)
        "reporter": Related("Reporter", lambda _sources, row: row,
                            lambda _sources, row, _reporter: func.coalesce(
                                row.may_see_personal, false())),
        "category": Related("Category", lambda sources, _row: sources.related("category"),
                            lambda _sources, _row, found: found.code.is_not(None)),
        "ward": _area("ward"),
        "district": _area("district"),
        "city": _area("city"),
    },
    "Reporter": {"name": column("reporter_name"), "phone": column("reporter_phone"),
                 "email": column("reporter_email")},
    "Category": {
        **{field: column(name) for field, name in (
            ("code", "code"), ("nameVi", "name_vi"), ("nameEn", "name_en"),
            ("domain", "domain"), ("slaHours", "sla_hours"), ("sensitive", "sensitive"),
            ("maxFootprintM", "max_footprint_m"), ("maxFootprintHa", "max_footprint_ha"),
            ("description", "description"))},
        "retired": lambda _sources, row: row.retired_at.is_not(None),
    },
    "Area": {field: column(name) for field, name in (
        ("code", "code"), ("name", "name"), ("nameEn", "name_en"), ("level", "level"),
        ("areaKm2", "area_km2"), ("population", "population"))},
}


@dataclass(frozen=True)
class PlainPage:
    """A plain selection compiled: its renderer, and its shape (the types, fields and response
    keys it asks for, which determine the renderer), which identifies it."""

    shape: Shape
    render: Render = field(compare=False)


def plain_page(info: GraphQLResolveInfo) -> PlainPage | None:
    """This ``complaints`` field's selection compiled, if it is plain (see the module); None
    otherwise."""
    if any(fragment.variable_definitions for fragment in info.fragments.values()):
        return None  # fragment arguments: left to graphql-core
    selection = Selection(info)
    try:
        type_ = info.return_type
        named = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
        assert isinstance(named, GraphQLObjectType)
        render, shape = selection.object(
            named, [FieldDetails(node, None) for node in info.field_nodes])
    except NotPlain:
        return None
    return PlainPage(shape, render)


@lru_cache(maxsize=STATEMENTS)
def page_statement(plain: PlainPage, near: bool) -> Select[Any]:
    """The statement of the JSON answer of pages of ``plain``, with or without a ``near``
    filter (``db.complaints.page_json_statement`` gives it a page's rows). Built once per
    selection: building its SQLAlchemy expressions took about as long as running it."""
    page = PageSQL()
    sources = Sources(page, near)
    answer = plain.render(sources, page.rows.c)
    return page.statement(answer, sources.joined())


class Selection:
    """Compiles a selection into renderers (graphql-core collects its fields, so fragments,
    aliases and directives mean what they mean to the executor)."""

    def __init__(self, info: GraphQLResolveInfo) -> None:
        self.info = info
        self.fragments = {name: FragmentDetails(fragment)
                          for name, fragment in info.fragments.items()}
        # Strawberry hands resolvers the coerced values alone; @include and @skip read them.
        self.variables = VariableValues({}, info.variable_values)  # type: ignore[arg-type]

    def object(self, type_: GraphQLObjectType, details: FieldDetailsList
               ) -> tuple[Render, Shape]:
        info = self.info
        grouped, deferred, forbidden = collect_subfields(
            info.schema, self.fragments, self.variables, info.operation, type_, details)
        plain = FIELDS.get(type_.name)
        if deferred or forbidden or plain is None or len(grouped) > MAX_KEYS:
            raise NotPlain
        keys: list[str] = []
        renders: list[Render] = []
        shape: list[tuple[str, str, Shape]] = []
        for key, field_details in grouped.items():
            nodes = [d.node for d in field_details]
            if any(n.arguments for n in nodes) \
                    or any(d.fragment_variable_values for d in field_details):
                raise NotPlain
            name = nodes[0].name.value
            keys.append(key)
            if name == "__typename":
                renders.append(_constant(type_.name))
                shape.append((key, name, ()))
                continue
            spec = plain.get(name)
            field_def = type_.fields.get(name)
            if spec is None or field_def is None or field_def.args:
                raise NotPlain
            render, inner = self.field(spec, field_def, field_details)
            renders.append(render)
            shape.append((key, name, inner))
        return _json_object(keys, renders), (type_.name, tuple(shape))

    def field(self, spec: Value | Related | Listed, field_def: GraphQLField,
              details: FieldDetailsList) -> tuple[Render, Shape]:
        type_ = _nullable(field_def.type)
        if isinstance(spec, Listed):
            assert isinstance(type_, GraphQLList)
            item, shape = self.object(_object_type(self.info, spec.type_name), details)
            return (lambda sources, row: sources.page.listed(item(sources, row))), shape
        if isinstance(spec, Related):
            inner, shape = self.object(_object_type(self.info, spec.type_name), details)
            return _related(spec, inner), shape
        return _leaf(spec, type_), ()


def _json_object(keys: list[str], renders: list[Render]) -> Render:
    def render(sources: Sources, row: Any) -> ColumnElement[Any]:
        arguments: list[Any] = []
        for key, value in zip(keys, renders, strict=True):
            arguments += [literal(key, Text), value(sources, row)]
        return func.json_build_object(*arguments)

    return render


def _related(spec: Related, inner: Render) -> Render:
    def render(sources: Sources, row: Any) -> ColumnElement[Any]:
        found = spec.row(sources, row)
        answer = inner(sources, found)
        if spec.present is None:
            return answer
        return case((spec.present(sources, row, found), answer))

    return render


def _constant(text: str) -> Render:
    return lambda _sources, _row: literal(text, Text)


def _leaf(value: Value, type_: GraphQLOutputType) -> Render:
    """The value as the executor serialises the field's type."""
    if isinstance(type_, GraphQLList):
        inner = _nullable(type_.of_type)
        if isinstance(inner, GraphQLScalarType) and inner.name in ("String", "ID"):
            return value  # a text[]: json_build_object writes it as a JSON array
        raise NotPlain
    if isinstance(type_, GraphQLEnumType):
        names = [(getattr(v.value, "value", v.value), name) for name, v in type_.values.items()]

        def enum(sources: Sources, row: Any) -> ColumnElement[Any]:
            return case({stored: literal(name, Text) for stored, name in names},
                        value=value(sources, row))

        return enum
    if not isinstance(type_, GraphQLScalarType):
        raise NotPlain
    if type_.name in ("String", "ID", "Int", "Boolean", "GeoJSON"):
        return value
    if type_.name == "Float":
        return lambda sources, row: float_json(value(sources, row))
    if type_.name == "DateTime":
        return lambda sources, row: isoformat(value(sources, row))
    raise NotPlain


def _nullable(type_: GraphQLOutputType) -> GraphQLOutputType:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _object_type(info: GraphQLResolveInfo, name: str) -> GraphQLObjectType:
    type_ = info.schema.get_type(name)
    assert isinstance(type_, GraphQLObjectType)
    return type_
