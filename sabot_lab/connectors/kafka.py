"""Kafka topics as sources and sinks, on ``aiokafka``.

:class:`KafkaSource` reads a topic's records into Arrow batches: ``json`` (one object per
record, decoded with Arrow's JSON reader against ``schema``), ``raw`` (key, value, partition,
offset, timestamp), ``arrow`` (each record an Arrow IPC stream) or ``avro`` (each record one
Avro datum, after Confluent's header with ``avro_header="confluent"``; the schema is the one
given, there is no registry: see :mod:`sabot_lab.connectors.avro`). The topic's partitions are
the source's splits, so a stage of ``n`` tasks reads them ``n`` ways. A topic never ends:
``stream.head(n)`` (or ``limit``) stops after ``n`` records, and ``stop="latest"`` reads what
the topic holds when the stream is made (``stop`` may also give an end offset per partition):
that is how notebooks and tests take a bounded read. A poll that fails (the broker is
restarting, the connection dropped) is retried on a new consumer from the offsets read so far,
after an exponential backoff with jitter, for up to :data:`RECONNECT_FOR` seconds. A record
that does not decode is not a crash: it goes to the ``dead_letter`` topic (when given) with
the reason in its headers, and is counted (:attr:`KafkaSource.malformed`); the read goes on.
Each partition's batches come after a :class:`~sabot_lab.logical.sources.SplitMark` naming it, so
a watermark right after the source follows every partition.

:func:`write_kafka` sends batches to a topic, one record per row (``json`` or ``avro``, this
one with Confluent's header when given a schema id) or Arrow IPC records (``arrow``), keyed by
a column. It uses the idempotent producer when the broker supports it and says which mode
it ran in: ``idempotent`` or ``at-least-once`` (without idempotence a retried send can repeat
a record).

The Kafka clients run on an event loop of their own, on a background thread, so reading or
writing from a notebook never blocks (or needs) the kernel's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import itertools
import json
import random
import threading
import time
import warnings
from collections.abc import (
    AsyncIterator,
    Coroutine,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Literal, TypeAlias, TypeVar, get_args

import pyarrow as pa
import pyarrow.json as pajson

from sabot_lab.connectors.avro import AvroCodec
from sabot_lab.connectors.sink import CommitSink, register_sink
from sabot_lab.errors import SourceError
from sabot_lab.expr import Expr
from sabot_lab.logical.codec import schema_from_b64, schema_to_b64
from sabot_lab.logical.sources import ReplayableSource, SourceSpec, SplitMark, register_source
from sabot_lab.observability.consumer_lag import CONSUMER_LAGS

__all__ = [
    "FORMATS",
    "RECONNECT_FOR",
    "RECORD_BYTES",
    "SINK_FORMATS",
    "KafkaFormat",
    "KafkaSink",
    "KafkaSource",
    "KafkaStart",
    "KafkaStop",
    "SinkFormat",
    "write_kafka",
]

KafkaFormat: TypeAlias = Literal["json", "raw", "arrow", "avro"]
SinkFormat: TypeAlias = Literal["json", "arrow", "avro"]
KafkaStart: TypeAlias = "Literal['earliest', 'latest'] | int | dt.datetime"
"""Where partitions without a committed offset begin: the first record, the end, or a time."""
KafkaStop: TypeAlias = "Literal['latest'] | dict[str, int] | None"
"""Where a read ends: never (None), the end of every partition now, or offsets by partition."""
FORMATS: tuple[KafkaFormat, ...] = get_args(KafkaFormat)
SINK_FORMATS: tuple[SinkFormat, ...] = get_args(SinkFormat)
RAW_SCHEMA = pa.schema(
    [
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", pa.timestamp("ms")),
    ]
)
"""The columns of a ``raw`` read."""
_POLL_MS = 200  # how long one poll waits for records
_SAMPLE = 100  # records read to infer a JSON schema
_BACKOFF = (0.1, 5.0)  # first and longest wait before reconnecting, seconds
RECORD_BYTES = 512 * 1024
"""About the most bytes of rows ``format="arrow"`` puts in one record (Kafka's default
largest request is 1 MB)."""
RECONNECT_FOR = 120.0
"""Seconds a read keeps reconnecting to a broker that fails before it gives up."""

T = TypeVar("T")


class _Loop:
    """An asyncio event loop on a daemon thread; :meth:`run` waits for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="sabot-kafka"
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def _kafka() -> Any:
    try:
        import aiokafka
    except ImportError:  # pragma: no cover - aiokafka is a dependency
        raise SourceError("Kafka needs the aiokafka package: pip install aiokafka") from None
    return aiokafka


