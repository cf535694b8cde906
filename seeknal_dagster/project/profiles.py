"""``profiles.yml``: named connections and per-source-type defaults (spec §1.3).

Values keep their ``${VAR:default}`` placeholders until a connection is actually opened, so secrets are read from
the environment at the last moment and never land in metadata, logs or files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seeknal_dagster.project import secrets
from seeknal_dagster.project.errors import Problem
from seeknal_dagster.project.yaml_files import read_yaml_file

PROFILES_ENV_VAR = "SEEKNAL_PROFILES_PATH"
_ENV_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
SOURCE_TYPE_ALIASES = {"postgres": "postgresql", "jsonl": "json"}
#: Keys of a PostgreSQL connection profile (or inline params) → ``psycopg.connect`` keyword.
POSTGRES_CONNECT_KEYS = {
    "host": "host",
    "port": "port",
    "database": "dbname",
    "dbname": "dbname",
    "user": "user",
    "username": "user",
    "password": "password",
    "sslmode": "sslmode",
    "connect_timeout": "connect_timeout",
}


def interpolate_env(value: Any) -> Any:
    """Replace ``${VAR}`` / ``${VAR:default}`` inside strings, recursively; an unset variable without a default
    becomes an empty string."""
    if isinstance(value, str):
        return _ENV_PLACEHOLDER.sub(lambda match: os.environ.get(match.group(1), match.group(2) or ""), value)
    if isinstance(value, list):
        return [interpolate_env(item) for item in value]
    if isinstance(value, dict):
        return {key: interpolate_env(item) for key, item in value.items()}
    return value


def unset_variables(value: Any) -> list[str]:
    """The ``${VAR}`` placeholders without a default in ``value`` whose variable is not set: a secret that is
    missing should fail by its name, not be sent as an empty string."""
    if isinstance(value, dict):
        return [name for item in value.values() for name in unset_variables(item)]
    if isinstance(value, list):
        return [name for item in value for name in unset_variables(item)]
    if not isinstance(value, str):
        return []
    return [
        match.group(1)
        for match in _ENV_PLACEHOLDER.finditer(value)
        if match.group(2) is None and match.group(1) not in os.environ
    ]


def postgres_connect_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """``psycopg.connect`` keywords from a connection profile's settings (empty values left to libpq)."""
    return {
        keyword: settings[key]
        for key, keyword in POSTGRES_CONNECT_KEYS.items()
        if settings.get(key) not in (None, "")
    }


def resolve_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Connection settings with their ``${VAR}`` placeholders resolved (call only when connecting); the values of
    secret-named keys are registered, so no message built from a driver's error can show them."""
    resolved = interpolate_env(settings)
    for key, value in resolved.items():
        if secrets.is_secret_key(key):
            secrets.register(value)
    return resolved


@dataclass
class Profiles:
    path: Path | None = None
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    source_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def connection(self, name: str) -> dict[str, Any]:
        """The named connection with environment placeholders resolved (call only when connecting)."""
        if name not in self.connections:
            where = self.path or "no profiles.yml was found"
            raise KeyError(f"connection '{name}' is not defined in profiles ({where})")
        return resolve_settings(self.connections[name])

    def register_secrets(self) -> None:
        """Register every connection's secrets (:func:`resolve_settings`) before code this process does not
        control runs with the environment they come from (a Python node), so whatever it echoes is scrubbed."""
        for settings in self.connections.values():
            resolve_settings(settings)

    @property
    def materialization(self) -> dict[str, Any]:
        """Seeknal's ``materialization:`` block: ``enabled`` (for transforms' singular ``materialization:``) and
        ``catalog``, the Iceberg catalog (placeholders unresolved)."""
        block = self.raw.get("materialization")
        return dict(block) if isinstance(block, dict) else {}

    @property
    def iceberg_catalog(self) -> dict[str, Any]:
        catalog = self.materialization.get("catalog")
        return dict(catalog) if isinstance(catalog, dict) else {}

    @property
    def duckdb_memory_limit(self) -> Any:
        """Seeknal's ``materialization.duckdb.memory_limit`` (``'1GB'``), or None when the profile has none."""
        duckdb_settings = self.materialization.get("duckdb")
        return duckdb_settings.get("memory_limit") if isinstance(duckdb_settings, dict) else None

    def defaults_for(self, source_type: str) -> dict[str, Any]:
        source_type = SOURCE_TYPE_ALIASES.get(source_type, source_type)
        for key, value in self.source_defaults.items():
            if SOURCE_TYPE_ALIASES.get(key, key) == source_type:
                return dict(value or {})
        return {}


def find_profiles(project_dir: Path, explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Where profiles come from: an explicit path, ``$SEEKNAL_PROFILES_PATH``, the project's own
    ``profiles.yml``, then Seeknal's global ``$SEEKNAL_BASE_CONFIG_PATH`` / ``~/.seeknal`` file."""
    candidates = [explicit, os.environ.get(PROFILES_ENV_VAR), project_dir / "profiles.yml"]
    base = os.environ.get("SEEKNAL_BASE_CONFIG_PATH") or str(Path.home() / ".seeknal")
    candidates.append(Path(base) / "profiles.yml")
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    if explicit:
        return Path(explicit)
    return None


def _named_mappings(document: dict[str, Any], section: str, what: str, path: Path) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """``section: {name: {settings…}}`` of a profiles file, every entry of another shape reported."""
    entries = document.get(section) or {}
    if not isinstance(entries, dict):
        return {}, [Problem(f"'{section}' must map each {what} to its settings ({section}: {{name: {{…}}}})", file=path, field=section)]
    problems = [
        Problem(f"{what} '{name}' must be a mapping of settings, not {type(value).__name__}", file=path, field=f"{section}.{name}")
        for name, value in entries.items()
        if not isinstance(value, dict) and value is not None
    ]
    return {str(name): dict(value or {}) for name, value in entries.items() if isinstance(value, dict) or value is None}, problems


def load_profiles(project_dir: Path, explicit: str | os.PathLike[str] | None = None) -> tuple[Profiles, list[Problem]]:
    path = find_profiles(project_dir, explicit)
    if path is None:
        return Profiles(), []
    if not path.is_file():
        return Profiles(path=path), [Problem("profiles file does not exist", file=path)]
    document, problems = read_yaml_file(path, path)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        return Profiles(path=path), [*problems, Problem("profiles.yml must be a mapping", file=path)]
    connections, connection_problems = _named_mappings(document, "connections", "connection", path)
    source_defaults, default_problems = _named_mappings(document, "source_defaults", "source type", path)
    profiles = Profiles(path=path, connections=connections, source_defaults=source_defaults, raw=document)
    limit = profiles.duckdb_memory_limit
    if limit is not None and (error := memory_limit_error(limit)):
        problems.append(Problem(error, file=path, field="materialization.duckdb.memory_limit"))
    return profiles, [*problems, *connection_problems, *default_problems]


def memory_limit_error(value: object) -> str | None:
    """What DuckDB's own parser says against ``value`` as a memory limit (``'4GB'``, ``'512MiB'``, ``'25%'``), or
    None when it accepts it."""
    import duckdb

    if not isinstance(value, str):
        return f"must be a size string such as '4GB', '512MB' or '25%', not {type(value).__name__} {value!r}"
    try:
        duckdb.connect(config={"memory_limit": value}).close()
    except duckdb.Error as error:
        return f"{value!r} is not a memory size DuckDB understands: {error}"
    return None
