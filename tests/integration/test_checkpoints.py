"""Checkpoints in-process: barriers from the sources, aligned where inputs meet, snapshots of
every stateful operator. A run stopped at any moment and restored from its last complete
checkpoint gives, with the rows released before that checkpoint, each row exactly once: the
same rows DuckDB computes over the same events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.config import Config
from sabot_lab.connectors.nexmark import BASE_TIME
from sabot_lab.engine import Executor
from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.engine.items import Barrier, Watermark
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL, QUERIES
from tests.support.kafka_broker import Broker
from tests.support.reference import duckdb_table, timed_rows

RATE = 10_000  # events per second of event time
PREFIX = 900_000  # events DuckDB computes over: 90 s
START_US = int(BASE_TIME.timestamp() * 1e6)
SECOND = 1_000_000


def reference(name: str) -> pa.Table:
    gen = sl.nexmark(events=PREFIX, event_rate=RATE, seed=4)
    con = duckdb.connect()
    for kind in ("persons", "auctions", "bids"):
        table = getattr(gen, kind).collect()
        con.register(kind, table.append_column("ms", table["dateTime"].cast(pa.int64())))
    return con.sql(DUCKDB_SQL[name]).to_arrow_table()


TIME = {"q5": 3, "q7": 3, "q11": 2}  # the column of each query's rows that orders them in time


def ended_by(name: str, table: pa.Table, seconds: int) -> list[tuple[Any, ...]]:
    """The rows whose window end (q7: bid time) is within the first ``seconds`` of event
    time, in a fixed order."""
    cutoff = (START_US + seconds * SECOND) // 1000
    return [r for r in timed_rows(table) if r[TIME[name]] <= cutoff]


def nexmark_query(name: str) -> sl.Stream:
    return QUERIES[name](sl.nexmark(events=None, event_rate=RATE, seed=4))


class Run:
    """One run of an endless stream, read like an exactly-once sink: rows are released when
    the barrier after them comes out. The stream is built anew for each run, as a restarted
    process would."""

    def __init__(
        self,
        stream: sl.Stream,
        directory: Path,
        backend: str,
        restore: int | None,
        batch_size: int = 8_192,
    ) -> None:
        plan = stream.optimize()
        config = Config(threads=1, batch_size=batch_size, state_backend=backend)
        self.checkpoints = Checkpoints(directory, restore=restore)
        executor = Executor(plan.graph, config, self.checkpoints)
        self.items: Iterator[Any] = executor.run_items(plan.output)[0]
        self.released: list[pa.RecordBatch] = []
        self.pending: list[pa.RecordBatch] = []
        self.completed = restore
        self.watermark = 0

    def until(self, seconds: int, checkpoint_at: tuple[int, ...] = ()) -> None:
        """Read until the output watermark passes ``seconds`` of event time, asking for a
        checkpoint as it passes each of ``checkpoint_at``."""
        asks = list(checkpoint_at)
        for item in self.items:
            if isinstance(item, Barrier):
                self.released += self.pending
                self.pending, self.completed = [], item.checkpoint
            elif isinstance(item, Watermark):
                self.watermark = item.time
                while asks and item.time >= START_US + asks[0] * SECOND:
                    asks.pop(0)
                    self.checkpoints.request()
                if item.time >= START_US + seconds * SECOND:
                    return
            else:
                self.pending.append(item)

    def stop(self) -> None:
        """Stop as a crash would: rows not yet released are lost with the process."""
        self.items.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
@pytest.mark.parametrize("name", ["q5", "q7", "q11"])
def test_a_run_restored_from_its_last_checkpoint_gives_each_row_once(
    tmp_path: Path, name: str, backend: str
) -> None:
    first = Run(nexmark_query(name), tmp_path, backend, restore=None)
    first.until(45, checkpoint_at=(15, 30))
    lost = sum(b.num_rows for b in first.pending)
    first.stop()
    assert first.completed == 2
    assert lost > 0  # rows after the last checkpoint are made again by the restored run

    second = Run(nexmark_query(name), tmp_path, backend, restore=first.completed)
    second.until(85)
    second.stop()
    rows = pa.Table.from_batches(first.released + second.released + second.pending)
    expected = ended_by(name, reference(name), 60)
    assert len(expected) >= 5  # q7: one highest bid per 10 s window
    assert ended_by(name, rows, 60) == expected


def test_restoring_a_checkpoint_that_was_not_taken_is_a_clear_error(tmp_path: Path) -> None:
    run = Run(nexmark_query("q5"), tmp_path, "memory", restore=None)
    run.until(20, checkpoint_at=(10,))
    run.stop()
    with pytest.raises(sl.PlanError, match=r"no checkpoint 2 in .* to restore; it has chk-1"):
        Run(nexmark_query("q5"), tmp_path, "memory", restore=2)


def test_a_kafka_read_restored_from_a_checkpoint_resumes_at_its_offsets(
    tmp_path: Path, kafka: Broker
) -> None:
    n = 20_000  # 100 s of trades, every 5 ms, on 2 partitions
    times = [START_US // 1000 + 5 * i for i in range(n)]
    trades = pa.table(
        {
            "symbol": [f"S{i % 5}" for i in range(n)],
            "price": [i % 100 for i in range(n)],
            "ts": pa.array(times, pa.timestamp("ms")),
        }
    )
    topic = f"trades-{uuid.uuid4().hex[:8]}"
    kafka.create_topic(topic, 2)
    records = [json.dumps(r, default=str).encode() for r in trades.to_pylist()]
    kafka.produce(topic, records[::2], partition=0)
    kafka.produce(topic, records[1::2], partition=1)

    def windowed() -> sl.Stream:
        source = sl.from_kafka(topic, kafka.bootstrap, schema=trades.schema)
        return (
            source.with_watermark("ts", "2s")
            .window(sl.tumbling("10s", on="ts"))
            .group_by("symbol")
            .agg(n=sl.count(), total=sl.col("price").sum())
        )

    first = Run(windowed(), tmp_path, "memory", restore=None, batch_size=500)
    first.until(50, checkpoint_at=(30,))
    first.stop()
    assert first.completed == 1 and first.pending
    second = Run(windowed(), tmp_path, "memory", restore=1, batch_size=500)
    second.until(
        80
    )  # the topic ends at 100 s: windows to 90 s close, the output's watermark stays below
    second.stop()
    rows = pa.Table.from_batches(first.released + second.released + second.pending)
    expected = duckdb_table(
        "SELECT symbol, time_bucket(INTERVAL '10 seconds', ts) AS window_start, "
        "time_bucket(INTERVAL '10 seconds', ts) + INTERVAL '10 seconds' AS window_end, "
        "count(*) AS n, sum(price) AS total FROM t GROUP BY ALL",
        t=trades,
    )
    cutoff = (START_US + 80 * SECOND) // 1000
    mine = [r for r in timed_rows(rows) if r[2] <= cutoff]
    assert mine == [r for r in timed_rows(expected.cast(rows.schema)) if r[2] <= cutoff]
    assert len(mine) == 5 * 8
