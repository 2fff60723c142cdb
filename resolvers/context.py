"""Per-request context: settings, the engine, the caller, and fresh DataLoaders (their cache
lives one request, so nobody ever sees another request's data)."""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from starlette.requests import HTTPConnection

from auth.principal import Principal
from auth.rate_limit import SubmissionLimits
from resolvers.loaders import Loaders
from settings import Settings


@dataclass
class Context:
    settings: Settings
    engine: Engine
    limits: SubmissionLimits
    request: HTTPConnection | None = None
    principal: Principal | None = None
    auth_error: str | None = None  # why a presented token was not accepted
    connection_params: dict[str, Any] | None = None  # WebSocket connection_init payload
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.engine)

    @property
    def client_address(self) -> str:
        """The caller's address, for rate limits (X-Forwarded-For only behind a trusted proxy)."""
        if self.request is None:
            return "unknown"
        forwarded = self.request.headers.get("x-forwarded-for")
        if forwarded and self.settings.trust_forwarded_for:
            return forwarded.split(",")[0].strip()
        return self.request.client.host if self.request.client else "unknown"
