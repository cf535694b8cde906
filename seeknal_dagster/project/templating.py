"""``{{ }}`` templating as Seeknal resolves it (spec §4), and the ``seeknal/common/`` config it reads.

Templates are rendered when a node runs, not when the project loads, so ``{{ today }}`` in a long-running
``dagster dev`` means the day of the run. The loader renders once as well, to find the refs a common-config
snippet brings in and to report unknown keys and unset variables up front.

Where a value came from decides what it may do (the README's "Security model"):

- The project's files are trusted: a node's ``params:``, ``seeknal/common/`` snippets (SQL on purpose), built-in
  functions and ``{{ env:NAME }}`` values are pasted into SQL as text, as Seeknal does.
- Values given at run time (run config ``resources.seeknal_<project>.config.params``,
  ``build_definitions(params=…)``) are run values (:class:`RunValue`): data, never code. In SQL they may stand
  inside a quoted string literal (escaped, so they stay one literal) or, alone, as a number or ``true``/``false``; anything else fails the node.
  A param whose template uses a run value (``since: "{{ start }}"``) carries it along. Outside SQL, how a param
  is used decides (:class:`ParamUse`): a path segment, a URL's path or query, plain data, or not at all.
- Environment values are rendered into the SQL that runs, but SQL shown as metadata keeps their ``{{ env:… }}``
  expression, and their values are registered as secrets (:mod:`seeknal_dagster.project.secrets`).
"""

from __future__ import annotations

import difflib
import math
import os
import re
import secrets as random_tokens
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Mapping, Union
from urllib.parse import quote

from seeknal_dagster.project import secrets
from seeknal_dagster.project.errors import Problem
from seeknal_dagster.project.yaml_files import read_yaml_file

