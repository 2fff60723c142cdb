"""HTTP for the layers: vector tiles, TileJSON, OGC API – Features and exports.

Failures are raised as :class:`PhananhError`; the application's error handlers (``errors.py``)
answer them in the one HTTP error shape (400 for bad input, 404 for unknown layers or features,
503 with Retry-After when the database is down, busy or too slow, 500 with no detail for
anything unexpected). Every request reads from the node that ``db/nodes.py`` chooses: a replica
in service that has the caller's last write, else the primary; its database work runs through
``db.engine.in_thread``, bounded by its kind's time limits. Tiles and TileJSON carry a strong
ETag derived from the layer's data version and answer ``If-None-Match`` with 304; encoded tiles
are also kept in an in-process LRU keyed by that ETag. A tile costs one statement: it reads the
data version and makes the tile only when the data changed since the version answered from.
"""

import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from sqlalchemy import Engine
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from db.engine import Work, in_thread, read, retrying
from db.nodes import Node, Nodes
from errors import ErrorCode, PhananhError, quoted
from layers import ogc
from layers.export import get_format, write_gpkg
from layers.features import count, extent, features_select, page_select
from layers.model import Layer
from layers.query import LayerQuery
from layers.registry import LAYERS, get_layer
from layers.tiles import Tile, parse_tile, render_tile, tilejson
from layers.versions import Lru, data_version, dated, matches, snapshot, strong_etag, today
from settings import Settings

MVT = "application/vnd.mapbox-vector-tile"
ITEM_PARAMETERS = ("limit", "after", "f")


def layer_routes(settings: Settings, nodes: Nodes) -> list[BaseRoute]:
    """The layers' routes; tiles use each node's own pool (:func:`layers.tiles.tile_engine`)."""
    layers = LayerService(settings, nodes)
    routes = {
        "/tiles/{layer}/{z}/{x}/{y}.mvt": layers.tile,
        "/tiles/{name}": layers.tilejson,
        "/export/{name}": layers.export,
        "/ogc": layers.landing,
        "/ogc/api": layers.api,
        "/ogc/conformance": layers.conformance,
        "/ogc/collections": layers.collections,
        "/ogc/collections/{layer}": layers.collection,
        "/ogc/collections/{layer}/queryables": layers.queryables,
        "/ogc/collections/{layer}/items": layers.items,
        "/ogc/collections/{layer}/items/{fid}": layers.item,
    }
    return [Route(path, endpoint, methods=["GET"]) for path, endpoint in routes.items()]


