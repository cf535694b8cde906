"""Reading a Seeknal project from disk into validated nodes and a graph.

Discovery follows Seeknal (``seeknal/**/*.yml``, ``seeknal/common/`` as shared config, decorated ``*.py`` files)
and is more forgiving where Seeknal silently drops nodes: ``.yaml`` files and several ``---`` documents in one file
load, and anything that cannot load is reported, with every other problem, instead of vanishing.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml
from pydantic import ValidationError

from seeknal_dagster.graph import NodeGraph
from seeknal_dagster.graph.sql_refs import VALID_REF_ARGUMENT, find_qualified_names, find_ref_calls
from seeknal_dagster.project.errors import Problem, ProjectLoadError
from seeknal_dagster.project.models import (
    FOLLOWS_INPUT_ENGINE,
    OBSERVABLE_SOURCE_TYPES,
    SPARK_KINDS,
    SPEC_BY_KIND,
    NodeKind,
    NodeSpec,
    PythonNodeSpec,
    SourceSpec,
    TransformSpec,
    known_engine,
    parse_ref,
)
from seeknal_dagster.project.profiles import Profiles, load_profiles
from seeknal_dagster.project.python_nodes import read_python_nodes
from seeknal_dagster.project.templating import TemplateError, TemplateRenderer, load_common_config

NODES_DIR = "seeknal"
#: libyaml's loader when PyYAML was built with it (same safe semantics, several times faster).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SKIPPED_PYTHON_DIRS = ("common", "templates")


@dataclass
class ProjectNode:
    """A node as loaded: its validated spec, the file it came from, and what it reads."""

    spec: NodeSpec
    file: Path
    line: int | None = None
    upstream: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.spec.node_id

    @property
    def kind(self) -> NodeKind:
        return self.spec.kind

    @property
    def node_type(self) -> NodeKind:
        """The seed design's name for :attr:`kind`."""
        return self.spec.kind

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def is_python(self) -> bool:
        return isinstance(self.spec, PythonNodeSpec)

    @property
    def has_data_fingerprint(self) -> bool:
        """Whether this is a YAML source whose external data can be fingerprinted (files, SQLite, PostgreSQL; not
        Hive), so it gets an observable asset standing for that data."""
        return isinstance(self.spec, SourceSpec) and self.spec.source_type in OBSERVABLE_SOURCE_TYPES

    def upstream_id(self, reference: Any) -> str | None:
        """The upstream node a reference in this node's YAML names: ``kind.name``, or a bare name that is unique
        among its upstream nodes (the loader accepts both)."""
        ref = parse_ref(reference)
        if ref in self.upstream:
            return ref
        by_name = [upstream_id for upstream_id in self.upstream if upstream_id.partition(".")[2] == ref]
        return by_name[0] if len(by_name) == 1 else None

    def input_upstream_ids(self) -> list[str]:
        """The declared inputs as upstream node ids, in order: what ``input_0``, ``input_1``, … stand for."""
        return [upstream_id for upstream_id in map(self.upstream_id, self.spec.input_ids()) if upstream_id]

    @property
    def config(self) -> dict[str, Any]:
        """The node's YAML as a plain mapping (the seed design's ``node.config``)."""
        return self.spec.model_dump(mode="json", by_alias=True, exclude_none=True)

    def definition_hash(self, common: Mapping[str, str]) -> str:
        """A fingerprint of what the node computes: its definition without descriptive fields, plus the common
        config values it uses. Editing SQL changes it; editing a description does not."""
        definition = {
            key: value for key, value in self.config.items() if key not in type(self.spec).descriptive_fields
        }
        text = json.dumps(definition, sort_keys=True, default=str)
        used_common = {key: value for key, value in common.items() if key in text}
        payload = json.dumps([definition, used_common], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class SeeknalProject:
    """A loaded project: nodes by id, the graph, and the settings its nodes run with."""

    root: Path
    name: str
    nodes: dict[str, ProjectNode]
    graph: NodeGraph
    profiles: Profiles
    renderer: TemplateRenderer
    target_dir: Path
    settings: dict[str, Any] = field(default_factory=dict)
    #: The engine of nodes that name none (``build_definitions(default_engine=…)``); kinds that cannot run on
    #: Spark keep DuckDB.
    default_engine: str = "duckdb"
    _ids_by_name: dict[str, set[str]] | None = field(default=None, init=False, repr=False)

    def node(self, node_id: str) -> ProjectNode:
        return self.nodes[node_id]

    def output_path(self, node_id: str) -> Path:
        """Where a node's output lives, as Seeknal lays it out: ``target/intermediate/<kind>_<name>.parquet``."""
        kind, _, name = node_id.partition(".")
        return self.target_dir / "intermediate" / f"{kind}_{name}.parquet"

    def ids_named(self, name: str) -> set[str]:
        """Ids of the nodes called ``name`` (one per kind at most)."""
        if self._ids_by_name is None:
            self._ids_by_name = {}
            for node_id, node in self.nodes.items():
                self._ids_by_name.setdefault(node.name, set()).add(node_id)
        return set(self._ids_by_name.get(name, ()))

    def engine_of(self, node_id: str) -> str:
        """Where a node runs: ``duckdb`` or ``spark`` (``python`` for a Python-declared node). Its own ``engine``
        first; a profile or rule otherwise runs where the output it reads was written; then the project's
        default for the kinds that can run on Spark. A Hive source always reads through Spark."""
        node = self.nodes[node_id]
        if node.is_python:
            return "python"
        if node.kind == NodeKind.SOURCE:
            return "spark" if str(getattr(node.spec, "source", "")).lower() == "hive" else "duckdb"
        declared = node.spec.declared_engine()
        if declared:
            return declared
        if node.kind in FOLLOWS_INPUT_ENGINE and node.upstream:
            return "spark" if self.engine_of(node.upstream[0]) == "spark" else "duckdb"
        return self.default_engine if node.kind in SPARK_KINDS else "duckdb"

    def code_version(self, node_id: str) -> str:
        return self.nodes[node_id].definition_hash(self.renderer.common)

    @property
    def identity(self) -> str:
        """Tells apart two loads of one folder with different options (target dir, profiles, params)."""
        options = [str(self.root), str(self.target_dir), str(self.profiles.path), self.renderer.overrides]
        if self.default_engine != "duckdb":
            options.append(self.default_engine)
        return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _yaml_documents(path: Path, relative: Path) -> Iterator[tuple[int, Any] | Problem]:
    """(line, document) for every document in a YAML file, or a problem with the line of a syntax error."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        yield Problem(f"cannot read file: {error}", file=relative)
        return
    loader = _YAML_LOADER(text)
    try:
        while loader.check_node():
            document_node = loader.get_node()
            line = document_node.start_mark.line + 1
            yield line, loader.construct_document(document_node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        message = f"YAML syntax error: {getattr(error, 'problem', None) or error}"
        yield Problem(message, file=relative, line=mark.line + 1 if mark else None)
    finally:
        loader.dispose()


def _validate_spec(document: Any, relative: Path, line: int) -> NodeSpec | list[Problem]:
    if document is None:
        return []
    if not isinstance(document, dict):
        return [Problem("a node must be a YAML mapping", file=relative, line=line)]
    name = document.get("name")
    kind = document.get("kind")
    node_id = f"{kind}.{name}" if kind and name else (str(name) if name else None)
    problems = [
        Problem(f"missing required field '{key}'", file=relative, line=line, node_id=node_id, field=key)
        for key in ("kind", "name")
        if not document.get(key)
    ]
    if problems:
        return problems
    try:
        spec_class = SPEC_BY_KIND[NodeKind(kind)]
    except (ValueError, TypeError):
        known = ", ".join(kind.value for kind in NodeKind)
        return [Problem(f"unknown kind '{kind}' (known kinds: {known})", file=relative, line=line, node_id=node_id, field="kind")]
    try:
        return spec_class.model_validate(document)
    except ValidationError as error:
        return [
            Problem(
                _describe_validation_error(detail),
                file=relative,
                line=line,
                node_id=node_id,
                field=".".join(str(part) for part in detail["loc"]) or None,
            )
            for detail in error.errors()
        ]


def _describe_validation_error(detail: Mapping[str, Any]) -> str:
    if detail["type"] == "missing":
        return "missing required field"
    message = str(detail["msg"]).removeprefix("Value error, ")
    return message


def _node_files(nodes_dir: Path, pattern: str) -> Iterator[Path]:
    """Files matching ``pattern`` below ``nodes_dir``, except hidden ones (editor and notebook checkpoint copies
    such as ``.ipynb_checkpoints/orders-checkpoint.yml`` would otherwise be duplicate nodes)."""
    for path in nodes_dir.rglob(pattern):
        if not any(part.startswith(".") for part in path.relative_to(nodes_dir).parts):
            yield path


def _discover(root: Path) -> tuple[list[ProjectNode], list[Problem]]:
    nodes_dir = root / NODES_DIR
    problems: list[Problem] = []
    found: list[ProjectNode] = []
    yaml_files = sorted(
        path
        for pattern in ("*.yml", "*.yaml")
        for path in _node_files(nodes_dir, pattern)
        if path.relative_to(nodes_dir).parts[0] != "common"
    )
    for path in yaml_files:
        relative = path.relative_to(root)
        for item in _yaml_documents(path, relative):
            if isinstance(item, Problem):
                problems.append(item)
                continue
            line, document = item
            result = _validate_spec(document, relative, line)
            if isinstance(result, NodeSpec):
                found.append(ProjectNode(spec=result, file=relative, line=line))
            else:
                problems.extend(result)
    python_files = sorted(
        path
        for path in _node_files(nodes_dir, "*.py")
        if path.relative_to(nodes_dir).parts[0] not in SKIPPED_PYTHON_DIRS and not path.name.startswith("_")
    )
    for path in python_files:
        for item in read_python_nodes(path, root):
            if isinstance(item, Problem):
                problems.append(item)
            else:
                found.append(ProjectNode(spec=item, file=path.relative_to(root)))
    if not yaml_files and not python_files:
        problems.append(Problem(f"no node files found: expected YAML or Python files under {nodes_dir}", file=nodes_dir))
    return found, problems


def _resolve_ref(raw: Any, nodes: Mapping[str, ProjectNode]) -> tuple[str | None, str | None]:
    """(node id, problem message) for one structured reference; a bare name resolves when it is unique."""
    ref = parse_ref(raw)
    if ref is None:
        return None, f"cannot read the reference {raw!r}: expected {{ref: kind.name}}"
    if ref in nodes:
        return ref, None
    if "." not in ref:
        matches = sorted(node_id for node_id, node in nodes.items() if node.name == ref)
        if len(matches) == 1:
            return matches[0], None
        if matches:
            return None, f"ambiguous reference '{ref}': write one of {', '.join(matches)}"
    return None, f"reference to a node that does not exist: '{ref}'{_suggest(ref, nodes)}"


def _suggest(ref: str, nodes: Mapping[str, ProjectNode]) -> str:
    close = difflib.get_close_matches(ref, list(nodes), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _link(nodes: dict[str, ProjectNode], renderer: TemplateRenderer) -> tuple[NodeGraph, list[Problem]]:
    graph = NodeGraph()
    problems: list[Problem] = []
    for node_id, node in nodes.items():
        graph.add_node(node_id)

        def problem(message: str, field_name: str | None) -> Problem:
            return Problem(message, file=node.file, line=node.line, node_id=node_id, field=field_name)

        def reads(raw: Any, field_name: str | None, quoted: str = "") -> None:
            """Record the edge for one reference to another node, or the problem with it."""
            target, error = _resolve_ref(raw, nodes)
            if target == node_id:
                error = "a node cannot read its own output"
            if error:
                problems.append(problem(quoted + error, field_name))
            else:
                graph.add_edge(target, node_id)

        for field_name, raw in node.spec.declared_refs():
            reads(raw, field_name)
        params = node.spec.params
        try:
            renderer.render_params(params)
        except TemplateError as error:
            problems.append(problem(str(error), "params"))
            params = {}  # reported once; the SQL is still checked for problems of its own
        for field_name, sql in node.spec.sql_texts():
            try:
                sql = renderer.render(sql, params)
            except TemplateError as error:
                problems.append(problem(str(error), field_name))
                continue
            for ref in find_ref_calls(sql):
                if not VALID_REF_ARGUMENT.match(ref):
                    problems.append(problem(f"invalid ref() argument: {ref!r}", field_name))
                    continue
                reads(ref, field_name, f"ref('{ref}'): ")
            for target in find_qualified_names(sql, nodes):
                reads(target, field_name, f"{target}: ")
        node.upstream = graph.upstream[node_id]
        checked = node.upstream[0] if node.kind == NodeKind.RULE and node.upstream else None
        if checked and nodes[checked].is_python:
            message = f"a rule cannot check {checked}: it is declared in Python, which seeknal-dagster does not run"
            problems.append(problem(message, "inputs[0]"))
    cycle = graph.find_cycle()
    if cycle:
        first = nodes[cycle[0]]
        problems.append(
            Problem(f"cycle detected: {' -> '.join(cycle)}", file=first.file, line=first.line, node_id=cycle[0])
        )
    return graph, problems


def _target_problems(nodes: Mapping[str, ProjectNode], profiles: Profiles) -> list[Problem]:
    """Transform targets that cannot be written wherever the project runs: a PostgreSQL connection profiles.yml
    does not define, an Iceberg table with no catalog configured anywhere."""
    problems: list[Problem] = []
    has_catalog = bool(profiles.iceberg_catalog or os.environ.get("LAKEKEEPER_URL") or os.environ.get("LAKEKEEPER_URI"))
    for node in nodes.values():
        spec = node.spec
        if not isinstance(spec, TransformSpec):
            continue
        declared = [(f"materializations.{index}", target) for index, target in enumerate(spec.materializations or [])]
        declared += [("materialization", spec.materialization)] if spec.materialization else []
        for field_name, target in declared:
            if target.type == "postgresql" and target.connection not in profiles.connections:
                where = profiles.path or "no profiles.yml was found"
                message = f"connection '{target.connection}' is not defined in profiles ({where})"
                problems.append(Problem(message, node.file, node.id, f"{field_name}.connection", node.line))
            if target.type == "iceberg" and not target.catalog_uri and not has_catalog:
                message = "no Iceberg catalog is configured: set materialization.catalog in profiles.yml (or catalog_uri)"
                problems.append(Problem(message, node.file, node.id, f"{field_name}.table", node.line))
    return problems


def _project_settings(root: Path) -> tuple[dict[str, Any], list[Problem]]:
    path = root / "seeknal_project.yml"
    if not path.is_file():
        return {}, []
    try:
        settings = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        return {}, [Problem(f"YAML syntax error: {error}", file=path.relative_to(root), line=mark.line + 1 if mark else None)]
    if not isinstance(settings, dict):
        return {}, [Problem("seeknal_project.yml must be a mapping", file=path.relative_to(root))]
    return settings, []


def target_path(target_dir: str | os.PathLike[str] | None, root: Path) -> Path:
    """Where outputs go: ``target/`` under the project, a path, or a ``file://`` URI. Every node, DuckDB or Spark,
    reads and writes outputs there, so it must be one filesystem seen at the same path by the Dagster process and
    by every Spark executor (a local disk for a one-machine cluster, else a shared mount)."""
    if not target_dir:
        return root / "target"
    written = os.fspath(target_dir)
    scheme, _, rest = written.partition("://")
    if rest and scheme.lower() == "file":
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(written).path)).resolve()
    if rest and scheme.isalnum():
        raise ProjectLoadError(
            root,
            [
                Problem(
                    f"target_dir {written!r}: outputs are exchanged between the Dagster process and Spark through "
                    "a filesystem both see at one path; mount the store there (for example an S3 bucket with "
                    "mountpoint-s3 or s3fs, HDFS through its NFS gateway) and pass that path or a file:// URI",
                    file=root,
                )
            ],
        )
    return Path(written).resolve()


def load_project(
    project_dir: str | os.PathLike[str],
    *,
    profiles_path: str | os.PathLike[str] | None = None,
    target_dir: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    default_engine: str | None = None,
) -> SeeknalProject:
    """Load and validate a Seeknal project; raises :class:`ProjectLoadError` listing every problem found.

    ``default_engine`` (``duckdb`` or ``spark``) is where nodes that name no engine run."""
    root = Path(project_dir).resolve()
    try:
        default_engine = known_engine(default_engine) or "duckdb"
    except ValueError as error:
        raise ProjectLoadError(root, [Problem(f"default_engine: {error}", file=root)]) from None
    if not (root / NODES_DIR).is_dir():
        raise ProjectLoadError(root, [Problem(f"not a Seeknal project: {root / NODES_DIR} does not exist", file=root)])
    settings, problems = _project_settings(root)
    common, common_problems = load_common_config(root / NODES_DIR / "common")
    problems += [Problem(message, file=path.relative_to(root)) for path, message in common_problems]
    profiles, profile_problems = load_profiles(root, profiles_path)
    problems += profile_problems
    renderer = TemplateRenderer(common=common, overrides=dict(params or {}))

    discovered, discovery_problems = _discover(root)
    problems += discovery_problems
    nodes: dict[str, ProjectNode] = {}
    for node in discovered:
        if node.id in nodes:
            first = nodes[node.id]
            problems.append(
                Problem(
                    f"duplicate node id (also defined in {first.file}" + (f":{first.line}" if first.line else "") + ")",
                    file=node.file,
                    line=node.line,
                    node_id=node.id,
                    field="name",
                )
            )
            continue
        nodes[node.id] = node
    graph, link_problems = _link(nodes, renderer)
    problems += link_problems + _target_problems(nodes, profiles)
    if problems:
        raise ProjectLoadError(root, problems)
    return SeeknalProject(
        root=root,
        name=str(settings.get("name") or root.name),
        nodes=nodes,
        graph=graph,
        profiles=profiles,
        renderer=renderer,
        target_dir=target_path(target_dir, root),
        settings=settings,
        default_engine=default_engine,
    )
