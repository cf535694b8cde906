"""Nodes declared by Seeknal's Python decorators (``@source``, ``@transform``, ``@feature_group``,
``@second_order_aggregation``), found by reading the file, never by running it.

Seeknal imports these files to build its DAG; a code location must not run project code to draw a graph, so the
decorators are read from the syntax tree: their arguments (literals, constants assigned at the top of the file,
Seeknal's ``Materialization(…)`` settings), each function's ``ctx.ref("kind.name")`` calls, its source for the
code version, and the file's PEP 723 header, checked against the installed packages. A ``@source`` naming a
table, path or query is a source like a YAML one, as in Seeknal; every other node runs its function when it is
materialized (see ``executors/python.py``).
"""

from __future__ import annotations

import ast
import copy
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from seeknal_dagster.project.errors import Problem, validation_problems
from seeknal_dagster.project.models import SPEC_BY_KIND, NodeKind, NodeSpec, PythonNodeSpec, function_output_id
from seeknal_dagster.project.python_dependencies import read_script_metadata, unmet_requirements

DECORATOR_KINDS = {
    "source": NodeKind.SOURCE,
    "transform": NodeKind.TRANSFORM,
    "feature_group": NodeKind.FEATURE_GROUP,
    "second_order_aggregation": NodeKind.SECOND_ORDER_AGGREGATION,
}
#: Decorator arguments that say what a node is; the others are its params (``ctx.params``), as in Seeknal.
_NODE_ARGUMENTS = frozenset({"name", "description", "tags", "dagster", "params", "materialization"})
_KIND_ARGUMENTS = {
    NodeKind.SOURCE: frozenset({"source", "table", "columns"}),
    NodeKind.TRANSFORM: frozenset({"sql", "inputs"}),
    NodeKind.FEATURE_GROUP: frozenset({"entity", "features", "inputs"}),
    NodeKind.SECOND_ORDER_AGGREGATION: frozenset(
        {"id_col", "feature_date_col", "application_date_col", "features", "owner", "inputs"}
    ),
}
#: Seeknal's settings classes, read as the mappings they stand for.
_SETTINGS_CALLS = frozenset({"Materialization", "OfflineConfig", "OnlineConfig", "IcebergTable", "MaterializationConfig"})
#: What a node's process provides of Seeknal (``engines/python_runtime/seeknal``).
PROVIDED_MODULES = frozenset(
    {
        "seeknal",
        "seeknal.pipeline",
        "seeknal.pipeline.decorators",
        "seeknal.pipeline.context",
        "seeknal.pipeline.materialization",
        "seeknal.pipeline.materialization_config",
    }
)
PROVIDED_NAMES = frozenset(
    {
        *DECORATOR_KINDS,
        *_SETTINGS_CALLS,
        "materialize",
        "PipelineContext",
        "PipelineState",
        "get_registered_nodes",
        "clear_registry",
    }
)


class _NotLiteral(Exception):
    """A value only running the file would give."""


def _dotted_tail(expression: ast.expr) -> str | None:
    if isinstance(expression, ast.Attribute):
        return expression.attr
    if isinstance(expression, ast.Name):
        return expression.id
    return None


def _evaluate(node: ast.expr, constants: dict[str, Any]) -> Any:
    """A literal, a top-level constant, or a settings call such as ``OfflineConfig(format="parquet")``."""
    if isinstance(node, ast.Name):
        if node.id in constants:
            return constants[node.id]
        raise _NotLiteral
    if isinstance(node, ast.Call):
        if _dotted_tail(node.func) not in _SETTINGS_CALLS or node.args or any(k.arg is None for k in node.keywords):
            raise _NotLiteral
        values = {keyword.arg: _evaluate(keyword.value, constants) for keyword in node.keywords}
        return {key: value for key, value in values.items() if value is not None}
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_evaluate(item, constants) for item in node.elts]
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise _NotLiteral
        try:
            return {_evaluate(key, constants): _evaluate(value, constants) for key, value in zip(node.keys, node.values)}
        except TypeError:
            raise _NotLiteral from None
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise _NotLiteral from None


def _module_constants(tree: ast.Module) -> dict[str, Any]:
    """``NAME = <literal>`` assignments at the top of the file, in order."""
    constants: dict[str, Any] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            target, value = statement.target, statement.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                constants[target.id] = _evaluate(value, constants)
            except _NotLiteral:
                constants.pop(target.id, None)
    return constants


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            return body[1:] or [ast.Pass()]
    return body


