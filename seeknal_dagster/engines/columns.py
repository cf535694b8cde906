"""What each node's output columns will be, and which upstream columns each comes from, known before anything runs.

- Sources: the file's own schema for file sources (DuckDB reads the Parquet footer, or sniffs a CSV/JSON sample),
  else the declared ``columns:``.
- Transforms: the query as it will run, bound by DuckDB over empty stand-ins of the upstream outputs, in
  dependency order, for names and types; sqlglot traces each output
  column back to the upstream columns it reads (through joins, aggregates, ``*``, CTEs, window functions and the
  temporary tables of earlier statements).
- Other nodes (feature groups, aggregations, models, profiles, sources read from databases): their last output's
  schema, once they ran.
- Declared ``columns:`` / ``features:`` (names, types, descriptions) complete what was planned; a node with nothing
  planned shows what it declares.

Planning costs milliseconds per node, so results are kept in ``<target>/seeknal_dagster/columns.json``, keyed by
what decides them (the node's definition and params, its upstream columns, a source file's size and modification
time): a reload plans only what changed, and DuckDB's binder and sqlglot are not even imported when nothing did.
Nothing here raises: a node whose columns cannot be known gets none, and its run reports them. Planning follows
the rules a run does: a source reads only what the path policy lets it, run values in SQL stand where the
injection rule lets them, and registered secrets (a ``{{ env:… }}`` value named as a column) are scrubbed from
what is planned before it reaches the cache file or the asset's page.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

from seeknal_dagster.engines.duckdb_engine import (
    file_reader,
    is_query,
    quote_identifier,
    quote_literal,
    relation_name,
    rewrite_sql,
    split_statements,
)
from seeknal_dagster.engines.node_sql import names_input_aliases
from seeknal_dagster.project import secrets
from seeknal_dagster.project.checks.source import SOURCE_PARAM_USES, file_location
from seeknal_dagster.project.load_cache import CACHE_DIR, read_cache, write_cache
from seeknal_dagster.project.models import FILE_SOURCE_TYPES, NodeKind, SourceSpec
from seeknal_dagster.project.paths import PathPolicy

if TYPE_CHECKING:
    import duckdb

    from seeknal_dagster.project.loader import ProjectNode, SeeknalProject

#: Bump when what is planned changes, so older cache entries are planned again.
PLANNER_VERSION = "4"
CACHE_FILE = CACHE_DIR / "columns.json"
#: Earlier statements planning may replay: they only create scratch tables or views from a query.
_SCRATCH_STATEMENT = re.compile(
    r"^\s*create\s+(?:or\s+replace\s+)?(?:temp\s+|temporary\s+)?(?:table|view)\s+(?:if\s+not\s+exists\s+)?"
    r"(?P<name>[A-Za-z_][\w.\"]*)\s+as\s+(?P<query>.+)$",
    re.I | re.S,
)


#: DuckDB types Parquet stores as another type (what a node's readers, and its page, see).
_PARQUET_TYPES = [
    (re.compile(r"\bU?HUGEINT\b"), "DOUBLE"),
    (re.compile(r"\bENUM\([^)]*\)"), "VARCHAR"),
    (re.compile(r"\bTIMESTAMP_(?:S|MS)\b"), "TIMESTAMP"),
    (re.compile(r"\b(?:BIT|BIGNUM|VARINT)\b"), "VARCHAR"),
]


def stored_type(type_name: str) -> str:
    """The type a column of ``type_name`` has once written to the node's Parquet output and read back."""
    for pattern, stored in _PARQUET_TYPES:
        type_name = pattern.sub(stored, type_name)
    return type_name


class PlannedColumn(NamedTuple):
    """One output column: its DuckDB type (or the declared one), the declared description, and the upstream
    ``(node id, column)`` pairs its values come from (a tuple: a load makes one per column of every node)."""

    name: str
    type: str | None = None
    description: str | None = None
    lineage: tuple[tuple[str, str], ...] = ()


