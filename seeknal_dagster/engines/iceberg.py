"""Apache Iceberg tables through pyiceberg: finding the catalog as Seeknal configures it, reading, writing.

Seeknal names a table ``catalog.namespace.table`` and finds its catalog from ``catalog_uri`` and ``warehouse``
(source params, ``source_defaults.iceberg``, or the ``materialization.catalog`` block of profiles.yml, then the
``LAKEKEEPER_*`` environment), with credentials from the environment: an OAuth2 client (``KEYCLOAK_TOKEN_URL``,
``KEYCLOAK_CLIENT_ID``, ``KEYCLOAK_CLIENT_SECRET``) and S3 keys (``AWS_*``). Seeknal reaches REST catalogs through
DuckDB's iceberg extension, which cannot be downloaded offline; pyiceberg reads and writes the same tables, and
also opens a SQL catalog (``sqlite:///catalog.db`` with a local warehouse) that needs no server at all.

Secrets (tokens, client secrets, S3 keys, a password in a catalog URI) are read from the environment when the
catalog opens, registered with :mod:`seeknal_dagster.project.secrets`, and scrubbed from every message this
module raises.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from seeknal_dagster.project import secrets
from seeknal_dagster.project.profiles import interpolate_env

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa  # imported where rows flow: a code location's load never needs it
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table


#: One part of a table name, as Seeknal validates it.
NAME_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Rows per Arrow batch streamed into a write.
BATCH_ROWS = 100_000
_TOKEN_TIMEOUT_SECONDS = 30
#: Keys of a catalog block whose values are secrets.
_SECRET_SETTINGS = ("bearer_token", "token", "credential", "client_secret")
#: Environment variables Seeknal reads for object storage, mapped to pyiceberg's S3 properties.
_S3_ENVIRONMENT = {
    "AWS_ENDPOINT_URL": "s3.endpoint",
    "AWS_REGION": "s3.region",
    "AWS_ACCESS_KEY_ID": "s3.access-key-id",
    "AWS_SECRET_ACCESS_KEY": "s3.secret-access-key",
    "AWS_SESSION_TOKEN": "s3.session-token",
}
_SECRET_ENVIRONMENT = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "KEYCLOAK_CLIENT_SECRET")


class IcebergError(Exception):
    """A catalog that cannot be found, opened, read or written; the message holds no secret."""


@dataclass(frozen=True)
class TableName:
    """``[catalog.]namespace.table`` as written; the catalog part is Seeknal's alias, not where the catalog is."""

    catalog: str | None
    namespace: str
    table: str

    @classmethod
    def parse(cls, written: str, *, require_catalog: bool) -> "TableName":
        parts = str(written).split(".")
        expected = "catalog.namespace.table" if require_catalog else "[catalog.]namespace.table"
        if len(parts) not in ((3,) if require_catalog else (2, 3)) or not all(NAME_PART.match(part) for part in parts):
            raise ValueError(f"an Iceberg table is named {expected} (letters, digits and '_'), got {written!r}")
        return cls(parts[0] if len(parts) == 3 else None, parts[-2], parts[-1])

    @property
    def identifier(self) -> tuple[str, str]:
        return (self.namespace, self.table)

    def __str__(self) -> str:
        return ".".join(part for part in (self.catalog, self.namespace, self.table) if part)


