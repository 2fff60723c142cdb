"""A real ``phananh serve`` process on a free port, for the load benchmark and the tests that
need real worker processes, sockets and uvicorn's own settings."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Served:
    url: str
    port: int
    log: Path

    def worker_pids(self) -> set[int]:
        """The worker processes that have started, as uvicorn logs them."""
        return {int(pid) for pid in
                re.findall(r"Started server process \[(\d+)\]", self.log.read_text())}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(database_url: str, workers: int = 1, startup_s: float = 120,
           **environment: str) -> Iterator[Served]:
    """Run ``phananh serve --workers N`` with ``PHANANH_*`` ``environment`` (names without the
    prefix, e.g. ``HEADER_TIMEOUT="1"``); yield once every worker has started and /healthz
    answers; stop it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT),
           **{f"PHANANH_{name}": value for name, value in environment.items()}}
    with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers",
             str(workers)], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    server = Served(f"http://127.0.0.1:{port}", port, Path(log.name))
    try:
        _wait_until_up(server, process, workers, startup_s)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.log.unlink(missing_ok=True)


def _wait_until_up(server: Served, process: subprocess.Popen[bytes], workers: int,
                   startup_s: float) -> None:
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"phananh serve exited: {server.log.read_text()[-2_000:]}")
        if server.log.read_text().count("Application startup complete") >= workers:
            try:
                if httpx2.get(f"{server.url}/healthz", timeout=5).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"phananh serve did not start: {server.log.read_text()[-2_000:]}")
