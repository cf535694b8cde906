"""Finding and rewriting node references inside SQL text.

Two spellings point at another node: ``ref('kind.name')`` (Seeknal's documented form) and a schema-qualified
name such as ``FROM source.orders`` (used all through Seeknal's examples). Both become graph edges, and both are
rewritten to read the upstream's persisted output when the node runs. Only SQL code counts: a node name inside
a comment or a string literal is text, so it neither creates an edge (a comment naming a downstream node would
otherwise make a cycle) nor is rewritten (which would change the data).
"""

from __future__ import annotations

import bisect
import math
import functools
import re
from typing import Callable, Container, Iterable

REF_CALL = re.compile(r"""ref\(\s*(['"])(.*?)\1\s*\)""")
VALID_REF_ARGUMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
QUALIFIED_NAME = re.compile(r"""(?<![\w."'])([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)(?![\w"'(])""")


#: Where a span of :func:`text_spans` may start: plain code in between is skipped at the regex engine's speed.
_SPAN_START = re.compile(r"""['"]|--|/\*|\$\$""")


@functools.lru_cache(maxsize=4096)
def text_spans(sql: str) -> tuple[tuple[int, int], ...]:
    """``(start, end)`` of every quoted string or identifier, comment and ``$$``-quoted block, in order: the
    parts of a SQL text that are not code (a ``;`` there ends no statement, a node name there is no reference)."""
    spans: list[tuple[int, int]] = []
    index, length = 0, len(sql)
    while (start := _SPAN_START.search(sql, index)) is not None:
        index = start.start()
        char = sql[index]
        if char in ("'", '"'):
            end = index + 1
            while True:
                end = sql.find(char, end)
                if end == -1:
                    end = length
                    break
                if sql[end + 1 : end + 2] != char:
                    end += 1
                    break
                end += 2  # a doubled quote is an escaped quote
        elif char == "-":
            end = sql.find("\n", index)
            end = length if end == -1 else end
        elif char == "/":
            end = sql.find("*/", index + 2)
            end = length if end == -1 else end + 2
        else:
            end = sql.find("$$", index + 2)
            end = length if end == -1 else end + 2
        spans.append((index, end))
        index = end
    return tuple(spans)


def is_code(spans: list[tuple[int, int]], position: int) -> bool:
    """Whether ``position`` lies outside every span of :func:`text_spans`."""
    at = bisect.bisect_right(spans, (position, math.inf)) - 1
    return at < 0 or not spans[at][0] <= position < spans[at][1]


def strip_comments(sql: str) -> str:
    """The SQL without its ``--`` and ``/* */`` comments (string literals untouched)."""
    comments = [(start, end) for start, end in text_spans(sql) if sql.startswith(("--", "/*"), start)]
    kept, cursor = [], 0
    for start, end in comments:
        kept.append(sql[cursor:start])
        cursor = end
    kept.append(sql[cursor:])
    return "".join(kept)


def _code_matches(pattern: re.Pattern[str], sql: str) -> Iterable[re.Match[str]]:
    spans = text_spans(sql)
    return (match for match in pattern.finditer(sql) if is_code(spans, match.start()))


def find_ref_calls(sql: str) -> list[str]:
    """Arguments of every ``ref('…')`` call in the code, stripped, in order of appearance."""
    return [match.group(2).strip() for match in _code_matches(REF_CALL, sql)]


def find_qualified_names(sql: str, known_ids: Container[str]) -> list[str]:
    """``kind.name`` tokens in the code that name an existing node (``known_ids``: the project's nodes by id, or a
    set; asked for membership only, never copied: a copy per node made loading quadratic in the nodes)."""
    found = []
    for match in _code_matches(QUALIFIED_NAME, sql):
        node_id = f"{match.group(1)}.{match.group(2)}"
        if node_id in known_ids and node_id not in found:
            found.append(node_id)
    return found


def _substitute(pattern: re.Pattern[str], sql: str, replacement: Callable[[re.Match[str]], str]) -> str:
    spans = text_spans(sql)
    return pattern.sub(lambda match: replacement(match) if is_code(spans, match.start()) else match.group(0), sql)


def rewrite_node_references(sql: str, relation_for: Callable[[str], str], known_ids: Container[str]) -> str:
    """Replace ``ref('kind.name')`` and schema-qualified node names in the code with the relation
    ``relation_for`` gives (``known_ids`` as for :func:`find_qualified_names`)."""
    sql = _substitute(REF_CALL, sql, lambda match: relation_for(match.group(2).strip()))

    def qualified(match: re.Match[str]) -> str:
        node_id = f"{match.group(1)}.{match.group(2)}"
        return relation_for(node_id) if node_id in known_ids else match.group(0)

    return _substitute(QUALIFIED_NAME, sql, qualified)
