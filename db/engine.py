"""Pooled engines, and the one place where the service's work gets a database connection.

Every request's work runs through :func:`connection` (or :func:`read`, :func:`write` and
:func:`retrying`, built on it), which

* bounds the work's statements by the timeout of its kind (:class:`Work`): the engine's
  sessions start with the read timeout, and other kinds raise it for their transaction only
  (``SET LOCAL``), so an ordinary read costs no extra round trip;
* lets the request cancel the statement it is running when its client leaves
  (:mod:`db.cancel`);
* turns a database that is down, restarting, saturated (no pooled connection within
  ``pool_timeout``) or too slow into a retryable :class:`PhananhError`, so that callers learn
  to come back later rather than see a bug.
"""

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any, TypeVar

import anyio.to_thread
import psycopg2
import psycopg2.errors
from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from db import prepared
from db.cancel import cancellable
from errors import ErrorCode, PhananhError
from settings import Settings, get_settings

T = TypeVar("T")


class Work(StrEnum):
    """Kinds of work, each with its statement timeout (``PHANANH_STATEMENT_TIMEOUT_*_MS``)."""

    READ = "read"  # public reads, and the writes of ordinary requests
    ANALYTICS = "analytics"
    EXPORT = "export"
    TILE = "tile"  # the tile engine's sessions (autocommit: set when they open)


@dataclass(frozen=True)
class Limits:
    """The service's time limits, carried by its engine (as an execution option). Without
    statement timeouts (``by_work`` empty: an engine the caller made) only ``retry_after_s``
    applies."""

    session_ms: int | None  # what every session starts with
    by_work: Mapping[Work, int] = field(default_factory=dict)
    retry_after_s: int = 2
    grace_s: float = 5.0  # waiting for a pooled connection, then for a new one

    @classmethod
    def of(cls, settings: Settings) -> "Limits":
        return cls(settings.statement_timeout_read_ms, {
            Work.READ: settings.statement_timeout_read_ms,
            Work.ANALYTICS: settings.statement_timeout_analytics_ms,
            Work.EXPORT: settings.statement_timeout_export_ms,
            Work.TILE: settings.statement_timeout_tile_ms,
        }, settings.retry_after_s, settings.pool_timeout_s + settings.connect_timeout_s)

    def deadline_s(self, work: Work) -> float | None:
        """How long a request waits for ``work`` before giving up on the database: its
        statement timeout and the grace, plus a second for the round trips."""
        timeout = self.by_work.get(work)
        return None if timeout is None else timeout / 1000 + self.grace_s + 1


def make_engine(url: str | URL, pool_size: int = 10, *, pre_ping: bool = True,
                server_settings: Mapping[str, str] | None = None,
                connect_timeout_s: int | None = None, pool_timeout_s: float = 30,
                max_overflow: int | None = None, **options: Any) -> Engine:
    """A pooled engine. JIT is off: PostgreSQL's cost model turns it on for batch spatial joins,
    where compiling takes longer (~100 ms) than the query itself.

    ``server_settings`` are set on every connection as it opens (in the startup packet, so at
    no cost per use); ``pre_ping`` checks each connection before use with one round trip
    (without it, run work through :func:`retrying`); ``connect_timeout_s`` bounds opening a
    connection and ``pool_timeout_s`` waiting for a pooled one; ``max_overflow`` connections
    (default: as many as the pool) open beyond the pool when it is busy, and close when
    returned; ``options`` go to ``create_engine``."""
    settings = {"jit": "off", **(server_settings or {})}
    connect_args: dict[str, Any] = {"options": " ".join(f"-c {name}={value}" for name, value
                                                        in settings.items())}
    if connect_timeout_s is not None:
        connect_args["connect_timeout"] = connect_timeout_s
    engine = create_engine(url, pool_size=pool_size,
                           max_overflow=pool_size if max_overflow is None else max_overflow,
                           pool_pre_ping=pre_ping, pool_timeout=pool_timeout_s,
                           connect_args=connect_args, **options)
    event.listen(engine, "handle_error", _refuse_nul_characters)
    prepared.install(engine)
    return engine


