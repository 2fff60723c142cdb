"""Open311 API keys: issued per client application, checked on every Open311 submission,
revocable at once.

A key is 32 random bytes shown once; the database keeps its SHA-256 only (a key has full
entropy, so a fast hash is enough and a lookup is one index probe).
"""

import hashlib
import secrets
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from db.tables import open311_api_key
from errors import ErrorCode, PhananhError

PREFIX = "o311_"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(conn: Connection, label: str) -> tuple[int, str]:
    """A new key for the application ``label``: its id and the key (never stored)."""
    if not label.strip():
        raise PhananhError(ErrorCode.BAD_INPUT, "Give the application's name as the label.")
    key = PREFIX + secrets.token_urlsafe(32)
    key_id = conn.execute(insert(open311_api_key)
                          .values(key_hash=_hash(key), label=label.strip())
                          .returning(open311_api_key.c.id)).scalar_one()
    return key_id, key


def list_keys(conn: Connection) -> list[Any]:
    k = open311_api_key.c
    return list(conn.execute(select(k.id, k.label, k.issued_at, k.revoked_at).order_by(k.id)))


def revoke_key(conn: Connection, key_or_id: str) -> int:
    """Revoke a key given itself or its id; how many were revoked (0 or 1)."""
    k = open311_api_key.c
    match = k.key_hash == _hash(key_or_id)
    if key_or_id.isdigit():
        match = or_(match, k.id == int(key_or_id))
    return conn.execute(update(open311_api_key).where(match, k.revoked_at.is_(None))
                        .values(revoked_at=func.now())).rowcount


def verify_key(conn: Connection, key: str | None) -> int:
    """The id of the live key ``key``; a missing, unknown or revoked one is UNAUTHENTICATED
    (Open311 answers it with HTTP 403)."""
    if not key:
        raise PhananhError(ErrorCode.UNAUTHENTICATED, "An api_key is required to submit.")
    k = open311_api_key.c
    row = conn.execute(select(k.id, k.revoked_at).where(k.key_hash == _hash(key))).first()
    if row is None or row.revoked_at is not None:
        raise PhananhError(ErrorCode.UNAUTHENTICATED,
                           "Invalid api_key received -- can't proceed with create_request.")
    return row.id
