"""Signed bearer tokens (JWT, HS256, PyJWT) that can be revoked.

A token carries its id (``jti``) and its user; the database keeps the id, the owner, the expiry
and the revocation, never the token itself. Verifying a token checks the signature, then one
indexed row, so a revoked token stops working on the next request.
"""

import secrets
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import Connection, text

from auth.principal import Principal
from auth.users import load_principal
from errors import ErrorCode, PhananhError, quoted

ALGORITHM = "HS256"
ISSUER = "phananh"
_secrets: dict[str, str] = {}


def signing_secret(conn: Connection, configured: str | None = None) -> str:
    """The configured secret, else the database's own (created on first use, then cached)."""
    if configured:
        return configured
    key = str(conn.engine.url)
    if key not in _secrets:
        conn.execute(text("""INSERT INTO server_secret (name, value) VALUES ('token', :value)
                             ON CONFLICT (name) DO NOTHING"""),
                     {"value": secrets.token_urlsafe(48)})
        _secrets[key] = conn.execute(text(
            "SELECT value FROM server_secret WHERE name = 'token'")).scalar_one()
    return _secrets[key]


def issue_token(conn: Connection, username: str, *, label: str | None = None,
                days: int | None = None, secret: str | None = None) -> str:
    user = conn.execute(text("SELECT id, disabled FROM app_user WHERE username = :u"),
                        {"u": username}).first()
    if user is None:
        raise PhananhError(ErrorCode.NOT_FOUND, f"No user {quoted(username)}.")
    if user.disabled:
        raise PhananhError(ErrorCode.BAD_INPUT, f"User {quoted(username)} is disabled.")
    jti = secrets.token_urlsafe(16)
    now = datetime.now(UTC)
    expires = now + timedelta(days=days) if days else None
    conn.execute(text("""INSERT INTO api_token (jti, user_id, label, issued_at, expires_at)
                         VALUES (:jti, :user, :label, :now, :expires)"""),
                 {"jti": jti, "user": user.id, "label": label, "now": now, "expires": expires})
    claims = {"iss": ISSUER, "sub": str(user.id), "jti": jti, "iat": now}
    if expires:
        claims["exp"] = expires
    return jwt.encode(claims, signing_secret(conn, secret), algorithm=ALGORITHM)


def authenticate(conn: Connection, token: str, secret: str | None = None) -> Principal:
    """The principal a token stands for, or UNAUTHENTICATED saying why not."""
    try:
        claims = jwt.decode(token, signing_secret(conn, secret), algorithms=[ALGORITHM],
                            issuer=ISSUER, options={"require": ["jti", "sub", "iss"]})
    except jwt.ExpiredSignatureError:
        raise PhananhError(ErrorCode.UNAUTHENTICATED, "The token has expired.") from None
    except jwt.InvalidTokenError:
        raise PhananhError(ErrorCode.UNAUTHENTICATED, "The token is not valid.") from None
    revoked = conn.execute(text("""SELECT revoked_at IS NOT NULL FROM api_token
                                   WHERE jti = :jti AND user_id = CAST(:sub AS integer)"""),
                           {"jti": claims["jti"], "sub": claims["sub"]}).scalar()
    if revoked is None or revoked:
        raise PhananhError(ErrorCode.UNAUTHENTICATED, "The token has been revoked.")
    principal = load_principal(conn, user_id=int(claims["sub"]), token_id=claims["jti"])
    if principal is None:
        raise PhananhError(ErrorCode.UNAUTHENTICATED, "The account is disabled.")
    return principal


def revoke(conn: Connection, token_or_id: str, secret: str | None = None) -> int:
    """Revoke one token (given itself or its id) or, given a username, all of that user's."""
    jti = token_or_id
    if token_or_id.count(".") == 2:  # a JWT: read its id without trusting anything else
        jti = jwt.decode(token_or_id, signing_secret(conn, secret), algorithms=[ALGORITHM],
                         options={"verify_exp": False}, issuer=ISSUER)["jti"]
    return conn.execute(text("""
        UPDATE api_token SET revoked_at = now()
        WHERE revoked_at IS NULL AND (jti = :key OR user_id = (
            SELECT id FROM app_user WHERE username = :key))"""), {"key": jti}).rowcount