def _start_ms(start: KafkaStart) -> Literal["earliest", "latest"] | int:
    """``earliest``, ``latest`` or a time in milliseconds since the epoch."""
    if isinstance(start, dt.datetime):
        return int(start.timestamp() * 1000)
    if isinstance(start, int) or start in ("earliest", "latest"):
        return start
    raise SourceError(
        f"start must be 'earliest', 'latest', a datetime or epoch milliseconds, got {start!r}"
    )


@register_source
class KafkaSource(ReplayableSource):
    """The records of ``topic`` on the brokers ``bootstrap``, decoded by ``format``.

    ``schema``: the columns of a ``json`` or ``arrow`` read (inferred from the first records
    when not given); for ``avro``, the records' Avro record schema (dict or JSON text) or an
    Arrow schema to derive it from (see :mod:`sabot_lab.connectors.avro`), always needed.
    ``avro_header="confluent"``: each Avro record starts with Confluent's magic byte and schema
    id, which is skipped (the schema given decodes every record). ``start``: where partitions
    without a committed offset for ``group`` begin: ``"earliest"``, ``"latest"``, or a time
    (datetime or epoch ms: the first record at or after it). ``partitions``: read only these (a split); ``dead_letter``: the topic that
    gets malformed records. ``stop``: ``"latest"`` (the end of every partition now) or an end
    offset per partition: the source ends there, so it is bounded.
    """

    kind = "kafka"

    def __init__(
        self,
        topic: str,
        bootstrap: str,
        format: KafkaFormat = "json",
        schema: pa.Schema | Mapping[str, Any] | str | None = None,
        group: str | None = None,
        start: KafkaStart = "earliest",
        partitions: Sequence[int] | None = None,
        dead_letter: str | None = None,
        stop: KafkaStop = None,
        avro_header: str | None = None,
    ) -> None:
        if format not in FORMATS:
            raise SourceError(f"unknown Kafka format {format!r}; use one of {', '.join(FORMATS)}")
        if avro_header not in (None, "confluent") or (avro_header and format != "avro"):
            raise SourceError(
                f"avro_header={avro_header!r}: the one header known is 'confluent', for "
                "format='avro'"
            )
        self.avro_header = avro_header
        self._avro = _avro_codec(topic, format, schema)
        schema = schema if self._avro is None else self._avro.arrow
        if schema is not None and not isinstance(schema, pa.Schema):
            raise SourceError(
                f"schema= of a {format!r} read of Kafka topic {topic!r} is a pyarrow schema, "
                f"not {type(schema).__name__}"
            )
        self.topic, self.bootstrap, self.format, self.group = topic, bootstrap, format, group
        self.start = _start_ms(start)
        self.partitions = None if partitions is None else tuple(partitions)
        self.dead_letter = dead_letter
        ends: dict[str, int] | None = None
        if isinstance(stop, str):
            if stop != "latest":
                raise SourceError(
                    f"stop must be 'latest' or an end offset per partition, not {stop!r}"
                )
            ends = self._run(_end_offsets(bootstrap, topic, self.partitions))
        elif stop is not None:
            ends = stop
        self.stop = None if ends is None else {str(p): int(o) for p, o in ends.items()}
        self.malformed = 0
        """Records that did not decode in this process's reads (sent to ``dead_letter``)."""
        if format == "raw":
            schema = RAW_SCHEMA
        self._schema = schema if schema is not None else self._infer_schema()

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    @property
    def bounded(self) -> bool:
        return self.stop is not None

    def _ended(self, offsets: dict[str, int] | None) -> bool:
        """Whether a read at ``offsets`` has every record up to :attr:`stop`."""
        if self.stop is None or offsets is None:
            return False
        return all(offsets.get(p, 0) >= end for p, end in self.stop.items())

    def replay(
        self,
        batch_size: int,
        columns: list[str] | None = None,
        predicate: Expr | None = None,
        position: Any = None,
    ) -> Iterator[tuple[pa.RecordBatch | SplitMark | None, Any]]:
        """The records polled, a batch per partition after a :class:`SplitMark` naming it
        (a partition read to its end for now is marked idle once), each with the next offset
        of every partition read (``{"partition": offset}``); from ``position``, such offsets,
        when given."""
        loop = _Loop()
        offsets: dict[str, int] | None = position
        consumer, producer = loop.run(self._consumer(offsets)), None
        failing_since: float | None = None
        idle: set[str] = set()

        def batch_of(records: list[Any]) -> pa.RecordBatch | None:
            nonlocal producer
            batch, bad = self._decode(records)
            if bad:
                self.malformed += len(bad)
                if self.dead_letter is not None:
                    producer = producer or loop.run(_producer(self.bootstrap))[0]
                    loop.run(self._send_dead_letters(producer, bad))
            if columns is not None:
                batch = batch.select(columns)
            return batch if batch.num_rows else None

        try:
            self._check_stop(tp.partition for tp in consumer.assignment())
            for tp in sorted(consumer.assignment(), key=lambda tp: tp.partition):
                yield SplitMark(str(tp.partition)), offsets  # each holds the watermark back
            while not self._ended(offsets):
                try:
                    records = loop.run(self._poll(consumer, batch_size))
                    polled = loop.run(_offsets(consumer))
                    caught_up = loop.run(_caught_up(consumer))
                    failing_since = None
                except (_kafka().errors.KafkaError, OSError) as exc:
                    failing_since = failing_since or time.monotonic()
                    consumer = self._reconnect(loop, consumer, offsets, failing_since, exc)
                    continue
                if self.stop is not None:  # past the end: not this source's
                    records = {
                        p: [r for r in part if r.offset < self.stop[p]]
                        for p, part in records.items()
                    }
                    polled = {p: min(o, self.stop[p]) for p, o in polled.items()}
                    caught_up |= {p for p, o in polled.items() if o >= self.stop[p]}
                CONSUMER_LAGS.record(self.topic, self.group, _lags(consumer, polled))
                read = dict(offsets or {})  # what was read before each item
                for split, part in records.items():
                    if not part:
                        continue
                    idle.discard(split)
                    yield SplitMark(split), dict(read)
                    read[split] = polled[split]
                    yield batch_of(part), dict(read)
                for split in sorted(caught_up - idle, key=int):
                    idle.add(split)
                    yield SplitMark(split, idle=True), dict(read)
                offsets = polled
                yield None, dict(polled)  # (offsets may move on without records)
        finally:
            loop.run(_stop(consumer))
            if producer is not None:
                loop.run(_stop(producer))
            loop.close()

    def _reconnect(
        self,
        loop: _Loop,
        consumer: Any,
        offsets: dict[str, int] | None,
        since: float,
        exc: Exception,
    ) -> Any:
        """A new consumer at ``offsets`` after a failed poll, once a backoff has passed
        (doubling from the first failure ``since``, with jitter); an error after
        :data:`RECONNECT_FOR` seconds of failures."""
        with contextlib.suppress(Exception):
            loop.run(_stop(consumer))
        first, longest = _BACKOFF
        attempt = 0
        while True:
            failing = time.monotonic() - since
            if failing > RECONNECT_FOR:
                raise SourceError(
                    f"Kafka topic {self.topic!r} on {self.bootstrap} failed for "
                    f"{failing:.0f} s: {exc}"
                ) from None
            time.sleep(min(longest, first * 2**attempt) * random.uniform(0.5, 1))
            attempt += 1
            try:
                return loop.run(self._consumer(offsets))
            except SourceError as again:
                exc = again

    @staticmethod
    def _run(coro: Coroutine[Any, Any, T]) -> T:
        """Run one Kafka call on an event loop of its own."""
        loop = _Loop()
        try:
            return loop.run(coro)
        finally:
            loop.close()

    def commit(self, position: dict[str, int]) -> None:
        """Commit ``position`` (the next offset of each partition) as ``group``'s offsets,
        when the source reads for a group."""
        if self.group is not None:
            self._run(_commit_offsets(self.bootstrap, self.topic, self.group, position))

    async def _consumer(self, offsets: dict[str, int] | None = None) -> Any:
        aiokafka = _kafka()
        consumer = aiokafka.AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="latest" if self.start == "latest" else "earliest",
        )
        try:
            await consumer.start()
            partitions = self.partitions or await _partitions(consumer, self.topic)
            assigned = [aiokafka.TopicPartition(self.topic, p) for p in partitions]
            consumer.assign(assigned)
            committed = {}
            if self.group is not None:
                for tp in assigned:
                    committed[tp] = await consumer.committed(tp)
            known = offsets or {}  # a checkpoint's positions (of the partitions read by then)
            for tp in assigned:
                if str(tp.partition) in known:
                    consumer.seek(tp, known[str(tp.partition)])
            fresh = [
                tp for tp in assigned
                if str(tp.partition) not in known and committed.get(tp) is None
            ]  # fmt: skip
            if fresh and isinstance(self.start, int):
                times = await consumer.offsets_for_times({tp: self.start for tp in fresh})
                ends = await consumer.end_offsets(list(times))
                for tp, found in times.items():
                    consumer.seek(tp, ends[tp] if found is None else found.offset)
            elif fresh and self.start == "earliest":
                await consumer.seek_to_beginning(*fresh)
        except Exception as exc:
            await _stop(consumer)
            raise SourceError(
                f"cannot read Kafka topic {self.topic!r} from {self.bootstrap}: {exc}"
            ) from None
        return consumer

    @staticmethod
    async def _poll(consumer: Any, limit: int) -> dict[str, list[Any]]:
        """Up to ``limit`` records by partition, an equal share from every partition that has
        records to read, so the partitions move on together (draining one partition before
        the next would hold back the watermark of the others). Waits up to a poll's time for
        partitions that have records not fetched yet, or whose end is not known yet."""
        partitions = sorted(consumer.assignment(), key=lambda tp: tp.partition)
        share = max(1, limit // max(1, len(partitions)))
        shares: dict[str, list[Any]] = {}
        waiting, deadline = set(partitions), time.monotonic() + _POLL_MS / 1000
        while waiting:
            for tp in sorted(waiting, key=lambda tp: tp.partition):
                got = (await consumer.getmany(tp, timeout_ms=0, max_records=share)).get(tp)
                end = consumer.highwater(tp)
                if got:
                    shares[str(tp.partition)] = got
                    waiting.discard(tp)
                elif end is not None and await consumer.position(tp) >= end:
                    waiting.discard(tp)  # read to its end for now
            if waiting:
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.002)
        return dict(sorted(shares.items(), key=lambda kv: int(kv[0])))

    def _decode(self, records: list[Any]) -> tuple[pa.RecordBatch, list[tuple[Any, str]]]:
        """The records as a batch of :attr:`schema`, and those that did not decode with the
        reason."""
        if self.format == "raw":
            return _raw_batch(records), []
        if self.format == "arrow":
            return _arrow_batch(records, self._schema)
        if self._avro is not None:
            return _avro_batch(records, self._avro, self.avro_header == "confluent")
        try:
            return _json_batch([r.value for r in records], self._schema), []
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            pass  # find the bad records one by one
        good, bad = [], []
        for record in records:
            try:
                good.append(_json_batch([record.value], self._schema))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
                bad.append((record, f"{type(exc).__name__}: {exc}"))
        return _one_batch(good, self._schema), bad

    async def _send_dead_letters(self, producer: Any, bad: list[tuple[Any, str]]) -> None:
        for record, reason in bad:
            headers = [
                ("error", reason.encode()),
                ("topic", record.topic.encode()),
                ("partition", str(record.partition).encode()),
                ("offset", str(record.offset).encode()),
            ]
            await producer.send(self.dead_letter, record.value, key=record.key, headers=headers)
        await producer.flush()

    def _infer_schema(self) -> pa.Schema:
        """The columns of the first records (JSON: Arrow's inference; Arrow: their schema)."""
        loop = _Loop()
        try:
            consumer = loop.run(self._consumer())
            try:
                records: list[Any] = []
                for _ in range(10):  # a few polls: the first records may take a moment
                    polled = loop.run(self._poll(consumer, _SAMPLE - len(records)))
                    got = [r for part in polled.values() for r in part]
                    records += got
                    if len(records) >= _SAMPLE or (records and not got):
                        break
            finally:
                loop.run(_stop(consumer))
        finally:
            loop.close()
        if not records:
            raise SourceError(
                f"Kafka topic {self.topic!r} has no records to infer a schema from: pass schema="
            )
        if self.format == "arrow":
            return pa.ipc.open_stream(records[0].value).schema
        lines = b"\n".join(r.value for r in records)
        try:
            return pajson.read_json(io.BytesIO(lines)).schema
        except pa.ArrowInvalid as exc:
            raise SourceError(
                f"cannot infer a schema from the first records of {self.topic!r} ({exc}): pass schema="
            ) from None

    def split(self, n: int) -> list[SourceSpec]:
        """The topic's partitions dealt out to ``n`` sources (fewer if there are fewer
        partitions)."""
        if n <= 1:
            return [self]
        partitions = list(self.partitions or self._topic_partitions())
        return [self._with(partitions[i::n]) for i in range(min(n, len(partitions)))]

    def _topic_partitions(self) -> list[int]:
        return self._run(_topic_partitions(self.bootstrap, self.topic))

    def _check_stop(self, partitions: Iterable[int]) -> None:
        """A clear error when ``stop`` does not name each of ``partitions``."""
        missing = [p for p in partitions if self.stop is not None and str(p) not in self.stop]
        if missing:
            raise SourceError(
                f"from_kafka({self.topic!r}): stop names partitions "
                f"{', '.join(sorted(self.stop or {}))} but the topic has partition "
                f"{missing[0]} too; name every partition, or use stop='latest'"
            )

    def _with(self, partitions: Sequence[int]) -> KafkaSource:
        self._check_stop(partitions)
        return KafkaSource(
            self.topic, self.bootstrap, self.format, self._declared_schema(), self.group,
            self.start, partitions, self.dead_letter,
            None if self.stop is None else {str(p): self.stop[str(p)] for p in partitions},
            self.avro_header,
        )  # fmt: skip

    def _declared_schema(self) -> pa.Schema | dict[str, Any]:
        """The schema this source was made with (an Avro read's Avro or Arrow schema)."""
        return self._schema if self._avro is None else self._avro.given

    def describe(self) -> str:
        parts = "" if self.partitions is None else f" partitions {list(self.partitions)}"
        return f"kafka {self.topic} ({self.format}){parts}"

    def to_dict(self) -> dict[str, Any]:
        declared = self._declared_schema()  # an Avro schema given is kept as given
        return {
            "kind": self.kind,
            "topic": self.topic,
            "bootstrap": self.bootstrap,
            "format": self.format,
            "schema": schema_to_b64(self._schema),
            "group": self.group,
            "start": self.start,
            "partitions": None if self.partitions is None else list(self.partitions),
            "dead_letter": self.dead_letter,
            "stop": self.stop,
            "avro_schema": None if isinstance(declared, pa.Schema) else declared,
            "avro_header": self.avro_header,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KafkaSource:
        return cls(
            data["topic"],
            data["bootstrap"],
            data["format"],
            data.get("avro_schema") or schema_from_b64(data["schema"]),
            data["group"],
            data["start"],
            data["partitions"],
            data["dead_letter"],
            data.get("stop"),
            data.get("avro_header"),
        )

    def fingerprint(self) -> Hashable | None:
        return None  # a topic's records change as they arrive


@register_sink
class KafkaSink(CommitSink):
    """A job's committed rows sent to ``topic`` on ``bootstrap``: one JSON object per row
    keyed by column ``key``, one Avro datum per row (``format="avro"``, in the Avro schema
    derived from the rows' columns; with ``schema_id``, after Confluent's header naming it),
    or Arrow IPC records (``format="arrow"``).

    At-least-once: a commit is sent once its checkpoint is complete, but a JobManager that
    dies after sending it and before recording that is done sends it again when it resumes
    (the broker has no record of commits to check, and tansu has no transactions). The
    idempotent producer, when the broker has one, keeps retried sends from repeating records.

    >>> KafkaSink("out", "127.0.0.1:9092", key="auction").to_dict()["key"]
    'auction'
    """

    kind = "kafka"

    def __init__(
        self,
        topic: str,
        bootstrap: str,
        key: str | None = None,
        format: SinkFormat = "json",
        schema_id: int | None = None,
    ) -> None:
        _check_sink_format(format, schema_id)
        self.topic, self.bootstrap, self.key, self.format = topic, bootstrap, key, format
        self.schema_id = schema_id

    def commit(self, rows: pa.Table, job_id: str, commit: int) -> bool:
        """Send ``rows``; True (the sink cannot tell a commit sent before)."""
        write_kafka(
            iter(rows.to_batches()), self.topic, self.bootstrap, self.key, self.format,
            self.schema_id,
        )  # fmt: skip
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "topic": self.topic, "bootstrap": self.bootstrap,
                "key": self.key, "format": self.format, "schema_id": self.schema_id}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KafkaSink:
        return cls(
            data["topic"], data["bootstrap"], data["key"], data["format"], data.get("schema_id")
        )


