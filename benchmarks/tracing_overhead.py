"""Tracing overhead: Nexmark q5 on two 2-agent ``LocalCluster``s, one whose JobManager and
agents export every span (to a JSON lines file, ``SABOT_TRACE_FILE``: the exporter that
writes at each span's end, the costliest), one without tracing; the runs taken in turns (the
order swapped every turn), medians of ``--runs``. Each run submits the job and waits for its
result (fetched by the client): its wall time, and the CPU time of the cluster's processes
(the JobManager and the agents), which a loaded machine disturbs less. In-process
``collect()`` makes no spans: its cost is unchanged by construction.

    python benchmarks/tracing_overhead.py [--events 2000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import sabot_lab as sl
from sabot_lab.examples.nexmark_queries import QUERIES
from sabot_lab.observability.tracing import TRACE_FILE, read_spans


def cluster(spans: Path | None) -> sl.LocalCluster:
    """A two-agent cluster, its processes exporting spans to ``spans`` when given (the
    variable is set only while they start: this process stays untraced)."""
    if spans is not None:
        os.environ[TRACE_FILE] = str(spans)
    try:
        return sl.LocalCluster(agents=2, slots=2)
    finally:
        os.environ.pop(TRACE_FILE, None)


def cpu_seconds(cluster: sl.LocalCluster) -> float:
    """CPU seconds the cluster's processes (JobManager and agents) used so far."""
    processes = [cluster.jobmanager_process, *cluster.agent_processes]
    times = [psutil.Process(p.pid).cpu_times() for p in processes if p is not None]
    return sum(t.user + t.system for t in times)


def timed(
    runs: int, jobs: dict[str, tuple[sl.LocalCluster, Callable[[], object]]]
) -> dict[str, tuple[float, float]]:
    """Median wall ms and cluster CPU ms of each of ``jobs`` (its cluster, the run), after a
    warm-up of each, the runs in turns, the order swapped every turn."""
    for _, run in jobs.values():
        run()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
    names = list(jobs)
    for turn in range(runs):
        for name in names if turn % 2 == 0 else names[::-1]:
            cluster, run = jobs[name]
            cpu, wall = cpu_seconds(cluster), time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - wall, cpu_seconds(cluster) - cpu))
    return {
        name: (1000 * statistics.median(w for w, _ in s), 1000 * statistics.median(c for _, c in s))
        for name, s in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    stream = QUERIES["q5"](sl.nexmark(events=args.events, seed=42))
    spans = Path(tempfile.mkdtemp()) / "spans.jsonl"
    with cluster(None) as plain, cluster(spans) as traced:
        times = timed(
            args.runs,
            {
                "off": (plain, lambda: stream.submit(plain).result(timeout=600)),
                "on": (traced, lambda: stream.submit(traced).result(timeout=600)),
            },
        )
    written = read_spans(spans)
    (off_wall, off_cpu), (on_wall, on_cpu) = times["off"], times["on"]
    print(f"Nexmark q5, {args.events:,} events, 2 agents, median of {args.runs} runs in turns")
    print(f"  tracing off {off_wall:9.1f} ms wall {off_cpu:9.1f} ms cluster CPU")
    print(f"  tracing on  {on_wall:9.1f} ms wall {on_cpu:9.1f} ms cluster CPU"
          f"   ({len(written)} spans written)")  # fmt: skip
    print(
        f"  overhead    {100 * (on_wall / off_wall - 1):+9.2f} %       "
        f"{100 * (on_cpu / off_cpu - 1):+9.2f} %"
    )


if __name__ == "__main__":
    main()
