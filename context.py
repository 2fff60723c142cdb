"""The request context: settings, the engine, the caller, and fresh DataLoaders.

It sits on the bottom floor, beside ``settings`` and ``errors``: it imports only ``auth``,
``db`` and ``settings``, so the GraphQL types (``schema/``) and the resolvers above them can
both name it without an import circle. That is why the loaders return database rows (and plain
values such as GeoJSON), and the schema types turn rows into GraphQL objects themselves.

A context lives one request; so do its loaders' caches, so nobody ever sees another request's
data. Whatever differs between requests (the caller, why a token was refused) is kept here,
never on objects shared by every request, such as the schema's permission instances.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import Connection, Engine
from starlette.requests import HTTPConnection

from auth.principal import Principal
from auth.rate_limit import SubmissionLimits
from db import areas
from db import workflow as workflow_sql
from db.engine import read
from settings import Settings


class Loaders:
    """Every relation a GraphQL type follows, batched into one query per request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Rows loaded so far, by key: a field whose row is here answers at once, without the
        # awaitable a DataLoader hands out even for a cached key (on a page of 100, those 300
        # awaitables took about a quarter of the page's time; docs/benchmarks.md, Load).
        self.areas_loaded: dict[int, Any] = {}
        self.categories_loaded: dict[str, Any] = {}
        self.area = DataLoader(self._batch(areas.areas_by_ids, key="id",
                                           keep=self.areas_loaded))
        self.generation = DataLoader(self._batch(areas.generations_by_ids, key="id"))
        self.category = DataLoader(self._batch(areas.categories_by_codes, key="code",
                                               keep=self.categories_loaded))
        self.events = DataLoader(self._events)
        self._geometry_loaders: dict[float | None, DataLoader] = {}

    def area_geometry(self, simplify_m: float | None) -> DataLoader:
        """GeoJSON of areas; one loader per tolerance, so areas asked at the same tolerance
        share one query."""
        if simplify_m not in self._geometry_loaders:
            def fetch(conn: Connection, ids: list[int]) -> list[Any]:
                return areas.area_geometries(conn, ids, simplify_m)

            self._geometry_loaders[simplify_m] = DataLoader(
                self._batch(fetch, key="id", value=lambda row: row.geojson))
        return self._geometry_loaders[simplify_m]

    async def prefetch(self, area_ids: Iterable[int | None] = (),
                       category_codes: Iterable[str] = ()) -> None:
        """Load these areas and categories now, on one connection (one query each), so that
        the fields of a page that follow them answer from :attr:`areas_loaded` and
        :attr:`categories_loaded`; the loaders are primed with them too."""
        ids = sorted({i for i in area_ids if i is not None} - self.areas_loaded.keys())
        codes = sorted(set(category_codes) - self.categories_loaded.keys())
        if not ids and not codes:
            return

        def fetch(conn: Connection) -> tuple[Sequence[Any], Sequence[Any]]:
            return (areas.areas_by_ids(conn, ids) if ids else [],
                    areas.categories_by_codes(conn, codes) if codes else [])

        found_areas, found_categories = await read(self.engine, fetch)
        for loader, keep, keys, rows, key in (
                (self.area, self.areas_loaded, ids, found_areas, "id"),
                (self.category, self.categories_loaded, codes, found_categories, "code")):
            keep.update((getattr(row, key), row) for row in rows)
            for k in keys:
                loader.prime(k, keep.get(k))

    async def _events(self, complaint_ids: Sequence[int]) -> list[list[Any]]:
        """Each complaint's history, oldest first; one query for the whole page."""
        history: dict[int, list[Any]] = defaultdict(list)
        rows = await read(self.engine, workflow_sql.events_for, complaint_ids=list(complaint_ids))
        for row in rows:
            history[row.complaint_id].append(row)
        return [history[i] for i in complaint_ids]

    def _batch(
        self,
        fetch: Callable[[Connection, list[Any]], Sequence[Any]],
        key: str,
        value: Callable[[Any], Any] = lambda row: row,
        keep: dict[Any, Any] | None = None,
    ) -> Callable[[Sequence[Any]], Any]:
        """A batch function: one query for all keys, the rows (or ``value`` of each) in key
        order, None where a key matched nothing; the rows found also go into ``keep``."""

        async def batch(keys: Sequence[Any]) -> list[Any]:
            found = await read(self.engine, lambda conn: fetch(conn, list(keys)))
            rows = {getattr(row, key): row for row in found}
            if keep is not None:
                keep.update(rows)
            return [value(rows[k]) if k in rows else None for k in keys]

        return batch


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
        """The caller's address, for rate limits: the TCP peer, or the client a trusted proxy
        names (``middleware.TrustedProxies``)."""
        if self.request is None or self.request.client is None:
            return "unknown"
        return self.request.client.host
