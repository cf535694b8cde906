"""What a Python node's decorators say that seeknal-dagster does not do, known without running the function.

Its function is checked by running it; a feature group's or second-order aggregation's own settings are checked
as that kind's (``ProjectNode.kind_node``). What is left is what the decorators ask for beside the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from seeknal_dagster.project.checks.scope import CheckScope, Finding
from seeknal_dagster.project.models import NodeKind

if TYPE_CHECKING:
    from seeknal_dagster.project.loader import ProjectNode

#: Kinds whose ``materialization=`` names a table copy (a feature group's is its offline/online stores).
_TABLE_COPY_KINDS = (NodeKind.SOURCE, NodeKind.TRANSFORM)


def check_python_node(node: "ProjectNode", scope: CheckScope) -> Iterator[Finding]:
    spec = node.spec
    copies = [(f"@materialize[{index}]", target) for index, target in enumerate(spec.materializations or [])]
    single = spec.materialization
    if node.kind in _TABLE_COPY_KINDS and isinstance(single, dict) and single.get("enabled", True) is not False:
        copies.append(("materialization", single))
    for field, target in copies:
        where = f"{target.get('type', 'iceberg')} table {target.get('table') or '(unnamed)'}"
        yield Finding(
            f"Seeknal also copies this node's rows to the {where}; seeknal-dagster does not for Python nodes "
            "(it writes target/intermediate/ only)",
            field,
            "warning",
        )
