#!/usr/bin/env python3
"""Definition-load benchmark: how long a 2,000-node project takes to become Dagster ``Definitions``.

Why: a Dagster code location re-imports its module on every deploy, reload and run worker start, so load time is
paid over and over, and it grows with the project. The peer to beat is dagster-dbt, which builds its assets from a
pre-parsed ``manifest.json``; ours reads the Seeknal YAML files directly. Target: ours <= 0.5 x dagster-dbt.

Both sides run in a fresh Python subprocess per measurement (nothing cached in memory), and time, from inside
that process:
  import    importing the integration (which imports dagster)
  build     constructing Definitions: ``build_definitions(dir)`` for ours (``ours-cold``: with no cached column
            plan, as on a first load; ``ours``: with it); ``@dbt_assets(manifest=...)`` +
            ``Definitions(...)`` for dagster-dbt (the manifest comes from ``dbt parse``, run once, untimed)
  resolve   ``defs.get_repository_def()``: Dagster resolving the asset graph and the implicit job, which a
            code location always does right after import
  snapshot  ``RepositorySnap.from_def(repo)``: the serialized snapshot a code server sends to the webserver
Before timing, ours' package is compiled to bytecode (``compileall``), as pip does when it installs a wheel and
as dagster-dbt's venv already is: an editable checkout with PYTHONDONTWRITEBYTECODE set (this machine's default)
would otherwise compile every module of ours from source in every measured process, ~0.3 s that no installed
copy pays.
The headline is import + build (what the brief calls "time to build Definitions"); the cumulative columns show
whether any work was merely deferred to the resolve/snapshot steps. Median of ``--repeat``. No asserts.

The synthetic project comes from the shared ``gen_synthetic.py`` (Seeknal and dbt twins of the same DAG).

usage: python bench/bench_load.py --nodes 2000 [--repeat 3] [--contenders ours ours-cold dagster-dbt] [--shared DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VENVS = BENCH / ".venvs"
SKIP_HINT = "skipped (run bench/setup_peers.sh)"
QUIET_ENV = {"DAGSTER_DISABLE_TELEMETRY": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
STAGES = ["import", "build", "resolve", "snapshot"]

# The measuring program; IMPORT and BUILD are filled in per contender. It prints one JSON line of stage times.
PROBE = """\
import json, time
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
{build}
t2 = time.perf_counter()
repo = defs.get_repository_def()
t3 = time.perf_counter()
from dagster._core.remote_representation.external_data import RepositorySnap
RepositorySnap.from_def(repo)
t4 = time.perf_counter()
n_assets = len(list(repo.asset_graph.get_all_asset_keys()))
print("PROBE " + json.dumps({{"import": t1 - t0, "build": t2 - t1, "resolve": t3 - t2, "snapshot": t4 - t3,
                             "assets": n_assets}}))
"""

OURS = dict(
    imports="from seeknal_dagster import build_definitions",
    build="defs = build_definitions({project!r})",
)

DAGSTER_DBT = dict(
    imports="from dagster import Definitions\nfrom dagster_dbt import DbtCliResource, dbt_assets",
    build="""\
@dbt_assets(manifest={manifest!r})
def synthetic_dbt(context, dbt: DbtCliResource):
    yield from dbt.cli(["build"], context=context).stream()
