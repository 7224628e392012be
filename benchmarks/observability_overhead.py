"""Observability overhead: logging and tracing on vs off, the fintech pipeline (Parquet) and
Nexmark q5, each on two 2-agent ``LocalCluster``s.

- **off**: records at ``ERROR`` only (``SABOT_LOG_LEVEL``), no spans;
- **on**: records at ``INFO`` (the default) and every span exported to a JSON lines file
  (``SABOT_TRACE_FILE``: the exporter that writes at each span's end, the costliest).

Two figures for each workload:

1. **Measured**: runs taken in turns (the order swapped every turn); the median of each
   run's wall time and of the CPU time of the cluster's processes (JobManager and agents),
   which a loaded machine disturbs less than wall time. On a 2-core machine shared with
   other work both still wander by several per cent between runs of the same job.
2. **Bound**: what observability adds to one job, counted rather than timed: the spans and
   log records the job made (read from the span file and the processes' log files) times
   the CPU cost of one span and of one record (each measured here over many thousands, the
   same exporter and formatter the cluster uses), as a share of the job's cluster CPU with
   observability off. Load changes the cost of a span and of the job alike, so the ratio
   holds on a busy machine.

Answers are checked against DuckDB (fintech) and between the two clusters (q5) before timing.

    python benchmarks/observability_overhead.py [--rows 10000000] [--events 2000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import sabot_lab as sl
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.examples.demo import fintech_pipeline
from sabot_lab.examples.nexmark_queries import QUERIES
from sabot_lab.observability.logs import configure_logging, reset_logging
from sabot_lab.observability.tracing import TRACE_FILE, JsonLinesSpanExporter, read_spans

FINTECH_SQL = """
SELECT sector, SUM(price * size) AS total, COUNT(*) AS n
FROM q JOIN s ON q.security_id = s.id
WHERE price > 100 AND rating >= 3
GROUP BY sector
"""


def same_rows(name: str, got: pa.Table, want: pa.Table) -> None:
    """Raise unless ``got`` has ``want``'s rows (any order; floats to 1e-9 relative)."""
    key = want.column_names[0]
    a, b = got.sort_by(key).to_pylist(), want.sort_by(key).to_pylist()
    close = len(a) == len(b) and all(
        x.keys() == y.keys()
        and all(
            abs(x[k] - y[k]) <= 1e-9 * max(1.0, abs(y[k]))
            if isinstance(y[k], float)
            else x[k] == y[k]
            for k in y
        )
        for x, y in zip(a, b, strict=False)
    )
    if not close:
        raise AssertionError(f"{name}: other rows than the reference")


@contextmanager
def cluster(observed: bool, spans: Path) -> Iterator[sl.LocalCluster]:
    """A two-agent cluster, observed (INFO records, spans to ``spans``) or not (ERROR
    records only, no spans); the variables are set only while its processes start."""
    settings = {"SABOT_LOG_LEVEL": "INFO", TRACE_FILE: str(spans)} if observed else {}
    settings.setdefault("SABOT_LOG_LEVEL", "ERROR")
    before = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        started = sl.LocalCluster(agents=2, slots=2)
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    with started:
        yield started


def cpu_seconds(cluster: sl.LocalCluster) -> float:
    """CPU seconds the cluster's processes (JobManager and agents) used so far."""
    processes = [cluster.jobmanager_process, *cluster.agent_processes]
    times = [psutil.Process(p.pid).cpu_times() for p in processes if p is not None]
    return sum(t.user + t.system for t in times)


def log_records(cluster: sl.LocalCluster) -> int:
    """Log records the cluster's processes wrote so far (one JSON line each)."""
    total = 0
    for path in cluster.workdir.glob("*.log*"):
        with path.open("rb") as lines:
            total += sum(1 for _ in lines)
    return total


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


