"""Statements PostgreSQL parses and plans once per connection: ``PREPARE`` and ``EXECUTE``.

Two ways in. A Core or text statement marked with :func:`prepared` runs as it always does
through SQLAlchemy (its compiled cache, bind and result processing), except that the final
SQL is prepared on the connection the first time and executed by name after (the engine's
``before_cursor_execute`` hook, :func:`install`): for the statements every request runs (a
tile, a page, a lookup) whose plan over the yearly partitions of ``complaint`` and their
indexes costs PostgreSQL more than running them (a tile already held: 1.1–1.6 ms to plan,
0.1 ms to run). The service's sessions keep the generic plan (``plan_cache_mode``, set by
``db.engine.service_engine``); elsewhere PostgreSQL chooses. :func:`execute_prepared` is for a
statement that must use the generic plan on any connection:

psycopg2 sends every statement as text, so the server parses, analyses and plans it on every
call. For a statement that is cheap to run but long to plan (the duplicate candidates: a
lateral join over the yearly partitions of ``complaint`` and their indexes), that is most of
the work. A statement prepared on a connection is parsed and planned once, and
replanned only when a migration changes a table it reads. The plan is the generic one, forced
for the statement alone (``plan_cache_mode``, ``SET LOCAL``): left to itself, PostgreSQL
plans again for every call whenever the generic plan's estimate is the higher (for the
duplicate candidates it always is: the number of complaint ids is unknown), which is the work
this saves (docs/benchmarks.md, "Possible duplicates at submission").

The pooled connection's ``info`` remembers what it has prepared (a new connection, after a
reconnect, prepares again). ``PREPARE`` is not undone by a rollback, so a statement prepared
in a transaction that fails stays usable.
"""

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import ExceptionContext, ExecutionContext
from sqlalchemy.sql.base import Executable

# A ``:name`` parameter, not a ``::type`` cast.
_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")
# A parameter as psycopg2 receives it (``%(name)s``); a literal % is doubled.
_PYFORMAT = re.compile(r"%\((\w+)\)s")
_OPTION = "phananh_prepared"
_UNSIZED = re.compile(r"(?<=VARCHAR)\(\d+\)")
# Prepared statements a connection keeps at most: beyond, it forgets them all and starts over
# (each holds its plan in the backend's memory; a shape of filter is one statement).
MAX_PER_CONNECTION = 200
E = TypeVar("E", bound=Executable)


def prepared(statement: E) -> E:
    """``statement``, to run prepared on its connection (see the module)."""
    return statement.execution_options(**{_OPTION: True})


def install(engine: Engine) -> None:
    """Run the statements marked :func:`prepared` on ``engine`` as prepared statements."""
    event.listen(engine, "before_cursor_execute", _as_prepared, retval=True)
    event.listen(engine, "after_cursor_execute", _was_prepared)
    event.listen(engine, "handle_error", _forget_prepared)


def _as_prepared(conn: Connection, cursor: Any, statement: str, parameters: Any,
                 context: ExecutionContext | None, executemany: bool) -> tuple[str, Any]:
    """``EXECUTE`` of the marked statement; the first time on a connection, ``PREPARE`` and
    ``EXECUTE`` in one round trip (the result is the last statement's)."""
    if not _marked(context, executemany) or not isinstance(parameters, Mapping):
        return statement, parameters
    name, names, execute = _shape(statement)
    info = conn.connection.info
    known: set[str] = info.setdefault("prepared", set())
    if name in known and not info.get("prepared_unsure"):
        return execute, parameters
    start = ""
    if info.pop("prepared_unsure", False) or len(known) >= MAX_PER_CONNECTION:
        start = "DEALLOCATE ALL; "
        known.clear()
    positional = _PYFORMAT.sub(lambda m: f"${names.index(m.group(1)) + 1}", statement)
    types = f"({', '.join(_sql_type(context, n) for n in names)})" if names else ""
    info["preparing"] = name
    return f"{start}PREPARE {name}{types} AS {positional}; {execute}", parameters


@lru_cache(maxsize=1024)
def _shape(statement: str) -> tuple[str, tuple[str, ...], str]:
    """The prepared name of a statement's text, its parameters in order and the ``EXECUTE``
    that runs it: hashed, scanned and written once per text, not at every execution."""
    name = _name(statement)
    names = tuple(dict.fromkeys(_PYFORMAT.findall(statement)))
    arguments = ", ".join(f"%({n})s" for n in names)
    return name, names, f"EXECUTE {name}({arguments})" if names else f"EXECUTE {name}"


def _was_prepared(conn: Connection, cursor: Any, statement: str, parameters: Any,
                  context: ExecutionContext | None, executemany: bool) -> None:
    info = conn.connection.info
    if _marked(context, executemany) and "preparing" in info:
        info.setdefault("prepared", set()).add(info.pop("preparing"))


def _forget_prepared(error: ExceptionContext) -> None:
    """After a failed marked statement, whether its PREPARE took is unknown (a cancelled
    EXECUTE leaves it prepared): the connection forgets them all before its next one."""
    if _marked(error.execution_context, False) and error.connection is not None \
            and not error.is_disconnect and not error.connection.invalidated:
        info = error.connection.connection.info
        info.pop("preparing", None)
        info["prepared_unsure"] = True


def _marked(context: ExecutionContext | None, executemany: bool) -> bool:
    return not executemany and context is not None \
        and bool(context.execution_options.get(_OPTION))


def _sql_type(context: ExecutionContext, parameter: str) -> str:
    """The SQL type of a parameter, from its bind's type (``unknown``: PostgreSQL infers it
    from where it is used, as it does for a statement sent as text). An IN list's values
    (``name_1``, ``name_2``, … of bind ``name``) take the list's element type."""
    compiled = context.compiled
    binds = compiled.binds if compiled is not None else {}
    bind = binds.get(parameter)
    if bind is None:
        bind = binds.get(parameter.rsplit("_", 1)[0])
    if bind is None or bind.type._isnull:
        return "unknown"
    type_ = bind.type.item_type if bind.expanding and hasattr(bind.type, "item_type") \
        else bind.type
    sql_type = type_.compile(dialect=context.dialect)
    return _UNSIZED.sub("", sql_type)  # VARCHAR(12) would cut a longer value, not refuse it


def execute_prepared(conn: Connection, statement: str,
                     parameters: Mapping[str, Any]) -> list[Any]:
    """The rows of ``statement`` (SQL text with ``:name`` parameters) for ``parameters``,
    executed as a statement prepared on ``conn``'s connection, named after its text."""
    name = _name(statement)
    prepared: set[str] = conn.connection.info.setdefault("prepared", set())
    if name not in prepared:
        names = _names(statement)
        positional = _PARAMETER.sub(lambda m: f"${names.index(m.group(1)) + 1}", statement)
        conn.exec_driver_sql(f"PREPARE {name} AS {positional}")
        prepared.add(name)
    # The one plan, for this statement only (SET LOCAL; set back to the session's below).
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    rows = list(conn.execute(text(execute_sql(statement)), dict(parameters)))
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = DEFAULT")
    return rows


def execute_sql(statement: str) -> str:
    """``EXECUTE`` of the prepared ``statement``, with its ``:name`` parameters (to EXPLAIN
    the plan PostgreSQL keeps for it)."""
    return f"EXECUTE {_name(statement)}({', '.join(f':{n}' for n in _names(statement))})"


def _name(statement: str) -> str:
    return "phananh_" + hashlib.sha1(statement.encode()).hexdigest()[:16]


def _names(statement: str) -> list[str]:
    return list(dict.fromkeys(_PARAMETER.findall(statement)))
