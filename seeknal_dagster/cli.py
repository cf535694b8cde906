"""``seeknal-dagster``: check a project without running it."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Sequence

from seeknal_dagster.project.errors import ProjectLoadError
from seeknal_dagster.project.loader import load_project


def validate(args: argparse.Namespace) -> int:
    try:
        project = load_project(args.project_dir, profiles_path=args.profiles)
    except ProjectLoadError as error:
        print(f"✗ {error}", file=sys.stderr)
        return 1
    kinds = Counter(node.kind.value for node in project.nodes.values())
    python_nodes = sum(node.is_python for node in project.nodes.values())
    print(f"✓ Seeknal project '{project.name}' at {project.root} is valid")
    print(f"  {len(project.nodes)} nodes, {project.graph.edge_count()} edges")
    for kind, count in sorted(kinds.items()):
        print(f"  {kind:<26}{count}")
    if python_nodes:
        print(f"  ({python_nodes} declared in Python: shown in Dagster, not run by seeknal-dagster)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seeknal-dagster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="load and validate a project; report every problem")
    check.add_argument("project_dir", help="the Seeknal project directory (holding seeknal/)")
    check.add_argument("--profiles", help="profiles.yml to use (default: $SEEKNAL_PROFILES_PATH, ./profiles.yml)")
    check.set_defaults(handler=validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