def span_cpu_us(count: int = 20_000) -> float:
    """CPU microseconds of one span with a few attributes, exported to a JSON lines file."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    with tempfile.TemporaryDirectory() as folder:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(Path(folder) / "s")))
        tracer = provider.get_tracer("sabot_lab.benchmark")
        start = time.process_time()
        for i in range(count):
            with tracer.start_as_current_span("task") as current:
                current.set_attribute("sabot.job_id", "j")
                current.set_attribute("sabot.task", i)
        spent = time.process_time() - start
        provider.shutdown()
    return spent / count * 1e6


def record_cpu_us(count: int = 20_000) -> float:
    """CPU microseconds of one INFO record with a job's fields bound, as an agent writes it."""
    configure_logging("agent", stream=io.StringIO())
    log = logging.getLogger("sabot_lab.agent")
    try:
        with structlog.contextvars.bound_contextvars(job_id="j", task_id="j/0.0/0", attempt=0):
            start = time.process_time()
            for i in range(count):
                log.info("task progress", extra={"rows": i})
            spent = time.process_time() - start
    finally:
        reset_logging()
    return spent / count * 1e6


def measure(
    name: str,
    runs: int,
    make: Callable[[sl.LocalCluster], Callable[[], pa.Table]],
    reference: pa.Table | None,
) -> dict[str, float]:
    """Both figures for one workload (``make``: the run on a given cluster), its answers
    checked first (against ``reference``, and the two clusters' against each other)."""
    spans = Path(tempfile.mkdtemp()) / "spans.jsonl"
    with cluster(False, spans) as plain, cluster(True, spans) as observed:
        off, on = make(plain), make(observed)
        first = off()
        same_rows(f"{name}, observed", on(), first)
        if reference is not None:
            same_rows(name, first, reference)
        records_before, spans_before = log_records(observed), len(read_spans(spans))
        on()
        job_records = log_records(observed) - records_before
        job_spans = len(read_spans(spans)) - spans_before
        times = timed(runs, {"off": (plain, off), "on": (observed, on)})
    (off_wall, off_cpu), (on_wall, on_cpu) = times["off"], times["on"]
    return {
        "off_wall": off_wall,
        "on_wall": on_wall,
        "off_cpu": off_cpu,
        "on_cpu": on_cpu,
        "spans": job_spans,
        "records": job_records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="fintech quotes")
    parser.add_argument("--events", type=int, default=2_000_000, help="Nexmark events")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="sabot-overhead-"))
    qpath = folder / "quotes.parquet"
    pq.write_table(quotes(args.rows, n_securities=100_000, seed=42), qpath, row_group_size=1 << 20)
    s = securities(100_000)
    con = duckdb.connect()
    con.register("s", s)
    con.register("q", con.read_parquet(str(qpath)))
    expected = con.sql(FINTECH_SQL).to_arrow_table()

    def fintech(on: sl.LocalCluster) -> Callable[[], pa.Table]:
        stream = fintech_pipeline(sl.from_parquet(str(qpath)), sl.from_arrow(s))
        return lambda: stream.submit(on).result(timeout=600)

    nexmark = QUERIES["q5"](sl.nexmark(events=args.events, seed=42))

    def q5(on: sl.LocalCluster) -> Callable[[], pa.Table]:
        return lambda: nexmark.submit(on).result(timeout=600)

    span_us, record_us = span_cpu_us(), record_cpu_us()
    print(f"one span {span_us:.1f} µs CPU, one log record {record_us:.1f} µs CPU (this machine)\n")
    print("| workload | wall off ms | wall on ms | wall | CPU off ms | CPU on ms | CPU "
          "| spans | records | bound |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    workloads = [
        (f"fintech, {args.rows:,} quotes (Parquet)", fintech, expected),
        (f"Nexmark q5, {args.events:,} events", q5, None),
    ]
    for name, make, reference in workloads:
        m = measure(name, args.runs, make, reference)
        bound = (m["spans"] * span_us + m["records"] * record_us) / 1000 / m["off_cpu"]
        print(
            f"| {name} | {m['off_wall']:,.0f} | {m['on_wall']:,.0f} | "
            f"{100 * (m['on_wall'] / m['off_wall'] - 1):+.1f} % | {m['off_cpu']:,.0f} | "
            f"{m['on_cpu']:,.0f} | {100 * (m['on_cpu'] / m['off_cpu'] - 1):+.1f} % | "
            f"{m['spans']:,.0f} | {m['records']:,.0f} | {100 * bound:.2f} % |"
        )
    print(f"\nmedians of {args.runs} runs in turns; bound: (spans x span CPU + records x record "
          "CPU) / the job's cluster CPU with observability off")  # fmt: skip


if __name__ == "__main__":
    main()
