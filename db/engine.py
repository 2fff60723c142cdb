"""One pooled engine per process, and helpers that run blocking DB work off the event loop."""

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError

from errors import ErrorCode, PhananhError
from settings import get_settings

T = TypeVar("T")


def make_engine(url: str | URL, pool_size: int = 10, *, pre_ping: bool = True,
                server_settings: Mapping[str, str] | None = None, **options: Any) -> Engine:
    """A pooled engine. JIT is off: PostgreSQL's cost model turns it on for batch spatial joins,
    where compiling takes longer (~100 ms) than the query itself.

    ``server_settings`` are set on every connection as it opens (in the startup packet, so at
    no cost per use); ``pre_ping`` checks each connection before use with one round trip
    (without it, run work through :func:`retrying`); ``options`` go to ``create_engine``."""
    settings = {"jit": "off", **(server_settings or {})}
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size,
                           pool_pre_ping=pre_ping,
                           connect_args={"options": " ".join(f"-c {name}={value}" for name, value
                                                             in settings.items())},
                           **options)
    event.listen(engine, "handle_error", _refuse_nul_characters)
    return engine


def retrying(engine: Engine, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """``fn(conn, **kwargs)`` on a pooled connection; once more on a new one if that connection
    turns out dead (the server restarted, or the network dropped it), which an engine without
    pre-ping finds out only by using it. The pool then also discards its other connections
    that are as old. ``fn`` must be safe to repeat: a read, or a single statement."""
    try:
        with engine.connect() as conn:
            return fn(conn, **kwargs)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    with engine.connect() as conn:
        return fn(conn, **kwargs)


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
