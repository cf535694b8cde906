"""What a ``feature_group`` node may say, read from either YAML dialect into one shape.

Seeknal YAML says ``entity: customer`` (join key ``customer_id``) or ``entity: {name, join_keys}``, puts the event
time under ``materialization.event_time_col`` and lists ``features`` as a map; the seed design puts ``join_keys``
at the top level and lists ``features: [{name, dtype}]``. Everything downstream (executor, stores, retrieval) works
from :class:`FeatureGroupDefinition` only; the loader builds one for every feature group, so ``validate`` reports
what would stop the node.

``features`` is read the way Seeknal's docs write it: a map of name → ``{dtype | data_type | type, description}``,
name → a dtype or a description, name → nothing, or a list of names or of ``{name, …}``. Seeknal treats the list
as documentation and writes every column; here the declared features are what the offline and online stores hold
(each checked against, and stored as, its dtype), and the node's output passes every input column through. Docs
often list the join keys and the event time among the features: they stay what they are, keys and time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterator

from seeknal_dagster.project.checks.scope import CheckScope, Finding, SettingError
from seeknal_dagster.project.checks.transform import query_statements, rendered_sql
from seeknal_dagster.project.models import NODE_NAME_PATTERN

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode
    from seeknal_dagster.project.models import FeatureGroupSpec

#: The column holding the event time when a feature group declares none: the data's own, or the materialization time.
SNAPSHOT_TIME_COLUMN = "event_time"
MODES = ("overwrite", "append")

#: Declared dtype (and its common spellings, Spark's included) → the type family it names.
_DTYPE_ALIASES = {
    **dict.fromkeys(("int", "integer", "long", "bigint", "int32", "int64", "smallint", "short"), "int"),
    **dict.fromkeys(("float", "double", "float32", "float64", "real", "decimal", "numeric"), "float"),
    **dict.fromkeys(("string", "str", "varchar", "text"), "string"),
    **dict.fromkeys(("bool", "boolean"), "bool"),
    "date": "date",
    **dict.fromkeys(("timestamp", "datetime"), "timestamp"),
}

class FeatureGroupDefinitionError(SettingError):
    """The YAML of a feature group cannot describe a feature group; ``field`` says where."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}", field)


@dataclass(frozen=True)
class Feature:
    name: str
    #: The declared type family (see ``STORED_TYPES``), or ``None`` when the YAML gives no dtype.
    dtype: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class OnlineSettings:
    """Where the latest values are served from: SQLite (``path``, default ``target/feature_store/online.db``) or
    the PostgreSQL database a profiles.yml ``connection`` names."""

    enabled: bool = False
    connection: str | None = None
    path: str | None = None
    table: str | None = None