def service_engine(settings: Settings, url: str | URL | None = None, *, pre_ping: bool = False,
                   server_settings: Mapping[str, str] | None = None,
                   work: Work = Work.READ, **options: Any) -> Engine:
    """An engine for the service's requests (to ``url``, by default the settings' database):
    every limit of ``settings`` applies, its sessions starting with the timeout of ``work``.
    No liveness ping by default (a round trip at every checkout): :func:`read` repeats a read
    that met a dead connection, and a write that meets one is SERVICE_UNAVAILABLE, which
    clients repeat with their idempotency key. Prepared statements (:mod:`db.prepared`) keep
    one generic plan: left to choose, PostgreSQL planned a page of complaints anew on every
    call (its custom plan was never much cheaper), which costs more than running it. No
    overflow: under load, overflow connections were opened and closed by the hundred a
    minute, each a new PostgreSQL backend to start
    (``bench load`` counts them); the pool's connections stay open, and a request that finds
    them all busy waits ``pool_timeout_s``, then gets SERVICE_UNAVAILABLE.
    (Operators' commands use :func:`get_engine`, whose long imports and exports have no
    statement timeout.)"""
    limits = Limits.of(settings)
    engine = make_engine(
        url or settings.sqlalchemy_url, settings.db_pool_size, pre_ping=pre_ping,
        server_settings={**(server_settings or {}),
                         "statement_timeout": str(limits.by_work[work]),
                         "plan_cache_mode": "force_generic_plan"},
        connect_timeout_s=settings.connect_timeout_s, pool_timeout_s=settings.pool_timeout_s,
        max_overflow=0, **options)
    return with_limits(engine, replace(limits, session_ms=limits.by_work[work]))


def with_limits(engine: Engine, limits: Limits) -> Engine:
    """``engine`` (sharing its pool) with the statement timeouts of ``limits`` by kind of work;
    its sessions must start with ``limits.session_ms``."""
    return engine.execution_options(phananh_limits=limits)


def answering_as(engine: Engine, settings: Settings) -> Engine:
    """``engine`` as the service uses it: a :func:`service_engine` as it is; another (made by
    a caller, e.g. a test) keeps its own timeouts, but answers failures as ``settings`` say."""
    if limits_of(engine) is not None:
        return engine
    return with_limits(engine, Limits(None, {}, settings.retry_after_s))


def limits_of(engine: Engine) -> Limits | None:
    return engine.get_execution_options().get("phananh_limits")


@contextmanager
def connection(engine: Engine, work: Work = Work.READ, *, begin: bool = False,
               **execution_options: Any) -> Iterator[Connection]:
    """A pooled connection for ``work``, in a transaction (committed at the end when ``begin``,
    else rolled back) with ``execution_options`` (e.g. its isolation level): its statements are
    bounded by the work's timeout and cancelled when the request's client leaves; database
    failures leave as retryable :class:`PhananhError`."""
    limits = limits_of(engine)
    try:
        with engine.connect() as pooled:
            conn = pooled.execution_options(**execution_options) if execution_options else pooled
            with conn.begin() if begin else nullcontext():
                timeout = limits.by_work.get(work) if limits else None
                if timeout is not None and limits and timeout != limits.session_ms:
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout)}")
                with cancellable(conn.connection.dbapi_connection):
                    yield conn
    except (OperationalError, InterfaceError, PoolTimeout) as error:
        raise unavailable(error, limits) from error


