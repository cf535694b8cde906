"""Nodes declared by Seeknal's Python decorators (``@source``, ``@transform``, …), found by reading the file.

Seeknal imports these files to build its DAG; a code location must not run arbitrary project code just to draw
a graph, so the decorators are read from the syntax tree instead: literal keyword arguments, ``inputs=[…]`` and
``ctx.ref("kind.name")`` calls give the node and its edges.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Iterator

from seeknal_dagster.project.errors import Problem
from seeknal_dagster.project.models import NodeKind, PythonNodeSpec

DECORATOR_KINDS = {
    "source": NodeKind.SOURCE,
    "transform": NodeKind.TRANSFORM,
    "feature_group": NodeKind.FEATURE_GROUP,
    "second_order_aggregation": NodeKind.SECOND_ORDER_AGGREGATION,
}


def _decorator_name(decorator: ast.expr) -> str | None:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Name):
        return target.id
    return None


def _literal_keywords(decorator: ast.expr) -> dict[str, Any]:
    if not isinstance(decorator, ast.Call):
        return {}
    keywords: dict[str, Any] = {}
    for keyword in decorator.keywords:
        if keyword.arg is None:
            continue
        try:
            keywords[keyword.arg] = ast.literal_eval(keyword.value)
        except ValueError:
            keywords[keyword.arg] = ast.unparse(keyword.value)
    return keywords


def _ctx_refs(function: ast.AST) -> list[str]:
    refs = []
    for call in ast.walk(function):
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "ref"
            and call.args
            and isinstance(call.args[0], ast.Constant)
            and isinstance(call.args[0].value, str)
        ):
            refs.append(call.args[0].value)
    return refs


def read_python_nodes(path: Path, relative_to: Path) -> Iterator[PythonNodeSpec | Problem]:
    """Yield one spec per decorated function in ``path`` (or a problem when the file does not parse)."""
    relative = path.relative_to(relative_to)
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as error:
        yield Problem(f"Python syntax error: {error.msg}", file=relative, line=error.lineno)
        return
    except (OSError, UnicodeDecodeError) as error:
        yield Problem(f"cannot read file: {error}", file=relative)
        return
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in function.decorator_list:
            kind = DECORATOR_KINDS.get(_decorator_name(decorator) or "")
            if kind is None:
                continue
            arguments = _literal_keywords(decorator)
            name = arguments.get("name") or function.name
            inputs = arguments.get("inputs") or []
            yield PythonNodeSpec(
                kind=kind,
                name=str(name),
                description=arguments.get("description") or ast.get_docstring(function),
                tags=arguments.get("tags") or [],
                inputs=list(inputs) if isinstance(inputs, (list, tuple)) else [],
                function=function.name,
                decorator_args=arguments,
                code_refs=_ctx_refs(function),
            )
