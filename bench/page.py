"""A page of 100 complaints, in process: GraphQL against the raw SQL that builds the same JSON.

``python -m bench page [--pages N] [--complaints N]``, on the load benchmark's database. The
page goes through the whole ASGI app (middleware, strawberry, the resolvers, the database) but
no socket, so the figure is the API's own cost. Three jobs take turns, page after page: the raw
SQL, GraphQL with the service's executor (lists completed by compiled plans,
``schema/execution.py``) and GraphQL with strawberry's own executor (the same app, its executor
switched for that request). Both GraphQL answers are checked equal, and their page checked
against the raw SQL's, before timing.
"""

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any

import httpx2
import orjson
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app import create_app
from bench.common import bench_settings, ensure_demo_data, print_table
from bench.jurisdiction import GRAPHQL_PAGE, RAW_PAGE
from bench.load import COMPLAINTS, MARKER
from db.engine import make_engine


def graphql_schema(app: Any) -> Any:
    """The strawberry schema that serves ``/graphql`` in ``app``."""
    return next(route.app.schema for route in app.routes
                if getattr(route, "path", None) == "/graphql"
                and hasattr(getattr(route, "app", None), "schema"))


async def measure(pages: int, complaints: int) -> dict[str, list[float]]:
    settings = bench_settings("load")
    engine = make_engine(settings.sqlalchemy_url)
    ensure_demo_data(engine, complaints, besides=MARKER)
    app = create_app(settings)
    schema = graphql_schema(app)
    executors = {"compiled": schema.execution_context_class,
                 "strawberry": StrawberryGraphQLCoreExecutionContext}
    body = orjson.dumps({"query": GRAPHQL_PAGE})
    times: dict[str, list[float]] = {"raw": [], "compiled": [], "strawberry": []}
    async with app.router.lifespan_context(app), httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app), base_url="http://bench",
            headers={"content-type": "application/json"}) as client:
        async def page(executor: str) -> bytes:
            schema.execution_context_class = executors[executor]
            response = await client.post("/graphql", content=body)
            response.raise_for_status()
            return response.content

        with engine.connect() as conn:
            answers = {name: await page(name) for name in executors}
            assert answers["compiled"] == answers["strawberry"], "executors disagree"
            edges = orjson.loads(answers["compiled"])["data"]["complaints"]["edges"]
            assert [e["node"]["id"] for e in edges] == \
                [c["id"] for c in conn.execute(RAW_PAGE).scalar_one()], "pages disagree"
            for round_ in range(pages + 3):  # three rounds of warm-up
                for name in times:
                    start = time.perf_counter()
                    if name == "raw":
                        conn.execute(RAW_PAGE).scalar_one()
                    else:
                        await page(name)
                    if round_ >= 3:
                        times[name].append(time.perf_counter() - start)
        schema.execution_context_class = executors["compiled"]
    engine.dispose()
    return times


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench page", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=40, help="pages per job (default 40)")
    parser.add_argument("--complaints", type=int, default=COMPLAINTS,
                        help=f"complaints in the benchmark database (default {COMPLAINTS:,})")
    options = parser.parse_args(list(argv))
    times = asyncio.run(measure(options.pages, options.complaints))
    raw = statistics.median(times["raw"])
    labels = {"raw": "raw SQL building the JSON (baseline)",
              "compiled": "GraphQL, the service's executor (compiled plans)",
              "strawberry": "GraphQL, strawberry's own executor"}
    print_table(f"One page of 100 complaints with ward, district, category, in process "
                f"({options.pages} pages each, taking turns)",
                ["job", "median ms", "p95 ms", "× raw SQL"],
                [[labels[name], 1000 * statistics.median(samples),
                  1000 * sorted(samples)[round(0.95 * (len(samples) - 1))],
                  statistics.median(samples) / raw] for name, samples in times.items()])
