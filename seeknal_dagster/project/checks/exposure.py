"""What an ``exposure`` node may say: its type and, per type, where it delivers (params, or the forgiving
top-level form). ``${VAR}`` placeholders in URLs and headers stay unresolved here: they are read from the
environment when the exposure sends, never at load."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator
from urllib.parse import urlsplit

from seeknal_dagster.project.checks.scope import CheckScope, Finding, SettingError, seeknal_only
from seeknal_dagster.project.models import ExposureSpec
from seeknal_dagster.project.templating import ParamUse

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode

EXPOSURE_TYPES = ("file", "database", "api", "dashboard", "notification", "report")
#: Types Seeknal knows that seeknal-dagster does not deliver: such a node loads, with a warning, and fails if it runs.
SEEKNAL_ONLY_TYPES = ("starrocks_materialized_view",)
NOTIFICATION_CHANNELS = ("webhook", "slack")
FILE_FORMATS = ("csv", "parquet", "json", "jsonl")
FORMAT_ALIASES = {"ndjson": "jsonl"}
DATABASE_MODES = ("replace", "append")
DATABASE_MODE_ALIASES = {"overwrite": "replace", "full": "replace", "insert": "append"}
#: What ``replace`` does when the table exists with other columns: fail (the default), or alter it to the data's.
SCHEMA_CHANGE_POLICIES = ("fail", "sync")
DEFAULT_BATCH_ROWS = 1000
#: A setting by name, with a default: ``params`` first, then the node's top level.
Setting = Callable[..., Any]
#: How an exposure uses the params a run value may fill; where it delivers (connection, table, method, auth…) is
#: the project's to set.
EXPOSURE_PARAM_USES = {
    "path": ParamUse.PATH,
    **dict.fromkeys(("url", "webhook_url"), ParamUse.URL),
    "headers": ParamUse.HEADER,
    **dict.fromkeys(
        ("enabled", "message", "format", "batch_size", "retries", "backoff", "timeout", "check_reachable", "records_key"),
        ParamUse.VALUE,
    ),
}


def exposure_setting(spec: ExposureSpec, params: dict[str, Any]) -> Setting:
    """How an exposure reads a setting: under ``params`` or, in the forgiving form, at the top level of the node."""

    def setting(name: str, default: Any = None) -> Any:
        if params.get(name) is not None:
            return params[name]
        top_level = getattr(spec, name, None) if name in type(spec).model_fields else None
        return top_level if top_level is not None else spec.extra_fields().get(name, default)

    return setting


def file_format(declared: str | None, path: Path) -> str | None:
    """The format a file exposure writes: declared, else from the file's suffix, else CSV (Seeknal's default);
    ``None`` when the declared format is unknown."""
    if declared:
        name = str(declared).lower().strip()
        name = FORMAT_ALIASES.get(name, name)
        return name if name in FILE_FORMATS else None
    suffix = path.suffix.lower().lstrip(".")
    suffix = FORMAT_ALIASES.get(suffix, suffix)
    return suffix if suffix in FILE_FORMATS else "csv"


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def file_target(setting: Setting) -> tuple[str, str]:
    """(path as written, relative to the project; format)."""
    path = setting("path") or setting("url")
    if not path:
        raise SettingError("file exposure: give the file to write as params.path (relative to the project)", "params.path")
    path = str(path).removeprefix("file://")
    fmt = file_format(setting("format"), Path(path))
    if fmt is None:
        raise SettingError(
            f"file exposure: unknown format '{setting('format')}' (supported: {', '.join(FILE_FORMATS)})", "params.format"
        )
    return path, fmt


def database_target(setting: Setting) -> tuple[str, str, str]:
    """(profiles.yml connection name, ``[schema.]table``, mode)."""
    connection, table = setting("connection"), setting("table")
    if not connection or not table:
        raise SettingError(
            "database exposure: give params.connection (a profiles.yml connection) and params.table ([schema.]table)",
            "params.connection" if not connection else "params.table",
        )
    mode = str(setting("mode", "replace")).lower()
    mode = DATABASE_MODE_ALIASES.get(mode, mode)
    if mode not in DATABASE_MODES:
        raise SettingError(f"database exposure: unknown mode '{mode}' (use replace or append)", "params.mode")
    return str(connection), str(table), mode


def _one_of(setting: Setting, name: str, default: str, supported: tuple[str, ...], kind: str) -> str:
    """A setting that names one of ``supported`` (case-insensitively)."""
    value = str(setting(name, default)).lower()
    if value not in supported:
        raise SettingError(
            f"{kind} exposure: {name} '{value}' is not supported (supported: {', '.join(supported)})", f"params.{name}"
        )
    return value


def schema_change_policy(setting: Setting) -> str:
    """``on_schema_change`` of a database exposure: what ``replace`` does to a table whose columns differ."""
    return _one_of(setting, "on_schema_change", "fail", SCHEMA_CHANGE_POLICIES, "database")


def web_url(setting: Setting, kind: str, *names: str) -> str:
    """The URL as written, placeholders unresolved; one written without placeholders must be http(s)."""
    template = next((str(setting(name)) for name in (*names, "url") if setting(name)), None)
    if template is None:
        raise SettingError(f"{kind} exposure: give the endpoint as url (or params.url)", "url")
    if "${" not in template and not is_web_url(template):
        raise SettingError(f"{kind} exposure: {template!r} is not an http(s) URL", "url")
    return template


def batch_rows(setting: Setting) -> int:
    rows = setting("batch_size", DEFAULT_BATCH_ROWS)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise SettingError(f"api exposure: batch_size must be a positive whole number (got {rows!r})", "params.batch_size")
    return rows


def retry_settings(setting: Setting, kind: str) -> dict[str, float]:
    """The ``retries``, ``backoff``, ``timeout`` and ``max_wait`` (the longest wait between attempts, a server's
    ``Retry-After`` included) the exposure sets (those it leaves out are absent)."""
    values: dict[str, float] = {}
    for name, convert in (("retries", int), ("backoff", float), ("timeout", float), ("max_wait", float)):
        if setting(name) is None:
            continue
        try:
            values[name] = convert(setting(name))
        except (TypeError, ValueError):
            raise SettingError(
                f"{kind} exposure: retries, backoff, timeout and max_wait must be numbers", f"params.{name}"
            ) from None
    if min(values.get("retries", 0), values.get("backoff", 0), values.get("max_wait", 0)) < 0 or values.get("timeout", 1) <= 0:
        raise SettingError(f"{kind} exposure: retries, backoff and max_wait must be >= 0 and timeout > 0", "params")
    return values


def notification_channel(setting: Setting) -> str:
    return _one_of(setting, "channel", "webhook", NOTIFICATION_CHANNELS, "notification")


def request_headers(setting: Setting, kind: str) -> dict[str, str]:
    """The headers as written (placeholders unresolved)."""
    headers = setting("headers") or {}
    if not isinstance(headers, dict):
        raise SettingError(f"{kind} exposure: headers must be a mapping of header names to values", "params.headers")
    return {str(name): str(value) for name, value in headers.items()}


def check_exposure(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    spec: ExposureSpec = node.spec  # type: ignore[assignment]
    kind = spec.delivery_type
    if kind in SEEKNAL_ONLY_TYPES:
        yield seeknal_only("delivers", f"'{spec.type}' exposures", EXPOSURE_TYPES, "type")
        return
    if kind not in EXPOSURE_TYPES:
        raise SettingError(f"unsupported exposure type '{spec.type}' (supported: {', '.join(EXPOSURE_TYPES)})", "type")
    if kind in ("file", "database", "api") and not spec.input_ids():
        raise SettingError(f"{kind} exposure: give 'inputs' naming the data to deliver", "inputs")
    setting = exposure_setting(spec, scope.params(node, EXPOSURE_PARAM_USES))
    if kind == "file":
        file_target(setting)
    elif kind == "database":
        connection, _, _ = database_target(setting)
        schema_change_policy(setting)
        if scope.connection_problem(connection):
            yield Finding(f"database exposure: {scope.connection_problem(connection)}", "params.connection")
    elif kind in ("api", "dashboard", "notification"):
        web_url(setting, kind, *(("webhook_url",) if kind == "notification" else ()))
        retry_settings(setting, kind)
        request_headers(setting, kind)
        if kind == "api":
            batch_rows(setting)
        if kind == "notification":
            notification_channel(setting)
