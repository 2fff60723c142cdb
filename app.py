"""The Starlette application: ``/graphql`` over HTTP and WebSocket, and ``/healthz``."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from db.engine import get_engine, read
from layers.routes import layer_routes
from resolvers.context import Context
from resolvers.root import build_schema
from settings import Settings, get_settings


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, settings: Settings, engine: Engine) -> None:
        super().__init__(build_schema(settings), allowed_origins=settings.cors_origins,
                         graphql_ide="graphiql")
        self.settings = settings
        self.engine = engine

    async def get_context(self, request: Request | WebSocket, response: object) -> Context:
        return Context(self.settings, self.engine, request)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Starlette:
    settings = settings or get_settings()
    engine = engine or get_engine()
    graphql = GraphQLApp(settings, engine)

    async def healthz(request: Request) -> JSONResponse:
        try:
            await read(engine, lambda conn: conn.execute(text("SELECT 1")).scalar_one())
        except Exception:
            return JSONResponse({"status": "unavailable", "database": False}, status_code=503)
        return JSONResponse({"status": "ok", "database": True})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        engine.dispose()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            *layer_routes(settings, engine),
        ],
        middleware=[Middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                               allow_methods=["GET", "POST"], allow_headers=["*"])],
        lifespan=lifespan,
    )
