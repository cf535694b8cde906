#!/usr/bin/env python3
"""Where does ours spend its time? A sampling profile of loading or running a synthetic project.

Why: the benchmarks say *how much* slower or faster ours is; when a target is missed, this says *where* the time
goes, precisely enough to act on (function, file, share of wall time). It samples with py-spy when
bench/.venvs/tools has it (``python -m venv bench/.venvs/tools && bench/.venvs/tools/bin/pip install py-spy``):
sampling barely slows the program, unlike cProfile, which inflates call-heavy code. Without py-spy it falls back
to cProfile (shares are then of profiled time, and call-heavy functions look worse than they are).

  load  import seeknal_dagster, build_definitions(project), defs.get_repository_def()
  run   build the Definitions (not profiled), then materialize every asset in process:
        defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=<sqlite instance in a temp dir>),
        the same work ``dagster asset materialize --select '*'`` does, minus the CLI's own start-up

Prints the wall time of the profiled phase, the functions with the largest inclusive share (time with the function
on the stack) and the largest self share (time in the function's own code). Line numbers are dropped, so a
function's samples add up across its lines.

usage: python bench/profile_ours.py load --nodes 2000
       python bench/profile_ours.py run --nodes 500 --rows 1000
       python bench/profile_ours.py run --project DIR      (an existing Seeknal project instead of a generated one)
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PY_SPY = BENCH / ".venvs" / "tools" / "bin" / "py-spy"

PROBE = r'''
import os, sys, tempfile, time
mode, project = sys.argv[1], sys.argv[2]
profiler = None
if os.environ.get("BENCH_CPROFILE"):
    import cProfile
    profiler = cProfile.Profile()

def profiled(fn):
    if profiler is None:
        return fn()
    profiler.enable()
    try:
        return fn()
    finally:
        profiler.disable()

def load():
    from seeknal_dagster import build_definitions
    defs = build_definitions(project)
    defs.get_repository_def()
    return defs

if mode == "load":
    start = time.perf_counter()
    profiled(load)
    print(f"PHASE load {time.perf_counter() - start:.3f}")
else:
    from dagster import DagsterInstance
    defs = load()
    job = defs.resolve_implicit_global_asset_job_def()
    with tempfile.TemporaryDirectory() as home:
        with DagsterInstance.local_temp(home) as instance:
            start = time.perf_counter()
            result = profiled(lambda: job.execute_in_process(instance=instance, raise_on_error=False))
            print(f"PHASE run {time.perf_counter() - start:.3f} success={result.success}")
if profiler is not None:
    profiler.dump_stats(os.environ["BENCH_CPROFILE"])
'''


def frame_name(frame: str) -> str:
    """'func (path/file.py:123)' -> 'func (path/file.py)'."""
    return re.sub(r":\d+\)$", ")", frame)


def report_folded(folded: Path, top: int, phase_marker: str) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [frame_name(f) for f in stack.split(";")]
        if not any(phase_marker in f for f in frames):
            continue  # outside the profiled phase (interpreter start-up, or the unprofiled build in `run`)
        n = int(count)
        total += n
        for f in set(frames):
            inclusive[f] += n
        self_time[frames[-1]] += n
    if not total:
        print("no samples in the profiled phase")
        return
    print(f"\n{total} samples in the profiled phase\n\ninclusive share (function on the stack):")
    for f, n in inclusive.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {f}")
    print("\ninclusive share, seeknal_dagster functions only:")
    ours = [(f, n) for f, n in inclusive.most_common() if "(seeknal_dagster/" in f]
    for f, n in ours[:top]:
        print(f"  {100 * n / total:5.1f}%  {f}")
    print("\nself share (the function's own code; native DuckDB work shows under its Python caller):")
    for f, n in self_time.most_common(top):
        print(f"  {100 * n / total:5.1f}%  {f}")
    by_package: collections.Counter[str] = collections.Counter()
    for f, n in self_time.items():
        where = f[f.rfind("(") + 1:-1]
        by_package[where.split("/")[0] if "/" in where else where.split(".")[0]] += n
    print("\nself share by top-level package:")
    for pkg, n in by_package.most_common(12):
        print(f"  {100 * n / total:5.1f}%  {pkg}")


def report_cprofile(stats_file: Path, top: int) -> None:
    import pstats

    stats = pstats.Stats(str(stats_file))
    print("\ncProfile, by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)
    print("cProfile, by own time:")
    stats.sort_stats("tottime").print_stats(top)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["load", "run"])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--project", type=Path, help="profile this Seeknal project instead of a generated one")
    parser.add_argument("--shared", help="shared/ dir with bench/gen_synthetic.py "
                                         "(default: $SEEKNAL_SHARED, else ../shared next to the repo)")
    parser.add_argument("--top", type=int, default=25, help="functions listed per table")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--cprofile", action="store_true", help="use cProfile even when py-spy is available")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="seeknal_profile_"))
    try:
        if args.project:
            project = args.project.resolve()
        else:
            shared = Path(args.shared or os.environ.get("SEEKNAL_SHARED") or REPO.parent / "shared").resolve()
            gen = shared / "bench" / "gen_synthetic.py"
            if not gen.exists():
                parser.error(f"{gen} not found: pass --shared or set SEEKNAL_SHARED")
            subprocess.run([sys.executable, str(gen), str(work / "gen"), "--nodes", str(args.nodes),
                            "--rows", str(args.rows)], check=True, stdout=subprocess.DEVNULL)
            project = work / "gen" / "seeknal"
        probe = work / "probe.py"
        probe.write_text(PROBE)
        env = dict(os.environ, DAGSTER_DISABLE_TELEMETRY="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
        cmd = [sys.executable, str(probe), args.mode, str(project)]
        print(f"profiling `{args.mode}` of {project}")
        if PY_SPY.exists() and not args.cprofile:
            folded = work / "profile.folded"
            proc = subprocess.run([str(PY_SPY), "record", "--rate", str(args.rate), "--format", "raw",
                                   "--output", str(folded), "--", *cmd], cwd=project, env=env,
                                  capture_output=True, text=True)
            print("\n".join(line for line in proc.stdout.splitlines() if line.startswith("PHASE")))
            if proc.returncode != 0 or not folded.exists():
                print(proc.stdout[-3000:], proc.stderr[-3000:])
                return 1
            marker = "load (probe.py)" if args.mode == "load" else "<lambda> (probe.py)"
            report_folded(folded, args.top, marker)
        else:
            if not args.cprofile:
                print("(py-spy not found in bench/.venvs/tools: falling back to cProfile)")
            stats = work / "profile.pstats"
            proc = subprocess.run(cmd, cwd=project, env=dict(env, BENCH_CPROFILE=str(stats)),
                                  capture_output=True, text=True)
            print("\n".join(line for line in proc.stdout.splitlines() if line.startswith("PHASE")))
            if proc.returncode != 0:
                print(proc.stdout[-3000:], proc.stderr[-3000:])
                return 1
            report_cprofile(stats, args.top)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
