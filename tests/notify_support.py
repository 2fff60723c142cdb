"""Real receivers for notification tests: an HTTP server that records webhooks, and an SMTP
server (aiosmtpd) that records e-mails."""

import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Hook:
    """One webhook POST as received."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Records every POST (and GET) on arrival. ``/fail…`` answers 500 until ``healthy`` is
    set; ``/slow…`` answers after ``delay`` seconds; ``/redirect…`` redirects (302) to
    ``/landed``; anything else answers 204."""

    url: str = ""
    hooks: list[Hook] = field(default_factory=list)
    healthy: bool = False
    delay: float = 0.3
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, path: str) -> list[Hook]:
        with self.lock:
            return [h for h in self.hooks if h.path == path]


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with receiver.lock:
                receiver.hooks.append(Hook(self.path, dict(self.headers.items()), body))
            if self.path.startswith("/slow"):
                time.sleep(receiver.delay)
            status = 500 if self.path.startswith("/fail") and not receiver.healthy else 204
            self.send_response(302 if self.path.startswith("/redirect") else status)
            if self.path.startswith("/redirect"):
                self.send_header("Location", "/landed")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST  # a client that followed a redirect may come back with a GET

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()
