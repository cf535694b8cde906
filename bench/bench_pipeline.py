#!/usr/bin/env python3
"""End-to-end pipeline benchmark: seeknal-dagster against its floors and its peers, side by side.

Why: a Dagster integration is only worth having if running a project through it costs little more than what
Dagster itself costs, and compares well with the tools a user would otherwise pick. Absolute seconds mean little
on a shared 2-core machine, so every contender runs in the same invocation, on the same generated project, and
the script prints ratios against baselines measured moments before. Nothing here asserts on time.

For each ``--nodes`` value the shared generator (``gen_synthetic.py``) writes one layered pipeline three ways:
a Seeknal YAML project, a dbt project and a plain-DuckDB script. Contenders (wall clock of the whole command,
each Dagster run with its own fresh DAGSTER_HOME, median of ``--repeat``):

  ours         dagster asset materialize --select '*' on a module holding ``build_definitions(<seeknal dir>)``
  floor        the same CLI on a do-nothing subsettable multi_asset with the same N keys and the same edges,
               and the same executor as ours' Definitions: what Dagster alone costs for a run of N assets
  raw          python raw.py: the same SQL chain in one DuckDB connection (no orchestration at all)
  seeknal      seeknal run --full (the Seeknal 2.13 CLI from bench/.venvs/seeknal)
  dagster-dbt  dagster asset materialize --select '*' on @dbt_assets over the dbt twin (bench/.venvs/dbt);
               ``dbt parse`` runs first, untimed, to produce the manifest (a deploy-time step)

Peers are skipped, not fatal, when their venv is missing (create them with bench/setup_peers.sh).
After the runs, ours' outputs are checked against raw.py's: every ``target/intermediate/transform_t<i>.parquet``
must exist with the row count of ``target/raw/t<i>.parquet`` (a content checksum is compared too).

usage: python bench/bench_pipeline.py --nodes 50 500 --rows 1000 [--repeat 3] [--shared DIR] [--keep]
       python bench/bench_pipeline.py --nodes 500 --contenders none      (ours, floor and raw.py only)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENVS = BENCH / ".venvs"
SKIP_HINT = "skipped (run bench/setup_peers.sh)"
PEERS = ["seeknal", "dagster-dbt", "none"]
NOT_CHOSEN = "skipped (not in --contenders)"
QUIET_ENV = {  # no usage pings from the peers: the machine is offline and a blocked ping only adds noise
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DO_NOT_TRACK": "1",
}


# ----------------------------------------------------------------------------------------------------------------
# helpers


def shared_dir(cli_value: str | None) -> Path:
    """--shared, else $SEEKNAL_SHARED, else ../shared next to the repository root."""
    return Path(cli_value or os.environ.get("SEEKNAL_SHARED") or REPO.parent / "shared").resolve()


def base_env(extra_path: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, **QUIET_ENV)
    # the package under test must import even before it is pip-installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    if extra_path is not None:  # like an activated venv: its console scripts (dbt) come first on PATH
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(extra_path.parent)
    return env


def fresh_dagster_home(scratch: Path) -> Path:
    home = Path(tempfile.mkdtemp(prefix="dagster_home_", dir=scratch))
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return home


class RunFailed(Exception):
    pass


def run_timed(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float, log: Path) -> tuple[float, float]:
    """Run ``cmd`` to completion, return its (wall-clock, CPU) seconds; raise RunFailed (with the log tail) on
    failure. CPU is user + system time of the command and its children: what other work on a shared machine
    inflates least, so it shows a change's effect where wall clock is noise."""
    with open(log, "wb") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RunFailed(f"timed out after {timeout:.0f}s; log: {log}")
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise RunFailed(f"exit {proc.returncode}; log: {log}\n    " + "\n    ".join(tail))
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(repeat: int, once) -> tuple[float, float]:
    """The run with the median wall-clock time, as (wall, CPU) seconds."""
    runs = sorted(once(i) for i in range(repeat))
    return runs[(len(runs) - 1) // 2]


def project_graph(seeknal_dir: Path) -> list[tuple[tuple[str, str], list[tuple[str, str]]]]:
    """(kind, name) -> upstream keys for every YAML node, in a topological order (Kahn, ties by file order)."""
    nodes: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for path in sorted((seeknal_dir / "seeknal").rglob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        ups = [tuple(item["ref"].split(".", 1)) for item in doc.get("inputs") or []]
        nodes[(doc["kind"], doc["name"])] = ups
    order, done = [], set()
    while len(order) < len(nodes):
        ready = [k for k, ups in nodes.items() if k not in done and all(u in done for u in ups)]
        if not ready:
            raise SystemExit(f"cycle or dangling ref in {seeknal_dir}")
        for key in ready:
            order.append((key, nodes[key]))
            done.add(key)
    return order


# ----------------------------------------------------------------------------------------------------------------
# Dagster modules (each one a tiny file, loaded with -m by the dagster CLI)

OURS_MODULE = """\
from seeknal_dagster import build_definitions

defs = build_definitions({project!r})
"""

FLOOR_MODULE = """\
# Dagster's floor: the same asset keys and edges as the Seeknal project, one subsettable multi_asset whose body
# does no work at all besides reporting each selected key as materialized, in topological order. It runs with the
# same executor as ours' Definitions ({executor!r}; None = Dagster's default), so only the work differs.
import json

from dagster import (AssetKey, AssetSpec, Definitions, MaterializeResult, in_process_executor, multi_asset,
                     multiprocess_executor)

EXECUTOR = {{"in_process": in_process_executor, "multiprocess": multiprocess_executor}}.get({executor!r})

with open({graph!r}) as handle:
    GRAPH = json.load(handle)  # [[[kind, name], [[kind, name], ...]], ...] in topological order

ORDER = [AssetKey(key) for key, _ in GRAPH]
SPECS = [AssetSpec(AssetKey(key), deps=[AssetKey(up) for up in ups], skippable=True) for key, ups in GRAPH]


@multi_asset(specs=SPECS, can_subset=True, name="floor")
def floor(context):
    selected = context.selected_asset_keys
    for key in ORDER:
        if key in selected:
            yield MaterializeResult(asset_key=key)


defs = Definitions(assets=[floor], executor=EXECUTOR)
"""

DBT_MODULE = """\
from pathlib import Path

from dagster import AssetExecutionContext, Definitions
from dagster_dbt import DbtCliResource, dbt_assets

PROJECT = Path({project!r})


@dbt_assets(manifest=PROJECT / "target" / "manifest.json")
def synthetic_dbt(context: AssetExecutionContext, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()


defs = Definitions(
    assets=[synthetic_dbt],
    resources={{"dbt": DbtCliResource(project_dir=str(PROJECT), profiles_dir=str(PROJECT))}},
)
"""


def ours_executor(sk_dir: Path, log: Path) -> str | None:
    """The name of the executor ours' Definitions set (e.g. 'in_process'), or None for Dagster's default."""
    probe = ("from seeknal_dagster import build_definitions\n"
             f"ex = build_definitions({str(sk_dir)!r}).executor\n"
             "print('EXECUTOR', getattr(ex, 'name', None) if ex is not None else None)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=sk_dir, env=base_env(), capture_output=True, text=True)
    log.write_text(proc.stdout + proc.stderr)
    names = [line.split(" ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("EXECUTOR ")]
    return None if not names or names[-1] == "None" else names[-1]


def write_module(directory: Path, name: str, source: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(source)
    return name


def dagster_materialize(python: Path, module_dir: Path, module: str) -> list[str]:
    return [str(python), "-m", "dagster", "asset", "materialize", "-m", module, "-d", str(module_dir),
            "--select", "*"]


# ----------------------------------------------------------------------------------------------------------------
# contenders


def bench_one(n: int, args, shared: Path, scratch_root: Path) -> dict[str, object]:
    work = scratch_root / f"n{n}"
    gen = shared / "bench" / "gen_synthetic.py"
    subprocess.run([sys.executable, str(gen), str(work), "--nodes", str(n), "--rows", str(args.rows)],
                   check=True, stdout=subprocess.DEVNULL)
    sk_dir, dbt_dir, logs = work / "seeknal", work / "dbt", work / "logs"
    logs.mkdir()
    mods = work / "modules"
    results: dict[str, object] = {}
    timeout = args.timeout

    def attempt(name: str, once) -> None:
        print(f"  {name:<12}", end="", flush=True)
        try:
            seconds, cpu = median_of(args.repeat, once)
        except RunFailed as exc:
            results[name] = f"FAILED: {exc}"
            print(f"FAILED\n    {exc}")
            return
        results[name], results[f"{name} cpu"] = seconds, cpu
        print(f"{seconds:8.2f} s  (CPU {cpu:.2f} s)")

    # raw: the same SQL in one DuckDB connection; its outputs are the reference for the output check
    def raw_once(i: int) -> float:
        shutil.rmtree(sk_dir / "target" / "raw", ignore_errors=True)
        return run_timed([sys.executable, str(work / "raw.py")], sk_dir, base_env(), timeout, logs / f"raw{i}.log")

    # ours
    ours_mod = write_module(mods, "bench_ours_defs", OURS_MODULE.format(project=str(sk_dir)))

    def ours_once(i: int) -> float:
        shutil.rmtree(sk_dir / "target" / "intermediate", ignore_errors=True)
        env = base_env()
        env["DAGSTER_HOME"] = str(fresh_dagster_home(work))
        return run_timed(dagster_materialize(Path(sys.executable), mods, ours_mod), sk_dir, env, timeout,
                         logs / f"ours{i}.log")

    # floor
    graph_file = work / "graph.json"
    graph_file.write_text(json.dumps([[list(k), [list(u) for u in ups]] for k, ups in project_graph(sk_dir)]))
    executor = ours_executor(sk_dir, logs / "ours_executor.log")
    print(f"  (ours' executor: {executor or 'Dagster default'}; the floor uses the same)")
    floor_mod = write_module(mods, "bench_floor_defs", FLOOR_MODULE.format(graph=str(graph_file), executor=executor))

    def floor_once(i: int) -> float:
        env = base_env()
        env["DAGSTER_HOME"] = str(fresh_dagster_home(work))
        return run_timed(dagster_materialize(Path(sys.executable), mods, floor_mod), work, env, timeout,
                         logs / f"floor{i}.log")

    attempt("ours", ours_once)
    check_outputs(sk_dir, n)  # before anyone else writes into the project directory
    attempt("floor", floor_once)
    attempt("raw", raw_once)  # always: its outputs are what ours' are checked against
    mismatches = verify_outputs(sk_dir, n)
    results["mismatches"] = mismatches

    # seeknal run, on a copy of the project so its target/ never mixes with ours
    seeknal_bin = VENVS / "seeknal" / "bin" / "seeknal"
    if "seeknal" not in args.contenders:
        results["seeknal"] = NOT_CHOSEN
    elif seeknal_bin.exists():
        sk_copy = work / "seeknal_peer"
        shutil.copytree(sk_dir, sk_copy, ignore=shutil.ignore_patterns("target"))

        def seeknal_once(i: int) -> float:
            shutil.rmtree(sk_copy / "target", ignore_errors=True)
            env = base_env(seeknal_bin.parent)
            env["SEEKNAL_BASE_CONFIG_PATH"] = str(work / f"seeknal_home{i}")  # keep ~/.seeknal untouched
            return run_timed([str(seeknal_bin), "run", "--full"], sk_copy, env, timeout, logs / f"seeknal{i}.log")

        attempt("seeknal", seeknal_once)
    else:
        results["seeknal"] = SKIP_HINT
        print(f"  {'seeknal':<12}{SKIP_HINT}")

    # dagster-dbt
    dbt_bin = VENVS / "dbt" / "bin"
    if "dagster-dbt" not in args.contenders:
        results["dagster-dbt"] = NOT_CHOSEN
    elif (dbt_bin / "dbt").exists() and (dbt_bin / "dagster").exists():
        env = base_env(dbt_bin)
        try:
            parse_s, _ = run_timed([str(dbt_bin / "dbt"), "parse", "--project-dir", str(dbt_dir), "--profiles-dir",
                                 str(dbt_dir)], dbt_dir, env, timeout, logs / "dbt_parse.log")
            results["dbt parse (untimed prep)"] = parse_s
        except RunFailed as exc:
            results["dagster-dbt"] = f"FAILED: dbt parse: {exc}"
            print(f"  dagster-dbt FAILED in dbt parse\n    {exc}")
        else:
            dbt_mod = write_module(mods, "bench_dbt_defs", DBT_MODULE.format(project=str(dbt_dir)))

            def dbt_once(i: int) -> float:
                (dbt_dir / "target" / "synthetic.duckdb").unlink(missing_ok=True)
                run_env = dict(env, DAGSTER_HOME=str(fresh_dagster_home(work)))
                return run_timed(dagster_materialize(dbt_bin / "python", mods, dbt_mod), dbt_dir, run_env, timeout,
                                 logs / f"dagster_dbt{i}.log")

            attempt("dagster-dbt", dbt_once)
    else:
        results["dagster-dbt"] = SKIP_HINT
        print(f"  {'dagster-dbt':<12}{SKIP_HINT}")
    return results


# ----------------------------------------------------------------------------------------------------------------
# output check


def check_outputs(sk_dir: Path, n: int) -> None:
    """Snapshot ours' outputs right after its run (raw.py has not written yet; names do not collide anyway)."""
    inter = sk_dir / "target" / "intermediate"
    missing = [f"transform_t{i}.parquet" for i in range(1, n) if not (inter / f"transform_t{i}.parquet").exists()]
    if missing:
        print(f"  !! ours left {len(missing)} of {n - 1} transform outputs missing, e.g. {missing[:3]}")


def _digest_query(con, path: Path) -> tuple[int, int]:
    """Row count and an order-independent checksum of the rows' values (each value rendered as text)."""
    cols = [r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()]
    row_text = " || '|' || ".join(f"coalesce(CAST(\"{c}\" AS VARCHAR), '∅')" for c in cols)
    return con.execute(f"SELECT count(*), coalesce(bit_xor(hash({row_text})), 0) FROM read_parquet(?)",
                       [str(path)]).fetchone()


def verify_outputs(sk_dir: Path, n: int) -> list[str]:
    import duckdb

    con = duckdb.connect()
    inter, raw = sk_dir / "target" / "intermediate", sk_dir / "target" / "raw"
    problems: list[str] = []
    pairs = [("source_orders.parquet", "orders.parquet")] + [
        (f"transform_t{i}.parquet", f"t{i}.parquet") for i in range(1, n)]
    content_diffs = 0
    for ours_name, raw_name in pairs:
        mine, ref = inter / ours_name, raw / raw_name
        if not ref.exists():
            problems.append(f"raw.py did not write {raw_name}")
            continue
        if not mine.exists():
            problems.append(f"ours did not write {ours_name}")
            continue
        (my_rows, my_sum), (ref_rows, ref_sum) = _digest_query(con, mine), _digest_query(con, ref)
        if my_rows != ref_rows:
            problems.append(f"{ours_name}: {my_rows} rows, raw.py has {ref_rows}")
        elif my_sum != ref_sum:
            content_diffs += 1
            if content_diffs <= 3:
                problems.append(f"{ours_name}: same row count ({my_rows}) but different values than raw.py")
    if content_diffs > 3:
        problems.append(f"... {content_diffs} outputs differ in content in all")
    if problems:
        bar = "!" * 78
        print(f"  {bar}\n  OUTPUT MISMATCH between ours and raw.py ({len(problems)} problem(s)):")
        for p in problems[:20]:
            print(f"    - {p}")
        print(f"  {bar}")
    else:
        print(f"  outputs: all {len(pairs)} node outputs match raw.py (row counts and content)")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# report


def fmt_seconds(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else ("skipped" if "skipped" in str(value) else "FAILED")


def ratio(a: object, b: object) -> str:
    return f"{a / b:.2f}x" if isinstance(a, float) and isinstance(b, float) and b > 0 else "n/a"


def print_table(all_results: dict[int, dict[str, object]], rows: int, repeat: int) -> None:
    contenders = ["ours", "floor", "dagster-dbt", "seeknal", "raw"]
    print(f"\nResults: wall seconds, median of {repeat}, {rows} rows")
    head = f"| {'nodes':>5} | " + " | ".join(f"{c:>11}" for c in contenders) + \
        " | ours/floor | ours/dagster-dbt | ours/seeknal | ours/raw | outputs |"
    print(head)
    print("|" + "|".join("-" * len(cell) for cell in head.split("|")[1:-1]) + "|")
    for n, res in all_results.items():
        cells = " | ".join(f"{fmt_seconds(res.get(c)):>11}" for c in contenders)
        ours = res.get("ours")
        outputs = "ok" if not res.get("mismatches") else f"{len(res['mismatches'])} MISMATCH"
        print(f"| {n:>5} | {cells} | {ratio(ours, res.get('floor')):>10} | {ratio(ours, res.get('dagster-dbt')):>16} "
              f"| {ratio(ours, res.get('seeknal')):>12} | {ratio(ours, res.get('raw')):>8} | {outputs:>7} |")
    for n, res in all_results.items():
        if isinstance(res.get("ours cpu"), float) and isinstance(res.get("floor cpu"), float):
            print(f"(N={n}: CPU seconds, user + system: ours {res['ours cpu']:.2f}, floor {res['floor cpu']:.2f}, "
                  f"ours/floor {ratio(res['ours cpu'], res['floor cpu'])})")
        if isinstance(res.get("dbt parse (untimed prep)"), float):
            print(f"(N={n}: dbt parse, run before dagster-dbt and not counted, took {res['dbt parse (untimed prep)']:.2f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[50, 500], help="pipeline sizes (default 50 500)")
    parser.add_argument("--rows", type=int, default=1000, help="rows in the generated orders.csv (default 1000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; the median is reported")
    parser.add_argument("--shared", help="the shared/ directory holding bench/gen_synthetic.py "
                                         "(default: $SEEKNAL_SHARED, else ../shared next to the repo)")
    parser.add_argument("--contenders", nargs="+", choices=PEERS, default=PEERS,
                        help="peers to run besides ours, the floor and raw.py (default: all); "
                             "--contenders none while iterating on ours/floor")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before one run counts as failed")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects and logs")
    args = parser.parse_args()

    shared = shared_dir(args.shared)
    if not (shared / "bench" / "gen_synthetic.py").exists():
        parser.error(f"{shared}/bench/gen_synthetic.py not found: pass --shared or set SEEKNAL_SHARED")
    scratch = Path(tempfile.mkdtemp(prefix="seeknal_bench_pipeline_"))
    print(f"scratch: {scratch}{' (kept)' if args.keep else ''}")
    print("machine: %d cores, load average %.2f %.2f %.2f (other work on the machine skews all contenders)"
          % (os.cpu_count(), *os.getloadavg()))
    all_results: dict[int, dict[str, object]] = {}
    try:
        for n in args.nodes:
            print(f"\nN={n} nodes, {args.rows} rows")
            all_results[n] = bench_one(n, args, shared, scratch)
        print_table(all_results, args.rows, args.repeat)
        print("load average at the end: %.2f %.2f %.2f" % os.getloadavg())
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 1 if any(r.get("mismatches") for r in all_results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
