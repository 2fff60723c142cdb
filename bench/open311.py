"""Open311 ``GET /requests`` against GraphQL on the same 1,000 complaints.

One run, one process, one database (``<name>_open311``, the demo city with 20,000 complaints
over three years): the spec's default listing (the last 90 days, at most 1,000 requests) as
JSON and as XML, plain and with ``extensions=true``, then GraphQL's ``complaints`` asking for
the same fields of the same 1,000 rows in one page. Everything goes through the full HTTP
stack in process (Starlette's TestClient), so the ratios compare the two APIs' own work;
the jobs take turns, round after round.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from app import create_app
from bench.common import Timing, bench_settings, console, ensure_demo_data, print_table
from db.engine import make_engine

COMPLAINTS = 20_000
ROWS = 1_000
REPEAT = 15
GRAPHQL = """query($from: DateTime!, $first: Int!) {
  complaints(filter: {createdFrom: $from}, first: $first) { edges { node {
    id status description createdAt updatedAt dueAt address location mediaUrls
    category { code nameVi } routing { agency { nameVi } } } } } }"""


def interleaved(jobs: dict[str, Callable[[], Any]]) -> dict[str, Timing]:
    """Each job once per round, for REPEAT rounds after a warm-up round: on a shared machine
    whose load drifts, every job then meets the same conditions, which keeps the ratios fair."""
    samples: dict[str, list[float]] = {name: [] for name in jobs}
    for round_number in range(REPEAT + 1):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            if round_number:
                samples[name].append(time.perf_counter() - start)
    return {name: Timing(times) for name, times in samples.items()}


def main() -> None:
    settings = bench_settings("open311").model_copy(update={"max_page_size": ROWS})
    engine = make_engine(settings.sqlalchemy_url)
    ensure_demo_data(engine, COMPLAINTS)
    since = (datetime.now(UTC) - timedelta(days=90)).isoformat()
    with TestClient(create_app(settings, engine)) as client:

        def open311(fmt: str, **extra: str) -> Any:
            response = client.get(f"/open311/v2/requests.{fmt}", params=extra)
            assert response.status_code == 200, response.text
            return response

        def graphql() -> Any:
            response = client.post("/graphql", json={
                "query": GRAPHQL, "variables": {"from": since, "first": ROWS}})
            assert response.status_code == 200 and "errors" not in response.json()
            return response

        listed = [r["service_request_id"] for r in open311("json").json()]
        nodes = graphql().json()["data"]["complaints"]["edges"]
        same = listed == [edge["node"]["id"] for edge in nodes]
        assert len(listed) == ROWS and same, "the two APIs must list the same rows"
        jobs = {
            "GraphQL `complaints`, same fields": graphql,
            "Open311 requests.json": lambda: open311("json"),
            "Open311 requests.xml": lambda: open311("xml"),
            "Open311 requests.json, extensions=true": lambda: open311("json", extensions="true"),
            "Open311 requests.xml, extensions=true": lambda: open311("xml", extensions="true"),
        }
        timings = interleaved(jobs)
        sizes = {name: len(job().content) for name, job in jobs.items()}
    engine.dispose()
    baseline = timings["GraphQL `complaints`, same fields"].median
    print_table(f"GET /requests of {ROWS:,} complaints vs GraphQL, same rows "
                f"({COMPLAINTS:,} in the database; {REPEAT} runs each)",
                ["job", "median ms", "p95 ms", "× GraphQL", "kB"],
                [[name, t.median * 1000, t.p95 * 1000, t.median / baseline,
                  sizes[name] / 1024] for name, t in timings.items()])
    console.print("Every row above is the same 1,000 complaints (checked before timing).")
