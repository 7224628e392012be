"""Scale benchmark: a LocalCluster of 50 agent processes (one slot each) on this machine.

1. Start-up: ``LocalCluster(agents=50)`` until every agent is registered and ACTIVE.
2. Idle cost: over ``--idle`` seconds with no job, the JobManager's CPU (its whole process:
   heartbeats, the heartbeat monitor, retention) as a share of one core, and per heartbeat
   received; each agent's CPU share and memory (RSS, and USS: the pages no other process
   shares, what one more agent costs). Goal: JobManager < 5 % of a core.
3. A 1000-task job: 8 stages of 125 tasks (a chain of group-bys) on 50 slots, checked
   against DuckDB; its wall time, and the JobManager's and agents' CPU per task.
4. An operator with parallelism 128 (a group-by on 128 tasks after a 128-task source stage),
   checked against DuckDB.
5. Durable submission of a small job one at a time and in a burst of ``--burst`` (p50 and
   p99), every answer checked. Goal: burst p99 < 100 ms.

    python benchmarks/scale.py [--agents 50] [--burst 200] [--idle 20] [--only burst ...]

``--only`` runs the start-up and the parts named (``idle``, ``big``, ``wide``, ``burst``).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import sabot_lab as sl
from sabot_lab import col

TICKS = os.sysconf("SC_CLK_TCK")
PARTS = ("idle", "big", "wide", "burst")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds process ``pid`` used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """Resident and unique (private) memory of process ``pid`` in MB."""
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    kb = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+) kB", rollup, re.M)}
    return kb["Rss"] / 1024, (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def cpu_during(pids: Sequence[int], work: Callable[[], object]) -> tuple[float, list[float]]:
    """Run ``work``; return its wall seconds and the CPU seconds each of ``pids`` used."""
    before = [cpu_seconds(p) for p in pids]
    began = time.perf_counter()
    work()
    wall = time.perf_counter() - began
    return wall, [cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)]


def same_rows(got: pa.Table, want: pa.Table, keys: list[str], what: str) -> None:
    order = [(k, "ascending") for k in keys]
    if got.select(want.column_names).sort_by(order).to_pylist() != want.sort_by(order).to_pylist():
        raise SystemExit(f"{what}: the cluster disagrees with DuckDB")


def start(agents: int, workdir: Path) -> sl.LocalCluster:
    began = time.perf_counter()
    cluster = sl.LocalCluster(agents=agents, slots=1, workdir=workdir, startup_timeout=300)
    seconds = time.perf_counter() - began
    states = [a["state"] for a in cluster.agents()]
    if states.count("ACTIVE") != agents:
        raise SystemExit(f"{states.count('ACTIVE')} of {agents} agents are ACTIVE: {states}")
    print(f"start-up: LocalCluster(agents={agents}) {seconds:.1f} s, all {agents} ACTIVE")
    return cluster


def idle(cluster: sl.LocalCluster, seconds: float) -> None:
    jobmanager = cluster.jobmanager_process
    assert jobmanager is not None
    agents = [p.pid for p in cluster.agent_processes]
    wall, used = cpu_during([jobmanager.pid, *agents], lambda: time.sleep(seconds))
    beats = len(agents) * wall / cluster.heartbeat_interval
    share = used[0] / wall * 100
    print(
        f"idle JobManager: {share:.2f} % of a core for {len(agents)} agents' heartbeats "
        f"(goal < 5 %), {used[0] / beats * 1000:.2f} ms CPU per heartbeat "
        f"({beats / wall:.0f} heartbeats/s)"
    )
    agent_cpu = statistics.median(u / wall * 100 for u in used[1:])
    rss, uss = zip(*(memory_mb(p) for p in agents), strict=True)
    print(
        f"idle agent (median of {len(agents)}): {agent_cpu:.2f} % of a core, "
        f"RSS {statistics.median(rss):.0f} MB, USS {statistics.median(uss):.0f} MB; "
        f"JobManager RSS {memory_mb(jobmanager.pid)[0]:.0f} MB"
    )


def parquet_source(table: pa.Table, path: Path, row_groups: int) -> str:
    """Write ``table`` to ``path`` in ``row_groups`` row groups (what a source stage's
    tasks share out); return the path."""
    pq.write_table(table, path, row_group_size=max(1, table.num_rows // row_groups))
    return str(path)


def group_by_chain(path: str, stages: int) -> tuple[sl.Stream, str]:
    """A job of ``stages`` stages over the Parquet file ``path`` (a chain of group-bys, each
    on a coarser key), and the same query in DuckDB's SQL."""
    stream = sl.from_parquet(path)
    sql = f"SELECT k, x FROM '{path}'"
    for i in range(stages - 2):
        stream = stream.group_by("k").agg(x=col("x").sum()).with_columns(k=col("k") // 2)
        sql = f"SELECT k // 2 AS k, x FROM (SELECT k, SUM(x) AS x FROM ({sql}) GROUP BY k) s{i}"
    return stream.group_by("k").agg(
        x=col("x").sum()
    ), f"SELECT k, SUM(x) AS x FROM ({sql}) GROUP BY k"


def big_job(cluster: sl.LocalCluster, stages: int, partitions: int, rows: int) -> None:
    source = pa.table({"k": np.arange(rows), "x": np.arange(rows) % 1000})
    path = parquet_source(source, cluster.workdir / "chain.parquet", partitions)
    stream, sql = group_by_chain(path, stages)
    want = duckdb.sql(sql).to_arrow_table()
    pids = [p.pid for p in cluster.agent_processes]
    jobmanager = cluster.jobmanager_process
    assert jobmanager is not None
    box: dict[str, object] = {}

    def run() -> None:
        job = stream.submit(cluster, partitions=partitions)
        box["got"], box["job"] = job.result(timeout=1800), job

    wall, used = cpu_during([jobmanager.pid, *pids], run)
    job = box["job"]
    assert isinstance(job, sl.Job)
    got = box["got"]
    assert isinstance(got, pa.Table)
    same_rows(got.cast(want.schema), want, ["k"], f"the {stages}-stage job")
    tasks = len(job.tasks())
    print(
        f"{tasks}-task job ({stages} stages x {partitions}) on {len(pids)} slots: {wall:.1f} s; "
        f"JobManager {used[0] / tasks * 1000:.1f} ms CPU per task, agents "
        f"{sum(used[1:]) / tasks * 1000:.1f} ms CPU per task"
    )


def wide_operator(cluster: sl.LocalCluster, partitions: int, rows: int) -> None:
    source = pa.table({"k": np.arange(rows) % 5000, "x": np.arange(rows)})
    path = parquet_source(source, cluster.workdir / "wide.parquet", partitions)
    stream = sl.from_parquet(path).group_by("k").agg(total=col("x").sum(), n=sl.count())
    began = time.perf_counter()
    job = stream.submit(cluster, partitions=partitions)
    got = job.result(timeout=1800)
    wall = time.perf_counter() - began
    sql = f"SELECT k, SUM(x) AS total, COUNT(*) AS n FROM '{path}' GROUP BY k"
    want = duckdb.sql(sql)
    want_table = want.to_arrow_table()
    same_rows(got.cast(want_table.schema), want_table, ["k"], "the parallelism job")
    tasks = job.tasks()
    stages = Counter(t["stage"] for t in tasks)
    print(
        f"group-by with parallelism {partitions}: {len(tasks)} tasks (by stage: "
        f"{dict(sorted(stages.items()))}), {wall:.1f} s"
    )


def submissions(cluster: sl.LocalCluster, burst: int) -> None:
    stream = sl.from_pydict({"x": list(range(100))}).filter(col("x") > 50)

    def submit() -> tuple[sl.Job, float]:
        began = time.perf_counter()
        job = stream.submit(cluster)
        return job, (time.perf_counter() - began) * 1000

    def check(job: sl.Job) -> None:
        if job.result(timeout=600).num_rows != 49:
            raise SystemExit(f"job {job.job_id} returned the wrong rows")

    serial = []
    for _ in range(20):
        serial.append(submit())
        check(serial[-1][0])
    runs = [submit() for _ in range(burst)]
    for job, _ in runs:
        check(job)
    tasks = len(serial[0][0].tasks())
    for label, timed in (("one at a time", serial), (f"burst of {burst}", runs)):
        ms = [m for _, m in timed]
        print(
            f"durable submit ({label}, jobs of {tasks} tasks): p50 {statistics.median(ms):.1f} "
            f"ms, p99 {percentile(ms, 99):.1f} ms (goal: burst p99 < 100 ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    parser.add_argument("--stages", type=int, default=8)
    parser.add_argument("--partitions", type=int, default=125)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=PARTS, help="parts to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sabot-bench-scale-") as tmp:
        cluster = start(args.agents, Path(tmp) / "cluster")
        try:
            parts: dict[str, Callable[[], object]] = {
                "idle": lambda: idle(cluster, args.idle),
                "big": lambda: big_job(cluster, args.stages, args.partitions, args.rows),
                "wide": lambda: wide_operator(cluster, 128, args.rows),
                "burst": lambda: submissions(cluster, args.burst),
            }
            for part in PARTS:
                if part in args.only:
                    parts[part]()
        finally:
            began = time.perf_counter()
            cluster.close()
            print(f"close: {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
