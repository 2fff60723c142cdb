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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import Connection, Engine
from starlette.requests import HTTPConnection

from auth.principal import Principal
from auth.rate_limit import SubmissionLimits
from db import areas, complaints, triage
from db import workflow as workflow_sql
from db.engine import read
from settings import Settings


class Loaders:
    """Every relation a GraphQL type follows, batched into one query per request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.area = DataLoader(self._batch(areas.areas_by_ids, key="id"))
        self.generation = DataLoader(self._batch(areas.generations_by_ids, key="id"))
        self.category = DataLoader(self._batch(areas.categories_by_codes, key="code"))
        self.events = DataLoader(self._events)
        self.supporters = DataLoader(self._grouped(workflow_sql.supporters_of))
        self._geometry_loaders: dict[float | None, DataLoader] = {}
        self._duplicate_loaders: dict[int, DataLoader] = {}
        self._complaint_loader: DataLoader | None = None

    def area_geometry(self, simplify_m: float | None) -> DataLoader:
        """GeoJSON of areas; one loader per tolerance, so areas asked at the same tolerance
        share one query."""
        if simplify_m not in self._geometry_loaders:
            def fetch(conn: Connection, ids: list[int]) -> list[Any]:
                return areas.area_geometries(conn, ids, simplify_m)

            self._geometry_loaders[simplify_m] = DataLoader(
                self._batch(fetch, key="id", value=lambda row: row.geojson))
        return self._geometry_loaders[simplify_m]

    def duplicates(self, first: int) -> DataLoader:
        """Possible duplicates of complaints (by id), best first; one query per page."""
        if first not in self._duplicate_loaders:
            async def batch(ids: Sequence[int]) -> list[list[Any]]:
                rows = await read(self.engine, triage.duplicate_candidates,
                                  complaint_ids=list(ids), first=first)
                found: dict[int, list[Any]] = defaultdict(list)
                for row in rows:
                    found[row.complaint_id].append(row)
                return [found[i] for i in ids]

            self._duplicate_loaders[first] = DataLoader(batch)
        return self._duplicate_loaders[first]

    def complaint(self, viewer: Principal | None) -> DataLoader:
        """Complaints by public id as ``viewer`` may see them (one viewer per request)."""
        if self._complaint_loader is None:
            def fetch(conn: Connection, ids: list[str]) -> list[Any]:
                return complaints.fetch_by_public_ids(conn, ids, viewer)

            self._complaint_loader = DataLoader(self._batch(fetch, key="public_id"))
        return self._complaint_loader

    async def _events(self, complaint_ids: Sequence[int]) -> list[list[Any]]:
        """Each complaint's history, oldest first; one query for the whole page."""
        return await self._grouped(workflow_sql.events_for)(complaint_ids)

    def _grouped(self, fetch: Callable[..., Sequence[Any]]
                 ) -> Callable[[Sequence[int]], Any]:
        """A batch function of rows per complaint (``fetch(conn, complaint_ids=…)``)."""
        async def batch(complaint_ids: Sequence[int]) -> list[list[Any]]:
            found: dict[int, list[Any]] = defaultdict(list)
            rows = await read(self.engine, fetch, complaint_ids=list(complaint_ids))
            for row in rows:
                found[row.complaint_id].append(row)
            return [found[i] for i in complaint_ids]

        return batch

    def _batch(
        self,
        fetch: Callable[[Connection, list[Any]], Sequence[Any]],
        key: str,
        value: Callable[[Any], Any] = lambda row: row,
    ) -> Callable[[Sequence[Any]], Any]:
        """A batch function: one query for all keys, the rows (or ``value`` of each) in key
        order, None where a key matched nothing."""

        async def batch(keys: Sequence[Any]) -> list[Any]:
            found = await read(self.engine, lambda conn: fetch(conn, list(keys)))
            rows = {getattr(row, key): row for row in found}
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
        """The caller's address, for rate limits (X-Forwarded-For only behind a trusted proxy)."""
        if self.request is None:
            return "unknown"
        forwarded = self.request.headers.get("x-forwarded-for")
        if forwarded and self.settings.trust_forwarded_for:
            return forwarded.split(",")[0].strip()
        return self.request.client.host if self.request.client else "unknown"
