"""Kafka sources and sinks against a real broker (tansu, started for the session): rows
round-trip, partitions split the read, malformed records go to a dead-letter topic with their
reason while the read goes on, and reads start where they are told. Avro records: the codec
writes what fastavro writes, rows round-trip, records of an independent writer (fastavro and
aiokafka) read, Confluent's wire format, dead letters, and types without a mapping."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.connectors.avro import AvroCodec
from sabot_lab.connectors.kafka import RECORD_BYTES, KafkaSink, KafkaSource
from sabot_lab.errors import SchemaError, SourceError
from tests.support.kafka_broker import Broker
from tests.support.reference import assert_same_rows, duckdb_table

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


def test_a_filtered_read_ends_once_its_head_is_full_though_no_record_follows(
    kafka: Broker,
) -> None:
    # the rows that fill head(n) come out when the topic has nothing new, not with the next
    # record (which never comes here): exactly n of the records match
    name = topic(kafka)
    kafka.produce(name, [json.dumps({"n": i}).encode() for i in range(20)])
    stream = sl.from_kafka(name, kafka.bootstrap, schema=pa.schema([("n", pa.int64())]))
    done: list[pa.Table] = []
    reader = threading.Thread(
        target=lambda: done.append(stream.filter(sl.col("n") % 4 == 0).head(5).collect()),
        daemon=True,
    )
    reader.start()
    reader.join(timeout=120)
    assert done, "the read still waits for a record that never comes"
    assert done[0]["n"].to_pylist() == [0, 4, 8, 12, 16]


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
    some = sl.from_kafka(name, kafka.bootstrap, schema=table.schema, stop={0: 5, 2: 5})
    with pytest.raises(
        SourceError, match="stop names partitions 0, 2 but the topic has partition 1"
    ):
        some.collect()


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


# --- format="avro" ---

AVRO_TYPES = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        ("i8", pa.int8()),
        ("i16", pa.int16()),
        ("i32", pa.int32()),
        ("u8", pa.uint8()),
        ("u16", pa.uint16()),
        ("u32", pa.uint32()),
        ("f32", pa.float32()),
        ("f64", pa.float64()),
        ("flag", pa.bool_()),
        ("name", pa.string()),
        ("big_name", pa.large_string()),
        ("blob", pa.binary()),
        ("big_blob", pa.large_binary()),
        ("day", pa.date32()),
        ("clock_ms", pa.time32("ms")),
        ("clock_us", pa.time64("us")),
        ("ts_ms", pa.timestamp("ms")),
        ("ts_us_utc", pa.timestamp("us", tz="UTC")),
        ("ts_ns_paris", pa.timestamp("ns", tz="Europe/Paris")),
        ("nothing", pa.null()),
    ]
)
"""Every Arrow type format="avro" writes and reads back as itself."""


def avro_values(field: pa.Field) -> st.SearchStrategy[Any]:
    """Values of one column of ``AVRO_TYPES``, extremes included (and nulls when nullable)."""
    t = field.type
    if field.name == "nothing":
        return st.none()
    if pa.types.is_integer(t):
        info = np.iinfo(t.to_pandas_dtype())
        values: st.SearchStrategy[Any] = st.integers(int(info.min), int(info.max))
    elif pa.types.is_floating(t):
        values = st.floats(allow_nan=False, width=t.bit_width)
    elif t == pa.bool_():
        values = st.booleans()
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        values = st.text(max_size=20)
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        values = st.binary(max_size=300)  # lengths of one and two varint bytes
    elif t == pa.date32():  # days of the years 1 to 9999
        values = st.integers(-719_162, 2_932_896)
    elif pa.types.is_time(t):
        values = st.integers(0, 86_400 * (1000 if t.unit == "ms" else 1_000_000) - 1)
    else:  # timestamps, as integers of their unit (any instant Arrow can hold)
        values = st.integers(-(2**62), 2**62)
    return st.one_of(st.none(), values) if field.nullable else values


@st.composite
def avro_tables(draw: st.DrawFn, min_rows: int = 0, max_rows: int = 30) -> pa.Table:
    """Tables of ``AVRO_TYPES``; dates, times and timestamps drawn as the integers Avro
    stores."""
    n = draw(st.integers(min_rows, max_rows))
    columns = [
        pa.array(draw(st.lists(avro_values(f), min_size=n, max_size=n)), stored_as(f.type)).cast(
            f.type
        )
        for f in AVRO_TYPES
    ]
    return pa.Table.from_arrays(columns, schema=AVRO_TYPES)


def stored_as(t: pa.DataType) -> pa.DataType:
    """The integers Avro stores a date, time or timestamp column as (other types: themselves)."""
    if pa.types.is_temporal(t):
        return pa.int64() if t.bit_width == 64 else pa.int32()
    return t


def fastavro_datums(table: pa.Table, avro: dict[str, Any], header: bytes = b"") -> list[bytes]:
    """Rows written by fastavro itself (dates, times and timestamps as the integers Avro
    stores)."""
    plain = table.cast(pa.schema([(f.name, stored_as(f.type)) for f in table.schema]))
    parsed = fastavro.parse_schema(avro)
    out = []
    for row in plain.to_pylist():
        buffer = io.BytesIO()
        buffer.write(header)
        fastavro.schemaless_writer(buffer, parsed, row)
        out.append(buffer.getvalue())
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(table=avro_tables())
def test_avro_codec_writes_what_fastavro_writes_and_reads_it_back(table: pa.Table) -> None:
    codec = AvroCodec(table.schema)
    batch = table.combine_chunks().to_batches()[0] if table.num_rows else None
    datums = codec.encode(batch) if batch is not None else []
    assert datums == fastavro_datums(table, codec.avro)
    decoded, bad = codec.decode(datums)
    assert bad == []
    assert pa.Table.from_batches([decoded]).equals(table)


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(table=avro_tables(min_rows=20, max_rows=40))
def test_avro_round_trip_through_the_broker(kafka: Broker, table: pa.Table) -> None:
    name = topic(kafka, partitions=3)
    table = table.set_column(0, "id", pa.array(range(table.num_rows), pa.int64()))
    with pytest.warns(UserWarning):
        sent = sl.from_arrow(table).to_kafka(name, kafka.bootstrap, key="id", format="avro")
    assert sent == table.num_rows
    source = KafkaSource(name, kafka.bootstrap, format="avro", schema=table.schema, stop="latest")
    assert sl.from_source(source).collect().sort_by("id").equals(table)
    # a plan that saved the source reads the same; so do its splits, one per partition
    again = KafkaSource.from_dict(json.loads(json.dumps(source.to_dict())))
    parts = [sl.from_source(s).collect() for s in again.split(3)]
    assert pa.concat_tables(parts).sort_by("id").equals(table)
    # the records are plain Avro: fastavro (an independent reader) decodes them, reading
    # logical types as the integers stored (its datetimes stop at the year 9999)
    plain = json.loads(json.dumps(AvroCodec(table.schema).avro).replace('"logicalType"', '"x"'))
    parsed = fastavro.parse_schema(plain)
    read = [
        fastavro.schemaless_reader(io.BytesIO(r.value), parsed, None)
        for r in kafka.consume(name, sent)
    ]
    stored = table.cast(pa.schema([(f.name, stored_as(f.type)) for f in table.schema]))
    assert sorted(read, key=lambda r: r["id"]) == stored.to_pylist()


TRADE_AVRO = {
    "type": "record",
    "name": "Trade",
    "namespace": "market",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "qty", "type": "int"},
        {"name": "price", "type": "double"},
        {"name": "ratio", "type": ["float", "null"]},
        {"name": "live", "type": "boolean"},
        {"name": "symbol", "type": ["null", "string"]},
        {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
        {"name": "prior_side", "type": ["null", "market.Side"]},
        {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "raw", "type": "bytes"},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "seen", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    ],
}
TRADE_ARROW = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("qty", pa.int32(), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        ("ratio", pa.float32()),
        pa.field("live", pa.bool_(), nullable=False),
        ("symbol", pa.string()),
        pa.field("side", pa.string(), nullable=False),
        ("prior_side", pa.string()),
        pa.field("ref", pa.string(), nullable=False),
        pa.field("raw", pa.binary(), nullable=False),
        pa.field("day", pa.date32(), nullable=False),
        pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
        ("seen", pa.timestamp("us", tz="UTC")),
        pa.field("local", pa.timestamp("ms"), nullable=False),
    ]
)
"""The Arrow columns ``TRADE_AVRO`` maps to (written out by hand, as the reference)."""
TRADE_COLUMNS = pa.schema([field.with_nullable(True) for field in TRADE_ARROW])
"""The columns of a stream over those records: sources pass every column on as nullable."""


def trade_rows(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Rows of ``TRADE_AVRO`` as fastavro takes them (datetimes, dates, enum symbols)."""
    rng = random.Random(seed)
    utc = dt.timezone.utc
    start = dt.datetime(2026, 3, 1, 9, 30, tzinfo=utc)
    return [
        {
            "id": i,
            "qty": rng.randint(-(2**31), 2**31 - 1),
            "price": rng.uniform(-1e6, 1e6),
            "ratio": None if i % 5 == 0 else float(np.float32(rng.random())),
            "live": i % 3 == 0,
            "symbol": None if i % 7 == 0 else rng.choice(["AAPL", "MSFT", "Zürich", ""]),
            "side": rng.choice(["BUY", "SELL"]),
            "prior_side": rng.choice([None, "BUY", "SELL"]),
            "ref": str(uuid.UUID(int=rng.getrandbits(128))),
            "raw": rng.randbytes(rng.randint(0, 200)),
            "day": dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(-9000, 9000)),
            "ts": start + dt.timedelta(milliseconds=rng.randint(0, 10**9)),
            "seen": None
            if i % 4 == 0
            else start + dt.timedelta(microseconds=rng.randint(0, 10**12)),
            "local": dt.datetime(2026, 3, 1)
            + dt.timedelta(milliseconds=rng.randint(-(10**9), 10**9)),
        }
        for i in range(n)
    ]


