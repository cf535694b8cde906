"""``seeknal-dagster validate DIR``: every problem at once and exit 1, or a summary and exit 0."""

from __future__ import annotations

import subprocess

from seeknal_dagster.cli import main

VALID = {
    "seeknal/sources/orders.yml": "kind: source\nname: orders\nsource: csv\ntable: data/orders.csv\n",
    "seeknal/sources/customers.yml": "kind: source\nname: customers\nsource: csv\ntable: data/customers.csv\n",
    "seeknal/transforms/report.yml": """
        kind: transform
        name: report
        transform: SELECT * FROM ref('source.orders') JOIN source.customers USING (customer_id)
    """,
    "seeknal/rules/positive.yml": """
        kind: rule
        name: positive
        inputs: [{ref: transform.report}]
        rule: amount > 0
    """,
    "seeknal/pipelines/scores.py": """
        from seeknal.pipeline import transform

        @transform(name="scores", inputs=["transform.report"])
        def scores(ctx):
            return ctx.ref("transform.report")
    """,
}


def test_a_valid_project_prints_a_summary_and_exits_0(make_project, capsys):
    project = make_project(VALID)
    assert main(["validate", str(project)]) == 0
    output = capsys.readouterr()
    assert output.err == ""
    lines = output.out.splitlines()
    assert lines[0] == f"✓ Seeknal project 'project' at {project} is valid"
    assert lines[1] == "  5 nodes, 4 edges"
    assert [line.split() for line in lines[2:5]] == [["rule", "1"], ["source", "2"], ["transform", "2"]]
    assert lines[5] == "  (1 declared in Python files)"


def test_every_problem_is_printed_and_the_exit_code_is_1(make_project, capsys, monkeypatch):
    monkeypatch.delenv("SEEKNAL_TEST_UNSET_BUCKET", raising=False)
    project = make_project(
        {
            **VALID,
            "seeknal/transforms/report.yml": "kind: transform\nname: report\ntransform: SELECT * FROM ref('source.order')\n",
            "seeknal/transforms/broken.yml": "kind: transform\nname: broken\ntransform: [SELECT\n",
            "seeknal/transforms/env.yml": """
                kind: transform
                name: env
                transform: SELECT '{{ env:SEEKNAL_TEST_UNSET_BUCKET }}'
            """,
        }
    )
    assert main(["validate", str(project)]) == 1
    output = capsys.readouterr()
    assert output.out == ""
    assert f"✗ Seeknal project {project} has 3 problem(s):" in output.err
    assert "seeknal/transforms/broken.yml:4: YAML syntax error" in output.err
    assert "seeknal/transforms/report.yml:1 | node transform.report | field 'transform': ref('source.order')" in output.err
    assert "seeknal/transforms/env.yml:1 | node transform.env | field 'transform': environment variable" in output.err
    assert "Traceback" not in output.err


def test_profiles_option_and_a_directory_that_is_not_a_project(make_project, tmp_path, capsys):
    project = make_project(VALID)
    assert main(["validate", str(project), "--profiles", str(tmp_path / "missing.yml")]) == 1
    assert "missing.yml: profiles file does not exist" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "elsewhere")]) == 1
    assert "not a Seeknal project" in capsys.readouterr().err


def test_the_installed_command(make_project):
    project = make_project(VALID)
    completed = subprocess.run(["seeknal-dagster", "validate", str(project)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert "5 nodes, 4 edges" in completed.stdout
