"""What a ``rule`` node may say: one check or a list, each a bare SQL condition or a typed check with its
settings (Seeknal's ``null``, ``range``, ``uniqueness``, ``freshness``, ``sql_assertion``, ``profile_check``, plus
``accepted_values``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from seeknal_dagster.project.sql_lexer import is_query
from seeknal_dagster.project.checks.scope import CheckScope, Finding, SettingError
from seeknal_dagster.project.models import NodeKind, RuleSpec

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode

CHECK_TYPES = ("condition", "null", "range", "uniqueness", "accepted_values", "freshness", "sql_assertion", "profile_check")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?"
_COMPARISON = re.compile(rf"^\s*(>=|<=|!=|>|<|=)\s*({_NUMBER})\s*$", re.I)
_BETWEEN = re.compile(rf"^\s*between\s+({_NUMBER})\s+and\s+({_NUMBER})\s*$", re.I)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": lambda value, bound: value > bound,
    ">=": lambda value, bound: value >= bound,
    "<": lambda value, bound: value < bound,
    "<=": lambda value, bound: value <= bound,
    "=": lambda value, bound: value == bound,
    "!=": lambda value, bound: value != bound,
}


@dataclass(frozen=True)
class Threshold:
    """A ``profile_check`` threshold: ``> >= < <= = != N`` or ``between A and B`` (inclusive)."""

    text: str
    operator: str
    bound: float
    upper: float | None = None

    @classmethod
    def parse(cls, text: Any) -> "Threshold":
        written = str(text)
        comparison = _COMPARISON.match(written)
        if comparison:
            return cls(written.strip(), comparison.group(1), float(comparison.group(2)))
        between = _BETWEEN.match(written)
        if between:
            low, high = sorted((float(between.group(1)), float(between.group(2))))
            return cls(written.strip(), "between", low, high)
        raise ValueError(f"Invalid threshold expression {written!r} (use > >= < <= = != N, or between A and B)")

    def matches(self, value: float) -> bool:
        if self.operator == "between":
            return self.bound <= value <= (self.upper if self.upper is not None else self.bound)
        return _OPERATORS[self.operator](value, self.bound)


def check_option(check: dict[str, Any], name: str, default: Any = None) -> Any:
    """A check's setting, written on the check itself or under its ``params`` (Seeknal's place)."""
    if name in check:
        return check[name]
    return (check.get("params") or {}).get(name, default)


def checked_columns(check: dict[str, Any]) -> list[str]:
    columns = check_option(check, "columns") or ([check_option(check, "column")] if check_option(check, "column") else [])
    return [str(column) for column in ([columns] if isinstance(columns, str) else columns)]


def duration_seconds(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"max_age {value!r} is not a duration (30s, 15m, 24h, 7d, 2w, or seconds)")
    return float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2).lower()]


def condition_text(check: dict[str, Any]) -> str:
    return str(check.get("condition") or check.get("value") or check.get("expression") or "").strip()


def _written_checks(spec: RuleSpec) -> Iterator[tuple[str, Any]]:
    """(where, check as written) for each check of the rule."""
    if isinstance(spec.rule, list):
        yield from ((f"rule[{index}]", item) for index, item in enumerate(spec.rule))
    else:
        yield "rule", spec.rule


def _normalized(item: Any, where: str, checked_id: str | None) -> dict[str, Any]:
    """One check as a mapping with a known ``type`` (a bare string, or ``{value: …}``, is a condition), its settings
    checked; ``checked_id`` is the node the rule's first input resolved to."""
    if isinstance(item, str) and item.strip():
        item = {"type": "condition", "condition": item}
    if not isinstance(item, dict):
        raise SettingError(f"{where} must be a SQL condition or a mapping with a 'type'", where)
    check = dict(item)
    if "type" in check and check["type"] is None:  # `type: null` unquoted is YAML's null
        check["type"] = "null"
    if "type" not in check and any(key in check for key in ("condition", "value", "expression")):
        check["type"] = "condition"
    check_type = str(check.get("type") or "").lower()
    if check_type not in CHECK_TYPES:
        raise SettingError(
            f"{where}: unsupported check type {check.get('type')!r} (supported: {', '.join(CHECK_TYPES)})", f"{where}.type"
        )
    check["type"] = check_type

    def invalid(message: str) -> SettingError:
        return SettingError(f"{where} ({check_type}): {message}", where)

    if check_type == "condition" and not condition_text(check):
        raise invalid("the condition is empty")
    if check_type in ("null", "uniqueness", "range", "accepted_values", "freshness") and not checked_columns(check):
        raise invalid("name the column(s) to check with 'column' or 'columns'")
    if check_type == "null":
        limit = check_option(check, "max_null_percentage", 0.0)
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 <= limit <= 1:
            raise invalid(f"max_null_percentage is a fraction between 0 and 1, e.g. 0.05 for 5% (got {limit!r})")
    if check_type == "uniqueness":
        limit = check_option(check, "max_duplicate_percentage", 0.0)
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 <= limit <= 1:
            raise invalid(f"max_duplicate_percentage is a fraction between 0 and 1 (got {limit!r})")
    if check_type == "range" and check_option(check, "min_val") is None and check_option(check, "max_val") is None:
        raise invalid("give min_val and/or max_val")
    if check_type == "accepted_values" and not isinstance(check_option(check, "values"), list):
        raise invalid("list the accepted values under 'values'")
    if check_type == "freshness":
        try:
            duration_seconds(check_option(check, "max_age"))
        except ValueError as error:
            raise invalid(str(error)) from None
    if check_type == "sql_assertion":
        sql = check_option(check, "sql")
        if not isinstance(sql, str) or not is_query(sql):
            raise invalid("'sql' must be a query returning the violating rows")
    if check_type == "profile_check":
        _check_profile_check(check, checked_id, invalid)
    return check


def _check_profile_check(check: dict[str, Any], checked_id: str | None, invalid: Callable[[str], SettingError]) -> None:
    if checked_id is not None and not checked_id.startswith(f"{NodeKind.PROFILE.value}."):
        raise invalid(f"it reads a profile node's statistics, but the rule's first input is {checked_id}")
    items = check_option(check, "checks")
    if not isinstance(items, list) or not items:
        raise invalid("list the statistics to check under 'checks: [{metric, column, warn, fail}]'")
    for item in items:
        if not isinstance(item, dict) or not item.get("metric"):
            raise invalid(f"each entry of 'checks' needs a 'metric' (got {item!r})")
        if item.get("warn") is None and item.get("fail") is None:
            raise invalid(f"the check of {item['metric']} needs a 'warn' and/or 'fail' threshold")
        try:
            for level in ("fail", "warn"):
                if item.get(level) is not None:
                    Threshold.parse(item[level])
        except ValueError as error:
            raise invalid(str(error)) from None


def rule_checks(node: "ProjectNode") -> list[dict[str, Any]]:
    """The rule's checks, normalized and checked (the first bad one raises)."""
    checked = node.upstream[0] if node.upstream else None
    return [_normalized(item, where, checked) for where, item in _written_checks(node.spec)]  # type: ignore[arg-type]


def check_rule(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    """Every bad check of the rule, not only the first."""
    checked = node.upstream[0] if node.upstream else None
    for where, item in _written_checks(node.spec):  # type: ignore[arg-type]
        try:
            _normalized(item, where, checked)
        except SettingError as error:
            yield Finding(str(error), error.field)