def _check_sink_format(format: str, schema_id: int | None) -> None:
    """A format records are written in, and a Confluent schema id for ``avro`` only.

    >>> _check_sink_format("json", schema_id=3)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SourceError: schema_id=3 is for format='avro' (Confluent's header names it), not 'json'
    """
    if format not in SINK_FORMATS:
        raise SourceError(f"Kafka records are written as {', '.join(SINK_FORMATS)}, not {format!r}")
    if schema_id is not None and format != "avro":
        raise SourceError(
            f"schema_id={schema_id} is for format='avro' (Confluent's header names it), "
            f"not {format!r}"
        )
    if schema_id is not None and not 0 <= schema_id < 2**32:
        raise SourceError(f"schema_id={schema_id} does not fit Confluent's 4-byte schema id")


def _one_batch(parts: Sequence[pa.RecordBatch | pa.Table], schema: pa.Schema) -> pa.RecordBatch:
    """``parts`` (batches or tables of ``schema``) as one batch."""
    tables = [p if isinstance(p, pa.Table) else pa.Table.from_batches([p]) for p in parts]
    table = pa.concat_tables(tables).combine_chunks() if tables else schema.empty_table()
    return (
        table.to_batches()[0] if table.num_rows else pa.RecordBatch.from_pylist([], schema=schema)
    )


