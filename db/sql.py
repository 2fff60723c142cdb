"""The one way phananh composes SQL statements: fragments that carry their own parameters.

Analyses (CTEs, lateral joins, window functions over a grid) read best as SQL text, while the
platform's complaint filter (``db.complaints.where_clauses``) and the published layers are
SQLAlchemy Core. They meet here, and only here:

* A :class:`Fragment` is SQL text with ``:name`` parameters plus the values it binds. Fragments
  are put together with :func:`compose` (a ``str.format`` template whose slots take fragments or
  plain SQL text) and given the caller's values with :meth:`Fragment.bind`. Both merge the
  parameters and raise :class:`ParameterClash` when two parts bind the same name, even to an
  equal value: a value is never overwritten silently, and every parameter has one binder.
* A fragment may *use* a parameter it does not bind (a grid's ``:grid_size`` in its cell
  formula, used by several pieces of one statement); the statement that embeds it binds it once.
* SQL that binds nothing (a constant such as a status list or a CTE body) is a plain ``str``:
  it may be joined as Python text and fills a slot of :func:`compose` as it is.
* Core enters through :func:`core`, which rewrites every bound parameter structurally (with
  SQLAlchemy's visitors, never a regex over text) to ``<alias>_<n>`` before compiling, much as
  SQL gives a table a new alias each time it is joined in: the same filter embedded twice under
  two aliases has two sets of parameters, and under one alias the clash is reported.
* A fragment goes back into a Core statement through :func:`as_core`, as a ``text()`` whose
  parameters are *unique* bind parameters, which Core's compiler names apart from all others.

Why not Core all the way: Core's compiler silently gives two same-named bind parameters the
last value, and analyses written as Core expressions could no longer be read, EXPLAINed and
pasted into psql as SQL. Why aliases rather than a process-wide counter: counter names differ on
every call, so SQLAlchemy's statement cache (shared by the whole engine) would fill with one-off
statements and evict the ones that repeat; aliases keep equal statements equal.
"""

import io
import itertools
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Row,
    TextClause,
    and_,
    bindparam,
    text,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter

_DIALECT = postgresql.psycopg2.dialect(paramstyle="named")
_ALIAS = re.compile(r"^[a-z][a-z0-9]*$")


class ParameterClash(ValueError):
    """Two parts of one statement bind the same parameter name: a programming error."""


@dataclass(frozen=True)
class Fragment:
    """SQL text and the values of the ``:name`` parameters it binds (read-only)."""

    text: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def bind(self, **values: Any) -> "Fragment":
        """The same text with the caller's ``values`` bound too (a clash raises)."""
        return Fragment(self.text, _merge((self.params, values)))


def sql(body: str, /, **values: Any) -> Fragment:
    """A hand-written fragment: SQL text and the values it binds."""
    return Fragment(body, values)


def compose(template: str, /, **parts: Fragment | str) -> Fragment:
    """``template`` with each ``{slot}`` filled by the text of ``parts[slot]``; the result binds
    every part's parameters (a name bound by two parts raises :class:`ParameterClash`).

    A template is a ``str.format`` string, so literal braces in it are written ``{{ }}``."""
    texts = {slot: part.text if isinstance(part, Fragment) else part
             for slot, part in parts.items()}
    return Fragment(template.format(**texts),
                    _merge(part.params for part in parts.values() if isinstance(part, Fragment)))


