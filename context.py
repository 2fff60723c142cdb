"""The request context: settings, the engine, the caller, and fresh DataLoaders.

It sits on the bottom floor, beside ``settings`` and ``errors``: it imports only ``auth``,
``db``, ``errors``, ``geo`` and ``settings``, so the GraphQL types (``schema/``) and the
resolvers above them can both name it without an import circle. That is why the loaders return
database rows (and plain values such as GeoJSON), and the schema types turn rows into GraphQL
objects themselves.

A context lives one request; so do its loaders' caches, so nobody ever sees another request's
data. Whatever differs between requests (the caller, why a token was refused or could not be
checked) is kept here, never on objects shared by every request, such as the schema's
permission instances.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import Connection, Engine
from starlette.requests import HTTPConnection
from starlette.responses import Response

from auth.principal import Principal, Role
from auth.rate_limit import SubmissionLimits, client_address
from db import areas, catalogue, complaints, photos, triage
from db import workflow as workflow_sql
from db.engine import read
from db.nodes import Nodes
from errors import PhananhError
from geo import footprints
from geo.validation import check_simplify
from media.storage import Store
from notify.live import EventHub
from settings import Settings


@dataclass(frozen=True)
class Relations:
    """Areas and categories fetched for a page (:meth:`Loaders.fetch_relations`)."""

    area_ids: list[int]
    category_codes: list[str]
    areas: Sequence[Any]
    categories: Sequence[Any]


class Loaders:
    """Every relation a GraphQL type follows, batched into one query per request. Each loader
    is made when a request first follows its relation (making all of them for every request
    was 5 % of a worker's CPU under load)."""

    def __init__(self, engine: Callable[[], Engine]) -> None:
        self._engine = engine  # asked at each batch: a write in the request moves reads
        # Rows loaded so far, by key: a field whose row is here answers at once, without the
        # awaitable a DataLoader hands out even for a cached key (on a page of 100, those 300
        # awaitables took about a quarter of the page's time; docs/benchmarks.md, Load).
        self.areas_loaded: dict[int, Any] = {}
        self.categories_loaded: dict[str, Any] = {}
        self._geometry_loaders: dict[float | None, DataLoader] = {}
        self._duplicate_loaders: dict[int, DataLoader] = {}
        self._complaint_loader: DataLoader | None = None

    @cached_property
    def area(self) -> DataLoader:
        return DataLoader(self._batch(areas.areas_by_ids, key="id", keep=self.areas_loaded))

    @cached_property
    def generation(self) -> DataLoader:
        return DataLoader(self._batch(areas.generations_by_ids, key="id"))

    @cached_property
    def category(self) -> DataLoader:
        return DataLoader(self._batch(areas.categories_by_codes, key="code",
                                      keep=self.categories_loaded))

    @cached_property
    def events(self) -> DataLoader:
        """Each complaint's history, oldest first; one query for the whole page."""
        return DataLoader(self._grouped(workflow_sql.events_for))

    @cached_property
    def agency(self) -> DataLoader:
        return DataLoader(self._batch(catalogue.agencies_by_codes, key="code"))

    @cached_property
    def rule(self) -> DataLoader:
        return DataLoader(self._batch(catalogue.rules_by_ids, key="id"))

    @cached_property
    def attributes(self) -> DataLoader:
        return DataLoader(self._grouped(catalogue.attributes_by_categories,
                                        key="category_code"))

    @cached_property
    def agency_areas(self) -> DataLoader:
        return DataLoader(self._grouped(catalogue.agency_areas, key="agency_code"))

    @cached_property
    def ward_shares(self) -> DataLoader:
        return DataLoader(self._grouped(footprints.complaint_ward_shares))

    @cached_property
    def candidates(self) -> DataLoader:
        """Keys (lon, lat, within_m, at): border candidates of points, one query per distance
        and date asked in a request."""
        return DataLoader(self._candidates)

    @cached_property
    def photos(self) -> DataLoader:
        return DataLoader(self._grouped(photos.photos_for))

    @cached_property
    def supporters(self) -> DataLoader:
        return DataLoader(self._grouped(workflow_sql.supporters_of))

    def area_geometry(self, simplify_m: float | None) -> DataLoader:
        """GeoJSON of areas; one loader per tolerance, so areas asked at the same tolerance
        share one query; BAD_INPUT for a tolerance outside 0–10,000 m."""
        check_simplify(simplify_m)
        if simplify_m not in self._geometry_loaders:
            def fetch(conn: Connection, ids: list[int]) -> list[Any]:
                return areas.area_geometries(conn, ids, simplify_m)

            self._geometry_loaders[simplify_m] = DataLoader(
                self._batch(fetch, key="id", value=lambda row: row.geojson))
        return self._geometry_loaders[simplify_m]

    def fetch_relations(self, conn: Connection, area_ids: Iterable[int | None] = (),
                        category_codes: Iterable[str] = ()) -> "Relations":
        """The areas and categories among these that are not loaded yet, one query each, on
        ``conn``: a page fetches them with its rows, in the same thread hop and on the same
        connection; then :meth:`remember` them."""
        ids = sorted({i for i in area_ids if i is not None} - self.areas_loaded.keys())
        codes = sorted(set(category_codes) - self.categories_loaded.keys())
        return Relations(ids, codes, areas.areas_by_ids(conn, ids) if ids else [],
                         areas.categories_by_codes(conn, codes) if codes else [])

    def relations_of(self, conn: Connection, rows: Sequence[Any], levels: Sequence[str],
                     with_category: bool) -> "Relations":
        """:meth:`fetch_relations` for complaints' ``rows``: their areas of ``levels``
        (ward, district, city) and, ``with_category``, their categories."""
        return self.fetch_relations(
            conn, (getattr(row, f"{level}_id") for row in rows for level in levels),
            (row.category_code for row in rows) if with_category else ())

    def remember(self, found: "Relations") -> None:
        """Keep fetched relations, so that the fields of a page that follow them answer from
        :attr:`areas_loaded` and :attr:`categories_loaded`; the loaders are primed with
        them too."""
        for loader, keep, keys, rows, key in (
                (self.area, self.areas_loaded, found.area_ids, found.areas, "id"),
                (self.category, self.categories_loaded, found.category_codes,
                 found.categories, "code")):
            keep.update((getattr(row, key), row) for row in rows)
            for k in keys:
                loader.prime(k, keep.get(k))

    def duplicates(self, first: int) -> DataLoader:
        """Possible duplicates of complaints (by id), best first; one query per page."""
        if first not in self._duplicate_loaders:
            async def batch(ids: Sequence[int]) -> list[list[Any]]:
                rows = await read(self._engine(), triage.duplicate_candidates,
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

    async def _candidates(self, keys: Sequence[tuple[float, float, float, Any]]
                          ) -> list[list[footprints.Candidate]]:
        groups: dict[tuple[float, Any], list[int]] = defaultdict(list)
        for index, (_, _, within_m, at) in enumerate(keys):
            groups[(within_m, at)].append(index)
        found: list[list[footprints.Candidate]] = [[] for _ in keys]
        for (within_m, at), indexes in groups.items():
            points = [(keys[i][0], keys[i][1]) for i in indexes]
            answers = await read(self._engine(), footprints.point_candidates, points=points,
                                 within_m=within_m, at=at)
            for index, answer in zip(indexes, answers, strict=True):
                found[index] = answer
        return found

    def _grouped(self, fetch: Callable[[Connection, list[Any]], Sequence[Any]],
                 key: str = "complaint_id") -> Callable[[Sequence[Any]], Any]:
        """A batch function for one-to-many relations (by default, rows per complaint): each
        key's rows, in query order."""

        async def batch(keys: Sequence[Any]) -> list[list[Any]]:
            grouped: dict[Any, list[Any]] = defaultdict(list)
            for row in await read(self._engine(), lambda conn: fetch(conn, list(keys))):
                grouped[getattr(row, key)].append(row)
            return [grouped[k] for k in keys]

        return batch

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
            found = await read(self._engine(), lambda conn: fetch(conn, list(keys)))
            rows = {getattr(row, key): row for row in found}
            if keep is not None:
                keep.update(rows)
            return [value(rows[k]) if k in rows else None for k in keys]

        return batch


@dataclass
class Context:
    settings: Settings
    engine: Engine  # the primary: writes, workflow locks, officials' reads
    limits: SubmissionLimits
    store: Store
    hub: EventHub
    request: HTTPConnection | None = None
    principal: Principal | None = None
    auth_error: PhananhError | None = None  # why a presented token was not accepted
    connection_params: dict[str, Any] | None = None  # WebSocket connection_init payload
    nodes: Nodes | None = None
    replica: Engine | None = None  # the node chosen for reads that may be a moment old
    read_after: int | None = None  # the WAL position of the caller's last write, if handed
    response: Response | None = None  # strawberry's sub-response, for the read-after cookie
    wrote: bool = False
    # Whether the executor puts prebuilt answers in the response (schema/execution.py,
    # SplicingExecutor): then a page of plain fields is built by one statement.
    takes_prebuilt: bool = False
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(lambda: self.reader)

    @property
    def analytics_reader(self) -> Engine:
        """Analytics: from the replica chosen for this request (db/nodes.py), until the
        request writes."""
        return self.replica if self.replica is not None and not self.wrote else self.engine

    @property
    def reader(self) -> Engine:
        """Listings, lookups and relations: the replica for anonymous callers and analysts;
        officials and citizens read the primary, as their reads lead to their actions."""
        public = self.principal is None or self.principal.role is Role.ANALYST
        return self.analytics_reader if public else self.engine

    async def written(self) -> None:
        """After a write committed: the rest of the request reads the primary, and the caller
        gets the write's WAL position, so their next requests read it back."""
        self.wrote = True
        if self.nodes is not None:
            await self.nodes.remember_write(self.response)

    @property
    def client_address(self) -> str:
        """The caller's address, for rate limits (``auth.rate_limit.client_address``)."""
        return client_address(self.request)