def fastavro_write(rows: list[dict[str, Any]], header: bytes = b"") -> list[bytes]:
    parsed = fastavro.parse_schema(TRADE_AVRO)
    out = []
    for row in rows:
        buffer = io.BytesIO()
        buffer.write(header)
        fastavro.schemaless_writer(buffer, parsed, row)
        out.append(buffer.getvalue())
    return out


def test_records_written_by_fastavro_are_read_with_their_avro_schema(kafka: Broker) -> None:
    name, rows = topic(kafka, partitions=2), trade_rows(3_000)
    kafka.produce(name, fastavro_write(rows[::2]), partition=0)
    kafka.produce(name, fastavro_write(rows[1::2]), partition=1)
    expected = pa.Table.from_pylist(rows, schema=TRADE_COLUMNS)
    for schema in (TRADE_AVRO, json.dumps(TRADE_AVRO)):  # a dict, or its JSON text
        stream = sl.from_kafka(name, kafka.bootstrap, format="avro", schema=schema, stop="latest")
        assert stream.schema == TRADE_COLUMNS
        assert stream.collect().sort_by("id").equals(expected)
    # a query over the topic equals DuckDB's over the reference table
    buys = (
        sl.from_kafka(name, kafka.bootstrap, format="avro", schema=TRADE_AVRO, stop="latest")
        .filter((sl.col("side") == "BUY") & (sl.col("qty") > 0))
        .with_columns(value=sl.col("qty") * sl.col("price"))
        .select("id", "symbol", "value")
    )
    assert_same_rows(
        buys.collect(),
        duckdb_table(
            "SELECT id, symbol, qty * price AS value FROM t WHERE side = 'BUY' AND qty > 0",
            t=expected,
        ),
    )


