"""Exactly-once benchmark: what checkpoints cost, how fast a job recovers, Kafka throughput.

1. Checkpoint overhead on Nexmark q5 in-process (one worker thread, memory state): events/s
   with a checkpoint every second and every 100 ms, against none. Each run's rows are checked
   against the run without checkpoints first.
2. Recovery after an agent kill: q5 read from Kafka on a three-agent LocalCluster with a
   checkpoint every 200 ms, ``heartbeat_timeout=2``. The time from the kill (SIGKILL) to the
   new attempt's tasks being placed, and the job's wall time against an undisturbed run. Both
   results are checked against an in-process run.
3. Kafka throughput against a local tansu broker: ``to_kafka`` and ``from_kafka(stop="latest")``
   of JSON, Avro (one datum per record) and Arrow records, each read checked against the
   table written.

    python benchmarks/exactly_once.py [--events 30000000] [--kafka-events 500000] [--runs 3]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import threading
import time
import types
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from _harness import interleaved_ms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' broker

import sabot_lab as sl
from sabot_lab.config import Config
from sabot_lab.engine import Executor
from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.engine.items import Barrier
from sabot_lab.examples.nexmark_queries import QUERIES
from tests.support.kafka_broker import Broker

warnings.simplefilter("ignore")  # tansu has no idempotent producer: writes are at-least-once


def rows_of(items: list[object]) -> list[tuple[object, ...]]:
    batches = [b for b in items if isinstance(b, pa.RecordBatch)]
    return sorted(tuple(r.values()) for b in batches for r in b.to_pylist())


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    return sorted(map(str, a.to_pylist())) == sorted(map(str, b.to_pylist()))


def q5_run(events: int, interval: float | None) -> Callable[[], list[object]]:
    """One in-process q5 over ``events`` events, asking for a checkpoint every ``interval``
    seconds (None: no checkpoints)."""

    def run() -> list[object]:
        plan = QUERIES["q5"](sl.nexmark(events=events, event_rate=10_000, seed=2)).optimize()
        checkpoints = None if interval is None else Checkpoints(tempfile.mkdtemp())
        executor = Executor(plan.graph, Config(threads=1), checkpoints)
        done = threading.Event()

        def ask() -> None:
            assert checkpoints is not None and interval is not None
            while not done.wait(interval):
                checkpoints.request()

        if checkpoints is not None:
            threading.Thread(target=ask, daemon=True).start()
        try:
            return list(executor.run_items(plan.output)[0])
        finally:
            done.set()

    return run


def checkpoint_overhead(events: int, runs: int) -> None:
    print(f"1. checkpoint overhead, q5 in-process on {events:,} events (1 thread)")
    runs_by_name = {
        "none": q5_run(events, None),
        "every 1 s": q5_run(events, 1.0),
        "every 100 ms": q5_run(events, 0.1),
    }
    expected = rows_of(runs_by_name["none"]())
    barriers = {}
    for name, fn in runs_by_name.items():
        items = fn()
        assert rows_of(items) == expected, f"q5 with checkpoints {name} differs"
        barriers[name] = sum(isinstance(i, Barrier) for i in items)
    times = interleaved_ms(runs_by_name, runs)
    base = times["none"]
    for name, ms in times.items():
        print(
            f"   {name:>13}: {events / ms * 1000 / 1e6:6.2f} M events/s "
            f"({ms / base - 1:+.1%} time; {barriers[name]} checkpoints in a checked run)"
        )


def kafka_throughput(broker: Broker, events: int) -> tuple[str, pa.Table]:
    print(f"3. Kafka throughput against a local tansu broker ({events:,} events' bids)")
    bids = sl.nexmark(events=events, event_rate=10_000, seed=21).bids
    table = bids.collect()
    topic = f"bids-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, 2)
    start = time.perf_counter()
    bids.to_kafka(topic, broker.bootstrap, key="auction")
    wrote = time.perf_counter() - start
    print(f"   to_kafka json:           {table.num_rows / wrote:>10,.0f} records/s")
    start = time.perf_counter()
    read = sl.from_kafka(topic, broker.bootstrap, schema=table.schema, stop="latest").collect()
    took = time.perf_counter() - start
    assert read.num_rows == table.num_rows
    assert sorted(read["bidder"].to_pylist()) == sorted(table["bidder"].to_pylist())
    print(f"   from_kafka json:         {read.num_rows / took:>10,.0f} records/s")
    for format in ("avro", "arrow"):
        other = f"{topic}-{format}"
        broker.create_topic(other, 2)
        start = time.perf_counter()
        bids.to_kafka(other, broker.bootstrap, format=format)
        wrote = time.perf_counter() - start
        start = time.perf_counter()
        read = sl.from_kafka(
            other, broker.bootstrap, format=format, schema=table.schema, stop="latest"
        ).collect()
        took = time.perf_counter() - start
        every_column = [(name, "ascending") for name in table.column_names]
        assert read.sort_by(every_column).equals(table.sort_by(every_column)), format
        print(f"   {f'to_kafka {format}:':<25}{table.num_rows / wrote:>10,.0f} rows/s")
        print(f"   {f'from_kafka {format}:':<25}{read.num_rows / took:>10,.0f} rows/s")
    return topic, table


def recovery(broker: Broker, topic: str, bids: pa.Table, runs: int) -> None:
    print("2. recovery after an agent kill: q5 from Kafka, 3 agents, checkpoints every 200 ms")
    source = sl.from_kafka(topic, broker.bootstrap, schema=bids.schema, stop="latest")
    stream = QUERIES["q5"](types.SimpleNamespace(bids=source))
    expected = QUERIES["q5"](types.SimpleNamespace(bids=sl.from_arrow(bids))).collect()
    calm, disturbed, detect = [], [], []
    with sl.LocalCluster(agents=3, slots=4, heartbeat_timeout=2, heartbeat_interval=0.2) as c:
        for _ in range(runs):
            start = time.perf_counter()
            job = stream.submit(c, partitions=2, checkpoint_interval=0.2)
            result = job.result(timeout=300)
            calm.append(time.perf_counter() - start)
            assert same_rows(result, expected)

            start = time.perf_counter()
            job = stream.submit(c, partitions=2, checkpoint_interval=0.2)
            while not any(x["state"] == "COMPLETE" for x in job.checkpoints()):
                time.sleep(0.01)
            used = {t["agent"] for t in job.tasks()}
            victim = next(i for i, uri in enumerate(c.agent_uris) if uri in used)
            killed_at = time.time()
            c.agent_processes[victim].send_signal(signal.SIGKILL)
            c.agent_processes[victim].wait()
            result = job.result(timeout=300)
            disturbed.append(time.perf_counter() - start)
            assert same_rows(result, expected)
            again = [t["created_at"] for t in job.tasks() if t["attempt"] == 1]
            assert again, "the job did not take a new attempt"
            detect.append(min(again) - killed_at)
            c.scale(3)
    print(f"   kill to new attempt placed: {statistics.median(detect):.2f} s (median)")
    print(
        f"   job wall time: {statistics.median(calm):.2f} s undisturbed, "
        f"{statistics.median(disturbed):.2f} s with a kill (medians of {runs})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=30_000_000)
    parser.add_argument("--kafka-events", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    checkpoint_overhead(args.events, args.runs)
    broker = Broker(own=True)
    try:
        topic, bids = kafka_throughput(broker, args.kafka_events)
        recovery(broker, topic, bids, args.runs)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