def declared_columns(node: "ProjectNode") -> dict[str, tuple[str | None, str | None]]:
    """Column → (type, description) as the YAML declares them: ``columns:`` (any kind), a feature group's
    ``features:``, a model's ``output_columns``; as a mapping (name → description or {type, description}) or a
    list (names, or {name, type, description})."""
    spec = node.spec
    declared: dict[str, tuple[str | None, str | None]] = {}
    sources = [getattr(spec, "columns", None) or spec.extra_fields().get("columns")]
    if node.kind == NodeKind.FEATURE_GROUP:
        sources.append(getattr(spec, "features", None))
    if node.kind == NodeKind.MODEL:
        sources.append(getattr(spec, "output_columns", None))
    for items in sources:
        entries = items.items() if isinstance(items, Mapping) else ((None, item) for item in items or [])
        for name, value in entries:
            if isinstance(value, Mapping):
                name = name or value.get("name")
                type_name = value.get("type") or value.get("dtype") or value.get("data_type")
                description = value.get("description")
            elif name is None:
                name, type_name, description = value, None, None
            else:
                type_name, description = None, value
            if isinstance(name, str) and name:
                declared[name] = (
                    str(type_name) if type_name else None,
                    str(description) if description not in (None, "") else None,
                )
    return declared


def plan_columns(project: "SeeknalProject", node_ids: Iterable[str] | None = None) -> dict[str, list[PlannedColumn]]:
    """The planned columns of ``node_ids`` (every node by default) and of what they read; nodes whose columns
    cannot be known are absent."""
    return _Planner(project).plan(set(node_ids) if node_ids is not None else set(project.nodes))


