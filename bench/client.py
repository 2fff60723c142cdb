"""The load driver's HTTP client: one keep-alive HTTP/1.1 connection, requests one at a time.

The driver shares the machine's cores with the server it measures, so every millisecond it
spends is taken from the server. A general client (httpx2) costs about 0.9 ms of CPU per
request here, as much as a jurisdiction lookup costs PostgreSQL; this one writes the request
bytes and reads back the status, the headers it needs and the body (Content-Length or
chunked), about a quarter of that. It runs on uvloop, as the server does.
"""

import asyncio
from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class Response:
    status_code: int
    content_type: str
    content: bytes

    def json(self) -> object:
        return orjson.loads(self.content)


class ClientError(Exception):
    """The connection failed or the server broke the protocol (the run counts it by name)."""


class Connection:
    """One keep-alive connection to ``host:port``, reopened when the server has closed it."""

    def __init__(self, host: str, port: int, timeout_s: float = 60.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None = None,
                      forwarded_for: str | None = None) -> Response:
        """Send one request and read its answer; ``forwarded_for`` names the client, as a
        reverse proxy does (``X-Forwarded-For``)."""
        proxy = f"X-Forwarded-For: {forwarded_for}\r\n" if forwarded_for else ""
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{proxy}"
                f"Content-Type: application/json\r\nContent-Length: {len(body or b'')}\r\n\r\n")
        message = head.encode() + (body or b"")
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._writer is None or self._writer.is_closing():
                    await self._open()
                return await self._exchange(message)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
            await self.close()
            raise ClientError(type(error).__name__) from error

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def _exchange(self, message: bytes) -> Response:
        assert self._reader is not None and self._writer is not None
        self._writer.write(message)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            content = await self._chunks()
        else:
            content = b""
        if headers.get("connection") == "close":
            await self.close()
        return Response(status, headers.get("content-type", ""), content)

    async def _chunks(self) -> bytes:
        assert self._reader is not None
        parts = []
        while size := int((await self._reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)  # the chunk's CRLF
        await self._reader.readuntil(b"\r\n")  # the end: no trailers are sent
        return b"".join(parts)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
