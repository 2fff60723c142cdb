"""Statements PostgreSQL parses and plans once per connection: ``PREPARE`` and ``EXECUTE``.

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
from typing import Any

from sqlalchemy import Connection, text

# A ``:name`` parameter, not a ``::type`` cast.
_PARAMETER = re.compile(r"(?<![:\w]):(\w+)")


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
