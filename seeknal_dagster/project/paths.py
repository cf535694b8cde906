"""Where a project's nodes may read and write files.

A path in a node's YAML or run config must not reach outside the project unnoticed, nor overwrite what the project
is made of: an exposure ``path: ../../x``, ``/etc/…`` or ``~/…``, or one naming a source's own CSV, is refused when
the project loads (a problem naming file, node and field) and again when the node runs (run config may fill a
path). The policy:

- Sources read files under the project root or its target directory.
- File exposures write under the project root or its target directory, but never into the project's definitions
  (``seeknal/``, ``seeknal_project.yml``, profiles), into what seeknal-dagster keeps under the target directory
  (``intermediate/``, ``cache/``, ``state/``, ``feature_store/``, ``models/``, Python nodes' ``pipeline_state/``),
  over source code or configuration (``.py``, ``.yml``…), nor over a file another node reads or writes (a
  source's file, glob or directory, another exposure's output).
- Anywhere else only with an explicit opt-in in ``seeknal_project.yml``::

      allowed_paths:
        read: [/mnt/lake/raw, ../shared/reference]   # more directories sources may read from
        write: [/srv/exports]                        # more directories file exposures may write to

  (relative entries are relative to the project root; ``~`` is expanded). The protections above still hold there.

Every path is resolved before it is checked (``~`` expanded, ``..`` collapsed, symlinks followed), so a symlink
inside the project pointing outside it counts as outside. Checking costs no data read: paths are resolved and at
most stat'ed (globs are checked by their fixed leading directories at load, file by file when the node runs).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from seeknal_dagster.project.checks.exposure import exposure_setting, file_target
from seeknal_dagster.project.checks.scope import SettingError
from seeknal_dagster.project.checks.source import file_location, sqlite_location
from seeknal_dagster.project.errors import Problem
from seeknal_dagster.project.models import FILE_SOURCE_TYPES, ExposureSpec, SourceSpec
from seeknal_dagster.project.templating import TemplateError

if TYPE_CHECKING:
    from seeknal_dagster.project.profiles import Profiles
    from seeknal_dagster.project.templating import TemplateRenderer

SETTINGS_KEY = "allowed_paths"
SETTINGS_FILE = "seeknal_project.yml"
#: What seeknal-dagster keeps under the target directory: node outputs, state (Python nodes' ``ctx.state`` too),
#: the feature store, models.
MANAGED_TARGET_DIRS = ("intermediate", "cache", "state", "pipeline_state", "feature_store", "models")
#: The project's own definitions, relative to its root.
PROJECT_DEFINITIONS = ("seeknal", SETTINGS_FILE, "profiles.yml")
#: An exposure writes data files, never source code or configuration.
PROTECTED_SUFFIXES = frozenset({".py", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".sh", ".sql", ".env"})
_GLOB_CHARACTERS = frozenset("*?[")


def resolve_written(root: Path, written: str | os.PathLike[str]) -> Path:
    """A path as written in YAML, absolute: ``~`` expanded, relative to ``root``, symlinks and ``..`` resolved.
    For a glob, the part before its first wildcard is resolved and the pattern kept."""
    path = Path(os.path.expanduser(str(written)))
    if not path.is_absolute():
        path = root / path
    parts = path.parts
    fixed = next((index for index, part in enumerate(parts) if _GLOB_CHARACTERS & set(part)), len(parts))
    return Path(*parts[:fixed]).resolve().joinpath(*parts[fixed:])


def is_glob(path: Path) -> bool:
    return any(_GLOB_CHARACTERS & set(part) for part in path.parts)


def fixed_prefix(path: Path) -> Path:
    """The leading directories of a glob pattern before its first wildcard (the path itself when it has none)."""
    parts = path.parts
    fixed = next((index for index, part in enumerate(parts) if _GLOB_CHARACTERS & set(part)), len(parts))
    return Path(*parts[:fixed])


def _within(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


@dataclass(frozen=True)
class PathClaim:
    """A file (or glob, or directory) a node reads or writes, as written and resolved."""

    node_id: str
    field: str
    written: str
    path: Path
    writes: bool
    #: A directory read whole (every file of the source's type in it).
    is_directory: bool = False

    def covers(self, path: Path) -> bool:
        """Whether writing ``path`` would change what this claim reads or writes."""
        if path == self.path:
            return True
        if is_glob(self.path):  # "**/" also matches no directory at all, as the recursive glob reading it does
            patterns = {str(self.path), str(self.path).replace("/**/", "/")}
            return any(fnmatch.fnmatchcase(str(path), pattern) for pattern in patterns)
        return self.is_directory and _within(path, self.path)


@dataclass(frozen=True)
class PathPolicy:
    """The directories a project may read from and write to, and what it may never overwrite."""

    root: Path
    target_dir: Path
    read_dirs: tuple[Path, ...] = ()
    write_dirs: tuple[Path, ...] = ()

    @classmethod
    def from_settings(cls, root: Path, target_dir: Path, settings: Mapping[str, Any]) -> tuple["PathPolicy", list[Problem]]:
        """The policy ``seeknal_project.yml`` declares (``allowed_paths: {read: [...], write: [...]}``), with a
        problem for each entry that cannot be read."""
        root = Path(root).resolve()
        raw = settings.get(SETTINGS_KEY) or {}
        problems: list[Problem] = []

        def problem(message: str, field: str) -> None:
            problems.append(Problem(message, file=Path(SETTINGS_FILE), field=field))

        if not isinstance(raw, Mapping):
            problem("allowed_paths must be a mapping: {read: [directories], write: [directories]}", SETTINGS_KEY)
            raw = {}
        for unknown in sorted(set(map(str, raw)) - {"read", "write"}):
            problem(f"unknown key '{unknown}' (use read and write)", f"{SETTINGS_KEY}.{unknown}")
        directories: dict[str, list[Path]] = {"read": [], "write": []}
        for access in directories:
            entries = raw.get(access) or []
            if isinstance(entries, str):
                entries = [entries]
            if not isinstance(entries, list):
                problem("must be a list of directories", f"{SETTINGS_KEY}.{access}")
                continue
            for index, entry in enumerate(entries):
                if not isinstance(entry, str) or not entry.strip() or is_glob(Path(entry)):
                    problem(f"{entry!r} is not a directory path", f"{SETTINGS_KEY}.{access}[{index}]")
                    continue
                directories[access].append(resolve_written(root, entry))
        policy = cls(root, Path(target_dir).resolve(), tuple(directories["read"]), tuple(directories["write"]))
        return policy, problems

    def resolve(self, written: str | os.PathLike[str]) -> Path:
        return resolve_written(self.root, written)

    def read_problem(self, path: Path) -> str | None:
        """Why a source may not read ``path`` (a resolved file, directory or glob), or ``None``."""
        allowed = (self.root, self.target_dir, *self.read_dirs)
        if any(_within(fixed_prefix(path), directory) for directory in allowed):
            return None
        return (
            f"{path} is outside the project ({self.root}): sources read files under the project or its target "
            f"directory, or under a directory listed in {SETTINGS_FILE} under {SETTINGS_KEY}.read"
        )

    def directory_problem(self, path: Path, what: str) -> str | None:
        """Why seeknal-dagster may not keep ``what`` (e.g. spilled data) in the resolved directory ``path``, or
        ``None``: under the project, its target directory or a directory listed under ``allowed_paths.write``."""
        if any(_within(path, directory) for directory in (self.root, self.target_dir, *self.write_dirs)):
            return None
        return (
            f"{path} is outside the project ({self.root}): {what} goes under the project or its target directory, "
            f"or under a directory listed in {SETTINGS_FILE} under {SETTINGS_KEY}.write"
        )

    def write_problem(self, path: Path, claims: Iterable[PathClaim] = (), writer: str | None = None) -> str | None:
        """Why a file exposure may not write ``path`` (resolved), or ``None``. ``claims`` are what the project's
        nodes read and write; those of ``writer`` (the exposure itself) are ignored."""
        if is_glob(path):
            return f"{path} has wildcards: a file exposure writes one file"
        if not any(_within(path, directory) for directory in (self.root, self.target_dir, *self.write_dirs)):
            return (
                f"{path} is outside the project ({self.root}): file exposures write under the project or its target "
                f"directory, or under a directory listed in {SETTINGS_FILE} under {SETTINGS_KEY}.write"
            )
        for name in PROJECT_DEFINITIONS:
            if _within(path, self.root / name):
                return f"{path} is part of the project's definitions ({name}): an exposure never writes there"
        for name in MANAGED_TARGET_DIRS:
            if _within(path, self.target_dir / name):
                return (
                    f"{path} is inside {self.target_dir / name}, which seeknal-dagster manages: write exports "
                    f"elsewhere, e.g. {self.target_dir / 'exports'}"
                )
        if path.suffix.lower() in PROTECTED_SUFFIXES:
            return f"{path} is a {path.suffix} file: an exposure writes data, never source code or configuration"
        if path.is_dir():
            return f"{path} is a directory: a file exposure writes one file"
        for claim in claims:
            if claim.node_id != writer and claim.covers(path):
                verb = "writes" if claim.writes else "reads"
                return f"{path} is a file {claim.node_id} {verb} ({claim.field}: {claim.written}): an exposure never overwrites it"
        return None


def exposure_output(spec: ExposureSpec, params: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field, path as written) of the file a ``file`` exposure writes, ``None`` for other exposures (and for one
    that names no file: its own check reports that)."""
    if spec.delivery_type != "file":
        return None
    setting = exposure_setting(spec, dict(params))
    try:
        written, _ = file_target(setting)
    except SettingError:
        return None
    name = "path" if setting("path") else "url"
    return (f"params.{name}" if params.get(name) is not None else name), written


