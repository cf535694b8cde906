"""Fixtures shared across the suite: a real PostgreSQL server and a project factory."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Mapping

import pytest

from tests.support.postgres import PostgresServer, start_postgres, stop_postgres
from tests.support.projects import write_project


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL 15 server for the whole session (127.0.0.1, trust auth)."""
    server = start_postgres()
    try:
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[[Mapping[str, str]], Path]:
    """Write a project from ``{relative path: file text}`` into a temporary directory."""

    def make(files: Mapping[str, str], name: str = "project") -> Path:
        return write_project(tmp_path / name, files)

    return make
