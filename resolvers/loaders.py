"""DataLoaders: every relation a GraphQL type follows is batched into one query per request."""

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from aiodataloader import DataLoader
from sqlalchemy import Connection, Engine

from db import areas
from db import workflow as workflow_sql
from db.engine import read
from schema.types import Area, Category, Generation


class Loaders:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.area = DataLoader(self._loader(areas.areas_by_ids, lambda r: r.id, Area.from_row))
        self.generation = DataLoader(
            self._loader(areas.generations_by_ids, lambda r: r.id, Generation.from_row))
        self.category = DataLoader(
            self._loader(areas.categories_by_codes, lambda r: r.code, Category.from_row))
        self.events = DataLoader(self._events)
        self._geometry_loaders: dict[float | None, DataLoader] = {}

    def area_geometry(self, simplify_m: float | None) -> DataLoader:
        """One loader per tolerance, so areas asked at the same tolerance share one query."""
        if simplify_m not in self._geometry_loaders:
            self._geometry_loaders[simplify_m] = DataLoader(self._loader(
                lambda conn, ids: areas.area_geometries(conn, ids, simplify_m),
                lambda r: r.id, lambda r: r.geojson))
        return self._geometry_loaders[simplify_m]

    async def _events(self, complaint_ids: Sequence[int]) -> list[list[Any]]:
        """Each complaint's history, oldest first; one query for the whole page."""
        history: dict[int, list[Any]] = defaultdict(list)
        for row in await read(self.engine, workflow_sql.events_for, list(complaint_ids)):
            history[row.complaint_id].append(row)
        return [history[i] for i in complaint_ids]

    def _loader(
        self,
        fetch: Callable[[Connection, list[Any]], Sequence[Any]],
        key: Callable[[Any], Any],
        convert: Callable[[Any], Any],
    ) -> Callable[[Sequence[Any]], Any]:
        """A batch function: one query for all keys, results in key order (None if missing)."""

        async def batch(keys: Sequence[Any]) -> list[Any]:
            rows = {key(row): row for row in await read(self.engine, fetch, list(keys))}
            return [convert(rows[k]) if k in rows else None for k in keys]

        return batch
