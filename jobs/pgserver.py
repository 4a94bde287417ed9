"""A throwaway PostgreSQL server built from the machine's PostgreSQL binaries.

The tests and `shape bench handoff` start one: a fresh data directory in a temporary folder,
listening only on a Unix socket in that folder (no TCP port), with durability turned off since
nothing in it outlives the run. PostgreSQL refuses to run as root, and CI runs as root: then the
folder is given to the `postgres` user and the server runs as that user (`runuser`), while the
clients (root) connect through the socket.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from typing import Optional

SERVER_USER = "postgres"


class PostgresUnavailable(Exception):
    """No PostgreSQL binaries, or the server did not start (the message says which)."""


def find_bindir() -> Optional[str]:
    """The folder with initdb and pg_ctl: `$SHAPE_PG_BINDIR`, else the PATH, else Debian's
    /usr/lib/postgresql/<version>/bin (the newest), else `pg_config --bindir`."""
    env = os.environ.get("SHAPE_PG_BINDIR")
    if env:
        return env if os.path.exists(os.path.join(env, "initdb")) else None
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if versions:
        return os.path.dirname(versions[-1])
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        path = out.stdout.strip()
        if out.returncode == 0 and os.path.exists(os.path.join(path, "initdb")):
            return path
    return None


class PostgresServer:
    def __init__(self, bindir: Optional[str] = None) -> None:
        self.bindir = bindir or find_bindir()
        if self.bindir is None:
            raise PostgresUnavailable("PostgreSQL is not installed (no initdb on PATH, in "
                                      "/usr/lib/postgresql/*/bin or $SHAPE_PG_BINDIR)")
        self.dir = ""
        self.running = False

    # ------------------------------------------------------------ running commands

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise PostgresUnavailable(f"running as root, and there is no '{SERVER_USER}' user to "
                                      "run PostgreSQL as (it refuses to run as root)") from None
        return ["runuser", "-u", SERVER_USER, "--", *argv]

    def _run(self, tool: str, *args: str, timeout: float = 60) -> str:
        argv = self._as_server_user([os.path.join(self.bindir, tool), *args])
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise PostgresUnavailable(f"{tool} failed: {e}") from None
        if done.returncode != 0:
            log = self._log_tail()
            raise PostgresUnavailable(f"{tool} failed (exit {done.returncode}): "
                                      f"{(done.stderr or done.stdout).strip()}{log}")
        return done.stdout

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self.dir, "server.log")) as f:
                return "\nserver log:\n" + "".join(f.readlines()[-15:])
        except OSError:
            return ""

    # ------------------------------------------------------------ life cycle

    @property
    def data(self) -> str:
        return os.path.join(self.dir, "data")

    def start(self) -> "PostgresServer":
        # A short path: the socket's full name must fit in 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="shape-pg-", dir="/tmp" if os.path.isdir("/tmp") else None)
        if os.geteuid() == 0:
            self._as_server_user([])  # fails clearly when there is no such user
            entry = pwd.getpwnam(SERVER_USER)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        self._pg_ctl_start()
        return self

    def _pg_ctl_start(self) -> None:
        opts = (f"-k {self.dir} -c listen_addresses= -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=200 -c unix_socket_permissions=0777")
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "server.log"),
                  "-w", "-t", "60", "-o", opts, "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")
            self.running = False

    def restart(self, down: float = 0.0) -> None:
        """Stop (ending every connection), stay down for `down` seconds, and start again on
        the same data and socket."""
        self.stop("fast")
        time.sleep(down)
        self._pg_ctl_start()

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except PostgresUnavailable:
            pass
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = ""

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.destroy()

    # ------------------------------------------------------------ databases

    def url(self, dbname: str = "postgres") -> str:
        """libpq's socket-directory URL form: no host, the socket folder as a parameter."""
        return f"postgresql:///{dbname}?host={self.dir}&user=postgres"

    def create_database(self, name: Optional[str] = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def main() -> int:
    """`python -m shapelang.jobs.pgserver`: a throwaway server for trying jobs out; prints its
    URL and runs until Ctrl+C or SIGTERM, then deletes everything it stored."""
    import signal
    import sys
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as e:
        sys.stderr.write(f"Error: PostgreSQL: {e}\n")
        return 1
    try:
        url = server.create_database("shape")
        print(f"export SHAPE_STORE='{url}'", flush=True)
        sys.stderr.write("PostgreSQL is running; Ctrl+C stops it and deletes its data\n")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        server.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
