"""Fixtures shared across the suite: a real PostgreSQL server and a project factory."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Mapping

import pytest

from tests.support.postgres import PostgresServer, start_postgres, stop_postgres
from tests.support.spark_cluster import SparkCluster, start_cluster, stop_cluster
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


@pytest.fixture(scope="session")
def spark_cluster() -> Iterator[SparkCluster]:
    """One real Spark standalone cluster for the whole session (Master, a two-core Worker, Spark Connect), on
    loopback ports; stopped by process group at the end."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stop_cluster(cluster)


@pytest.fixture(scope="session")
def spark_connect(spark_cluster: SparkCluster) -> dict[str, str]:
    """The ``spark_config`` reaching the cluster through Spark Connect."""
    return {"spark.remote": spark_cluster.connect_url}


@pytest.fixture(scope="session")
def spark_session(spark_connect: dict[str, str]):
    """This process's Spark Connect session (the one the ``seeknal`` resource also gets), for test setup."""
    from pyspark.sql import SparkSession

    return SparkSession.builder.remote(spark_connect["spark.remote"]).getOrCreate()
