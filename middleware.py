"""ASGI middleware that protects the server before any request is parsed."""

import asyncio
from collections import deque
from collections.abc import Iterable, Sequence
from ipaddress import ip_address

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.cancel import CURRENT, Running
from errors import ErrorCode, error_response
from settings import IPNetwork


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413 and the one error body, whether the client
    announced the size (Content-Length) or streamed it. Multipart bodies (GraphQL uploads)
    carry photos and may reach ``multipart_max_bytes``; each photo is limited again on its own."""

    def __init__(self, app: ASGIApp, max_bytes: int, multipart_max_bytes: int | None = None
                 ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.multipart_max_bytes = multipart_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/form-data")
        limit = self.multipart_max_bytes if multipart else self.max_bytes
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        refusal = error_response(ErrorCode.REQUEST_TOO_LARGE,
                                 f"Request bodies are limited to {limit} bytes.",
                                 maxBytes=limit)
        await refusal(scope, receive, send)


class CancelOnDisconnect:
    """Stop the database statements of a request whose client has gone away.

    While the request has statements running (``db.cancel``), its connection is checked every
    ``poll_s`` for a disconnect without blocking (as Starlette's ``Request.is_disconnected``
    does); a message taken that way is handed to the application when it next asks, so the
    check never steals its body (it is looked at only while statements run, when the body has
    normally been read). A disconnect the application itself receives (Starlette's streaming
    response listens for one under ASGI before 2.4) cancels too."""

    def __init__(self, app: ASGIApp, poll_s: float = 0.2) -> None:
        self.app = app
        self.poll_s = poll_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        running = Running()
        channel = _Channel(receive, running)
        token = CURRENT.set(running)
        watcher = asyncio.create_task(self._watch(channel, running))
        try:
            await self.app(scope, channel.receive, send)
        finally:
            watcher.cancel()
            CURRENT.reset(token)

    async def _watch(self, channel: "_Channel", running: Running) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            if running.busy and await channel.disconnected():
                running.cancel()


class _Channel:
    """The request's ``receive``, with a look-ahead that does not wait."""

    def __init__(self, receive: Receive, running: Running) -> None:
        self._receive = receive
        self._running = running
        self._ahead: deque[Message] = deque()
        self._receiving = False
        self.gone = False

    async def receive(self) -> Message:
        if self._ahead:
            return self._ahead.popleft()
        self._receiving = True
        try:
            message = await self._receive()
        finally:
            self._receiving = False
        self._note(message)
        return message

    async def disconnected(self) -> bool:
        """Whether the client has gone, from a message already waiting (never waits)."""
        if self.gone or self._receiving:
            return self.gone
        message: Message = {}
        with anyio.CancelScope() as scope:
            scope.cancel()
            message = await self._receive()
        if message:
            self._ahead.append(message)
            self._note(message)
        return self.gone

    def _note(self, message: Message) -> None:
        if message.get("type") == "http.disconnect":
            self.gone = True
            self._running.cancel()


class TrustedProxies:
    """The client's address (and scheme) from ``Forwarded`` or ``X-Forwarded-For``, but only
    on connections from a trusted reverse proxy: anyone else could write those headers.

    The proxies' chain is read from the nearest hop back, skipping the trusted ones; the first
    untrusted hop is the client, so a client cannot slip an address of its own choosing in
    front of what the proxy appended. ``Forwarded`` (RFC 7239) wins when both are sent."""

    def __init__(self, app: ASGIApp, networks: Sequence[IPNetwork]) -> None:
        self.app = app
        self.networks = tuple(networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if (self.networks and scope["type"] in ("http", "websocket") and client
                and self.trusted(client[0])):
            hops, protos = forwarded_hops(scope["headers"])
            scope = dict(scope)
            if hops:
                scope["client"] = (self.client_of(hops), 0)
            if protos and protos[-1] in ("http", "https"):
                secure = protos[-1] == "https"
                scope["scheme"] = {"http": ("http", "https"),
                                   "websocket": ("ws", "wss")}[scope["type"]][secure]
        await self.app(scope, receive, send)

    def trusted(self, host: str) -> bool:
        try:
            address = ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_of(self, hops: list[str]) -> str:
        for hop in reversed(hops):
            if not self.trusted(hop):
                return hop
        return hops[0]  # every hop is a trusted proxy: the first one is as far as we know


def forwarded_hops(headers: Iterable[tuple[bytes, bytes]]) -> tuple[list[str], list[str]]:
    """The addresses a request passed through, client first, and the schemes proxies saw:
    from ``Forwarded``'s ``for=``/``proto=`` when present, else ``X-Forwarded-For``/``-Proto``."""
    forwarded: list[str] = []
    legacy: list[str] = []
    legacy_protos: list[str] = []
    for name, value in headers:
        if name == b"forwarded":
            forwarded.extend(value.decode("latin-1").split(","))
        elif name == b"x-forwarded-for":
            legacy.extend(value.decode("latin-1").split(","))
        elif name == b"x-forwarded-proto":
            legacy_protos.extend(value.decode("latin-1").split(","))
    if forwarded:
        hops, protos = [], []
        for element in forwarded:
            pairs = dict(_pair(part) for part in element.split(";") if "=" in part)
            if "for" in pairs:
                hops.append(_node_address(pairs["for"]))
            if "proto" in pairs:
                protos.append(pairs["proto"].lower())
        return hops, protos
    return ([hop.strip() for hop in legacy if hop.strip()],
            [proto.strip().lower() for proto in legacy_protos if proto.strip()])


def _pair(part: str) -> tuple[str, str]:
    name, _, value = part.partition("=")
    return name.strip().lower(), value.strip().strip('"')


def _node_address(node: str) -> str:
    """``for=`` node → address: ``[2001:db8::1]:4711`` → ``2001:db8::1``, ``192.0.2.1:80`` →
    ``192.0.2.1``; ``unknown`` and obfuscated names are kept as they are."""
    if node.startswith("["):
        return node[1:].partition("]")[0]
    host, colon, port = node.rpartition(":")
    return host if colon and port.isdigit() and host.count(":") == 0 else node
