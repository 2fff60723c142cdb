"""scripts/localdb.sh never leaves a server behind for a checkout that no longer exists.

Copies of ``scripts/`` stand for checkouts: one under a private directory (the postgres user cannot
reach it, so its data lives under /var/tmp, as in a root-owned clone) and one under a world-readable
directory (data inside the checkout, deleted with it while the server runs). Each runs its own
cluster on a free port; the shared cluster of the other tests is never touched.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
                       reason="no PostgreSQL server binaries"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def checkout(parent: Path, name: str) -> Path:
    """A stand-in checkout: just the scripts."""
    shutil.copytree(ROOT / "scripts", parent / name / "scripts")
    return parent / name


def localdb(where: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run([str(where / "scripts" / "localdb.sh"), *args], capture_output=True,
                          text=True, env={**env, "PHANANH_PGPORT": str(port)}, timeout=300)


def server(port: int) -> tuple[int, str, str]:
    """(postmaster pid, data directory, recorded checkout) of the server on ``port``, asked of
    the server itself."""
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT current_setting('data_directory'), "
                       "current_setting('phananh.checkout')")
        datadir, recorded = cursor.fetchone()
    conn.close()
    return int(Path(datadir, "postmaster.pid").read_text().split()[0]), datadir, recorded


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(
        f"/proc/{pid}/status").read_text(errors="replace").lower()


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def interrupted(where: Path, port: int, seen: Path) -> int:
    """Ctrl-C (SIGINT to the process group) while ``localdb.sh run`` runs a command; its exit
    status."""
    seen.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    running = subprocess.Popen(
        [str(where / "scripts" / "localdb.sh"), "run", "--any-port", "phananh", "--", "sh", "-c",
         f'echo "$PHANANH_PGPORT" > {seen}; exec sleep 600'],
        env={**env, "PHANANH_PGPORT": str(port)}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    while not seen.exists() or not seen.read_text().strip():
        assert running.poll() is None, "localdb.sh run ended before its command started"
        time.sleep(0.1)
    os.killpg(running.pid, signal.SIGINT)
    return running.wait(timeout=120)


def leftovers(*parents: Path) -> tuple[list[int], list[Path]]:
    """Postmasters and /var/tmp data directories of checkouts under ``parents``."""
    def ours(recorded: bytes) -> bool:
        return any(recorded.startswith(bytes(parent)) for parent in parents)

    pids = []
    for file in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = file.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.startswith(b"phananh.checkout=") and ours(a.split(b"=", 1)[1]) for a in argv):
            pids.append(int(file.parent.name))
    records = Path("/var/tmp").glob("phananh-*/pg/phananh-checkout")
    bases = [record.parent.parent for record in records if ours(record.read_bytes())]
    return pids, bases


@pytest.fixture
def places(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(private parent, world-readable parent); whatever the test leaves is removed."""
    shared = Path(tempfile.mkdtemp(prefix="phananh-localdb-"))
    shared.chmod(0o755)
    yield tmp_path, shared
    pids, bases = leftovers(tmp_path, shared)
    for pid in pids:
        os.kill(pid, signal.SIGINT)
    for path in (shared, *bases):
        shutil.rmtree(path, ignore_errors=True)


def test_a_deleted_checkout_leaves_no_server(places: tuple[Path, Path]) -> None:
    private, shared = places
    port = free_port()
    first, second = checkout(private, "first"), checkout(shared, "second")

    assert localdb(first, port, "start", "phananh").returncode == 0
    pid, datadir, recorded = server(port)
    assert recorded == str(first) and datadir.startswith("/var/tmp/phananh-")

    taken = localdb(second, port, "start")  # a live checkout's cluster is left alone
    assert taken.returncode == 1 and str(first) in taken.stderr
    assert alive(pid)

    shutil.rmtree(first)
    assert localdb(second, port, "start").returncode == 0
    assert not alive(pid) and not Path(datadir).exists()
    pid, datadir, recorded = server(port)
    assert recorded == str(second) and datadir == str(second / ".data" / "pg")

    # `run` on a taken port: its own cluster on a free port, stopped when the command fails.
    third = checkout(private, "third")
    seen = private / "seen"
    ran = localdb(third, port, "run", "--any-port", "phananh", "--", "sh", "-c",
                  f'echo "$PHANANH_PGPORT $DATABASE_URL" > {seen}; exit 3')
    assert ran.returncode == 3, ran.stderr
    used, url = seen.read_text().split()
    assert int(used) != port and url == f"postgresql://postgres@127.0.0.1:{used}/phananh"
    assert not listening(int(used))
    assert alive(pid)  # the other checkout's cluster still runs
    assert interrupted(third, port, seen) == 130  # Ctrl-C: stopped too
    assert not listening(int(seen.read_text().split()[0]))

    shutil.rmtree(second)  # its data directory goes with it, under the running server
    assert localdb(third, port, "sweep").returncode == 0
    assert not alive(pid) and not listening(port)
    localdb(third, port, "destroy")
    assert leftovers(private, shared) == ([], [])
