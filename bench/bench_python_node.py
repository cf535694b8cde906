#!/usr/bin/env python3
"""Python node benchmark: a pandas node over 1M rows, ours against the same computation in a plain Python script.

Why: a Seeknal Python node runs its function in a fresh interpreter of its own (so that a raise, a sys.exit, a hang
or a segfault fails that node alone). That isolation has a price per node: starting the process, the job file,
the runner, handing the input over as Parquet, writing the output atomically, reading its row count back. The
question is what that costs next to simply running the same pandas code as a script. Target: ours/script <= 1.2.

The node, written here into a temporary project over a generated orders Parquet (--rows rows):
  source.orders             parquet (order_id, customer_id, category, amount, qty, status, ts)
  transform.customer_summary  Python: complete orders, revenue = amount * qty, per customer order count,
                              revenue, first/last order, distinct categories, and a revenue rank
Contenders:
  script  ``python plain.py``: pd.read_parquet(the source's output) -> the same function -> to_parquet(index=False)
  ours    the node's executor (what a Dagster step calls for it), timed around ``run()``: the same function, called
          with ``ctx`` in its own process, ``ctx.ref`` reading the same Parquet, its output written atomically
Both start a Python interpreter and import pandas; the difference is the isolation's overhead. Dagster's own
per-run cost is not included (bench_pipeline.py measures that). Runs alternate; medians are reported. The outputs
are compared row for row. No asserts.

usage: python bench/bench_python_node.py [--rows 1000000] [--repeat 5] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET_RATIO = 1.2

SUMMARIZE = """\
def summarize(orders):
    done = orders[orders["status"] == "complete"].copy()
    done["revenue"] = done["amount"] * done["qty"]
    summary = (
        done.groupby("customer_id")
        .agg(
            orders=("order_id", "count"),
            revenue=("revenue", "sum"),
            first_order=("ts", "min"),
            last_order=("ts", "max"),
            categories=("category", "nunique"),
        )
        .reset_index()
    )
    summary["revenue_rank"] = summary["revenue"].rank(ascending=False, method="first").astype("int64")
    return summary
"""

NODE = f'''\
# /// script
# dependencies = ["pandas"]
# ///
from seeknal.pipeline import transform


{SUMMARIZE}

@transform(name="customer_summary", inputs=["source.orders"])
def customer_summary(ctx):
    return summarize(ctx.ref("source.orders"))
'''

SCRIPT = f'''\
import sys

import pandas as pd

{SUMMARIZE}

summarize(pd.read_parquet(sys.argv[1])).to_parquet(sys.argv[2], index=False)
'''

ORDERS_SQL = """\
COPY (
  SELECT i AS order_id,
         'c' || lpad(CAST(hash(i) % {customers} AS VARCHAR), 7, '0') AS customer_id,
         (['books', 'games', 'garden', 'music', 'tools', 'toys'])[1 + CAST(i % 6 AS INTEGER)] AS category,
         round(CAST(hash(i * 7) % 100000 AS DOUBLE) / 100.0, 2) AS amount,
         CAST(hash(i * 13) % 9 AS INTEGER) AS qty,
         CASE WHEN i % 17 = 0 THEN 'cancelled' WHEN i % 5 = 0 THEN 'pending' ELSE 'complete' END AS status,
         TIMESTAMP '2024-01-01 00:00:00' + to_seconds(CAST(hash(i * 31) % 31536000 AS BIGINT)) AS ts
  FROM range({rows}) t(i)
) TO '{path}' (FORMAT parquet)
"""


def write_project(project: Path, rows: int) -> None:
    import duckdb

    (project / "data").mkdir(parents=True)
    duckdb.connect().execute(ORDERS_SQL.format(rows=rows, customers=max(1, rows // 20), path=project / "data/orders.parquet"))
    (project / "seeknal/sources").mkdir(parents=True)
    (project / "seeknal/pipelines").mkdir(parents=True)
    (project / "seeknal/sources/orders.yml").write_text("kind: source\nname: orders\nsource: parquet\ntable: data/orders.parquet\n")
    (project / "seeknal/pipelines/customer_summary.py").write_text(NODE)
    (project / "plain.py").write_text(SCRIPT)


def same_rows(left: Path, right: Path) -> bool:
    import duckdb

    query = f"(SELECT * FROM '{left}' EXCEPT ALL SELECT * FROM '{right}') UNION ALL (SELECT * FROM '{right}' EXCEPT ALL SELECT * FROM '{left}')"
    return duckdb.sql(f"SELECT count(*) FROM ({query})").fetchall() == [(0,)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the orders input (default 1M)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per contender, alternating; medians reported")
    parser.add_argument("--keep", action="store_true", help="keep the project and outputs")
    args = parser.parse_args()

    from seeknal_dagster.executors import ExecutionContext, get_executor
    from seeknal_dagster.project import load_project

    work = Path(tempfile.mkdtemp(prefix="seeknal_bench_python_node_"))
    project_dir = work / "project"
    write_project(project_dir, args.rows)
    project = load_project(project_dir)
    context = ExecutionContext.for_project(project)
    get_executor(project.nodes["source.orders"], context).run()
    source_output = project.output_path("source.orders")
    node_output = project.output_path("transform.customer_summary")
    script_output = work / "script_output.parquet"
    print(f"project: {project_dir}  ({args.rows:,} rows in source.orders, {source_output.stat().st_size / 1e6:.0f} MB)")
    print("machine: %d cores, load average %.2f %.2f %.2f (other work on the machine skews both contenders)"
          % (os.cpu_count(), *os.getloadavg()))

    def ours() -> float:
        start = time.perf_counter()
        result = get_executor(project.nodes["transform.customer_summary"], context).run()
        elapsed = time.perf_counter() - start
        assert result.is_success(), result.error_message
        return elapsed

    def script() -> float:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "plain.py", str(source_output), str(script_output)],
            cwd=project_dir,
            check=True,
            start_new_session=True,  # as ours is: under Linux autogroup scheduling a session gets its own CPU share
        )
        return time.perf_counter() - start

    timings: dict[str, list[float]] = {"script": [], "ours": []}
    for attempt in range(args.repeat):
        for name, contender in (("script", script), ("ours", ours)):
            timings[name].append(contender())
        print(f"  run {attempt + 1}: script {timings['script'][-1]:.2f} s   ours {timings['ours'][-1]:.2f} s")
    context.close()

    matches = same_rows(node_output, script_output)
    rows = parquet_rows(node_output)
    median = {name: statistics.median(values) for name, values in timings.items()}
    ratio = median["ours"] / median["script"]
    print(f"\nResults: {args.rows:,} input rows -> {rows:,} output rows, median of {args.repeat}"
          f"  (outputs {'identical' if matches else 'DIFFER'})")
    print("| contender | wall s | overhead s |")
    print("|-----------|--------|------------|")
    print(f"| script    | {median['script']:6.2f} |            |")
    print(f"| ours      | {median['ours']:6.2f} | {median['ours'] - median['script']:10.2f} |")
    print(f"\nours/script wall: {ratio:.2f}x  -> {'meets' if ratio <= TARGET_RATIO else 'MISSES'} the target "
          f"{TARGET_RATIO}x")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if matches else 1


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


if __name__ == "__main__":
    sys.exit(main())