def _merge(mappings: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for values in mappings:
        for name, value in values.items():
            if name in merged:
                raise ParameterClash(f"Parameter :{name} is bound twice in one statement; "
                                     f"rename one, or bind it once where both parts meet.")
            merged[name] = value
    return merged


def core(clauses: Sequence[ColumnElement[bool]], alias: str) -> Fragment:
    """The Core ``clauses``, ANDed (true when there are none), as a fragment whose parameters
    are named ``<alias>_1``, ``<alias>_2``, … (an IN list's values ``<alias>_3_1``, …).

    ``alias`` is chosen by the statement that embeds the clauses, like a table alias; two
    embeddings in one statement take two aliases."""
    if not _ALIAS.match(alias):
        raise ValueError(f"A Core alias is lowercase letters and digits; got {alias!r}.")
    numbers = itertools.count(1)

    def renamed(element: Any) -> BindParameter[Any] | None:
        if not isinstance(element, BindParameter):
            return None
        return bindparam(f"{alias}_{next(numbers)}", element.effective_value, type_=element.type,
                         expanding=element.expanding, literal_execute=element.literal_execute)

    clause = visitors.replacement_traverse(and_(true(), *clauses), {}, renamed)
    compiled = clause.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    return Fragment(str(compiled), compiled.params)


def as_core(statement: Fragment) -> TextClause:
    """The fragment as a ``text()`` for a Core statement. Its parameters are unique bind
    parameters: the compiler names them apart from the statement's own (``grid_size_1``)."""
    return text(statement.text).bindparams(
        *(bindparam(name, value, unique=True) for name, value in statement.params.items()))


def execute(conn: Connection, statement: Fragment) -> CursorResult[Any]:
    """Run a whole statement with the values it binds."""
    return conn.execute(text(statement.text), dict(statement.params))


def fetch(conn: Connection, statement: Fragment) -> list[Row[Any]]:
    """All rows of a whole statement."""
    return list(execute(conn, statement))


_COPY_HEADER = struct.Struct(">11sii")  # signature, flags, length of the header extension
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_INT16, _INT32 = struct.Struct(">h"), struct.Struct(">i")


def copied(conn: Connection, statement: Fragment) -> list[tuple[bytes | None, ...]]:
    """All rows of a whole statement, each column as the bytes its type's binary output writes
    (None for NULL), through ``COPY … TO STDOUT (FORMAT binary)``. For results of many bytes of
    ``bytea``: psycopg2 receives every other result as text, where bytes travel as hex, twice
    their size, encoded by the server and decoded here (a year's packed durations at 10
    million complaints: 0.25 s of a 0.57 s read, against 0.06 s copied). The engine's
    ``before_cursor_execute`` listeners see the statement copied, its values in place; errors
    leave as SQLAlchemy's, as from :func:`execute`."""
    compiled = text(statement.text).bindparams(**statement.params).compile(dialect=conn.dialect)
    dbapi_connection = conn.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        query = cursor.mogrify(str(compiled), compiled.params).decode()
        for listener in conn.dispatch.before_cursor_execute:  # observers see what is sent
            listener(conn, cursor, query, {}, None, False)
        buffer = io.BytesIO()
        cursor.copy_expert(f"COPY ({query}) TO STDOUT (FORMAT binary)", buffer)
    except conn.dialect.loaded_dbapi.Error as error:
        lost = conn.dialect.is_disconnect(error, dbapi_connection, cursor)
        if lost:
            conn.invalidate(error)
        raise DBAPIError.instance(statement.text, dict(statement.params), error,
                                  conn.dialect.loaded_dbapi.Error,
                                  connection_invalidated=lost) from error
    finally:
        cursor.close()
    return _binary_rows(buffer.getbuffer())


def _binary_rows(data: memoryview) -> list[tuple[bytes | None, ...]]:
    """The tuples of PostgreSQL's binary COPY format (its documentation, "Binary Format")."""
    signature, _, extension = _COPY_HEADER.unpack_from(data)
    if signature != _COPY_SIGNATURE:
        raise ValueError("not PostgreSQL's binary COPY format")
    at = _COPY_HEADER.size + extension
    rows: list[tuple[bytes | None, ...]] = []
    while (fields := _INT16.unpack_from(data, at)[0]) != -1:  # -1: the trailer
        at += 2
        row: list[bytes | None] = []
        for _ in range(fields):
            length = _INT32.unpack_from(data, at)[0]
            at += 4
            row.append(None if length < 0 else bytes(data[at:at + length]))
            at += max(length, 0)
        rows.append(tuple(row))
    return rows