class _Planner:
    def __init__(self, project: "SeeknalProject"):
        self.project = project
        self.cache_path = project.target_dir / CACHE_FILE
        self.cached = read_cache(self.cache_path, PLANNER_VERSION)
        self.overrides = json.dumps(project.renderer.overrides, sort_keys=True, default=str)
        self.fresh: dict[str, Any] = {}
        self.columns: dict[str, Sequence[Sequence[str]]] = {}  # node id → [(name, type)] of planned nodes
        self.keys: dict[str, str] = {}  # node id → the cache key its columns were planned (or read) under
        self.sql: dict[str, list[str]] = {}  # node id → statements as they will run, for lineage
        self._connection: "duckdb.DuckDBPyConnection | None" = None
        self._stand_ins: set[str] = set()
        self._path_policy: PathPolicy | None = None

    # cache ------------------------------------------------------------------------------------------------

    def _write_cache(self) -> None:
        entries = {**self.cached, **self.fresh}
        entries = {node_id: entry for node_id, entry in entries.items() if node_id in self.project.nodes}
        write_cache(self.cache_path, PLANNER_VERSION, entries)

    def _key(self, node: "ProjectNode") -> str:
        parts: list[Any] = [
            node.id,
            self.project.code_version(node.id),
            self.overrides,
            # An upstream's key stands for its columns (they follow from it) and is far cheaper to serialize.
            *(f"{parent}={self.keys.get(parent)}" for parent in node.upstream),
        ]
        if not self._planned_from_definition(node):
            parts.append(json.dumps(_file_stamp(self.project.output_path(node.id))))
        elif isinstance(node.spec, SourceSpec):
            try:
                parts.append(json.dumps(_file_stamp(self._source_path(node))))
            except Exception:  # noqa: BLE001 - a path the run would refuse: planned as none, on every load
                parts.append("unreadable")
        return hashlib.blake2b("\n".join(parts).encode(), digest_size=12).hexdigest()

    # planning ---------------------------------------------------------------------------------------------

    def plan(self, wanted: set[str]) -> dict[str, list[PlannedColumn]]:
        needed = wanted | self.project.graph.ancestors(wanted)
        order = self.project.graph.topological_order(needed)
        entries: dict[str, dict[str, Any]] = {}
        for node_id in order:
            node = self.project.nodes[node_id]
            if not self._plannable(node):
                continue
            key = self.keys[node_id] = self._key(node)
            entry = self.cached.get(node_id)
            if not isinstance(entry, dict) or entry.get("key") != key:  # new, changed, or an entry edited by hand
                entry = _scrubbed(self._plan_node(node, key))
                self.fresh[node_id] = entry
            if entry.get("columns") is not None:
                self.columns[node_id] = entry["columns"]
                entries[node_id] = entry
        if self.fresh:
            self._write_cache()
        if self._connection is not None:
            self._connection.close()
        planned = {node_id: self._merged(node_id, entries.get(node_id)) for node_id in wanted}
        return {node_id: columns for node_id, columns in planned.items() if columns}

    def _merged(self, node_id: str, entry: Mapping[str, Any] | None) -> list[PlannedColumn]:
        """The planned columns with the declared descriptions; the declared columns when nothing was planned."""
        declared = declared_columns(self.project.nodes[node_id])
        if entry is None:
            return [PlannedColumn(name, type_name, description) for name, (type_name, description) in declared.items()]
        lineage = entry.get("lineage", {})
        return [
            PlannedColumn(
                name,
                type_name,
                declared[name][1] if name in declared else None,
                tuple(tuple(dep) for dep in lineage.get(name.lower(), ())),
            )
            for name, type_name in entry["columns"]
        ]

    def _plannable(self, node: "ProjectNode") -> bool:
        return node.kind != NodeKind.RULE

    def _planned_from_definition(self, node: "ProjectNode") -> bool:
        """Whether the node's columns follow from its definition (a SQL query, a file's schema) rather than from
        its last output."""
        if node.is_python:
            return False
        if isinstance(node.spec, SourceSpec):
            return node.spec.source_type in FILE_SOURCE_TYPES
        # A feature group's output is not its query's: it passes its input's other columns through and stores
        # types as Seeknal's file has them, so its last output is what tells.
        return node.kind == NodeKind.TRANSFORM

    def _plan_node(self, node: "ProjectNode", key: str) -> dict[str, Any]:
        """Columns from the definition when it decides them; else (or when DuckDB cannot bind it now: an upstream
        whose columns are unknown, a missing file) from the node's last output, if any."""
        if self._planned_from_definition(node):
            try:
                if isinstance(node.spec, SourceSpec):
                    return {"key": key, "columns": self._describe(f"SELECT * FROM {self._source_reader(node)}")}
                statements = self._statements(node)
                columns = self._describe_statements(node, statements)
                return {"key": key, "columns": columns, "lineage": trace_lineage(node, statements, self.columns)}
            except Exception:  # noqa: BLE001 - whatever DuckDB cannot bind now; the run reports it
                pass
        output = self.project.output_path(node.id)
        try:
            return {"key": key, "columns": self._describe(f"SELECT * FROM read_parquet({quote_literal(output)})")}
        except Exception:  # noqa: BLE001 - never run yet, or not a table
            return {"key": key, "columns": None}

    @property
    def connection(self) -> "duckdb.DuckDBPyConnection":
        if self._connection is None:
            import duckdb

            self._connection = duckdb.connect(config={"threads": 1})
        return self._connection

    def _describe(self, query: str) -> list[tuple[str, str]]:
        return [(row[0], stored_type(row[1])) for row in self.connection.execute(f"DESCRIBE {query}").fetchall()]

    def _source_params(self, node: "ProjectNode") -> dict[str, Any]:
        """A file source's params as its run reads them: profile defaults, then its own, rendered."""
        spec: SourceSpec = node.spec  # type: ignore[assignment]
        rendered = self.project.renderer.render_params(spec.params, SOURCE_PARAM_USES)
        return {**self.project.profiles.defaults_for(spec.source_type), **rendered}

    def _source_path(self, node: "ProjectNode") -> Path:
        """The file (or glob) a file source reads; raises when the project's path policy would refuse it."""
        if self._path_policy is None:
            self._path_policy = PathPolicy.from_settings(self.project.root, self.project.target_dir, self.project.settings)[0]
        path = self._path_policy.resolve(file_location(node.spec, self._source_params(node)))  # type: ignore[arg-type]
        problem = self._path_policy.read_problem(path)
        if problem:
            raise ValueError(problem)
        return path / "**" / f"*.{node.spec.source_type}" if path.is_dir() else path  # type: ignore[attr-defined]

    def _source_reader(self, node: "ProjectNode") -> str:
        return file_reader(node.spec.source_type, self._source_path(node), self._source_params(node))  # type: ignore[attr-defined]

    def _statements(self, node: "ProjectNode") -> list[str]:
        sql = self.project.renderer.render_sql(node.spec.transform, node.spec.params).sql  # type: ignore[attr-defined]
        relations = {parent: relation_name(parent) for parent in node.upstream}
        statements = split_statements(rewrite_sql(sql, relations, self.project.nodes))
        if not statements or not is_query(statements[-1]):
            raise ValueError("no final query")
        if not all(_SCRATCH_STATEMENT.match(statement) for statement in statements[:-1]):
            raise ValueError("statements planning cannot replay")
        return statements

    def _stand_in(self, node_id: str) -> None:
        """An empty table with the planned columns of ``node_id``, under the name its readers use."""
        if node_id in self._stand_ins or node_id not in self.columns:
            return
        kind = node_id.partition(".")[0]
        definition = ", ".join(f"{quote_identifier(name)} {type_name}" for name, type_name in self.columns[node_id])
        self.connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(kind)}")
        self.connection.execute(f"CREATE TABLE {relation_name(node_id)} ({definition})")
        self._stand_ins.add(node_id)

    def _describe_statements(self, node: "ProjectNode", statements: list[str]) -> list[tuple[str, str]]:
        for parent in node.upstream:
            self._stand_in(parent)
        aliases = _input_aliases(node)
        scratch = len(statements) > 1 or names_input_aliases(statements)
        if not scratch:
            return self._describe(statements[-1])
        self.connection.execute("BEGIN TRANSACTION")
        try:
            for alias, parent in aliases.items():
                if parent in self.columns:
                    self.connection.execute(f"CREATE TEMP VIEW {alias} AS SELECT * FROM {relation_name(parent)}")
            for statement in statements[:-1]:
                self.connection.execute(statement)
            return self._describe(statements[-1])
        finally:
            self.connection.execute("ROLLBACK")


