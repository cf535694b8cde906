"""``seeknal-dagster``: check a project, see what changed since the last runs, and run only that."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from typing import TYPE_CHECKING, Sequence

from seeknal_dagster.project.errors import ProjectLoadError
from seeknal_dagster.project.loader import load_project

if TYPE_CHECKING:
    from dagster import DagsterInstance, Definitions


def validate(args: argparse.Namespace) -> int:
    """Exit 1 listing every problem when the project does not load; else a summary (and the warnings), exit 0.
    With ``--partial`` a project whose broken nodes can be left out loads, and they are listed with the rest."""
    try:
        project = load_project(args.project_dir, profiles_path=args.profiles, allow_partial=args.partial)
    except ProjectLoadError as error:
        print(f"✗ {error}", file=sys.stderr)
        return 1
    kinds = Counter(node.kind.value for node in project.nodes.values())
    python_nodes = sum(node.file.suffix == ".py" for node in project.nodes.values())
    errors = sum(problem.is_error for problem in project.problems)
    warnings = len(project.problems) - errors
    if project.broken:
        verdict = f"loads without {len(project.broken)} of its {len(project.nodes) + len(project.broken)} nodes"
    else:
        verdict = "is valid"
    counted = ", ".join(
        text for count, text in ((errors, f"{errors} problem(s)"), (warnings, f"{warnings} warning(s)")) if count
    )
    print(f"✓ Seeknal project '{project.name}' at {project.root} {verdict}" + (f", with {counted}:" if counted else ""))
    for problem in sorted(project.problems, key=lambda problem: not problem.is_error):
        print(f"  - {problem}")
    if project.broken:
        print(f"  not loaded: {', '.join(sorted(project.broken))}")
    print(f"  {len(project.nodes)} nodes, {project.graph.edge_count()} edges")
    for kind, count in sorted(kinds.items()):
        print(f"  {kind:<26}{count}")
    if python_nodes:
        print(f"  ({python_nodes} declared in Python files)")
    return 0


def _load_location(args: argparse.Namespace) -> tuple["Definitions", "DagsterInstance"] | None:
    """The project's definitions (as its code location builds them) and the instance in ``$DAGSTER_HOME``, or
    ``None`` after printing why they cannot be had."""
    from dagster import DagsterInstance

    from seeknal_dagster.definitions import build_definitions

    if not os.environ.get("DAGSTER_HOME"):
        print("✗ set DAGSTER_HOME to the Dagster instance that records the project's runs", file=sys.stderr)
        return None

    key_prefix = args.key_prefix.split("/") if args.key_prefix else None
    try:
        defs = build_definitions(
            args.project_dir, profiles_path=args.profiles, target_dir=args.target_dir, key_prefix=key_prefix
        )
        return defs, DagsterInstance.get()
    except ProjectLoadError as error:
        print(f"✗ {error}", file=sys.stderr)
    return None


def plan(args: argparse.Namespace) -> int:
    """``plan`` prints what a changed-only run would materialize and why; ``run --changed`` then runs it."""
    from seeknal_dagster.operations.plan import compute_plan, format_plan, run_plan

    location = _load_location(args)
    if location is None:
        return 1
    defs, instance = location
    with instance:
        changed = compute_plan(defs, instance)
        print(format_plan(changed))
        if not args.execute:
            return 0
        if not changed.planned:
            print("nothing to run")
            return 0
        result = run_plan(defs, instance, changed)
    print(f"{'✓' if result.success else '✗'} run {result.run_id} {'succeeded' if result.success else 'failed'}")
    return 0 if result.success else 1


def _add_location_arguments(command: argparse.ArgumentParser) -> None:
    """How to build the project's definitions exactly as its code location does, so asset keys match."""
    command.add_argument("project_dir", help="the Seeknal project directory (holding seeknal/)")
    command.add_argument("--profiles", help="profiles.yml to use (default: $SEEKNAL_PROFILES_PATH, ./profiles.yml)")
    command.add_argument("--target-dir", help="where outputs live, if the code location sets target_dir")
    command.add_argument("--key-prefix", help="asset key prefix, if the code location sets one (a/b for two parts)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seeknal-dagster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="load and validate a project; report every problem")
    check.add_argument("project_dir", help="the Seeknal project directory (holding seeknal/)")
    check.add_argument("--profiles", help="profiles.yml to use (default: $SEEKNAL_PROFILES_PATH, ./profiles.yml)")
    check.add_argument(
        "--partial",
        action="store_true",
        help="check the project as build_definitions(allow_partial=True) loads it: nodes with problems, and their "
        "downstream, are left out and listed; the rest loads",
    )
    check.set_defaults(handler=validate)
    show_plan = commands.add_parser(
        "plan",
        help="print what a changed-only run would materialize and why, from the instance in $DAGSTER_HOME; "
        "nothing runs",
    )
    _add_location_arguments(show_plan)
    show_plan.set_defaults(handler=plan, execute=False)
    run = commands.add_parser(
        "run", help="materialize the nodes `plan` lists (new, changed, new data, and their downstream) as one run"
    )
    _add_location_arguments(run)
    run.add_argument("--changed", action="store_true", required=True, help="only what changed (required)")
    run.set_defaults(handler=plan, execute=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
