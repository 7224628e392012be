"""Streaming exchanges on an agent: bounded queues from a producing task to a consuming one.

An unbounded job runs all its tasks at once. What a producing task sends to one partition of
an exchange (batches, and watermarks between them) waits in a queue of at most ``capacity``
items until the consuming task takes it, on this agent or over Flight. A full queue blocks
its producer, so a slow consumer slows its producers instead of growing memory; ``close``
marks the producer's end; ``drop_job`` ends every queue of a job and wakes whoever waits.

May import ``physical.ids``.

>>> channels = Channels(capacity=2)
>>> key = ("j1/0", "x1", 0, "0.0")
>>> channels.put(key, "a", threading.Event()), channels.put(key, "b", threading.Event())
(True, True)
>>> channels.close(key)
>>> list(channels.get(key))
['a', 'b']
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from sabot_lab.physical.ids import job_of

__all__ = ["DROPPED_REMEMBERED", "ChannelKey", "Channels"]

ChannelKey = tuple[str, str, int, str]
"""``(job scope, exchange id, partition, producer)``."""
_WAIT = 0.05  # seconds between checks for a cancelled producer
DROPPED_REMEMBERED = 1024
"""Jobs dropped last that a :class:`Channels` remembers (a late producer or reader of one
returns at once); older ones are forgotten, so an agent's memory does not grow with jobs."""


class Channels:
    """Thread-safe bounded queues of streaming exchange items, by :data:`ChannelKey`."""

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._changed = threading.Condition()
        self._queues: dict[ChannelKey, deque[Any]] = {}
        self._closed: set[ChannelKey] = set()
        self._dropped: dict[str, None] = {}  # jobs whose queues are gone, oldest first

    def put(self, key: ChannelKey, item: Any, stop: threading.Event) -> bool:
        """Queue ``item``, waiting while the queue is full; False if ``stop`` was set or the
        job dropped first."""
        with self._changed:
            items = self._queues.setdefault(key, deque())
            while len(items) >= self.capacity:
                if stop.is_set() or self._gone(key):
                    return False
                self._changed.wait(_WAIT)
            if self._gone(key):
                return False
            items.append(item)
            self._changed.notify_all()
            return True

    def close(self, key: ChannelKey) -> None:
        """The producer sends nothing more: the reader ends after the items queued."""
        with self._changed:
            self._closed.add(key)
            self._changed.notify_all()

    def get(self, key: ChannelKey, gone: Callable[[], bool] = lambda: False) -> Iterator[Any]:
        """The items of one queue as they come, until its producer closes it (or its job is
        dropped, or ``gone()`` says the reader went away); the queue may be created by
        either side first.

        >>> channels = Channels()
        >>> list(channels.get(("j1/0", "x1", 0, "0.0"), gone=lambda: True))
        []
        """
        while True:
            with self._changed:
                items = self._queues.setdefault(key, deque())
                while not items and key not in self._closed and not self._gone(key):
                    if gone():
                        break
                    self._changed.wait(_WAIT)
                if not items:
                    self._queues.pop(key, None)
                    self._closed.discard(key)
                    return
                item = items.popleft()
                self._changed.notify_all()
            yield item

    def queued(self) -> int:
        """Items waiting in every queue."""
        with self._changed:
            return sum(len(items) for items in self._queues.values())

    def drop_job(self, job: str) -> None:
        """End the queues of ``job`` and its attempts (``job/N``) and forget their items; the
        last :data:`DROPPED_REMEMBERED` jobs dropped are remembered.

        >>> channels = Channels()
        >>> for n in range(DROPPED_REMEMBERED + 1):
        ...     channels.drop_job(f"j{n}")
        >>> channels._gone(("j0/0", "x1", 0, "0.0")), channels._gone(("j1/0", "x1", 0, "0.0"))
        (False, True)
        """
        with self._changed:
            self._dropped[job] = None
            while len(self._dropped) > DROPPED_REMEMBERED:
                del self._dropped[next(iter(self._dropped))]
            for key in [k for k in self._queues if self._gone(k)]:
                del self._queues[key]
            self._closed = {k for k in self._closed if not self._gone(k)}
            self._changed.notify_all()

    def _gone(self, key: ChannelKey) -> bool:
        return job_of(key[0]) in self._dropped
