"""Pydantic models of every Seeknal node kind, in both dialects.

Two dialects describe the same kinds: real Seeknal YAML (``training.algorithm``, typed rule checks, ``id_col``
aggregations) and the seed design's simpler form (top-level ``algorithm``, bare SQL rules, ``window: 30d``).
Each model accepts both; fields this integration does not know are kept (``extra="allow"``) so a project written
for a newer Seeknal still loads. Each model also names the nodes it reads, which is where the graph's edges come
from.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, datetime, time
from enum import Enum
from typing import Any, ClassVar, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationInfo, field_validator, model_validator

from seeknal_dagster.project.dagster_rules import (
    cron_problem,
    group_problem,
    name_problem,
    output_name,
    owner_problem,
    tag_key_for,
    tag_problem,
    timezone_problem,
)


class NodeKind(str, Enum):
    SOURCE = "source"
    TRANSFORM = "transform"
    FEATURE_GROUP = "feature_group"
    MODEL = "model"
    AGGREGATION = "aggregation"
    SECOND_ORDER_AGGREGATION = "second_order_aggregation"
    PROFILE = "profile"
    RULE = "rule"
    EXPOSURE = "exposure"
    SEMANTIC_MODEL = "semantic_model"
    METRIC = "metric"


ENGINES = ("duckdb", "spark")
#: Kinds that run on Spark when they say ``engine: spark`` (or the project's default engine is Spark); every other
#: kind runs where it always does (a Hive source always reads through Spark).
SPARK_KINDS = frozenset(
    {
        NodeKind.TRANSFORM,
        NodeKind.AGGREGATION,
        NodeKind.SECOND_ORDER_AGGREGATION,
        NodeKind.FEATURE_GROUP,
        NodeKind.PROFILE,
        NodeKind.RULE,
    }
)
#: Kinds whose work is reading another node's output: by default they run where that output was written.
FOLLOWS_INPUT_ENGINE = frozenset({NodeKind.PROFILE, NodeKind.RULE})


def known_engine(value: str | None) -> str | None:
    """``duckdb`` or ``spark`` (any case), or a validation error naming both."""
    if value is None:
        return None
    engine = str(value).strip().lower()
    if engine not in ENGINES:
        raise ValueError(f"engine '{value}' is not supported (use {' or '.join(ENGINES)})")
    return engine


#: ``\Z``, not ``$``: a name read from YAML as "orders\n" must not pass for ``orders``.
NODE_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*\Z")
AUTOMATION_PATTERN = re.compile(r"""^(eager|on_missing|on_cron\(\s*['"](.+)['"]\s*\))\Z""")
_REF_CALL = re.compile(r"""^\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*$""")


def parse_ref(value: Any) -> str | None:
    """Normalise one reference as users write it: ``{ref: kind.name}``, ``kind.name`` or ``ref('kind.name')``."""
    if isinstance(value, dict):
        value = value.get("ref")
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    call = _REF_CALL.match(value)
    if call:
        return call.group(1).strip()
    if value.startswith("ref:"):
        return value[len("ref:") :].strip()
    return value


def _as_datetime(value: Any) -> Any:
    """A partition bound as YAML users write it: an unquoted date (``2025-01-01``), a datetime, or an ISO text."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"'{value}' is not a date (write 2025-01-01, or 2025-01-01 06:00 for hourly partitions)")
    return value


def known_timezone(value: str | None) -> str | None:
    """A time zone Dagster can schedule in (``None``: UTC)."""
    problem = timezone_problem(value) if value is not None else None
    if problem:
        raise ValueError(problem)
    return value


class PartitionSettings(BaseModel):
    """``dagster: {partitions: {type: daily, start: 2025-01-01}}``: a time-windowed node, backfilled by range.
    Bounds are wall-clock times in ``timezone`` (UTC by default); a bound written with an offset is converted."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    type: Literal["hourly", "daily", "weekly", "monthly"] = "daily"
    start: datetime
    end: datetime | None = None
    timezone: str | None = None

    _bounds_as_written = field_validator("start", "end", mode="before")(_as_datetime)

    _known_timezone = field_validator("timezone")(known_timezone)

    @model_validator(mode="after")
    def _wall_clock_bounds(self) -> "PartitionSettings":
        zone = zoneinfo.ZoneInfo(self.timezone or "UTC")
        self.start, self.end = (
            bound.astimezone(zone).replace(tzinfo=None) if bound is not None and bound.tzinfo else bound
            for bound in (self.start, self.end)
        )
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self

    def written(self) -> list[str]:
        """Type, bounds and time zone as a user would write them (a midnight bound as a plain date)."""
        bounds = [
            (bound.date().isoformat() if bound.time() == time() else bound.isoformat(sep=" "))
            for bound in (self.start, self.end)
            if bound is not None
        ]
        return [self.type, *bounds, *([self.timezone] if self.timezone else [])]


def _as_text(value: Any) -> Any:
    """A YAML scalar where text is meant: ``true`` → "true", ``1`` → "1", nothing → ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if isinstance(value, (int, float, date)) else value


def _problems_to_error(problems: list[str | None]) -> None:
    found = [problem for problem in problems if problem]
    if found:
        raise ValueError("; ".join(found))


class DagsterSettings(BaseModel):
    """The optional ``dagster:`` block of a node: how its asset appears and behaves in Dagster. Everything Dagster
    would reject when the definitions are built (group, key, owners, tags, cron) is rejected here, at load."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    group: str | None = None
    key: list[str] | str | None = None
    owners: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    automation: str | None = None
    retries: int | None = Field(default=None, ge=0)
    retry_delay: float | None = Field(default=None, ge=0)
    partitions: PartitionSettings | None = None
    engine: str | None = None

    @field_validator("engine")
    @classmethod
    def _engine_is_known(cls, value: str | None) -> str | None:
        return known_engine(value)

    @field_validator("owners", mode="before")
    @classmethod
    def _one_owner_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("owners")
    @classmethod
    def _dagster_owners(cls, owners: list[str]) -> list[str]:
        _problems_to_error([owner_problem(owner) for owner in owners])
        return owners

    @field_validator("group")
    @classmethod
    def _dagster_group(cls, group: str | None) -> str | None:
        _problems_to_error([group_problem(group) if group is not None else None])
        return group

    @field_validator("key")
    @classmethod
    def _dagster_key(cls, key: list[str] | str | None) -> list[str] | str | None:
        if key is None:
            return key
        parts = key.split("/") if isinstance(key, str) else key
        if not parts or not all(parts):
            raise ValueError(f"asset key {key!r} has an empty part")
        _problems_to_error([name_problem(output_name(parts))])
        return key

    @field_validator("tags", mode="before")
    @classmethod
    def _scalar_tag_values_are_text(cls, tags: Any) -> Any:
        """``tier: 1`` or ``critical: true`` as YAML users write them: tag values are text in Dagster."""
        return {key: _as_text(value) for key, value in tags.items()} if isinstance(tags, dict) else tags

    @field_validator("tags")
    @classmethod
    def _dagster_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        _problems_to_error([tag_problem(key, value) for key, value in tags.items()])
        return tags

    @field_validator("automation")
    @classmethod
    def _known_automation(cls, value: str | None) -> str | None:
        if value is None:
            return value
        known = AUTOMATION_PATTERN.match(value.strip())
        if not known:
            raise ValueError(f"unknown automation '{value}' (use eager, on_missing or on_cron(\"<cron>\"))")
        _problems_to_error([cron_problem(known.group(2)) if known.group(2) else None])
        return value

    def cron(self) -> str | None:
        """The cron of ``on_cron("…")``, if that is the automation."""
        known = AUTOMATION_PATTERN.match(self.automation.strip()) if self.automation else None
        return known.group(2) if known else None


class NodeSpec(BaseModel):
    """Fields every node kind shares (spec §2.1)."""

    # defer_build (on every model here): pydantic builds a kind's validator when the first node of that kind is
    # validated, so an import, and a load, pays only for the kinds the project uses (~0.1 s for all of them).
    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

    kind: NodeKind
    name: str
    description: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    inputs: list[Any] = Field(default_factory=list)
    depends_on: list[Any] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    materialization: dict[str, Any] | None = None
    materializations: list[dict[str, Any]] | None = None
    dagster: DagsterSettings = Field(default_factory=DagsterSettings)
    #: ``duckdb`` or ``spark``; also accepted as ``dagster: {engine: …}``. ``None``: the project's default.
    engine: str | None = None

    @field_validator("engine")
    @classmethod
    def _engine_is_known(cls, value: str | None) -> str | None:
        return known_engine(value)

    #: Fields holding SQL in which ``ref('kind.name')`` and schema-qualified node names create edges.
    sql_fields: ClassVar[tuple[str, ...]] = ()
    #: Fields that describe a node without changing what it computes; left out of its code version.
    descriptive_fields: ClassVar[frozenset[str]] = frozenset({"description", "owner", "tags", "dagster", "columns"})

    @field_validator("name")
    @classmethod
    def _name_is_an_identifier(cls, value: str) -> str:
        if not NODE_NAME_PATTERN.match(value):
            raise ValueError(f"{value!r} is not a valid node name (letters, digits, '_' and '-')")
        return value

    @field_validator("owner")
    @classmethod
    def _dagster_owner(cls, value: str | None) -> str | None:
        _problems_to_error([owner_problem(value) if value is not None else None])
        return value

    @field_validator("tags", mode="before")
    @classmethod
    def _one_tag_is_a_list(cls, value: Any) -> Any:
        if value is None:
            return []
        return [_as_text(item) for item in value] if isinstance(value, list) else [_as_text(value)]

    @field_validator("tags")
    @classmethod
    def _tags_make_tag_keys(cls, tags: list[str]) -> list[str]:
        _problems_to_error([None if tag_key_for(tag) else f"tag {tag!r} is empty" for tag in tags])
        return tags

    @field_validator("inputs", "depends_on", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, (str, dict)) else value

    @field_validator("params", mode="before")
    @classmethod
    def _null_params_are_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _engine_fits_the_kind(self) -> "NodeSpec":
        if self.engine and self.dagster.engine and self.engine != self.dagster.engine:
            raise ValueError(f"engine: {self.engine} and dagster.engine: {self.dagster.engine} disagree: keep one")
        if self.declared_engine() == "spark" and self.kind not in SPARK_KINDS:
            kinds = ", ".join(sorted(kind.value for kind in SPARK_KINDS))
            raise ValueError(f"engine: spark is not supported on a {self.kind.value} (only on {kinds})")
        return self

    def declared_engine(self) -> str | None:
        """The engine the node names, at top level or in its ``dagster:`` block."""
        return self.engine or self.dagster.engine

    @property
    def node_id(self) -> str:
        return f"{self.kind.value}.{self.name}"

    def extra_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def declared_refs(self) -> Iterator[tuple[str, Any]]:
        """(field path, raw reference) for every structured reference to another node."""
        for index, item in enumerate(self.inputs):
            yield f"inputs[{index}]", item
        for index, item in enumerate(self.depends_on):
            yield f"depends_on[{index}]", item

    def sql_texts(self) -> Iterator[tuple[str, str]]:
        """(field, SQL) for every SQL text of this node."""
        for field_name in self.sql_fields:
            value = getattr(self, field_name, None)
            if isinstance(value, str):
                yield field_name, value

    def input_ids(self) -> list[str]:
        """The declared inputs in order (``input_0``, ``input_1``, …), falling back to ``depends_on``."""
        items = self.inputs or self.depends_on
        return [ref for ref in (parse_ref(item) for item in items) if ref]


#: Source types read from files, by DuckDB's own readers.
FILE_SOURCE_TYPES = ("csv", "parquet", "json", "jsonl")
#: Source types whose data can be fingerprinted without starting Spark (see ``executors/fingerprints.py``).
OBSERVABLE_SOURCE_TYPES = frozenset({*FILE_SOURCE_TYPES, "sqlite", "postgresql", "iceberg"})


class SourceSpec(NodeSpec):
    source: str
    table: str | None = None
    freshness: dict[str, Any] | None = None
    columns: dict[str, Any] | list[Any] | None = None
    schema_: list[Any] | None = Field(default=None, alias="schema")

    @property
    def source_type(self) -> str:
        """The declared ``source:`` type, lower case, with Seeknal's alias ``postgres`` → ``postgresql``."""
        declared = self.source.lower().strip()
        return "postgresql" if declared == "postgres" else declared

    @model_validator(mode="after")
    def _has_somewhere_to_read(self) -> "SourceSpec":
        if not self.table and not self.params.get("query") and not self.params.get("path"):
            raise ValueError("a source needs 'table' (a file path or table name) or params.query / params.path")
        return self


_TABLE_PART = r"[A-Za-z_][A-Za-z0-9_]*"
_LOOKBACK = re.compile(r"^\s*(\d+)\s*(d|day|days|h|hour|hours)?\s*$", re.I)
#: Write modes per target type; other spellings Seeknal's docs use map onto them.
TARGET_MODES = {"postgresql": ("full", "incremental_by_time", "upsert_by_key", "append"), "iceberg": ("append", "overwrite")}
_MODE_ALIASES = {"postgresql": {"overwrite": "full", "replace": "full"}, "iceberg": {}}
#: Field → (setting, the value of it that needs the field, who needs it, what the field is).
_REQUIRED_FIELDS = {
    "connection": ("type", "postgresql", "a postgresql target", "a connection of profiles.yml"),
    "unique_keys": ("mode", "upsert_by_key", "mode upsert_by_key", "the columns that identify a row"),
    "time_column": ("mode", "incremental_by_time", "mode incremental_by_time", "the column that dates a row"),
}


class MaterializationTarget(BaseModel):
    """One more place a transform's output is written, besides its Parquet output: an entry of Seeknal's
    ``materializations:`` list, or its singular ``materialization:`` block (an Iceberg table unless ``type`` says
    otherwise). Checked field by field when the project loads, so a mistake fails ``validate`` naming the field."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    type: str = "iceberg"
    enabled: bool | None = None
    table: str
    mode: str = Field(default="", validate_default=True)
    connection: str | None = Field(default=None, validate_default=True)
    unique_keys: list[str] = Field(default_factory=list, validate_default=True)
    time_column: str | None = Field(default=None, validate_default=True)
    lookback: int | str = 0
    create_table: bool = True
    catalog_uri: str | None = None
    warehouse: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        value = {"postgres": "postgresql"}.get(value.strip().lower(), value.strip().lower())
        if value not in TARGET_MODES:
            raise ValueError(f"unknown materialization type '{value}' (supported: postgresql, iceberg)")
        return value

    @field_validator("table")
    @classmethod
    def _table_name(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("type", "iceberg")
        if kind == "postgresql" and not re.fullmatch(rf"{_TABLE_PART}(\.{_TABLE_PART})?", value):
            raise ValueError(f"a postgresql target's table is [schema.]table (letters, digits and '_'), got {value!r}")
        if kind == "iceberg" and not re.fullmatch(rf"{_TABLE_PART}(\.{_TABLE_PART}){{1,2}}", value):
            raise ValueError(f"an iceberg target's table is [catalog.]namespace.table (letters, digits and '_'), got {value!r}")
        return value

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("type", "iceberg")
        mode = (value or ("full" if kind == "postgresql" else "append")).strip().lower()
        mode = _MODE_ALIASES.get(kind, {}).get(mode, mode)
        if kind in TARGET_MODES and mode not in TARGET_MODES[kind]:
            raise ValueError(f"unknown mode '{value}' for {kind} targets (supported: {', '.join(TARGET_MODES[kind])})")
        return mode

    @field_validator("unique_keys", mode="before")
    @classmethod
    def _one_key_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("connection", "unique_keys", "time_column")
    @classmethod
    def _required_by_type_or_mode(cls, value: Any, info: ValidationInfo) -> Any:
        setting, needing_value, needed_by, what = _REQUIRED_FIELDS[str(info.field_name)]
        if info.data.get(setting) == needing_value and not value:
            raise ValueError(f"{needed_by} needs '{info.field_name}' ({what})")
        return value

    @field_validator("lookback")
    @classmethod
    def _lookback_in_days_or_hours(cls, value: int | str) -> int | str:
        if not _LOOKBACK.match(str(value)):
            raise ValueError(f"lookback is a number of days, or '<n>d' / '<n>h' (got {value!r})")
        return value

    @property
    def lookback_interval(self) -> str:
        """``lookback`` as a PostgreSQL interval (a bare number counts days, as in Seeknal)."""
        number, unit = _LOOKBACK.match(str(self.lookback)).groups()  # type: ignore[union-attr]
        return f"{int(number)} {'hours' if (unit or 'd').lower().startswith('h') else 'days'}"


class TransformSpec(NodeSpec):
    transform: str
    materialization: MaterializationTarget | None = None  # type: ignore[assignment]
    materializations: list[MaterializationTarget] | None = None  # type: ignore[assignment]
    sql_fields: ClassVar[tuple[str, ...]] = ("transform",)

    def targets(self, enabled_by_profile: bool) -> list[MaterializationTarget]:
        """Where the output is also written, as Seeknal decides: the ``materializations`` list (each entry unless
        ``enabled: false``), else the singular block when it, or profiles.yml's ``materialization.enabled``,
        enables it."""
        if self.materializations:
            return [target for target in self.materializations if target.enabled is not False]
        single = self.materialization
        if single is not None and (single.enabled if single.enabled is not None else enabled_by_profile):
            return [single]
        return []

    @field_validator("transform")
    @classmethod
    def _sql_not_empty(cls, value: str) -> str:
        if not re.sub(r"--[^\n]*|/\*.*?\*/", "", value, flags=re.S).strip():
            raise ValueError("the transform SQL is empty")
        return value


class FeatureGroupSpec(NodeSpec):
    entity: str | dict[str, Any]
    join_keys: list[str] | None = None
    features: dict[str, Any] | list[Any] | None = None
    transform: str | None = None
    feature_start_time: str | None = None
    feature_end_time: str | None = None
    mode: str = "overwrite"
    sql_fields: ClassVar[tuple[str, ...]] = ("transform",)


class ModelSpec(NodeSpec):
    training: dict[str, Any] | None = None
    algorithm: str | None = None
    features: list[Any] | None = None
    target: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    output_columns: list[str] | None = None
    transform: str | None = None
    sql_fields: ClassVar[tuple[str, ...]] = ("transform",)

    def declared_refs(self) -> Iterator[tuple[str, Any]]:
        yield from super().declared_refs()
        for index, item in enumerate(self.features or []):
            if isinstance(item, dict) and "ref" in item:
                yield f"features[{index}]", item
        if self.training and isinstance(self.training.get("label_source"), str):
            yield "training.label_source", self.training["label_source"]


class AggregationSpec(NodeSpec):
    id_col: str | None = None
    feature_date_col: str | None = None
    application_date_col: str | None = None
    source: str | None = None
    features: list[Any] | dict[str, Any] | None = None
    group_by: list[str] = Field(default_factory=list)
    aggregations: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _one_dialect_is_complete(self) -> "AggregationSpec":
        if self.aggregations is None:
            missing = [name for name in ("id_col", "feature_date_col", "features") if not getattr(self, name)]
            if missing:
                raise ValueError(
                    f"an aggregation needs either 'aggregations' (seed form) or {', '.join(missing)} (Seeknal form)"
                )
        return self

    def declared_refs(self) -> Iterator[tuple[str, Any]]:
        yield from super().declared_refs()
        if self.source:
            yield "source", self.source


class SecondOrderAggregationSpec(NodeSpec):
    id_col: str
    feature_date_col: str
    application_date_col: str | None = None
    source: str
    features: dict[str, Any]

    def declared_refs(self) -> Iterator[tuple[str, Any]]:
        yield from super().declared_refs()
        yield "source", self.source


class ProfileSpec(NodeSpec):
    profile: dict[str, Any] = Field(default_factory=dict)


class RuleSpec(NodeSpec):
    rule: str | dict[str, Any] | list[Any]
    severity: str | None = None

    @property
    def severity_level(self) -> Literal["error", "warn"]:
        """``error`` (a blocking check) or ``warn``: top level (seed dialect) or under ``params`` (Seeknal
        dialect); ``error`` by default."""
        severity = self.severity or self.params.get("severity") or "error"
        return "warn" if str(severity).lower().startswith("warn") else "error"

    @model_validator(mode="after")
    def _checks_an_input(self) -> "RuleSpec":
        if not self.input_ids():
            raise ValueError("a rule needs 'inputs' naming the node whose data it checks")
        return self

    def sql_texts(self) -> Iterator[tuple[str, str]]:
        checks = self.rule if isinstance(self.rule, list) else [self.rule]
        for index, check in enumerate(checks):
            if isinstance(check, dict) and isinstance(check.get("sql"), str):
                yield f"rule[{index}].sql", check["sql"]


#: Other names Seeknal projects use for exposure types.
EXPOSURE_TYPE_ALIASES = {"postgres": "database", "postgresql": "database", "webhook": "notification"}


class ExposureSpec(NodeSpec):
    type: str
    url: str | None = None

    @property
    def delivery_type(self) -> str:
        """The exposure's type with Seeknal's aliases resolved (``postgres`` → ``database``)."""
        declared = str(self.type).lower().strip()
        return EXPOSURE_TYPE_ALIASES.get(declared, declared)


class SemanticModelSpec(NodeSpec):
    model: str

    def declared_refs(self) -> Iterator[tuple[str, Any]]:
        yield from super().declared_refs()
        yield "model", self.model


class MetricSpec(NodeSpec):
    type: str

    def declared_refs(self) -> Iterator[tuple[str, Any]]:
        """A derived metric's ``inputs: [{metric, alias, offset}]`` name other metrics, not nodes: no edges."""
        for field_path, raw in super().declared_refs():
            if not (isinstance(raw, dict) and "metric" in raw and "ref" not in raw):
                yield field_path, raw


SPEC_BY_KIND: dict[NodeKind, type[NodeSpec]] = {
    NodeKind.SOURCE: SourceSpec,
    NodeKind.TRANSFORM: TransformSpec,
    NodeKind.FEATURE_GROUP: FeatureGroupSpec,
    NodeKind.MODEL: ModelSpec,
    NodeKind.AGGREGATION: AggregationSpec,
    NodeKind.SECOND_ORDER_AGGREGATION: SecondOrderAggregationSpec,
    NodeKind.PROFILE: ProfileSpec,
    NodeKind.RULE: RuleSpec,
    NodeKind.EXPOSURE: ExposureSpec,
    NodeKind.SEMANTIC_MODEL: SemanticModelSpec,
    NodeKind.METRIC: MetricSpec,
}


def function_output_id(function: str) -> str:
    """What a Python feature group or second-order aggregation reads: the rows its function returns."""
    return f"python.{function}"


class PythonNodeSpec(NodeSpec):
    """A node computed by a decorated function in a ``seeknal/**/*.py`` file, read without running the file.

    Its code version follows ``code_digest`` (the function and the file's shared code, comments, docstrings and
    formatting aside), its params and inputs. A feature group or second-order aggregation also carries
    ``kind_spec``: the node as its decorator arguments declare it in YAML, which that kind's executor applies to
    the rows the function returns.
    """

    function: str
    #: The function's source with its decorators, as written (shown in Dagster).
    source_code: str = ""
    code_digest: str = ""
    #: Upstream nodes named by ``ctx.ref("kind.name")`` calls in the function.
    code_refs: list[str] = Field(default_factory=list)
    #: The decorator's arguments that have literal values.
    decorator_args: dict[str, Any] = Field(default_factory=dict)
    #: Seconds the function may run; the project's ``dagster: {python_timeout: …}`` or the default otherwise.
    timeout: float | None = Field(default=None, gt=0)
    kind_spec: SerializeAsAny[NodeSpec] | None = None

    descriptive_fields: ClassVar[frozenset[str]] = NodeSpec.descriptive_fields | {"source_code", "decorator_args"}

    def declared_refs(self) -> Iterator[tuple[str, Any]]:
        yield from super().declared_refs()
        for ref in self.code_refs:
            yield "ctx.ref", ref
