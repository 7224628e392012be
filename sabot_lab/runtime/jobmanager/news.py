"""What a JobManager's waits wake on: a heartbeat arrived (a task of its agent may have
ended), a job ended.

Each piece of news is counted. A waiter reads the count (:meth:`News.seen`) *before* it
looks at what it waits for, and waits for a count past it (:meth:`News.wait`): news that
came while it looked (a task that ended while its agent was being asked) ends the wait at
once instead of being missed until the wait's timeout, which a wait on a bare condition
would do.

May import nothing of sabot_lab.
"""

from __future__ import annotations

import threading

__all__ = ["News"]


class News:
    """Counted news for waiting threads.

    >>> news = News()
    >>> seen = news.seen()
    >>> news.announce()  # (comes before the wait: not missed)
    >>> news.wait(seen, timeout=10.0), news.wait(news.seen(), timeout=0.01)
    (True, False)
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0

    def seen(self) -> int:
        """The news so far: read it before looking, then :meth:`wait` for more."""
        return self._count

    def announce(self) -> None:
        """Wake every waiter: something changed."""
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait until news past ``seen`` (a :meth:`seen` count) came, or ``timeout``
        seconds passed; whether it came."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count != seen, timeout)