def _input_aliases(node: "ProjectNode") -> dict[str, str]:
    """The relation names a node's SQL may read its declared inputs under (as the executors register them)."""
    declared = node.input_upstream_ids() or list(node.upstream)
    aliases = {f"input_{index}": parent for index, parent in enumerate(declared)}
    if len(declared) == 1:
        aliases["__THIS__"] = declared[0]
    if node.kind == NodeKind.FEATURE_GROUP and declared:
        aliases["source"] = declared[0]
    return aliases


def _scrubbed(entry: Any) -> Any:
    """A planned entry with registered secrets scrubbed from every name in it."""
    if isinstance(entry, str):
        return secrets.scrub(entry)
    if isinstance(entry, Mapping):
        return {_scrubbed(key): _scrubbed(value) for key, value in entry.items()}
    if isinstance(entry, (list, tuple)):
        return [_scrubbed(item) for item in entry]
    return entry


def _file_stamp(path: Path) -> list[Any]:
    """Size and modification time of a file, or of every file a glob matches."""
    import glob

    stamps = []
    for match in sorted(glob.glob(str(path), recursive=True))[:1000]:
        try:
            stat = os.stat(match)
        except OSError:
            continue
        stamps.append([match, stat.st_size, stat.st_mtime_ns])
    return stamps


# lineage ----------------------------------------------------------------------------------------------------


