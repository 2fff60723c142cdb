"""``phananh serve``: uvicorn with one worker per core, no proxy trust of its own, and a time
limit on request headers.

uvicorn's own proxy-header handling trusts ``X-Forwarded-For`` from 127.0.0.1 unless told
otherwise, so anyone on the host could pick their address; it is off here, and the application
decides whom to believe (``middleware.TrustedProxies``, from ``PHANANH_TRUSTED_PROXIES``).
uvicorn closes idle keep-alive connections, but it waits for a request's headers for ever: a
client sending them a byte at a time would hold its connection open as long as it liked.
"""

import asyncio

import typer
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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
    uvicorn.run("app:create_app", factory=True, host=host, port=port, workers=workers,
                http=HeaderTimeoutProtocol, proxy_headers=False, server_header=False,
                timeout_keep_alive=settings.keep_alive_timeout, access_log=settings.access_log,
                log_level="info")
