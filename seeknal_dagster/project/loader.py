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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from seeknal_dagster.gc_pause import without_gc
from seeknal_dagster.graph import NodeGraph
from seeknal_dagster.graph.sql_refs import VALID_REF_ARGUMENT, find_qualified_names, find_ref_calls
from seeknal_dagster.project.checks import CheckScope, node_findings
from seeknal_dagster.project.dagster_rules import output_name
from seeknal_dagster.project.errors import Problem, ProjectLoadError, validation_problems
from seeknal_dagster.project.models import (
    FOLLOWS_INPUT_ENGINE,
    OBSERVABLE_SOURCE_TYPES,
    SPARK_KINDS,
    SPEC_BY_KIND,
    NodeKind,
    NodeSpec,
    PythonNodeSpec,
    function_output_id,
    SourceSpec,
    TransformSpec,
    known_engine,
    parse_ref,
)
from seeknal_dagster.project.paths import path_problems
from seeknal_dagster.project.profiles import Profiles, load_profiles
from seeknal_dagster.project.project_file import ScheduleSettings, python_timeout, read_project_file
from seeknal_dagster.project.python_nodes import read_python_nodes
from seeknal_dagster.project.templating import TemplateError, TemplateRenderer, load_common_config
from seeknal_dagster.project.yaml_files import ParsedYamlCache, YamlDocument, read_text

NODES_DIR = "seeknal"
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
        """Whether a Python function computes the node's rows (a ``@source`` naming its table is a plain source)."""
        return isinstance(self.spec, PythonNodeSpec)

    @property
    def kind_spec(self) -> NodeSpec:
        """The node as its kind declares it: for a Python feature group or second-order aggregation, the spec its
        decorator arguments make; the spec itself otherwise."""
        return getattr(self.spec, "kind_spec", None) or self.spec

    @property
    def kind_node(self) -> "ProjectNode":
        """The node as its kind's executor and checks see it: a Python feature group or second-order aggregation
        is that kind's node whose one input is what its function returns (``python.<function>``)."""
        if self.kind_spec is self.spec:
            return self
        return replace(self, spec=self.kind_spec, upstream=[function_output_id(self.spec.function)])  # type: ignore[attr-defined]

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
        # The text of ``json.dumps([definition, used_common])``, without serializing the definition twice.
        payload = f"[{text}, {json.dumps(used_common, sort_keys=True, default=str)}]"
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
    schedules: list[ScheduleSettings] = field(default_factory=list)
    #: Warnings, and (loaded with ``allow_partial``) the errors that took nodes out of :attr:`nodes`.
    problems: list[Problem] = field(default_factory=list)
    #: Nodes left out because of an error of their own or of an upstream node (``allow_partial`` only): not
    #: runnable, kept for what they are and what they read.
    broken: dict[str, ProjectNode] = field(default_factory=dict)
    allow_partial: bool = False
    #: The engine of nodes that name none (``build_definitions(default_engine=…)``); kinds that cannot run on
    #: Spark keep DuckDB.
    default_engine: str = "duckdb"
    _ids_by_name: dict[str, set[str]] | None = field(default=None, init=False, repr=False)
    _problems_by_node: dict[str, list[Problem]] | None = field(default=None, init=False, repr=False)
    _code_versions: dict[str, str] = field(default_factory=dict, init=False, repr=False)

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

    @property
    def python_timeout(self) -> float | None:
        """Seconds a Python node may run unless it says otherwise (``dagster: {python_timeout: …}``)."""
        return python_timeout(self.settings)

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

    def problems_of(self, node_id: str) -> list[Problem]:
        """The problems (warnings; errors of a broken node) reported against one node."""
        if self._problems_by_node is None:
            self._problems_by_node = {}
            for problem in self.problems:
                self._problems_by_node.setdefault(problem.node_id or "", []).append(problem)
        return list(self._problems_by_node.get(node_id, ()))

    def code_version(self, node_id: str) -> str:
        """The node's :meth:`ProjectNode.definition_hash`, computed once per load (the specs and the column plan
        both ask for it)."""
        if node_id not in self._code_versions:
            self._code_versions[node_id] = self.nodes[node_id].definition_hash(self.renderer.common)
        return self._code_versions[node_id]

    @property
    def identity(self) -> str:
        """Tells apart two loads of one folder with different options (target dir, profiles, params, partial, default engine)."""
        options = [str(self.root), str(self.target_dir), str(self.profiles.path), self.renderer.overrides]
        options += ["partial"] if self.allow_partial else []
        if self.default_engine != "duckdb":
            options.append(self.default_engine)
        return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
        return validation_problems(error, relative, line, node_id)


