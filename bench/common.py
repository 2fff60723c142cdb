"""Timing, tables and the benchmark database, shared by every benchmark."""

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg2
from alembic import command
from rich.console import Console
from rich.table import Table
from sqlalchemy import URL, Engine, text
from sqlalchemy.engine import make_url

from cli.main import alembic_config
from db.engine import make_engine
from demo import seed as demo_seed
from settings import Settings, get_settings

console = Console()


@dataclass(frozen=True)
class Timing:
    """Seconds per run of one job: all repeats, summarised."""

    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(job: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> Timing:
    """Run ``job`` ``warmup`` times unmeasured (caches, plans), then ``repeat`` times timed."""
    for _ in range(warmup):
        job()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        job()
        samples.append(time.perf_counter() - start)
    return Timing(samples)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def bench_database(suffix: str, fresh: bool = False, template: str | None = None) -> str:
    """The URL of the benchmark database ``<name>_<suffix>``, created if missing (``fresh``:
    dropped first, so it starts empty, or as a copy of the benchmark database
    ``<name>_<template>``); not migrated."""
    base = make_url(get_settings().sqlalchemy_url)
    name = f"{base.database}_{suffix}"
    copy_of = f' TEMPLATE "{base.database}_{template}"' if template else ""
    with _admin(base) as cursor:
        if fresh:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"{copy_of}')
    return base.set(database=name).render_as_string(hide_password=False)


@contextmanager
def copied(suffix: str) -> Iterator[str]:
    """A copy of the benchmark database ``<name>_<suffix>`` (no one may be connected to it),
    dropped afterwards: a benchmark that writes runs each configuration on the same data."""
    url = bench_database(f"{suffix}_run", fresh=True, template=suffix)
    try:
        yield url
    finally:
        with _admin(make_url(url)) as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@contextmanager
def _admin(url: URL) -> Iterator[Any]:
    """A cursor on the server's ``postgres`` database, outside any transaction (CREATE and
    DROP DATABASE)."""
    admin = psycopg2.connect(host=url.host, port=url.port, user=url.username,
                             password=url.password, dbname="postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            yield cursor
    finally:
        admin.close()


def bench_settings(suffix: str = "bench") -> Settings:
    """Settings for the benchmark database ``<name>_<suffix>`` (created and migrated if new)."""
    url = bench_database(suffix)
    command.upgrade(alembic_config(url), "head")
    return Settings(database_url=url)


def bench_engine(suffix: str = "bench") -> Engine:
    return make_engine(bench_settings(suffix).sqlalchemy_url)


def complaint_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM complaint")).scalar_one()


# The benchmark data spans a few years, as a city's archive would after a while.
YEARS = 3


def seeded_shape(engine: Engine, besides: str | None = None) -> tuple[int, int]:
    """The seeded complaints' number and the whole years their reception dates span (those
    described as ``besides``, which a benchmark submitted, left out)."""
    with engine.connect() as conn:
        count, days = conn.execute(text(
            "SELECT count(*), date_part('day', max(created_at) - min(created_at)) "
            "FROM complaint WHERE description IS DISTINCT FROM :besides"),
            {"besides": besides}).one()
    return count, round((days or 0) / 365)


def ensure_demo_data(engine: Engine, complaints: int, besides: str | None = None) -> None:
    """The demo city with exactly ``complaints`` complaints over :data:`YEARS` years (besides
    those described as ``besides``); reseeded only when either differs."""
    if seeded_shape(engine, besides) == (complaints, YEARS):
        return
    console.print(f"Seeding the benchmark database with {complaints:,} complaints over "
                  f"{YEARS} years…")
    demo_seed.reset(engine)
    start = time.perf_counter()
    demo_seed.seed_demo(engine, complaints, years=YEARS)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    console.print(f"  seeded in {time.perf_counter() - start:.0f} s")
