"""Read replicas: one primary, any number of PostgreSQL streaming replicas, and which node
answers a read.

Writes, workflow locks and the reads of officials go to the primary. Reads that may be a moment
old (tiles, OGC, exports, analytics, anonymous listings) go to a replica *in service*: one that
answered its last check, is still in recovery (not promoted) and lags the primary by at most
``replica_max_lag_seconds``. Otherwise they go to the primary.

**Read-your-writes.** After a caller's write commits, the primary's WAL insert position (taken
after the commit, so at or past the commit record) is handed to the caller, signed, in a
cookie and a response header (:data:`READ_AFTER`). A later read that presents it is answered
by a replica only once that replica has replayed that position (``pg_last_wal_replay_lsn()``);
the read waits for that at most ``replica_wait_seconds``, asking the replica again every
:data:`POLL_SECONDS`, and then reads from the primary. The position is the same on every node
(physical replication), so a cookie made by one process is good in any other. Positions are
handed out whenever a read may lag the primary: with replicas, or with the statistics
snapshots on (``analytics/snapshots.py``, which keep what they include by the same position).

**Lag.** Every check samples the primary's WAL position. A replica's lag is the time since the
oldest sample it has not replayed yet (0 when it has replayed the newest), so an idle primary
never makes a caught-up replica look late, and a replica whose replay is stuck or paused
grows late at the pace of the clock as soon as the primary writes. The estimate is at most one
check interval short. Checks run at most every ``replica_check_seconds``, on the request that
finds the last one too old; a connection error on a replica takes it out of service at once.

Data versions (``layers/versions.py``) are rows of the database, replicated like the data, so a
tile's ETag is the same whichever node made it.
"""

import hashlib
import hmac
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from threading import Lock
from time import monotonic
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError
from starlette.requests import HTTPConnection
from starlette.responses import Response

from db.engine import retrying, service_engine
from errors import PhananhError
from settings import Settings

READ_AFTER = "phananh-read-after"  # cookie and header names of the caller's last write
POLL_SECONDS = 0.01  # how often a read waiting for a replica asks it how far it has replayed
READ_AFTER_MAX_AGE = 3600  # seconds a caller keeps the position of their last write


