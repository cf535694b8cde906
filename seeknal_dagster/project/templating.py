"""``{{ }}`` templating as Seeknal resolves it (spec §4), and the ``seeknal/common/`` config it reads.

Templates are rendered when a node runs, not when the project loads, so ``{{ today }}`` in a long-running
``dagster dev`` means the day of the run. The loader renders once as well, to find the refs a common-config
snippet brings in and to report unknown keys and unset variables up front.
"""

from __future__ import annotations

import difflib
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Mapping

from seeknal_dagster.project.errors import Problem
from seeknal_dagster.project.yaml_files import read_yaml_file

TEMPLATE_PATTERN = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_CALL_PATTERN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")
_DOTTED_NAME = re.compile(r"^[A-Za-z_][\w\-]*(\.[\w\-]+)+$")


class TemplateError(ValueError):
    """A ``{{ }}`` expression that cannot be resolved (unset variable, unknown common-config key)."""


def _shift_month(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _env(name: str, default: Any = None) -> str:
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is None:
        raise TemplateError(f"environment variable '{name}' is not set and no default was given")
    return str(default)


#: One argument of a function call and the comma after it: quoted text (which may hold commas) or a bare word.
_ARGUMENT = re.compile(r"""\s*(?:'([^']*)'|"([^"]*)"|([^,'"]*?))\s*(?:,|\Z)""")


def _call_arguments(text: str) -> list[Any]:
    """``'X', 'a,b'`` → ``['X', 'a,b']``; unquoted words become numbers or booleans where they read as such."""
    arguments: list[Any] = []
    position = 0
    while position < len(text):
        match = _ARGUMENT.match(text, position)
        if match is None or match.end() == position:
            raise TemplateError(f"cannot read the arguments ({text}): quote each text argument once, 'like this'")
        single, double, bare = match.groups()
        if single is not None or double is not None:
            arguments.append(single if single is not None else double)
        elif bare.strip():
            arguments.append(_convert_scalar(bare.strip()))
        position = match.end()
    return arguments


@dataclass
class TemplateRenderer:
    """Resolves ``{{ expr }}`` with Seeknal's precedence: overrides, node params, run context, functions, env,
    common config; anything else is left as written."""

    common: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    clock: Callable[[], datetime] = datetime.now

    def _functions(self) -> dict[str, Callable[..., Any]]:
        today = self.clock().date()
        return {
            "today": lambda offset=0: date.fromordinal(today.toordinal() + int(offset)).isoformat(),
            "yesterday": lambda: date.fromordinal(today.toordinal() - 1).isoformat(),
            "month_start": lambda months=0: _shift_month(today, int(months)).isoformat(),
            "year_start": lambda years=0: date(today.year + int(years), 1, 1).isoformat(),
            "env": _env,
        }

    def resolve(self, expression: str, params: Mapping[str, Any], within: tuple[str, ...] = ()) -> str:
        """The text for one ``{{ expression }}``; ``within`` lists the common-config keys being expanded, whose
        own ``{{ }}`` (a shared snippet using ``today(-30)``) are rendered too."""
        if expression in self.overrides:
            return str(self.overrides[expression])
        if expression in params:
            return str(params[expression])
        if expression == "run_id":
            return self.run_id
        if expression == "run_date":
            return self.clock().isoformat()
        functions = self._functions()
        call = _CALL_PATTERN.match(expression)
        if call and call.group(1) in functions:
            try:
                return str(functions[call.group(1)](*_call_arguments(call.group(2))))
            except TemplateError:
                raise
            except (TypeError, ValueError) as error:
                raise TemplateError(f"{{{{ {expression} }}}} cannot be evaluated: {error}") from None
        if expression in functions and expression != "env":
            return str(functions[expression]())
        if expression.startswith("env:"):
            name, _, default = expression[len("env:") :].partition("|")
            return _env(name.strip(), default.strip() if "|" in expression else None)
        if self.common and _DOTTED_NAME.match(expression):
            if expression in within:
                cycle = " -> ".join((*within, expression))
                raise TemplateError(f"common config key '{expression}' refers to itself: {cycle}")
            if expression in self.common:
                nested = (*within, expression)
                return TEMPLATE_PATTERN.sub(
                    lambda match: self.resolve(match.group(1), params, nested), self.common[expression]
                )
            suggestions = difflib.get_close_matches(expression, list(self.common), n=3)
            hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
            raise TemplateError(
                f"unknown common config key '{{{{ {expression} }}}}'. "
                f"Available keys: {', '.join(sorted(self.common))}.{hint}"
            )
        return "{{ " + expression + " }}"

    def render(self, text: str, params: Mapping[str, Any] | None = None) -> str:
        resolved_params = self.render_params(params or {})
        return TEMPLATE_PATTERN.sub(lambda match: self.resolve(match.group(1), resolved_params), text)

    def render_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Render a node's ``params`` recursively; CLI-style overrides win for keys they name."""
        return {
            key: self.overrides[key] if key in self.overrides else self._render_value(value)
            for key, value in params.items()
        }

    def _render_value(self, value: Any) -> Any:
        if isinstance(value, str):
            rendered = TEMPLATE_PATTERN.sub(lambda match: self.resolve(match.group(1), {}), value)
            return _convert_scalar(rendered) if rendered != value else value
        if isinstance(value, list):
            return [self._render_value(item) for item in value]
        if isinstance(value, dict):
            return {key: self._render_value(item) for key, item in value.items()}
        return value

    def with_run(self, run_id: str, overrides: Mapping[str, Any] | None = None) -> "TemplateRenderer":
        return TemplateRenderer(
            common=self.common, overrides={**self.overrides, **(overrides or {})}, run_id=run_id, clock=self.clock
        )


def _convert_scalar(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def load_common_config(common_dir: Path, relative_to: Path | None = None) -> tuple[dict[str, str], list[Problem]]:
    """Flatten ``seeknal/common/*.yml`` into template keys; returns the keys and the problems of the files (shown
    relative to ``relative_to``, the project root, when given)."""
    keys: dict[str, str] = {}
    problems: list[Problem] = []
    if not common_dir.is_dir():
        return keys, problems
    for path in sorted([*common_dir.glob("*.yml"), *common_dir.glob("*.yaml")]):
        shown = path.relative_to(relative_to) if relative_to else path
        document, file_problems = read_yaml_file(path, shown)
        problems += file_problems
        if document is None:
            continue
        if not isinstance(document, dict):
            problems.append(Problem("a common config file must be a mapping", file=shown))
            continue
        for entry in document.get("sources") or []:
            if isinstance(entry, dict) and entry.get("id"):
                if entry.get("ref"):
                    keys[f"{entry['id']}.ref"] = str(entry["ref"])
                for key, value in (entry.get("params") or {}).items():
                    keys[f"{entry['id']}.{key}"] = str(value)
        for entry in document.get("rules") or []:
            if isinstance(entry, dict) and entry.get("id"):
                keys[f"rules.{entry['id']}"] = str(entry.get("value", ""))
        for entry in document.get("transformations") or []:
            if isinstance(entry, dict) and entry.get("id"):
                keys[f"transforms.{entry['id']}"] = str(entry.get("sql", ""))
    return keys, problems