def _node_files(nodes_dir: Path, suffixes: tuple[str, ...], skipped_folders: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The files below ``nodes_dir`` ending with one of ``suffixes``, as path parts relative to it, in path order;
    except hidden ones (editor and notebook checkpoint copies such as ``.ipynb_checkpoints/orders-checkpoint.yml``
    would otherwise be duplicate nodes) and those in the top-level ``skipped_folders``. Symlinked folders are not
    followed."""
    found = []
    for directory, folders, files in os.walk(nodes_dir):
        parts = Path(directory).relative_to(nodes_dir).parts
        folders[:] = [folder for folder in folders if not folder.startswith(".") and (parts or folder not in skipped_folders)]
        found += [(*parts, name) for name in files if name.endswith(suffixes) and not name.startswith(".")]
    return sorted(found)


def _discover(root: Path, parsed: ParsedYamlCache) -> tuple[list[ProjectNode], list[Problem]]:
    nodes_dir = root / NODES_DIR
    problems: list[Problem] = []
    found: list[ProjectNode] = []
    yaml_files = _node_files(nodes_dir, (".yml", ".yaml"), ("common",))
    for parts in yaml_files:
        relative = Path(NODES_DIR, *parts)
        try:
            text = read_text(os.path.join(nodes_dir, *parts))
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(f"cannot read file: {error}", file=relative))
            continue
        for item in parsed.documents(text, relative):
            if isinstance(item, Problem):
                problems.append(item)
                continue
            result = _validate_spec(item.value, relative, item.line)
            if isinstance(result, NodeSpec):
                found.append(ProjectNode(spec=result, file=relative, line=item.line))
                node_id: str | None = result.node_id
            else:
                problems.extend(result)
                node_id = next((problem.node_id for problem in result if problem.node_id), None)
            problems += _duplicate_key_problems(item, relative, node_id)
    python_files = [
        Path(NODES_DIR, *parts)
        for parts in _node_files(nodes_dir, (".py",), SKIPPED_PYTHON_DIRS)
        if not parts[-1].startswith("_")
    ]
    for relative in python_files:
        for item in read_python_nodes(root / relative, root):
            if isinstance(item, Problem):
                problems.append(item)
            else:
                line, spec = item
                found.append(ProjectNode(spec=spec, file=relative, line=line))
    if not yaml_files and not python_files:
        problems.append(Problem(f"no node files found: expected YAML or Python files under {nodes_dir}", file=nodes_dir))
    return found, problems


def _duplicate_key_problems(document: YamlDocument, relative: Path, node_id: str | None) -> list[Problem]:
    return [
        Problem(duplicate.message, file=relative, line=duplicate.line, node_id=node_id, field=duplicate.key)
        for duplicate in document.duplicate_keys
    ]


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
                sql = renderer.render_sql(sql, params).sql
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


def _key_collisions(nodes: Mapping[str, ProjectNode]) -> list[Problem]:
    """Nodes whose asset keys Dagster cannot tell apart: the same key (a ``dagster.key`` repeating another node's)
    or keys giving the same op output name (``a-b`` and ``a_b``: Dagster turns '-' and '.' into '_')."""
    by_name: dict[str, list[ProjectNode]] = {}
    for node in nodes.values():
        if node.kind != NodeKind.RULE:
            by_name.setdefault(output_name(_default_key(node)), []).append(node)
    problems = []
    for name, clashing in by_name.items():
        for node in clashing[1:]:
            first = clashing[0]
            problems.append(
                Problem(
                    f"its asset key {'/'.join(_default_key(node))} and the key {'/'.join(_default_key(first))} of "
                    f"{first.id} ({first.file}) are the same Dagster name '{name}' (Dagster writes '-' and '.' as '_'): "
                    "rename one, or give one a dagster.key",
                    file=node.file,
                    line=node.line,
                    node_id=node.id,
                    field="dagster.key" if node.spec.dagster.key else "name",
                )
            )
    return problems


def _default_key(node: ProjectNode) -> list[str]:
    """The node's asset key without a ``key_prefix`` (which only ``build_definitions`` knows)."""
    custom = node.spec.dagster.key
    if custom:
        return custom.split("/") if isinstance(custom, str) else list(custom)
    return [node.kind.value, node.name]


def _check_problems(nodes: Mapping[str, ProjectNode], profiles: Profiles, renderer: TemplateRenderer) -> list[Problem]:
    scope = CheckScope(nodes=nodes, profiles=profiles, renderer=renderer)
    return [
        Problem(finding.message, file=node.file, node_id=node.id, field=finding.field, line=node.line, severity=finding.severity)
        for node in nodes.values()
        for finding in node_findings(node, scope)
    ]


def _is_global(problem: Problem) -> bool:
    """A problem no node can be left out for: a broken profiles file, project file or common config."""
    if problem.node_id is not None:
        return False
    parts = problem.file.parts if problem.file is not None and not problem.file.is_absolute() else ()
    return not (len(parts) > 1 and parts[0] == NODES_DIR and parts[1] != "common")


def _leave_out_broken(nodes: dict[str, ProjectNode], graph: NodeGraph, problems: list[Problem]) -> dict[str, ProjectNode]:
    """Take the nodes with an error, and everything downstream of them, out of ``nodes`` and ``graph``; a node left
    out for an upstream one gets a problem saying which. Returns the nodes taken out."""
    broken = {problem.node_id for problem in problems if problem.is_error and problem.node_id in nodes}
    while True:
        broken |= graph.descendants(broken)
        cycle = NodeGraph({node_id: parents for node_id, parents in graph.upstream.items() if node_id not in broken}).find_cycle()
        if not cycle:
            break
        first = nodes[cycle[0]]
        problems.append(Problem(f"cycle detected: {' -> '.join(cycle)}", first.file, cycle[0], None, first.line))
        broken.add(cycle[0])
    for node_id in sorted(broken):
        node = nodes[node_id]
        if not any(problem.node_id == node_id and problem.is_error for problem in problems):
            parents = sorted(parent for parent in graph.upstream[node_id] if parent in broken)
            message = f"not loaded: its upstream {', '.join(parents)} is not loaded"
            problems.append(Problem(message, node.file, node_id, None, node.line))
    taken = {node_id: nodes.pop(node_id) for node_id in sorted(broken)}
    for node_id in taken:
        del graph.upstream[node_id]
    return taken


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


@without_gc
def load_project(
    project_dir: str | os.PathLike[str],
    *,
    profiles_path: str | os.PathLike[str] | None = None,
    target_dir: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    default_engine: str | None = None,
    allow_partial: bool = False,
) -> SeeknalProject:
    """Load and validate a Seeknal project; raises :class:`ProjectLoadError` listing every problem found.

    ``default_engine`` (``duckdb`` or ``spark``) is where nodes that name no engine run. Warnings (a source type
    only Seeknal reads…) do not stop the load; they are kept in :attr:`SeeknalProject.problems`. With
    ``allow_partial``, as ``seeknal run`` does, nodes with an error (a reference to a node that does not exist, a
    setting they cannot run with) and their downstream are left out into :attr:`SeeknalProject.broken` and the
    rest loads; a problem that is no node's (profiles.yml, seeknal_project.yml, ``seeknal/common/``) still stops
    it.
    """
    root = Path(project_dir).resolve()
    try:
        default_engine = known_engine(default_engine) or "duckdb"
    except ValueError as error:
        raise ProjectLoadError(root, [Problem(f"default_engine: {error}", file=root)]) from None
    if not (root / NODES_DIR).is_dir():
        raise ProjectLoadError(root, [Problem(f"not a Seeknal project: {root / NODES_DIR} does not exist", file=root)])
    settings, schedules, problems = read_project_file(root)
    common, common_problems = load_common_config(root / NODES_DIR / "common", root)
    problems += common_problems
    profiles, profile_problems = load_profiles(root, profiles_path)
    problems += profile_problems
    renderer = TemplateRenderer(common=common, overrides=dict(params or {}))
    target_dir = target_path(target_dir, root)

    parsed = ParsedYamlCache(target_dir)
    discovered, discovery_problems = _discover(root, parsed)
    parsed.save()
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
    problems += link_problems + _key_collisions(nodes) + _target_problems(nodes, profiles)
    problems += _check_problems(nodes, profiles, renderer)
    problems += path_problems(root, target_dir, settings, nodes, renderer, profiles)
    errors = [problem for problem in problems if problem.is_error]
    if errors and (not allow_partial or any(_is_global(problem) for problem in errors)):
        raise ProjectLoadError(root, problems)
    broken = _leave_out_broken(nodes, graph, problems) if errors else {}
    return SeeknalProject(
        root=root,
        name=str(settings.get("name") or root.name),
        nodes=nodes,
        graph=graph,
        profiles=profiles,
        renderer=renderer,
        target_dir=target_dir,
        settings=settings,
        schedules=schedules,
        problems=problems,
        broken=broken,
        allow_partial=allow_partial,
        default_engine=default_engine,
    )