@dataclass(frozen=True)
class FeatureGroupDefinition:
    name: str
    entity: str
    join_keys: tuple[str, ...]
    #: The data's event-time column; ``None`` reads the data's ``event_time`` column, as Seeknal does, or, when the
    #: data has none, makes a snapshot group stamped with the materialization time.
    event_time_col: str | None
    #: The declared features, or ``None``: every column but the join keys and the event time.
    features: tuple[Feature, ...] | None
    offline: bool
    online: OnlineSettings
    mode: str
    transform: str | None
    inputs: tuple[str, ...]
    #: For a group computed by a Python function: a digest of its code, part of what the group computes.
    code_digest: str | None = None

    @classmethod
    def from_spec(cls, spec: "FeatureGroupSpec") -> "FeatureGroupDefinition":
        """Read either dialect; raises :class:`FeatureGroupDefinitionError` naming the field at fault."""
        extra = spec.extra_fields()
        materialization = spec.materialization or {}
        entity, join_keys = _entity(spec.entity, spec.join_keys)
        event_time_col = (
            materialization.get("event_time_col")
            or extra.get("event_time_col")
            or _mapping(materialization.get("offline")).get("event_time_col")
        )
        if spec.mode not in MODES:
            raise FeatureGroupDefinitionError("mode", f"'{spec.mode}' is not a write mode (use {' or '.join(MODES)})")
        features = _features(spec.features)
        if features is not None:  # listed keys and event time stay keys and time
            features = tuple(feature for feature in features if feature.name not in (*join_keys, event_time_col))
        return cls(
            name=spec.name,
            entity=entity,
            join_keys=join_keys,
            event_time_col=str(event_time_col) if event_time_col else None,
            features=features,
            offline=_enabled(materialization.get("offline", True)),
            online=_online(materialization.get("online", False)),
            mode=spec.mode,
            transform=spec.transform,
            inputs=tuple(spec.input_ids()),
        )

    @property
    def time_column(self) -> str:
        """The event-time column as stored: the declared one, or the snapshot column."""
        return self.event_time_col or SNAPSHOT_TIME_COLUMN

    def definition_hash(self) -> str:
        """What makes stored data of one version comparable: keys, time, features and how they are computed.
        Write settings (mode, time range, stores) are left out: they change how much is written, not what."""
        identity = {
            "entity": self.entity,
            "join_keys": self.join_keys,
            "event_time_col": self.event_time_col,
            "features": [(feature.name, feature.dtype) for feature in self.features or ()],
            "transform": self.transform,
            "inputs": self.inputs,
            **({"code": self.code_digest} if self.code_digest else {}),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def first_input(node: "ProjectNode") -> str:
    """The node the group's rows come from: the first declared input, else the first ``ref()`` of its SQL."""
    candidates = node.input_upstream_ids() or node.upstream
    if not candidates:
        raise SettingError("a feature group needs an input: inputs: [{ref: kind.name}]", "inputs")
    return candidates[0]


def time_range(node: "ProjectNode", scope: CheckScope) -> tuple[datetime | None, datetime | None]:
    """``feature_start_time`` / ``feature_end_time`` (both inclusive), rendered and parsed."""
    bounds = []
    for field in ("feature_start_time", "feature_end_time"):
        value = getattr(node.spec, field)
        if value is None:
            bounds.append(None)
            continue
        text = scope.render(node, str(value), field).strip()
        try:
            bounds.append(datetime.fromisoformat(text))
        except ValueError:
            raise SettingError(f"{field}: '{text}' is not an ISO date or timestamp", field) from None
    return bounds[0], bounds[1]


def entity_groups(definition: FeatureGroupDefinition, scope: CheckScope) -> dict[str, FeatureGroupDefinition]:
    """Every feature group of the project for the group's entity (the group included)."""

    def by_entity() -> dict[str, dict[str, FeatureGroupDefinition]]:
        groups: dict[str, dict[str, FeatureGroupDefinition]] = {}
        for node in scope.nodes.values():
            if node.kind.value == "feature_group":
                try:
                    other = FeatureGroupDefinition.from_spec(node.kind_spec)  # type: ignore[arg-type]
                except SettingError:
                    continue
                groups.setdefault(other.entity, {})[other.name] = other
        return groups

    return {**scope.once("feature_groups_by_entity", by_entity).get(definition.entity, {}), definition.name: definition}


def check_feature_group(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    spec: FeatureGroupSpec = node.spec  # type: ignore[assignment]
    definition = FeatureGroupDefinition.from_spec(spec)
    first_input(node)
    time_range(node, scope)
    if definition.transform:
        sql = rendered_sql(node, scope, definition.transform, "transform")
        if sql is not None:
            query_statements(sql, "a feature group's transform", "transform")
    for other in entity_groups(definition, scope).values():
        if other.join_keys != definition.join_keys:
            yield Finding(
                f"entity '{definition.entity}' has join keys {list(definition.join_keys)} here but "
                f"{list(other.join_keys)} in feature_group.{other.name}: an entity's feature groups share its keys",
                "entity",
            )
    connection = definition.online.connection
    if definition.online.enabled and connection and scope.connection_problem(connection):
        yield Finding(f"materialization.online.connection: {scope.connection_problem(connection)}", "materialization.online.connection")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _enabled(value: Any) -> bool:
    """``offline: true`` or ``offline: {enabled: true, …}`` (a mapping without ``enabled`` means enabled)."""
    return bool(value.get("enabled", True)) if isinstance(value, dict) else bool(value)


def _online(value: Any) -> OnlineSettings:
    settings = _mapping(value)
    store_type = str(settings.get("type") or ("postgresql" if settings.get("connection") else "sqlite")).lower()
    if store_type not in ("sqlite", "postgresql", "postgres"):
        raise FeatureGroupDefinitionError(
            "materialization.online.type", f"unknown online store '{store_type}' (use sqlite or postgresql)"
        )
    connection = settings.get("connection")
    if store_type != "sqlite" and not connection:
        raise FeatureGroupDefinitionError(
            "materialization.online.connection", "a postgresql online store needs the profiles.yml connection to use"
        )
    return OnlineSettings(
        enabled=_enabled(value),
        connection=str(connection) if store_type != "sqlite" else None,
        path=settings.get("path"),
        table=settings.get("table"),
    )


def _entity(entity: str | dict[str, Any], top_level_keys: list[str] | None) -> tuple[str, tuple[str, ...]]:
    """(entity name, join keys): a bare name ``customer`` has the join key ``customer_id``."""
    if isinstance(entity, dict):
        name, keys = entity.get("name"), entity.get("join_keys", top_level_keys)
    else:
        name, keys = entity, top_level_keys if top_level_keys is not None else [f"{entity}_id"]
    if not isinstance(name, str) or not NODE_NAME_PATTERN.match(name):
        raise FeatureGroupDefinitionError("entity", f"the entity needs a name of letters, digits and '_' (got {name!r})")
    if isinstance(keys, str):
        keys = [keys]
    if not keys or not all(isinstance(key, str) and key for key in keys):
        raise FeatureGroupDefinitionError("entity.join_keys", f"entity '{name}' needs at least one join key column")
    return name, tuple(keys)


def _features(declared: Any) -> tuple[Feature, ...] | None:
    """``{name: {dtype, description}}``, ``{name: dtype or description}``, ``{name: null}``, ``[{name, dtype}]`` or
    ``[name]``; ``dtype`` may be spelt ``data_type`` or ``type``."""
    if not declared:
        return None
    if isinstance(declared, dict):
        items = [_feature_item(name, details) for name, details in declared.items()]
    elif isinstance(declared, list):
        items = [item if isinstance(item, dict) else {"name": item} for item in declared]
    else:
        raise FeatureGroupDefinitionError("features", f"expected a map or a list of features, not {declared!r}")
    features = []
    for index, item in enumerate(items):
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise FeatureGroupDefinitionError(f"features[{index}]", f"a feature needs a name (got {name!r})")
        dtype = next((item[key] for key in ("dtype", "data_type", "type") if item.get(key)), None)
        family = _DTYPE_ALIASES.get(str(dtype).strip().lower()) if dtype else None
        if dtype and family is None:
            known = ", ".join(sorted(_DTYPE_ALIASES))
            raise FeatureGroupDefinitionError(f"features.{name}", f"unknown dtype '{dtype}' (known: {known})")
        description = item.get("description")
        features.append(Feature(name, family, str(description) if description is not None else None))
    names = [feature.name for feature in features]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise FeatureGroupDefinitionError("features", f"declared more than once: {duplicates}")
    return tuple(features)


def _feature_item(name: Any, details: Any) -> dict[str, Any]:
    """One entry of the map form: details are a mapping, a dtype, a description, or nothing."""
    if isinstance(details, dict):
        return {**details, "name": name}
    if details is None:
        return {"name": name}
    if isinstance(details, str):
        is_dtype = details.strip().lower() in _DTYPE_ALIASES
        return {"name": name, "dtype" if is_dtype else "description": details}
    raise FeatureGroupDefinitionError(
        f"features.{name}", f"expected {{dtype, description}}, a dtype or a description, not {details!r}"
    )
