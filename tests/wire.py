"""A TCP relay in front of PostgreSQL that counts what crosses the wire, for tests that promise
a number of round trips.

Whatever a client library does (a liveness ping, a SET, a BEGIN of its own), it reaches the
server as a frontend message: a simple ``Query`` ('Q') is one round trip, and so is each
extended-protocol ``Sync`` ('S'). Counting those, rather than the statements an ORM reports,
sees everything. The relay also counts the bytes the server sends, which shows whether a
result was computed and shipped.
"""

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from sqlalchemy.engine import URL, make_url

UNTYPED_REQUESTS = {80877103, 80877104}  # SSLRequest, GSSENCRequest: answered by one byte


class WireCounter:
    """Relays connections from a loopback port to ``host:port``; counts round trips."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.queries: list[str] = []
        self.received = 0  # bytes from the server
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> URL:
        """``database_url`` pointed at the relay, in plain text (no TLS to look through)."""
        return make_url(database_url).set(host="127.0.0.1", port=self.port).update_query_dict(
            {"sslmode": "disable", "gssencmode": "disable"})

    @property
    def round_trips(self) -> int:
        return len(self.queries)

    def reset(self) -> None:
        with self.lock:
            self.queries.clear()
            self.received = 0

    def drop_connections(self) -> None:
        """Cut every relayed connection, as a server restart or a network fault would."""
        with self.lock:
            for sock in self.sockets:
                _close(sock)
            self.sockets.clear()

    def close(self) -> None:
        self.listener.close()
        self.drop_connections()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._frontend, args=(client, server), daemon=True).start()
            threading.Thread(target=self._backend, args=(server, client), daemon=True).start()

    def _frontend(self, client: socket.socket, server: socket.socket) -> None:
        """Forward the client's messages one by one, noting each round trip's first message."""
        try:
            while True:  # untyped: SSL/GSS requests, then the startup message
                length = _exactly(client, 4)
                body = _exactly(client, struct.unpack("!i", length)[0] - 4)
                server.sendall(length + body)
                if struct.unpack("!i", body[:4])[0] not in UNTYPED_REQUESTS:
                    break
            while True:
                header = _exactly(client, 5)
                body = _exactly(client, struct.unpack("!i", header[1:])[0] - 4)
                server.sendall(header + body)
                if header[:1] in (b"Q", b"S"):
                    with self.lock:
                        self.queries.append(body.rstrip(b"\0").decode(errors="replace"))
        except OSError:
            pass
        finally:
            _close(client)
            _close(server)

    def _backend(self, server: socket.socket, client: socket.socket) -> None:
        try:
            while chunk := server.recv(65536):
                with self.lock:
                    self.received += len(chunk)
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(client)
            _close(server)


@contextmanager
def wire_counter(database_url: str) -> Iterator[WireCounter]:
    url = make_url(database_url)
    counter = WireCounter(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield counter
    finally:
        counter.close()


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionResetError
        data += chunk
    return data


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
