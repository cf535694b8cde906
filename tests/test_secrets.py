"""A secret read from the environment by ``{{ env:… }}`` runs in the SQL but never lands in the event log, the run's
output or the project's files: SQL is shown with its ``{{ env:… }}`` expressions, and anything a database says
back is scrubbed of the values read."""

from __future__ import annotations

import secrets as random_tokens
from pathlib import Path

import dagster

from seeknal_dagster.project import secrets
from tests.support.cli import make_dagster_home, materialize_with_cli

PROJECT = {
    "data/orders.csv": "order_id,amount\n1,10\n2,30\n3,20\n",
    "seeknal/sources/orders.yml": """
        kind: source
        name: orders
        source: csv
        table: data/orders.csv
        params: {delimiter: ",", requested_by: "{{ env:SHOP_API_TOKEN }}"}
    """,
    "seeknal/transforms/paid.yml": """
        kind: transform
        name: paid
        transform: |
          SELECT order_id FROM ref('source.orders')
          WHERE md5('{{ env:SHOP_API_TOKEN }}') IS NOT NULL AND '{{ env:SHOP_REGION }}' = 'eu'
    """,
    # DuckDB quotes the value it could not convert in its error message.
    "seeknal/transforms/broken.yml": """
        kind: transform
        name: broken
        transform: SELECT CAST('{{ env:SHOP_API_TOKEN }}' AS INTEGER) AS n
    """,
    "seeknal/rules/small_orders.yml": """
        kind: rule
        name: small_orders
        inputs: [{ref: source.orders}]
        rule: "amount < 25 OR '{{ env:SHOP_API_TOKEN }}' = ''"
        params: {severity: warn}
    """,
    "definitions.py": "from pathlib import Path\nfrom seeknal_dagster import build_definitions\n"
    "defs = build_definitions(Path(__file__).parent)\n",
}


def every_byte_below(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file())


def test_an_env_secret_never_reaches_the_event_log_the_run_output_or_files(make_project, tmp_path):
    project = make_project(PROJECT)
    home = make_dagster_home(tmp_path / "dagster_home")
    token = "tok_" + random_tokens.token_hex(12)

    run = materialize_with_cli(
        project, "definitions", "*", env={"DAGSTER_HOME": str(home), "SHOP_API_TOKEN": token, "SHOP_REGION": "eu"}
    )

    assert run.returncode != 0  # transform.broken failed, with DuckDB's message
    assert "transform.broken" in run.stderr and "Conversion Error" in run.stderr
    for where, text in {
        "stdout": run.stdout.encode(),
        "stderr": run.stderr.encode(),
        "the instance": every_byte_below(home),
        "the project's files": every_byte_below(project),
    }.items():
        assert token.encode() not in text, f"the secret is in {where}"

    with dagster.DagsterInstance.from_config(str(home)) as instance:
        paid = instance.get_latest_materialization_event(dagster.AssetKey(["transform", "paid"]))
        metadata = paid.asset_materialization.metadata
        orders = instance.get_latest_materialization_event(dagster.AssetKey(["source", "orders"]))
        source_params = orders.asset_materialization.metadata["seeknal/params"].value
    assert metadata["dagster/row_count"].value == 3  # the SQL ran with the real values
    shown = metadata["seeknal/sql"].value
    assert "md5('{{ env:SHOP_API_TOKEN }}')" in shown and "'{{ env:SHOP_REGION }}' = 'eu'" in shown
    assert source_params["requested_by"] == "{{ env:SHOP_API_TOKEN }}"


def test_scrub_masks_registered_values_but_not_short_ones():
    long_secret = "pw-" + random_tokens.token_hex(8)
    secrets.register(long_secret)
    secrets.register("eu")
    text = f"FATAL: password {long_secret} rejected for region eu (prefix {long_secret}-x)"
    assert secrets.scrub(text) == "FATAL: password *** rejected for region eu (prefix ***-x)"


def test_redact_masks_secret_named_keys_and_scrubs_the_rest():
    secret = "s3cr3t-" + random_tokens.token_hex(6)
    secrets.register(secret)
    params = {
        "host": "db.internal",
        "password": "anything",
        "api_key": "k",
        "dsn": f"postgresql://app:{secret}@db/x",
        "nested": {"access_token": "t", "note": f"sent {secret}"},
        "empty_password": "",
    }
    assert secrets.redact(params) == {
        "host": "db.internal",
        "password": "***",
        "api_key": "***",
        "dsn": "postgresql://app:***@db/x",
        "nested": {"access_token": "***", "note": "sent ***"},
        "empty_password": "",
    }


def test_columns_planned_at_load_keep_env_secrets_out_of_the_page_and_the_cached_plan(make_project, monkeypatch):
    """A query naming a column after an ``{{ env:… }}`` value (an unaliased literal) is planned with the real value
    at load, but the asset's page and ``columns.json`` show it scrubbed; an inline password is masked in params."""
    token = "tok_" + random_tokens.token_hex(12)
    monkeypatch.setenv("SHOP_API_TOKEN", token)
    project = make_project(
        {
            "data/orders.csv": PROJECT["data/orders.csv"],
            "seeknal/sources/orders.yml": PROJECT["seeknal/sources/orders.yml"],
            "seeknal/transforms/stamped.yml": """
                kind: transform
                name: stamped
                transform: SELECT order_id, '{{ env:SHOP_API_TOKEN }}' FROM ref('source.orders')
                params: {password: "written-inline-pw"}
            """,
        }
    )
    from seeknal_dagster import build_definitions

    spec = build_definitions(project).resolve_assets_def(dagster.AssetKey(["transform", "stamped"])).specs_by_key[
        dagster.AssetKey(["transform", "stamped"])
    ]
    columns = [column.name for column in spec.metadata["dagster/column_schema"].columns]
    assert columns == ["order_id", "'***'"]  # planned (two columns), the secret scrubbed from the second's name
    assert spec.metadata["seeknal/params"].value == {"password": "***"}
    assert token.encode() not in every_byte_below(project)


def test_a_password_written_in_a_node_file_is_masked_on_its_page_and_never_copied_under_target(make_project):
    """The project's files are the user's to hold passwords in, but nothing of ours repeats them: not the asset's
    params (a secret-named key, or the password of a connection URL), not the parse cache a reload reads."""
    inline, in_url = "inline-" + random_tokens.token_hex(6), "url-" + random_tokens.token_hex(6)
    project = make_project(
        {
            "data/orders.csv": PROJECT["data/orders.csv"],
            "seeknal/sources/orders.yml": PROJECT["seeknal/sources/orders.yml"].replace("{{ env:SHOP_API_TOKEN }}", "ops"),
            "seeknal/transforms/paid.yml": f"""
                kind: transform
                name: paid
                transform: SELECT order_id FROM ref('source.orders')
                params: {{password: "{inline}", mirror: "postgresql://app:{in_url}@db.internal:5432/shop"}}
            """,
        }
    )
    from seeknal_dagster import build_definitions

    for _ in range(3):  # the first load makes target/, later ones keep and read the parse cache
        defs = build_definitions(project)
    spec = defs.resolve_assets_def(dagster.AssetKey(["transform", "paid"])).specs_by_key[dagster.AssetKey(["transform", "paid"])]
    assert spec.metadata["seeknal/params"].value == {"password": "***", "mirror": "postgresql://app:***@db.internal:5432/shop"}
    assert (project / "target/seeknal_dagster/yaml.json").is_file()  # the other file is cached
    written = every_byte_below(project / "target")
    assert inline.encode() not in written and in_url.encode() not in written
