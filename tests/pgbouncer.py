"""A real PgBouncer in transaction mode in front of the tests' PostgreSQL.

As a module: `PgBouncer(direct_url).start()` listens on a free loopback port with a config of
its own in a temporary folder, and `pooled_url()` is the URL that goes through it. As a script,
`python tests/pgbouncer.py COMMAND...` runs the command with `DATABASE_URL` pointed through a
fresh PgBouncer (`?pgbouncer=true` added): `python tests/pgbouncer.py make test` runs the whole
suite that way. Needs Debian's `pgbouncer` (`apt-get install pgbouncer`); nothing is installed
from here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

# PgBouncer refuses to run as root: as root it is started as this user instead.
UNPRIVILEGED_USER = "nobody"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def installed() -> str | None:
    """The pgbouncer binary, or None when it is not installed."""
    # Debian puts it in /usr/sbin, which is not on every user's PATH.
    return shutil.which("pgbouncer", path=f"{os.environ.get('PATH', '')}:/usr/sbin")


class PgBouncer:
    """One pgbouncer process; every database name is passed through to the target server.

    `auth_type = any` with the target's user in the connect string: the tests' PostgreSQL
    trusts loopback connections, and so does this pooler. Also serves `<database>_session`,
    the same database in session mode, to show what transaction mode alone breaks.
    """

    def __init__(self, direct_url: str, pool_size: int = 10, wrapper: tuple[str, ...] = ()) -> None:
        self.wrapper = wrapper  # runs it: `taskset -c 1`, for the benchmark
        self.outer_url = direct_url
        self.direct = urlsplit(direct_url)
        # A URL that is itself pooled (the whole suite run through PgBouncer) is fronted again.
        self.query = [(k, v) for k, v in parse_qsl(self.direct.query) if k != "pgbouncer"]
        self.database = self.direct.path.lstrip("/") or "postgres"
        self.pool_size = pool_size
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.process: subprocess.Popen[bytes] | None = None

    def pooled_url(self, *, session_mode: bool = False, flag: bool = True) -> str:
        """The URL through this pooler (its user and password kept); `flag` adds
        `?pgbouncer=true`."""
        credentials, at, _ = self.direct.netloc.rpartition("@")
        query = [*self.query, ("pgbouncer", "true")] if flag else self.query
        return self.direct._replace(
            netloc=f"{credentials}{at}127.0.0.1:{self.port}",
            path=f"/{self.database}_session" if session_mode else f"/{self.database}",
            query=urlencode(query),
        ).geturl()

    def _config(self) -> str:
        target = f"host={self.direct.hostname or '127.0.0.1'} port={self.direct.port or 5432}"
        user = f"user={unquote(self.direct.username or 'postgres')}"
        database = self.database
        return f"""\
[databases]
{database}_session = {target} {user} dbname={database} pool_mode=session
* = {target} {user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {self.pool_size}
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits
"""

    def start(self, timeout: float = 10) -> PgBouncer:
        binary = installed()
        if binary is None:
            raise RuntimeError("pgbouncer is not installed: apt-get install pgbouncer")
        config = self.folder / "pgbouncer.ini"
        config.write_text(self._config())
        # Readable by the unprivileged user that root hands the process to; nothing is written.
        self.folder.chmod(0o755)
        config.chmod(0o644)
        command = [*self.wrapper, binary, str(config)]
        if os.geteuid() == 0:
            command[-1:-1] = ["-u", UNPRIVILEGED_USER]
        self.log = (self.folder / "pgbouncer.log").open("wb")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start:\n{self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer not listening after {timeout} s:\n{self.output()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def output(self) -> str:
        self.log.flush()
        return (self.folder / "pgbouncer.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def main(command: list[str]) -> int:
    direct = os.environ.get("DATABASE_URL", "")
    if not direct.startswith("postgres"):
        print("set DATABASE_URL to the PostgreSQL that PgBouncer should front", file=sys.stderr)
        return 2
    if not command:
        print("usage: python tests/pgbouncer.py COMMAND...", file=sys.stderr)
        return 2
    pooler = PgBouncer(direct).start()
    try:
        pooled = pooler.pooled_url()
        print(f"== through PgBouncer (transaction mode) on port {pooler.port}", file=sys.stderr)
        return subprocess.call(command, env={**os.environ, "DATABASE_URL": pooled})
    finally:
        pooler.stop()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
