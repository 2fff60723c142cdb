"""The Starlette application: ``/graphql`` over HTTP and WebSocket, ``/healthz``, the layers,
and the caller's identity from a bearer token."""

import gc
import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from auth.rate_limit import SubmissionLimits
from auth.tokens import authenticate
from context import Context
from db.engine import get_engine, read
from errors import EXCEPTION_HANDLERS, ErrorCode, PhananhError, error_response
from layers.routes import layer_routes
from layers.tiles import tile_engine
from media.routes import media_routes
from media.storage import make_store
from middleware import BodySizeLimit
from notify.live import EventHub
from notify.routes import notify_routes
from resolvers.root import build_schema
from settings import Settings, get_settings

WEB_DIST = Path(__file__).parent / "web" / "dist"  # the map page and GraphiQL, built by `make web`


def built_page(page: Path) -> Response:
    """A page of the web/ build, or, without a build, a 404 that says how to make one."""
    if not page.is_file():
        return error_response(ErrorCode.NOT_FOUND, "The web pages are not built: run `make web`.")
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, settings: Settings, engine: Engine) -> None:
        super().__init__(build_schema(settings), allowed_origins=settings.cors_origins,
                         graphql_ide="graphiql", multipart_uploads_enabled=True)
        self.settings = settings
        self.store = make_store(settings)
        self.hub = EventHub(engine)
        self.engine = engine
        self.limits = SubmissionLimits(settings.submissions_per_minute_per_client,
                                       settings.submissions_per_minute_per_token)

    async def get_context(self, request: Request | WebSocket, response: object) -> Context:
        context = Context(self.settings, self.engine, self.limits, self.store, self.hub,
                          request)
        if isinstance(request, Request):
            await self._sign_in(context, request.headers.get("authorization"))
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType:
        """WebSocket clients send their token in connection_init: {"Authorization": "Bearer …"}
        (or {"token": "…"}); a bad token closes the connection with 4403."""
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if header is None and params.get("token"):
            header = f"Bearer {params['token']}"
        await self._sign_in(context, header)
        if context.auth_error:
            raise ConnectionRejectionError
        return UNSET

    async def _sign_in(self, context: Context, header: str | None) -> None:
        """Set the caller from an 'Authorization: Bearer …' value; remember why it failed."""
        if not header:
            return
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            context.auth_error = "the Authorization header must be 'Bearer <token>'."
            return
        try:
            context.principal = await read(self.engine, authenticate, token=token.strip(),
                                           secret=self.settings.token_secret)
        except PhananhError as error:
            context.auth_error = error.message

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the project's own build, so that it works offline (strawberry's page
        loads it from a CDN); its files are served with the map page's."""
        return built_page(WEB_DIST / "graphiql.html")

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    def encode_json(self, data: object) -> str:
        """orjson: a 10,000-point batch answer encodes ~10× faster than with json.dumps.
        Text, not bytes: WebSocket clients expect GraphQL messages in text frames."""
        return orjson.dumps(data).decode()


def map_routes(dist: Path = WEB_DIST) -> list[BaseRoute]:
    """The planner's map: ``/map`` is its page, ``/map/assets/…`` its built files. Without a
    build, ``/map`` says how to make one instead of failing."""
    mimetypes.add_type("text/javascript", ".mjs")  # MapLibre's worker is an ES module

    async def page(request: Request) -> Response:
        return built_page(dist / "index.html")

    routes: list[BaseRoute] = [Route("/map", page), Route("/map/", page)]
    if dist.is_dir():
        routes.append(Mount("/map", StaticFiles(directory=dist)))
    return routes


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Starlette:
    settings = settings or get_settings()
    engine = engine or get_engine()
    tiles = tile_engine(engine.url, settings.db_pool_size)
    graphql = GraphQLApp(settings, engine)

    async def healthz(request: Request) -> Response:
        try:
            await read(engine, lambda conn: conn.execute(text("SELECT 1")).scalar_one())
        except Exception:
            return error_response(ErrorCode.DATABASE_UNAVAILABLE, "The database does not answer.",
                                  status="unavailable", database=False)
        return JSONResponse({"status": "ok", "database": True})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # garbage collector, whose full passes over it otherwise stall requests for ~100 ms.
        gc.freeze()
        yield
        graphql.hub.stop()
        engine.dispose()
        tiles.dispose()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            *layer_routes(settings, engine, tiles),
            *media_routes(settings, engine, graphql.store),
            *notify_routes(engine),
            *map_routes(),
        ],
        middleware=[
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       multipart_max_bytes=settings.max_body_bytes
                       + settings.photo_max_bytes * settings.photos_per_complaint),
            Middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                       allow_methods=["GET", "POST"], allow_headers=["*"]),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
