"""Hive sources: tables in the Hive catalog of a real Spark cluster (loopback, Derby-backed metastore), read by the
cluster and written by its executors to the target layout, never collected into the Dagster process."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator

import pytest

from tests.support.projects import materialization_metadata, materialize, materialized_keys
from tests.test_sources import failure_text, output_rows, output_schema, source_yml


@pytest.fixture(scope="session")
def hive_spark_config(spark_session, spark_connect) -> Iterator[dict[str, Any]]:
    """Tables in the loopback cluster's Hive catalog (the Connect server's metastore and warehouse), created once
    for the session. Yields the ``spark_config`` reaching that cluster through Spark Connect."""
    spark_session.sql("CREATE DATABASE IF NOT EXISTS sales")
    spark_session.sql(
        "CREATE TABLE sales.orders (id INT, amount DECIMAL(10, 2), ordered_at TIMESTAMP, note STRING) USING parquet"
    )
    spark_session.sql(
        "INSERT INTO sales.orders VALUES (1, 12.50, TIMESTAMP '2024-01-02 03:04:05', 'first'), "
        "(2, NULL, NULL, NULL), (3, 7.25, TIMESTAMP '2024-02-03 00:00:00', 'third')"
    )
    spark_session.sql("CREATE TABLE sales.refunds (order_id INT, reason STRING) USING parquet")
    yield spark_connect


@pytest.mark.spark
def test_hive_table_materializes_through_the_spark_catalog(make_project, hive_spark_config):
    project = make_project(
        {
            "seeknal/sources/orders.yml": source_yml("orders", "source: hive\ntable: sales.orders"),
            "seeknal/sources/refunds.yml": source_yml("refunds", "source: hive\ntable: sales.refunds"),
            "seeknal/transforms/priced.yml": """
                kind: transform
                name: priced
                inputs: [{ref: source.orders}]
                transform: SELECT id, amount FROM ref('source.orders') WHERE amount IS NOT NULL
            """,
        }
    )
    result = materialize(project, spark_config=hive_spark_config)
    assert result.success, failure_text(result)
    assert materialized_keys(result) == {"source/orders", "source/refunds", "transform/priced"}
    assert [name for name, _ in output_schema(project, "source.orders")] == ["id", "amount", "ordered_at", "note"]
    assert output_rows(project, "transform.priced") == [(1, Decimal("12.50")), (3, Decimal("7.25"))]
    assert output_rows(project, "source.orders")[1] == (2, None, None, None)
    assert (project / "target/intermediate/source_orders.parquet").is_dir()  # part files the executors wrote
    metadata = materialization_metadata(result, "source/orders")
    assert metadata["dagster/row_count"] == 3
    assert metadata["seeknal/engine"] == "spark"
    assert metadata["seeknal/location"] == "sales.orders"
    # An empty table is still an output, with its columns.
    assert output_schema(project, "source.refunds") == [("order_id", "INTEGER"), ("reason", "VARCHAR")]
    assert materialization_metadata(result, "source/refunds")["dagster/row_count"] == 0


@pytest.mark.spark
def test_missing_hive_table_fails_naming_node_and_table(make_project, hive_spark_config):
    project = make_project({"seeknal/sources/gone.yml": source_yml("gone", "source: hive\ntable: sales.gone")})
    result = materialize(project, spark_config=hive_spark_config)
    assert not result.success
    text = failure_text(result)
    assert "source.gone: could not read hive table sales.gone" in text and "TABLE_OR_VIEW_NOT_FOUND" in text


def test_hive_without_spark_says_spark_is_not_configured(make_project):
    project = make_project({"seeknal/sources/orders.yml": source_yml("orders", "source: hive\ntable: sales.orders")})
    result = materialize(project)
    assert not result.success
    text = failure_text(result)
    assert "source.orders: cannot read hive table sales.orders" in text
    assert "no Spark engine is configured" in text and "spark_config" in text
