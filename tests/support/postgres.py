"""A real PostgreSQL server for the tests, started from the machine's PostgreSQL binaries.

``initdb``/``pg_ctl`` refuse to run as root, so when the tests run as root the server runs as the ``postgres``
user, on a data directory it owns, listening on 127.0.0.1 only, with trust authentication.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    data_dir: Path

    def dsn(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise FileNotFoundError(f"PostgreSQL binary '{name}' not found (install postgresql)")


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start_postgres() -> PostgresServer:
    data_dir = Path(tempfile.mkdtemp(prefix="seeknal-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    subprocess.run(
        _as_server_user([_binary("initdb"), "-D", str(data_dir / "data"), "-U", user, "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = f"-h 127.0.0.1 -p {port} -k {data_dir} -c fsync=off -c full_page_writes=off"
    subprocess.run(
        _as_server_user([_binary("pg_ctl"), "-D", str(data_dir / "data"), "-o", options, "-l", str(data_dir / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    server = PostgresServer("127.0.0.1", port, user, data_dir)
    deadline = time.time() + 30
    while True:
        try:
            import psycopg

            psycopg.connect(server.dsn(), connect_timeout=2).close()
            return server
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def stop_postgres(server: PostgresServer) -> None:
    subprocess.run(
        _as_server_user([_binary("pg_ctl"), "-D", str(server.data_dir / "data"), "-m", "immediate", "stop"]),
        capture_output=True,
    )
    shutil.rmtree(server.data_dir, ignore_errors=True)
