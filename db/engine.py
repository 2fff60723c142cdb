"""One pooled engine per process, and helpers that run blocking DB work off the event loop."""

from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext

from errors import ErrorCode, PhananhError
from settings import get_settings

T = TypeVar("T")


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """A pooled engine. JIT is off: PostgreSQL's cost model turns it on for batch spatial joins,
    where compiling takes longer (~100 ms) than the query itself."""
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                           pool_pre_ping=True, connect_args={"options": "-c jit=off"})
    event.listen(engine, "handle_error", _refuse_nul_characters)
    return engine


def _refuse_nul_characters(context: ExceptionContext) -> PhananhError | None:
    """PostgreSQL text cannot hold NUL (0x00); psycopg2 refuses such a parameter before it is
    sent. Whatever the input path (GraphQL, layer filters, imports), that is bad input."""
    error = context.original_exception
    if isinstance(error, ValueError) and "NUL (0x00)" in str(error):
        return PhananhError(ErrorCode.BAD_INPUT, "Text may not contain NUL (0x00) characters.")
    return None


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    return make_engine(settings.sqlalchemy_url, settings.db_pool_size)


async def read(engine: Engine, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """``fn(conn, **kwargs)`` on a pooled connection, in a worker thread (psycopg2 blocks).
    Arguments go by name, so a call with many of them still says which is which."""

    def work() -> T:
        with engine.connect() as conn:
            return fn(conn, **kwargs)

    return await anyio.to_thread.run_sync(work)


async def write(engine: Engine, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Like :func:`read`, inside a transaction committed when ``fn`` returns."""

    def work() -> T:
        with engine.begin() as conn:
            return fn(conn, **kwargs)

    return await anyio.to_thread.run_sync(work)