class LayerService:
    def __init__(self, settings: Settings, nodes: Nodes) -> None:
        self.settings = settings
        self.nodes = nodes
        # The newest data version seen per set of tables, so that a tile's statement can skip
        # making the tile when the data has not changed since.
        self.newest: dict[tuple[str, ...], str | None] = {}
        self.tiles: Lru[bytes] = Lru(settings.tile_cache_bytes, weigh=len)
        self.facts: Lru[Any] = Lru(4096)  # counts and extents, keyed by data version

    # Vector tiles ------------------------------------------------------------------------

    async def tile(self, request: Request) -> Response:
        layer = get_layer(request.path_params["layer"])
        tile = parse_tile(*(request.path_params[k] for k in ("z", "x", "y")))
        query = layer.parse(request.query_params.multi_items())
        node = await self._node(request)
        etag, body = await in_thread(node.tile_engine, Work.TILE, self._tile, node.tile_engine,
                                     layer, tile, query, request.headers.get("if-none-match"))
        headers = self._cache_headers(etag)
        if body is None:
            return Response(status_code=304, headers=headers)
        if not body:
            return Response(status_code=204, headers=headers)
        return Response(body, media_type=MVT, headers=headers)

    def _tile(self, engine: Engine, layer: Layer, tile: Tile, query: LayerQuery,
              if_none_match: str | None) -> tuple[str, bytes | None]:
        """(ETag, body): None for "not modified"; else the cached body or one rendered now,
        cached under the ETag of the snapshot it was made from.

        One statement, one round trip, whatever the answer: it reads the data version and
        makes the tile only when the version is not the one we can already answer at (the
        newest seen, if the client or the cache holds this tile at it)."""
        day = today()  # one date for the whole answer, even across midnight

        def etag_at(version: str | None) -> str:
            return strong_etag("tile", layer.id, dated(version, day), tile, query.key,
                               self.settings.tile_feature_cap)

        known, answer = self._known_answer(layer, etag_at, if_none_match)
        version, body = retrying(engine, render_tile, work=Work.TILE, layer=layer, tile=tile,
                                 query=query, cap=self.settings.tile_feature_cap, known=known)
        self.newest[layer.tables] = version
        etag = etag_at(version)
        if body is None:  # still at `known`
            return etag, answer
        self.tiles.put(etag, body)
        return etag, None if matches(if_none_match, etag) else body

    def _known_answer(self, layer: Layer, etag_at: Callable[[str | None], str],
                      if_none_match: str | None) -> tuple[str | None, bytes | None]:
        """(version, answer) if this tile can be answered without making it while the data is
        still at ``version``, the newest seen: None for "not modified", or the cached bytes.
        (None, None) otherwise."""
        newest = self.newest.get(layer.tables)
        if newest is None:
            return None, None
        etag = etag_at(newest)
        if matches(if_none_match, etag):
            return newest, None
        body = self.tiles.get(etag)
        return (newest, body) if body is not None else (None, None)

    async def tilejson(self, request: Request) -> Response:
        layer = get_layer(_strip_suffix(request.path_params["name"], ".json"))
        params = request.query_params.multi_items()
        layer.parse(params)  # refuse bad filters here rather than on every tile
        node = await self._node(request)
        version = await read(node.engine, data_version, tables=layer.tables)
        base = str(request.base_url).rstrip("/")
        etag = strong_etag("tilejson", layer.id, version, base, params)
        if matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=self._cache_headers(etag))
        bounds = (await self._extents(node, [layer]))[layer.id]["bbox"]
        url = f"{base}/tiles/{layer.id}/{{z}}/{{x}}/{{y}}.mvt"
        if params:
            url += "?" + urlencode(params)
        return JSONResponse(tilejson(layer, url, bounds), headers=self._cache_headers(etag))

    def _cache_headers(self, etag: str) -> dict[str, str]:
        return {"ETag": etag, "Cache-Control": f"public, max-age={self.settings.tile_max_age}"}

    # Exports -----------------------------------------------------------------------------

    async def export(self, request: Request) -> Response:
        """The layer as a file. Nothing is sent before the database has started answering (its
        query runs before the first chunk), so a failure then is an error answer; a failure
        midway aborts the transfer (no last chunk: the file is visibly cut, never silently
        short)."""
        name = request.path_params["name"]
        layer_id, _, extension = name.rpartition(".")
        layer = get_layer(layer_id or name)
        export_format = get_format(extension)
        query = layer.parse(request.query_params.multi_items())
        headers = {"Content-Disposition": f'attachment; filename="{layer.id}.{extension}"'}
        engine = (await self._node(request)).engine
        if export_format.chunks is None:
            folder = Path(tempfile.mkdtemp(prefix="phananh-export-"))
            path = folder / f"{layer.id}.gpkg"
            await in_thread(engine, Work.EXPORT, _write_gpkg, engine, layer, query, path)
            return FileResponse(path, media_type=export_format.media_type, headers=headers,
                                background=BackgroundTask(shutil.rmtree, folder, True))
        chunks = export_format.chunks

        def produce() -> Iterator[bytes]:
            with snapshot(engine, Work.EXPORT) as conn:
                yield from chunks(conn, layer, query, _ignore)

        stream = produce()
        first = await in_thread(engine, Work.EXPORT, next, stream, b"")
        return StreamingResponse(_in_threads(engine, stream, first),
                                 media_type=export_format.media_type, headers=headers)

    # OGC API – Features ------------------------------------------------------------------

    async def landing(self, request: Request) -> Response:
        return JSONResponse(ogc.landing(_ogc_base(request)))

    async def api(self, request: Request) -> Response:
        document = ogc.openapi(_ogc_base(request), LAYERS.values(), self.settings)
        return JSONResponse(document, media_type=ogc.OPENAPI_JSON)

    async def conformance(self, request: Request) -> Response:
        return JSONResponse(ogc.conformance())

    async def collections(self, request: Request) -> Response:
        extents = await self._extents(await self._node(request), list(LAYERS.values()))
        return JSONResponse(ogc.collections(LAYERS.values(), _ogc_base(request), extents))

    async def collection(self, request: Request) -> Response:
        layer = get_layer(request.path_params["layer"])
        extents = await self._extents(await self._node(request), [layer])
        return JSONResponse(ogc.collection(layer, _ogc_base(request), extents[layer.id]))

    async def queryables(self, request: Request) -> Response:
        layer = get_layer(request.path_params["layer"])
        return JSONResponse(ogc.queryables(layer, _ogc_base(request)),
                            media_type=ogc.SCHEMA_JSON)

    async def items(self, request: Request) -> Response:
        layer = get_layer(request.path_params["layer"])
        params = request.query_params.multi_items()
        query = layer.parse(params, extra=ITEM_PARAMETERS)
        options = dict(params)
        _check_json(options.get("f"))
        limit = self._limit(options.get("limit"))
        after = options.get("after")
        engine = (await self._node(request)).engine

        def page() -> tuple[int, list[Any]]:
            with snapshot(engine) as conn:
                key = strong_etag("count", layer.id, data_version(conn, layer.tables), query.key)
                matched = self.facts.through(key, lambda: count(conn, layer, query))
                return matched, list(conn.execute(page_select(conn, layer, query, after,
                                                              limit)))

        matched, rows = await in_thread(engine, Work.READ, page)
        next_after = rows[limit - 1].fid if len(rows) > limit else None
        body = ogc.items_page(layer, _ogc_base(request), params,
                              [row.feature for row in rows[:limit]], matched, next_after)
        return Response(body, media_type=ogc.GEOJSON)

    async def item(self, request: Request) -> Response:
        layer = get_layer(request.path_params["layer"])
        fid = request.path_params["fid"]
        _check_json(request.query_params.get("f"))
        engine = (await self._node(request)).engine

        def find() -> Any:
            with snapshot(engine) as conn:
                return conn.execute(features_select(conn, layer, LayerQuery(), fid)).first()

        row = await in_thread(engine, Work.READ, find)
        if row is None:
            raise PhananhError(ErrorCode.NOT_FOUND, f"No feature {quoted(fid)} in {layer.id}.",
                               featureId=fid)
        base = _ogc_base(request)
        feature = json.loads(row.feature)
        feature["links"] = [
            ogc.link(str(request.url), "self", ogc.GEOJSON, "This feature"),
            ogc.link(f"{base}/collections/{layer.id}", "collection", ogc.JSON, "The collection"),
        ]
        return JSONResponse(feature, media_type=ogc.GEOJSON)

    def _limit(self, text: str | None) -> int:
        if text is None:
            return self.settings.ogc_default_limit
        if not text.isdigit() or int(text) < 1:
            raise PhananhError(ErrorCode.BAD_INPUT, "limit must be a positive integer.",
                               parameter="limit")
        if int(text) > self.settings.ogc_max_limit:
            raise PhananhError(ErrorCode.PAGE_TOO_LARGE,
                               f"limit is at most {self.settings.ogc_max_limit}; follow the "
                               f"`next` links for more.", maxLimit=self.settings.ogc_max_limit)
        return int(text)

    async def _node(self, request: Request) -> Node:
        return await self.nodes.reader(await self.nodes.read_after(request))

    async def _extents(self, node: Node, layers: list[Layer]) -> dict[str, dict[str, Any]]:
        def compute() -> dict[str, dict[str, Any]]:
            with snapshot(node.engine) as conn:
                found = {}
                for layer in layers:
                    key = strong_etag("extent", layer.id, data_version(conn, layer.tables))
                    found[layer.id] = self.facts.through(key, lambda one=layer: extent(conn, one))
                return found

        return await in_thread(node.engine, Work.READ, compute)


