"""What a Python pipeline file needs from the environment: its PEP 723 ``# /// script`` header.

Seeknal hands the header to ``uv``, which downloads whatever is missing when the node runs. seeknal-dagster runs a
node with the Python that runs Dagster and downloads nothing, so the header is checked against the installed
distributions when the project loads: a missing package, or one whose version the header excludes, is a problem
``seeknal-dagster validate`` reports naming the node and the package, not an ImportError halfway through a run.
"""

from __future__ import annotations

import platform
import re
import tomllib
from dataclasses import dataclass
from importlib import metadata

#: PEP 723's reference expression for a ``# /// <type>`` … ``# ///`` block.
_BLOCK = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")
#: Distributions a node's process gets from seeknal-dagster instead of the environment.
PROVIDED = frozenset({"seeknal"})


@dataclass(frozen=True)
class ScriptMetadata:
    dependencies: tuple[str, ...] = ()
    requires_python: str | None = None


def read_script_metadata(text: str) -> ScriptMetadata:
    """The ``script`` block of a file, if any; raises ``ValueError`` when it is not valid TOML of the right shape."""
    blocks = [block for block in _BLOCK.finditer(text) if block.group("type") == "script"]
    if not blocks:
        return ScriptMetadata()
    if len(blocks) > 1:
        raise ValueError("more than one '# /// script' block")
    content = "".join(
        line[2:] if line.startswith("# ") else line[1:]
        for line in blocks[0].group("content").splitlines(keepends=True)
    )
    data = tomllib.loads(content)
    dependencies = data.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(item, str) for item in dependencies):
        raise ValueError("'dependencies' must be a list of requirement strings")
    requires_python = data.get("requires-python")
    if requires_python is not None and not isinstance(requires_python, str):
        raise ValueError("'requires-python' must be a version specifier string")
    return ScriptMetadata(tuple(dependencies), requires_python)


def unmet_requirements(script: ScriptMetadata) -> list[str]:
    """One message per requirement of the header that this environment does not meet."""
    # packaging is imported by the few loads that have a header to check, not by every code-location load.
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    problems = []
    if script.requires_python:
        running = platform.python_version()
        try:
            accepted = SpecifierSet(script.requires_python).contains(running, prereleases=True)
        except InvalidSpecifier:
            problems.append(f"requires-python {script.requires_python!r} is not a version specifier")
        else:
            if not accepted:
                problems.append(f"needs Python {script.requires_python}, but the nodes run on Python {running}")
    for dependency in script.dependencies:
        problem = _unmet(dependency)
        if problem:
            problems.append(problem)
    return problems


def _unmet(dependency: str) -> str | None:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    try:
        requirement = Requirement(dependency)
    except InvalidRequirement as error:
        return f"dependency {dependency!r} is not a valid requirement: {error}"
    if canonicalize_name(requirement.name) in PROVIDED:
        return None
    if requirement.marker is not None and not requirement.marker.evaluate():
        return None
    try:
        installed = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return (
            f"dependency '{dependency}' is not installed: install {requirement.name} where Dagster runs "
            "(seeknal-dagster runs Python nodes with that environment and downloads nothing)"
        )
    if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
        return f"dependency '{dependency}' is not met: {requirement.name} {installed} is installed"
    return None