@dataclass(frozen=True)
class CatalogSettings:
    """Where a catalog is, as configured (``${VAR}`` placeholders still unresolved) and relative to the project."""

    name: str
    uri: str
    warehouse: str | None
    workspace: Path
    catalog_type: str | None = None
    token: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, name: str, layers: list[Mapping[str, Any]], workspace: Path) -> "CatalogSettings":
        """Merge catalog blocks (later ones win), spelled as profiles.yml's ``materialization.catalog`` (``uri``,
        ``warehouse``, ``type``, ``bearer_token``) or as Seeknal's source params (``catalog_uri``, ``warehouse``);
        Seeknal's ``LAKEKEEPER_*`` variables fill what none of them gives."""
        merged: dict[str, Any] = {}
        for layer in layers:
            for key, value in (layer or {}).items():
                if value not in (None, ""):
                    merged[{"catalog_uri": "uri", "catalog_type": "type"}.get(key, key)] = value
        uri = merged.get("uri") or os.environ.get("LAKEKEEPER_URL") or os.environ.get("LAKEKEEPER_URI")
        if not uri:
            raise IcebergError(
                "no Iceberg catalog is configured: give params.catalog_uri (or source_defaults.iceberg / "
                "materialization.catalog in profiles.yml), e.g. http://lakekeeper:8181 or sqlite:///iceberg/catalog.db"
            )
        warehouse = merged.get("warehouse") or os.environ.get("LAKEKEEPER_WAREHOUSE")
        token = merged.get("bearer_token") or merged.get("token")
        properties = merged.get("properties") or {}
        if not isinstance(properties, Mapping):
            raise IcebergError("catalog 'properties' must be a mapping of pyiceberg catalog properties")
        catalog_type = str(merged["type"]).lower() if merged.get("type") else None
        return cls(name, str(uri), str(warehouse) if warehouse else None, workspace, catalog_type, token, properties)

    @property
    def kind(self) -> str:
        """``sql`` for a SQLAlchemy URL (``sqlite:///…``, ``postgresql+psycopg://…``), ``rest`` for http(s)."""
        if self.catalog_type in ("sql", "rest"):
            return self.catalog_type
        scheme = urllib.parse.urlsplit(interpolate_env(self.uri)).scheme.lower()
        return "rest" if scheme in ("http", "https") else "sql"

    @property
    def shown(self) -> str:
        """The catalog's address for metadata and messages: no user, password or query string."""
        parts = urllib.parse.urlsplit(interpolate_env(self.uri))
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"

    def open(self, *, must_exist: bool) -> "OpenCatalog":
        """Connect (fetching an OAuth2 token first when the environment names a client). ``must_exist``: a
        missing SQLite catalog file is an error (a reader), not a new empty catalog (a writer)."""
        from pyiceberg.catalog import load_catalog

        known = [str(interpolate_env(self.token))] if self.token else []
        known += [os.environ[name] for name in _SECRET_ENVIRONMENT if os.environ.get(name)]
        known += [str(interpolate_env(value)) for key, value in self.properties.items() if secrets.is_secret_key(key)]
        uri = interpolate_env(self.uri)
        password = urllib.parse.urlsplit(uri).password
        known += [password, urllib.parse.unquote(password)] if password else []
        for secret in known:
            secrets.register(secret)
        properties: dict[str, Any] = {"type": self.kind, "uri": uri}
        if self.kind == "sql":
            properties["uri"] = self._sql_uri(uri, must_exist)
            warehouse = self._local_warehouse()
            if warehouse:
                properties["warehouse"] = warehouse
        else:
            properties["uri"] = _rest_uri(uri)
            if self.warehouse:
                properties["warehouse"] = interpolate_env(self.warehouse)
            properties.update(
                {prop: os.environ[name] for name, prop in _S3_ENVIRONMENT.items() if os.environ.get(name)}
            )
            token = interpolate_env(self.token) if self.token else _client_credentials_token()
            if token:
                properties["token"] = token
                secrets.register(token)
        properties.update({str(key): str(interpolate_env(value)) for key, value in self.properties.items()})
        try:
            catalog = load_catalog(self.name, **properties)
        except Exception as error:
            raise IcebergError(secrets.scrub(f"could not open the Iceberg catalog at {self.shown}: {describe(error)}")) from None
        return OpenCatalog(self, catalog)

    def _sql_uri(self, uri: str, must_exist: bool) -> str:
        """A SQLite catalog's file, relative to the project root like every path in a project."""
        if not uri.startswith("sqlite:///"):
            return uri
        path = Path(uri.removeprefix("sqlite:///").partition("?")[0]).expanduser()
        path = path if path.is_absolute() else self.workspace / path
        if must_exist and not path.is_file():
            raise IcebergError(secrets.scrub(f"the Iceberg catalog database {path} does not exist"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"

    def _local_warehouse(self) -> str | None:
        """A warehouse written as a plain path becomes a ``file://`` URI, relative to the project root."""
        if not self.warehouse:
            return None
        warehouse = str(interpolate_env(self.warehouse))
        if "://" in warehouse:
            return warehouse
        path = Path(warehouse).expanduser()
        return (path if path.is_absolute() else self.workspace / path).resolve().as_uri()


def shown_params(params: Mapping[str, Any], settings: CatalogSettings) -> dict[str, Any]:
    """A source's params fit for metadata: the catalog URI without credentials, secret ``properties`` masked
    (:func:`secrets.redact` masks the top-level secrets)."""
    shown = dict(params)
    if "catalog_uri" in shown:
        shown["catalog_uri"] = settings.shown
    if isinstance(shown.get("properties"), Mapping):
        shown["properties"] = secrets.redact(shown["properties"])
    return shown


def _rest_uri(uri: str) -> str:
    """Seeknal's ``catalog_uri`` is a Lakekeeper server, whose catalog lives under ``/catalog``; a URI that
    already has a path is used as written (other REST catalogs)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.path.strip("/"):
        return uri
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/catalog", parts.query, ""))


def _client_credentials_token() -> str | None:
    """An OAuth2 access token for the client Seeknal's ``KEYCLOAK_*`` variables name, or ``None`` when they
    name none (the catalog needs no authentication)."""
    url, client, secret = (os.environ.get(name) for name in ("KEYCLOAK_TOKEN_URL", "KEYCLOAK_CLIENT_ID", "KEYCLOAK_CLIENT_SECRET"))
    if not (url and client and secret):
        return None
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": client, "client_secret": secret})
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    shown = urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(query="", fragment=""))
    try:
        with urllib.request.urlopen(request, timeout=_TOKEN_TIMEOUT_SECONDS) as response:
            token = json.loads(response.read()).get("access_token")
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise IcebergError(secrets.scrub(f"could not get an OAuth2 token from {shown}: {error}")) from None
    if not token:
        raise IcebergError(f"the OAuth2 server {shown} answered without an access_token")
    return str(token)


def describe(error: BaseException) -> str:
    """An exception as one line: its type when its message says nothing, its first line otherwise."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


@dataclass
class OpenCatalog:
    """A connected catalog."""

    settings: CatalogSettings
    catalog: "Catalog"

    def fail(self, what: str, error: BaseException) -> IcebergError:
        return IcebergError(secrets.scrub(f"{what} ({self.settings.shown}): {describe(error)}"))

    def load(self, name: TableName) -> "Table":
        try:
            return self.catalog.load_table(name.identifier)
        except Exception as error:
            raise self.fail(f"could not load Iceberg table {name}", error) from None

    def scan(self, table: "Table", name: TableName, columns: list[str] | None) -> pa.RecordBatchReader:
        """The table's current snapshot as a stream of record batches, only ``columns`` when given."""
        try:
            scan = table.scan(selected_fields=tuple(columns)) if columns else table.scan()
            return scan.to_arrow_batch_reader()
        except Exception as error:
            raise self.fail(f"could not read Iceberg table {name}", error) from None

    def write(self, name: TableName, rows: pa.RecordBatchReader, mode: str) -> dict[str, Any]:
        """Append to or overwrite a table in one commit (creating it, and its namespace, in that same commit
        when it does not exist): a failure leaves the table as it was. New columns are added to the table's
        schema; returns ``rows`` written and the new ``snapshot_id``."""
        from pyiceberg.exceptions import NoSuchTableError

        counted = _Counter(rows)
        try:
            self.catalog.create_namespace_if_not_exists(name.namespace)
            try:
                table = self.catalog.load_table(name.identifier)
            except NoSuchTableError:
                transaction = self.catalog.create_table_transaction(name.identifier, schema=rows.schema)
            else:
                transaction = table.transaction()
                with transaction.update_schema() as update:
                    update.union_by_name(rows.schema)
            if mode == "overwrite":
                transaction.overwrite(counted.reader())
            else:
                transaction.append(counted.reader())
            transaction.commit_transaction()
            snapshot = self.catalog.load_table(name.identifier).current_snapshot()
        except Exception as error:
            raise self.fail(f"could not write Iceberg table {name}", error) from None
        return {"rows": counted.rows, "snapshot_id": snapshot.snapshot_id if snapshot else None}


class _Counter:
    """Counts the rows of a stream as a writer consumes it."""

    def __init__(self, reader: pa.RecordBatchReader):
        self.source = reader
        self.rows = 0

    def reader(self) -> pa.RecordBatchReader:
        def batches() -> Iterator[pa.RecordBatch]:
            for batch in self.source:
                self.rows += batch.num_rows
                yield batch

        import pyarrow as pa

        return pa.RecordBatchReader.from_batches(self.source.schema, batches())


def snapshot_state(table: "Table") -> dict[str, Any]:
    """What identifies the data a table holds now: its id and current snapshot (``None`` before any write)."""
    snapshot = table.current_snapshot()
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    return {
        "table_uuid": str(table.metadata.table_uuid),
        "snapshot_id": snapshot.snapshot_id if snapshot else None,
        "rows": int(summary["total-records"]) if "total-records" in summary else None,
    }


def query_columns(connection: "duckdb.DuckDBPyConnection", query: str, columns: list[str]) -> list[str] | None:
    """The table columns a query can use, to read only those (``None``: all of them).

    Conservative: any table column named anywhere in the query is kept; ``*``, ``COLUMNS(…)``, a whole-row
    reference or a query DuckDB cannot parse keeps every column. The query itself still runs in full over what
    is read, so reading a superset never changes its result.
    """
    try:
        [[serialized]] = connection.execute("SELECT json_serialize_sql(?)", [query]).fetchall()
        tree = json.loads(serialized)
    except Exception:
        return None
    if tree.get("error"):
        return None
    names: set[str] = set()
    relations: set[str] = set()
    wants_all = False
    stack: list[Any] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class") == "STAR":
                wants_all = True
            if item.get("class") == "COLUMN_REF":
                parts = [str(part).lower() for part in item.get("column_names", [])]
                names.update(parts)
                if len(parts) == 1:
                    relations.add("?" + parts[0])
            if item.get("type") == "BASE_TABLE":
                relations.update({str(item.get("alias", "")).lower(), str(item.get("table_name", "")).lower()})
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            names.add(item.lower())
    single_names = {name[1:] for name in relations if name.startswith("?")}
    if wants_all or single_names & {name for name in relations if not name.startswith("?") and name}:
        return None
    used = [column for column in columns if column.lower() in names]
    return used or columns[:1]

