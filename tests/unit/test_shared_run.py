"""A diamond's shared run: consumers of one operator's output each get every item, and one
waiting for the run's next item (an idle stream) does not hold back items already queued for
another (a barrier stuck behind an idle source would stall every checkpoint)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sabot_lab.config import Config
from sabot_lab.engine.pipeline import Pipeline
from sabot_lab.engine.shared import SharedRun


def test_a_consumer_waiting_on_an_idle_run_does_not_hold_back_the_others() -> None:
    more = threading.Event()

    def source() -> Iterator[int]:
        yield 1
        more.wait(10)  # idle until released
        yield 2

    shared = SharedRun(Pipeline(source), Config(threads=1), readers=2)
    first, second = shared.open(), shared.open()
    assert next(first) == 1  # its pull queued 1 for the second consumer too
    later: list[int] = []
    waiting = threading.Thread(target=lambda: later.append(next(first)))
    waiting.start()
    time.sleep(0.2)  # the first consumer now waits inside the run
    started = time.monotonic()
    assert next(second) == 1 and time.monotonic() - started < 1
    more.set()
    waiting.join(5)
    assert later == [2] and list(second) == [2] and list(first) == []


def test_every_consumer_gets_every_item_and_the_runs_error() -> None:
    def failing() -> Iterator[int]:
        yield from range(100)
        raise ValueError("broken source")

    shared = SharedRun(Pipeline(failing), Config(threads=1), readers=3)
    readers = [shared.open() for _ in range(3)]
    got: list[list[int]] = [[], [], []]
    errors: list[BaseException] = []

    def consume(i: int) -> None:
        try:
            got[i].extend(readers[i])
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert got == [list(range(100))] * 3 and len(errors) == 3
    with pytest.raises(ValueError, match="broken source"):
        list(shared.open())  # a fourth consumer runs the pipeline again
