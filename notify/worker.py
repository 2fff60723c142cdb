"""``phananh notify run``: deliver the outbox, at least once, never losing a notification.

A loop of batches: claim due rows (``db.outbox.claim``: one attempt each, leased for
``PHANANH_NOTIFY_LEASE_SECONDS``), send them (webhooks concurrently, e-mails over one SMTP
session), and record the batch's outcomes in one transaction. A worker killed at any point
loses nothing: a row is marked delivered only after its receiver accepted it, and a claimed row
that was never marked is due again when its lease runs out. The price is that the messages of
the batch in hand are sent again; receivers deduplicate on the stable id
(``X-Phananh-Delivery``, the e-mail's ``Message-ID``). (Recording each outcome in its own
transaction capped delivery at ~80 notifications/s on the shared test machine.)
"""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from db import outbox
from notify.delivery import DeliveryFailed, Mailer, Notification, post_webhook
from settings import Settings

MAX_CONCURRENT_WEBHOOKS = 16


@dataclass
class Tally:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0


def notification(row: Any, base_url: str) -> Notification:
    base = base_url.rstrip("/")
    public_id = row.payload["complaint"]["id"]
    return Notification(
        id=str(row.id), channel=row.channel, target=row.target, secret=row.secret,
        lang=row.lang, payload=row.payload,
        link=f"{base}/ogc/collections/complaints/items/{public_id}",
        unsubscribe=f"{base}/alerts/unsubscribe/{row.alert_token}" if row.alert_token else None)


class Worker:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def batch(self) -> Tally:
        """Claim one batch, send it, record its outcomes."""
        s = self.settings
        with self.engine.begin() as conn:
            rows = outbox.claim(conn, s.notify_batch_size, s.notify_lease_seconds,
                                s.notify_per_recipient_per_hour)
        notes = [notification(row, s.public_base_url) for row in rows]
        outcomes: list[tuple[Notification, BaseException | None]] = []
        webhooks = [n for n in notes if n.channel == "webhook"]
        if webhooks:
            with ThreadPoolExecutor(min(MAX_CONCURRENT_WEBHOOKS, len(webhooks))) as pool:
                futures = {pool.submit(post_webhook, n, s.webhook_timeout_seconds,
                                       s.webhook_allow_private): n
                           for n in webhooks}
                outcomes += [(futures[f], f.exception()) for f in as_completed(futures)]
        mailer = Mailer(s)
        try:
            for note in (n for n in notes if n.channel == "email"):
                try:
                    mailer.send(note)
                except Exception as error:  # one bad notification must not stop the others
                    outcomes.append((note, error))
                else:
                    outcomes.append((note, None))
        finally:
            mailer.close()
        return self._record(outcomes)

    def run(self, until_empty: bool = False, on_batch: Callable[[Tally], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> Tally:
        """Deliver batch after batch; pause when nothing is due; with ``until_empty``, return
        once a batch claims nothing."""
        total = Tally()
        while not should_stop():
            tally = self.batch()
            total.claimed += tally.claimed
            total.delivered += tally.delivered
            total.failed += tally.failed
            if on_batch and tally.claimed:
                on_batch(tally)
            if tally.claimed == 0:
                if until_empty:
                    break
                time.sleep(self.settings.notify_poll_seconds)
        return total

    def _record(self, outcomes: list[tuple[Notification, BaseException | None]]) -> Tally:
        """The batch's outcomes in one transaction (a worker killed before it sends the batch
        again: duplicates, never losses)."""
        s = self.settings
        done = [note.id for note, error in outcomes if error is None]
        with self.engine.begin() as conn:
            outbox.delivered(conn, done)
            for note, error in outcomes:
                if error is not None:
                    failure = error if isinstance(error, DeliveryFailed) else None
                    reason = str(failure) if failure is not None else "unexpected error"
                    # A refused URL: no retry can succeed, so straight to the dead letters.
                    permanent = failure is not None and failure.permanent
                    outbox.failed(conn, note.id, reason, 0 if permanent else s.notify_max_attempts,
                                  s.notify_backoff_seconds, s.notify_backoff_max_seconds)
        return Tally(claimed=len(outcomes), delivered=len(done), failed=len(outcomes) - len(done))