def parse_lsn(lsn: str) -> int:
    """'16/B374D848' → its byte position."""
    high, low = lsn.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def format_lsn(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def seal(position: int, key: bytes) -> str:
    """A WAL position the caller cannot forge: a forged one could send every read of theirs
    to the primary after the longest wait."""
    value = f"{position:x}"  # no '/', which cookies would have to quote
    return f"{value}.{_mac(value, key)}"


def unseal(sealed: str | None, key: bytes) -> int | None:
    """The position in a sealed value; None when absent, malformed or not signed by us."""
    if not sealed or "." not in sealed:
        return None
    value, _, mac = sealed.rpartition(".")
    if not hmac.compare_digest(mac, _mac(value, key)):
        return None
    return int(value, 16)


def _mac(value: str, key: bytes) -> str:
    return hmac.new(key, f"read-after:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def seconds_behind(samples: Iterable[tuple[float, int]], replayed: int, now: float) -> float:
    """How late a replica that has replayed up to ``replayed`` is: the time since the oldest
    of the primary's (time, position) ``samples``, oldest first, that it has not reached."""
    return next((now - at for at, position in samples if position > replayed), 0.0)


def current_position(conn: Connection) -> int:
    """The primary's WAL insert position: asked after a commit, it is at or past the commit
    record, whatever ``synchronous_commit`` says."""
    return parse_lsn(conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one())


def replay_status(conn: Connection) -> tuple[bool, int | None]:
    """(still a standby, the WAL position replayed so far)."""
    row = conn.execute(text("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text")).one()
    return bool(row[0]), parse_lsn(row[1]) if row[1] else None


def _server_default_access(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Once a connection has been read-only (``layers.versions.snapshot``), the pool sets it
    back to read-write, and psycopg2 then begins every transaction READ WRITE, which a standby
    refuses; the server's default is right on either node."""
    if getattr(dbapi_connection, "readonly", None) is False:
        dbapi_connection.readonly = None


@dataclass
class NodeState:
    """What the last check found; a node never checked is not in service."""

    up: bool = False
    standby: bool = False
    replayed: int | None = None
    lag_seconds: float | None = None
    lag_bytes: int | None = None
    error: str | None = "not checked yet"


@dataclass
class Node:
    name: str
    engine: Engine
    tile_engine: Engine
    replica: bool
    state: NodeState = field(default_factory=NodeState)


class Nodes:
    """The primary and the replicas of ``settings.replica_urls``, with their last checked state.

    ``tile_engine`` makes a node's pool for tiles (``layers.tiles.tile_engine``);
    ``secret`` gives the key that seals read-after positions (the server's token secret)."""

    def __init__(self, settings: Settings, primary: Engine, primary_tiles: Engine,
                 tile_engine: Callable[[str, Settings], Engine],
                 secret: Callable[[Connection], str]) -> None:
        self.settings = settings
        self.primary = Node("primary", primary, primary_tiles, replica=False)
        self.replicas = [self._replica(f"replica-{n}", url, tile_engine)
                         for n, url in enumerate(settings.replica_urls, start=1)]
        self.secret = secret
        self.key: bytes | None = None
        self.samples: deque[tuple[float, int]] = deque()  # (when, primary WAL position)
        self.checked_at: float | None = None
        self.checking = Lock()
        self.turn = itertools.count()

    def _replica(self, name: str, url: str,
                 tile_engine: Callable[[str, Settings], Engine]) -> Node:
        """A replica's engines, with the service's time limits and the replica's own connect
        timeout."""
        address = make_url(url).set(drivername="postgresql+psycopg2")
        rendered = address.render_as_string(hide_password=False)
        replica_settings = self.settings.model_copy(
            update={"connect_timeout_s": self.settings.replica_connect_timeout})
        node = Node(name, service_engine(replica_settings, rendered),
                    tile_engine(rendered, replica_settings), replica=True)
        for engine in (node.engine, node.tile_engine):
            event.listen(engine, "handle_error", lambda context, n=node: self._failed(n, context))
            event.listen(engine, "checkout", _server_default_access)
        return node

    def _failed(self, node: Node, context: ExceptionContext) -> None:
        """A replica that drops a connection or refuses a new one is out until a check finds
        it back."""
        if context.is_pre_ping:
            return  # the pool opens a new connection; if that fails, it is reported here
        if context.is_disconnect or context.connection is None:
            node.state = NodeState(error="connection lost")

    # Which node reads --------------------------------------------------------------------

    async def reader(self, after: int | None = None) -> Node:
        """A replica in service that has replayed ``after`` (waiting for that at most
        ``replica_wait_seconds``), else the primary."""
        if not self.replicas:
            return self.primary
        await self._check_if_due()
        serving = [node for node in self.replicas if self.in_service(node)]
        if not serving:
            return self.primary
        if after is not None:
            serving = [node for node in serving if (node.state.replayed or 0) >= after] or \
                [await self._wait_for(max(serving, key=lambda n: n.state.replayed or 0), after)]
        return serving[next(self.turn) % len(serving)]

    def in_service(self, node: Node) -> bool:
        state = node.state
        return (state.up and state.standby and state.lag_seconds is not None
                and state.lag_seconds <= self.settings.replica_max_lag_seconds)

    async def _wait_for(self, node: Node, after: int) -> Node:
        """``node`` once it has replayed ``after``; the primary if it has not in time."""
        deadline = monotonic() + self.settings.replica_wait_seconds
        while monotonic() < deadline:
            try:
                standby, replayed = await anyio.to_thread.run_sync(
                    retrying, node.engine, replay_status)
            except (DBAPIError, PhananhError):
                break
            if not standby:
                break
            node.state.replayed = max(node.state.replayed or 0, replayed or 0)
            if node.state.replayed >= after:
                return node
            await anyio.sleep(min(POLL_SECONDS, max(0.0, deadline - monotonic())))
        return self.primary

    # Read-your-writes --------------------------------------------------------------------

    @property
    def tracks_writes(self) -> bool:
        """Whether callers are handed their writes' positions: when reads may come from
        something that lags the primary, a replica or a statistics snapshot
        (``analytics/snapshots.py``)."""
        return bool(self.replicas) or self.settings.stats_snapshot_max_age_seconds > 0

    async def read_after(self, request: HTTPConnection | None) -> int | None:
        """The position of the caller's last write, from the header or else the cookie."""
        if not self.tracks_writes or request is None:
            return None
        sealed = request.headers.get(READ_AFTER) or request.cookies.get(READ_AFTER)
        return unseal(sealed, await self._key()) if sealed else None

    async def remember_write(self, response: Response | None) -> None:
        """After a commit: hand the caller the primary's WAL position, so that their next
        reads include what they wrote."""
        if not self.tracks_writes or response is None:
            return
        position = await anyio.to_thread.run_sync(retrying, self.primary.engine,
                                                  current_position)
        sealed = seal(position, await self._key())
        response.headers[READ_AFTER] = sealed
        response.set_cookie(READ_AFTER, sealed, max_age=READ_AFTER_MAX_AGE, httponly=True,
                            samesite="lax")

    async def _key(self) -> bytes:
        if self.key is None:
            def derive(conn: Connection) -> bytes:
                return hashlib.sha256(f"read-after|{self.secret(conn)}".encode()).digest()

            self.key = await anyio.to_thread.run_sync(
                lambda: retrying(self.primary.engine, derive))
        return self.key

    # Checks ------------------------------------------------------------------------------

    async def _check_if_due(self) -> None:
        due = (self.checked_at is None
               or monotonic() - self.checked_at >= self.settings.replica_check_seconds)
        if due:
            await anyio.to_thread.run_sync(self.check, False)

    def check(self, wait: bool = True) -> None:
        """Ask the primary for its WAL position and every replica how far it has replayed.
        One check at a time; with ``wait`` false, a caller that finds one running goes on with
        the states it has."""
        if not self.checking.acquire(blocking=wait):
            return
        try:
            now = monotonic()
            try:
                position = retrying(self.primary.engine, current_position)
                self.primary.state = NodeState(up=True, error=None)
                self.samples.append((now, position))
            except (DBAPIError, PhananhError):
                position = None
                self.primary.state = NodeState(error="does not answer")
            horizon = now - 2 * self.settings.replica_max_lag_seconds - 1
            while len(self.samples) > 1 and self.samples[0][0] < horizon:
                self.samples.popleft()
            for node in self.replicas:
                node.state = self._replica_state(node, position, now)
            self.checked_at = monotonic()
        finally:
            self.checking.release()

    def _replica_state(self, node: Node, position: int | None, now: float) -> NodeState:
        try:
            standby, replayed = retrying(node.engine, replay_status)
        except (DBAPIError, PhananhError):
            return NodeState(error="does not answer")
        if not standby or replayed is None:
            return NodeState(up=True, error="not a standby (promoted?)")
        return NodeState(up=True, standby=True, replayed=replayed,
                         lag_seconds=seconds_behind(self.samples, replayed, now),
                         lag_bytes=max(0, position - replayed) if position is not None else None,
                         error=None)

    def health(self) -> list[dict[str, Any]]:
        """Every node, as /healthz reports it (names, never addresses)."""
        report: list[dict[str, Any]] = []
        for node in (self.primary, *self.replicas):
            state = node.state
            entry: dict[str, Any] = {"name": node.name, "role": "replica" if node.replica
                                     else "primary", "up": state.up}
            if node.replica:
                entry |= {"inService": self.in_service(node),
                          "lagSeconds": None if state.lag_seconds is None
                          else round(state.lag_seconds, 3),
                          "lagBytes": state.lag_bytes,
                          "replayedLsn": None if state.replayed is None
                          else format_lsn(state.replayed)}
            if state.error:
                entry["error"] = state.error
            report.append(entry)
        return report

    def dispose(self) -> None:
        for node in self.replicas:
            node.engine.dispose()
            node.tile_engine.dispose()
