#!/usr/bin/env python3
"""Spark benchmark: bench_bigdata's pipeline with its five transforms on a loopback Spark cluster, against DuckDB.

Why: ``engine: spark`` exists to go past one machine, and costs a fixed price per run (reaching the cluster) and per
node (planning, a job per write, reading each input's footers). On one 2-core machine Spark cannot beat DuckDB;
what this measures is that price, and how the ratio falls as rows grow.

Contenders, each through the real CLI (``dagster asset materialize --select '*'``, fresh DAGSTER_HOME), on the same
cached CSV (bench_bigdata's generator):
  duckdb   the project as bench_bigdata writes it
  spark    the same project, the five transforms with ``engine: spark`` and their SQL in Spark's dialect (the
           source, a CSV, is read by DuckDB as always), ``spark_config={"spark.remote": <loopback Connect>}``
The cluster (Master, Worker with every core, Spark Connect) is started once, and warmed by one untimed run, before
any timing.

Fixed costs, from the same two contenders at --small-rows rows: per run = spark - duckdb wall with one Spark
transform; per node = (spark - duckdb with five Spark transforms - per run) / 4. Then one Spark node through Spark
Connect against classic ``local[1]`` (a JVM started inside the run).

usage: python bench/bench_spark.py [--rows 10000000 50000000] [--small-rows 1000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

import bench_bigdata  # noqa: E402
from tests.support.spark_cluster import start_cluster, stop_cluster  # noqa: E402

#: bench_bigdata's SQL in Spark's dialect: only what differs (day differences, and a named window's frame, which
#: Spark cannot extend) is rewritten.
SPARK_SQL = {
    "date_diff('day', lag(order_date) OVER w, order_date)": "datediff(order_date, lag(order_date) OVER w)",
    "sum(revenue) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)": (
        "sum(revenue) OVER (PARTITION BY customer_id ORDER BY ts, order_id "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    ),
    "date_diff('day', c.first_order, r.order_date)": "datediff(r.order_date, c.first_order)",
}


def make_spark(project: Path, spark_nodes: int) -> None:
    """The first ``spark_nodes`` transforms of ``project`` on Spark, in Spark SQL."""
    for name in list(bench_bigdata.TRANSFORMS)[:spark_nodes]:
        path = project / "seeknal" / "transforms" / f"{name}.yml"
        text = path.read_text()
        for duck, spark in SPARK_SQL.items():
            text = text.replace(duck, spark)
        path.write_text(text.replace("kind: transform\n", "kind: transform\nengine: spark\n", 1))


def run(project: Path, work: Path, spark_config: dict | None, label: str, repeat: int) -> float:
    """Median wall seconds of ``dagster asset materialize --select '*'`` over the project."""
    modules = work / f"modules_{label}"
    modules.mkdir(exist_ok=True)
    (modules / f"defs_{label}.py").write_text(
        "from seeknal_dagster import build_definitions\n"
        f"defs = build_definitions({str(project)!r}, spark_config={spark_config!r})\n"
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("SPARK_", "PYSPARK_"))}
    environment.update(bench_bigdata.QUIET_ENV, SPARK_LOCAL_IP="127.0.0.1")
    environment["PYTHONPATH"] = os.pathsep.join([str(BENCH.parent), environment.get("PYTHONPATH", "")])
    walls = []
    for attempt in range(repeat):
        shutil.rmtree(project / "target", ignore_errors=True)
        home = Path(tempfile.mkdtemp(prefix="dagster_home_", dir=work))
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", f"defs_{label}", "-d", str(modules),
                   "--select", "*"]
        wall, _, _ = bench_bigdata.run_measured(
            command, project, dict(environment, DAGSTER_HOME=str(home)), work / f"{label}{attempt}.log", 0.2, 7200
        )
        walls.append(wall)
    return statistics.median(walls)


def project_for(work: Path, rows: int, cache: Path, label: str, spark_nodes: int) -> Path:
    project = work / label
    bench_bigdata.write_project(project, bench_bigdata.cached_csv(cache, rows))
    make_spark(project, spark_nodes)
    return project


def same_outputs(first: Path, second: Path) -> bool:
    names = ["source_orders"] + [f"transform_{name}" for name in bench_bigdata.TRANSFORMS]
    import duckdb

    def count(project: Path, name: str) -> int:
        path = project / "target" / "intermediate" / f"{name}.parquet"
        scan = path / "*.parquet" if path.is_dir() else path
        return duckdb.sql(f"SELECT count(*) FROM read_parquet('{scan}')").fetchall()[0][0]

    return all(count(first, name) == count(second, name) for name in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000])
    parser.add_argument("--small-rows", type=int, default=1000, help="rows for the fixed-cost runs")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "seeknal-bench-cache")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="seeknal_bench_spark_"))
    print("machine: %d cores, load average %.2f %.2f %.2f" % (os.cpu_count(), *os.getloadavg()))
    cluster = start_cluster(worker_cores=os.cpu_count() or 2, connect_cores=None, memory="3g")
    connect = {"spark.remote": cluster.connect_url}
    classic = {"spark.master": "local[1]", "spark.ui.enabled": "false", "spark.driver.host": "127.0.0.1"}
    try:
        small = args.small_rows
        # Untimed: a fresh Connect server compiles and loads classes on its first queries; a deployed one is warm.
        run(project_for(work, small, args.cache_dir, "warm_up", 1), work, connect, "warm_up", 1)
        duck = run(project_for(work, small, args.cache_dir, "small_duckdb", 0), work, None, "small_duckdb", args.repeat)
        one = run(project_for(work, small, args.cache_dir, "small_one", 1), work, connect, "small_one", args.repeat)
        five = run(project_for(work, small, args.cache_dir, "small_five", 5), work, connect, "small_five", args.repeat)
        one_classic = run(project_for(work, small, args.cache_dir, "small_classic", 1), work, classic,
                          "small_classic", args.repeat)
        per_run = one - duck
        per_node = (five - duck - per_run) / 4
        print(f"\nFixed costs ({small:,} rows, median of {args.repeat}):")
        print(f"  all DuckDB {duck:.2f} s; one Spark transform {one:.2f} s; five {five:.2f} s")
        print(f"  per run (reaching the cluster, first job): {per_run:.2f} s; per further Spark node: {per_node:.2f} s")
        print(f"  one Spark node, Connect {one:.2f} s vs classic local[1] {one_classic:.2f} s "
              f"(classic - Connect: {one_classic - one:+.2f} s)")

        print("\n| rows | DuckDB | Spark (5 nodes on the cluster) | Spark/DuckDB | outputs equal |")
        print("|---|---|---|---|---|")
        for rows in args.rows:
            duck_project = project_for(work, rows, args.cache_dir, f"duckdb_{rows}", 0)
            spark_project = project_for(work, rows, args.cache_dir, f"spark_{rows}", 5)
            duck = run(duck_project, work, None, f"duckdb_{rows}", args.repeat)
            spark = run(spark_project, work, connect, f"spark_{rows}", args.repeat)
            equal = same_outputs(duck_project, spark_project)
            print(f"| {rows:,} | {duck:.2f} s | {spark:.2f} s | {spark / duck:.2f}x | {'yes' if equal else 'NO'} |",
                  flush=True)
            for project in (duck_project, spark_project):
                shutil.rmtree(project, ignore_errors=True)
    finally:
        stop_cluster(cluster)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