def _json_batch(values: list[bytes], schema: pa.Schema) -> pa.RecordBatch:
    """JSON objects, one per value, as a batch of ``schema`` (fields missing: null; extra:
    ignored); raises ArrowInvalid for a value that is not such an object. Timestamps are
    ISO-8601 strings (``2026-01-01 09:30:00.250``, any digits of a second).

    >>> schema = pa.schema([("t", pa.timestamp("ms")), ("x", pa.int64())])
    >>> _json_batch([b'{"t": "2026-01-01 00:00:00.250", "x": 1}'], schema).to_pylist()
    [{'t': datetime.datetime(2026, 1, 1, 0, 0, 0, 250000), 'x': 1}]
    """
    # Arrow's JSON reader reads timestamps without fractions only: read them as text
    text = pa.schema(
        [f.with_type(pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema]
    )
    options = pajson.ParseOptions(explicit_schema=text, unexpected_field_behavior="ignore")
    lines = b"\n".join(v.replace(b"\n", b" ") for v in values)
    table = pajson.read_json(io.BytesIO(lines), parse_options=options)
    if table.num_rows != len(values):
        raise pa.ArrowInvalid(f"{len(values)} records decoded as {table.num_rows} rows")
    columns = [
        table[f.name].cast(pa.timestamp("ns", f.type.tz)).cast(f.type, safe=False)
        if pa.types.is_timestamp(f.type)
        else table[f.name]
        for f in schema
    ]  # through nanoseconds: any number of digits of a second, cut to the column's unit
    return _one_batch([pa.Table.from_arrays(columns, schema=schema)], schema)


def _raw_batch(records: list[Any]) -> pa.RecordBatch:
    return pa.record_batch(
        [
            pa.array([r.key for r in records], pa.binary()),
            pa.array([r.value for r in records], pa.binary()),
            pa.array([r.partition for r in records], pa.int32()),
            pa.array([r.offset for r in records], pa.int64()),
            pa.array([r.timestamp for r in records], pa.timestamp("ms")),
        ],
        schema=RAW_SCHEMA,
    )


def _avro_codec(
    topic: str, format: str, schema: pa.Schema | Mapping[str, Any] | str | None
) -> AvroCodec | None:
    """The codec of an ``avro`` read (None for other formats), which needs a schema."""
    if format != "avro":
        return None
    if schema is None:
        raise SourceError(
            f"reading Kafka topic {topic!r} as Avro needs schema=: the records' Avro record "
            "schema (dict or JSON) or an Arrow schema (the records carry none, and there is "
            "no schema registry here)"
        )
    return AvroCodec(schema)


def _avro_batch(
    records: list[Any], codec: AvroCodec, confluent: bool
) -> tuple[pa.RecordBatch, list[tuple[Any, str]]]:
    """Avro records as a batch, and those that did not decode (or hold no value) with the
    reason."""
    valued = [r for r in records if r.value is not None]
    batch, bad = codec.decode([r.value for r in valued], confluent)
    empty = [(r, "the record has no value (a tombstone)") for r in records if r.value is None]
    return batch, empty + [(valued[i], reason) for i, reason in bad]


def _arrow_batch(
    records: list[Any], schema: pa.Schema
) -> tuple[pa.RecordBatch, list[tuple[Any, str]]]:
    tables, bad = [], []
    for record in records:
        try:
            table = pa.ipc.open_stream(record.value).read_all()
            if not table.schema.equals(schema):
                raise pa.ArrowInvalid(f"schema {table.schema} is not the stream's {schema}")
            tables.append(table)
        except (pa.ArrowInvalid, OSError) as exc:
            bad.append((record, f"{type(exc).__name__}: {exc}"))
    return _one_batch(tables, schema), bad


async def _stop(client: Any) -> None:
    """Stop an aiokafka client; its background tasks get one turn of the loop first (a
    consumer stopped before they ran raises CancelledError from its close)."""
    await asyncio.sleep(0)
    await client.stop()


async def _caught_up(consumer: Any) -> set[str]:
    """The partitions the consumer has read to their end, for now."""
    ends = {tp: consumer.highwater(tp) for tp in consumer.assignment()}
    return {
        str(tp.partition)
        for tp, end in ends.items()
        if end is not None and await consumer.position(tp) >= end
    }


def _lags(consumer: Any, offsets: dict[str, int]) -> dict[str, int]:
    """How many records each partition's end (as last fetched) is ahead of ``offsets``, for
    the partitions whose end the consumer knows."""
    ends = {str(tp.partition): consumer.highwater(tp) for tp in consumer.assignment()}
    return {p: end - offsets[p] for p, end in ends.items() if end is not None and p in offsets}


async def _offsets(consumer: Any) -> dict[str, int]:
    """The next offset of each partition the consumer reads."""
    return {str(tp.partition): await consumer.position(tp) for tp in consumer.assignment()}


async def _partitions(consumer: Any, topic: str) -> list[int]:
    found = consumer.partitions_for_topic(topic)
    if not found:
        await consumer._client.force_metadata_update()  # a new consumer may not have it yet
        found = consumer.partitions_for_topic(topic)
    if not found:
        raise SourceError(f"Kafka topic {topic!r} does not exist")
    return sorted(found)


async def _end_offsets(
    bootstrap: str, topic: str, partitions: Sequence[int] | None
) -> dict[str, int]:
    """The offset after the last record of each partition (``partitions``, or all).

    A fetch from the listed end confirms it: its high watermark is the end too (some brokers
    list the first offset of the last record batch instead)."""
    aiokafka = _kafka()
    try:
        async with _started(bootstrap) as consumer:
            chosen = partitions or await _partitions(consumer, topic)
            tps = [aiokafka.TopicPartition(topic, p) for p in chosen]
            ends = await consumer.end_offsets(tps)
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, ends[tp])
            deadline = time.monotonic() + 5
            while any(consumer.highwater(tp) is None for tp in tps):
                if time.monotonic() > deadline:
                    break
                await consumer.getmany(timeout_ms=100)
            for tp in tps:
                ends[tp] = max(ends[tp], consumer.highwater(tp) or 0)
    except aiokafka.errors.KafkaError as exc:
        raise SourceError(f"cannot read the end of Kafka topic {topic!r}: {exc}") from None
    return {str(tp.partition): offset for tp, offset in ends.items()}