def source_input(spec: SourceSpec, params: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field, path as written) of the file (or glob, or directory) a file or SQLite source reads."""
    try:
        if spec.source_type in FILE_SOURCE_TYPES:
            return ("table" if spec.table else "params.path"), file_location(spec, dict(params))
        if spec.source_type == "sqlite":
            return ("params.path" if params.get("path") else "table"), sqlite_location(spec, dict(params))[0]
    except SettingError:
        pass  # the node's own check reports it
    return None


def path_claims(
    nodes: Mapping[str, Any], renderer: "TemplateRenderer", profiles: "Profiles", root: Path
) -> Iterator[PathClaim]:
    """What every YAML node reads or writes on disk, with params as the project sets them (profile defaults under
    the node's rendered params; a node whose params do not render is left to the problem reported for them)."""
    for node_id, node in nodes.items():
        spec = node.spec
        if not isinstance(spec, (SourceSpec, ExposureSpec)):
            continue
        try:
            params = renderer.render_params(spec.params)
        except TemplateError:
            continue
        if isinstance(spec, SourceSpec):
            found = source_input(spec, {**profiles.defaults_for(spec.source_type), **params})
        else:
            found = exposure_output(spec, params)
        if found:
            field, written = found
            path, writes = resolve_written(root, written), isinstance(spec, ExposureSpec)
            yield PathClaim(node_id, field, written, path, writes, not writes and path.is_dir())


def path_problems(
    root: Path,
    target_dir: Path,
    settings: Mapping[str, Any],
    nodes: Mapping[str, Any],
    renderer: "TemplateRenderer",
    profiles: "Profiles",
) -> list[Problem]:
    """Every path a project's nodes read or write that the policy refuses, and every unreadable policy entry."""
    policy, problems = PathPolicy.from_settings(root, target_dir, settings)
    claims = list(path_claims(nodes, renderer, profiles, policy.root))
    for index, claim in enumerate(claims):
        if claim.writes:
            # Of two exposures writing one file, the one found later is reported.
            others = [other for position, other in enumerate(claims) if not other.writes or position < index]
            problem = policy.write_problem(claim.path, others, claim.node_id)
        else:
            problem = policy.read_problem(claim.path)
        if problem:
            node = nodes[claim.node_id]
            problems.append(Problem(problem, file=node.file, line=node.line, node_id=claim.node_id, field=claim.field))
    return problems
