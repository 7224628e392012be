"""Worker thread pools kept between pipeline runs: a query runs several pipelines, each on
``Config.threads`` workers, and starting those threads afresh for every pipeline costs more
than a small query's work on a loaded machine.

:func:`borrowed_pool` lends a pool of idle workers that no other pipeline uses meanwhile (a
pipeline inside another's step borrows a second pool: a borrower never waits for workers
held by another), and takes it back when the borrower is done with it. Only a pool with no
task left unfinished is kept, and at most :data:`POOLS_KEPT` idle pools of each size: a pool
given back with a task still running (its borrower was closed on one of its own workers,
which cannot wait for itself) is shut down, its threads ending when their tasks do. A forked
child starts with no pool (its parent's threads are not in it). May import the standard
library only.

>>> with borrowed_pool(2) as pool:
...     pool.submit(sum, [1, 2]).result()
3
>>> with borrowed_pool(2) as again:
...     again is pool
True
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

__all__ = ["POOLS_KEPT", "WorkerPool", "borrowed_pool"]

POOLS_KEPT = 4
"""Idle pools kept per number of threads (pipelines nested in each other's steps borrow one
each at once)."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


class WorkerPool(ThreadPoolExecutor):
    """A pool of ``threads`` worker threads that knows its own threads and whether any task
    submitted to it is unfinished (queued and not cancelled, or running).

    >>> pool = WorkerPool(2)
    >>> pool.submit(pool.on_worker).result(), pool.on_worker(), pool.idle()
    (True, False, True)
    >>> pool.shutdown()
    """

    def __init__(self, threads: int) -> None:
        self._workers: set[int] = set()
        self._unfinished = 0
        self._count = threading.Lock()
        super().__init__(threads, "sabot-worker", initializer=self._note_worker)

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        """Queue ``fn(*args, **kwargs)``, counted as unfinished until it is done or cancelled."""
        with self._count:
            self._unfinished += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._finished(None)
            raise
        future.add_done_callback(self._finished)
        return future

    def on_worker(self) -> bool:
        """Whether the calling thread is one of this pool's workers."""
        return threading.get_ident() in self._workers

    def idle(self) -> bool:
        """Whether every task submitted is done (finished or cancelled)."""
        return self._unfinished == 0

    def _note_worker(self) -> None:
        self._workers.add(threading.get_ident())

    def _finished(self, _future: Future[Any] | None) -> None:
        with self._count:
            self._unfinished -= 1


_lock = threading.RLock()
"""Guards :data:`_idle`; re-entrant, as a garbage collection on a thread holding it may close
a dropped pipeline, which gives its pool back on that thread."""
_idle: dict[int, list[WorkerPool]] = {}
_owner = os.getpid()


@contextmanager
def borrowed_pool(threads: int) -> Iterator[WorkerPool]:
    """An idle pool of ``threads`` worker threads (kept from an earlier borrower, or new),
    this caller's alone until the ``with`` block ends; kept for the next borrower only if
    the borrower left no task unfinished in it.

    >>> with borrowed_pool(1) as pool:
    ...     [pool.submit(pow, 2, n).result() for n in range(4)]
    [1, 2, 4, 8]
    """
    pool = _take(threads)
    try:
        yield pool
    finally:
        _give_back(threads, pool)


def _take(threads: int) -> WorkerPool:
    """An idle kept pool of ``threads`` workers, or a new one."""
    global _owner
    with _lock:
        if _owner != os.getpid():  # forked: the parent's workers did not come along
            _idle.clear()
            _owner = os.getpid()
        kept = _idle.get(threads)
        if kept:
            return kept.pop()
    return WorkerPool(threads)


def _give_back(threads: int, pool: WorkerPool) -> None:
    """Keep ``pool`` for the next borrower, or shut it down when it is still busy or enough
    are kept."""
    with _lock:
        kept = _idle.setdefault(threads, [])
        if pool.idle() and len(kept) < POOLS_KEPT and _owner == os.getpid():
            kept.append(pool)
            return
    pool.shutdown(wait=False)