async def _commit_offsets(bootstrap: str, topic: str, group: str, offsets: dict[str, int]) -> None:
    aiokafka = _kafka()
    try:
        async with _started(bootstrap, group_id=group) as consumer:
            tps = {aiokafka.TopicPartition(topic, int(p)): o for p, o in offsets.items()}
            consumer.assign(list(tps))
            await consumer.commit(tps)
    except aiokafka.errors.KafkaError as exc:
        raise SourceError(f"cannot commit {group!r}'s offsets of {topic!r}: {exc}") from None


async def _topic_partitions(bootstrap: str, topic: str) -> list[int]:
    async with _started(bootstrap) as consumer:
        return await _partitions(consumer, topic)


@contextlib.asynccontextmanager
async def _started(bootstrap: str, **options: Any) -> AsyncIterator[Any]:
    """A started consumer without automatic commits, for a few calls; stopped after."""
    consumer = _kafka().AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **options
    )
    try:
        await consumer.start()
        yield consumer
    finally:
        await _stop(consumer)


async def _producer(bootstrap: str) -> tuple[Any, str]:
    """A started producer and its mode: idempotent when the broker allows, else
    at-least-once."""
    aiokafka = _kafka()
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    try:
        await producer.start()
        return producer, "idempotent"
    except aiokafka.errors.KafkaError:
        await _stop(producer)
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    return producer, "at-least-once"


