"""Parity with ``seeknal run``: run one Seeknal project with Seeknal's own CLI and through seeknal-dagster, then
compare every node's output.

    python bench/parity_seeknal.py                      # Seeknal's getting-started project (the git mirror's HEAD)
    python bench/parity_seeknal.py --project DIR        # any Seeknal project directory (or git repository)
    python bench/parity_seeknal.py --keep               # keep both copies and their logs

The project is copied twice into a temporary directory (a git repository through ``git archive HEAD | tar -x``, a
directory without its ``target/``). One copy runs ``seeknal run --full --continue-on-error`` from
``bench/.venvs/seeknal`` (``bash bench/setup_peers.sh`` creates it); the other runs ``dagster asset materialize
--select '*'`` on ``build_definitions(copy)``, with this checkout first on ``PYTHONPATH``. Each node's outputs are then
compared where Seeknal leaves them: ``target/intermediate/<kind>_<name>.parquet``, an aggregation's
``target/aggregation/<name>/result.parquet``, a second-order aggregation's
``target/second_order_aggregation/<name>/result.parquet`` and a file exposure's file. Two outputs are equal when
they have the same columns, the same column types and the same rows as a multiset. The table says how they differ
otherwise, and which differences are not differences of results: a column stamped with the time of each run
(``CURRENT_TIMESTAMP``), a profile's ``freshness_hours`` measured at each run's time, and profile top values that
tie (Seeknal orders equal counts as DuckDB's parallel grouping happens to emit them).

Seeknal runs Python nodes with ``uv run``, which resolves each file's PEP 723 dependencies from PyPI. So that the
comparison runs offline, the Seeknal side gets a ``uv`` on its ``PATH`` that runs the file with the bench venv's own
Python, where Seeknal and the dependencies these projects name (pandas, pyarrow, duckdb) are installed.

Bench-only: nothing here is part of the test suite, and nothing of Seeknal's is written into this repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PROJECT = Path("/work/.mirror/rebekz+seeknal-getting-started/repo")
SEEKNAL_VENV = REPO / "bench" / ".venvs" / "seeknal"
RUN_TIMEOUT_SECONDS = 1800
#: Slack around a run's start and end when recognising a column stamped with the run's time.
CLOCK_SLACK_SECONDS = 2.0


@dataclass
class Run:
    """One side's run: each node's status, and when the run started and ended (epoch seconds)."""

    statuses: dict[str, str]
    started: float
    finished: float
    log: Path
    returncode: int


@dataclass
class Verdict:
    """How one node's outputs compare: ``equal``, ``equal*`` (equal but for the notes), ``differs``, ``missing``."""

    outcome: str
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return self.outcome + (f" ({'; '.join(self.notes)})" if self.notes else "")


# -- Copies and runs -------------------------------------------------------------------------------------------


def copy_project(source: Path, destination: Path) -> None:
    """A project directory without its outputs, or the HEAD of a git repository (a mirror has no work tree)."""
    if (source / "seeknal").is_dir():
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns("target", ".git", "__pycache__"))
        return
    destination.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(source), "archive", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)


def uv_stand_in(directory: Path, python: Path) -> Path:
    """A ``uv`` whose ``uv run FILE`` runs FILE with ``python`` (see the module docstring)."""
    directory.mkdir(parents=True, exist_ok=True)
    uv = directory / "uv"
    uv.write_text(f'#!/bin/sh\n[ "$1" = run ] && shift\nexec "{python}" "$@"\n')
    uv.chmod(0o755)
    return directory


