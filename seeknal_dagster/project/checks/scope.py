"""What every node check works with, and how it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, TypeVar

from seeknal_dagster.project.errors import Severity
from seeknal_dagster.project.profiles import Profiles
from seeknal_dagster.project.templating import ParamUse, RunValueError, TemplateError, TemplateRenderer

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode

Computed = TypeVar("Computed")


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a node's settings; the loader adds where (file, line, node)."""

    message: str
    field: str | None = None
    severity: Severity = "error"


class SettingError(ValueError):
    """A setting a node cannot run with; raised by the readers that executors and the loader share."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


def as_list(value: Any) -> list[Any]:
    """A setting Seeknal lets users write as one value or as a list, as a list (empty when unset)."""
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def seeknal_only(verb: str, declared: str, ours: Iterable[str], field: str) -> Finding:
    """The warning for a type Seeknal knows and seeknal-dagster does not run: the project loads, the node fails if
    it runs. ``verb`` is what is done with it (reads, delivers)."""
    return Finding(
        f"Seeknal {verb} {declared} but seeknal-dagster does not: this node fails if it runs "
        f"(seeknal-dagster {verb} {', '.join(ours)})",
        field,
        "warning",
    )


@dataclass
class CheckScope:
    """The project around the node being checked: its nodes (for checks across nodes), profiles and templates."""

    nodes: Mapping[str, "ProjectNode"]
    profiles: Profiles = field(default_factory=Profiles)
    renderer: TemplateRenderer = field(default_factory=TemplateRenderer)
    _computed: dict[str, Any] = field(default_factory=dict, repr=False)

    def once(self, name: str, compute: Callable[[], Computed]) -> Computed:
        """``compute()``, computed once per scope: facts about the whole project that every node's check reads
        (the feature groups per entity, the measures), so checking n nodes stays linear."""
        if name not in self._computed:
            self._computed[name] = compute()
        return self._computed[name]

    def params(self, node: "ProjectNode", uses: Mapping[str, ParamUse] | None = None) -> dict[str, Any]:
        """The node's params rendered, each value given at run time checked for how the node ``uses`` it (see
        :meth:`TemplateRenderer.render_params`); a template that cannot be rendered is its own problem (reported
        with the node's params), so here it leaves the params as written."""
        try:
            return self.renderer.render_params(node.spec.params, uses)
        except RunValueError as error:
            raise SettingError(str(error), "params") from None
        except TemplateError:
            return dict(node.spec.params)

    def render(self, node: "ProjectNode", text: str, field_name: str) -> str:
        """Text rendered for a use where text cannot change structure (a date to parse, a quoted literal)."""
        try:
            return self.renderer.render(text, node.spec.params)
        except TemplateError as error:
            raise SettingError(str(error), field_name) from None

    def render_sql(
        self, node: "ProjectNode", text: str, field_name: str, fragment: bool = False, engine: str = "duckdb"
    ) -> str:
        """SQL for ``engine`` rendered by the rule for values given at run time (see
        :mod:`seeknal_dagster.project.templating`); ``fragment``: an expression generated SQL wraps, which may hold
        no ``;``."""
        try:
            return self.renderer.render_sql(text, node.spec.params, fragment, engine).sql
        except TemplateError as error:
            raise SettingError(str(error), field_name) from None

    def connection_problem(self, name: Any) -> str | None:
        """Why ``name`` is not a connection of the profiles, or ``None``."""
        if str(name) in self.profiles.connections:
            return None
        return f"connection '{name}' is not defined in profiles ({self.profiles.path or 'no profiles.yml was found'})"