def trace_lineage(
    node: "ProjectNode", statements: list[str], upstream_columns: Mapping[str, Sequence[Sequence[str]]]
) -> dict[str, list[list[str]]]:
    """Output column → the ``[node id, column]`` pairs it is computed from, for a node whose statements are
    scratch tables or views followed by its final query (the scratch ones are read as CTEs of the final query)."""
    try:
        import sqlglot
        from sqlglot import exp
        from sqlglot.optimizer.qualify import qualify
        from sqlglot.optimizer.scope import build_scope
    except ImportError:  # pragma: no cover - sqlglot is a dependency; lineage is a bonus if it ever goes
        return {}
    relations: dict[tuple[str, str], str] = {}  # (schema, table) as the SQL names it → upstream node id
    schema: dict[str, dict[str, dict[str, str]]] = {}  # the input aliases have no schema: ""
    named = [(*parent.split(".", 1), parent) for parent in node.upstream]
    named += [("", alias, parent) for alias, parent in _input_aliases(node).items()]
    for kind, name, parent in named:
        if parent in upstream_columns:
            schema.setdefault(kind, {})[name] = dict(upstream_columns[parent])
            relations[(kind.lower(), name.lower())] = parent
    try:
        final = sqlglot.parse_one(statements[-1], dialect="duckdb")
        if len(statements) > 1:
            final = _with_scratch_as_ctes(final, statements[:-1], sqlglot)
        root = build_scope(qualify(final, schema=schema, dialect="duckdb", validate_qualify_columns=False, identify=False))
    except Exception:  # noqa: BLE001 - SQL sqlglot cannot read: no lineage, the rest of the page stays
        return {}
    if root is None:
        return {}
    # sqlglot folds unquoted names to lower case, as DuckDB matches them: report the upstream's own spelling.
    spelling = {
        parent: {column.lower(): column for column, _ in upstream_columns[parent]} for parent in set(relations.values())
    }
    traced: dict[str, list[list[str]]] = {}
    for projection in root.expression.selects:
        name = projection.alias_or_name
        found = set(_trace_output(root, name, relations, exp, depth=0))
        traced[name.lower()] = sorted([parent, spelling[parent].get(column.lower(), column)] for parent, column in found)
    return traced


def _with_scratch_as_ctes(final: Any, scratch: list[str], sqlglot: Any) -> Any:
    """``CREATE TEMP TABLE a AS q1; SELECT … FROM a`` read as ``WITH a AS (q1) SELECT … FROM a``: the same
    columns flow, and lineage follows them like any CTE."""
    ctes = [final.args["with"].expressions] if final.args.get("with") else []
    query = final.copy()
    query.set("with", None)
    for statement in scratch:
        match = _SCRATCH_STATEMENT.match(statement)
        name = match.group("name").replace('"', "").split(".")[-1]
        query = query.with_(name, as_=sqlglot.parse_one(match.group("query"), dialect="duckdb"))
    for existing in ctes[0] if ctes else []:
        query = query.with_(existing.alias, as_=existing.this)
    return query


def _trace(expression: Any, scope: Any, relations: Mapping[tuple[str, str], str], exp: Any, depth: int) -> Iterator[tuple[str, str]]:
    """The upstream columns an expression of ``scope`` reads, following CTEs, subqueries and unions."""
    if depth > 50:
        return
    for column in expression.find_all(exp.Column):
        source = scope.sources.get(column.table)
        if isinstance(source, exp.Table):
            node_id = relations.get((source.db.lower(), source.name.lower())) or relations.get(("", source.name.lower()))
            if node_id is not None:
                yield node_id, column.name
        elif source is not None and hasattr(source, "expression"):
            yield from _trace_output(source, column.name, relations, exp, depth + 1)


def _trace_output(scope: Any, name: str, relations: Mapping[tuple[str, str], str], exp: Any, depth: int) -> Iterator[tuple[str, str]]:
    """The upstream columns the output column ``name`` of a CTE, subquery or union scope reads."""
    if scope.is_set_operation:
        for branch in scope.set_operation_scopes:
            yield from _trace_output(branch, name, relations, exp, depth + 1)
        return
    selects = getattr(scope.expression, "selects", [])
    for projection in selects:
        if projection.alias_or_name == name:
            yield from _trace(projection, scope, relations, exp, depth + 1)
            return
