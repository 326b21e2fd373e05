"""A throwaway PostgreSQL server from the ``pgserver`` wheel, on a free TCP port.

``pgserver.get_server`` listens on a Unix socket only; tests and benchmarks
here want what other hosts would use, TCP, so this starts the wheel's binaries
directly: ``initdb`` into a temporary directory, ``pg_ctl start`` on
``127.0.0.1`` and a port the kernel just handed out (retried if someone took
it in between), ``pg_ctl stop`` and the directory removed at the end.

As root (containers), PostgreSQL refuses to run: the server runs as the
``pgserver`` system user, created if needed, as ``pgserver`` itself does.

>>> with PostgresServer.start() as server:          # doctest: +SKIP
...     dsn = server.create_database()
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

_SYSTEM_USER = "pgserver"
_START_ATTEMPTS = 3
_TIMEOUT_S = 60


def _bin_dir() -> Path:
    # Importing pgserver asks platformdirs for a runtime dir, which warns when
    # XDG_RUNTIME_DIR is unset; the warning says nothing about this server.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


def pgserver_missing() -> bool:
    """Whether the ``pgserver`` wheel (which brings the PostgreSQL binaries) is absent."""
    try:
        _bin_dir()
    except ImportError:
        return True
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> dict[str, Any]:
    """``subprocess`` keywords that run a command as a non-root user when we are root."""
    if os.geteuid() != 0:
        return {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from pgserver.utils import ensure_folder_permissions, ensure_user_exists
    import stat

    ensure_user_exists(_SYSTEM_USER)
    bin_dir = _bin_dir()
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", readable)
    ensure_folder_permissions(bin_dir.parent / "share", readable)
    return {"user": _SYSTEM_USER}


# Stops the server and deletes its directory if the process that started it
# dies without doing so (SIGTERM from a timeout, SIGKILL): a detached shell that
# polls the owner, and ends by itself once the directory is gone.
_WATCHDOG = """
while kill -0 "$OWNER" 2>/dev/null && [ -d "$ROOT" ]; do sleep 1; done
if [ -d "$ROOT" ]; then
    $AS_USER "$PG_CTL" -D "$ROOT/pgdata" -m immediate -w stop >/dev/null 2>&1
    rm -rf "$ROOT"
fi
"""


def _watch(
    owner: int, root: Path, bin_dir: Path, as_user: dict[str, Any]
) -> subprocess.Popen[bytes]:
    env = {
        "OWNER": str(owner),
        "ROOT": str(root),
        "PG_CTL": str(bin_dir / "pg_ctl"),
        "AS_USER": f"runuser -u {as_user['user']} --" if as_user else "",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    return subprocess.Popen(
        ["/bin/sh", "-c", _WATCHDOG],
        env=env,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@dataclass
class PostgresServer:
    """A running server: ``dsn`` reaches its ``postgres`` database as superuser."""

    root: Path
    port: int
    _as_user: dict[str, Any] = field(repr=False)
    _watchdog: subprocess.Popen[bytes] = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    def uri(self, database: str = "postgres") -> str:
        """A libpq URI of ``database`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def dsn(self) -> str:
        return self.uri()

    @classmethod
    def start(cls, *, durable: bool = False) -> PostgresServer:
        """Initialise and start a server in a new temporary directory.

        ``durable=False`` turns ``fsync`` off: the data is thrown away anyway,
        and tests then spend their time in our code, not in the disk.
        """
        root = Path(tempfile.mkdtemp(prefix="seamless-pg-"))
        try:
            as_user = _run_as()
            pgdata = root / "pgdata"
            pgdata.mkdir()
            if as_user:
                import pwd

                entry = pwd.getpwnam(_SYSTEM_USER)
                root.chmod(0o755)  # the server user must reach pgdata (mkdtemp makes 0700)
                os.chown(pgdata, entry.pw_uid, entry.pw_gid)
            bin_dir = _bin_dir()
            subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(pgdata),
                    "--auth=trust",
                    "--encoding=utf8",
                    "--no-sync",
                    "-U",
                    "postgres",
                ],
                check=True,
                capture_output=True,
                timeout=_TIMEOUT_S,
                **as_user,
            )
            options = f"-h 127.0.0.1 -k {pgdata}" + ("" if durable else " -c fsync=off")
            for attempt in range(_START_ATTEMPTS):
                port = _free_port()
                done = subprocess.run(
                    [
                        str(bin_dir / "pg_ctl"),
                        "-D",
                        str(pgdata),
                        "-w",
                        "-t",
                        str(_TIMEOUT_S),
                        "-l",
                        str(pgdata / "server.log"),
                        "-o",
                        f"{options} -p {port}",
                        "start",
                    ],
                    capture_output=True,
                    timeout=_TIMEOUT_S + 10,
                    **as_user,
                )
                if done.returncode == 0:
                    watchdog = _watch(os.getpid(), root, bin_dir, as_user)
                    return cls(root, port, as_user, watchdog)
                if attempt == _START_ATTEMPTS - 1:
                    log = (pgdata / "server.log").read_text(errors="replace")[-4000:]
                    raise RuntimeError(f"PostgreSQL did not start: {done.stderr!r}\n{log}")
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are ended) and delete its files."""
        if self._stopped:
            return
        self._stopped = True
        try:
            subprocess.run(
                [str(_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-w", "-m", "fast", "stop"],
                check=True,
                capture_output=True,
                timeout=_TIMEOUT_S,
                **self._as_user,
            )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            try:  # it sees the directory gone within a second and exits
                self._watchdog.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
                self._watchdog.wait()

    def create_database(self) -> str:
        """A new empty database; returns its URI."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def drop_database(self, uri: str) -> None:
        """Drop a database made by :meth:`create_database`, ending its sessions."""
        name = uri.rsplit("/", 1)[1]
        if not name.startswith("t_") or not name[2:].isalnum():
            raise ValueError(f"not a database this server created: {uri}")
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(statement.encode())

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