TEMPLATE_PATTERN = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_CALL_PATTERN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$")
_DOTTED_NAME = re.compile(r"^[A-Za-z_][\w\-]*(\.[\w\-]+)+$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
#: Text before a URL's path: a run value may only come after it.
_URL_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*[/?#]")
_PATH_FORBIDDEN = ("/", "\\", "\0", "*", "?", "[", "]", "{", "}")


class TemplateError(ValueError):
    """A ``{{ }}`` expression that cannot be resolved (unset variable, unknown common-config key)."""


class RunValueError(TemplateError):
    """A value given at run time used where it could change what runs: SQL code, a directory, a host."""

    def __init__(self, param: str, message: str):
        self.param = param
        super().__init__(f"param '{param}' comes from run config: {message}")


class ParamUse(str, Enum):
    """How an executor uses one of a node's params, which decides what a run value in it may be."""

    VALUE = "value"  #: plain data (a flag, a number, a message): any run value
    SQL = "sql"  #: SQL text (a source's query): the SQL rule
    PATH = "path"  #: a file path: a run value is one file name, never a directory
    URL = "url"  #: a URL: a run value only in its path or query, percent-encoded
    HEADER = "header"  #: HTTP header values: no line breaks


@dataclass(frozen=True)
class RunValue:
    """A value given at run time for the param ``name``; ``written`` is the ``{{ }}`` that brought it into the
    text at hand (a node param using it, or ``name`` itself)."""

    name: str
    value: Any
    written: str = ""

    @property
    def template(self) -> str:
        return "{{ " + (self.written or self.name) + " }}"

    def text(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class EnvValue:
    """Text read by an ``{{ env… }}`` expression: rendered into SQL, shown as its expression."""

    expression: str
    value: str


Part = Union[str, RunValue, EnvValue]


@dataclass(frozen=True)
class SqlText:
    """Rendered SQL: what runs, and what is shown (metadata, logs), with ``{{ env… }}`` left unrendered."""

    sql: str
    display: str


@dataclass(frozen=True)
class Rendered:
    """A rendered template: trusted text interleaved with run values and environment values."""

    parts: tuple[Part, ...]

    def joined(self, run_text: Callable[[RunValue], str], env_text: Callable[[EnvValue], str]) -> str:
        """The parts as one text, run values and environment values written by the functions given."""
        return "".join(
            part if isinstance(part, str) else env_text(part) if isinstance(part, EnvValue) else run_text(part)
            for part in self.parts
        )

    def text(self) -> str:
        """Everything pasted as text (for uses where text cannot change structure)."""
        return self.joined(RunValue.text, _env_value)

    def display(self) -> str:
        """The text to show: environment values as their ``{{ env… }}`` expression."""
        return self.joined(RunValue.text, _env_expression)

    def run_values(self) -> list[RunValue]:
        return [part for part in self.parts if isinstance(part, RunValue)]

    def sql(self, fragment: bool = False, engine: str = "duckdb") -> SqlText:
        """The SQL with each run value placed by where DuckDB's lexer finds it (see :func:`sql_value`), checked
        to lex exactly as the template does; ``fragment`` (a condition, a query wrapped by generated SQL) may hold
        no statement separator. For ``engine="spark"`` the values are then spelled as Spark reads them (see
        :func:`spark_sql_value`)."""
        from seeknal_dagster.project import sql_lexer

        run_values = self.run_values()
        if not run_values:
            sql = self.text()
            text = SqlText(sql, self.display())
        else:
            nonce = random_tokens.token_hex(8)
            markers = [f"seeknal_run_value_{nonce}_{index}" for index in range(len(run_values))]
            marked, spans = self._with_markers(markers)
            contexts = sql_lexer.value_contexts(marked, spans)
            if engine == "spark":
                _refuse_spark_backslashes(marked, run_values)
            spell = spark_sql_value if engine == "spark" else sql_value
            replacements = [spell(value, context) for value, context in zip(run_values, contexts)]
            sql = self.joined(_in_order(replacements), _env_value)
            if not sql_lexer.lexes_alike(marked, spans, replacements, sql):
                names = ", ".join(sorted({value.name for value in run_values}))
                raise RunValueError(names, "its value would change the structure of the SQL; pass a plain value")
            text = SqlText(sql, self.joined(_in_order(replacements), _env_expression))
        if fragment and sql_lexer.has_statement_separator(text.sql):
            raise TemplateError(f"a SQL expression may not contain ';' (a statement separator): {text.display[:200]}")
        return text

    def _with_markers(self, markers: list[str]) -> tuple[str, list[tuple[int, int]]]:
        """The text with each run value replaced by its marker (an identifier no value can forge), and the spans
        of the markers."""
        pieces, spans, length, index = [], [], 0, 0
        for part in self.parts:
            if isinstance(part, RunValue):
                piece = markers[index]
                spans.append((length, length + len(piece)))
                index += 1
            else:
                piece = _env_value(part) if isinstance(part, EnvValue) else part
            pieces.append(piece)
            length += len(piece)
        return "".join(pieces), spans

    def path(self) -> str:
        """A file path in which each run value is one file name: no directory, no ``..``, ``~`` or glob."""
        for value in self.run_values():
            text = value.text()
            if text in ("", ".", "..") or text.startswith("~") or any(char in text for char in _PATH_FORBIDDEN):
                raise RunValueError(
                    value.name,
                    f"{text!r} would choose a directory or several files; in a path a run value may only be one file "
                    "name (no '/', '\\', '..', '~' or wildcards); write the directory in the node's YAML",
                )
        return self.text()

    def url(self) -> str:
        """A URL whose run values sit in its path or query only, percent-encoded (the host is the project's)."""
        first = next(index for index, part in enumerate(self.parts) if isinstance(part, RunValue))
        before = Rendered(self.parts[:first]).text()
        if not _URL_AUTHORITY.match(before):
            raise RunValueError(
                self.parts[first].name,  # type: ignore[union-attr]
                "a run value may not choose a URL's scheme or host (it would send data, and credentials, elsewhere); "
                "write the host in the node's YAML and use the value in the URL's path or query",
            )
        return self.joined(lambda value: quote(value.text(), safe=""), _env_value)

    def header(self) -> str:
        for value in self.run_values():
            if any(char in value.text() for char in "\r\n\0"):
                raise RunValueError(value.name, "an HTTP header value may not contain line breaks")
        return self.text()


def _in_order(texts: list[str]) -> Callable[[RunValue], str]:
    """The text of each run value met, in order of appearance (one value may stand in several places)."""
    remaining = iter(texts)
    return lambda _: next(remaining)


def _env_value(part: EnvValue) -> str:
    return part.value


def _env_expression(part: EnvValue) -> str:
    return "{{ " + part.expression + " }}"


def sql_value(value: RunValue, context: str) -> str:
    """The SQL text of a run value where the lexer found it: escaped inside a string literal, a number or boolean
    standing alone; anywhere else it is refused, with the fix."""
    text = value.text()
    if context == "string":
        return text.replace("'", "''")
    if context == "escape_string":
        return text.replace("\\", "\\\\").replace("'", "''")
    if context == "dollar_string" and "$" not in text:
        return text
    if context == "comment":
        return text
    if context == "code":
        literal = sql_number(value.value)
        if literal is not None:
            return literal
        raise RunValueError(
            value.name,
            f"{_shown(text)} is used as SQL code, where only a number or true/false may stand; to use it as text, "
            f"quote it in the SQL: '{value.template}'",
        )
    where = {
        "dollar_string": "holds '$' inside a $$-quoted string, which it could end",
        "quoted_identifier": "is used as a quoted identifier (a table or column name), which run config may not choose",
    }.get(context, "is glued to other SQL code, where no run value may go")
    raise RunValueError(value.name, f"{_shown(text)} {where}; use it as a quoted string literal ('{value.template}')")


def spark_sql_value(value: RunValue, context: str) -> str:
    """:func:`sql_value` for Spark SQL, where a backslash escapes inside a string literal and ``'a''b'`` is two
    adjacent literals (``ab``): in a literal a value's backslashes are doubled and its quotes written ``\\u0027``,
    so it holds no quote and DuckDB's lexer (which splits statements and finds refs) reads the literal as Spark
    does. Spark has no ``E'…'`` or ``$$…$$`` strings, so a value is refused there."""
    if context in ("escape_string", "dollar_string"):
        raise RunValueError(
            value.name, f"is used in a {context.replace('_', ' ')}, which Spark SQL does not have; use a '…' literal"
        )
    if context == "string":
        return value.text().replace("\\", "\\\\").replace("'", "\\u0027")
    return sql_value(value, context)


def _refuse_spark_backslashes(marked: str, run_values: list[RunValue]) -> None:
    """Refuse run values in Spark SQL whose quoted text holds a backslash: Spark reads it as an escape where
    DuckDB's lexer, which placed the values, does not, so the two could disagree on where a literal ends."""
    from seeknal_dagster.project import sql_lexer

    if any(token.text[:1] in "'\"" and "\\" in token.text for token in sql_lexer.tokens(marked) if token.kind != "comment"):
        names = ", ".join(sorted({value.name for value in run_values}))
        raise RunValueError(
            names,
            "this Spark SQL has a backslash in a quoted string or name, which Spark reads as an escape: a run value "
            "cannot be placed in it safely; write the backslash another way (chr(92))",
        )


def sql_number(value: Any) -> str | None:
    """``value`` as a SQL number or boolean literal, or ``None`` when it is not one (negative numbers in
    parentheses, so ``x -{{ n }}`` never becomes a ``--`` comment)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        text = repr(value)
    else:
        text = str(value).strip()
        if text.lower() in ("true", "false"):
            return text.lower()
        if not _NUMBER.match(text):
            return None
    return f"({text})" if text[0] in "+-" else text


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _shift_month(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _env(name: str, default: Any = None) -> str:
    value = os.environ.get(name)
    if value is not None:
        secrets.register(value)
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


def _joined(parts: list[Part]) -> tuple[Part, ...]:
    joined: list[Part] = []
    for part in parts:
        if isinstance(part, str) and joined and isinstance(joined[-1], str):
            joined[-1] += part
        elif part != "":
            joined.append(part)
    return tuple(joined)


def plain(value: Any) -> Any:
    """A rendered param value as plain data: a run value as given, rendered text typed like Seeknal types it."""
    if isinstance(value, RunValue):
        return value.value
    if isinstance(value, Rendered):
        return _convert_scalar(value.text())
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def _display(value: Any) -> Any:
    if isinstance(value, Rendered):
        return value.display() if any(isinstance(part, EnvValue) for part in value.parts) else plain(value)
    if isinstance(value, list):
        return [_display(item) for item in value]
    if isinstance(value, dict):
        return {key: _display(item) for key, item in value.items()}
    return plain(value)


def _carried(value: Any) -> tuple[list[RunValue], list[EnvValue]]:
    """The run values and environment values inside a rendered param value."""
    if isinstance(value, RunValue):
        return [value], []
    if isinstance(value, Rendered):
        return value.run_values(), [part for part in value.parts if isinstance(part, EnvValue)]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    runs: list[RunValue] = []
    envs: list[EnvValue] = []
    for item in items:
        item_runs, item_envs = _carried(item)
        runs += item_runs
        envs += item_envs
    return runs, envs


def _as_parts(name: str, value: Any) -> tuple[Part, ...]:
    """A rendered param value where its ``{{ name }}`` stands in a template."""
    if isinstance(value, RunValue):
        return (value,)
    if isinstance(value, Rendered):
        return value.parts
    runs, envs = _carried(value)
    if runs:
        return (RunValue(runs[0].name if len(runs) == 1 else name, plain(value)),)
    if envs:
        return (EnvValue(name, str(plain(value))),)
    return (str(value),)


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

    def resolve(self, expression: str, params: Mapping[str, Any], within: tuple[str, ...] = ()) -> tuple[Part, ...]:
        """The parts for one ``{{ expression }}``; ``within`` lists the common-config keys being expanded, whose
        own ``{{ }}`` (a shared snippet using ``today(-30)``) are rendered too. ``params`` are rendered already."""
        if expression in self.overrides:
            return (RunValue(expression, self.overrides[expression]),)
        if expression in params:
            return tuple(
                replace(part, written=expression) if isinstance(part, RunValue) else part
                for part in _as_parts(expression, params[expression])
            )
        if expression == "run_id":
            return (self.run_id,)
        if expression == "run_date":
            return (self.clock().isoformat(),)
        functions = self._functions()
        call = _CALL_PATTERN.match(expression)
        if call and call.group(1) in functions:
            try:
                value = str(functions[call.group(1)](*_call_arguments(call.group(2))))
            except TemplateError:
                raise
            except (TypeError, ValueError) as error:
                raise TemplateError(f"{{{{ {expression} }}}} cannot be evaluated: {error}") from None
            return (EnvValue(expression, value),) if call.group(1) == "env" else (value,)
        if expression in functions and expression != "env":
            return (str(functions[expression]()),)
        if expression.startswith("env:"):
            name, _, default = expression[len("env:") :].partition("|")
            return (EnvValue(expression, _env(name.strip(), default.strip() if "|" in expression else None)),)
        if self.common and _DOTTED_NAME.match(expression):
            if expression in within:
                cycle = " -> ".join((*within, expression))
                raise TemplateError(f"common config key '{expression}' refers to itself: {cycle}")
            if expression in self.common:
                return self._parts(self.common[expression], params, (*within, expression))
            suggestions = difflib.get_close_matches(expression, list(self.common), n=3)
            hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
            raise TemplateError(
                f"unknown common config key '{{{{ {expression} }}}}'. "
                f"Available keys: {', '.join(sorted(self.common))}.{hint}"
            )
        return ("{{ " + expression + " }}",)

    def _parts(self, text: str, params: Mapping[str, Any], within: tuple[str, ...] = ()) -> tuple[Part, ...]:
        parts: list[Part] = []
        position = 0
        for match in TEMPLATE_PATTERN.finditer(text):
            parts.append(text[position : match.start()])
            parts.extend(self.resolve(match.group(1), params, within))
            position = match.end()
        parts.append(text[position:])
        return _joined(parts)

    def rendered(self, text: str, params: Mapping[str, Any] | None = None) -> Rendered:
        """``text`` rendered with a node's (unrendered) ``params``, keeping where each part came from."""
        return Rendered(self._parts(text, self._rendered_params(params or {})))

    def render(self, text: str, params: Mapping[str, Any] | None = None) -> str:
        """``text`` rendered as plain text: for uses where text cannot change structure (a date to parse)."""
        return self.rendered(text, params).text()

    def render_sql(
        self, text: str, params: Mapping[str, Any] | None = None, fragment: bool = False, engine: str = "duckdb"
    ) -> SqlText:
        """SQL rendered by the rule of this module's docstring; raises :class:`RunValueError` naming the param."""
        return self.rendered(text, params).sql(fragment, engine)

    def render_params(
        self, params: Mapping[str, Any], uses: Mapping[str, ParamUse] | None = None
    ) -> dict[str, Any]:
        """A node's ``params`` rendered to plain values; CLI-style overrides win for keys they name.

        ``uses`` says how the executor uses each param; given, a run value in a param is checked for its use, and
        refused in a param it does not list (a connection, a table, a host: what it reads or writes is the
        project's to say). Without it (checking templates at load) run values are plain data."""
        rendered = self._rendered_params(params)
        if uses is None:
            return {key: plain(value) for key, value in rendered.items()}
        return {key: self._checked(key, value, uses.get(key)) for key, value in rendered.items()}

    def display_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A node's ``params`` for metadata: rendered, but ``{{ env… }}`` values shown as their expression."""
        return {key: _display(value) for key, value in self._rendered_params(params).items()}

    def _checked(self, key: str, value: Any, use: ParamUse | None) -> Any:
        runs, _ = _carried(value)
        if not runs or use is ParamUse.VALUE:
            return plain(value)
        if isinstance(value, (list, dict)) and use is ParamUse.HEADER:
            items = value.items() if isinstance(value, dict) else enumerate(value)
            checked = {name: self._checked(key, item, use) for name, item in items}
            return checked if isinstance(value, dict) else list(checked.values())
        text = value if isinstance(value, Rendered) else Rendered((value,)) if isinstance(value, RunValue) else None
        if text is not None and use is ParamUse.SQL:
            return text.sql().sql
        if text is not None and use is ParamUse.PATH:
            return text.path()
        if text is not None and use is ParamUse.URL:
            return text.url()
        if text is not None and use is ParamUse.HEADER:
            return text.header()
        raise RunValueError(
            runs[0].name,
            f"it would set params.{key}, which decides what the node reads or writes; "
            "set it in the node's YAML (run config may only fill values)",
        )

    def _rendered_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            key: RunValue(key, self.overrides[key]) if key in self.overrides else self._render_value(value)
            for key, value in params.items()
        }

    def _render_value(self, value: Any) -> Any:
        if isinstance(value, str):
            if not TEMPLATE_PATTERN.search(value):
                return value
            parts = self._parts(value, {})
            if all(isinstance(part, str) for part in parts):
                rendered = "".join(parts)  # type: ignore[arg-type]
                return _convert_scalar(rendered) if rendered != value else value
            if len(parts) == 1 and isinstance(parts[0], RunValue):
                return parts[0]
            return Rendered(parts)
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
