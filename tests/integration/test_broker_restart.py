"""A Kafka broker restart loses nothing: tansu on S3 storage (moto's server) is killed and
started again on the same port and bucket. Records and committed group offsets are there
after it, and the Nexmark q5 chaos job of :mod:`tests.support.chaos` (Kafka source, three-agent
LocalCluster, checkpoints, exactly-once PostgreSQL sink) rides through it: its table equals
the undisturbed run's, each row written once, and no task failed."""

from __future__ import annotations

import signal
import types
import uuid
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.examples.nexmark_queries import QUERIES
from tests.support.chaos import EVENTS, run, timed
from tests.support.kafka_broker import DurableBroker
from tests.support.polling import wait_for
from tests.support.postgres import query

ROWS_PER_RECORD = 4096  # about 400 KB of bids a record: tansu on S3 lists a partition's
# objects on every fetch, so a topic of many small records would make the job crawl


@pytest.fixture(scope="module")
def broker() -> Iterator[DurableBroker]:
    broker = DurableBroker()
    yield broker
    broker.stop()


def new_topic(broker: DurableBroker) -> str:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, 2)
    return topic


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_records_and_committed_offsets_survive_a_broker_restart(
    broker: DurableBroker, sig: signal.Signals
) -> None:
    topic = new_topic(broker)
    before = [f"before-{i}".encode() for i in range(400)]
    for partition in (0, 1):
        broker.produce(topic, before[partition::2], partition=partition)
    broker.commit(topic, "readers", {0: 123, 1: 45})
    broker.restart(sig, down=0.5)
    after = [f"after-{i}".encode() for i in range(50)]
    broker.produce(topic, after, partition=1)  # appended after the records kept
    assert broker.end_offsets(topic, 2) == {0: 200, 1: 250}
    records = broker.consume(topic, 450)
    by_partition = {p: [(r.offset, r.value) for r in records if r.partition == p] for p in (0, 1)}
    assert by_partition[0] == list(enumerate(before[0::2]))
    assert by_partition[1] == list(enumerate(before[1::2] + after))
    assert broker.committed(topic, "readers", 2) == {"0": 123, "1": 45}
    assert broker.committed(topic, "nobody", 2) == {"0": None, "1": None}


@pytest.fixture(scope="module")
def bids() -> pa.Table:
    """The bids of the chaos job."""
    return sl.nexmark(events=EVENTS, event_rate=10_000, seed=21).bids.collect()


@pytest.fixture(scope="module")
def records(bids: pa.Table) -> list[bytes]:
    """The bids in time order as Arrow IPC streams (``format="arrow"`` records); record
    ``i`` goes to partition ``i % 2``."""
    out = []
    for batch in bids.to_batches(max_chunksize=ROWS_PER_RECORD):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, bids.schema) as writer:
            writer.write_batch(batch)
        out.append(sink.getvalue().to_pybytes())
    return out


def send(broker: DurableBroker, topic: str, records: Sequence[bytes], first: int = 0) -> None:
    """Append ``records`` (numbered from ``first``) to their partitions."""
    for partition in (0, 1):
        broker.produce(topic, records[(partition - first) % 2 :: 2], partition=partition)


def hot_items(broker: DurableBroker, topic: str, bids: pa.Table, records: list[bytes]) -> sl.Stream:
    """Query 5 over ``topic``, read until every one of ``records`` is in."""
    ends = {str(p): len(records[p::2]) for p in (0, 1)}
    source = sl.from_kafka(topic, broker.bootstrap, format="arrow", schema=bids.schema, stop=ends)
    return QUERIES["q5"](types.SimpleNamespace(bids=source))


@pytest.fixture(scope="module")
def undisturbed(
    cluster: sl.LocalCluster,
    broker: DurableBroker,
    bids: pa.Table,
    records: list[bytes],
    database: str,
) -> list[tuple[object, ...]]:
    """The sink's rows of a run nobody disturbs; they equal an in-process run over the
    bids."""
    topic = new_topic(broker)
    send(broker, topic, records)
    rows = run(cluster, hot_items(broker, topic, bids, records), database, "calm")
    expected = QUERIES["q5"](types.SimpleNamespace(bids=sl.from_arrow(bids))).collect()
    assert rows == sorted(timed(r) for r in expected.to_pylist())
    assert len(rows) > 30
    return rows


def test_a_broker_killed_and_restarted_mid_job_loses_and_repeats_nothing(
    cluster: sl.LocalCluster,
    broker: DurableBroker,
    bids: pa.Table,
    records: list[bytes],
    database: str,
    undisturbed: list[tuple[object, ...]],
) -> None:
    """The job reads the first half of the bids, commits rows to PostgreSQL at its
    checkpoints and waits for the rest; the broker gets SIGKILL, stays down 1 s and comes
    back, then the second half is sent. The job's reads reconnect and go on from their
    offsets."""
    topic, half = new_topic(broker), len(records) // 2
    send(broker, topic, records[:half])

    def committed_rows() -> int:
        [(rows,)] = query(
            database, "SELECT coalesce(sum(rows), 0) FROM sabot_commits WHERE sink = 'restart'"
        )
        return int(rows)  # type: ignore[call-overload]

    jobs: list[sl.Job] = []

    def restart(job: sl.Job) -> None:
        jobs.append(job)
        wait_for(lambda: committed_rows() > 0, timeout=60)
        assert job.status() == "RUNNING"  # it cannot end before the second half
        assert 0 < committed_rows() < len(undisturbed)
        broker.restart(signal.SIGKILL, down=1)
        send(broker, topic, records[half:], first=half)

    rows = run(cluster, hot_items(broker, topic, bids, records), database, "restart", restart)
    assert rows == undisturbed
    assert committed_rows() == len(undisturbed)  # each row written once
    assert jobs[0].metrics()["attempts"] == 1  # no task failed: the reads reconnected