async def _in_threads(engine: Engine, chunks: Generator[bytes, None, None],
                      first: bytes = b"") -> AsyncIterator[bytes]:
    """``first``, then the rest of a blocking generator of an export on ``engine``, iterated in
    worker threads; close it (and its cursor) however the response ends, a disconnected client
    included."""
    done = object()
    try:
        yield first
        while (chunk := await in_thread(engine, Work.EXPORT, next, chunks, done)) is not done:
            yield chunk  # type: ignore[misc]
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(chunks.close)


def _write_gpkg(engine: Engine, layer: Layer, query: LayerQuery, path: Path) -> None:
    with snapshot(engine, Work.EXPORT) as conn:
        write_gpkg(conn, layer, query, path, _ignore)


def _check_json(requested: str | None) -> None:
    if requested not in (None, "json", "geojson"):
        raise PhananhError(ErrorCode.UNSUPPORTED_FORMAT,
                           "Only JSON is served here (f=json).", format=requested)


def _ogc_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _strip_suffix(name: str, suffix: str) -> str:
    if not name.endswith(suffix):
        raise PhananhError(ErrorCode.NOT_FOUND, f"Ask for {name}{suffix} (TileJSON).")
    return name.removesuffix(suffix)


def _ignore(rows: int) -> None:
    """No progress to report over HTTP."""
