"""``phananh serve``: uvicorn with one worker per core, no proxy trust of its own, and a time
limit on request headers.

uvicorn's own proxy-header handling trusts ``X-Forwarded-For`` from 127.0.0.1 unless told
otherwise, so anyone on the host could pick their address; it is off here, and the application
decides whom to believe (``middleware.TrustedProxies``, from ``PHANANH_TRUSTED_PROXIES``).
uvicorn closes idle keep-alive connections, but it waits for a request's headers for ever: a
client sending them a byte at a time would hold its connection open as long as it liked.

With several workers, each listens on a socket of its own (``SO_REUSEPORT``), so that the
kernel spreads connections over them (:class:`OwnSocket`).
"""

import asyncio
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from cli.common import console
from settings import get_settings


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """HTTP/1.1 whose connections are closed when a request's headers have not all arrived
    within ``PHANANH_HEADER_TIMEOUT`` seconds of the connection or of the request's first
    byte. The time between requests is the keep-alive timeout's."""

    header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        if self.header_timer is None:
            self.header_timer = self.loop.call_later(get_settings().header_timeout,
                                                     self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int | None = typer.Option(
        None, min=1, max=65_535, show_default=False,
        help="Port to listen on (default: PHANANH_PORT, else PORT, else 8000)."),
    workers: int | None = typer.Option(
        None, min=1, max=512, show_default=False,
        help="Worker processes, each with its own connection pools (default: PHANANH_WORKERS, "
             "else one per CPU core). Rate limits hold across them: they are counted in the "
             "database, or in Redis (PHANANH_REDIS_URL)."),
) -> None:
    """Serve the API (GraphQL at /graphql), the layers and the map page."""
    settings = get_settings()
    port = port or settings.port
    workers = workers or settings.workers
    console.print(f"Serving on http://{host}:{port}/graphql with {workers} worker"
                  f"{'s' if workers > 1 else ''}")
    run(uvicorn.Config(
        "app:create_app", factory=True, host=host, port=port, workers=workers,
        http=HeaderTimeoutProtocol, proxy_headers=False, server_header=False,
        timeout_keep_alive=settings.keep_alive_timeout, access_log=settings.access_log,
        log_level="info"))


def run(config: uvicorn.Config) -> None:
    """Serve ``config`` in this process, or in ``config.workers`` processes, each listening
    on a socket of its own (:class:`OwnSocket`), under uvicorn's supervisor."""
    if config.workers == 1:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:  # as uvicorn.run: the port was taken or the app failed
            sys.exit(STARTUP_FAILURE)
        return
    with reserved(config.host, config.port):
        listener = OwnSocket(config.host, config.port)
        Multiprocess(config, sockets=[listener]).run()  # type: ignore[list-item]


@dataclass(frozen=True)
class OwnSocket:
    """Stands for the listening socket in the list uvicorn's supervisor hands to each worker
    it starts: pickled into the new process, it becomes a socket of that worker's own.

    uvicorn binds one socket and shares it: a burst of new connections then goes to whichever
    worker's event loop wakes first, and a keep-alive client (a proxy's pool of upstream
    connections, the load benchmark's clients) stays there. Measured: 16 connections opened
    together all went to one worker of two in 2 trials of 3, and the other worker idled. Bound
    with ``SO_REUSEPORT``, each worker's socket takes its share, spread by the kernel on the
    connections' addresses; a worker that dies takes its socket with it, and its replacement
    brings a new one."""

    host: str
    port: int

    def __reduce__(self) -> tuple[object, tuple[str, int, bool]]:
        return bound_socket, (self.host, self.port, True)


def bound_socket(host: str, port: int, shared: bool) -> socket.socket:
    """A TCP socket bound to ``host:port`` (uvicorn listens); ``shared``, beside the other
    workers' sockets (``SO_REUSEPORT``: every socket on the port must ask for it)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                         socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def reserved(host: str, port: int) -> Iterator[None]:
    """Hold ``host:port`` (bound, never listening: it takes no connections) while the workers
    serve, so that another program cannot take it between them; a port already in use is
    reported here, once, rather than by each worker as it starts. The port is first bound
    unshared, so that a server already on it (another ``phananh serve`` too, whose sockets
    would let ours share it) is refused rather than silently given half of the connections."""
    try:
        bound_socket(host, port, shared=False).close()
        holder = bound_socket(host, port, shared=True)
    except OSError as error:
        console.print(f"[red]Cannot listen on {host}:{port}: {error.strerror}.[/red]")
        sys.exit(STARTUP_FAILURE)
    with holder:
        yield
