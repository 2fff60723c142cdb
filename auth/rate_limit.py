"""Sliding-window rate limits, kept in the process's memory.

Good for one process per host; several workers or hosts each count on their own, so a shared
store (Redis) belongs here when phananh scales out.
"""

import time
from collections import defaultdict, deque

from starlette.requests import HTTPConnection

from errors import ErrorCode, PhananhError


def client_address(request: HTTPConnection | None, trust_forwarded_for: bool) -> str:
    """The caller's address, for rate limits (X-Forwarded-For only behind a trusted proxy)."""
    if request is None:
        return "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and trust_forwarded_for:
        return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


class RateLimiter:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self.hits: dict[str, deque[float]] = defaultdict(deque)

    def check(self, key: str, what: str) -> None:
        """Count one hit for ``key``; over the limit, RATE_LIMITED with the seconds to wait."""
        now = time.monotonic()
        hits = self.hits[key]
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            retry_after = max(1, round(hits[0] + self.window - now))
            raise PhananhError(ErrorCode.RATE_LIMITED,
                               f"Too many {what}: at most {self.limit} per "
                               f"{self.window:.0f} s. Try again in {retry_after} s.",
                               retryAfter=retry_after)
        hits.append(now)
        if len(self.hits) > 100_000:  # forget idle keys rather than grow without bound
            for idle in [k for k, v in self.hits.items() if not v]:
                del self.hits[idle]


class SubmissionLimits:
    """Per client address and per token limits on new complaints (both must allow it)."""

    def __init__(self, per_client: int, per_token: int) -> None:
        self.per_client = RateLimiter(per_client, 60.0)
        self.per_token = RateLimiter(per_token, 60.0)

    def check(self, client: str, token_id: str | None) -> None:
        self.per_client.check(client, "submissions from this address")
        if token_id:
            self.per_token.check(token_id, "submissions with this token")