def run_seeknal(project: Path, venv: Path, workdir: Path) -> Run:
    shims = uv_stand_in(workdir / "uv-stand-in", venv / "bin" / "python")
    env = {**os.environ, "PATH": f"{shims}{os.pathsep}{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = workdir / "seeknal_run.log"
    started = time.time()
    with log.open("w") as handle:
        completed = subprocess.run(
            [str(venv / "bin" / "seeknal"), "run", "--full", "--continue-on-error"],
            cwd=project, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_SECONDS,
        )
    finished = time.time()
    state_path = project / "target" / "run_state.json"
    nodes = json.loads(state_path.read_text()).get("nodes", {}) if state_path.exists() else {}
    statuses = {node_id: seeknal_status(state) for node_id, state in nodes.items()}
    return Run(statuses, started, finished, log, completed.returncode)


def seeknal_status(state: dict) -> str:
    metadata = state.get("metadata") or {}
    if state.get("status") != "success":
        error = str(metadata.get("error") or state.get("status")).splitlines()[0]
        return f"failed: {error}"
    if metadata.get("rule_type") == "profile_check":  # counts of checks passed, warned and failed
        if metadata.get("failed"):
            return "did not pass (error)"
        return "did not pass (warn)" if metadata.get("warned") else "passed"
    if "passed" in metadata:  # any other rule
        return "passed" if metadata["passed"] else f"did not pass ({metadata.get('severity', 'error')})"
    return "success"


_MATERIALIZED = re.compile(r"ASSET_MATERIALIZATION - Materialized value (\w+) (\S+)\.$")
_FAILED = re.compile(r"- (\w+\.\S+) \(.*?\) failed: (.*)$")
_SKIPPED = re.compile(r"- (\w+\.\S+): skipped, (.*)$")
_CHECKED = re.compile(r"ASSET_CHECK_EVALUATION - Asset check '(\S+)' on '\S+' (passed|did not pass)\.")


def run_ours(project: Path, workdir: Path) -> Run:
    definitions = workdir / "ours_definitions.py"
    definitions.write_text(
        f"from seeknal_dagster import build_definitions\n\ndefs = build_definitions({str(project)!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("DAGSTER_HOME", None)  # a throw-away instance
    log = workdir / "ours_run.log"
    started = time.time()
    with log.open("w") as handle:
        completed = subprocess.run(
            [sys.executable, "-m", "dagster", "asset", "materialize", "-f", str(definitions), "--select", "*"],
            cwd=project, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_SECONDS,
        )
    finished = time.time()
    statuses: dict[str, str] = {}
    for line in log.read_text().splitlines():
        if match := _MATERIALIZED.search(line):
            statuses[f"{match.group(1)}.{match.group(2)}"] = "success"
        elif match := _FAILED.search(line):
            statuses[match.group(1)] = f"failed: {match.group(2)}"
        elif match := _SKIPPED.search(line):
            statuses[match.group(1)] = f"skipped: {match.group(2)}"
        elif match := _CHECKED.search(line):
            statuses[f"rule.{match.group(1)}"] = match.group(2)
    return Run(statuses, started, finished, log, completed.returncode)


# -- Comparing outputs -----------------------------------------------------------------------------------------


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def reader(path: Path) -> str:
    literal = "'" + str(path).replace("'", "''") + "'"
    if path.suffix == ".csv":
        return f"read_csv({literal})"
    if path.suffix == ".jsonl":
        return f"read_json({literal}, format = 'newline_delimited')"
    if path.suffix == ".json":
        return f"read_json({literal})"
    return f"read_parquet({literal})"


def described(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def stamped_with_run_time(con: duckdb.DuckDBPyConnection, relation: str, column: str, kind: str, run: Run) -> bool:
    """Whether every value of a timestamp column lies within the run (a ``CURRENT_TIMESTAMP`` column)."""
    if not kind.startswith("TIMESTAMP"):
        return False
    [(low, high, values)] = con.execute(
        f"SELECT min(epoch({quoted(column)})), max(epoch({quoted(column)})), count({quoted(column)}) FROM {relation}"
    ).fetchall()
    return bool(values) and run.started - CLOCK_SLACK_SECONDS <= low and high <= run.finished + CLOCK_SLACK_SECONDS


def all_null(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> bool:
    [(values,)] = con.execute(f"SELECT count({quoted(column)}) FROM {relation}").fetchall()
    return values == 0


def rows_only_in(con: duckdb.DuckDBPyConnection, left: str, right: str) -> int:
    [(count,)] = con.execute(f"SELECT count(*) FROM ({left} EXCEPT ALL {right})").fetchall()
    return count


def compare_files(seeknal_file: Path, ours_file: Path, kind: str, runs: tuple[Run, Run]) -> Verdict:
    con = duckdb.connect()
    theirs, ours = reader(seeknal_file), reader(ours_file)
    their_types, our_types = described(con, theirs), described(con, ours)
    differences, notes = [], []
    only_theirs = [name for name in their_types if name not in our_types]
    only_ours = [name for name in our_types if name not in their_types]
    if only_theirs:
        differences.append(f"columns only in Seeknal's: {', '.join(only_theirs)}")
    if only_ours:
        differences.append(f"columns only in ours: {', '.join(only_ours)}")
    common = [name for name in their_types if name in our_types]
    untyped = [  # pandas writes a column holding only NULLs with the type NULL
        name
        for name in common
        if their_types[name] == '"NULL"' and all_null(con, ours, name) and all_null(con, theirs, name)
    ]
    if untyped:
        notes.append(f"{', '.join(untyped)}: all NULL, typed NULL in Seeknal's file")
        common = [name for name in common if name not in untyped]
    retyped = [name for name in common if their_types[name] != our_types[name]]
    if retyped:
        differences.append("types " + ", ".join(f"{name} {their_types[name]} vs {our_types[name]}" for name in retyped))
    stamped = [
        name
        for name in common
        if stamped_with_run_time(con, theirs, name, their_types[name], runs[0])
        and stamped_with_run_time(con, ours, name, our_types[name], runs[1])
    ]
    if stamped:
        notes.append(f"{', '.join(stamped)}: the time of each run")
    compared = [name for name in common if name not in stamped]
    if not compared:
        return Verdict("differs" if differences else "equal*", differences + notes)
    theirs_rows = f"SELECT {', '.join(quoted(name) for name in compared)} FROM {theirs}"
    ours_rows = "SELECT " + ", ".join(
        f"TRY_CAST({quoted(name)} AS {their_types[name]}) AS {quoted(name)}" if name in retyped else quoted(name)
        for name in compared
    ) + f" FROM {ours}"
    [(their_count,)] = con.execute(f"SELECT count(*) FROM {theirs}").fetchall()
    [(our_count,)] = con.execute(f"SELECT count(*) FROM {ours}").fetchall()
    missing, extra = rows_only_in(con, theirs_rows, ours_rows), rows_only_in(con, ours_rows, theirs_rows)
    if missing or extra:
        doubles = [name for name in compared if their_types[name] in ("DOUBLE", "FLOAT")]
        if doubles:
            rounded = lambda rows: f"SELECT * REPLACE ({', '.join(f'round({quoted(n)}, 9) AS {quoted(n)}' for n in doubles)}) FROM ({rows})"  # noqa: E731
            if not rows_only_in(con, rounded(theirs_rows), rounded(ours_rows)) and not rows_only_in(
                con, rounded(ours_rows), rounded(theirs_rows)
            ):
                missing = extra = 0
                notes.append(f"{', '.join(doubles)} equal to 9 decimals")
    if (missing or extra) and kind == "profile" and not only_theirs and not only_ours:
        apart = max(abs(runs[1].finished - runs[0].started), abs(runs[0].finished - runs[1].started))
        explained = profile_explanations(con, theirs, ours, apart / 3600)
        if explained is not None:
            missing = extra = 0
            notes += explained
    if missing or extra:
        differences.append(
            f"{missing} of Seeknal's {their_count} rows not in ours, {extra} of our {our_count} rows not in Seeknal's"
        )
    if differences:
        return Verdict("differs", differences + notes)
    return Verdict("equal*" if notes else "equal", notes)


def profile_explanations(con: duckdb.DuckDBPyConnection, theirs: str, ours: str, gap_hours: float) -> list[str] | None:
    """Why two profiles differ when it is only the time each ran (freshness) and ties among top values; ``None``
    when something else differs."""
    query = "SELECT column_name, metric, value, detail FROM {}"
    their_rows = {(c, m): (v, d) for c, m, v, d in con.execute(query.format(theirs)).fetchall()}
    our_rows = {(c, m): (v, d) for c, m, v, d in con.execute(query.format(ours)).fetchall()}
    if their_rows.keys() != our_rows.keys():
        return None
    notes = set()
    for key, their_value in their_rows.items():
        our_value = our_rows[key]
        if our_value == their_value:
            continue
        if key[1] == "freshness_hours" and None not in (their_value[0], our_value[0]):
            if abs(float(their_value[0]) - float(our_value[0])) <= gap_hours + 1 / 3600:
                notes.add("freshness_hours measured at each run's time")
                continue
        if key[1] == "top_values" and their_value[0] == our_value[0] and ties_only(their_value[1], our_value[1]):
            notes.add("equally frequent top values in another order")
            continue
        return None
    return sorted(notes)


def ties_only(their_detail: str | None, our_detail: str | None) -> bool:
    """Whether two top-value lists differ only in the order of equal counts (and, for the least frequent of them,
    which of the tied values made the cut)."""
    if their_detail is None or our_detail is None:
        return False
    theirs, ours = json.loads(their_detail), json.loads(our_detail)
    if [(item["count"], item["percent"]) for item in theirs] != [(item["count"], item["percent"]) for item in ours]:
        return False
    groups = [
        ({item["value"] for item in their_group}, {item["value"] for item in ours if item["count"] == count})
        for count, their_group in ((count, list(group)) for count, group in groupby(theirs, key=lambda item: item["count"]))
    ]
    return all(their_values == our_values for their_values, our_values in groups[:-1])


# -- The table -------------------------------------------------------------------------------------------------


def node_outputs(node) -> list[str]:
    """Where Seeknal leaves a node's output(s), relative to the project."""
    kind, name = node.kind.value, node.name
    places = [f"target/intermediate/{kind}_{name}.parquet"]
    if kind in ("aggregation", "second_order_aggregation"):
        places.append(f"target/{kind}/{name}/result.parquet")
    path = node.spec.params.get("path") if kind == "exposure" else None
    if isinstance(path, str) and "{{" not in path:
        places.append(path)
    return places


def compare_node(node, copies: tuple[Path, Path], runs: tuple[Run, Run]) -> Verdict:
    """The node's outputs compared place by place; a file only ours writes (Seeknal writes none there) is noted,
    not held against it."""
    verdicts, extras = [], []
    for place in node_outputs(node):
        theirs, ours = (copy / place for copy in copies)
        label = place.removeprefix("target/")
        if theirs.exists() and ours.exists():
            verdicts.append((label, compare_files(theirs, ours, node.kind.value, runs)))
        elif theirs.exists():
            verdicts.append((label, Verdict("missing", ["ours has no file"])))
        elif ours.exists():
            extras.append(label)
    if not verdicts:
        return Verdict("only ours" if extras else "no output", [f"Seeknal wrote no {label}" for label in extras])
    rank = ["differs", "missing", "equal*", "equal"]
    worst = min((verdict.outcome for _, verdict in verdicts), key=rank.index)
    if len(verdicts) == 1:
        notes = verdicts[0][1].notes
    else:
        notes = [f"{label}: {verdict.describe()}" for label, verdict in verdicts]
    return Verdict(worst, notes + [f"ours also writes {label}" for label in extras])


def outcome_of(status: str) -> str:
    """A status without its details: success, passed, did not pass, failed, skipped, not run."""
    return status.split(":")[0].split(" (")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=DEFAULT_PROJECT, help="a Seeknal project directory or git repository")
    parser.add_argument("--seeknal-venv", type=Path, default=SEEKNAL_VENV, help="the venv holding the seeknal CLI")
    parser.add_argument("--keep", action="store_true", help="keep the copies and logs (their directory is printed)")
    args = parser.parse_args(argv)
    if not (args.seeknal_venv / "bin" / "seeknal").exists():
        print(f"no seeknal CLI in {args.seeknal_venv}: run `bash bench/setup_peers.sh` first", file=sys.stderr)
        return 2

    sys.path.insert(0, str(REPO))
    from seeknal_dagster.project.loader import load_project

    workdir = Path(tempfile.mkdtemp(prefix="parity_seeknal_"))
    try:
        copies = (workdir / "seeknal_run", workdir / "seeknal_dagster_run")
        for copy in copies:
            copy_project(args.project, copy)
        project = load_project(copies[1])
        print(f"project {project.name}: {len(project.nodes)} nodes ({args.project})")
        seeknal = run_seeknal(copies[0], args.seeknal_venv, workdir)
        print(f"seeknal run: exit {seeknal.returncode} in {seeknal.finished - seeknal.started:.1f} s")
        ours = run_ours(copies[1], workdir)
        print(f"dagster asset materialize: exit {ours.returncode} in {ours.finished - ours.started:.1f} s\n")

        rows = []
        for node_id in sorted(project.nodes, key=lambda node_id: (node_id.split(".")[0], node_id)):
            node = project.nodes[node_id]
            theirs, our_status = seeknal.statuses.get(node_id, "not run"), ours.statuses.get(node_id, "not run")
            verdict = compare_node(node, copies, (seeknal, ours))
            if verdict.outcome == "missing" and our_status == "not run":
                verdict = Verdict("not run", ["seeknal-dagster did not run it"])
            elif verdict.outcome == "no output":  # rules, semantic models: their outcome is the result
                same = outcome_of(theirs) == outcome_of(our_status)
                verdict = Verdict("same outcome" if same else "other outcome", [] if same else [f"{theirs} vs {our_status}"])
            rows.append((node_id + (" (py)" if node.is_python else ""), theirs, our_status, verdict))
        print_table(rows)
        if args.keep:
            print(f"\ncopies and logs kept in {workdir}")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def print_table(rows: list[tuple[str, str, str, Verdict]]) -> None:
    def cut(text: str, width: int) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    width = max(len(row[0]) for row in rows)
    print(f"{'node':<{width}}  {'seeknal run':<28}  {'seeknal-dagster':<28}  output")
    print(f"{'-' * width}  {'-' * 28}  {'-' * 28}  {'-' * 40}")
    for node, theirs, ours, verdict in rows:
        print(f"{node:<{width}}  {cut(theirs, 28):<28}  {cut(ours, 28):<28}  {verdict.describe()}")
    counts: dict[str, int] = {}
    for *_, verdict in rows:
        counts[verdict.outcome] = counts.get(verdict.outcome, 0) + 1
    print("\n" + ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items())))
    print("equal*: the same results but for the notes (run times, tie order, doubles to 9 decimals, NULL-typed columns)")
    print("same outcome: a node without an output file (a rule, a semantic model) ended the same way on both sides")


if __name__ == "__main__":
    sys.exit(main())
