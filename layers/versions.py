"""Data versions, strong ETags and consistent snapshots.

``data_version`` (migration 0003) holds a counter per table, bumped once by every transaction
that writes the table, as it commits (0027), so reading it costs one index probe. A layer's
version is the versions of its tables plus today's date (area layers follow the boundary
generation in force today, which changes at midnight without any write). Work that must agree
with the version it is cached under runs in one REPEATABLE READ snapshot (:func:`snapshot`).
"""

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from threading import Lock
from typing import Generic, TypeVar

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Table,
    Text,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from db.engine import Work, connection

V = TypeVar("V")

data_version_table = Table("data_version", MetaData(), Column("table_name", Text),
                           Column("version", Text))
FORMAT_VERSION = "1"  # bump when the encoding of tiles or documents changes


@contextmanager
def snapshot(engine: Engine, work: Work = Work.READ) -> Iterator[Connection]:
    """A read-only REPEATABLE READ transaction with timestamps rendered in UTC, for ``work``."""
    with connection(engine, work, begin=True, isolation_level="REPEATABLE READ",
                    postgresql_readonly=True) as conn:
        conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
        yield conn


def version_column(tables: tuple[str, ...]) -> ColumnElement[str]:
    """SQL for the version of ``tables``: put it in the statement that reads the data, and one
    snapshot serves both, even outside a transaction."""
    t = data_version_table.c
    pairs = func.concat(t.table_name, ":", t.version)
    return (select(func.string_agg(pairs, aggregate_order_by(literal("."), t.table_name)))
            .where(t.table_name.in_(tables)).scalar_subquery())


def data_version(conn: Connection, tables: tuple[str, ...]) -> str:
    """The version of the data in ``tables`` as seen by ``conn``'s snapshot."""
    return dated(conn.execute(select(version_column(tables))).scalar_one())


def dated(version: str | None, day: date | None = None) -> str:
    """A data version with today's date (or ``day``): area layers follow the generation in
    force today."""
    return f"{version}@{(day or today()).isoformat()}"


def today() -> date:
    return datetime.now(UTC).date()


def strong_etag(*parts: object) -> str:
    """A quoted strong ETag from everything that determines a response's bytes."""
    digest = hashlib.sha256("|".join(map(str, (FORMAT_VERSION, *parts))).encode()).hexdigest()
    return f'"{digest[:32]}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, as RFC 9110 says)."""
    if not if_none_match:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


class Lru(Generic[V]):
    """A thread-safe LRU map bounded by a total weight (bytes for tiles, 1 per entry else)."""

    def __init__(self, capacity: int, weigh: Callable[[V], int] = lambda value: 1) -> None:
        self.capacity = capacity
        self.weigh = weigh
        self.weight = 0
        self.entries: OrderedDict[str, V] = OrderedDict()
        self.lock = Lock()

    def get(self, key: str) -> V | None:
        with self.lock:
            value = self.entries.get(key)
            if value is not None:
                self.entries.move_to_end(key)
            return value

    def put(self, key: str, value: V) -> None:
        weight = self.weigh(value)
        if weight > self.capacity:
            return
        with self.lock:
            if key in self.entries:
                self.weight -= self.weigh(self.entries.pop(key))
            self.entries[key] = value
            self.weight += weight
            while self.weight > self.capacity:
                _, evicted = self.entries.popitem(last=False)
                self.weight -= self.weigh(evicted)

    def through(self, key: str, compute: Callable[[], V]) -> V:
        """The cached value for ``key``, computing and storing it when missing."""
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value
