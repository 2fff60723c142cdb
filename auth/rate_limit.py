"""Sliding-window rate limits, counted in a store that every process and host shares.

PostgreSQL by default (the ``rate_limit`` table and the ``rate_limit_hit`` function of
migration 0009), so no other component is needed; Redis when ``PHANANH_REDIS_URL`` is set (a
sorted set of hit times per key, checked and updated by one Lua script). Either way the check
and the count are one atomic step in the store, so N workers allow exactly the limit between
them, and the window is measured on the store's clock, not on each host's.
"""

import math
import uuid
from typing import Protocol

import redis.asyncio as redis
from sqlalchemy import Connection, Engine, text
from starlette.requests import HTTPConnection

from db.engine import write
from errors import ErrorCode, PhananhError
from settings import Settings


def client_address(request: HTTPConnection | None) -> str:
    """The caller's address, for rate limits: the TCP peer, or the client a trusted proxy
    names (``middleware.TrustedProxies`` has put it in the request's scope)."""
    if request is None or request.client is None:
        return "unknown"
    return request.client.host


class RateLimitStore(Protocol):
    async def hit(self, key: str, limit: int, window_s: float) -> float:
        """Count one hit for ``key``: 0 when allowed, else the seconds until one is."""
        ...

    async def close(self) -> None: ...


class PostgresStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def hit(self, key: str, limit: int, window_s: float) -> float:
        return await write(self.engine, _hit, key=key, limit=limit, window_s=window_s)

    async def close(self) -> None:
        """Nothing to close: the engine is the application's."""


def _hit(conn: Connection, key: str, limit: int, window_s: float) -> float:
    return conn.execute(text("SELECT rate_limit_hit(:key, :limit, :window_s)"),
                        {"key": key, "limit": limit, "window_s": window_s}).scalar_one()


# KEYS[1]: the key; ARGV: limit, window in ms, a unique member. Times are Redis's own (TIME).
SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        self.client = redis.from_url(url)
        self.prefix = prefix
        self.script = self.client.register_script(SLIDING_WINDOW)

    async def hit(self, key: str, limit: int, window_s: float) -> float:
        wait_ms = await self.script(keys=[self.prefix + key],
                                    args=[limit, math.ceil(window_s * 1000), uuid.uuid4().hex])
        return int(wait_ms) / 1000

    async def close(self) -> None:
        await self.client.aclose()


def rate_limit_store(settings: Settings, engine: Engine) -> RateLimitStore:
    """Redis when the settings name one, else the database."""
    if settings.redis_url:
        return RedisStore(settings.redis_url, settings.redis_key_prefix)
    return PostgresStore(engine)


class SubmissionLimits:
    """Per client address and per token limits on new complaints (both must allow it)."""

    WINDOW_S = 60.0

    def __init__(self, store: RateLimitStore, per_client: int, per_token: int) -> None:
        self.store = store
        self.per_client = per_client
        self.per_token = per_token

    async def check(self, client: str, token_id: str | None) -> None:
        """Count one submission; over a limit, RATE_LIMITED with the seconds to wait."""
        await self._check(f"submit:client:{client}", self.per_client,
                          "submissions from this address")
        if token_id:
            await self._check(f"submit:token:{token_id}", self.per_token,
                              "submissions with this token")

    async def _check(self, key: str, limit: int, what: str) -> None:
        wait = await self.store.hit(key, limit, self.WINDOW_S)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise PhananhError(ErrorCode.RATE_LIMITED,
                               f"Too many {what}: at most {limit} per {self.WINDOW_S:.0f} s. "
                               f"Try again in {retry_after} s.", retryAfter=retry_after)
