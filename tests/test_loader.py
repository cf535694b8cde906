"""Loading real Seeknal projects: discovery, both dialects of every kind, edges, Python files, profiles, and
every kind of bad input reported in one pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from seeknal_dagster.project import NodeKind, ProjectLoadError, load_project

ORDERS_SOURCE = """
    kind: source
    name: orders
    source: csv
    table: data/orders.csv
"""


def problems_of(project_dir: Path, **options) -> list:
    with pytest.raises(ProjectLoadError) as raised:
        load_project(project_dir, **options)
    return raised.value.problems


def test_yml_yaml_and_multi_document_files_all_load(make_project):
    project = load_project(
        make_project(
            {
                "seeknal/sources/orders.yml": ORDERS_SOURCE,
                "seeknal/bronze/customers.yaml": """
                    kind: source
                    name: customers
                    source: csv
                    table: data/customers.csv
                """,
                "seeknal/silver/cleaning.yml": """
                    kind: transform
                    name: clean_orders
                    inputs: [{ref: source.orders}]
                    transform: SELECT * FROM ref('source.orders') WHERE amount > 0
                    ---
                    # a comment-only document between nodes is fine
                    ---
                    kind: transform
                    name: clean_customers
                    inputs: [{ref: source.customers}]
                    transform: SELECT DISTINCT * FROM ref('source.customers')
                    ---
                """,
                "seeknal/sources/.ipynb_checkpoints/orders-checkpoint.yml": ORDERS_SOURCE,
                "seeknal/sources/.orders.yml": ORDERS_SOURCE,
            }
        )
    )
    assert set(project.nodes) == {"source.orders", "source.customers", "transform.clean_orders", "transform.clean_customers"}
    assert project.nodes["source.customers"].file == Path("seeknal/bronze/customers.yaml")
    cleaning = Path("seeknal/silver/cleaning.yml")
    assert (project.nodes["transform.clean_orders"].file, project.nodes["transform.clean_orders"].line) == (cleaning, 1)
    assert (project.nodes["transform.clean_customers"].file, project.nodes["transform.clean_customers"].line) == (cleaning, 8)
    assert project.output_path("transform.clean_orders") == project.root / "target/intermediate/transform_clean_orders.parquet"


def test_common_config_params_and_functions_are_resolved_and_bring_their_refs(make_project, monkeypatch):
    monkeypatch.setenv("SHOP_COUNTRY", "ID")
    project = load_project(
        make_project(
            {
                "seeknal/common/sources.yml": """
                    sources:
                      - id: orders
                        ref: source.orders
                        params: {min_amount: 5}
                """,
                "seeknal/common/rules.yml": "rules:\n  - {id: positive, value: amount > 0}\n",
                "seeknal/common/transformations.yml": """
                    transformations:
                      - id: recent_orders
                        sql: SELECT * FROM ref('source.orders') WHERE day >= '{{ today(-30) }}'
                """,
                "seeknal/sources/orders.yml": ORDERS_SOURCE,
                "seeknal/transforms/recent.yml": """
                    kind: transform
                    name: recent
                    params:
                      country: "{{ env:SHOP_COUNTRY }}"
                      since: "{{ month_start(-1) }}"
                    transform: |
                      WITH r AS ({{ transforms.recent_orders }})
                      SELECT * FROM r
                      WHERE {{ rules.positive }} AND amount >= {{ orders.min_amount }} AND country = '{{ country }}'
                """,
            }
        )
    )
    recent = project.nodes["transform.recent"]
    # The only edge comes from a ref() inside a common-config snippet: it is found after rendering.
    assert recent.upstream == ["source.orders"]
    rendered = project.renderer.render(recent.spec.transform, recent.spec.params)
    assert "FROM \"" not in rendered and "ref('source.orders')" in rendered
    assert "WHERE amount > 0 AND amount >= 5 AND country = 'ID'" in rendered
    assert "{{" not in rendered
    assert project.renderer.render_params(recent.spec.params)["country"] == "ID"


def test_unknown_fields_are_kept_not_fatal(make_project):
    project = load_project(
        make_project(
            {
                "seeknal/sources/orders.yml": ORDERS_SOURCE + "    freshness_sla: 2h\n    lineage: {team: growth}\n",
            }
        )
    )
    node = project.nodes["source.orders"]
    assert node.spec.extra_fields() == {"freshness_sla": "2h", "lineage": {"team": "growth"}}
    assert node.config["lineage"] == {"team": "growth"}


SEEKNAL_DIALECT = {
    "seeknal/sources/raw_orders.yml": """
        kind: source
        name: raw_orders
        source: csv
        table: data/orders.csv
        params: {delimiter: ",", header: true}
        columns: {order_id: integer}
        tags: [bronze]
    """,
    "seeknal/transforms/clean_orders.yml": """
        kind: transform
        name: clean_orders
        inputs:
          - ref: source.raw_orders
        transform: SELECT * FROM source.raw_orders WHERE amount > 0
    """,
    "seeknal/feature_groups/customer_features.yml": """
        kind: feature_group
        name: customer_features
        entity: {name: customer, join_keys: [customer_id]}
        materialization: {event_time_col: order_date, offline: true}
        inputs: [{ref: transform.clean_orders}]
        transform: SELECT customer_id, order_date, count(*) AS orders FROM source GROUP BY 1, 2
    """,
    "seeknal/models/churn.yml": """
        kind: model
        name: churn
        inputs: [{ref: feature_group.customer_features}]
        output_columns: [churn_score]
        training:
          algorithm: random_forest
          label_source: transform.clean_orders
          label_column: churned
          params: {n_estimators: 10}
    """,
    "seeknal/aggregations/daily.yml": """
        kind: aggregation
        name: daily
        id_col: customer_id
        feature_date_col: order_date
        application_date_col: application_date
        source: transform.clean_orders
        features:
          - name: amount
            basic: [sum, count]
    """,
    "seeknal/aggregations/soa.yml": """
        kind: second_order_aggregation
        name: customer_soa
        id_col: customer_id
        feature_date_col: order_date
        application_date_col: application_date
        source: aggregation.daily
        features:
          amount_sum:
            basic: [sum, max]
            window: [1, 7]
    """,
    "seeknal/profiles/orders_profile.yml": """
        kind: profile
        name: orders_profile
        inputs: [{ref: transform.clean_orders}]
        profile: {columns: [amount], params: {max_top_values: 3}}
    """,
    "seeknal/rules/order_checks.yml": """
        kind: rule
        name: order_checks
        inputs: [{ref: transform.clean_orders}]
        rule:
          - {type: "null", columns: [order_id]}
          - {type: range, column: amount, params: {min_val: 0}}
        params: {severity: warn, error_message: bad orders}
    """,
    "seeknal/exposures/export.yml": """
        kind: exposure
        name: export
        type: file
        depends_on: [{ref: transform.clean_orders}]
        params: {path: out/orders.csv, format: csv}
    """,
    "seeknal/semantic/orders_model.yml": """
        kind: semantic_model
        name: orders_model
        model: "ref('feature_group.customer_features')"
        entities: [{name: customer_id, type: primary}]
        measures: [{name: total_orders, expr: orders, agg: sum}]
    """,
    "seeknal/metrics/total_orders.yml": """
        kind: metric
        name: total_orders
        type: simple
        measure: total_orders
    """,
}

SEED_DIALECT = {
    "seeknal/rules/customer_email_valid.yml": """
        kind: rule
        name: customer_email_valid
        inputs:
          - ref: feature_group.customer_features
        rule: email LIKE '%_@__%.__%'
        severity: error
    """,
    "seeknal/aggregations/customer_metrics.yml": """
        kind: aggregation
        name: customer_metrics
        inputs:
          - ref: feature_group.customer_features
        feature_date_col: order_date
        aggregations:
          - column: total_orders
            function: sum
            window: 30d
          - column: lifetime_value
            function: avg
            group_by:
              - segment
    """,
    "seeknal/models/churn_predictor.yml": """
        kind: model
        name: churn_predictor
        algorithm: random_forest
        features:
          - ref: feature_group.customer_features
        target: churn
        hyperparameters:
          n_estimators: 100
          max_depth: 10
    """,
    "seeknal/exposures/sales_dashboard.yml": """
        kind: exposure
        name: sales_dashboard
        inputs:
          - ref: feature_group.customer_features
        type: dashboard
        url: https://dashboard.example.com/sales
        format: json
    """,
}


def test_all_eleven_kinds_load_in_both_dialects_with_their_edges(make_project):
    project = load_project(make_project({**SEEKNAL_DIALECT, **SEED_DIALECT}))
    assert {node.kind for node in project.nodes.values()} == set(NodeKind)
    upstream = {node_id: node.upstream for node_id, node in project.nodes.items()}
    assert upstream == {
        "source.raw_orders": [],
        "transform.clean_orders": ["source.raw_orders"],
        "feature_group.customer_features": ["transform.clean_orders"],
        "model.churn": ["feature_group.customer_features", "transform.clean_orders"],
        "aggregation.daily": ["transform.clean_orders"],
        "second_order_aggregation.customer_soa": ["aggregation.daily"],
        "profile.orders_profile": ["transform.clean_orders"],
        "rule.order_checks": ["transform.clean_orders"],
        "exposure.export": ["transform.clean_orders"],
        # Seeknal strips characters off both ends and gets 'ature_group.customer_features'; we read the id.
        "semantic_model.orders_model": ["feature_group.customer_features"],
        "metric.total_orders": [],
        "rule.customer_email_valid": ["feature_group.customer_features"],
        "aggregation.customer_metrics": ["feature_group.customer_features"],
        "model.churn_predictor": ["feature_group.customer_features"],
        "exposure.sales_dashboard": ["feature_group.customer_features"],
    }
    seed_rule = project.nodes["rule.customer_email_valid"].spec
    assert (seed_rule.rule, seed_rule.severity) == ("email LIKE '%_@__%.__%'", "error")
    seed_aggregation = project.nodes["aggregation.customer_metrics"].spec
    assert seed_aggregation.aggregations[0] == {"column": "total_orders", "function": "sum", "window": "30d"}
    seed_model = project.nodes["model.churn_predictor"].spec
    assert (seed_model.algorithm, seed_model.target, seed_model.hyperparameters["max_depth"]) == ("random_forest", "churn", 10)
    seed_exposure = project.nodes["exposure.sales_dashboard"].spec
    assert (seed_exposure.type, seed_exposure.url) == ("dashboard", "https://dashboard.example.com/sales")
    assert project.nodes["model.churn"].spec.training["label_column"] == "churned"
    assert project.graph.edge_count() == 14


def test_every_spelling_of_a_sql_reference_makes_an_edge(make_project):
    project = load_project(
        make_project(
            {
                "seeknal/sources.yml": ORDERS_SOURCE
                + "---\nkind: source\nname: raw_orders\nsource: csv\ntable: data/raw.csv\n"
                + "---\nkind: source\nname: customers\nsource: csv\ntable: data/c.csv\n"
                + "---\nkind: source\nname: my-events\nsource: csv\ntable: data/e.csv\n",
                "seeknal/report.yml": """
                    kind: transform
                    name: report
                    transform: |
                      SELECT * FROM ref('source.orders') o
                      JOIN ref( "source.customers" ) c USING (customer_id)
                      JOIN source.raw_orders r USING (order_id)
                      JOIN ref('source.my-events') e USING (customer_id)
                """,
            }
        )
    )
    assert project.nodes["transform.report"].upstream == [
        "source.orders",
        "source.customers",
        "source.my-events",
        "source.raw_orders",
    ]


def test_sql_comments_and_string_literals_do_not_make_edges(make_project):
    project = load_project(
        make_project(
            {
                "seeknal/orders.yml": ORDERS_SOURCE,
                "seeknal/clean.yml": """
                    kind: transform
                    name: clean
                    inputs: [{ref: source.orders}]
                    transform: |
                      -- feeds transform.report; see also ref('transform.report')
                      SELECT *, 'copied from transform.report' AS note FROM ref('source.orders')
                """,
                "seeknal/report.yml": """
                    kind: transform
                    name: report
                    transform: SELECT * FROM transform.clean
                """,
            }
        )
    )
    assert project.nodes["transform.clean"].upstream == ["source.orders"]
    assert project.nodes["transform.report"].upstream == ["transform.clean"]


def test_python_pipeline_files_are_read_not_imported(make_project):
    project_dir = make_project(
        {
            "seeknal/pipelines/users.py": '''
                # /// script
                # dependencies = ["pandas"]
                # ///
                from pathlib import Path

                Path("IMPORTED").write_text("this file was executed")
                raise RuntimeError("importing a pipeline file is not allowed")

                from seeknal.pipeline import feature_group, source, transform


                @source(name="raw_users", source="csv", table="data/users.csv", tags=["bronze"])
                def raw_users(ctx=None):
                    pass


                @transform(name="active_users")
                def recent_users(ctx):  # Seeknal loses ctx.ref edges when the name differs from the function
                    """Users seen in the last month."""
                    return ctx.ref("source.raw_users")


                @feature_group(entity="user")
                def user_features(ctx):
                    return ctx.ref('transform.active_users')
            ''',
            "seeknal/templates/scaffold.py": "raise SystemExit('templates are skipped')\n",
            "seeknal/pipelines/_helpers.py": "@transform(name='hidden')\ndef hidden(ctx): ...\n",
            "seeknal/transforms/after_python.yml": """
                kind: transform
                name: after_python
                inputs: [{ref: feature_group.user_features}]
                transform: SELECT * FROM ref('feature_group.user_features') JOIN ref('transform.active_users') USING (user_id)
            """,
        }
    )
    project = load_project(project_dir)
    assert not (project_dir / "IMPORTED").exists()
    assert not list(project_dir.rglob("IMPORTED"))
    from_python = {node_id: node for node_id, node in project.nodes.items() if node.file.suffix == ".py"}
    assert set(from_python) == {"source.raw_users", "transform.active_users", "feature_group.user_features"}
    # A @source naming its table is read like a YAML source (as Seeknal does); the others run their function.
    raw_users = from_python["source.raw_users"]
    assert not raw_users.is_python
    assert (raw_users.spec.source, raw_users.spec.table, raw_users.spec.tags) == ("csv", "data/users.csv", ["bronze"])
    assert (raw_users.file, raw_users.line) == (Path("seeknal/pipelines/users.py"), 12)
    assert from_python["transform.active_users"].is_python
    assert from_python["transform.active_users"].upstream == ["source.raw_users"]
    assert from_python["transform.active_users"].spec.description == "Users seen in the last month."
    assert from_python["transform.active_users"].spec.function == "recent_users"
    assert from_python["feature_group.user_features"].upstream == ["transform.active_users"]
    assert from_python["feature_group.user_features"].kind_spec.entity == "user"
    assert project.nodes["transform.after_python"].upstream == ["feature_group.user_features", "transform.active_users"]


def test_unreadable_or_invalid_python_files_are_problems_not_crashes(make_project):
    project_dir = make_project(
        {
            "seeknal/orders.yml": ORDERS_SOURCE,
            "seeknal/pipelines/broken.py": "@transform(name='x'\ndef x(ctx):\n    pass\n",
        }
    )
    (project_dir / "seeknal/pipelines/latin1.py").write_bytes("# caf\u00e9\n".encode("latin-1"))
    problems = {str(problem.file): problem for problem in problems_of(project_dir)}
    assert set(problems) == {"seeknal/pipelines/broken.py", "seeknal/pipelines/latin1.py"}
    assert problems["seeknal/pipelines/broken.py"].message.startswith("Python syntax error")
    assert problems["seeknal/pipelines/broken.py"].line == 1
    assert problems["seeknal/pipelines/latin1.py"].message.startswith("cannot read file")


class TestProfiles:
    PROFILES = """
        connections:
          warehouse:
            type: postgresql
            host: ${SHOP_PG_HOST:localhost}
            port: 5432
            password: ${SHOP_PG_PASSWORD}
        source_defaults:
          postgres: {connection: warehouse, schema: sales}
    """

    @pytest.fixture(autouse=True)
    def no_global_profiles(self, tmp_path, monkeypatch):
        monkeypatch.setenv("SEEKNAL_BASE_CONFIG_PATH", str(tmp_path / "no-global-config"))
        monkeypatch.delenv("SEEKNAL_PROFILES_PATH", raising=False)
        monkeypatch.delenv("SHOP_PG_HOST", raising=False)
        monkeypatch.delenv("SHOP_PG_PASSWORD", raising=False)

    def test_the_projects_own_profiles_yml_is_used_and_env_resolved_at_connect_time(self, make_project, monkeypatch):
        project = load_project(make_project({"seeknal/orders.yml": ORDERS_SOURCE, "profiles.yml": self.PROFILES}))
        assert project.profiles.path == project.root / "profiles.yml"
        # Placeholders are kept until a connection is opened: nothing secret is held in the loaded project.
        assert project.profiles.connections["warehouse"]["password"] == "${SHOP_PG_PASSWORD}"
        assert project.profiles.connection("warehouse")["host"] == "localhost"
        monkeypatch.setenv("SHOP_PG_HOST", "db.internal")
        monkeypatch.setenv("SHOP_PG_PASSWORD", "s3cret")
        connection = project.profiles.connection("warehouse")
        assert (connection["host"], connection["password"], connection["port"]) == ("db.internal", "s3cret", 5432)
        assert project.profiles.defaults_for("postgresql") == {"connection": "warehouse", "schema": "sales"}
        with pytest.raises(KeyError, match="'lake' is not defined"):
            project.profiles.connection("lake")

    def test_profiles_path_beats_the_env_var_which_beats_the_project_file(self, make_project, tmp_path, monkeypatch):
        project_dir = make_project({"seeknal/orders.yml": ORDERS_SOURCE, "profiles.yml": "connections: {local: {}}\n"})
        from_env = tmp_path / "env-profiles.yml"
        from_env.write_text("connections: {from_env: {}}\n")
        explicit = tmp_path / "explicit.yml"
        explicit.write_text("connections: {explicit: {}}\n")
        monkeypatch.setenv("SEEKNAL_PROFILES_PATH", str(from_env))
        assert set(load_project(project_dir).profiles.connections) == {"from_env"}
        assert set(load_project(project_dir, profiles_path=explicit).profiles.connections) == {"explicit"}

    def test_a_missing_explicit_profiles_file_is_a_problem(self, make_project, tmp_path):
        problems = problems_of(make_project({"seeknal/orders.yml": ORDERS_SOURCE}), profiles_path=tmp_path / "nope.yml")
        assert [(problem.file, problem.message) for problem in problems] == [
            (tmp_path / "nope.yml", "profiles file does not exist")
        ]


BROKEN_PROJECT = {
    "seeknal/common/transformations.yml": "transformations:\n  - {id: big_orders, sql: SELECT 1}\n",
    "seeknal/sources/orders.yml": ORDERS_SOURCE,
    "seeknal/sources/syntax.yml": """
        kind: source
        name: broken
        source: csv
          table: [unclosed
    """,
    "seeknal/misc/pipeline.yml": "kind: pipeline\nname: nightly\n",
    "seeknal/transforms/no_sql.yml": "kind: transform\nname: no_sql\n",
    "seeknal/transforms/first.yml": "kind: transform\nname: twice\ntransform: SELECT 1\n",
    "seeknal/transforms/second.yml": "kind: transform\nname: twice\ntransform: SELECT 2\n",
    "seeknal/transforms/dangling.yml": """
        kind: transform
        name: dangling
        inputs: [{ref: source.order}]
        transform: SELECT * FROM ref('source.orders')
    """,
    "seeknal/transforms/orders.yml": "kind: transform\nname: orders\ntransform: SELECT * FROM source.orders\n",
    "seeknal/transforms/ambiguous.yml": "kind: transform\nname: ambiguous\ninputs: [{ref: orders}]\ntransform: SELECT 1\n",
    "seeknal/transforms/selfish.yml": "kind: transform\nname: selfish\ntransform: SELECT * FROM transform.selfish\n",
    "seeknal/transforms/injection.yml": """
        kind: transform
        name: injection
        transform: SELECT * FROM ref('DROP TABLE; --')
    """,
    "seeknal/transforms/cycle.yml": """
        kind: transform
        name: a
        transform: SELECT * FROM ref('transform.b')
        ---
        kind: transform
        name: b
        transform: SELECT * FROM transform.a
    """,
    "seeknal/transforms/common_typo.yml": """
        kind: transform
        name: common_typo
        transform: "{{ transforms.big_order }}"
    """,
    "seeknal/transforms/env.yml": """
        kind: transform
        name: env
        params: {region: "{{ env:SEEKNAL_TEST_UNSET_REGION }}"}
        transform: SELECT '{{ env:SEEKNAL_TEST_UNSET_BUCKET }}' AS bucket
    """,
}


def test_every_problem_is_reported_in_one_pass_with_file_node_and_field(make_project, monkeypatch):
    monkeypatch.delenv("SEEKNAL_TEST_UNSET_REGION", raising=False)
    monkeypatch.delenv("SEEKNAL_TEST_UNSET_BUCKET", raising=False)
    problems = problems_of(make_project(BROKEN_PROJECT))
    found = {(str(problem.file), problem.node_id, problem.field, problem.line): problem.message for problem in problems}

    def message(file: str, node_id: str | None, field: str | None, line: int | None = 1) -> str:
        return found.pop((f"seeknal/{file}", node_id, field, line))

    assert "YAML syntax error" in message("sources/syntax.yml", None, None, line=4)
    assert "unknown kind 'pipeline'" in message("misc/pipeline.yml", "pipeline.nightly", "kind")
    assert "missing required field" in message("transforms/no_sql.yml", "transform.no_sql", "transform")
    assert "duplicate node id (also defined in seeknal/transforms/first.yml:1)" in message(
        "transforms/second.yml", "transform.twice", "name"
    )
    dangling = message("transforms/dangling.yml", "transform.dangling", "inputs[0]")
    assert "'source.order'" in dangling and "did you mean source.orders" in dangling
    assert "ambiguous reference 'orders': write one of source.orders, transform.orders" in message(
        "transforms/ambiguous.yml", "transform.ambiguous", "inputs[0]"
    )
    assert "transform.selfish: a node cannot read its own output" in message(
        "transforms/selfish.yml", "transform.selfish", "transform"
    )
    assert "invalid ref() argument: 'DROP TABLE; --'" in message("transforms/injection.yml", "transform.injection", "transform")
    assert "cycle detected: transform.a -> transform.b -> transform.a" in message("transforms/cycle.yml", "transform.a", None)
    typo = message("transforms/common_typo.yml", "transform.common_typo", "transform")
    assert "unknown common config key '{{ transforms.big_order }}'" in typo and "Did you mean: transforms.big_orders" in typo
    assert "'SEEKNAL_TEST_UNSET_REGION' is not set" in message("transforms/env.yml", "transform.env", "params")
    assert "'SEEKNAL_TEST_UNSET_BUCKET' is not set" in message("transforms/env.yml", "transform.env", "transform")
    assert found == {}


def test_a_node_without_a_name_and_an_empty_seeknal_dir_are_reported(make_project):
    problems = problems_of(make_project({"seeknal/t.yml": "kind: transform\ntransform: SELECT 1\n"}))
    assert [(str(p.file), p.field, p.message) for p in problems] == [
        ("seeknal/t.yml", "name", "missing required field 'name'")
    ]
    empty = make_project({"README.md": "nothing yet"}, name="empty")
    assert "no node files found" in str(problems_of(empty)[0])
    with pytest.raises(ProjectLoadError, match="not a Seeknal project"):
        load_project(empty / "data")



def test_a_reload_takes_unchanged_files_from_the_parse_cache_and_loads_what_a_fresh_load_does(make_project):
    """A code location reloads the project on every deploy and run worker start: files whose text did not change
    are not parsed again (``target/seeknal_dagster/yaml.json``, once a build made ``target/``), and the load is the
    same as without that cache — an edit shows, a YAML date stays a date, a garbled cache file is ignored."""
    root = make_project(
        {
            "seeknal/sources/orders.yml": ORDERS_SOURCE,
            "seeknal/transforms/daily.yml": """
                kind: transform
                name: daily
                inputs: [{ref: source.orders}]
                transform: SELECT * FROM ref('source.orders')
                dagster: {partitions: {type: daily, start: 2025-01-01}}
            """,
            "seeknal/transforms/big.yml": """
                kind: transform
                name: big
                inputs: [{ref: source.orders}]
                transform: SELECT * FROM ref('source.orders') WHERE amount > 100
            """,
        }
    )
    load_project(root)
    assert not (root / "target").exists()  # loading alone (validate, a dry run) writes nothing
    (root / "target").mkdir()  # as the first build makes it (its column plan goes there)
    cache = root / "target/seeknal_dagster/yaml.json"

    def loaded() -> dict:
        project = load_project(root)
        return {node_id: (node.spec, node.file, node.line, node.upstream) for node_id, node in project.nodes.items()}

    def without_cache() -> dict:
        cache.unlink(missing_ok=True)
        try:
            return loaded()
        finally:
            cache.unlink(missing_ok=True)

    first = loaded()
    assert cache.is_file()
    assert loaded() == first == without_cache()
    assert str(first["transform.daily"][0].dagster.partitions.start).startswith("2025-01-01")

    loaded()  # the cache is back
    big = root / "seeknal/transforms/big.yml"
    big.write_text(big.read_text().replace("amount > 100", "amount > 500"))
    edited = loaded()
    assert "amount > 500" in edited["transform.big"][0].transform
    assert edited == without_cache()

    loaded()
    cache.write_text(cache.read_text()[:-40] + "garbled")
    assert loaded() == edited
