"""Live events for GraphQL subscriptions, from PostgreSQL ``LISTEN/NOTIFY``.

Every transaction that logs complaint events NOTIFYs their ids on ``db.outbox.CHANNEL``
(``db.outbox.enqueue``); PostgreSQL delivers the notice at commit to every listening session, so
a change committed through any server process reaches the subscribers of all of them.

One :class:`EventHub` per process holds one listening connection (in a thread: psycopg2
blocks) and the subscriptions. For each notice it asks the database, once per distinct caller
among the subscribers (all the anonymous ones are one), which of the events match which of
their filters and how each complaint looks *to that caller* (``db.complaints.fetch_events``,
i.e. the same filter and policy SQL as every query), so a subscriber sees exactly what a query
would show them, and a thousand anonymous map viewers cost one query.

Subscriptions are live views, not a delivery guarantee: events committed while a subscriber is
disconnected (or the listening connection is being re-established) are not replayed; the
outbox (``phananh notify run``) is the channel that never loses a notification.
"""

import asyncio
import logging
import select
import threading
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import psycopg2
from sqlalchemy import Engine

from auth.principal import Principal
from db.complaints import ComplaintFilter, fetch_events
from db.engine import read
from db.outbox import ALERT_KINDS, CHANNEL

log = logging.getLogger(__name__)
LIVE_KINDS = tuple(kind for kinds in ALERT_KINDS.values() for kind in kinds)
QUEUE_LIMIT = 1_000  # events a subscriber may lag behind before it is dropped


class SubscriberTooSlow(Exception):
    pass


class EventHub:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.groups: dict[tuple[ComplaintFilter, Principal | None], set[asyncio.Queue[Any]]] = \
            defaultdict(set)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.listening = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.start_lock = asyncio.Lock()
        self.queries = asyncio.Semaphore(max(1, engine.pool.size() // 2))  # type: ignore[attr-defined]
        self.last_dispatch: asyncio.Future[None] | None = None

    async def stream(self, f: ComplaintFilter, viewer: Principal | None
                     ) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
        """The matching events, as ``viewer`` sees them, until the subscriber leaves. Each comes
        with a dict shared by every subscriber of the same notice: the place for what they may
        share while resolving it (the request loaders, whose rows are not per caller), so that a
        thousand subscribers resolve a complaint's ward with one query, not a thousand."""
        await self._start()
        key = (f, viewer)
        queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_LIMIT)
        self.groups[key].add(queue)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.groups[key].discard(queue)
            if not self.groups[key]:
                del self.groups[key]

    def stop(self) -> None:
        self.stopping.set()

    async def _start(self) -> None:
        """Listen from the first subscription on; return once LISTEN is in effect, so an
        event committed after a subscription started is never missed."""
        async with self.start_lock:
            if self.thread is None:
                self.loop = asyncio.get_running_loop()
                self.thread = threading.Thread(target=self._listen, name="phananh-listen",
                                               daemon=True)
                self.thread.start()
        await asyncio.to_thread(self.listening.wait)

    def _listen(self) -> None:
        """LISTEN, and hand each notice's event ids to the event loop; reconnect on failure."""
        while not self.stopping.is_set():
            try:
                conn = psycopg2.connect(self.dsn)
            except psycopg2.Error:
                log.warning("LISTEN connection failed; retrying", exc_info=True)
                self.stopping.wait(1.0)
                continue
            try:
                conn.autocommit = True
                conn.cursor().execute(f"LISTEN {CHANNEL}")
                self.listening.set()
                while not self.stopping.is_set():
                    if select.select([conn], [], [], 0.5) == ([], [], []):
                        continue
                    conn.poll()
                    ids = [int(i) for notice in conn.notifies for i in notice.payload.split(",")]
                    conn.notifies.clear()
                    if ids and self.loop is not None:
                        self.loop.call_soon_threadsafe(self._received, ids)
            except (psycopg2.Error, OSError):
                log.warning("LISTEN connection lost; reconnecting", exc_info=True)
            finally:
                conn.close()

    async def _fetch(self, filters: list[ComplaintFilter], viewer: Principal | None,
                     event_ids: list[int]) -> list[Any]:
        async with self.queries:  # leave pooled connections to requests
            return await read(self.engine, fetch_events, filters=filters, viewer=viewer,
                              event_ids=event_ids, kinds=LIVE_KINDS)

    def _received(self, event_ids: list[int]) -> None:
        task = asyncio.ensure_future(self._dispatch(event_ids, self.last_dispatch))
        task.add_done_callback(_log_failure)
        self.last_dispatch = task

    async def _dispatch(self, event_ids: list[int], previous: "asyncio.Future[None] | None"
                        ) -> None:
        """One query per distinct caller among the subscribers (their filters all in it), then
        each matching event to each subscriber of a (filter, caller) it matches. Notices are
        read concurrently but handed out in the order they came (after ``previous``, the
        notice before), so a subscriber sees a complaint's events in the order committed."""
        by_viewer: dict[Principal | None, list[ComplaintFilter]] = defaultdict(list)
        for f, viewer in self.groups:
            by_viewer[viewer].append(f)
        viewers = list(by_viewer)
        results = await asyncio.gather(*(self._fetch(by_viewer[v], v, event_ids)
                                         for v in viewers), return_exceptions=True)
        if previous is not None:
            await asyncio.wait([previous])  # its failure is its own, logged by _log_failure
        shared: dict[str, Any] = {}
        for viewer, found in zip(viewers, results, strict=True):
            for i, f in enumerate(by_viewer[viewer]):
                if isinstance(found, BaseException):  # ends these subscriptions only
                    log.error("reading live events failed", exc_info=found)
                    items: list[Any] = [found]
                else:
                    items = [(row, shared) for row in found if getattr(row, f"match_{i}")]
                for queue in list(self.groups.get((f, viewer), ())):
                    _offer(queue, items)


def _offer(queue: "asyncio.Queue[Any]", items: list[Any]) -> None:
    """Queue ``items`` for one subscriber; one that lags too far behind is ended."""
    for item in items:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            queue.get_nowait()  # make room for the reason it ends
            queue.put_nowait(SubscriberTooSlow(
                f"More than {QUEUE_LIMIT} events waited for this subscriber."))
            return


def _log_failure(task: "asyncio.Future[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dispatching live events failed", exc_info=task.exception())
