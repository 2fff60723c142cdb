"""Settings: bounds that name the variable to fix, the database URL that follows PHANANH_PGPORT,
and the HTTP port that reaches ``phananh serve``."""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from pydantic import ValidationError
from typer.testing import CliRunner

import cli.main
import cli.serve
from settings import Settings, get_settings, setting_errors

ROOT = Path(__file__).resolve().parents[1]
VARIABLES = ("DATABASE_URL", "PHANANH_DATABASE_URL", "PHANANH_PGPORT", "PHANANH_PORT", "PORT",
             "PHANANH_WORKERS")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """A clean slate of the variables under test (``make test`` exports some of them), and a
    fresh ``get_settings()`` before and after."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize(("variable", "value", "named"), [
    ("PHANANH_PORT", "0", "PHANANH_PORT or PORT"),
    ("PORT", "65536", "PHANANH_PORT or PORT"),
    ("PHANANH_PGPORT", "-5", "PHANANH_PGPORT"),
    ("PHANANH_MAX_PAGE_SIZE", "0", "PHANANH_MAX_PAGE_SIZE"),
    ("PHANANH_TILE_CACHE_BYTES", "-1", "PHANANH_TILE_CACHE_BYTES"),
    ("PHANANH_SUBDIVIDE_MAX_VERTICES", "4", "PHANANH_SUBDIVIDE_MAX_VERTICES"),
    ("PHANANH_TOKEN_SECRET", "short", "PHANANH_TOKEN_SECRET"),
    ("PHANANH_OGC_DEFAULT_LIMIT", "20000", "settings"),  # above ogc_max_limit (10,000)
    ("DATABASE_URL", "mysql://root@localhost/phananh", "DATABASE_URL or PHANANH_DATABASE_URL"),
    ("PHANANH_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.1/8", "PHANANH_TRUSTED_PROXIES"),
    ("PHANANH_TRUSTED_PROXIES", "proxy.example.org", "PHANANH_TRUSTED_PROXIES"),
    ("PHANANH_REDIS_URL", "http://127.0.0.1:6379", "PHANANH_REDIS_URL"),
    ("PHANANH_WORKERS", "0", "PHANANH_WORKERS"),
])
def test_out_of_bounds_values_name_the_variable(environment: pytest.MonkeyPatch, variable: str,
                                                value: str, named: str) -> None:
    environment.setenv(variable, value)
    with pytest.raises(ValidationError) as raised:
        Settings()
    lines = setting_errors(raised.value)
    assert len(lines) == 1
    assert lines[0].startswith(f"{named}: "), lines


def test_trusted_proxies_are_comma_separated_addresses_or_networks(
    environment: pytest.MonkeyPatch,
) -> None:
    environment.setenv("PHANANH_TRUSTED_PROXIES", " 127.0.0.1, 10.0.0.0/8,,2001:db8::/32 ")
    assert [str(n) for n in Settings().trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8",
                                                            "2001:db8::/32"]
    environment.delenv("PHANANH_TRUSTED_PROXIES")
    assert Settings().trusted_proxies == []  # none by default


def test_the_cli_refuses_to_start_with_bad_settings(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("PHANANH_PORT", "70000")
    environment.setenv("PHANANH_MAX_ALIASES", "0")
    result = CliRunner().invoke(cli.main.app, ["serve"])
    assert result.exit_code == 2
    assert "PHANANH_PORT or PORT: Input should be less than or equal to 65535" in result.output
    assert "PHANANH_MAX_ALIASES: Input should be greater than or equal to 1" in result.output
    assert "Traceback" not in result.output


def test_the_database_url_follows_pgport(environment: pytest.MonkeyPatch) -> None:
    assert Settings().database_url == "postgresql://postgres@127.0.0.1:55432/phananh"
    environment.setenv("PHANANH_PGPORT", "55451")
    assert Settings().database_url == "postgresql://postgres@127.0.0.1:55451/phananh"
    assert Settings().sqlalchemy_url == "postgresql+psycopg2://postgres@127.0.0.1:55451/phananh"
    environment.setenv("DATABASE_URL", "postgres://someone@db.example.org:5432/city")
    assert Settings().database_url == "postgres://someone@db.example.org:5432/city"


@pytest.mark.parametrize(("env", "arguments", "port"), [
    ({}, [], 8000),
    ({"PORT": "8124"}, [], 8124),
    ({"PHANANH_PORT": "8123"}, [], 8123),
    ({"PHANANH_PORT": "8123", "PORT": "8124"}, [], 8123),
    ({"PHANANH_PORT": "8123"}, ["--port", "8125"], 8125),
])
def test_the_http_port_reaches_serve(environment: pytest.MonkeyPatch, env: dict[str, str],
                                     arguments: list[str], port: int) -> None:
    """The options ``phananh serve`` hands uvicorn, resolved without binding anything."""
    for name, value in env.items():
        environment.setenv(name, value)
    started, output = serve_config(environment, arguments)
    assert started.port == port
    assert f"http://127.0.0.1:{port}/graphql" in output


@pytest.mark.parametrize(("env", "arguments", "workers"), [
    ({}, [], os.cpu_count()),
    ({"PHANANH_WORKERS": "3"}, [], 3),
    ({"PHANANH_WORKERS": "3"}, ["--workers", "5"], 5),
])
def test_serve_runs_workers_and_trusts_no_proxy_headers_itself(
    environment: pytest.MonkeyPatch, env: dict[str, str], arguments: list[str], workers: int,
) -> None:
    for name, value in env.items():
        environment.setenv(name, value)
    environment.setenv("PHANANH_KEEP_ALIVE_TIMEOUT", "7")
    started, _ = serve_config(environment, arguments)
    assert started.workers == workers
    assert started.proxy_headers is False  # uvicorn's default trusts 127.0.0.1
    assert started.timeout_keep_alive == 7
    assert started.http is cli.serve.HeaderTimeoutProtocol


def serve_config(environment: pytest.MonkeyPatch, arguments: list[str]
                 ) -> tuple[uvicorn.Config, str]:
    """The uvicorn configuration ``phananh serve …`` would run, without running it, and
    what the command printed."""
    started: list[uvicorn.Config] = []
    environment.setattr(cli.serve, "run", started.append)
    result = CliRunner().invoke(cli.main.app, ["serve", *arguments])
    assert result.exit_code == 0, result.output
    [config] = started
    return config, result.output


def test_make_help_tells_how_to_choose_both_ports() -> None:
    shown = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin", "PHANANH_PORT": "8123"}, check=True)
    assert "PHANANH_PORT=8123" in shown.stdout  # the value make would use
    assert "PHANANH_PGPORT=55432" in shown.stdout
