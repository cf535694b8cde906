"""Reading a project's YAML files safely: PyYAML's safe loader, plus what it lets pass silently.

Two things PyYAML does not report: a key written twice in one mapping (it keeps the last value, so a user's
first ``transform:`` silently disappears), and aliases expanding into billions of values (``&a [*b, *b, …]``
nested a few levels: composing the document is cheap, but anything walking the values afterwards — rendering
params, hashing a definition — never finishes). Both are found on the composed node graph, before any Python
value is built, and reported with their line.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from seeknal_dagster.project import secrets
from seeknal_dagster.project.errors import Problem
from seeknal_dagster.project.load_cache import CACHE_DIR, read_cache, write_cache

#: libyaml's parser when PyYAML was built with it (same safe semantics, several times faster).
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
#: How many values aliases may add to one document beyond those written in it.
MAX_ALIAS_VALUES = 100_000


@dataclass(frozen=True)
class DuplicateKey:
    key: str
    line: int
    first_line: int

    @property
    def message(self) -> str:
        return (
            f"duplicate key '{self.key}' (first on line {self.first_line}): YAML keeps only the last value, "
            "so the first one would be silently ignored"
        )


@dataclass
class YamlDocument:
    """One document of a file: its first line, its value, and the keys written twice in it."""

    line: int
    value: Any
    duplicate_keys: list[DuplicateKey] = field(default_factory=list)


class _ProjectLoader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader, recording every key written twice in one mapping."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.duplicate_keys: list[DuplicateKey] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_nodes: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<: *defaults` then overriding a merged key is YAML's way of extending, not a duplicate
            key = self.construct_object(key_node, deep=True)
            try:
                first = first_nodes.setdefault(key, key_node)
            except TypeError:  # an unhashable key: PyYAML reports it itself
                continue
            if first is not key_node:
                self.duplicate_keys.append(DuplicateKey(str(key), key_node.start_mark.line + 1, first.start_mark.line + 1))
        return super().construct_mapping(node, deep=deep)


def alias_expansion(root: yaml.Node) -> int | None:
    """How many values aliases add to a composed document (expanded values minus written ones); ``None`` when an
    alias contains itself. Linear in the written nodes: each node's expanded size is computed once."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in _children(node))
            on_path.discard(id(node))
            continue
        if id(node) in sizes:
            continue
        on_path.add(id(node))
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                return None
            if id(child) not in sizes:
                stack.append((child, False))
    return sizes[id(root)] - len(sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _syntax_problem(error: yaml.YAMLError, relative: Path) -> Problem:
    mark = getattr(error, "problem_mark", None)
    message = f"YAML syntax error: {getattr(error, 'problem', None) or error}"
    return Problem(message, file=relative, line=mark.line + 1 if mark else None)


def _expansion_problem(node: yaml.Node, relative: Path) -> Problem | None:
    added = alias_expansion(node)
    if added is not None and added <= MAX_ALIAS_VALUES:
        return None
    if added is None:
        reason = "an alias (*name) contains itself, so it would expand forever"
    else:
        reason = f"its aliases (*name) expand to {added:,} more values, over the limit of {MAX_ALIAS_VALUES:,}"
    return Problem(f"the document is not loaded: {reason} (a YAML alias bomb?)", file=relative, line=node.start_mark.line + 1)


def yaml_documents(text: str, relative: Path) -> Iterator[YamlDocument | Problem]:
    """Every document of a YAML text, or a problem (syntax error with its line, alias bomb) instead of it."""
    loader = _ProjectLoader(text)
    # An alias needs an anchor (``&name``; PyYAML refuses an undefined one): without '&', nothing can expand.
    may_alias = "&" in text
    try:
        while loader.check_node():
            node = loader.get_node()
            problem = _expansion_problem(node, relative) if may_alias else None
            if problem is not None:
                yield problem
                continue
            loader.duplicate_keys = []
            value = loader.construct_document(node)
            yield YamlDocument(node.start_mark.line + 1, value, loader.duplicate_keys)
    except yaml.YAMLError as error:
        yield _syntax_problem(error, relative)
    finally:
        loader.dispose()


class ParsedYamlCache:
    """Node files' documents as parsed on an earlier load, by the hash of their text, in
    ``<target>/seeknal_dagster/yaml.json``: parsing is most of what reading a node file costs, and a reload of a
    project whose files did not change parses none of them.

    Only what JSON holds exactly is kept (mappings with text keys, lists, text, numbers, booleans, null), and nothing
    holding a secret: a file with a date, a non-text key, an inline password or a problem is parsed on every load,
    as without a cache.
    """

    FILE = CACHE_DIR / "yaml.json"
    #: Changes with PyYAML and with what parsing reports (duplicate keys, the alias limit).
    VERSION = f"1/{yaml.__version__}/{MAX_ALIAS_VALUES}"

    def __init__(self, target_dir: Path):
        self.path = target_dir / self.FILE
        self.cached = read_cache(self.path, self.VERSION)
        self.used: dict[str, Any] = {}

    def documents(self, text: str, relative: Path) -> list[YamlDocument | Problem]:
        """What :func:`yaml_documents` gives for ``text``, from the cache when this text was parsed before."""
        key = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        entry = self.cached.get(key)
        if isinstance(entry, str):  # each file's documents as JSON text: every load gets values of its own
            try:
                documents = [
                    YamlDocument(line, value, [DuplicateKey(*duplicate) for duplicate in duplicates])
                    for line, value, duplicates in json.loads(entry)
                ]
            except (ValueError, TypeError):
                pass  # an entry edited by hand: parsed again below
            else:
                self.used[key] = entry
                return documents
        parsed = list(yaml_documents(text, relative))
        if all(isinstance(item, YamlDocument) and _cacheable(item.value) for item in parsed):
            documents = [[item.line, item.value, [[d.key, d.line, d.first_line] for d in item.duplicate_keys]] for item in parsed]
            self.used[key] = json.dumps(documents)
        return parsed

    def save(self) -> None:
        """Keep what this load parsed or reused (entries of files since deleted or edited are dropped), in a target
        directory that exists: loading alone (``validate``, a dry run) never creates one."""
        if self.used.keys() != self.cached.keys() and self.path.parent.parent.is_dir():
            write_cache(self.path, self.VERSION, self.used)


def _cacheable(value: Any) -> bool:
    """A document the cache may keep: JSON gives it back exactly, and it holds no secret (a password written inline
    stays in the project's own file, never copied under ``target/``)."""
    return _json_exact(value) and not secrets.holds_secret(value)


def _json_exact(value: Any) -> bool:
    """Whether JSON gives ``value`` back as it is (no date becoming text, no number key becoming a text one)."""
    kind = type(value)
    if value is None or kind in (str, bool, int):
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(_json_exact(item) for item in value)
    if kind is dict:
        return all(type(key) is str and _json_exact(item) for key, item in value.items())
    return False


def read_text(path: str | Path) -> str:
    """A project file's UTF-8 text with the line endings text mode gives (``\n``): read as bytes and decoded,
    several times cheaper than opening it in text mode, which a load does once per node file."""
    with open(path, "rb") as file:
        text = file.read().decode()
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def read_yaml_file(path: Path, relative: Path) -> tuple[Any, list[Problem]]:
    """The single document of a settings file (profiles, project, common config), with its problems: a file that
    cannot be read or parsed gives ``None``; a duplicate key is a problem, the value is still returned."""
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as error:
        return None, [Problem(f"cannot read file: {error}", file=relative)]
    documents = list(yaml_documents(text, relative))
    problems = [item for item in documents if isinstance(item, Problem)]
    loaded = [item for item in documents if isinstance(item, YamlDocument)]
    if problems:
        return None, problems
    if len(loaded) > 1:
        return None, [Problem("expected a single YAML document, found several (---)", file=relative, line=loaded[1].line)]
    if not loaded:
        return None, []
    document = loaded[0]
    duplicates = [
        Problem(duplicate.message, file=relative, line=duplicate.line, field=duplicate.key)
        for duplicate in document.duplicate_keys
    ]
    return document.value, duplicates
