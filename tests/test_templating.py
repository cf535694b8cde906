"""``{{ }}`` templating as Seeknal resolves it (spec §4): params, built-in functions, env, common config."""

from __future__ import annotations

from datetime import datetime

import pytest

from seeknal_dagster.project.templating import TemplateError, TemplateRenderer, load_common_config
from tests.support.projects import write_project

#: A fixed "now" in January, so month and year arithmetic crosses a year boundary.
NOW = datetime(2025, 1, 15, 9, 30)


@pytest.fixture
def renderer() -> TemplateRenderer:
    return TemplateRenderer(clock=lambda: NOW, run_id="run-42")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ today }}", "2025-01-15"),
        ("{{today()}}", "2025-01-15"),
        ("{{ today(-1) }}", "2025-01-14"),
        ("{{ today(-15) }}", "2024-12-31"),
        ("{{ yesterday() }}", "2025-01-14"),
        ("{{ yesterday }}", "2025-01-14"),
        ("{{ month_start }}", "2025-01-01"),
        ("{{ month_start(-1) }}", "2024-12-01"),
        ("{{ month_start( 13 ) }}", "2026-02-01"),
        ("{{ year_start(-1) }}", "2024-01-01"),
        ("{{ run_id }}", "run-42"),
        ("{{ run_date }}", "2025-01-15T09:30:00"),
    ],
)
def test_built_in_functions_use_the_renderers_clock(renderer, template, expected):
    assert renderer.render(template) == expected


def test_env_lookups_with_and_without_defaults(renderer, monkeypatch):
    monkeypatch.setenv("SHOP_REGION", "eu")
    monkeypatch.delenv("SHOP_MISSING", raising=False)
    assert renderer.render("{{ env:SHOP_REGION }}") == "eu"
    assert renderer.render("{{ env:SHOP_REGION|us }}") == "eu"
    assert renderer.render("{{ env:SHOP_MISSING|us }}") == "us"
    assert renderer.render("{{ env:SHOP_MISSING | us }}") == "us"
    assert renderer.render("{{ env('SHOP_MISSING', 'apac') }}") == "apac"
    assert renderer.render("{{ env:SHOP_MISSING| }}") == ""
    with pytest.raises(TemplateError, match="SHOP_MISSING.*not set"):
        renderer.render("{{ env:SHOP_MISSING }}")


def test_node_params_fill_the_sql_and_overrides_win(renderer):
    params = {"min_amount": 5, "since": "{{ today(-7) }}"}
    sql = "WHERE amount >= {{ min_amount }} AND day >= '{{ since }}'"
    assert renderer.render(sql, params) == "WHERE amount >= 5 AND day >= '2025-01-08'"
    overridden = renderer.with_run("run-43", {"min_amount": 100})
    assert overridden.render(sql, params) == "WHERE amount >= 100 AND day >= '2025-01-08'"
    assert overridden.render("{{ run_id }}") == "run-43"


def test_an_override_replaces_a_param_without_rendering_it(renderer, monkeypatch):
    monkeypatch.delenv("SHOP_REGION", raising=False)
    params = {"region": "{{ env:SHOP_REGION }}"}
    with pytest.raises(TemplateError):
        renderer.render_params(params)
    assert renderer.with_run("run-43", {"region": "eu"}).render_params(params) == {"region": "eu"}


def test_rendered_param_values_are_typed_like_seeknal(renderer, monkeypatch):
    monkeypatch.setenv("SHOP_LIMIT", "100")
    params = {
        "limit": "{{ env:SHOP_LIMIT }}",
        "ratio": "{{ env:SHOP_RATIO|0.5 }}",
        "enabled": "{{ env:SHOP_ENABLED|true }}",
        "day": "{{ today }}",
        "nested": {"days": ["{{ env:SHOP_DAYS|7 }}", "plain"]},
        "literal": "no template here",
    }
    assert renderer.render_params(params) == {
        "limit": 100,
        "ratio": 0.5,
        "enabled": True,
        "day": "2025-01-15",
        "nested": {"days": [7, "plain"]},
        "literal": "no template here",
    }


def test_unknown_expressions_are_left_as_written(renderer):
    assert renderer.render("SELECT '{{ not_a_param }}'") == "SELECT '{{ not_a_param }}'"


def test_common_config_keys_from_the_three_files(tmp_path):
    project = write_project(
        tmp_path,
        {
            "seeknal/common/sources.yml": """
                sources:
                  - id: orders
                    ref: source.orders
                    params: {path: data/orders.csv, min_amount: 5}
            """,
            "seeknal/common/rules.yml": """
                rules:
                  - {id: positive_amount, value: "amount > 0"}
            """,
            "seeknal/common/transformations.yml": """
                transformations:
                  - {id: big_orders, sql: "SELECT * FROM ref('source.orders') WHERE amount > 100"}
            """,
        },
    )
    keys, problems = load_common_config(project / "seeknal/common")
    assert problems == []
    assert keys == {
        "orders.ref": "source.orders",
        "orders.path": "data/orders.csv",
        "orders.min_amount": "5",
        "rules.positive_amount": "amount > 0",
        "transforms.big_orders": "SELECT * FROM ref('source.orders') WHERE amount > 100",
    }
    renderer = TemplateRenderer(common=keys)
    assert renderer.render("WHERE {{ rules.positive_amount }} AND x > {{orders.min_amount}}") == (
        "WHERE amount > 0 AND x > 5"
    )
    with pytest.raises(TemplateError) as error:
        renderer.render("{{ rules.positive_amont }}")
    assert "unknown common config key '{{ rules.positive_amont }}'" in str(error.value)
    assert "Did you mean: rules.positive_amount" in str(error.value)


def test_common_snippets_are_rendered_too_and_may_not_refer_to_themselves():
    renderer = TemplateRenderer(
        common={
            "transforms.recent": "SELECT * FROM ref('source.orders') WHERE day >= '{{ today(-1) }}' AND {{ rules.ok }}",
            "rules.ok": "amount > {{ min_amount }}",
            "rules.loop": "{{ rules.loop }} OR true",
        },
        clock=lambda: NOW,
    )
    assert renderer.render("{{ transforms.recent }}", {"min_amount": 3}) == (
        "SELECT * FROM ref('source.orders') WHERE day >= '2025-01-14' AND amount > 3"
    )
    with pytest.raises(TemplateError, match="'rules.loop' refers to itself: rules.loop -> rules.loop"):
        renderer.render("{{ rules.loop }}")


def test_a_broken_common_file_is_reported_with_its_path(tmp_path):
    project = write_project(tmp_path, {"seeknal/common/rules.yml": "rules: [unclosed\n"})
    keys, problems = load_common_config(project / "seeknal/common")
    assert keys == {}
    assert [(problem.file.name, problem.line) for problem in problems] == [("rules.yml", 2)]
