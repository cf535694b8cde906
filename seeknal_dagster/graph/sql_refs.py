"""Finding and rewriting node references inside SQL text.

Two spellings point at another node: ``ref('kind.name')`` (Seeknal's documented form) and a schema-qualified
name such as ``FROM source.orders`` (used all through Seeknal's examples). Both become graph edges, and both are
rewritten to read the upstream's persisted output when the node runs.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

REF_CALL = re.compile(r"""ref\(\s*(['"])(.*?)\1\s*\)""")
VALID_REF_ARGUMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
QUALIFIED_NAME = re.compile(r"""(?<![\w."'])([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)(?![\w"'(])""")


def find_ref_calls(sql: str) -> list[str]:
    """Arguments of every ``ref('…')`` call, stripped, in order of appearance."""
    return [match.group(2).strip() for match in REF_CALL.finditer(sql)]


def find_qualified_names(sql: str, known_ids: Iterable[str]) -> list[str]:
    """``kind.name`` tokens in the SQL that name an existing node."""
    known = set(known_ids)
    found = []
    for match in QUALIFIED_NAME.finditer(sql):
        node_id = f"{match.group(1)}.{match.group(2)}"
        if node_id in known and node_id not in found:
            found.append(node_id)
    return found


def rewrite_node_references(sql: str, relation_for: Callable[[str], str], known_ids: Iterable[str]) -> str:
    """Replace ``ref('kind.name')`` and schema-qualified node names with the relation ``relation_for`` gives."""
    known = set(known_ids)
    sql = REF_CALL.sub(lambda match: relation_for(match.group(2).strip()), sql)

    def qualified(match: re.Match[str]) -> str:
        node_id = f"{match.group(1)}.{match.group(2)}"
        return relation_for(node_id) if node_id in known else match.group(0)

    return QUALIFIED_NAME.sub(qualified, sql)
