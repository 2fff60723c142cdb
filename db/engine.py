"""One pooled engine per process, and helpers that run blocking DB work off the event loop."""

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine, create_engine

from settings import get_settings

T = TypeVar("T")
P = ParamSpec("P")


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """A pooled engine. JIT is off: PostgreSQL's cost model turns it on for batch spatial joins,
    where compiling takes longer (~100 ms) than the query itself."""
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         connect_args={"options": "-c jit=off"})


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    return make_engine(settings.sqlalchemy_url, settings.db_pool_size)


async def read(engine: Engine, fn: Callable[Concatenate[Connection, P], T],
               *args: Any) -> T:
    """``fn(conn, *args)`` on a pooled connection, in a worker thread (psycopg2 blocks)."""

    def work() -> T:
        with engine.connect() as conn:
            return fn(conn, *args)

    return await anyio.to_thread.run_sync(work)


async def write(engine: Engine, fn: Callable[Concatenate[Connection, P], T],
                *args: Any) -> T:
    """Like :func:`read`, inside a transaction committed when ``fn`` returns."""

    def work() -> T:
        with engine.begin() as conn:
            return fn(conn, *args)

    return await anyio.to_thread.run_sync(work)
