"""The Starlette application: ``/graphql`` over HTTP and WebSocket, ``/healthz``, the layers,
Open311 under ``/open311/v2/`` (sharing GraphQL's submission limits), and the caller's
identity from a bearer token."""

import gc
import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson
from sqlalchemy import Engine
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

from auth.rate_limit import SubmissionLimits, rate_limit_store
from auth.tokens import authenticate, signing_secret
from context import Context
from db.engine import answering_as, database_answers, read, service_engine
from db.nodes import Nodes
from errors import (
    EXCEPTION_HANDLERS,
    RETRYABLE,
    ErrorCode,
    PhananhError,
    error_response,
    retry_headers,
)
from layers.routes import layer_routes
from layers.tiles import tile_engine
from media.routes import media_routes
from media.storage import make_store
from middleware import BodySizeLimit, CancelOnDisconnect, TrustedProxies
from notify.live import EventHub
from notify.routes import notify_routes
from open311.routes import Open311
from resolvers.root import build_schema
from settings import Settings, get_settings

WEB_DIST = Path(__file__).parent / "web" / "dist"  # the map page and GraphiQL, built by `make web`


def built_page(page: Path) -> Response:
    """A page of the web/ build, or, without a build, a 404 that says how to make one."""
    if not page.is_file():
        return error_response(ErrorCode.NOT_FOUND, "The web pages are not built: run `make web`.")
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, settings: Settings, engine: Engine, nodes: Nodes) -> None:
        super().__init__(build_schema(settings), allowed_origins=settings.cors_origins,
                         graphql_ide="graphiql", multipart_uploads_enabled=True)
        self.settings = settings
        self.store = make_store(settings)
        self.hub = EventHub(engine)
        self.engine = engine
        self.nodes = nodes
        self.limits = SubmissionLimits(rate_limit_store(settings, engine),
                                       settings.submissions_per_minute_per_client,
                                       settings.submissions_per_minute_per_token)

    async def get_context(self, request: Request | WebSocket, response: object) -> Context:
        context = Context(self.settings, self.engine, self.limits, self.store, self.hub,
                          request, nodes=self.nodes)
        if isinstance(request, Request):
            await self._sign_in(context, request.headers.get("authorization"))
            if isinstance(response, Response):
                context.response = response
            context.read_after = await self.nodes.read_after(request)
            if self.nodes.replicas:
                context.replica = (await self.nodes.reader(context.read_after)).engine
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
        """Set the caller from an 'Authorization: Bearer …' value; remember why it failed (a
        token that does not verify, or a database that could not tell)."""
        if not header:
            return
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            context.auth_error = PhananhError(
                ErrorCode.UNAUTHENTICATED, "the Authorization header must be 'Bearer <token>'.")
            return
        try:
            context.principal = await read(self.engine, authenticate, token=token.strip(),
                                           secret=self.settings.token_secret)
        except PhananhError as error:
            context.auth_error = error

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """A retryable failure (the database down, busy or too slow) is HTTP 503 with
        ``Retry-After``, GraphQL included: proxies, load balancers and clients' retry logic
        read the status, not the body."""
        delays = [error["extensions"].get("retryAfter", 1) for result in
                  (response_data if isinstance(response_data, list) else [response_data])
                  for error in result.get("errors") or []
                  if (error.get("extensions") or {}).get("code") in RETRYABLE]
        if delays:
            sub_response.status_code = 503
            sub_response.headers.update(retry_headers(max(delays)))
        return super().create_response(response_data, sub_response)

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
    engine = answering_as(engine, settings) if engine else service_engine(settings)
    tiles = tile_engine(engine.url, settings)
    nodes = Nodes(settings, engine, tiles, tile_engine,
                  secret=lambda conn: signing_secret(conn, settings.token_secret))
    graphql = GraphQLApp(settings, engine, nodes)

    async def healthz(request: Request) -> Response:
        """Whether the database answers, asked on a connection of its own: never queued behind
        a busy pool, and bounded by PHANANH_HEALTH_TIMEOUT_MS even when the database hangs.
        With replicas, each node and its lag too ("degraded" while a replica is out)."""
        timeout_s = settings.health_timeout_ms / 1000
        answered = False
        with anyio.move_on_after(timeout_s):
            answered = await anyio.to_thread.run_sync(database_answers, engine.url, timeout_s,
                                                      abandon_on_cancel=True)
        if not answered:
            return error_response(ErrorCode.SERVICE_UNAVAILABLE, "The database does not answer.",
                                  status="unavailable", database=False,
                                  retryAfter=settings.retry_after_s)
        if not nodes.replicas:
            return JSONResponse({"status": "ok", "database": True})
        with anyio.move_on_after(timeout_s):
            await anyio.to_thread.run_sync(nodes.check, abandon_on_cancel=True)
        serving = all(nodes.in_service(node) for node in nodes.replicas)
        return JSONResponse({"status": "ok" if serving else "degraded", "database": True,
                             "nodes": nodes.health()})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # garbage collector, whose full passes over it otherwise stall requests for ~100 ms.
        gc.freeze()
        yield
        await graphql.limits.store.close()
        graphql.hub.stop()
        engine.dispose()
        tiles.dispose()
        nodes.dispose()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            *layer_routes(settings, nodes),
            *Open311(settings, engine, graphql.limits).routes(),
            *media_routes(settings, engine, graphql.store),
            *notify_routes(engine),
            *map_routes(),
        ],
        middleware=[
            Middleware(TrustedProxies, networks=settings.trusted_proxies),
            Middleware(CancelOnDisconnect),
            Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       multipart_max_bytes=settings.max_body_bytes
                       + settings.photo_max_bytes * settings.photos_per_complaint),
            Middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                       allow_methods=["GET", "POST"], allow_headers=["*"]),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
