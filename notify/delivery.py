"""Sending one notification: a signed webhook POST, or an e-mail over SMTP.

Each sender raises :class:`DeliveryFailed` with a short reason (kept in ``outbox.last_error``;
never a secret) and returns normally once the receiver has accepted the message.

Webhooks: the body is the JSON payload with ``id`` (the stable delivery id); the header
``X-Phananh-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body bytes under the
contact's secret (GitHub's scheme), ``X-Phananh-Delivery`` repeats the id. Any 2xx accepts.

E-mail: plain text from ``notify/templates.py``; ``Message-ID`` is built from the delivery id,
so a duplicate is recognisable in any mailbox; alert e-mails carry ``List-Unsubscribe``.
"""

import contextlib
import hashlib
import hmac
import http.client
import json
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from notify import webhook_url
from notify.templates import render
from settings import Settings


class DeliveryFailed(Exception):
    """A failed attempt; ``permanent`` ones (a refused URL) go to the dead letters at once."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True)
class Notification:
    """A claimed outbox row, with the links its recipient needs."""

    id: str
    channel: str
    target: str
    secret: str | None
    lang: str
    payload: dict[str, Any]
    link: str  # the complaint's public page
    unsubscribe: str | None  # the alert's unsubscribe link


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(note: Notification) -> bytes:
    document = {"id": note.id, **note.payload, "link": note.link}
    if note.unsubscribe:
        document["unsubscribe"] = note.unsubscribe
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode()


def post_webhook(note: Notification, timeout: float, allow_private: bool) -> None:
    """POST to the contact's URL, checked again now (``notify/webhook_url.py``); a redirect
    is a failure, never followed."""
    body = webhook_body(note)
    headers = {"Content-Type": "application/json", "User-Agent": "phananh-notify",
               "X-Phananh-Delivery": note.id, "X-Phananh-Signature": sign(note.secret or "", body)}
    try:
        conn, path = webhook_url.connection(note.target, timeout, allow_private)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
    except webhook_url.UnsafeURL as error:
        raise DeliveryFailed(f"refused URL: {error}"[:200], permanent=True) from None
    except (http.client.HTTPException, OSError, ValueError) as error:
        raise DeliveryFailed(f"{type(error).__name__}: {error}"[:200]) from None
    if not 200 <= response.status < 300:
        followed = " (redirects are not followed)" if 300 <= response.status < 400 else ""
        raise DeliveryFailed(f"HTTP {response.status}{followed}")


def email_message(note: Notification, sender: str) -> EmailMessage:
    subject, body = render(note.lang, note.id, note.payload, note.link, note.unsubscribe)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = note.target
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{note.id}@phananh>"
    message["X-Phananh-Delivery"] = note.id
    if note.unsubscribe:
        message["List-Unsubscribe"] = f"<{note.unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(body)
    return message


class Mailer:
    """One SMTP session for a batch of e-mails, opened on the first one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def send(self, note: Notification) -> None:
        try:
            if self.smtp is None:
                self.smtp = self._connect()
            self.smtp.send_message(email_message(note, self.settings.mail_from))
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise DeliveryFailed(f"SMTP: {type(error).__name__}: {error}"[:200]) from None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.webhook_timeout_seconds)
        if s.smtp_starttls:
            smtp.starttls()
        if s.smtp_username:
            smtp.login(s.smtp_username, s.smtp_password or "")
        return smtp

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
            self.smtp = None
