"""``exposure``: deliver the first input's data to where its consumers read it.

Types: ``file`` (CSV, Parquet, JSON, JSON lines, written atomically, path relative to the project), ``database``
(a PostgreSQL table of a profiles.yml connection, replaced in one transaction or appended), ``api`` (the rows
POSTed as JSON records in batches, with retries), ``dashboard`` (a validated link, optionally probed) and
``notification`` (a webhook or Slack message). Unlike Seeknal, every type really delivers, and a missing upstream
output is a failure, never sample data.

A ``contract: {columns: {name: type}, min_rows: N}`` is verified before anything is delivered. ``params.enabled:
false`` (usually templated, e.g. ``"{{ env('DELIVER', 'false') }}"``) turns delivery off without failing the run.
Secrets come from ``${VAR}`` placeholders resolved at send time and never appear in metadata or messages.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from seeknal_dagster.delivery.contract import Contract, ContractError
from seeknal_dagster.delivery.database import open_postgres, split_table, write_table
from seeknal_dagster.delivery.files import write_file
from seeknal_dagster.delivery.web import (
    IDEMPOTENCY_HEADER,
    DeliveryError,
    RetryPolicy,
    auth_headers,
    idempotency_key,
    probe,
    resolve_secrets,
    send_json,
    sent_credentials,
    shown_url,
)
from seeknal_dagster.engines.outputs import file_fingerprint
from seeknal_dagster.featurestore.online import TableShapeError
from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult, Link
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.project.checks import exposure as exposure_checks
from seeknal_dagster.project.checks.exposure import EXPOSURE_PARAM_USES, exposure_setting, is_web_url
from seeknal_dagster.project.models import ExposureSpec, NodeKind
from seeknal_dagster.project.secrets import scrub
from seeknal_dagster.project.templating import TemplateError



@register_executor(NodeKind.EXPOSURE)
class ExposureExecutor(SqlNodeExecutor):
    @property
    def spec(self) -> ExposureSpec:
        return self.node.spec  # type: ignore[return-value]

    @cached_property
    def params(self) -> dict[str, Any]:
        try:
            return self.context.renderer.render_params(self.spec.params, EXPOSURE_PARAM_USES)
        except TemplateError as error:
            raise ExecutorValidationError(self.node.id, str(error)) from error

    def setting(self, name: str, default: Any = None) -> Any:
        """A setting under ``params`` (rendered) or, in the forgiving form, at the top level of the node."""
        return exposure_setting(self.spec, self.params)(name, default)

    @property
    def target_type(self) -> str:
        """The exposure's ``type`` (``file``, ``database``…), aliases resolved."""
        return self.spec.delivery_type

    @property
    def enabled(self) -> bool:
        value = self.setting("enabled", True)
        return value if isinstance(value, bool) else str(value).strip().lower() not in ("false", "0", "no", "off", "")

    @cached_property
    def contract(self) -> Contract | None:
        raw = self.setting("contract")
        if raw is None:
            return None
        try:
            return Contract.parse(raw)
        except ContractError as error:
            raise ExecutorValidationError(self.node.id, str(error)) from None

    @property
    def data_input(self) -> str | None:
        """The node whose output is delivered: the first of ``inputs`` (or ``depends_on``)."""
        declared = self.spec.input_ids()
        return self.upstream_for(declared[0]) if declared else None

    # Validation ------------------------------------------------------------------------------------------

    def validate(self) -> None:
        super().validate()
        if self.target_type not in exposure_checks.EXPOSURE_TYPES:  # a type only Seeknal delivers: loaded with a warning
            raise ExecutorValidationError(self.node.id, f"seeknal-dagster does not deliver '{self.spec.type}' exposures")
        self.contract  # noqa: B018 - parsed now so a malformed contract fails before anything runs
        resolved = {"api": self.api_target, "dashboard": self.web_url, "notification": self.notification_target}
        if self.target_type in resolved:
            resolved[self.target_type]()

    def invalid(self, message: str) -> ExecutorValidationError:
        return ExecutorValidationError(self.node.id, f"{self.target_type} exposure: {message}")

    def file_target(self) -> tuple[Path, str]:
        path, fmt = exposure_checks.file_target(self.setting)
        policy = self.context.path_policy
        target = policy.resolve(path)
        problem = policy.write_problem(target, self.context.path_claims(), self.node.id)
        if problem:
            raise self.invalid(problem)
        return target, fmt

    def database_target(self) -> tuple[str, str | None, str, str]:
        """(connection name, schema, table, mode)."""
        connection, table, mode = exposure_checks.database_target(self.setting)
        if str(connection) not in self.context.profiles.connections:
            where = self.context.profiles.path or "no profiles.yml was found"
            raise self.invalid(f"connection '{connection}' is not defined in profiles ({where})")
        schema, name = split_table(table, self.setting("schema"))
        return connection, schema, name, mode

    def web_url(self, *names: str) -> str:
        """The URL as written (placeholders unresolved), checked to be an http(s) URL once resolved."""
        template = exposure_checks.web_url(self.setting, self.target_type, *names)
        try:
            resolved = resolve_secrets(template, "url")
        except DeliveryError as error:
            raise self.invalid(str(error)) from None
        if not is_web_url(resolved):
            raise self.invalid(f"{shown_url(template)!r} is not an http(s) URL")
        return template

    def api_target(self) -> tuple[str, RetryPolicy, int]:
        return self.web_url(), self.retry_policy(), exposure_checks.batch_rows(self.setting)

    def notification_target(self) -> tuple[str, str]:
        return self.web_url("webhook_url"), exposure_checks.notification_channel(self.setting)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(**exposure_checks.retry_settings(self.setting, self.target_type))  # type: ignore[arg-type]

    def request_headers(self) -> dict[str, str]:
        resolved = resolve_secrets(exposure_checks.request_headers(self.setting, self.target_type), "headers")
        return {**resolved, **auth_headers(self.setting("auth"))}

    def credentials(self, url: str, headers: dict[str, str], url_template: str) -> frozenset[str]:
        """What a request to ``url`` with ``headers`` sends as credentials, to scrub from what the server says."""
        return sent_credentials(url, headers, [url_template, self.setting("headers"), self.setting("auth")])

    def data_version(self) -> str:
        """A hash of the data delivered (the input's output file), which idempotency keys derive from; without an
        input, the run's id. Not the output's data version: that one knows a Parquet file by its size and footer,
        which an edited value of the same width does not change."""
        if self.data_input is None:
            return self.context.run_id
        return file_fingerprint(self.context.output_path_for(self.data_input))

    # Running ---------------------------------------------------------------------------------------------

    def pre_execute(self) -> None:
        if self.enabled:
            super().pre_execute()

    @property
    def relation(self) -> str:
        return self.relations[self.data_input]  # type: ignore[index]

    def execute(self) -> ExecutorResult:
        if not self.enabled:
            self.context.log.info(f"{self.node.id}: delivery is disabled (params.enabled is false)")
            return ExecutorResult(
                self.node.id, ExecutionStatus.SUCCESS, metadata={"delivered": False, "reason": "params.enabled is false"}
            )
        metadata: dict[str, Any] = {"type": self.target_type}
        if self.data_input is not None and self.contract is not None:
            differences = self.contract.differences(self.connection, self.relation)
            if differences:
                raise ExecutorExecutionError(
                    self.node.id, f"{self.data_input} breaks the exposure's contract: " + "; ".join(differences)
                )
            metadata["contract"] = "verified"
        deliveries: dict[str, Callable[[], tuple[int, dict[str, Any]]]] = {
            "file": self.deliver_file,
            "database": self.deliver_database,
            "api": self.deliver_api,
            "dashboard": self.deliver_dashboard,
            "notification": self.deliver_notification,
            "report": lambda: (0, {"note": "reports are rendered by Seeknal's own tools, not delivered here"}),
        }
        try:
            row_count, details = deliveries[self.target_type]()
        except DeliveryError as error:
            raise ExecutorExecutionError(self.node.id, f"{self.target_type} delivery failed: {error}") from None
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            row_count=row_count,
            metadata={**metadata, **details, "delivered": self.target_type != "report"},
        )

    def deliver_file(self) -> tuple[int, dict[str, Any]]:
        target, fmt = self.file_target()
        row_count = write_file(self.connection, f"SELECT * FROM {self.relation}", target, fmt)
        return row_count, {"path": target, "format": fmt}

    def deliver_database(self) -> tuple[int, dict[str, Any]]:
        import psycopg

        name, schema, table, mode = self.database_target()
        settings = self.context.profiles.connection(name)
        columns = [tuple(row[:2]) for row in self.connection.execute(f"DESCRIBE SELECT * FROM {self.relation}").fetchall()]
        try:
            store = open_postgres(settings, name, schema)
        except psycopg.Error as error:
            raise DeliveryError(scrub(f"could not connect to {name}: {error}")) from None
        try:
            batches = self.connection.sql(f"SELECT {store.select_list(columns)} FROM {self.relation}").to_arrow_reader(
                exposure_checks.DEFAULT_BATCH_ROWS
            )
            row_count = write_table(store, table, columns, batches, mode, exposure_checks.schema_change_policy(self.setting))
        except TableShapeError as error:
            raise DeliveryError(str(error)) from None
        except psycopg.Error as error:
            message = f"writing {store.schema}.{table} ({store.location}) failed: {str(error).strip()}"
            raise DeliveryError(scrub(message)) from None
        finally:
            store.close()
        return row_count, {"table": f"{store.schema}.{table}", "mode": mode, "connection": name, "location": store.location}

    def deliver_api(self) -> tuple[int, dict[str, Any]]:
        """The rows as JSON records, ``batch_size`` per request, each with an ``Idempotency-Key`` derived from the
        node, the data version and the batch number. A failure after some batches were accepted is reported as a
        partial delivery: which batch failed, how many were delivered, in the error and on the asset's history."""
        url, policy, batch_rows = self.api_target()
        headers = self.request_headers()
        resolved = resolve_secrets(url, "url")
        secrets = self.credentials(resolved, headers, url)
        records_key = self.setting("records_key")
        method = str(self.setting("method", "POST")).upper()
        total_rows = self.connection.execute(f"SELECT count(*) FROM {self.relation}").fetchall()[0][0]
        total_batches = -(-total_rows // batch_rows)
        data_version = self.data_version()
        sent = batches = 0
        reader = self.connection.sql(f"SELECT * FROM {self.relation}").to_arrow_reader(batch_rows)
        for batch in reader:
            if not batch.num_rows:
                continue
            records = batch.to_pylist()
            key = idempotency_key(self.node.id, data_version, batches + 1, batch_rows)
            try:
                send_json(
                    resolved,
                    {records_key: records} if records_key else records,
                    {**headers, IDEMPOTENCY_HEADER: key},
                    policy,
                    method,
                    secrets,
                )
            except DeliveryError as error:
                progress = {
                    "url": shown_url(url),
                    "partial": bool(batches),
                    "batches_sent": batches,
                    "batches_total": total_batches,
                    "failed_batch": batches + 1,
                    "rows_delivered": sent,
                    "rows_total": total_rows,
                }
                summary = (
                    f"partial delivery: {sent} of {total_rows} row(s) in {batches} of {total_batches} batch(es) were "
                    "delivered; a re-run sends those batches again with the same Idempotency-Key"
                    if batches
                    else "nothing was delivered"
                )
                raise ExecutorExecutionError(
                    self.node.id,
                    f"api delivery failed: batch {batches + 1} of {total_batches} to {shown_url(url)} {error} "
                    f"({summary})",
                    metadata=progress,
                ) from None
            sent += len(records)
            batches += 1
        return sent, {"url": shown_url(url), "batches": batches, "method": method, "data_version": data_version}

    def deliver_dashboard(self) -> tuple[int, dict[str, Any]]:
        url = self.web_url()
        details: dict[str, Any] = {"url": Link(shown_url(url))}
        if self.setting("check_reachable", False):
            problem = probe(resolve_secrets(url, "url"), self.retry_policy().timeout)
            if problem:
                raise DeliveryError(f"{shown_url(url)} is not reachable: {problem}")
            details["reachable"] = True
        return 0, details

    def deliver_notification(self) -> tuple[int, dict[str, Any]]:
        url, channel = self.notification_target()
        rows = self.connection.execute(f"SELECT count(*) FROM {self.relation}").fetchone()[0] if self.data_input else 0
        project = self.context.project_name
        message = str(
            self.setting("message")
            or f"{project}: {self.data_input or self.node.id} is ready" + (f" ({rows} rows)" if self.data_input else "")
        )
        payload: dict[str, Any] = (
            {"text": message}
            if channel == "slack"
            else {"node": self.node.id, "project": project, "input": self.data_input, "rows": rows, "message": message}
        )
        resolved, headers = resolve_secrets(url, "url"), self.request_headers()
        key = idempotency_key(self.node.id, self.data_version(), 1, 0)
        try:
            send_json(
                resolved,
                payload,
                {**headers, IDEMPOTENCY_HEADER: key},
                self.retry_policy(),
                secrets=self.credentials(resolved, headers, url),
            )
        except DeliveryError as error:
            raise DeliveryError(f"{channel} message to {shown_url(url)} {error}") from None
        return 0, {"url": shown_url(url), "channel": channel, "message": message}

    def dry_run(self) -> ExecutorResult:
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            is_dry_run=True,
            metadata={"type": self.target_type, "enabled": self.enabled},
        )
