"""Helpers for fault tests: a table held locked (so that statements touching it wait, as behind a
long migration), PostgreSQL's own view of who waits, and raw HTTP over a socket (to leave a
request midway, or to see exactly how a response ends)."""

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import orjson
import psycopg2
from sqlalchemy.engine import make_url


def connect(database_url: str) -> Any:
    url = make_url(database_url)
    conn = psycopg2.connect(host=url.host, port=url.port, user=url.username,
                            password=url.password, dbname=url.database)
    conn.autocommit = True
    return conn


@contextmanager
def locked(database_url: str, table: str = "complaint") -> Iterator[int]:
    """Hold ``table`` in ACCESS EXCLUSIVE mode: every statement reading it waits. Yields the
    holder's backend pid."""
    conn = connect(database_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            cursor.execute("SELECT pg_backend_pid()")
            yield cursor.fetchone()[0]
    finally:
        conn.close()  # ends the transaction, releasing the lock


def lock_waiters(database_url: str) -> list[int]:
    """Backends of the database running a statement that waits for a lock."""
    conn = connect(database_url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("""SELECT pid FROM pg_stat_activity
                              WHERE datname = current_database() AND state = 'active'
                                AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()""")
            return [row[0] for row in cursor.fetchall()]
    finally:
        conn.close()


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll ``condition`` until it holds; fail the test with ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.05)
    return found


def send_request(base_url: str, method: str, path: str, body: Any = None,
                 rcvbuf: int | None = None) -> socket.socket:
    """Open a connection to ``base_url`` and send one HTTP/1.1 request; the socket is left for
    the caller to read or to drop. ``rcvbuf`` shrinks the receive buffer (a slow reader)."""
    parts = urlsplit(base_url)
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect((parts.hostname, parts.port))
    payload = orjson.dumps(body) if body is not None else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            f"Content-Length: {len(payload)}\r\nContent-Type: application/json\r\n"
            f"Connection: close\r\n\r\n")
    sock.sendall(head.encode() + payload)
    return sock


def read_all(sock: socket.socket, timeout: float = 30) -> bytes:
    """Everything the server sends until it closes (or resets) the connection."""
    sock.settimeout(timeout)
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def read_head(sock: socket.socket, timeout: float = 30, body_bytes: int = 0
              ) -> tuple[bytes, bytes]:
    """(status line and headers, the body bytes received with them: at least ``body_bytes``)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < body_bytes:
        received = sock.recv(4096)
        assert received, f"the connection closed early: {data[:500]!r}"
        data += received
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def dechunk(body: bytes) -> tuple[bytes, bool]:
    """(payload, complete) of a chunked transfer: complete only when the last, empty chunk
    arrived (RFC 9112 7.1), which is how a client tells a whole response from a cut one."""
    payload = b""
    while body:
        size_line, separator, rest = body.partition(b"\r\n")
        if not separator:
            return payload, False
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return payload, True
        if len(rest) < size + 2:
            return payload + rest[:size], False
        payload += rest[:size]
        body = rest[size + 2:]
    return payload, False