def write_kafka(
    batches: Iterator[pa.RecordBatch],
    topic: str,
    bootstrap: str,
    key: str | None,
    format: str,
    schema_id: int | None = None,
) -> tuple[int, str]:
    """Send every row of ``batches`` to ``topic`` (``json``: one object per record; ``avro``:
    one datum per record, after Confluent's header naming ``schema_id`` when given; ``arrow``:
    an IPC stream of up to :data:`RECORD_BYTES` of rows per record), keyed by column ``key``;
    return the records sent and the producer's mode (``idempotent`` or ``at-least-once``)."""
    _check_sink_format(format, schema_id)
    first = next(batches, None)
    batches = itertools.chain([] if first is None else [first], batches)
    # a column without an Avro type fails here, before connecting
    codec = AvroCodec(first.schema) if format == "avro" and first is not None else None
    loop = _Loop()
    try:
        producer, mode = loop.run(_producer(bootstrap))
        if mode != "idempotent":
            warnings.warn(
                f"the Kafka broker at {bootstrap} has no idempotent producers: writing "
                f"{mode} (a retried send may repeat a record)",
                stacklevel=3,
            )
        sent = 0
        try:
            for batch in batches:
                sent += loop.run(_send_batch(producer, topic, batch, key, format, codec, schema_id))
            loop.run(producer.flush())
        finally:
            loop.run(_stop(producer))
        return sent, mode
    finally:
        loop.close()


async def _send_batch(
    producer: Any,
    topic: str,
    batch: pa.RecordBatch,
    key: str | None,
    format: str,
    codec: AvroCodec | None,
    schema_id: int | None,
) -> int:
    """Send one batch's rows (``avro``: as ``codec`` encodes them); the number of records
    sent."""
    if format == "arrow":  # records of up to about RECORD_BYTES each
        rows = max(1, batch.num_rows * RECORD_BYTES // max(1, batch.nbytes))
        sent = []
        for start in range(0, batch.num_rows, rows):
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as writer:
                writer.write_batch(batch.slice(start, rows))
            sent.append(await producer.send(topic, sink.getvalue().to_pybytes()))
        await asyncio.gather(*sent)
        return len(sent)
    keys = batch.column(key).to_pylist() if key is not None else [None] * batch.num_rows
    if codec is not None:
        values = codec.encode(batch, schema_id)
    else:
        values = [json.dumps(row, default=str).encode() for row in batch.to_pylist()]
    sent = [
        await producer.send(topic, value, key=None if k is None else str(k).encode())
        for value, k in zip(values, keys, strict=True)
    ]
    await asyncio.gather(*sent)  # every record acknowledged, or the broker's error
    return len(sent)