def test_confluent_wire_format_is_read_and_written(kafka: Broker) -> None:
    name, rows = topic(kafka), trade_rows(500)
    kafka.produce(name, fastavro_write(rows, header=b"\x00" + (17).to_bytes(4, "big")))
    stream = sl.from_kafka(
        name,
        kafka.bootstrap,
        format="avro",
        schema=TRADE_AVRO,
        avro_header="confluent",
        stop="latest",
    )
    assert stream.collect().sort_by("id").equals(pa.Table.from_pylist(rows, schema=TRADE_COLUMNS))

    mixed, dead = topic(kafka), topic(kafka)  # a record without the header is a dead letter
    kafka.produce(mixed, [*fastavro_write(rows[1:3], header=b"\x00" + bytes(4)), b"\x02\x04"])
    source = KafkaSource(
        mixed, kafka.bootstrap, format="avro", schema=TRADE_AVRO, avro_header="confluent",
        dead_letter=dead, stop="latest",
    )  # fmt: skip
    assert sl.from_source(source).collect()["id"].to_pylist() == [1, 2]
    [letter] = kafka.consume(dead, 1)
    assert dict(letter.headers)["error"].startswith(b"the record has no Confluent header")

    out, table = topic(kafka), trades(2_000)
    with pytest.warns(UserWarning):  # the sink a job commits to, here called directly
        KafkaSink(out, kafka.bootstrap, key="symbol", format="avro", schema_id=42).commit(
            table, "job", 1
        )
    records = kafka.consume(out, table.num_rows)
    assert {r.value[:5] for r in records} == {b"\x00\x00\x00\x00\x2a"}
    assert sorted(r.key for r in records) == sorted(s.encode() for s in table["symbol"].to_pylist())
    parsed = fastavro.parse_schema(AvroCodec(table.schema).avro)
    assert sorted(
        fastavro.schemaless_reader(io.BytesIO(r.value[5:]), parsed, None)["id"] for r in records
    ) == list(range(2_000))
    back = sl.from_kafka(
        out,
        kafka.bootstrap,
        format="avro",
        schema=table.schema,
        avro_header="confluent",
        stop="latest",
    )
    assert back.collect().sort_by("id").equals(table)


