"""Per-request context: settings, the engine, and fresh DataLoaders (their cache lives one
request, so nobody ever sees another request's data)."""

from dataclasses import dataclass, field

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.websockets import WebSocket

from resolvers.loaders import Loaders
from settings import Settings


@dataclass
class Context:
    settings: Settings
    engine: Engine
    request: Request | WebSocket | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.engine)
