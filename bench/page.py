"""A page of 100 complaints, in process: GraphQL against the raw SQL that builds the same JSON.

``python -m bench page [--pages N] [--complaints N]``, on the load benchmark's database. The
page goes through the whole ASGI app (middleware, strawberry, the resolvers, the database) but
no socket, so the figure is the API's own cost. Four jobs take turns, page after page: the raw
SQL; GraphQL with the service's executor (the page's JSON built by one statement,
``schema/page_json.py``); the previous path, the same app with the executor that completes
lists by compiled plans (``schema/execution.py``, ``CompiledExecutor``); and strawberry's own
executor (the executor switched for that request). The three GraphQL answers are checked equal,
and their page checked against the raw SQL's, before timing. Three phases of the service's page
take turns with them: its statement alone (through psycopg2, its SQL text compiled once),
building that statement in Python (the selection compiled, the statement kept for it found,
the page's rows added as SQLAlchemy expressions), and a request that runs no resolver
(``{ __typename }``: HTTP, strawberry, the context).
"""

import argparse
import asyncio
import inspect
import os
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import httpx2
import orjson
from graphql import parse
from graphql.execution.executor import Executor
from graphql.pyutils import Path
from sqlalchemy import Select
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app import create_app
from bench.common import bench_settings, ensure_demo_data, print_table
from bench.jurisdiction import GRAPHQL_PAGE, RAW_PAGE
from bench.load import COMPLAINTS, MARKER
from db.complaints import ComplaintFilter, Order, page_json_statement
from db.engine import make_engine
from schema.execution import CompiledExecutor
from schema.page_json import page_statement as statement
from schema.page_json import plain_page


def graphql_schema(app: Any) -> Any:
    """The strawberry schema that serves ``/graphql`` in ``app``."""
    return next(route.app.schema for route in app.routes
                if getattr(route, "path", None) == "/graphql"
                and hasattr(getattr(route, "app", None), "schema"))


def page_statement(schema: Any) -> Callable[[], Select[Any]]:
    """Building the SQL path's statement for the benchmark's page, as the resolver does (the
    selection compiled, its statement found, the page's rows added), outside a request."""
    graphql = schema._schema
    executor = Executor.build(graphql, parse(GRAPHQL_PAGE))
    info = executor.build_resolve_info(
        graphql.query_type.fields["complaints"],
        list(executor.operation.selection_set.selections), graphql.query_type,
        Path(None, "complaints", "Query"))
    info = info._replace(variable_values=info.variable_values.coerced)  # as strawberry's

    def build() -> Select[Any]:
        plain = plain_page(info)
        assert plain is not None
        return page_json_statement(statement(plain, near=False), ComplaintFilter(),
                                   Order.CREATED_AT, False)

    return build


async def measure(pages: int, complaints: int) -> dict[str, list[float]]:
    settings = bench_settings("load")
    engine = make_engine(settings.sqlalchemy_url)
    ensure_demo_data(engine, complaints, besides=MARKER)
    app = create_app(settings)
    schema = graphql_schema(app)
    executors = {"service": schema.execution_context_class, "compiled": CompiledExecutor,
                 "strawberry": StrawberryGraphQLCoreExecutionContext}
    body = orjson.dumps({"query": GRAPHQL_PAGE})
    build = page_statement(schema)
    sql = str(build().params(page_first=100, page_after=False, page_limit=101)
              .compile(engine, compile_kwargs={"literal_binds": True}))
    async with app.router.lifespan_context(app), httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app), base_url="http://bench",
            headers={"content-type": "application/json"}) as client:
        async def page(executor: str, content: bytes = body) -> bytes:
            schema.execution_context_class = executors[executor]
            response = await client.post("/graphql", content=content)
            response.raise_for_status()
            return response.content

        with engine.connect() as conn:
            answers = {name: await page(name) for name in executors}
            assert len(set(answers.values())) == 1, "executors disagree"
            edges = orjson.loads(answers["service"])["data"]["complaints"]["edges"]
            assert [e["node"]["id"] for e in edges] == \
                [c["id"] for c in conn.execute(RAW_PAGE).scalar_one()], "pages disagree"
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

            def statement_alone() -> Any:
                cursor.execute(sql)
                return cursor.fetchone()

            jobs: dict[str, Callable[[], Any]] = {
                "raw": lambda: conn.execute(RAW_PAGE).scalar_one(),
                **{name: partial(page, name) for name in executors},
                "statement": statement_alone,
                "build": build,
                "empty": partial(page, "service", orjson.dumps({"query": "{ __typename }"})),
            }
            times: dict[str, list[float]] = {name: [] for name in jobs}
            for round_ in range(pages + 3):  # three rounds of warm-up
                for name, job in jobs.items():
                    start = time.perf_counter()
                    done = job()
                    if inspect.isawaitable(done):
                        await done
                    if round_ >= 3:
                        times[name].append(time.perf_counter() - start)
        schema.execution_context_class = executors["service"]
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
              "service": "GraphQL, the service (one statement builds the page)",
              "compiled": "GraphQL, the previous path (compiled plans)",
              "strawberry": "GraphQL, strawberry's own executor",
              "statement": "  phase: the service's statement alone (psycopg2)",
              "build": "  phase: building it (selection compiled, the page's rows added)",
              "empty": "  phase: a request for { __typename } (HTTP, strawberry)"}
    print_table(f"One page of 100 complaints with ward, district, category, in process "
                f"({options.pages} pages each, taking turns; load average "
                f"{os.getloadavg()[0]:.1f})",
                ["job", "median ms", "p95 ms", "× raw SQL"],
                [[labels[name], 1000 * statistics.median(samples),
                  1000 * sorted(samples)[round(0.95 * (len(samples) - 1))],
                  statistics.median(samples) / raw] for name, samples in times.items()])
