"""``rule``: data quality checks on the output of the rule's first input, run as a Dagster asset check.

Both dialects: the seed's bare SQL condition (``rule: email LIKE '%@%'``: a row that does not satisfy it is a
violation) and Seeknal's typed checks (``null``, ``range``, ``uniqueness``, ``freshness``, ``sql_assertion``,
``profile_check``), plus ``accepted_values``; one check or a list. Every check is SQL over the persisted
outputs, run on the engine of the output it reads (DuckDB, or Spark for a Spark node's output), so a check gives
the same answer with its asset or on its own later.

The outcome: SUCCESS when every check passes; otherwise FAILED for ``severity: error`` (a blocking check) or
WARNING for ``severity: warn`` and for ``profile_check`` thresholds marked ``warn``. The metadata carries the
violation count and ratio, the SQL evaluated and a sample of the failing rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from seeknal_dagster.executors.base import ExecutionStatus, ExecutorResult, Table
from seeknal_dagster.executors.errors import ExecutorExecutionError, ExecutorValidationError
from seeknal_dagster.executors.registry import register_executor
from seeknal_dagster.executors.sql_node import SqlNodeExecutor
from seeknal_dagster.project.checks.rule import (
    Threshold,
    check_option,
    checked_columns,
    condition_text,
    duration_seconds,
    rule_checks,
)
from seeknal_dagster.project.models import NodeKind, RuleSpec

#: Rows of failing data shown per failed check.
SAMPLE_ROWS = 5
#: The view every check reads: the rule's first input (Seeknal's name for it).
CHECKED = "input_data"


@dataclass
class CheckOutcome:
    """One check's verdict. ``level`` is ``pass``, ``warn`` or ``fail``; ``ratio`` is the share of rows
    violating it, for checks that judge rows."""

    label: str
    level: str
    violations: int
    message: str
    sql: str
    ratio: float | None = None
    failing_rows: Table | None = None


def _percent(ratio: float) -> str:
    return f"{ratio:.2%}"


@register_executor(NodeKind.RULE)
class RuleExecutor(SqlNodeExecutor):
    @property
    def spec(self) -> RuleSpec:
        return self.node.spec  # type: ignore[return-value]

    def checks(self) -> list[dict[str, Any]]:
        return rule_checks(self.node)

    def dry_run(self) -> ExecutorResult:
        checks = self.checks()
        return ExecutorResult(
            self.node.id,
            ExecutionStatus.SUCCESS,
            is_dry_run=True,
            metadata={"checks": ", ".join(check["type"] for check in checks), "severity": self.spec.severity_level},
        )

    # Running -------------------------------------------------------------------------------------------

    def pre_execute(self) -> None:
        """The inputs as ``kind.name`` and ``input_N``, plus Seeknal's rule names: ``input_data`` for the checked
        input and ``<kind>_<name>`` for every input (what ``sql_assertion`` queries use)."""
        super().pre_execute()
        for upstream_id, relation in self.relations.items():
            self.sql.create_view(upstream_id.replace(".", "_"), f"SELECT * FROM {relation}")
        self.sql.create_view(CHECKED, f"SELECT * FROM {self.relations[self.node.upstream[0]]}")

    def execute(self) -> ExecutorResult:
        rows = self._scalar(f"SELECT count(*) FROM {CHECKED}")
        evaluators: dict[str, Callable[[dict[str, Any], int], CheckOutcome]] = {
            "condition": self._condition_check,
            "null": self._null_check,
            "range": self._range_check,
            "uniqueness": self._uniqueness_check,
            "accepted_values": self._accepted_values_check,
            "freshness": self._freshness_check,
            "sql_assertion": self._sql_assertion,
            "profile_check": self._profile_check,
        }
        outcomes = []
        for check in self.checks():
            try:
                outcomes.append(evaluators[check["type"]](check, rows))
            except ExecutorValidationError:
                raise
            except Exception as error:  # a check whose SQL cannot run (unknown column, bad syntax) names itself
                raise ExecutorExecutionError(
                    self.node.id, f"{check['type']} check could not run: {self.sql.error_text(error)}", cause=error
                ) from error
        return self._result(outcomes, rows)

    def _result(self, outcomes: list[CheckOutcome], rows: int) -> ExecutorResult:
        severity = self.spec.severity_level
        failed = [outcome for outcome in outcomes if outcome.level == "fail"]
        warned = [outcome for outcome in outcomes if outcome.level == "warn"]
        violations = sum(outcome.violations for outcome in outcomes)
        ratios = [outcome.ratio for outcome in outcomes if outcome.ratio is not None]
        metadata: dict[str, Any] = {
            "violations": violations,
            "rows_checked": rows,
            "checked_input": self.node.upstream[0],
            "severity": severity,
            "engine": self.sql.engine,
            "sql": ";\n\n".join(outcome.sql for outcome in outcomes),
            "checks": Table.of(
                ["check", "result", "violations", "details"],
                [(outcome.label, outcome.level, outcome.violations, outcome.message) for outcome in outcomes],
            ),
        }
        if ratios:
            metadata["violation_ratio"] = max(ratios)
        samples = {outcome.label: outcome.failing_rows for outcome in failed + warned if outcome.failing_rows}
        if samples:
            metadata["failing_rows"] = samples
        if not failed and not warned:
            return ExecutorResult(self.node.id, ExecutionStatus.SUCCESS, row_count=rows, metadata=metadata)
        summary = "; ".join(outcome.message for outcome in failed + warned)
        message = str(self.spec.params.get("error_message") or summary)
        status = ExecutionStatus.FAILED if failed and severity == "error" else ExecutionStatus.WARNING
        return ExecutorResult(self.node.id, status, row_count=rows, error_message=message, metadata=metadata)

    def _scalar(self, sql: str) -> Any:
        return self.sql.scalar(sql)

    def _sample(self, sql: str) -> Table:
        return Table.of(*self.sql.fetch(f"SELECT * FROM ({sql}) AS failing LIMIT {SAMPLE_ROWS}"))

    def _row_check(
        self, label: str, relation: str, violation: str, rows: int, describe: Callable[[int], str], tolerance: float = 0.0
    ) -> CheckOutcome:
        """A check judging rows: those matching the SQL predicate ``violation`` violate it; it fails when their
        share of the rows exceeds ``tolerance``."""
        sql = f"SELECT count(*) FROM {relation} WHERE {violation}"
        violations = int(self._scalar(sql))
        ratio = violations / rows if rows else 0.0
        failing = violations > 0 and ratio > tolerance
        sample = self._sample(f"SELECT * FROM {relation} WHERE {violation}") if violations else None
        return CheckOutcome(label, "fail" if failing else "pass", violations, describe(violations), sql, ratio, sample)

    def _condition_check(self, check: dict[str, Any], rows: int) -> CheckOutcome:
        condition = self.render_sql(condition_text(check), fragment=True).sql
        return self._row_check(
            check.get("name") or "condition",
            CHECKED,
            f"NOT coalesce(({condition}), false)",
            rows,
            lambda count: f"{count} of {rows} row(s) do not satisfy {condition}",
        )

    def _null_check(self, check: dict[str, Any], rows: int) -> CheckOutcome:
        columns = checked_columns(check)
        limit = float(check_option(check, "max_null_percentage", 0.0))
        return self._row_check(
            check.get("name") or f"null({', '.join(columns)})",
            CHECKED,
            " OR ".join(f"{self.dialect.quote_identifier(column)} IS NULL" for column in columns),
            rows,
            lambda count: f"{count} of {rows} row(s) ({_percent(count / rows if rows else 0)}) have a NULL in "
            f"{', '.join(columns)} (allowed: {_percent(limit)})",
            tolerance=limit,
        )

    def _range_check(self, check: dict[str, Any], rows: int) -> CheckOutcome:
        column = checked_columns(check)[0]
        low, high = check_option(check, "min_val"), check_option(check, "max_val")
        quoted = self.dialect.quote_identifier(column)
        outside = [f"{quoted} < {self.dialect.sql_literal(low)}"] if low is not None else []
        outside += [f"{quoted} > {self.dialect.sql_literal(high)}"] if high is not None else []
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        return self._row_check(
            check.get("name") or f"range({column})",
            CHECKED,
            " OR ".join(outside),
            rows,
            lambda count: f"{count} of {rows} row(s) have {column} outside {bounds}",
        )

    def _uniqueness_check(self, check: dict[str, Any], rows: int) -> CheckOutcome:
        columns = checked_columns(check)
        keys = ", ".join(map(self.dialect.quote_identifier, columns))
        relation = f"(SELECT *, count(*) OVER (PARTITION BY {keys}) AS duplicate_count FROM {CHECKED}) AS checked"
        return self._row_check(
            check.get("name") or f"uniqueness({', '.join(columns)})",
            relation,
            "duplicate_count > 1",
            rows,
            lambda count: f"{count} of {rows} row(s) share their {', '.join(columns)} with another row",
            tolerance=float(check_option(check, "max_duplicate_percentage", 0.0)),
        )

    def _accepted_values_check(self, check: dict[str, Any], rows: int) -> CheckOutcome:
        column = checked_columns(check)[0]
        values = check_option(check, "values")
        quoted = self.dialect.quote_identifier(column)
        accepted = ", ".join(self.dialect.quote_literal(str(value)) for value in values)
        return self._row_check(
            check.get("name") or f"accepted_values({column})",
            CHECKED,
            f"{quoted} IS NOT NULL AND CAST({quoted} AS {self.dialect.text_type}) NOT IN ({accepted})",
            rows,
            lambda count: f"{count} of {rows} row(s) have a {column} outside {json.dumps([str(v) for v in values])}",
        )

    def _freshness_check(self, check: dict[str, Any], rows: int) -> CheckOutcome:
        """Fresh when the newest value is within ``max_age`` of now (or of ``reference_time``): the data is
        recent, even though older rows are kept."""
        column = checked_columns(check)[0]
        max_age = check_option(check, "max_age")
        reference = check_option(check, "reference_time")
        instant = self.dialect.instant_type
        now = f"CAST({self.dialect.quote_literal(str(reference))} AS {instant})" if reference else self.dialect.now
        newest = f"max(CAST({self.dialect.quote_identifier(column)} AS {instant}))"
        sql = f"SELECT {newest} AS newest, {now} AS reference_time, {now} - {newest} AS age FROM {CHECKED}"
        newest, _, age = self.sql.fetch_one(sql)
        stale = newest is None or age.total_seconds() > duration_seconds(max_age)
        if newest is None:
            message = f"{column} has no values, so the data is not fresh"
        else:
            message = f"newest {column} is {newest} ({age} old; max_age {max_age})"
        return CheckOutcome(
            check.get("name") or f"freshness({column})",
            "fail" if stale else "pass",
            int(stale),
            message,
            sql,
            failing_rows=self._sample(sql) if stale else None,
        )

    def _sql_assertion(self, check: dict[str, Any], rows: int) -> CheckOutcome:
        query = self.render_sql(str(check_option(check, "sql")).strip().rstrip(";"), fragment=True).sql.strip()
        sql = f"SELECT count(*) FROM ({query}) AS violations"
        violations = int(self._scalar(sql))
        return CheckOutcome(
            check.get("name") or "sql_assertion",
            "fail" if violations else "pass",
            violations,
            f"the assertion returned {violations} violating row(s)",
            query,
            failing_rows=self._sample(query) if violations else None,
        )

    def _profile_check(self, check: dict[str, Any], rows: int) -> CheckOutcome:
        """Thresholds on a profile's statistics; ``fail`` is judged before ``warn``, a missing statistic fails, a
        NULL one fails (or warns) when that threshold is set."""
        sql = f"SELECT column_name, metric, value FROM {CHECKED}"
        statistics = {(column, metric): value for column, metric, value in self.sql.fetch_all(sql)}
        evaluated: list[tuple[Any, ...]] = []
        problems: list[str] = []
        level = "pass"
        for item in check_option(check, "checks"):
            column, metric = str(item.get("column") or "_table_"), str(item["metric"])
            thresholds = {name: Threshold.parse(item[name]) for name in ("fail", "warn") if item.get(name) is not None}
            found = (column, metric) in statistics
            value = statistics.get((column, metric))
            verdict = "pass"
            for name, threshold in thresholds.items():
                if not found:
                    verdict = "fail"
                elif value is None or threshold.matches(float(value)):
                    verdict = name
                if verdict != "pass":
                    break
            shown = "missing" if not found else ("NULL" if value is None else value)
            evaluated.append((column, metric, shown, item.get("warn") or "", item.get("fail") or "", verdict))
            if verdict != "pass":
                rule = f"{verdict} threshold {thresholds[verdict].text!r}" if found else "no such statistic"
                problems.append(f"{column}.{metric} = {shown} ({rule})")
                level = "fail" if "fail" in (verdict, level) else "warn"
        return CheckOutcome(
            check.get("name") or "profile_check",
            level,
            len(problems),
            "; ".join(problems) or f"{len(evaluated)} statistic(s) within thresholds",
            sql,
            failing_rows=Table.of(["column", "metric", "value", "warn", "fail", "result"], evaluated)
            if problems
            else None,
        )
