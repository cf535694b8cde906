#!/usr/bin/env python3
"""Online lookup benchmark: ``get_online_features`` against raw ``sqlite3`` point queries on the same file.

Why: a model server calls the online store once per request, so what matters is the latency of one single-key
read. Ours resolves the feature group, reuses a per-thread connection, converts stored values back to Python types
(timestamps, dates, booleans) and returns a dict; the baseline is the bare prepared ``SELECT * … WHERE key = ?`` a
service would hand-write against the same SQLite file, returning a tuple. This shows what the API adds per read.

Setup (untimed): a throwaway project whose feature group ``profile`` (--entities customers, one row each with an
event time and five features) is materialized with ``online: true`` into ``target/feature_store/online.db``.
Then, in one process, after a warm-up of 1,000 reads each, --reads single-key reads of random existing keys,
alternating contenders in blocks of 1,000 so both see the same cache and CPU state. Reported: median and p99 of
the per-read latency (``perf_counter_ns`` around each call) and their ratios. Nothing asserts on time.

usage: python bench/bench_online.py [--entities 100000] [--reads 10000] [--keep]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

FEATURE_GROUP = "profile"
BLOCK = 1_000


def write_project(project: Path, entities: int) -> None:
    import duckdb

    (project / "data").mkdir(parents=True)
    duckdb.execute(f"""
        COPY (
            SELECT i AS customer_id,
                   TIMESTAMP '2025-01-01' + to_seconds(i) AS updated_at,
                   (i % 97) * 1.5 AS spend,
                   (i % 13)::BIGINT AS orders,
                   i % 3 = 0 AS is_vip,
                   DATE '2020-01-01' + (i % 1500)::INTEGER AS signup_date,
                   'segment_' || (i % 7) AS segment
            FROM range(1, {entities} + 1) AS t(i)
        ) TO '{project / "data/profiles.parquet"}' (FORMAT parquet)
    """)
    files = {
        "seeknal/sources/profiles.yml": "kind: source\nname: profiles\nsource: parquet\ntable: data/profiles.parquet\n",
        f"seeknal/feature_groups/{FEATURE_GROUP}.yml": f"""
            kind: feature_group
            name: {FEATURE_GROUP}
            entity: customer
            inputs: [{{ref: source.profiles}}]
            materialization: {{event_time_col: updated_at, online: true}}
        """,
    }
    for relative, text in files.items():
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def percentile(values: list[int], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    from seeknal_dagster.executors import ExecutionContext, get_executor
    from seeknal_dagster.featurestore import get_online_features
    from seeknal_dagster.project.loader import load_project

    workdir = Path(tempfile.mkdtemp(prefix="bench-online-"))
    project_dir = workdir / "project"
    write_project(project_dir, args.entities)
    project = load_project(project_dir)
    context = ExecutionContext.for_project(project)
    for node_id in ("source.profiles", f"feature_group.{FEATURE_GROUP}"):
        get_executor(project.nodes[node_id], context).run()
    database = project.target_dir / "feature_store" / "online.db"

    raw = sqlite3.connect(database)
    query = f'SELECT * FROM "{FEATURE_GROUP}" WHERE "customer_id" = ?'

    def ours(key: int) -> object:
        return get_online_features(project_dir, FEATURE_GROUP, [key])

    def baseline(key: int) -> object:
        return raw.execute(query, (key,)).fetchone()

    rng = random.Random(42)
    keys = [rng.randint(1, args.entities) for _ in range(args.reads)]
    contenders = {"raw sqlite3": baseline, "get_online_features": ours}
    if ours(keys[0])[0]["spend"] != baseline(keys[0])[2]:  # type: ignore[index]
        print("RESULTS DIFFER")
        return 1
    for read in contenders.values():
        for key in keys[:BLOCK]:
            read(key)
    latencies: dict[str, list[int]] = {name: [] for name in contenders}
    for start in range(0, len(keys), BLOCK):
        for name, read in contenders.items():
            for key in keys[start : start + BLOCK]:
                began = time.perf_counter_ns()
                read(key)
                latencies[name].append(time.perf_counter_ns() - began)

    print(f"{args.reads:,} single-key reads over {args.entities:,} keys in {database}")
    print("| contender | median µs | p99 µs |")
    print("|---|---|---|")
    summary = {}
    for name, values in latencies.items():
        summary[name] = (statistics.median(values) / 1000, percentile(values, 0.99) / 1000)
        print(f"| {name} | {summary[name][0]:.1f} | {summary[name][1]:.1f} |")
    ours_median, ours_p99 = summary["get_online_features"]
    raw_median, raw_p99 = summary["raw sqlite3"]
    print(f"\nratio ours / raw: median {ours_median / raw_median:.2f}, p99 {ours_p99 / raw_p99:.2f}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
