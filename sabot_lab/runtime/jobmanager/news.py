"""What a JobManager's waits wake on, by topic: a heartbeat of an agent (a task of it may
have ended: the agent's URI), a job that was recorded or ended (its id), any change of the
agents' free slots (:data:`SLOTS`).

A waiter watches the topics it waits on (:meth:`News.watching`: an event set by news on any
of them), clears the event *before* it looks at what it waits for and waits on it after:
news that came while it looked (a task that ended while its agent was being asked) ends the
wait at once instead of being missed until the wait's timeout; and news on other topics
does not wake it (a burst of jobs does not wake every job's wait at each heartbeat).

May import nothing of sabot_lab.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["SLOTS", "News"]

Seen = TypeVar("Seen")

SLOTS = "slots"
"""The topic of any change of the agents' free slots (a heartbeat, a job that ended)."""


class News:
    """News by topic for waiting threads.

    >>> news = News()
    >>> with news.watching(["agent-a", "job-1"]) as came:
    ...     came.clear()  # (then look at what it waits for)
    ...     news.announce("agent-b")  # not watched
    ...     news.announce("job-1")  # comes while it looks: not missed
    ...     came.wait(timeout=10.0)
    True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watchers: dict[str, set[threading.Event]] = {}

    @contextlib.contextmanager
    def watching(self, topics: Iterable[str]) -> Iterator[threading.Event]:
        """An event that news on any of ``topics`` sets while the block runs: clear it
        before looking, then wait on it."""
        came = threading.Event()
        watched = set(topics)
        with self._lock:
            for topic in watched:
                self._watchers.setdefault(topic, set()).add(came)
        try:
            yield came
        finally:
            with self._lock:
                for topic in watched:
                    events = self._watchers[topic]
                    events.discard(came)
                    if not events:
                        del self._watchers[topic]

    def announce(self, *topics: str) -> None:
        """Wake the waiters watching any of ``topics``."""
        with self._lock:
            events = [e for topic in topics for e in self._watchers.get(topic, ())]
        for came in events:
            came.set()

    def wait_until(
        self,
        topics: Iterable[str],
        look: Callable[[], Seen],
        done: Callable[[Seen], bool],
        timeout: float,
        interval: float,
    ) -> Seen:
        """``look()`` again at each news on ``topics`` (at least every ``interval`` seconds)
        until ``done`` holds of what it saw or ``timeout`` seconds passed: what it saw last.

        >>> News().wait_until(["job-1"], lambda: 3, lambda seen: seen > 2, 10.0, 0.5)
        3
        """
        deadline = time.monotonic() + timeout
        with self.watching(topics) as came:
            while True:
                came.clear()  # (before looking: news that comes meanwhile ends the wait)
                seen = look()
                left = deadline - time.monotonic()
                if done(seen) or left <= 0:
                    return seen
                came.wait(min(left, interval))
