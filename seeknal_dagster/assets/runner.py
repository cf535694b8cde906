"""Running the selected nodes of one Dagster step and streaming their events.

All nodes of a step run in one process, in topological order (a fresh process per asset costs seconds each).
A failing node does not stop independent nodes: its downstream is skipped, the rest materializes, and the step
fails at the end naming every failed node, whatever the node raised. A failed blocking rule check skips its
asset's downstream the same way. Messages and metadata pass through :func:`secrets.scrub`. A run whose every
failure is invalid configuration is marked so Dagster's run retries leave it alone: it would fail the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetObservation,
    DataVersion,
    Failure,
    MaterializeResult,
    TableColumnLineage,
    TableSchema,
)

from seeknal_dagster.assets._compat import RETRY_ON_ASSET_OR_OP_FAILURE_TAG, input_data_version_tag
from seeknal_dagster.assets.metadata import materialization_metadata, metadata_entries
from seeknal_dagster.assets.translator import NODE_ID_METADATA_KEY, SOURCE_DATA_KEY_METADATA_KEY, metadata_asset_key
from seeknal_dagster.engines.outputs import output_fingerprint
from seeknal_dagster.executors.fingerprints import fingerprint_source
from seeknal_dagster.executors import (
    ExecutionStatus,
    ExecutorError,
    ExecutorResult,
    ExecutorValidationError,
    get_executor,
)
from seeknal_dagster.project import secrets
from seeknal_dagster.project.checks import SettingError, retries_and_delay

#: Metadata of a source's materialization: the fingerprint of the data it read.
SOURCE_DATA_READ_METADATA_KEY = "seeknal/source_data_read"

if TYPE_CHECKING:
    from dagster import AssetExecutionContext

    from seeknal_dagster.executors import ExecutionContext
    from seeknal_dagster.project.loader import ProjectNode, SeeknalProject


def report_progress(line: str) -> None:
    """A progress line in the step's output (its stdout compute log), time-stamped like Dagster's own lines."""
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} - seeknal - {line}", flush=True)


def retry_settings(node: "ProjectNode") -> tuple[int, float]:
    """(retries, delay in seconds) of a node (see :func:`seeknal_dagster.project.checks.retries_and_delay`)."""
    try:
        return retries_and_delay(node.spec)
    except SettingError as error:
        raise ExecutorValidationError(node.id, str(error)) from None


@dataclass
class RunOutcome:
    """What happened to each node in this step."""

    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    blocked_by_check: dict[str, str] = field(default_factory=dict)
    #: Failed nodes whose configuration is invalid (retrying cannot help).
    invalid: set[str] = field(default_factory=set)

    def only_invalid_configuration(self) -> bool:
        return bool(self.failed) and set(self.failed) <= self.invalid and not self.blocked_by_check

    def unusable(self) -> dict[str, str]:
        """Nodes whose downstream must not run, with the reason."""
        return {**self.failed, **self.skipped, **self.blocked_by_check}

    def failure_message(self) -> str:
        lines = [f"{len(self.failed)} Seeknal node(s) failed" if self.failed else "Blocking checks failed"]
        lines += [f"  - {node_id}: {error}" for node_id, error in self.failed.items()]
        lines += [f"  - {node_id}: blocking check failed: {reason}" for node_id, reason in self.blocked_by_check.items()]
        if self.skipped:
            lines.append(f"skipped (an upstream failed): {', '.join(sorted(self.skipped))}")
        return "\n".join(lines)


class StepRunner:
    """Runs the nodes and checks one Dagster step selected, yielding materializations and check results."""

    def __init__(self, project: "SeeknalProject", dagster_context: "AssetExecutionContext", execution: "ExecutionContext"):
        self.project = project
        self.dagster = dagster_context
        self.execution = execution
        assets_def = dagster_context.assets_def
        self.key_by_node = {spec.metadata[NODE_ID_METADATA_KEY]: spec.key for spec in assets_def.specs}
        self.check_key_by_rule = {
            spec.metadata[NODE_ID_METADATA_KEY]: spec.key for spec in assets_def.check_specs if spec.metadata
        }
        node_by_key = {key: node_id for node_id, key in self.key_by_node.items()}
        #: Sources name the observable asset standing for the data they read in their spec's metadata.
        self.source_data_key_by_node = {
            spec.metadata[NODE_ID_METADATA_KEY]: metadata_asset_key(spec.metadata[SOURCE_DATA_KEY_METADATA_KEY])
            for spec in assets_def.specs
            if SOURCE_DATA_KEY_METADATA_KEY in spec.metadata
        }
        #: The YAML's column descriptions, as the specs carry them, for the schema each materialization reports,
        #: and the column lineage planned at load: the UI shows the latest materialization's, so it repeats them.
        self.column_descriptions = {
            spec.metadata[NODE_ID_METADATA_KEY]: {
                column.name: column.description for column in spec.metadata["dagster/column_schema"].columns
            }
            for spec in assets_def.specs
            if isinstance(spec.metadata.get("dagster/column_schema"), TableSchema)
        }
        self.column_lineage = {
            spec.metadata[NODE_ID_METADATA_KEY]: spec.metadata["dagster/column_lineage"]
            for spec in assets_def.specs
            if isinstance(spec.metadata.get("dagster/column_lineage"), TableColumnLineage)
        }
        rule_by_check = {key: rule_id for rule_id, key in self.check_key_by_rule.items()}
        self.selected_nodes = {node_by_key[key] for key in dagster_context.selected_asset_keys if key in node_by_key}
        self.selected_rules = [
            rule_by_check[key] for key in dagster_context.selected_asset_check_keys if key in rule_by_check
        ]
        self.outcome = RunOutcome()

    def stream(self) -> Iterator[MaterializeResult | AssetObservation | AssetCheckResult]:
        order = self.project.graph.topological_order(self.selected_nodes)
        pending_rules = list(self.selected_rules)
        yield from self._ready_checks(pending_rules, done=set())
        done: set[str] = set()
        for position, node_id in enumerate(order, start=1):
            # One step runs every node: each node's materialization as it lands, and these lines in the step's
            # output (the run page's stdout; dagster-dbt streams dbt's log the same way), are the progress inside
            # it. Dagster stores every context.log line as an event, ~6 ms each: 1,000 of them at N=500 would
            # cost more than the nodes' own work, so only failures and skips go there.
            progress = f"[{position}/{len(order)}] {node_id}"
            unusable = self.outcome.unusable()
            blocked = [parent for parent in self.project.nodes[node_id].upstream if parent in unusable]
            if blocked:
                self.outcome.skipped[node_id] = f"upstream {', '.join(blocked)} did not materialize"
                self.dagster.log.warning(f"{progress}: skipped, upstream {', '.join(blocked)} did not materialize")
            else:
                report_progress(f"{progress}: started")
                event = self._materialize(node_id, progress)
                if event is not None:
                    yield event
            done.add(node_id)
            yield from self._ready_checks(pending_rules, done)
        if self.outcome.only_invalid_configuration():
            self.dagster.instance.add_run_tags(self.dagster.run.run_id, {RETRY_ON_ASSET_OR_OP_FAILURE_TAG: "false"})
        if self.outcome.failed or self.outcome.blocked_by_check:
            raise Failure(description=self.outcome.failure_message())

    def _source_data_read(self, node_id: str) -> str | None:
        """The fingerprint of the data a source is about to read (``None`` for other nodes, or data that cannot
        be fingerprinted: the source's own run reports what is wrong with it)."""
        if node_id not in self.source_data_key_by_node:
            return None
        try:
            return fingerprint_source(self.project, node_id).version
        except ExecutorError:
            return None

    def _materialize(self, node_id: str, progress: str) -> MaterializeResult | AssetObservation | None:
        node = self.project.nodes[node_id]
        data_read = self._source_data_read(node_id)
        try:
            result = self._run_with_retries(node)
        except ExecutorValidationError as error:
            return self._failed(node, progress, error.message, invalid=True)
        except ExecutorError as error:
            self._failed(node, progress, error.message)
            if getattr(error, "metadata", None):  # what it did before failing (a partial delivery): an observation
                return AssetObservation(self.key_by_node[node_id], metadata=dict(metadata_entries(error.metadata)))
            return None
        except Exception as error:  # whatever a node raised, it fails that node alone
            return self._failed(node, progress, f"{type(error).__name__}: {error}")
        if not result.is_success():
            return self._failed(node, progress, result.error_message or "failed")
        rows = f"{result.row_count:,} row{'' if result.row_count == 1 else 's'}"
        report_progress(f"{progress}: {rows} in {result.duration_seconds:.2f}s")
        data_version = (
            DataVersion(output_fingerprint(result.output_path))
            if result.output_path is not None and result.output_path.exists()
            else None
        )
        metadata = materialization_metadata(
            result, self.execution.get_duckdb_connection(), self.column_descriptions.get(node_id)
        )
        if node_id in self.column_lineage:
            metadata["dagster/column_lineage"] = self.column_lineage[node_id]
        # A source records, as the data version of its observed data asset, what it read: Dagster would record
        # "INITIAL" when nothing observed it first (a CLI run), and the sensor's first observation would then mark
        # the source stale ("Unsynced") though nothing changed, while `plan` says nothing would run.
        tags = {}
        if data_read is not None:
            metadata[SOURCE_DATA_READ_METADATA_KEY] = data_read
            tags[input_data_version_tag(self.source_data_key_by_node[node_id])] = data_read
        # The metadata goes on the materialization alone: given to MaterializeResult, Dagster would also copy it
        # into the step's output event, storing (and serializing) every schema, preview and lineage twice.
        key = self.key_by_node[node_id]
        self.dagster.add_asset_metadata(metadata, asset_key=key)
        return MaterializeResult(asset_key=key, data_version=data_version, tags=tags or None)

    def _failed(self, node: "ProjectNode", progress: str, message: str, invalid: bool = False) -> None:
        """Record a node's failure (``progress`` names it as the progress lines do), its secrets scrubbed."""
        message = secrets.scrub(message)
        self.outcome.failed[node.id] = message
        if invalid:
            self.outcome.invalid.add(node.id)
        self.dagster.log.error(f"{progress} ({node.file}) failed: {message}")

    def _run_with_retries(self, node: "ProjectNode") -> ExecutorResult:
        """Run a node, and again up to its ``retries`` times after an execution failure (a database restarting,
        a file still being copied), ``retry_delay`` seconds apart. Invalid configuration is not retried: it would
        fail the same way."""
        retries, delay = retry_settings(node)
        for attempt in range(1, retries + 1):
            try:
                result = get_executor(node, self.execution).run()
                if result.is_success():
                    return result
                failure = result.error_message or "failed"
            except ExecutorValidationError:
                raise
            except ExecutorError as error:
                failure = error.message
            self.dagster.log.warning(
                f"{node.id}: attempt {attempt} of {retries + 1} failed, retrying in {delay:g}s: {secrets.scrub(failure)}"
            )
            time.sleep(delay)
        return get_executor(node, self.execution).run()

    def _ready_checks(self, pending: list[str], done: set[str]) -> Iterator[AssetCheckResult]:
        """Evaluate every pending rule whose selected inputs have all run, right after its asset."""
        for rule_id in list(pending):
            inputs = self.project.nodes[rule_id].upstream
            if any(parent in self.selected_nodes and parent not in done for parent in inputs):
                continue
            pending.remove(rule_id)
            # An asset held back by another failed blocking check still has its data: its other checks run too.
            unusable = [parent for parent in inputs if parent in self.outcome.failed or parent in self.outcome.skipped]
            if unusable:
                self.dagster.log.warning(f"{rule_id}: not evaluated, {', '.join(unusable)} did not materialize")
                continue
            yield self._evaluate_rule(rule_id)

    def _evaluate_rule(self, rule_id: str) -> AssetCheckResult:
        rule = self.project.nodes[rule_id]
        check_key: AssetCheckKey = self.check_key_by_rule[rule_id]
        severity = rule.spec.severity_level  # type: ignore[attr-defined]
        try:
            result = get_executor(rule, self.execution).run()
        except ExecutorError as error:
            result = ExecutorResult(rule_id, ExecutionStatus.FAILED, error_message=error.message)
        except Exception as error:  # whatever a check raised, it fails that check alone
            result = ExecutorResult(rule_id, ExecutionStatus.FAILED, error_message=f"{type(error).__name__}: {error}")
        passed = result.status == ExecutionStatus.SUCCESS
        # A WARNING result (a warn-level rule, or a profile_check's warn threshold) never blocks.
        error_level = severity == "error" and result.status != ExecutionStatus.WARNING
        blocking = not passed and error_level
        metadata = dict(metadata_entries(result.metadata, namespace=""))
        error_message = secrets.scrub(result.error_message) if result.error_message else None
        if error_message:
            metadata["error"] = error_message
        if blocking:
            checked = rule.upstream[0]
            self.outcome.blocked_by_check[checked] = f"{rule_id}: {error_message or 'rule failed'}"
        return AssetCheckResult(
            asset_key=check_key.asset_key,
            check_name=check_key.name,
            passed=passed,
            severity=AssetCheckSeverity.ERROR if error_level else AssetCheckSeverity.WARN,
            metadata=metadata,
        )