def datum_prefix(row: dict[str, Any], fields: int) -> bytes:
    """The bytes of the first ``fields`` fields of a ``TRADE_AVRO`` datum of ``row``."""
    head = {**TRADE_AVRO, "fields": TRADE_AVRO["fields"][:fields]}
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(head), row)
    return buffer.getvalue()


def produce_keyed(kafka: Broker, name: str, records: list[tuple[bytes, bytes | None]]) -> None:
    """Send (key, value) records with aiokafka itself (a None value: a tombstone)."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
        await producer.start()
        try:
            for key, value in records:
                await producer.send(name, value, key=key)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(send())


def test_avro_records_that_do_not_decode_go_to_the_dead_letter_topic(kafka: Broker) -> None:
    name, dead = topic(kafka), topic(kafka)
    rows = trade_rows(12)
    good = fastavro_write(rows)
    other = io.BytesIO()  # a record of another schema
    fastavro.schemaless_writer(other, fastavro.parse_schema(
        {"type": "record", "name": "Other", "fields": [{"name": "id", "type": "long"}]}
    ), {"id": 5})  # fmt: skip
    not_utf8 = good[3].replace(rows[3]["ref"].encode(), b"\xff" + rows[3]["ref"].encode()[1:])
    cut = "(truncated, or written with another schema)"
    bad: dict[bytes | None, str] = {
        good[1][:-3]: f"the datum ends inside field 'local' {cut}",  # truncated
        good[2]
        + b"\x00\x00": "2 bytes are left after the last field (written with another schema?)",
        other.getvalue(): f"the datum ends inside field 'qty' {cut}",
        not_utf8: "field 'ref' holds a string that is not UTF-8",
        datum_prefix(rows[4], 3) + b"\x0a" + good[4][-20:]: (
            "field 'ratio' has union branch 5; its union has 1 (null) and 0 (value)"
        ),
        datum_prefix(rows[5], 6) + b"\x06" + good[5][-20:]: (
            "field 'side' has an index out of its enum's symbols"
        ),
        None: "the record has no value (a tombstone)",
    }
    produce_keyed(kafka, name, [(b"k", v) for v in [good[0], *bad, *good[6:]]])
    source = KafkaSource(
        name, kafka.bootstrap, format="avro", schema=TRADE_AVRO, dead_letter=dead, stop="latest"
    )
    read = sl.from_source(source).collect()
    kept = [rows[0], *rows[6:]]
    assert read.sort_by("id").equals(pa.Table.from_pylist(kept, schema=TRADE_COLUMNS))
    letters = {r.value: dict(r.headers) for r in kafka.consume(dead, len(bad))}
    assert {v: h["error"].decode() for v, h in letters.items()} == bad
    assert {h["topic"].decode() for h in letters.values()} == {name}
    assert source.malformed == len(bad)


def test_avro_types_that_have_no_mapping_are_clear_errors(kafka: Broker) -> None:
    def avro(field_type: Any) -> dict[str, Any]:
        return {"type": "record", "name": "R", "fields": [
            {"name": "id", "type": "long"}, {"name": "odd", "type": field_type}
        ]}  # fmt: skip

    for field_type, shown in [
        ({"type": "array", "items": "long"}, '"array"'),
        ({"type": "map", "values": "string"}, '"map"'),
        ({"type": "record", "name": "Inner", "fields": []}, '"record"'),
        ({"type": "fixed", "name": "F", "size": 4}, '"fixed"'),
        ({"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}, '"decimal"'),
        (["null", "string", "long"], '["null", "string", "long"]'),
    ]:
        with pytest.raises(
            SchemaError, match=r"field 'odd' has the Avro type .*" + re.escape(shown)
        ):
            sl.from_kafka("t", kafka.bootstrap, format="avro", schema=avro(field_type))
    with pytest.raises(SchemaError, match="must be a record"):
        sl.from_kafka("t", kafka.bootstrap, format="avro", schema='"long"')
    with pytest.raises(SchemaError, match=r"not a valid Avro schema \(UnknownType: lng\)"):
        sl.from_kafka("t", kafka.bootstrap, format="avro", schema=avro("lng"))
    with pytest.raises(SourceError, match="as Avro needs schema="):
        sl.from_kafka("t", kafka.bootstrap, format="avro")
    with pytest.raises(SourceError, match="the one header known is 'confluent'"):
        sl.from_kafka(
            "t", kafka.bootstrap, format="json", schema={"x": "int64"}, avro_header="confluent"
        )
    # Arrow columns written as Avro: an Arrow type without an Avro one names the column
    name = topic(kafka)
    for column, arrow_type in [
        ("tags", "list<item: string>"),
        ("when", "timestamp[s]"),
        ("amount", "decimal128(9, 2)"),
    ]:
        table = pa.table({
            "tags": pa.array([["a"]]), "when": pa.array([0], pa.timestamp("s")),
            "amount": pa.array([1], pa.decimal128(9, 2)),
        }).select([column])  # fmt: skip
        with pytest.raises(
            SchemaError, match=rf"column '{column}' has the Arrow type {re.escape(arrow_type)}"
        ):
            sl.from_arrow(table).to_kafka(name, kafka.bootstrap, format="avro")
    with pytest.raises(SchemaError, match="'sum\\(x\\)' is not a valid Avro field name"):
        sl.from_arrow(pa.table({"sum(x)": [1]})).to_kafka(name, kafka.bootstrap, format="avro")
    with pytest.raises(SourceError, match="schema_id=3 is for format='avro'"):
        sl.from_arrow(trades(3)).to_kafka(name, kafka.bootstrap, schema_id=3)
    with pytest.raises(SchemaError, match="column 'id' holds nulls"):  # declared not null
        schema = pa.schema([pa.field("id", pa.int64(), nullable=False)])
        AvroCodec(schema).encode(pa.record_batch([pa.array([1, None])], names=["id"]))
