"""Worker thread pools kept between pipeline runs: a query runs several pipelines, each on
``Config.threads`` workers, and starting those threads afresh for every pipeline costs more
than a small query's work on a loaded machine.

:func:`borrowed_pool` lends a pool of idle workers that no other pipeline uses meanwhile (a
pipeline inside another's step borrows a second pool: a borrower never waits for workers
held by another), and takes it back when the borrower is done with it; at most
:data:`POOLS_KEPT` idle pools of each size are kept. A forked child starts with no pool (its
parent's threads are not in it). May import the standard library only.

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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

__all__ = ["POOLS_KEPT", "borrowed_pool"]

POOLS_KEPT = 4
"""Idle pools kept per number of threads (pipelines nested in each other's steps borrow one
each at once)."""

_lock = threading.Lock()
_idle: dict[int, list[ThreadPoolExecutor]] = {}
_owner = os.getpid()


@contextmanager
def borrowed_pool(threads: int) -> Iterator[ThreadPoolExecutor]:
    """An idle pool of ``threads`` worker threads (kept from an earlier borrower, or new),
    this caller's alone until the ``with`` block ends. The borrower leaves no work queued
    or running in it: a pool given back busy would delay the next borrower's batches.

    >>> with borrowed_pool(1) as pool:
    ...     [pool.submit(pow, 2, n).result() for n in range(4)]
    [1, 2, 4, 8]
    """
    pool = _take(threads)
    try:
        yield pool
    finally:
        _give_back(threads, pool)


def _take(threads: int) -> ThreadPoolExecutor:
    """An idle kept pool of ``threads`` workers, or a new one."""
    global _owner
    with _lock:
        if _owner != os.getpid():  # forked: the parent's workers did not come along
            _idle.clear()
            _owner = os.getpid()
        kept = _idle.get(threads)
        if kept:
            return kept.pop()
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sabot-worker")


def _give_back(threads: int, pool: ThreadPoolExecutor) -> None:
    """Keep ``pool`` for the next borrower, or shut it down when enough are kept."""
    with _lock:
        kept = _idle.setdefault(threads, [])
        if len(kept) < POOLS_KEPT and _owner == os.getpid():
            kept.append(pool)
            return
    pool.shutdown(wait=False)
