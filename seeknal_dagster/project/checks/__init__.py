"""Everything about a node that can be known without running it, checked the same way at load and at run time.

One module per node kind says what a node of that kind may say; its readers (``file_target``,
``model_settings``, ``rule_checks``…) are what the executors use to read their settings, so a setting the
loader accepts is a setting the node runs with, and the loader's problem is the executor's error. Checks never
touch data, files or servers (those are the run's business) and import nothing heavy: a 2,000-node project is
checked in well under a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from seeknal_dagster.project.checks.aggregation import check_aggregation, check_second_order_aggregation
from seeknal_dagster.project.checks.exposure import check_exposure
from seeknal_dagster.project.checks.feature_group import check_feature_group
from seeknal_dagster.project.checks.metric import check_metric
from seeknal_dagster.project.checks.model import check_model
from seeknal_dagster.project.checks.profile import check_profile
from seeknal_dagster.project.checks.python import check_python_node
from seeknal_dagster.project.checks.rule import check_rule
from seeknal_dagster.project.checks.scope import CheckScope, Finding, SettingError
from seeknal_dagster.project.checks.semantic_model import check_semantic_model
from seeknal_dagster.project.checks.source import check_source
from seeknal_dagster.project.checks.transform import check_transform
from seeknal_dagster.project.models import NodeKind, NodeSpec

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode


#: One node's check: its findings, or a :class:`SettingError` for the first setting it cannot read.
Check = Callable[["ProjectNode", CheckScope], Iterable[Finding]]
CHECKS: dict[NodeKind, Check] = {
    NodeKind.SOURCE: check_source,
    NodeKind.TRANSFORM: check_transform,
    NodeKind.FEATURE_GROUP: check_feature_group,
    NodeKind.MODEL: check_model,
    NodeKind.AGGREGATION: check_aggregation,
    NodeKind.SECOND_ORDER_AGGREGATION: check_second_order_aggregation,
    NodeKind.PROFILE: check_profile,
    NodeKind.RULE: check_rule,
    NodeKind.EXPOSURE: check_exposure,
    NodeKind.SEMANTIC_MODEL: check_semantic_model,
    NodeKind.METRIC: check_metric,
}


def retries_and_delay(spec: NodeSpec) -> tuple[int, float]:
    """(retries, delay in seconds) from the node's ``dagster:`` block, or from top-level ``retries`` /
    ``retry_delay`` as the seed design writes them; none by default."""
    settings, top_level = spec.dagster, spec.extra_fields()
    retries = settings.retries if settings.retries is not None else top_level.get("retries")
    delay = settings.retry_delay if settings.retry_delay is not None else top_level.get("retry_delay")
    try:
        return max(0, int(retries or 0)), max(0.0, float(delay or 0))
    except (TypeError, ValueError):
        raise SettingError(
            f"retries must be a whole number and retry_delay a number of seconds (got {retries!r}, {delay!r})", "retries"
        ) from None


def check_retries(node: "ProjectNode", scope: CheckScope) -> Iterable[Finding]:
    retries_and_delay(node.spec)
    return ()


def _collected(check: Check, node: "ProjectNode", scope: CheckScope) -> list[Finding]:
    """A check's findings; a reader raising :class:`SettingError` ends its check with that finding."""
    found: list[Finding] = []
    try:
        for finding in check(node, scope):
            found.append(finding)
    except SettingError as error:
        found.append(Finding(str(error), error.field))
    return found


def node_findings(node: "ProjectNode", scope: CheckScope) -> list[Finding]:
    """What is wrong with a node's settings (errors and warnings). A Python feature group or second-order
    aggregation is checked as that kind's node over its function's rows; a Python transform has its retries and
    decorators to check (its function is checked by running it)."""
    found = _collected(check_retries, node, scope)
    if node.is_python:
        found += _collected(check_python_node, node, scope)
    checked = node.kind_node
    if not checked.is_python:
        found += _collected(CHECKS[checked.kind], checked, scope)
    return found


__all__ = ["CHECKS", "CheckScope", "Finding", "SettingError", "node_findings", "retries_and_delay"]