defs = Definitions(assets=[synthetic_dbt],
                   resources={{"dbt": DbtCliResource(project_dir={project!r}, profiles_dir={project!r})}})""",
)


def shared_dir(cli_value: str | None) -> Path:
    return Path(cli_value or os.environ.get("SEEKNAL_SHARED") or REPO.parent / "shared").resolve()


def env_for(venv_bin: Path | None) -> dict[str, str]:
    env = dict(os.environ, **QUIET_ENV)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    if venv_bin is not None:
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv_bin.parent)
    return env


def probe_once(python: Path, source: str, cwd: Path, env: dict[str, str], timeout: float) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.run([str(python), "-c", source], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    if proc.returncode != 0 or not lines:
        tail = "\n    ".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"exit {proc.returncode}\n    {tail}")
    stages = json.loads(lines[-1][len("PROBE "):])
    stages["process"] = wall  # the whole subprocess, interpreter start-up included
    return stages


def measure(name: str, python: Path, source: str, cwd: Path, env: dict[str, str], args) -> dict[str, float] | str:
    print(f"  {name:<12}", end="", flush=True)
    try:
        runs = [probe_once(python, source, cwd, env, args.timeout) for _ in range(args.repeat)]
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"FAILED: {exc}")
        return f"FAILED: {exc}"
    med = {k: statistics.median(r[k] for r in runs) for k in [*STAGES, "process"]}
    # cumulative figures come from the median of each run's own cumulative sum, not from summed medians
    for upto in range(1, len(STAGES) + 1):
        med["+".join(STAGES[:upto])] = statistics.median(sum(r[s] for s in STAGES[:upto]) for r in runs)
    med["assets"] = runs[-1]["assets"]
    print(f"import+build {med['import+build']:.2f} s ({int(med['assets'])} assets)")
    return med


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2000, help="nodes in the synthetic project (default 2000)")
    parser.add_argument("--rows", type=int, default=10, help="rows of generated data (irrelevant to loading)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per contender; median reported")
    parser.add_argument("--shared", help="shared/ dir with bench/gen_synthetic.py "
                                         "(default: $SEEKNAL_SHARED, else ../shared next to the repo)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep", action="store_true", help="keep the generated project")
    parser.add_argument("--contenders", nargs="+", choices=["ours", "ours-cold", "dagster-dbt"],
                        default=["ours", "ours-cold", "dagster-dbt"],
                        help="what to measure (default all; at 10,000 nodes ours-cold and dbt parse take minutes)")
    args = parser.parse_args()

    shared = shared_dir(args.shared)
    gen = shared / "bench" / "gen_synthetic.py"
    if not gen.exists():
        parser.error(f"{gen} not found: pass --shared or set SEEKNAL_SHARED")
    work = Path(tempfile.mkdtemp(prefix="seeknal_bench_load_"))
    try:
        subprocess.run([sys.executable, str(gen), str(work), "--nodes", str(args.nodes), "--rows", str(args.rows)],
                       check=True, stdout=subprocess.DEVNULL)
        sk_dir, dbt_dir = work / "seeknal", work / "dbt"
        print(f"{args.nodes}-node project in {work}; median of {args.repeat} fresh processes each")
        print("machine: %d cores, load average %.2f %.2f %.2f (other work on the machine skews all contenders)"
              % (os.cpu_count(), *os.getloadavg()))
        results: dict[str, dict[str, float] | str] = {}
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "seeknal_dagster")], check=True,
                       stdout=subprocess.DEVNULL)

        # Column schema and lineage are planned at load and cached per node in target/seeknal_dagster/: "cold"
        # plans every node (the first load, or a fresh checkout), "ours" reuses the cache (every later load).
        cache = sk_dir / "target" / "seeknal_dagster"
        cold = PROBE.format(imports=f"import shutil; shutil.rmtree({str(cache)!r}, ignore_errors=True)\n"
                                    + OURS["imports"], build=OURS["build"].format(project=str(sk_dir)))
        if "ours-cold" in args.contenders:
            results["ours-cold"] = measure("ours-cold", Path(sys.executable), cold, work, env_for(None), args)
        if "ours" in args.contenders:
            if "ours-cold" not in args.contenders:  # fill the caches first, untimed, as ours-cold would have
                probe_once(Path(sys.executable), cold, work, env_for(None), args.timeout)
            results["ours"] = measure("ours", Path(sys.executable),
                                      PROBE.format(imports=OURS["imports"],
                                                   build=OURS["build"].format(project=str(sk_dir))),
                                      work, env_for(None), args)

        dbt_bin = VENVS / "dbt" / "bin"
        if "dagster-dbt" not in args.contenders:
            pass
        elif (dbt_bin / "dbt").exists():
            env = env_for(dbt_bin)
            print(f"  {'dbt parse':<12}", end="", flush=True)
            start = time.perf_counter()
            parse = subprocess.run([str(dbt_bin / "dbt"), "parse", "--project-dir", str(dbt_dir),
                                    "--profiles-dir", str(dbt_dir)], cwd=dbt_dir, env=env,
                                   capture_output=True, text=True, timeout=args.timeout)
            parse_s = time.perf_counter() - start
            manifest = dbt_dir / "target" / "manifest.json"
            if parse.returncode != 0 or not manifest.exists():
                print("FAILED\n    " + "\n    ".join(parse.stdout.strip().splitlines()[-10:]))
                results["dagster-dbt"] = "FAILED: dbt parse"
            else:
                print(f"{parse_s:.2f} s (untimed prep: produces the {manifest.stat().st_size / 1e6:.1f} MB manifest)")
                build = DAGSTER_DBT["build"].format(manifest=str(manifest), project=str(dbt_dir))
                results["dagster-dbt"] = measure("dagster-dbt", dbt_bin / "python",
                                                 PROBE.format(imports=DAGSTER_DBT["imports"], build=build),
                                                 work, env, args)
        else:
            results["dagster-dbt"] = SKIP_HINT
            print(f"  {'dagster-dbt':<12}{SKIP_HINT}")

        columns = ["import", "build", "import+build", "import+build+resolve", "import+build+resolve+snapshot",
                   "process"]
        labels = ["import", "build", "import+build", "+resolve", "+snapshot", "process wall"]
        print(f"\nResults: seconds, {args.nodes} nodes, median of {args.repeat}")
        head = f"| {'contender':<11} | " + " | ".join(f"{label:>12}" for label in labels) + " |"
        print(head)
        print("|" + "|".join("-" * len(cell) for cell in head.split("|")[1:-1]) + "|")
        for name, res in results.items():
            if isinstance(res, dict):
                print(f"| {name:<11} | " + " | ".join(f"{res[c]:>12.2f}" for c in columns) + " |")
            else:
                print(f"| {name:<11} | {res}")
        ours, cold, peer = results.get("ours"), results.get("ours-cold"), results.get("dagster-dbt")
        if isinstance(cold, dict) and isinstance(peer, dict):
            ratios = " | ".join(f"{cold[c] / peer[c]:>11.2f}x" if peer[c] > 0 else f"{'n/a':>12}" for c in columns)
            print(f"| {'cold/dbt':<11} | {ratios} |")
        if isinstance(ours, dict) and isinstance(peer, dict):
            ratios = " | ".join(f"{ours[c] / peer[c]:>11.2f}x" if peer[c] > 0 else f"{'n/a':>12}" for c in columns)
            print(f"| {'ours/dbt':<11} | {ratios} |")
            headline = ours["import+build"] / peer["import+build"]
            verdict = "meets" if headline <= 0.5 else f"MISSES (by {headline / 0.5:.2f}x)"
            print(f"\nours/dagster-dbt, import + build: {headline:.2f}x  -> {verdict} the target of <= 0.5x")
            print("('import' includes `import dagster` on both sides; 'build' is the project-specific work)")
        else:
            print("\nratio ours/dagster-dbt: n/a")
        if isinstance(ours, dict) and args.nodes >= 10_000:
            verdict = "meets" if ours["import+build"] < 10 else "MISSES"
            print(f"ours, import + build at {args.nodes:,} nodes: {ours['import+build']:.2f} s -> {verdict} the target of < 10 s")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