def _normalized(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The function's code without decorators and docstring: comments and formatting do not change it."""
    bare = copy.deepcopy(function)
    bare.decorator_list = []
    bare.body = _without_docstring(bare.body)
    return ast.unparse(bare)


class _PipelineFile:
    """One ``seeknal/**/*.py`` file, parsed."""

    def __init__(self, text: str, tree: ast.Module, relative: Path):
        self.text, self.tree, self.relative = text, tree, relative
        self.constants = _module_constants(tree)
        self.functions = [
            statement
            for statement in tree.body
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) and self.node_decorators(statement)
        ]
        shared = [statement for statement in _without_docstring(tree.body) if statement not in self.functions]
        self.shared_code = ast.unparse(ast.Module(body=shared, type_ignores=[]))

    @staticmethod
    def node_decorators(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[NodeKind, ast.expr]]:
        found = []
        for decorator in function.decorator_list:
            kind = DECORATOR_KINDS.get(_dotted_tail(decorator.func if isinstance(decorator, ast.Call) else decorator) or "")
            if kind is not None:
                found.append((kind, decorator))
        return found

    def problem(self, message: str, line: int | None, node_id: str | None = None, field: str | None = None) -> Problem:
        return Problem(message, file=self.relative, line=line, node_id=node_id, field=field)

    def import_problems(self) -> Iterator[Problem]:
        """Imports of Seeknal modules or names that a node's process does not provide."""
        for statement in ast.walk(self.tree):
            if isinstance(statement, ast.Import):
                modules = [alias.name for alias in statement.names]
            elif isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
                base = statement.module
                if base == "seeknal":
                    modules = [f"seeknal.{alias.name}" for alias in statement.names]
                elif base == "seeknal.pipeline":
                    modules = [f"seeknal.pipeline.{alias.name}" for alias in statement.names if alias.name not in PROVIDED_NAMES]
                    modules = [name for name in modules if name not in PROVIDED_MODULES]
                else:
                    modules = [base]
            else:
                continue
            for module in modules:
                if (module == "seeknal" or module.startswith("seeknal.")) and module not in PROVIDED_MODULES:
                    yield self.problem(
                        f"imports {module}, which seeknal-dagster does not provide: a node's process has "
                        f"seeknal.pipeline ({', '.join(sorted(PROVIDED_NAMES))})",
                        statement.lineno,
                    )

    def misplaced_declarations(self) -> Iterator[Problem]:
        top_level = set(map(id, self.functions))
        for function in ast.walk(self.tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and id(function) not in top_level:
                if self.node_decorators(function):
                    yield self.problem(
                        f"{function.name}() declares a node but is not defined at the top level of the file",
                        function.lineno,
                    )

    def arguments(self, decorator: ast.expr, line: int) -> tuple[dict[str, Any], list[Problem]]:
        """The decorator's arguments by name (a first positional one is the name, as in Seeknal's signatures)."""
        if not isinstance(decorator, ast.Call):
            return {}, []
        named = [("name", decorator.args[0])] if len(decorator.args) == 1 else []
        problems = []
        if len(decorator.args) > 1:
            problems.append(self.problem("pass the decorator's arguments by name (name=…, inputs=…)", line))
        arguments: dict[str, Any] = {}
        for keyword, value in [*named, *((keyword.arg, keyword.value) for keyword in decorator.keywords)]:
            if keyword is None:
                problems.append(self.problem("a decorator's **arguments cannot be read without running the file", line))
                continue
            try:
                arguments[keyword] = _evaluate(value, self.constants)
            except _NotLiteral:
                problems.append(
                    self.problem(
                        f"the value of {keyword}= is only known by running the file: seeknal-dagster reads decorators "
                        "without running them, so use a literal or a constant assigned at the top of the file",
                        line,
                        field=keyword,
                    )
                )
        return arguments, problems

    def materializations(self, function: ast.FunctionDef | ast.AsyncFunctionDef, line: int) -> tuple[list[Any], list[Problem]]:
        """The tables of stacked ``@materialize(…)`` decorators, with Seeknal's defaults."""
        targets, problems = [], []
        for decorator in function.decorator_list:
            if isinstance(decorator, ast.Call) and _dotted_tail(decorator.func) == "materialize":
                arguments, found = self.arguments(decorator, line)
                arguments.pop("name", None)
                targets.append({"type": "iceberg", "table": "", "mode": "full", **arguments})
                problems += found
        return targets, problems

    def ctx_refs(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
        """``<first parameter>.ref("kind.name")`` calls with a literal name, in order, once each."""
        parameters = [*function.args.posonlyargs, *function.args.args]
        if not parameters:
            return []
        context = parameters[0].arg
        refs: list[str] = []
        for call in ast.walk(function):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "ref"
                and isinstance(call.func.value, ast.Name)
                and call.func.value.id == context
                and call.args
                and isinstance(call.args[0], ast.Constant)
                and isinstance(call.args[0].value, str)
                and call.args[0].value not in refs
            ):
                refs.append(call.args[0].value)
        return refs

    def source_code(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
        first = min([function.lineno, *(decorator.lineno for decorator in function.decorator_list)])
        return "\n".join(self.text.splitlines()[first - 1 : function.end_lineno])

    def code_digest(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
        return hashlib.sha256(f"{_normalized(function)}\n{self.shared_code}".encode()).hexdigest()[:16]


def _validated(spec_class: type[NodeSpec], document: dict[str, Any], file: Path, line: int) -> NodeSpec | list[Problem]:
    node_id = f"{document['kind']}.{document['name']}"
    try:
        return spec_class.model_validate(document)
    except ValidationError as error:
        return validation_problems(error, file, line, node_id)


def _declarative_source(arguments: dict[str, Any], params: dict[str, Any]) -> bool:
    """Whether a ``@source`` names what to read (then seeknal-dagster reads it, as Seeknal does) rather than
    returning the rows from its function."""
    return bool(arguments.get("table") or params.get("query") or params.get("path"))


def _read_node(
    file: _PipelineFile, function: ast.FunctionDef | ast.AsyncFunctionDef
) -> tuple[int, NodeSpec | None, list[Problem]]:
    """(line, spec or None, problems) for one decorated function."""
    line = min([function.lineno, *(decorator.lineno for decorator in function.decorator_list)])
    declarations = file.node_decorators(function)
    if len(declarations) > 1:
        return line, None, [file.problem(f"{function.name}() has more than one node decorator", line)]
    (kind, decorator), = declarations
    arguments, problems = file.arguments(decorator, line)
    targets, target_problems = file.materializations(function, line)
    problems += target_problems
    name = arguments.get("name") or function.name
    node_id = f"{kind.value}.{name}"
    problems = [replace(problem, node_id=node_id) for problem in problems]
    settings = dict(arguments.get("dagster") or {})
    timeout = settings.pop("timeout", None)
    if "partitions" in settings:
        problems.append(file.problem("partitions are not supported on Python nodes", line, node_id, "dagster.partitions"))
    params = {key: value for key, value in arguments.items() if key not in _NODE_ARGUMENTS | _KIND_ARGUMENTS[kind]}
    if isinstance(arguments.get("params"), dict):
        params.update(arguments["params"])
    document: dict[str, Any] = {
        "kind": kind.value,
        "name": name,
        "description": arguments.get("description") or ast.get_docstring(function),
        "owner": arguments.get("owner"),
        "tags": arguments.get("tags") or [],
        "inputs": arguments.get("inputs") or [],
        "params": params,
        "dagster": settings,
        "materialization": arguments.get("materialization"),
        "materializations": targets or None,
    }
    if kind == NodeKind.SOURCE and _declarative_source(arguments, params):
        source = {"source": arguments.get("source", "csv"), "table": arguments.get("table"), "columns": arguments.get("columns")}
        result = _validated(SPEC_BY_KIND[kind], {**document, **source}, file.relative, line)
        return (line, result, problems) if isinstance(result, NodeSpec) else (line, None, problems + result)
    if kind in (NodeKind.FEATURE_GROUP, NodeKind.SECOND_ORDER_AGGREGATION):
        # That kind's node over the rows the function returns, as in Seeknal; what it computes only (the node's
        # description, tags and settings stay on the node itself).
        computed = {key: value for key, value in document.items() if key not in PythonNodeSpec.descriptive_fields}
        kind_fields = {key: arguments[key] for key in _KIND_ARGUMENTS[kind] - {"inputs", "owner"} if key in arguments}
        rows = function_output_id(function.name)
        kind_fields |= {"inputs": [rows], **({"source": rows} if kind == NodeKind.SECOND_ORDER_AGGREGATION else {})}
        kind_spec = _validated(SPEC_BY_KIND[kind], {**computed, **kind_fields}, file.relative, line)
        if not isinstance(kind_spec, NodeSpec):
            return line, None, problems + kind_spec
        document["kind_spec"] = kind_spec
    python = {
        "function": function.name,
        "source_code": file.source_code(function),
        "code_digest": file.code_digest(function),
        "code_refs": file.ctx_refs(function),
        "decorator_args": arguments,
        "timeout": timeout,
    }
    result = _validated(PythonNodeSpec, {**document, **python}, file.relative, line)
    return (line, result, problems) if isinstance(result, NodeSpec) else (line, None, problems + result)


def read_python_nodes(path: Path, relative_to: Path) -> Iterator[tuple[int, NodeSpec] | Problem]:
    """``(line, spec)`` per decorated function in ``path``, and every problem found reading them."""
    relative = path.relative_to(relative_to)
    try:
        text = path.read_text()
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as error:
        yield Problem(f"Python syntax error: {error.msg}", file=relative, line=error.lineno)
        return
    except (OSError, UnicodeDecodeError) as error:
        yield Problem(f"cannot read file: {error}", file=relative)
        return
    file = _PipelineFile(text, tree, relative)
    yield from file.misplaced_declarations()
    # What stops the file from running is a problem of every node that runs it (so loading with allow_partial
    # leaves each of them out, with its downstream).
    imports = list(file.import_problems())
    try:
        unmet = unmet_requirements(read_script_metadata(text))
    except ValueError as error:
        unmet = [f"the '# /// script' header cannot be read: {error}"]
    running = False
    for function in file.functions:
        line, spec, problems = _read_node(file, function)
        yield from problems
        if spec is None:
            continue
        if isinstance(spec, PythonNodeSpec):  # a declarative source runs nothing of the file
            running = True
            yield from (replace(problem, node_id=spec.node_id) for problem in imports)
            yield from (file.problem(message, 1, spec.node_id, "# /// script") for message in unmet)
        yield line, spec
    if not running:
        yield from imports
