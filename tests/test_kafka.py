"""Kafka sources and sinks against a real broker (tansu, started for the session): rows
round-trip, partitions split the read, malformed records go to a dead-letter topic with their
reason while the read goes on, and reads start where they are told."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections import Counter

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.connectors.kafka import RECORD_BYTES, KafkaSource
from sabot_lab.errors import SourceError
from tests.kafka_broker import Broker
from tests.reference import assert_same_rows, duckdb_table

ROWS = 5_000


def topic(kafka: Broker, partitions: int = 1) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    kafka.create_topic(name, partitions)
    return name


def trades(n: int = ROWS) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "symbol": pa.array([f"S{i % 13}" for i in range(n)]),
            "price": pa.array([round(100 + (i * 7919 % 1000) / 10, 2) for i in range(n)]),
        }
    )


def test_rows_written_with_to_kafka_read_back_with_from_kafka(kafka: Broker) -> None:
    name, table = topic(kafka, partitions=3), trades()
    with pytest.warns(UserWarning, match="at-least-once"):  # tansu has no idempotent producer
        assert sl.from_arrow(table).to_kafka(name, kafka.bootstrap, key="symbol") == ROWS
    stream = sl.from_kafka(name, kafka.bootstrap, schema=table.schema)
    assert_same_rows(stream.head(ROWS).collect(), table)
    # inferred from the first records; and a query over the topic equals DuckDB's
    inferred = sl.from_kafka(name, kafka.bootstrap)
    assert inferred.schema == table.schema
    totals = inferred.head(ROWS).group_by("symbol").agg(n=sl.count(), top=sl.col("price").max())
    expected = duckdb_table(
        "SELECT symbol, count(*) AS n, max(price) AS top FROM t GROUP BY symbol", t=table
    )
    assert_same_rows(totals.collect(), expected)


def test_partitions_are_the_splits_of_a_read(kafka: Broker) -> None:
    name, table = topic(kafka, partitions=4), trades(2_000)
    with pytest.warns(UserWarning):
        sl.from_arrow(table).to_kafka(name, kafka.bootstrap, key="id")
    splits = KafkaSource(name, kafka.bootstrap, schema=table.schema).split(3)
    assert [s.partitions for s in splits] == [(0, 3), (1,), (2,)]  # type: ignore[attr-defined]
    per_partition = Counter(r.partition for r in kafka.consume(name, 2_000))
    parts = []
    for split in splits:  # each split reads its partitions' records, and only those
        held = sum(per_partition[p] for p in split.partitions)  # type: ignore[attr-defined]
        parts.append(sl.from_source(split).head(held).collect())
    assert_same_rows(pa.concat_tables(parts), table)


def test_malformed_records_go_to_the_dead_letter_topic_and_the_read_goes_on(
    kafka: Broker,
) -> None:
    name, dead = topic(kafka), topic(kafka)
    good = [json.dumps({"id": i, "symbol": "A", "price": 1.5}).encode() for i in range(6)]
    bad = [b"{not json", json.dumps({"id": "seven", "symbol": "A", "price": 1}).encode(), b"[1]"]
    kafka.produce(name, [good[0], bad[0], *good[1:4], bad[1], good[4], bad[2], good[5]])
    schema = pa.schema([("id", pa.int64()), ("symbol", pa.string()), ("price", pa.float64())])
    source = KafkaSource(name, kafka.bootstrap, schema=schema, dead_letter=dead)
    rows = sl.from_source(source).head(6).collect()
    assert sorted(rows["id"].to_pylist()) == list(range(6))
    letters = kafka.consume(dead, 3)
    assert sorted(r.value for r in letters) == sorted(bad)
    reasons = [dict(r.headers)["error"].decode() for r in letters]
    assert all(reason.startswith(("ArrowInvalid", "ArrowTypeError")) for reason in reasons)
    assert {dict(r.headers)["topic"].decode() for r in letters} == {name}
    assert source.malformed == 3


def test_a_read_starts_at_the_earliest_record_or_at_a_time(kafka: Broker) -> None:
    name = topic(kafka)
    kafka.produce(name, [json.dumps({"n": i}).encode() for i in range(3)])
    time.sleep(0.05)
    middle = dt.datetime.now()
    time.sleep(0.05)
    kafka.produce(name, [json.dumps({"n": i}).encode() for i in range(3, 5)])
    schema = pa.schema([("n", pa.int64())])
    earliest = sl.from_kafka(name, kafka.bootstrap, schema=schema).head(5).collect()
    assert earliest["n"].to_pylist() == [0, 1, 2, 3, 4]
    later = sl.from_kafka(name, kafka.bootstrap, schema=schema, start=middle).head(2).collect()
    assert later["n"].to_pylist() == [3, 4]


def test_arrow_and_raw_records(kafka: Broker) -> None:
    name, table = topic(kafka), trades(1_000)
    with pytest.warns(UserWarning):
        sent = sl.from_arrow(table).to_kafka(name, kafka.bootstrap, format="arrow")
    assert sent >= 1  # one record per batch
    rows = sl.from_kafka(name, kafka.bootstrap, format="arrow").head(1_000).collect()
    assert rows.equals(table)
    raw = sl.from_kafka(name, kafka.bootstrap, format="raw").head(sent).collect()
    assert raw.column_names == ["key", "value", "partition", "offset", "timestamp"]
    assert raw["offset"].to_pylist() == list(range(sent))


def test_large_arrow_batches_are_split_into_records_a_broker_takes(kafka: Broker) -> None:
    name, table = topic(kafka), trades(200_000)  # several MB: above Kafka's 1 MB requests
    with pytest.warns(UserWarning):
        sent = sl.from_arrow(table).to_kafka(name, kafka.bootstrap, format="arrow")
    assert sent > table.nbytes // RECORD_BYTES
    rows = sl.from_kafka(name, kafka.bootstrap, format="arrow", stop="latest").collect()
    assert rows.equals(table)


def test_a_read_with_stop_ends_at_the_topic_end_and_is_bounded(kafka: Broker) -> None:
    name, table = topic(kafka, partitions=3), trades(3_000)
    with pytest.warns(UserWarning):
        sl.from_arrow(table).to_kafka(name, kafka.bootstrap, key="symbol")
    source = sl.from_kafka(name, kafka.bootstrap, schema=table.schema, stop="latest")
    assert source.bounded
    with pytest.warns(UserWarning):  # records written after the stream was made are not read
        sl.from_arrow(table).to_kafka(name, kafka.bootstrap, key="symbol")
    assert_same_rows(source.collect(), table)
    with pytest.raises(SourceError, match="stop must be 'latest' or an end offset"):
        sl.from_kafka(name, kafka.bootstrap, schema=table.schema, stop="end")


def test_bad_settings_are_clear_errors(kafka: Broker) -> None:
    empty = topic(kafka)
    with pytest.raises(SourceError, match="has no records to infer a schema from: pass schema="):
        sl.from_kafka(empty, kafka.bootstrap)
    with pytest.raises(SourceError, match="does not exist"):
        sl.from_kafka("no-such-topic-here", kafka.bootstrap, schema={"x": "int64"}).head(
            1
        ).collect()
    with pytest.raises(SourceError, match="start must be"):
        sl.from_kafka(empty, kafka.bootstrap, schema={"x": "int64"}, start="yesterday")
    with pytest.raises(sl.PlanError, match="take head"):
        sl.from_kafka(empty, kafka.bootstrap, schema={"x": "int64"}).to_kafka(
            empty, kafka.bootstrap
        )


def test_each_partition_has_its_own_watermark_so_a_lagging_one_loses_no_rows(
    kafka: Broker,
) -> None:
    """Partition 0 holds three rows for every one of partition 1 over the same time span, so
    equal shares per poll get partition 1's time far ahead: one watermark for both would
    make partition 0's rows late. Each partition's watermark, the slowest of them holding
    the output back, keeps every row."""
    n = 20_000  # 100 s, a row every 5 ms
    table = pa.table(
        {
            "symbol": [f"S{i % 4}" for i in range(n)],
            "price": [i % 100 for i in range(n)],
            "ts": pa.array([1_700_000_000_000 + 5 * i for i in range(n)], pa.timestamp("ms")),
        }
    )
    name = topic(kafka, partitions=2)
    records = [json.dumps(r, default=str).encode() for r in table.to_pylist()]
    kafka.produce(name, [r for i, r in enumerate(records) if i % 4 != 3], partition=0)
    kafka.produce(name, [r for i, r in enumerate(records) if i % 4 == 3], partition=1)
    windowed = (
        sl.from_kafka(name, kafka.bootstrap, schema=table.schema, stop="latest")
        .with_watermark("ts", "1s")
        .window(sl.tumbling("10s", on="ts"))
        .group_by("symbol")
        .agg(n=sl.count(), total=sl.col("price").sum())
    )
    expected = duckdb_table(
        "SELECT symbol, time_bucket(INTERVAL '10 seconds', ts) AS window_start, "
        "time_bucket(INTERVAL '10 seconds', ts) + INTERVAL '10 seconds' AS window_end, "
        "count(*) AS n, sum(price) AS total FROM t GROUP BY ALL",
        t=table,
    )
    run = windowed.run()
    assert run.metrics_total("late_rows") == 0
    assert_same_rows(run.table, expected.cast(run.table.schema))
