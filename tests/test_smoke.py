"""A first end-to-end story: CSV source → two transforms, materialized in process."""

from tests.support.projects import materialization_metadata, materialize, materialized_keys


def test_csv_source_and_transforms_materialize(make_project):
    project = make_project(
        {
            "data/orders.csv": "order_id,amount\n1,10\n2,-1\n3,5\n",
            "seeknal/sources/orders.yml": """
                kind: source
                name: orders
                source: csv
                table: data/orders.csv
            """,
            "seeknal/transforms/positive.yml": """
                kind: transform
                name: positive
                inputs: [{ref: source.orders}]
                transform: SELECT * FROM ref('source.orders') WHERE amount > 0
            """,
        }
    )
    result = materialize(project)
    assert result.success
    assert materialized_keys(result) == {"source/orders", "transform/positive"}
    assert materialization_metadata(result, "transform/positive")["dagster/row_count"] == 2
    assert (project / "target/intermediate/transform_positive.parquet").is_file()


def test_postgres_server_fixture_starts(postgres_server):
    import psycopg

    with psycopg.connect(postgres_server.dsn()) as connection:
        assert connection.execute("select 1").fetchone() == (1,)
