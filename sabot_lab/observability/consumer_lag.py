"""The lag of this process's Kafka consumers: records each partition's end is ahead of what
was read. Kafka sources record it as they poll; an agent reports it with its heartbeats.

May import the standard library.

>>> lags = ConsumerLags()
>>> lags.record("bids", "g1", {"0": 5, "1": 0})
>>> lags.snapshot()
[{'topic': 'bids', 'group': 'g1', 'partition': '0', 'lag': 5}, {'topic': 'bids', 'group': 'g1', 'partition': '1', 'lag': 0}]
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["CONSUMER_LAGS", "ConsumerLags"]


class ConsumerLags:
    """The last lag recorded for each topic, consumer group and partition."""

    def __init__(self) -> None:
        self._lags: dict[tuple[str, str | None, str], int] = {}
        self._lock = threading.Lock()

    def record(self, topic: str, group: str | None, lags: Mapping[str, int]) -> None:
        """Record the lag of each partition of ``lags`` (by partition) read by ``group``."""
        with self._lock:
            for partition, lag in lags.items():
                self._lags[topic, group, partition] = max(0, int(lag))

    def snapshot(self) -> list[dict[str, Any]]:
        """Every lag recorded, as the heartbeat carries them."""
        with self._lock:
            items = sorted(self._lags.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2]))
        return [{"topic": t, "group": g, "partition": p, "lag": n} for (t, g, p), n in items]


CONSUMER_LAGS = ConsumerLags()
"""The lags of this process's consumers."""
