"""Cancelling a request's running statements when its client leaves.

A request's database work runs in worker threads; the event loop learns that the client went
away (``middleware.CancelOnDisconnect``). The two meet in a :class:`Running` per request, found
through a context variable, which worker threads inherit from the task that started them
(anyio copies the context): each connection registers itself while it works for the request,
and ``cancel`` asks PostgreSQL to stop whatever statement each one runs (libpq's cancel
request, safe from any thread). Work started after that is cancelled as soon as it registers.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

CURRENT: ContextVar["Running | None"] = ContextVar("phananh_running", default=None)


class Running:
    """The DBAPI connections one request is using right now."""

    def __init__(self) -> None:
        self._connections: set[Any] = set()
        self._lock = threading.Lock()
        self.cancelled = False

    @property
    def busy(self) -> bool:
        return bool(self._connections)

    def add(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._connections.add(dbapi_connection)
            cancelled = self.cancelled
        if cancelled:
            dbapi_connection.cancel()

    def discard(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._connections.discard(dbapi_connection)

    def cancel(self) -> None:
        """Stop every statement the request runs, now and from now on."""
        with self._lock:
            self.cancelled = True
            connections = list(self._connections)
        for dbapi_connection in connections:
            dbapi_connection.cancel()


@contextmanager
def cancellable(dbapi_connection: Any) -> Iterator[None]:
    """Let the current request (if any) cancel statements on ``dbapi_connection``."""
    running = CURRENT.get()
    if running is None:
        yield
        return
    running.add(dbapi_connection)
    try:
        yield
    finally:
        running.discard(dbapi_connection)