def unavailable(error: Exception, limits: Limits | None) -> PhananhError:
    """The retryable error a client sees for a database failure: QUERY_TIMEOUT for a statement
    over its timeout, SERVICE_UNAVAILABLE for a database that is down, restarting or has no
    connection to spare (the pool's wait timed out)."""
    retry_after = (limits or Limits(None)).retry_after_s
    original = getattr(error, "orig", None)
    if isinstance(original, psycopg2.errors.QueryCanceled) and "timeout" in str(original):
        return PhananhError(ErrorCode.QUERY_TIMEOUT, "The request took too long and was "
                            "stopped; narrow it, or try again later.", retryAfter=retry_after)
    reason = ("busy" if isinstance(error, PoolTimeout) else "unavailable")
    return PhananhError(ErrorCode.SERVICE_UNAVAILABLE,
                        f"The database is {reason}; try again in {retry_after} s.",
                        retryAfter=retry_after)


def retrying(engine: Engine, fn: Callable[..., T], /, work: Work = Work.READ,
             **kwargs: Any) -> T:
    """``fn(conn, **kwargs)`` on a pooled connection; once more on a new one if that connection
    turns out dead (the server restarted, or the network dropped it), which an engine without
    pre-ping finds out only by using it. The pool then also discards its other connections
    that are as old. ``fn`` must be safe to repeat: a read, or a single statement."""
    try:
        with connection(engine, work) as conn:
            return fn(conn, **kwargs)
    except PhananhError as error:
        cause = error.__cause__
        if not (isinstance(cause, DBAPIError) and cause.connection_invalidated):
            raise
    with connection(engine, work) as conn:
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
    """The engine of operators' commands (imports, exports, accounts): no statement timeout."""
    settings = get_settings()
    return make_engine(settings.sqlalchemy_url, settings.db_pool_size,
                       connect_timeout_s=settings.connect_timeout_s)


async def in_thread(engine: Engine, work: Work, fn: Callable[..., T], /, *args: Any) -> T:
    """``fn(*args)``, database work on ``engine``, in a worker thread (psycopg2 blocks), given up
    on after the work's deadline (:meth:`Limits.deadline_s`) with SERVICE_UNAVAILABLE. A running
    database stops a statement itself, at its timeout; the deadline bounds the wait on one
    that cannot (frozen, or behind a network that drops packets). The abandoned thread ends
    when the database answers again."""
    limits = limits_of(engine)
    deadline = limits.deadline_s(work) if limits else None
    if limits is None or deadline is None:
        return await anyio.to_thread.run_sync(fn, *args)
    with anyio.move_on_after(deadline):
        return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)
    raise PhananhError(ErrorCode.SERVICE_UNAVAILABLE,
                       f"The database does not answer; try again in {limits.retry_after_s} s.",
                       retryAfter=limits.retry_after_s)


async def read(engine: Engine, fn: Callable[..., T], /, work: Work = Work.READ,
               **kwargs: Any) -> T:
    """``fn(conn, **kwargs)`` on a pooled connection for ``work``, in a worker thread; once
    more on a new connection if the pooled one was dead (:func:`retrying`), so ``fn`` must be
    safe to repeat. Arguments go by name, so a call with many of them still says which is
    which."""
    return await in_thread(engine, work, lambda: retrying(engine, fn, work, **kwargs))


async def write(engine: Engine, fn: Callable[..., T], /, **kwargs: Any) -> T:
    """Like :func:`read`, inside a transaction committed when ``fn`` returns. A write given up
    on may still commit: clients repeat it with its idempotency key."""

    def run() -> T:
        with connection(engine, begin=True) as conn:
            return fn(conn, **kwargs)

    return await in_thread(engine, Work.READ, run)


def database_answers(url: URL, timeout_s: float) -> bool:
    """Whether the database at ``url`` runs ``SELECT 1`` within about ``timeout_s``, asked on a
    connection of its own (a health check must not wait for the pool it reports on)."""
    seconds = max(2, math.ceil(timeout_s))  # libpq's connect_timeout: whole seconds, at least 2
    try:
        conn = psycopg2.connect(
            host=url.host, port=url.port, user=url.username, password=url.password,
            dbname=url.database, connect_timeout=seconds,
            options=f"-c statement_timeout={int(timeout_s * 1000)}")
    except psycopg2.Error:
        return False
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except psycopg2.Error:
        return False
    finally:
        conn.close()
